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


def test_relabel_starts_at_the_prediction_and_a_change_is_marked_on_the_picture(session, qtbot, tmp_path,
                                                                                monkeypatch):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor
    from synth import make_shapes_dataset
    from test_results_changes import page_with_fake_run
    from workbench.gui.widgets.thumbs import MARK_COLOURS
    root = make_shapes_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    page, p = page_with_fake_run(session, qtbot, root)
    page.show()
    g = page.losses
    asked = []

    def answer(parent, title, label, items, current, editable):
        asked.append((list(items), current))
        return items[current], True            # Enter: the preselected class
    monkeypatch.setattr("PySide6.QtWidgets.QInputDialog.getItem", answer)
    row = next(r for r, it in enumerate(g.items()) if it.true_class == "square")   # predicted: triangle
    g.select_rows([row])
    item = g.selected_items()[0]
    predicted = p.classes[int(p.probs[item.index].argmax())]
    assert predicted == "triangle"
    g.list.setFocus()
    qtbot.keyClick(g.list, Qt.Key.Key_R)
    items, current = asked[-1]
    assert items[current] == predicted
    assert g.model.marks[item.path] == f"→ {predicted}"
    # the mark: a band on the picture (never a caption line the grid cuts), whole in the tooltip
    ix = g.model.index(row)
    text = g.model.data(ix, Qt.ItemDataRole.DisplayRole)
    assert "→" not in text and len(text.split("\n")) == 3
    assert f"changed: → {predicted}" in g.model.data(ix, Qt.ItemDataRole.ToolTipRole)
    pix = g.model.data(ix, Qt.ItemDataRole.DecorationRole)
    assert pix is not None and pix.toImage().pixelColor(2, pix.height() - 2) == QColor(MARK_COLOURS["→"])
    # the large viewer's relabel starts at the prediction too
    i = next(i for i in range(len(p)) if p.targets[i] == 0)   # a circle, predicted square
    page._viewer_action("relabel", [p.paths[i]], "")
    items, current = asked[-1]
    assert items == ["square", "triangle"] and items[current] == p.classes[int(p.probs[i].argmax())]
    # images of two classes selected: every class is offered (the first image's own class too)
    rows = [next(r for r, it in enumerate(g.items()) if it.true_class == c) for c in ("circle", "square")]
    g.select_rows(rows)
    assert {it.true_class for it in g.selected_items()} == {"circle", "square"}
    g.list.setFocus()
    qtbot.keyClick(g.list, Qt.Key.Key_R)
    items, current = asked[-1]
    assert items == list(p.classes) and current == 0
    # an audit item starts at the fold models' suggestion
    from workbench.gui.views.audit_view import issue_item
    it = issue_item({"rank": 1, "path": p.paths[2], "given": "circle", "suggested": "triangle",
                     "self_confidence": 0.1, "suggested_prob": 0.8})
    assert it.suggested == "triangle"


def _history(n):
    return [{"epoch": e, "train_loss": 1 / (e + 1), "valid_loss": 1.2 / (e + 1), "accuracy": 0.3 + 0.1 * e}
            for e in range(n)]


def test_the_run_comparison_follows_every_selection(qtbot, session):
    from workbench.config import RunConfig
    from workbench.gui.views.runs_view import RunsView
    from types import SimpleNamespace
    view = RunsView(session)
    qtbot.addWidget(view)
    view.resize(1280, 800)
    view.show()
    qtbot.waitExposed(view)
    runs = [SimpleNamespace(run_dir=f"/tmp/{n}", name=f"eyes-photos-20261206-06{n}", history=_history(n),
                            config=RunConfig().set("train.epochs", n), classes=("x",), metrics={}, note="",
                            status="completed", created=float(n)) for n in (2, 4)]
    view.set_runs(runs)
    view.select_names([runs[0].name])
    for plot in (view.loss_plot, view.acc_plot):
        plot.getPlotItem().getViewBox().setXRange(1.2, 1.8)     # the user zoomed or panned this chart
    view.select_names([runs[0].name, runs[1].name])
    qtbot.wait(20)
    for plot in (view.loss_plot, view.acc_plot):
        lo, hi = plot.getPlotItem().getViewBox().viewRange()[0]
        assert lo <= 1 and hi >= 4                               # both runs' epochs in view
        (ylo, yhi) = plot.getPlotItem().getViewBox().viewRange()[1]
        assert ylo <= 0.25 and yhi >= 1.2 if plot is view.loss_plot else ylo <= 0.3 and yhi >= 0.6
        legend = plot.getPlotItem().legend
        assert len(legend.items) == 2 + (plot is view.loss_plot)  # one row per run (+ "dashed: training")
        assert legend.sceneBoundingRect().bottom() <= plot.sceneRect().bottom() + 1
    title = view.loss_plot.getPlotItem().titleLabel
    assert title.isVisible() and "loss" in title.text and title.boundingRect().height() > 5
    view.select_names([runs[0].name])                            # back to one run: its epochs again
    qtbot.wait(20)
    lo, hi = view.loss_plot.getPlotItem().getViewBox().viewRange()[0]
    assert lo <= 1 and 2 <= hi < 3


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from trained_run import trained_run
    return trained_run(tmp_path_factory)


