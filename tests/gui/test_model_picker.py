"""Recipe > Model: architecture picker, pretrained choice with its recipe defaults, Download with
progress and cancel (loopback server), Import, the training guard and the Data page suggestion."""
from __future__ import annotations

import hashlib
import io
import threading

import pytest
import torch
import torchvision

from disk_weights import bundled_weights  # noqa: F401
from loopback import serve
from workbench import weights
from workbench.gui.views.model_picker import ModelPicker

ARCH = "mobilenet_v3_small"


@pytest.fixture(scope="module")
def body() -> bytes:
    buf = io.BytesIO()
    torch.save(torchvision.models.get_model(ARCH).state_dict(), buf)
    return buf.getvalue()


@pytest.fixture
def served(body, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    gate = threading.Event()
    gate.set()
    prefix = hashlib.sha256(body).hexdigest()[:8]
    with serve({"/w.pth": body}, gate) as (url, hits):
        s = weights.WeightsSpec(ARCH, "TEST", f"{url}/w.pth", f"{ARCH}-{prefix}.pth", prefix, len(body))
        weights.register(s)
        yield s, hits, gate
        gate.set()
        weights.unregister(ARCH, "TEST")


@pytest.fixture
def picker(qtbot, session):
    with qtbot.waitSignal(session.config_changed, timeout=1000, raising=False):
        pass
    w = ModelPicker(session)
    qtbot.addWidget(w)
    qtbot.waitSignal(w.catalogue_loaded, timeout=60_000).wait() if not w._rows else None
    return w


def test_catalogue_search_and_pick(qtbot, picker, session):
    qtbot.waitUntil(lambda: len(picker._rows) > 50, timeout=60_000)
    qtbot.keyClicks(picker.search, "mobilenet_v3")
    shown = [r.arch for i, r in enumerate(picker._rows) if not picker.table.isRowHidden(i)]
    assert "mobilenet_v3_small" in shown and all("mobilenet_v3" in a for a in shown)
    i = next(i for i, r in enumerate(picker._rows) if r.arch == "mobilenet_v3_small")
    row = picker._rows[i]
    assert row.params_m == pytest.approx(2.5, abs=0.1) and row.input_size == 224
    assert picker.table.item(i, 4).text().startswith("download")  # the test cache is empty
    picker._pick_row(i)
    assert session.config.model.arch == ARCH
    assert [picker.tag_box.itemText(k) for k in range(picker.tag_box.count())][:2] == ["none", "DEFAULT"]


def test_choose_download_then_train_guard_lifts(qtbot, picker, session, served, tmp_path):
    s, hits, _ = served
    session.set_config(session.config.set("data.path", str(tmp_path)))
    picker.pick(ARCH)
    picker.choose_weights("TEST")
    cfg = session.config
    assert cfg.model.pretrained == "TEST" and cfg.tricks.freeze_epochs == 1 and cfg.train.fine_tune
    assert "tricks.freeze_epochs = 1" in picker.notes_label.text()
    assert "not on this machine" in picker.status_label.text() and picker.download_btn.isEnabled()
    assert any("press Download" in p for p in session.problems()) and hits == []
    with qtbot.waitSignal(picker.download_done, timeout=30_000) as sig:
        picker.download_btn.click()
    assert sig.args == ["completed"] and s.dest.is_file() and hits == ["/w.pth"]
    assert "cached at" in picker.status_label.text() and not picker.download_btn.isEnabled()
    assert not any("press Download" in p for p in session.problems())


def test_cancel_mid_way_leaves_no_file(qtbot, picker, session, served):
    s, hits, gate = served
    gate.clear()  # the server stalls after the first 64 KiB
    picker.pick(ARCH)
    picker.choose_weights("TEST")
    assert picker.start_download()
    qtbot.waitUntil(lambda: picker.progress.maximum() == 1000 and picker.progress.value() > 0, timeout=30_000)
    assert picker.cancel_btn.isVisible() or not picker.isVisible()
    with qtbot.waitSignal(picker.download_done, timeout=30_000) as sig:
        picker.cancel_btn.click()
        gate.set()
    assert sig.args == ["cancelled"] and "cancelled" in picker.status_label.text()
    assert not s.dest.parent.exists() or list(s.dest.parent.iterdir()) == []


def test_import_checks_the_file(qtbot, picker, session, served, body, tmp_path):
    s, hits, _ = served
    picker.pick(ARCH)
    picker.choose_weights("TEST")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    assert "sha256" in picker.import_file(str(bad)) and not s.dest.exists()
    good = tmp_path / "good.pth"
    good.write_bytes(body)
    assert "imported" in picker.import_file(str(good)) and s.dest.read_bytes() == body
    assert "cached at" in picker.status_label.text() and hits == []


def test_data_page_suggests_the_weights_on_disk_for_small_datasets(qtbot, session, shapes_dir, bundled_weights):  # noqa: F811
    from workbench.gui.views.data_view import DataView
    arch, tag, _ = bundled_weights
    view = DataView(session)
    qtbot.addWidget(view)
    assert session.open_dataset(str(shapes_dir))   # 32-px shapes: no first-run fine-tune, a suggestion
    qtbot.waitUntil(lambda: view.use_pretrained_btn.isVisibleTo(view), timeout=60_000)
    assert "Small dataset" in view.suggestion.text() and arch in view.suggestion.text()
    assert "download" not in view.suggestion.text()
    view.use_pretrained_btn.click()
    assert (session.config.model.arch, session.config.model.pretrained) == (arch, tag)
    assert session.config.tricks.freeze_epochs == 1


def test_bad_weights_file_and_arch_typo_are_named_at_their_fields(qtbot, session, tmp_path):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    session.set_option("model.weights", str(bad))
    ed = view.form.editors["model.weights"]
    assert ed.property("invalid") and "cannot read weights file" in ed.toolTip()
    assert any("model.weights" in p for p in session.problems())  # the Train page refuses to start
    other = tmp_path / "other.pth"
    torch.save(torchvision.models.get_model("squeezenet1_1").state_dict(), other)
    session.set_option("model.weights", str(other))
    assert "does not match resnet18" in ed.toolTip()
    session.set_option("model.weights", "")
    assert not ed.property("invalid") and "cannot read" not in ed.toolTip()
    session.set_option("model.arch", "resnt18")
    arch_ed = view.form.editors["model.arch"]
    assert arch_ed.property("invalid") and "did you mean resnet18" in arch_ed.toolTip()
