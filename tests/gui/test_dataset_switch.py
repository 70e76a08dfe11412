"""Nothing follows the user to the next dataset: the recipe (suggestion, reasons, budget) is per
dataset, the Audit tab shows the current dataset's audit only, the charts / health preview clear while a
new folder scans, and a folder that cannot be used clears them and says why in one sentence."""
from __future__ import annotations

import shutil

from gui_helpers import main_window


def _open(qtbot, s, folder):
    s.open_dataset(folder)
    qtbot.waitUntil(lambda: not s.busy, timeout=60_000)


def test_another_dataset_starts_from_the_defaults_not_the_last_suggestion(qtbot, session, shapes_dir, tmp_path):
    from workbench.gui.session import default_config
    other = tmp_path / "other"
    shutil.copytree(shapes_dir, other)
    _open(qtbot, session, shapes_dir)
    session.set_config(session.config.set("train.budget_minutes", 3.0).set("train.epochs", 14)
                       .set("reasons", ("train.epochs: beats training from scratch on 122 images per class",)))
    runs = session.config.runs_dir
    _open(qtbot, session, other)
    assert session.dataset is not None and session.dataset.root.endswith("other")
    expect = default_config().set("runs_dir", runs).set("data.path", str(other))
    assert session.config == expect and session.config.reasons == () and session.config.train.budget_minutes == 0


def test_a_new_folder_clears_the_old_dataset_and_an_empty_one_says_why(qtbot, shapes_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))   # its recent folders stay its own
    win = main_window(qtbot)
    s, view = win.session, win.data_view
    _open(qtbot, s, shapes_dir)
    assert view.counts_plot.getPlotItem().listDataItems() or view.counts_plot.getPlotItem().items
    view.health_panel.path.setText("old preview")
    # the audit of this dataset (a near-duplicates report) ...
    view.audit.show_result({"duplicates": [{"members": ["a", "b"], "splits": ["train", "valid"],
                                            "labels": ["x", "x"]}], "leaks": [1]})
    assert view.audit.leaks.groups
    seen = []
    s.dataset_changed.connect(lambda ds: seen.append((ds, len(view.counts_plot.getPlotItem().items))))
    empty = tmp_path / "empty"
    empty.mkdir()
    s.open_dataset(empty)
    assert seen and seen[0] == (None, 0)                 # cleared as the scan starts
    assert view.audit.leaks.groups == [] and view.health_panel.path.text() == ""
    qtbot.waitUntil(lambda: not s.busy, timeout=60_000)
    assert win.error_box is None                         # no "Job failed" dialog
    assert "cannot be used" in view.summary.text() and str(empty) in view.summary.text()
    assert "DatasetError" not in view.summary.text() and "no class sub-folders" in view.summary.text()
    assert view.counts_plot.getPlotItem().items == [] and view.thumbs.rowCount() == 0
    assert view.counts_plot.getPlotItem().getAxis("left")._tickLevels is None     # no class names left
    assert view.class_combo.count() == 0 and s.dataset is None


def test_the_augmentation_preview_empties_while_another_folder_opens(qtbot, session, shapes_dir, tmp_path):
    from workbench.gui.views.augment_preview import AugmentPreview
    view = AugmentPreview(session)
    qtbot.addWidget(view)
    _open(qtbot, session, shapes_dir)
    with qtbot.waitSignal(view.refreshed, timeout=30_000):
        view.refresh_now()
    assert not view.cells[0][0].pixmap().isNull()
    empty = tmp_path / "nothing"
    empty.mkdir()
    session.open_dataset(empty)
    view.refresh_now()
    assert all(cell.pixmap().isNull() for row in view.cells for cell in row)
    qtbot.waitUntil(lambda: not session.busy, timeout=60_000)
