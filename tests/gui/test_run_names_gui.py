"""Run names and notes in the app (Runs page and the sidebar run list, F2 / context menu), refused while
the run is in use; the Runs page marks the most accurate run of each dataset."""
from __future__ import annotations

from PySide6.QtCore import Qt

from gui_helpers import main_window
from workbench.gui.jobs import JobKind
from run_folders import held_by_other_process, make_run


def _runs_view(session, qtbot, runs):
    from workbench.gui.views.runs_view import RunsView
    session.set_config(session.config.set("runs_dir", str(runs)))
    view = RunsView(session)
    qtbot.addWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: view.table.rowCount() == len(list(runs.iterdir())), timeout=10_000)
    return view


def _names(view) -> list[str]:
    return sorted(view.table.item(r, 0).text() for r in range(view.table.rowCount()))


def test_runs_page_rename_note_and_best_marker(session, qtbot, tmp_path):
    from workbench.gui.views.runs_view import COLUMNS
    runs = tmp_path / "runs"
    make_run(runs, "a1", 0.6)
    make_run(runs, "a2", 0.9)
    make_run(runs, "b1", 0.5, data="/data/b")
    view = _runs_view(session, qtbot, runs)
    assert sorted(view.best_names()) == ["a2", "b1"]
    view.select_names(["a1"])
    assert view.rename_btn.isEnabled()
    view.rename_act.trigger()
    dlg = view.rename_act.dialog
    assert dlg.name.text() == "a1"
    dlg.name.setText("lr 1e-3, no mixup")
    dlg.note.setPlainText("a first look")
    closed = []
    dlg.finished.connect(closed.append)
    with qtbot.waitSignal(session.run_edited, timeout=10_000):
        dlg.buttons.button(dlg.buttons.StandardButton.Ok).click()
    assert closed == [1]   # accepted (and deleted) once the session has renamed the run
    qtbot.waitUntil(lambda: _names(view) == ["a2", "b1", "lr 1e-3, no mixup"], timeout=10_000)
    assert not (runs / "a1").exists()
    assert (runs / "lr 1e-3, no mixup" / "note.txt").read_text() == "a first look\n"
    row = next(r for r in range(view.table.rowCount()) if view.table.item(r, 0).text().startswith("lr"))
    assert view.table.item(row, COLUMNS.index("Note")).text() == "a first look"
    # refused while another process holds the run: the dialog says so and nothing changes
    view.select_names(["b1"])
    view.rename_act.trigger()
    dlg = view.rename_act.dialog
    dlg.name.setText("b-renamed")
    with held_by_other_process(runs / "b1"):
        with qtbot.waitSignal(session.run_edited, timeout=10_000) as sig:
            dlg.apply()
    assert "in use" in sig.args[2] and "in use" in dlg.error.text() and dlg.isVisible()
    assert (runs / "b1").is_dir() and not (runs / "b-renamed").exists()
    dlg.reject()


def test_sidebar_run_list_f2_renames(qtbot, tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "resnet18-20261206-0", 0.7)
    win = main_window(qtbot)
    win.session.set_option("runs_dir", str(runs))
    qtbot.waitUntil(lambda: win.runs.count() == 1, timeout=10_000)
    assert win.act_rename_run in win.runs.actions()
    assert win.runs.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    win.show()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    win.runs.setCurrentRow(0)
    win.runs.setFocus()
    qtbot.keyClick(win.runs, Qt.Key.Key_F2)
    dlg = win.act_rename_run.dialog
    qtbot.waitUntil(dlg.isVisible)
    dlg.name.setText("baseline")
    dlg.note.setPlainText("the first run")
    dlg.apply()
    qtbot.waitUntil(lambda: win.runs.item(0).text() == "baseline", timeout=10_000)
    assert "the first run" in win.runs.item(0).toolTip()
    assert (runs / "baseline" / "note.txt").is_file()


def test_renaming_the_open_run_moves_its_pages(session, qtbot, tmp_path_factory, tmp_path):
    import shutil
    from pathlib import Path

    from gui_helpers import open_run_pages
    from trained_run import trained_run
    run = tmp_path / "runs" / "open-run"
    shutil.copytree(Path(trained_run(tmp_path_factory)), run, ignore=shutil.ignore_patterns(".lock"))
    pages = open_run_pages(session, qtbot, run)
    new = str(run.parent / "renamed-open")
    with qtbot.waitSignal(pages["Results"].runLoaded, timeout=60_000) as loaded:
        session.edit_run(str(run), "renamed-open", "kept")
    assert loaded.args == [new] and session.current_run == new
    assert pages["Export"].run_dir == new and pages["Try it"].run_dir == new
    assert "renamed-open" in pages["Try it"].heading.text()
    # the open run is not renamed while a job runs on it
    session.run_state.begin(JobKind.EXPORT, False)
    with qtbot.waitSignal(session.run_edited, timeout=5_000) as sig:
        session.edit_run(new, "other")
    session.run_state.end()
    assert "job is running" in sig.args[2] and Path(new).is_dir()