def test_another_dataset_clears_the_train_page_and_names_the_open_runs_dataset(qtbot, tiny_run, tmp_path,
                                                                                monkeypatch):
    import shutil
    from pathlib import Path
    from workbench.data import ChangeSet
    from workbench.gui.jobs import JobKind
    from workbench.runtime.events import LogMessage
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    from workbench.config import RunConfig
    data_a = RunConfig.load(tiny_run / "config.toml").data.path
    data_b = tmp_path / "birds"
    shutil.copytree(data_a, data_b)
    win = main_window(qtbot)
    win.resize(1280, 800)
    win.show()
    s = win.session
    s.set_config(s.config.set("runs_dir", str(tiny_run.parent)))
    _open(qtbot, s, data_a)
    # the Train page shows a finished run of dataset A ...
    s.job_started.emit(JobKind.TRAIN)
    win.train_view.handle(LogMessage("epoch 3: train_loss 0.39"))
    win.train_view.loss_plot.append("train (smoothed)", 0.5, 1.0)
    win.train_view.epoch_label.setText("Epoch 3/8")
    s.job_finished.emit(JobKind.TRAIN, "cancelled")
    results, export, try_it = win.page("results"), win.page("export"), win.page("try")
    with qtbot.waitSignal(results.runLoaded, timeout=60_000):
        s.open_run(str(tiny_run))
    qtbot.waitUntil(lambda: not s.busy, timeout=10_000)
    assert not results.owner.foreign and results.owner.isHidden()
    # ... then dataset B opens
    results.notice.setText("Undone: the quarantine of a.png.")        # said of dataset A's change list
    _open(qtbot, s, data_b)
    tv = win.train_view
    assert tv.log.toPlainText() == "" and tv.loss_plot.points("train (smoothed)") == 0
    assert "Epoch 3/8" not in tv.epoch_label.text() and "birds" in tv.epoch_label.text()
    assert results.notice.text() == ""                             # nothing said of dataset A's changes
    for page in (results, export, try_it):
        assert page.owner.foreign and not page.owner.isHidden()
        text = page.owner.label.text()
        assert tiny_run.name in text and Path(data_a).name in text and "birds" in text
    # relabel on Results does not land in any dataset's change list, and says why
    g = results.losses
    g.select_rows([0])
    assert not results.apply_action("relabel", [g.selected_items()[0].path], results.preds.classes[1])
    assert "Not changed" in results.notice.text()
    assert ChangeSet.load(Path(data_a)).entries == [] and ChangeSet.load(data_b).entries == []
    assert not results.undo_change() and not results.changes.isEnabled()
    assert not try_it.send_btn.isEnabled()
    assert not any(b.isEnabled() for b in g.buttons.values())   # the refused actions are off, and R asks
    assert not any(b.isEnabled() for b in results.viewer.action_btns)           # in the large viewer too
    assert results.viewer.action_btns[1].toolTip() == results.owner.why()
    from PySide6.QtWidgets import QAbstractItemView                  # its top-5 table is read only
    assert results.viewer.top5.editTriggers() == QAbstractItemView.EditTrigger.NoEditTriggers
    monkeypatch.setattr("workbench.gui.views.gallery_view.ask_class",   # for no class it would not use
                        lambda *a, **k: pytest.fail("the relabel dialog opened for a refused action"))
    assert g.request("relabel") and "Not changed" in results.notice.text()
    # the run's own dataset is one click away; then the actions are back
    results.owner.open_btn.click()
    qtbot.waitUntil(lambda: not s.busy and s.dataset is not None and s.dataset.root == str(Path(data_a)),
                    timeout=60_000)
    assert not results.owner.foreign and results.owner.isHidden() and export.owner.isHidden()
    assert "Not changed" not in results.notice.text()              # the refusal no longer holds
    assert all(b.isEnabled() for b in g.buttons.values()) and all(b.isEnabled() for b in results.viewer.action_btns)
    assert results.apply_action("quarantine", [g.selected_items()[0].path], "")
    assert len(ChangeSet.load(Path(data_a)).entries) == 1 and results.changes.isEnabled()


