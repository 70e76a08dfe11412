"""A resumed run on the Train page and in the run lists: the right epoch / total, a bar that never
passes 100 %, an x axis over every epoch with the earlier epochs drawn; epochs done / planned from the
run's metrics; *Resume a run...* lists the runs that can continue, with their status."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace



def _fit(epochs: int, start: int, history=()):
    from workbench.runtime.events import FitStarted
    return FitStarted(run_dir="/tmp/run-r", epochs=epochs, start_epoch=start, steps_per_epoch=10, n_train=100,
                      n_valid=20, classes=("a", "b"), device="cpu", precision="fp32", batch_size=10,
                      history=tuple(history))


def _batch(epoch: int, batch: int):
    from workbench.runtime.events import BatchEnd
    return BatchEnd(epoch=epoch, batch=batch, n_batches=10, step=epoch * 10 + batch, loss=0.5, smooth_loss=0.5,
                    lr=1e-3, mom=0.9, images_per_sec=100.0, eta_s=30.0)


def test_train_page_draws_a_resumed_run_whole(qtbot, session):
    from workbench.gui.views.train_view import TrainView
    tv = TrainView(session)
    qtbot.addWidget(tv)
    rows = [{"epoch": e, "train_loss": 1.0 - 0.1 * e, "valid_loss": 1.1 - 0.1 * e, "accuracy": 0.5 + 0.05 * e,
             "lr": 1e-3} for e in range(4)]
    tv._on_job_started(__import__("workbench.gui.jobs", fromlist=["JobKind"]).JobKind.TRAIN)
    tv.handle(_fit(9, 4, rows))
    assert tv.loss_plot.points("valid") == 4 and tv.metric_plot.points("accuracy") == 4
    assert tv.loss_plot.points("train (smoothed)") == 4
    assert tv.loss_plot.getPlotItem().viewRange()[0][1] >= 9      # the x axis covers all 9 epochs
    tv.handle(_batch(4, 4))
    tv.flush()
    assert tv.epoch_label.text().startswith("Epoch 5/9")
    assert 0 < tv.progress.value() <= 1000 and tv.progress.format() == "50 %"   # 45 of 90 batches
    tv.handle(_batch(12, 9))                                     # even past the plan: never above 100 %
    tv.flush()
    assert tv.progress.value() <= 1000 and tv.progress.format() == "100 %"


def _info(name, status, done, planned_cfg, metrics_epochs=None, tmp=Path("/tmp")):
    from workbench.config import RunConfig
    cfg = RunConfig().set("train.epochs", planned_cfg).set("data.path", "/data/ants")
    metrics = {"epochs_done": done, "status": status}
    if metrics_epochs is not None:
        metrics["epochs"] = metrics_epochs
    return SimpleNamespace(run_dir=tmp / name, name=name, config=cfg, classes=("a", "b"),
                           history=[{"epoch": e} for e in range(done)], metrics=metrics, status=status,
                           created=1_700_000_000.0 + done)


def test_run_table_shows_epochs_done_of_planned(qtbot, session):
    from workbench.gui.views.runs_view import RunsView
    view = RunsView(session)
    qtbot.addWidget(view)
    view.set_runs([_info("budget", "completed", 46, 9, 46), _info("resumed", "cancelled", 5, 2, 9),
                   _info("old", "completed", 3, 3)])
    cells = {view.table.item(r, 0).text(): view.table.item(r, 4).text() for r in range(view.table.rowCount())}
    assert cells == {"budget": "46/46", "resumed": "5/9", "old": "3/3"}


def test_resume_dialog_lists_resumable_runs_with_status(qtbot, session, monkeypatch):
    from workbench.gui.views.resume_dialog import ResumeDialog
    monkeypatch.setattr(session, "refresh_runs", lambda: None)
    dlg = ResumeDialog(session)
    qtbot.addWidget(dlg)
    dlg.set_runs([_info("done", "completed", 3, 3, 3), _info("cut", "running", 2, 5, 5),
                  _info("stopped", "cancelled", 1, 4, 4)])
    t = dlg.table
    rows = {t.item(r, 0).text(): (t.item(r, 1).text(), t.item(r, 2).text()) for r in range(t.rowCount())}
    assert rows == {"cut": ("cut off (app closed or crashed)", "2/5"), "stopped": ("stopped", "1/4")}
    assert dlg.resume_btn.isEnabled()
    t.selectRow(1)
    dlg.resume_btn.click()
    assert dlg.chosen.endswith("stopped") and dlg.result() == dlg.DialogCode.Accepted
    # another folder is still one click away
    other = ResumeDialog(session)
    qtbot.addWidget(other)
    monkeypatch.setattr("workbench.gui.views.resume_dialog.QFileDialog.getExistingDirectory",
                        lambda *a, **k: "/elsewhere/run-1")
    other.other_btn.click()
    assert other.chosen == "/elsewhere/run-1"


def test_a_stopped_run_reads_stopped_on_the_runs_page_as_in_the_resume_dialog(qtbot, session):
    """metrics.json keeps "cancelled" (resume reads it); the Runs table showed that word while the Resume
    dialog said "stopped"."""
    from workbench.gui.views.runs_view import COLUMNS, RunsView
    view = RunsView(session)
    qtbot.addWidget(view)
    view.set_runs([_info("halted", "cancelled", 2, 1, 4), _info("early", "early_stopped", 3, 3, 9)])
    cells = {view.table.item(r, 0).text(): view.table.item(r, COLUMNS.index("Status")).text() for r in range(view.table.rowCount())}
    assert cells == {"halted": "stopped", "early": "stopped early"}


def test_the_date_column_shows_the_newest_first_order_it_sorts_by(qtbot, session):
    from PySide6.QtCore import Qt
    from workbench.gui.views.runs_view import RunsView
    view = RunsView(session)
    qtbot.addWidget(view)
    view.set_runs([_info("a", "completed", 1, 1), _info("c", "completed", 3, 3), _info("b", "completed", 2, 2)])
    header = view.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (1, Qt.SortOrder.DescendingOrder)
    assert [view.table.item(r, 0).text() for r in range(3)] == ["c", "b", "a"]


def test_runs_of_datasets_that_share_a_folder_name_are_told_apart(qtbot, session, tmp_path):
    from types import SimpleNamespace
    from workbench.config import RunConfig
    from workbench.gui.views.run_compare import dataset_labels
    from workbench.gui.views.runs_view import COLUMNS, RunsView
    a, b, c = "/data/2025/photos", "/data/2026/photos", "/data/birds"
    assert dataset_labels([a, b, c, a]) == {a: "2025/photos", b: "2026/photos", c: "birds"}
    assert dataset_labels(["/x/a/photos", "/y/a/photos"]) == {"/x/a/photos": "x/a/photos", "/y/a/photos": "y/a/photos"}
    infos = [SimpleNamespace(run_dir=tmp_path / n, name=n, config=RunConfig().set("data.path", p), classes=("a", "b"),
                             history=[], metrics={}, status="completed", created=float(i), note="")
             for i, (n, p) in enumerate((("photos-20261206-1", a), ("photos-20261206-2", b)))]
    view = RunsView(session)
    qtbot.addWidget(view)
    view.set_runs(infos)
    col = COLUMNS.index("Dataset")
    shown = {view.table.item(r, 0).text(): view.table.item(r, col) for r in range(2)}
    assert shown["photos-20261206-1"].text() == "2025/photos" and shown["photos-20261206-1"].toolTip() == a
    assert shown["photos-20261206-2"].text() == "2026/photos"