def test_a_second_start_under_a_taken_run_name_trains_under_the_next_free_name(qtbot, tmp_path, shapes_dir):
    """The recipe's run name is taken by the first run: Start (and the Audit's or Results' Retrain, which
    start the same way) trains under NAME-2 and says so in the log; the recipe keeps its name and its
    check warns of the next name. A run that fails before its first epoch never leaves "Starting...";
    the CLI refuses a taken name (test_run_names)."""
    from workbench.gui.jobs import JobFailed
    win = main_window(qtbot)
    s, tv = win.session, win.train_view
    s.jobs_in_child_process = False
    runs = tmp_path / "runs"
    s.set_config(s.config.set("runs_dir", str(runs)).set("data.path", str(shapes_dir)).set("name", "my-run")
                 .set("train.epochs", 1).set("data.image_size", 32).set("data.batch_size", 16))
    make_run(runs, "my-run", 0.8)                         # the first run took the name
    assert s.problems() == []
    with qtbot.waitSignal(tv.run_finished, timeout=120_000) as done:
        tv.start()
    assert done.args == [str(runs / "my-run-2"), "completed"]
    assert "The run name 'my-run' is taken by an earlier run: this run is named my-run-2" in tv.log.toPlainText()
    assert s.config.name == "my-run" and (runs / "my-run" / "metrics.json").is_file()
    qtbot.waitUntil(lambda: not s.busy, timeout=30_000)
    qtbot.waitUntil(lambda: s.checked is not None and s.checked.config == s.config, timeout=30_000)
    assert "name: the run name 'my-run' is taken; the next run is named my-run-3" in s.warnings()
    tv.reset_plots()                                      # a start whose job fails before training
    tv.handle(JobFailed(JobKind.TRAIN, "the dataset went away"))
    assert tv.epoch_label.text().startswith("Did not start") and tv.progress.format() == ""


def test_the_run_lists_follow_the_live_run_epoch_by_epoch(qtbot, session, tmp_path):
    """The sidebar's and the table's "3/12 epochs" keep up with the run training now: every epoch's end
    (and a pause, a continue, a start) lists the runs again, and the live run shows the epochs and the
    accuracy its events gave, not its metrics.json (written after the epoch's checkpoint)."""
    from workbench.run.runs import load_run, run_summary
    from workbench.runtime.events import EpochEnd, FitStarted, Paused
    run = make_run(tmp_path / "runs", "live", 0.4)
    session.run_state.begin(JobKind.TRAIN, True)
    session._on_event(JobKind.TRAIN, FitStarted(str(run), 12, 0, 5, 40, 10, ("a", "b"), "cpu", "fp32", 8))
    for ev in (EpochEnd(2, 0.5, 0.6, {"accuracy": 0.8125}, 1e-3, 1.0, 50.0, True), Paused()):
        with qtbot.waitSignal(session.runs_changed, timeout=1000):
            session._on_event(JobKind.TRAIN, ev)
    info = load_run(run)                                   # its files still say an epoch less
    assert run_summary(session.live_info(info), session.run_status(info)) == "acc 81.2% · 3/12 epochs · paused"
    session.run_state.end()
    assert session.live_info(info) is info                 # once it has ended, its files say it all


def test_renaming_the_run_that_has_the_recipes_name_takes_back_the_warning(qtbot, session, tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "my-run", 0.8)
    session.set_config(session.config.set("runs_dir", str(runs)).set("name", "my-run"))
    qtbot.waitUntil(lambda: any("is taken" in w for w in session.warnings()), timeout=10_000)
    session.edit_run(str(runs / "my-run"), "baseline")
    qtbot.waitUntil(lambda: (runs / "baseline").is_dir() and session.checked is not None
                    and not any("is taken" in w for w in session.checked.warnings), timeout=10_000)


def test_resuming_a_run_whose_data_changed_since_asks_first(qtbot, session, tmp_path, monkeypatch, shapes_dir):
    """A quarantine made after the run last scanned its dataset: Resume says its remaining epochs train on
    the changed data and asks; No resumes nothing. Without a change it resumes without asking."""
    import json
    import os
    from workbench.config import RunConfig
    from workbench.data import ChangeSet
    from workbench.gui.views import resume_dialog
    from workbench.gui.views.train_view import TrainView
    data = tmp_path / "data"
    import shutil
    shutil.copytree(shapes_dir, data)
    run = make_run(tmp_path / "runs", "stopped", 0.6, data=str(data))
    (run / "metrics.json").write_text(json.dumps({"status": "cancelled", "valid_accuracy": 0.6,
                                                  "data_scanned": "2026-01-01T00:00:00+0000"}))
    os.utime(run / "config.toml", (1_767_225_600, 1_767_225_600))
    view = TrainView(session)
    qtbot.addWidget(view)
    resumed, asked = [], []
    monkeypatch.setattr(session, "resume_run", lambda d: resumed.append(d) or True)
    monkeypatch.setattr(resume_dialog.QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or
                        resume_dialog.QMessageBox.StandardButton.No)
    view.resume(str(run))
    assert resumed == [str(run)] and asked == []              # nothing changed since: no question
    cs = ChangeSet.load(data)
    cs.quarantine(sorted((data / "train").rglob("*.png"))[0])
    cs.save()
    assert session.data_changes_since(str(run)) == 1
    view.resume(str(run))
    assert resumed == [str(run)] and len(asked) == 1          # asked, answered No: not resumed
    assert asked[0].startswith("1 image(s) of its dataset were relabelled or quarantined since stopped")
