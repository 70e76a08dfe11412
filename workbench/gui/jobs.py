"""The job layer: one long job at a time in a QThread, events delivered to the GUI thread.

``JobRunner.start(kind, fn)`` runs ``fn(sink, control)`` (a synchronous core call) in a worker object
moved to a fresh QThread. ``QtEventSink`` is the event sink handed to the core: it lives in the GUI
thread, emits ``Signal(object)`` (queued across threads) and merges batch-like events to at most
``max_rate`` per second. The return value arrives as ``JobResult``, an exception as ``JobFailed``.
With ``start(..., in_child=True)`` the worker thread only relays: ``fn`` runs in a child process
(``workbench.runtime.procjob.JobProcess``; the runner can keep a warm spare one ready), which is how the app
trains and runs the LR finder.

``submit(fn, callback)`` runs small side tasks (thumbnails, augmentation preview) in a thread pool and
calls ``callback(result)`` in the GUI thread, skipping receivers that were deleted meanwhile.
"""
from __future__ import annotations

import functools
import threading
import time
import traceback
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThread, QThreadPool, QTimer, Signal, Slot

from ..errors import BadInput
from ..runtime.jobs import BY_KIND, JOBS, Job
from ..runtime.control import Cancelled, RunControl
from ..runtime.events import BatchEnd, Event, Progress
from ..runtime.procjob import ChildJobError, JobProcess

MERGEABLE = (BatchEnd, Progress)


class _Kind(Enum):
    def __str__(self) -> str:
        return self.value

    @property
    def job(self) -> Job:
        """The job's row in the core's table (workbench.runtime.jobs.JOBS)."""
        return BY_KIND[self.value]

    @property
    def label(self) -> str:
        """What the status bar says while the job runs."""
        return self.job.label


JobKind = _Kind("JobKind", [(j.name, j.kind) for j in JOBS], module=__name__)
JobKind.__doc__ = ("The jobs the app runs, one member per row of workbench.runtime.jobs.JOBS (a misspelt kind is an "
                   "AttributeError). Each has one Session method that starts it and one Session signal that "
                   "delivers its result.")


@dataclass(frozen=True)
class JobFailed(Event):
    """A job that ended with an error; the app shows a dialog. ``error`` is the exception when it was
    raised in this process (None when it came from a job process, which sends only its text)."""
    job: Any
    message: str
    traceback: str = ""
    error: BaseException | None = None
    bad_input: bool = False     # a workbench.errors.BadInput: ``message`` is its one sentence


@dataclass(frozen=True)
class JobResult(Event):
    """The return value of a job, delivered to the GUI thread."""
    job: Any
    result: Any = None