def test_after_a_restart_the_train_page_offers_the_interrupted_run(qtbot, tiny_run, tmp_path, monkeypatch):
    import shutil
    from workbench.config import RunConfig
    from workbench.run.folder import RunFolder
    home = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    runs = home / "runs"
    runs.mkdir(parents=True)
    for name, status in (("shapes-20261206-061200", "completed"), ("shapes-20261206-062500", "running")):
        shutil.copytree(tiny_run, runs / name)
        f = RunFolder(runs / name)
        f.write_metrics({**f.read_metrics(), "status": status, "epochs_done": 2, "epochs": 8})
    win = main_window(qtbot)            # a fresh start: nothing trained in this session
    win.resize(1280, 800)
    win.show()
    notes = win.train_notes
    _open(qtbot, win.session, RunConfig.load(tiny_run / "config.toml").data.path)
    qtbot.waitUntil(lambda: not notes.isHidden(), timeout=10_000)
    assert "shapes-20261206-062500" in notes.label.text() and "2 of 8" in notes.label.text()
    assert notes.resumable == str(runs / "shapes-20261206-062500")
    resumed = []
    monkeypatch.setattr(win.train_view, "resume", resumed.append)
    notes.resume_btn.click()
    assert resumed == [str(runs / "shapes-20261206-062500")]
    # the sidebar tells the two runs apart: their distinct ends stay visible
    qtbot.waitUntil(lambda: win.runs.count() == 2, timeout=10_000)
    fm, width = win.runs.fontMetrics(), win.runs.viewport().width() - 12
    shown = {fm.elidedText(win.runs.item(i).text(), win.runs.textElideMode(), width) for i in range(2)}
    assert len(shown) == 2 and all(t.endswith(("061200", "062500")) for t in shown)


def test_a_long_run_folder_does_not_widen_the_export_page(qtbot, session, tmp_path):
    from workbench.gui.views.export_view import ExportView
    view = ExportView(session)
    qtbot.addWidget(view)
    run = tmp_path / ("a-rather-long-folder-name-for-runs-" * 3) / "eyes-photos-with-a-long-name-20261206-061200"
    view.set_run(str(run))
    assert str(run) in view.heading.text()
    assert view.minimumSizeHint().width() < 1024


def test_the_train_page_draws_the_open_datasets_last_run_while_nothing_trains(qtbot, tiny_run, tmp_path,
                                                                               monkeypatch):
    import shutil
    from workbench.config import RunConfig
    from workbench.run.folder import RunFolder
    home = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    runs = home / "runs"
    runs.mkdir(parents=True)
    shutil.copytree(tiny_run, runs / "shapes-20261206-070000")
    f = RunFolder(runs / "shapes-20261206-070000")
    hist = f.read_history()
    assert len(hist) >= 2
    f.write_metrics({**f.read_metrics(), "status": "cancelled", "epochs_done": len(hist), "epochs": 9})
    win = main_window(qtbot)            # a fresh start: the run was stopped in an earlier session
    win.show()
    tv = win.train_view
    _open(qtbot, win.session, RunConfig.load(tiny_run / "config.toml").data.path)
    qtbot.waitUntil(lambda: "shapes-20261206-070000" in tv.epoch_label.text(), timeout=10_000)
    n = len(hist)
    assert f"stopped after epoch {n} of 9" in tv.epoch_label.text()
    assert tv.progress.format() == f"{n} of 9 epochs" and tv.progress.value() == int(1000 * n / 9)
    assert len(tv.loss_plot.buffers["valid"].x) == n           # its epochs are drawn
    assert tv.loss_plot.getPlotItem().viewRange()[0][1] >= 9 * 0.95
    # then its batch curve from last.pt, as the live view drew it (the lr's warm-up, not one point an epoch)
    from workbench.train.checkpoint import saved_trace
    trace = saved_trace(runs / "shapes-20261206-070000")
    assert len(trace) > n
    qtbot.waitUntil(lambda: len(tv.lr_plot.buffers["lr"].x) == len(trace), timeout=10_000)
    assert list(tv.lr_plot.buffers["lr"].y) == [lr for _, _, lr in trace]
    # and its log (log.txt), its last lines under a line naming it: the log is not empty after a restart
    logged = f.log.read_text(encoding="utf-8").splitlines()
    assert logged
    qtbot.waitUntil(lambda: tv.log.toPlainText().startswith("log of shapes-20261206-070000"), timeout=10_000)
    assert tv.log.toPlainText().splitlines()[1:] == logged[-300:]
    win.resize(1280, 800)
    qtbot.waitUntil(lambda: abs(tv.loss_plot.width() - tv.metric_plot.width()) <= 2)   # the long line wraps
    # another dataset opened: nothing of this run stays
    other = tmp_path / "other"
    shutil.copytree(RunConfig.load(tiny_run / "config.toml").data.path, other)
    _open(qtbot, win.session, other)
    qtbot.waitUntil(lambda: tv.epoch_label.text().startswith("No run yet on other"), timeout=10_000)
    assert len(tv.loss_plot.buffers["valid"].x) == 0


