"""The job layer: results, failures, cancel, pause and merging of batch events."""
from __future__ import annotations

import threading

from workbench.runtime.control import Cancelled
from workbench.runtime.events import BatchEnd, LogMessage, Progress
from workbench.gui.jobs import JobFailed, JobResult, JobRunner, QtEventSink, submit, wait_side_tasks


def _batch(i: int, n: int = 1000) -> BatchEnd:
    return BatchEnd(0, i, n, i, 1.0, 1.0, 0.1, 0.9, 100.0, 5.0)


def test_result_arrives_in_gui_thread(qtbot):
    runner = JobRunner()
    got = []
    runner.event.connect(lambda job, ev: got.append((job, ev, threading.current_thread())))
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        assert runner.start("sum", lambda sink, control: 40 + 2)
    assert blocker.args == ["sum", "completed"]
    assert not runner.busy
    job, ev, thread = got[-1]
    assert job == "sum" and isinstance(ev, JobResult) and ev.result == 42
    assert thread is threading.main_thread()


def test_error_becomes_job_failed(qtbot):
    runner = JobRunner()
    got = []
    runner.event.connect(lambda job, ev: got.append(ev))

    def boom(sink, control):
        raise ValueError("bad thing in file x.png")
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.start("boom", boom)
    assert blocker.args[1] == "failed"
    fail = [e for e in got if isinstance(e, JobFailed)][0]
    assert "bad thing in file x.png" in fail.message and "ValueError" in fail.traceback
    # the runner is usable again
    with qtbot.waitSignal(runner.finished, timeout=5000):
        assert runner.start("again", lambda s, c: 1)


def test_pause_resume_and_stop(qtbot):
    runner = JobRunner()
    entered = threading.Event()

    def loop(sink, control):
        entered.set()
        while True:
            control.check()
            sink(LogMessage("tick"))
            threading.Event().wait(0.001)
    assert runner.start("loop", loop)
    assert runner.start("second", loop) is False  # one job at a time
    entered.wait(5)
    runner.pause()
    assert runner.control.paused and runner.paused
    runner.resume()
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.stop()
    assert blocker.args == ["loop", "cancelled"]


def test_sink_merges_batch_events(qtbot):
    sink = QtEventSink(max_rate=20)
    got = []
    sink.event.connect(got.append)
    sink.start()
    n = 1000
    for i in range(n):
        sink(_batch(i, n))
        if i == 500:
            sink(Progress("scan", 1, 2))
    sink.stop()
    batches = [e for e in got if isinstance(e, BatchEnd)]
    assert len(batches) < 50               # merged to a handful
    assert batches[-1].batch == n - 1      # the last batch is never lost
    assert sink.merged > 900


def test_cancelled_is_not_a_failure(qtbot):
    runner = JobRunner()

    def cancelled(sink, control):
        raise Cancelled("stopped by the user")
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.start("c", cancelled)
    assert blocker.args[1] == "cancelled"


def test_submit_calls_back_in_gui_thread(qtbot):
    """The work runs in a pool thread; its callback runs in the GUI thread (where widgets may be touched)."""
    out = []
    submit(lambda: threading.current_thread(), lambda worker: out.append((worker, threading.current_thread())))
    qtbot.waitUntil(lambda: bool(out), timeout=5000)
    worker, callback_thread = out[0]
    assert worker is not threading.main_thread()
    assert callback_thread is threading.main_thread()
    assert wait_side_tasks()


def test_a_child_process_job_relays_events_result_and_the_child_error(qtbot):
    from tests.core.test_procjob import _count, _fail
    runner = JobRunner()
    got = []
    runner.event.connect(lambda job, ev: got.append(ev))
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        assert runner.start("count", _count, in_child=True)
        assert runner.control.shared  # stop / pause reach the child
    assert blocker.args == ["count", "completed"]
    assert [e.text for e in got if isinstance(e, LogMessage)] == [f"step {i}" for i in range(5)]
    assert got[-1].result["n"] == 5
    got.clear()
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        assert runner.start("fail", _fail, in_child=True)
    assert blocker.args == ["fail", "failed"]
    fail = [e for e in got if isinstance(e, JobFailed)][0]
    assert fail.message == "ValueError: bad input in the child"  # the child's own type and message
    assert "_fail" in fail.traceback


def test_runner_keeps_a_warm_spare_process_for_the_next_job(qtbot):
    from tests.core.test_procjob import _count
    runner = JobRunner()
    runner.spare_delay_ms = 0
    runner.keep_spare_process(("json",))
    spare = runner._spare
    assert runner.spare_warm(timeout=60) and runner.spare_ready
    with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
        assert runner.start("count", _count, in_child=True)
        assert runner.control is spare.control and not runner.spare_ready  # the spare took the job
    assert blocker.args == ["count", "completed"]
    qtbot.waitUntil(lambda: runner.spare_ready, timeout=10_000)
    assert runner._spare is not spare  # a fresh spare for the next job
    runner.discard_spare()
    assert not runner.spare_ready and not runner.spare_warm()


def test_bad_input_in_a_job_is_its_sentence_in_the_app(qtbot):
    """A BadInput raised in a job process, or in a thread, arrives as bad_input with its sentence alone,
    and the main window shows it as a warning without a traceback."""
    from tests.core.test_procjob import _bad_input
    sentence = "weights file w.pth does not match resnet18"
    for in_child in (True, False):
        runner = JobRunner()
        got = []
        runner.event.connect(lambda job, ev: got.append(ev))
        with qtbot.waitSignal(runner.finished, timeout=60_000) as blocker:
            assert runner.start("bad", _bad_input, in_child=in_child)
        assert blocker.args == ["bad", "failed"]
        fail = [e for e in got if isinstance(e, JobFailed)][0]
        assert fail.bad_input and fail.message == sentence, (in_child, fail)


def test_the_main_window_shows_bad_input_without_details(qtbot):
    from PySide6.QtWidgets import QMessageBox
    from gui_helpers import main_window
    from workbench.gui.jobs import JobKind
    win = main_window(qtbot)
    win.show_error(JobFailed(JobKind.TRAIN, "weights file w.pth does not match resnet18", "Traceback ...",
                             bad_input=True))
    box = win.error_box
    assert box.icon() == QMessageBox.Icon.Warning and box.text() == "weights file w.pth does not match resnet18"
    assert box.detailedText() == ""
    box.close()
    win.show_error(JobFailed(JobKind.TRAIN, "RuntimeError: boom", "Traceback (most recent call last) ..."))
    assert win.error_box.icon() == QMessageBox.Icon.Critical and "Traceback" in win.error_box.detailedText()
    win.error_box.close()
