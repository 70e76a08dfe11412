"""Main window behaviour without training: pages, errors, closing while a job runs, the gui command."""
from __future__ import annotations

import threading

from workbench.cli import main as cli_main
from gui_helpers import main_window
from workbench.gui.jobs import JobKind


def test_pages_actions_and_settings(qtbot, tmp_path):
    from workbench.gui.main_window import settings
    win = main_window(qtbot)
    keys = [p.key for p in win.pages]
    assert keys[:6] == ["data", "recipe", "lr_find", "train", "results", "export"]
    for k in keys:
        win.show_page(k)
        assert win.current_page() == k
    assert win.act_open.shortcut().toString() == "Ctrl+O"
    assert [s.toString() for s in win.act_train.shortcuts()] == ["Ctrl+R", "F5"]
    assert win.act_lr.shortcut().toString() == "Ctrl+F"
    assert not win.act_train.isEnabled() and "Open a dataset" in win.act_train.toolTip()
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    win.add_recent(str(a))
    win.add_recent(str(b))
    win.add_recent(str(a) + "/")        # the same folder spelled differently: no duplicate
    win.add_recent(str(tmp_path / "gone"))  # a folder that does not exist is not listed
    assert win.recent_folders() == [str(a.resolve()), str(b.resolve())]
    assert win.data_view.recent.count() == 2
    win.close()
    assert settings().value("geometry") is not None
    assert settings().value("train") is None  # never hyper-parameters


def test_job_error_shows_dialog_and_app_stays_usable(qtbot):
    win = main_window(qtbot)

    def broken(sink, control):
        raise OSError("cannot read /data/x.png: permission denied")
    with qtbot.waitSignal(win.session.job_finished, timeout=5000):
        win.session._start(JobKind.SCAN, broken)
    box = win.error_box
    assert box is not None and box.isVisible()
    assert "permission denied" in box.text() and "OSError" in box.detailedText()
    box.close()
    assert win.data_view.open_btn.isEnabled() and win.state_label.text().startswith("ready")


def test_close_while_job_runs_asks_then_stops(qtbot):
    win = main_window(qtbot)
    started, stopped = threading.Event(), threading.Event()

    def long_job(sink, control):
        started.set()
        try:
            while True:
                control.check()
                threading.Event().wait(0.005)
        finally:
            stopped.set()
    assert win.session._start(JobKind.TRAIN, long_job)
    started.wait(5)
    asked = []
    win.confirm_close = lambda: asked.append(1) or False
    assert not win.close() and win.session.busy and asked   # declined: keeps running
    win.confirm_close = lambda: True
    # then the recipe question: the job is paused while it is open, and a Cancel lets it go on
    from workbench.gui.run_state import Phase
    phases = []
    win.confirm_recipe = lambda: phases.append(win.session.run_state.phase) or False
    assert not win.close() and phases == [Phase.PAUSED]
    assert win.session.run_state.phase is Phase.RUNNING and not stopped.is_set()
    win.confirm_recipe = lambda: True
    assert win.close()
    assert stopped.is_set() and not win.session.busy


def test_gui_command_checks_arguments(tmp_path, capsys):
    assert cli_main(["gui", str(tmp_path / "missing")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


def test_create_window_opens_dataset(qtbot, shapes_dir):
    from workbench.gui.app import create_window, make_app
    make_app()
    win = create_window(str(shapes_dir))
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.session.dataset_changed, timeout=60_000):
        pass
    assert win.session.config.data.path == str(shapes_dir)
    qtbot.waitUntil(lambda: not win.session.busy, timeout=10_000)
    assert win.recent_folders()[0] == str(shapes_dir)
    win.close()


def test_the_recent_list_shows_the_open_folder(qtbot, tmp_path, shapes_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    win = main_window(qtbot)
    other = tmp_path / "other"
    other.mkdir()
    win.add_recent(str(other))
    assert win.data_view.recent.currentIndex() == -1            # nothing open: the placeholder
    with qtbot.waitSignal(win.session.dataset_changed, timeout=60_000,
                          check_params_cb=lambda ds: ds is not None):
        win.data_view.open_folder(str(shapes_dir))
    qtbot.waitUntil(lambda: win.data_view.recent.count() == 2)
    assert win.data_view.recent.currentText() == shapes_dir.name