def test_the_empty_per_class_table_shows_its_titles_whole(qtbot):
    win = main_window(qtbot)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    win.show_page("results")                       # no run open yet
    t = win.page("results").summary.table
    h, fm = t.horizontalHeader(), t.horizontalHeader().fontMetrics()
    qtbot.waitUntil(lambda: t.isVisible())
    for i in range(t.columnCount()):
        title = t.horizontalHeaderItem(i).text()
        assert h.sectionSize(i) >= fm.horizontalAdvance(title) + 8, title
    assert sum(h.sectionSize(i) for i in range(t.columnCount())) <= t.viewport().width()   # no sideways scroll


def test_a_notice_that_comes_goes_or_wraps_does_not_shift_the_results_tabs(qtbot):
    win = main_window(qtbot)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    win.show_page("results")
    page = win.page("results")
    line = "Quarantined n01440764_10043.JPEG (cassette_player): the next run leaves it out. Ctrl+Z undoes. "
    ys = []
    for text in ("", line, line * 2, "", "Undone: the quarantine of n01440764_10043.JPEG."):
        page.notice.setText(text)
        page.layout().activate()
        ys.append(page.tabs.geometry().y())
    fm = page.notice.fontMetrics()
    assert fm.horizontalAdvance(line * 2) > page.notice.width()     # the long notice does wrap
    assert len(set(ys)) == 1, ys
    page.notice.setText("")                        # none: the two lines say what the galleries' keys do
    assert page.notice.text() == "" and "R relabel, Q quarantine, K keep" in page.notice.placeholder


def test_the_resume_note_says_whose_charts_are_shown_when_another_run(qtbot, tiny_run, tmp_path, monkeypatch):
    """The newest run finished and is drawn; an older stopped one can continue: the note over the charts
    names the run it offers and says the charts are of the other one."""
    import os
    import shutil
    from workbench.config import RunConfig
    from workbench.run.folder import RunFolder
    home = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    runs = home / "runs"
    runs.mkdir(parents=True)
    for k, (name, status) in enumerate((("shapes-stopped", "cancelled"), ("shapes-finished", "completed"))):
        shutil.copytree(tiny_run, runs / name)
        f = RunFolder(runs / name)
        f.write_metrics({**f.read_metrics(), "status": status, "epochs_done": 2, "epochs": 8 if k == 0 else 2})
        os.utime(f.config, (1_800_000_000 + k * 60, 1_800_000_000 + k * 60))   # the finished run is newer
    win = main_window(qtbot)
    win.resize(1280, 800)
    win.show()
    notes, tv = win.train_notes, win.train_view
    _open(qtbot, win.session, RunConfig.load(tiny_run / "config.toml").data.path)
    qtbot.waitUntil(lambda: not notes.isHidden() and tv.run_dir.endswith("shapes-finished"), timeout=10_000)
    qtbot.waitUntil(lambda: "The charts below are of run shapes-finished" in notes.label.text(), timeout=10_000)
    assert "shapes-stopped" in notes.label.text() and "shapes-finished" in tv.epoch_label.text()