class QtEventSink(QObject):
    """Callable event sink; ``event`` is emitted in the GUI thread. Batch events are merged."""

    event = Signal(object)

    def __init__(self, max_rate: float = 20.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.min_interval = 1.0 / max_rate
        self._lock = threading.Lock()
        self._pending: dict[type, Event] = {}
        self._last: dict[type, float] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(int(self.min_interval * 1000))
        self._timer.timeout.connect(self.flush)
        self.merged = 0  # events dropped by merging (for tests and benchmarks)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.flush()

    def __call__(self, ev: Event) -> None:
        """Called from the worker thread (or any thread)."""
        kind = type(ev)
        if isinstance(ev, MERGEABLE):
            now = time.monotonic()
            with self._lock:
                if now - self._last.get(kind, 0.0) < self.min_interval and not _is_last(ev):
                    if kind in self._pending:
                        self.merged += 1
                    self._pending[kind] = ev
                    return
                self._pending.pop(kind, None)
                self._last[kind] = now
            self.event.emit(ev)
            return
        self.flush()  # keep order: pending batch events go out before e.g. EpochEnd
        self.event.emit(ev)

    @Slot()
    def flush(self) -> None:
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
            now = time.monotonic()
            for ev in pending:
                self._last[type(ev)] = now
        for ev in pending:
            self.event.emit(ev)


def _is_last(ev: Event) -> bool:
    """The final event of a loop is never merged away (progress bars reach 100 %)."""
    if isinstance(ev, Progress):
        return ev.total > 0 and ev.done >= ev.total
    if isinstance(ev, BatchEnd):
        return ev.batch + 1 >= ev.n_batches
    return False


class _Worker(QObject):
    done = Signal(str)  # status: completed | cancelled | failed

    def __init__(self, name: Any, fn: Callable[[Callable, RunControl], Any], sink: QtEventSink,
                 control: RunControl) -> None:
        super().__init__()
        self.name, self.fn, self.sink, self.control = name, fn, sink, control

    @Slot()
    def run(self) -> None:
        status = "completed"
        try:
            result = self.fn(self.sink, self.control)
            self.sink(JobResult(self.name, result))
            if self.control.stop_requested:
                status = "cancelled"
        except Cancelled:
            status = "cancelled"
            self.sink(JobResult(self.name, None))
        except BaseException as e:  # any error comes back as an event; the app stays usable
            status = "failed"
            if isinstance(e, ChildJobError):  # raised in a job process: its own message and traceback
                self.sink(JobFailed(self.name, e.summary, e.details, bad_input=e.bad_input))
            elif isinstance(e, BadInput):
                self.sink(JobFailed(self.name, str(e), traceback.format_exc(), e, bad_input=True))
            else:
                self.sink(JobFailed(self.name, f"{type(e).__name__}: {e}", traceback.format_exc(), e))
        self.done.emit(status)
        QThread.currentThread().quit()  # end the thread's event loop so wait() returns


class JobRunner(QObject):
    """Runs one job at a time. Signals: started(kind), event(kind, event), finished(kind, status).
    The app's runners are private to the Session, which passes JobKind members as kinds."""

    started = Signal(object)
    event = Signal(object, object)
    finished = Signal(object, str)

    def __init__(self, max_rate: float = 20.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_rate = max_rate
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._sink: QtEventSink | None = None
        self.control: RunControl | None = None
        self.name = ""
        self.paused = False
        self.job_pid: int | None = None   # the job process of the running job, if it runs in one
        self._spare: JobProcess | None = None
        self._warm_modules: tuple[str, ...] | None = None  # None: no spare job process is kept
        self.spare_delay_ms = 3000

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, name: Any, fn: Callable[[Callable, RunControl], Any], in_child: bool = False) -> bool:
        """Start ``fn(sink, control)`` in a worker thread; False if another job is running.

        ``in_child``: the worker thread runs picklable ``fn`` in a child process instead and relays
        its events (``workbench.runtime.procjob``): the way training runs in the app."""
        if self.busy:
            return False
        self.name, self.paused = name, False
        if in_child:
            proc = self._spare if self.spare_ready else JobProcess()
            self._spare = None
            self.control = proc.control
            self.job_pid = proc.pid
            fn = functools.partial(proc.run, fn)
        else:
            self.control = RunControl()
        self._sink = QtEventSink(self.max_rate, self)
        self._sink.event.connect(self._forward)
        self._thread = QThread(self)
        self._thread.setObjectName(f"job-{name}")  # str(JobKind) is its value
        self._worker = _Worker(name, fn, self._sink, self.control)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.done.connect(self._on_done)
        self._sink.start()
        self._thread.start()
        self.started.emit(name)
        return True

    def stop(self) -> None:
        if self.control:
            self.control.request_stop()
            self.paused = False

    def pause(self) -> None:
        if self.control and self.busy:
            self.control.pause()
            self.paused = True

    def resume(self) -> None:
        if self.control:
            self.control.resume()
            self.paused = False

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until the job thread ended (used when closing the window) and deliver its events."""
        if self._thread is None:
            return True
        ok = self._thread.wait(timeout_ms)
        if ok:
            QCoreApplication.processEvents()  # delivers queued events and the done signal
            if self._thread is not None:
                self._on_done("cancelled" if self.control and self.control.stop_requested else "completed")
        return ok

    @Slot(object)
    def _forward(self, ev: Event) -> None:
        self.event.emit(self.name, ev)

    @Slot(str)
    def _on_done(self, status: str) -> None:
        thread, worker, sink = self._thread, self._worker, self._sink
        if thread is None:
            return
        self._thread = self._worker = self._sink = None
        self.job_pid = None
        sink.stop()
        thread.quit()
        thread.wait()
        worker.deleteLater()
        thread.deleteLater()
        sink.deleteLater()
        name = self.name
        self.paused = False
        self.finished.emit(name, status)
        # the next spare starts once the app has been idle a moment (not during the interpretation
        # that follows a run, which it would slow down)
        QTimer.singleShot(self.spare_delay_ms, self._refill_spare)

    # ------------------------------------------------------------------ spare job process
    def keep_spare_process(self, warm_modules: tuple[str, ...]) -> None:
        """Keep one job process started, with ``warm_modules`` imported, for the next ``in_child``
        job: it then starts at once instead of after a few seconds. The spare waits at idle CPU
        priority; a new one is started after each job."""
        self._warm_modules = tuple(warm_modules)
        self._refill_spare()

    def discard_spare(self) -> None:
        """Stop keeping a spare job process and end the one there is (when the app quits)."""
        self._warm_modules = None
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()

    @property
    def spare_ready(self) -> bool:
        return self._spare is not None and self._spare.alive

    def spare_warm(self, timeout: float = 0.0) -> bool:
        """Whether the spare job process has started and imported its modules (waits up to
        ``timeout`` seconds)."""
        return self._spare is not None and self._spare.ready(timeout)

    def _refill_spare(self) -> None:
        if self._warm_modules is None or self.busy or self.spare_ready:
            return
        self._spare = JobProcess(warm_modules=self._warm_modules)


# ----------------------------------------------------------------------------- small side tasks
class _Relay(QObject):
    done = Signal(object, object)  # token, (ok, value)

    def __init__(self) -> None:
        super().__init__()
        self.callbacks: dict[int, Callable[[Any], None]] = {}
        self.done.connect(self._dispatch)

    @Slot(object, object)
    def _dispatch(self, token: int, outcome: tuple) -> None:
        cb = self.callbacks.pop(token, None)
        if cb is None:
            return
        owner = getattr(getattr(cb, "func", cb), "__self__", None)   # a bound method, or a partial of one
        if isinstance(owner, QObject) and not shiboken6.isValid(owner):
            return
        ok, value = outcome
        if ok:
            cb(value)


class _Task(QRunnable):
    def __init__(self, relay: _Relay, token: int, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.relay, self.token, self.fn = relay, token, fn

    def run(self) -> None:
        try:
            outcome = (True, self.fn())
        except Exception as e:  # a failed side task is reported as an exception object
            outcome = (True, e)
        if shiboken6.isValid(self.relay):   # at exit the relay may be gone before a late task ends
            self.relay.done.emit(self.token, outcome)


_relay: _Relay | None = None
_pool: QThreadPool | None = None
_counter = 0


def pool() -> QThreadPool:
    """The pool for side tasks (at most 2 threads: the CPU is shared with training)."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(2)
    return _pool


def submit(fn: Callable[[], Any], callback: Callable[[Any], None]) -> int:
    """Run ``fn()`` in the side pool; ``callback(result)`` runs in the GUI thread (result may be an
    Exception instance when fn raised). Must be called from the GUI thread."""
    global _relay, _counter
    if _relay is None:
        _relay = _Relay()
    _counter += 1
    _relay.callbacks[_counter] = callback
    pool().start(_Task(_relay, _counter, fn))
    return _counter


def submit_keyed(key: Any, fn: Callable[[], Any], callback: Callable[[Any], None]) -> int:
    """``submit`` whose ``callback`` gets (key, result), or (key, the Exception fn raised): a view that
    asked for several things (pictures of paths) knows which one arrived, failed or not."""
    def work():
        try:
            return key, fn()
        except Exception as e:  # noqa: BLE001 - handed to the callback, which says why
            return key, e
    return submit(work, callback)


def wait_side_tasks(timeout_ms: int = 10_000) -> bool:
    """Wait for running side tasks (window close, tests)."""
    return pool().waitForDone(timeout_ms)
