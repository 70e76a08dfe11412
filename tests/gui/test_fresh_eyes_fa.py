"""A new user's findings in a real window: no text widens the window (the Audit tab's cost line), the
relabel dialog starts at the prediction and a changed thumbnail keeps a visible mark, the run comparison
re-ranges with the selection, run names that share a prefix stay apart, and a run of another dataset is
never taken for the open dataset's."""
from __future__ import annotations

import pytest

from gui_helpers import main_window


def _open(qtbot, s, folder):
    s.open_dataset(folder)
    qtbot.waitUntil(lambda: not s.busy and s.dataset is not None, timeout=60_000)


def test_the_audit_cost_line_never_widens_the_window(qtbot, shapes_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    win = main_window(qtbot)
    win.resize(1200, 760)
    win.show()
    s, audit = win.session, win.data_view.audit
    _open(qtbot, s, shapes_dir)
    assert "Open a dataset" not in audit.status.text() and "shapes" in audit.status.text()
    before = win.minimumSizeHint().width()
    win.data_view.tabs.setCurrentWidget(audit)
    long = ("about 05:24 here (5 × timm/efficientnet_lite0.ra_in1k fine-tuned 3 epochs at 224 px, batch 64, "
            "body frozen for the first epoch, mixed precision; a time budget does not apply to folds)")
    audit.eta.setText(long)
    qtbot.wait(50)
    assert audit.eta.text() == long and audit.eta.toolTip() == long     # whole in the tooltip
    assert win.minimumSizeHint().width() <= min(before, 1024)
    assert win.width() <= 1200
