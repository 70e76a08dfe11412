"""The model picker lists what the model sources have: a source registered from a test alone
(tests/fake_source.py) gets its rows, its family, its weights on disk and its search word."""
from __future__ import annotations

from fake_source import ARCH, TAG, tiny_source  # noqa: F401
from workbench.gui.views.model_picker import ModelPicker


def test_a_registered_source_appears_in_the_picker_and_its_weights_are_picked(qtbot, session, tiny_source):  # noqa: F811
    src, body = tiny_source
    w = ModelPicker(session)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: any(r.arch == ARCH for r in w._rows), timeout=60_000)
    i = next(i for i, r in enumerate(w._rows) if r.arch == ARCH)
    row = w._rows[i]
    assert (row.family, row.state, row.tag, row.input_size) == ("tiny", "cached", TAG, 32)
    assert round(row.params_m * 1e6) == sum(v.numel() for k, v in body.items() if "running" not in k and "num_batches" not in k)
    assert w.table.item(i, 0).text() == ARCH and w.table.item(i, 1).text() == "on disk (cached)"
    assert "(tiny)" in w.table.item(i, 0).toolTip() and "tiny/net" in w.search.placeholderText()
    qtbot.keyClicks(w.search, "tiny/")
    assert [r.arch for k, r in enumerate(w._rows) if not w.table.isRowHidden(k)] == [ARCH]
    w._pick_row(i)
    assert (session.config.model.arch, session.config.model.pretrained) == (ARCH, TAG)
    qtbot.waitUntil(lambda: f"{ARCH}:{TAG}: cached at" in w.status_label.text(), timeout=10_000)
