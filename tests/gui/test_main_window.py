"""Main window: messages never widen it, the step names stay whole at 1024 x 700, recent folders."""
from __future__ import annotations

from gui_helpers import main_window
from workbench.gui.jobs import JobKind


def test_a_long_status_message_does_not_change_the_minimum_width(qtbot, tmp_path):
    win = main_window(qtbot)
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    win.show_page("recipe")
    qtbot.wait(1)
    before = win.minimumSizeHint().width()
    long_path = str(tmp_path / ("a-very-long-folder-name-" * 12))
    win.session.set_config(win.session.config.set("data.path", long_path).set("train.epochs", 17)
                           .set("augment.max_rotate", 33.0).set("tricks.mixup", 0.4))
    cmd = win.recipe_view.copy_command()
    assert len(cmd) > 300
    qtbot.wait(1)
    assert win.minimumSizeHint().width() == before <= 1024
    note = win.recipe_view.mom_plot_note
    assert note.text().endswith(cmd) and "…" in note.shown_text() and cmd in note.toolTip()
    win.state_label.setText("x" * 2000)
    assert win.minimumSizeHint().width() == before
    win.resize(1024, 700)
    qtbot.wait(1)
    assert win.width() <= 1024


def test_step_names_are_whole_at_1024x700(qtbot):
    win = main_window(qtbot)
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    win.splitter.setSizes([40, 984])         # the user drags the sidebar narrow
    qtbot.wait(1)
    need = max(win.steps.sizeHintForColumn(0), 1)
    assert win.steps.viewport().width() >= need


def test_recent_list_has_only_folders_that_opened(qtbot, tmp_path):
    from workbench.data.types import Dataset
    win = main_window(qtbot)
    folder = tmp_path / "photos"
    folder.mkdir()
    win.data_view.open_requested.emit(str(tmp_path / "broken"))   # asked for, never opened
    assert str(tmp_path / "broken") not in win.recent_folders()
    win.session.dataset_changed.emit(Dataset(str(folder), ("a",), (), (), (), "folders", "split_folders"))
    assert win.recent_folders()[0] == str(folder.resolve())


def test_status_bar_says_when_the_job_is_starved(qtbot, monkeypatch):
    import os
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QLabel
    import workbench.gui.cpu_watch as cw

    from workbench.gui.jobs import JobKind
    from workbench.gui.run_state import RunState

    class FakeSession(QObject):
        job_started = Signal(object)
        job_finished = Signal(object, str)
        job_pid, SIDE_JOBS = os.getpid(), (JobKind.DOWNLOAD,)
        run_state = RunState()

    values = iter([None, 0.2, 0.25, 0.9])   # None: the baseline sample when the job starts
    monkeypatch.setattr(cw.CpuShare, "sample", lambda self: next(values, None))
    fake, label = FakeSession(), QLabel()
    qtbot.addWidget(label)
    watch = cw.CpuWatch(fake, label, interval_ms=10_000)
    fake.job_started.emit(JobKind.TRAIN)      # first sample: the baseline
    assert label.isHidden()
    watch.sample()
    assert label.isHidden()           # once low is not yet starved
    watch.sample()
    assert not label.isHidden() and "25%" in label.text()
    watch.sample()
    assert label.isHidden()
    fake.job_finished.emit(JobKind.TRAIN, "completed")
    assert not watch.timer.isActive()


def test_the_app_job_process_is_watched(qtbot, session):
    """The watch samples the job's own child process (not the app), and stops with the job."""
    import os
    from workbench.gui.cpu_watch import CpuWatch
    from PySide6.QtWidgets import QLabel
    label = QLabel()
    qtbot.addWidget(label)
    watch = CpuWatch(session, label, interval_ms=50)
    with qtbot.waitSignal(session.job_finished, timeout=120_000):
        assert session._start(JobKind.TRAIN, _busy_job, in_child=True)
        qtbot.waitUntil(lambda: watch.last is not None, timeout=60_000)
        child = watch.share.pid
        assert child == session.job_pid and child != os.getpid()
    assert watch.share is None and not watch.timer.isActive()
    assert 0.0 <= watch.last <= 1.0


def _busy_job(sink, control):
    import time
    t = time.perf_counter()
    while time.perf_counter() - t < 3.0:
        pass
    return 1
