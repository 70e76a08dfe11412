"""Run a long job in a child process: events stream back to a sink, stop / pause cross over. No Qt.

``run_in_process(target, sink, control)`` spawns a fresh Python process that calls
``target(sink, control)`` and blocks until it ends: every event the child sends is passed to ``sink``
in order, the child's return value is returned, an exception in the child comes back as
``ChildJobError`` (with the child's traceback), a stop comes back as ``Cancelled``. ``control`` must
be ``RunControl.for_process()`` so that stop / pause set here are seen in the child.

Why a process for training in the app: the training loop then runs as the main thread of its own
interpreter. It shares no interpreter lock with the UI (a busy UI thread no longer holds up the loop,
nor the loop the UI), and it keeps the OpenMP thread pool of a main thread: a second thread that
runs torch ops makes GNU OpenMP count more threads than cores and stop spin-waiting between
parallel regions, which cost 15-20 % of a CPU training step on 2 cores. The child runs at idle
CPU priority, so the app's own threads always get a core first. A crash in the native code of
the training stack no longer takes the app down, and if the app dies, the child's next event finds
the pipe closed and it stops like after the Stop button (the run stays resumable).
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import traceback
from typing import Any, Callable

from .control import Cancelled, RunControl


class ChildJobError(RuntimeError):
    """An exception raised in the child process (``summary`` "Type: message", ``details`` its traceback)."""

    def __init__(self, summary: str, details: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = details


class JobProcess:
    """A spawned child process that runs one job. It starts (and, with ``warm_modules``, imports what
    the job needs) right away and then waits for its job, so a spare one started ahead of time lets the
    next job begin at once instead of after the few seconds of a Python + torch start-up.

    ``control`` (default: a new ``RunControl.for_process()``) is handed to the child at its start:
    the job run in it must use this control."""

    def __init__(self, warm_modules: tuple[str, ...] = (), background: bool = True,
                 control: RunControl | None = None) -> None:
        self.control = control or RunControl.for_process()
        if not self.control.shared:
            raise ValueError("a job process needs RunControl.for_process() so the child sees stop and pause")
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self._proc = ctx.Process(target=_serve, args=(child_conn, self.control, background, tuple(warm_modules)),
                                 name="workbench-job", daemon=True)
        self._proc.start()
        child_conn.close()  # the child holds the only other end: EOF here means it has gone
        self.used = False
        self._ready = False

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether the child has started and imported its ``warm_modules`` (waits up to ``timeout`` s)."""
        if not self._ready and not self.used and self._conn.poll(timeout):
            try:
                self._ready = self._conn.recv()[0] == "ready"
            except (EOFError, OSError):
                return False
        return self._ready

    @property
    def alive(self) -> bool:
        """Started, not used yet and still running (a spare that can take a job)."""
        return not self.used and self._proc.is_alive()

    def run(self, target: Callable[[Callable, RunControl], Any], sink: Callable | None,
            control: RunControl | None = None, join_timeout: float = 60.0) -> Any:
        """Run picklable ``target(sink, control)`` in the child; see the module docstring."""
        if self.used:
            raise RuntimeError("a JobProcess runs one job; start another one")
        if control is not None and control is not self.control:
            raise ValueError("the job must use the JobProcess's own control")
        self.used = True
        try:
            try:
                self._conn.send(target)
            except (BrokenPipeError, ConnectionResetError, OSError):
                self._proc.join(join_timeout)
                raise ChildJobError(f"the job process ended before its job started (exit code "
                                    f"{self._proc.exitcode})") from None
            while True:
                try:
                    kind, payload = self._conn.recv()
                except EOFError:
                    self._proc.join(join_timeout)
                    raise ChildJobError(
                        f"the job process ended unexpectedly (exit code {self._proc.exitcode}); a training "
                        "run can be resumed from its folder") from None
                if kind == "event":
                    if sink is not None:
                        sink(payload)
                elif kind == "ready":
                    continue
                elif kind == "result":
                    return payload
                elif kind == "cancelled":
                    raise Cancelled(payload)
                else:  # "error"
                    raise ChildJobError(*payload)
        finally:
            self.close(join_timeout)

    def close(self, join_timeout: float = 5.0) -> None:
        """End the child: a waiting spare sees the pipe close and exits; a stuck one is terminated."""
        self._conn.close()
        self._proc.join(join_timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)


def run_in_process(target: Callable[[Callable, RunControl], Any], sink: Callable | None,
                   control: RunControl, background: bool = True, join_timeout: float = 60.0) -> Any:
    """Call picklable ``target(sink, control)`` in a new child process (``JobProcess``) and return its
    result. ``background``: the child runs at idle CPU priority (``background_priority``). ``control``
    must be ``RunControl.for_process()`` (``JobProcess`` checks)."""
    return JobProcess(background=background, control=control).run(target, sink, join_timeout=join_timeout)


def background_priority() -> str:
    """Lower the CPU priority of the calling thread and of every thread it starts afterwards.

    Linux: the SCHED_IDLE policy. A thread of the app that wakes up (a timer, a click) then takes a
    core from the job at once; with only a higher nice value the kernel lets the job finish its time
    slice first, which delayed the app's 10 ms timer by up to 2-4 ms (bench/ui_latency.py). The job
    still gets every core the rest of the time. Elsewhere: nice +10 where the OS has it.
    Returns what was applied."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "SCHED_IDLE"
    except (AttributeError, OSError):
        pass
    try:
        os.nice(10)
        return "nice +10"
    except (AttributeError, OSError):
        return "unchanged"


def _serve(conn, control: RunControl, background: bool, warm_modules: tuple[str, ...]) -> None:
    # Ctrl-C in the terminal reaches the whole process group: the app decides (it asks and stops
    # the job through ``control``), the child does not die mid-write
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if background:
        background_priority()  # first, so every thread of the job inherits it
    for name in warm_modules:  # a failing import shows up again, with its traceback, in the job
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001
            pass
    try:
        conn.send(("ready", None))
        target = conn.recv()
    except (EOFError, OSError):  # the app closed or discarded this spare
        return
    except Exception as e:  # noqa: BLE001 - the job cannot be unpickled here
        _send_last(conn, ("error", (f"{type(e).__name__}: the job could not be loaded in the job process: {e}",
                                    traceback.format_exc())))
        return
    orphaned = False

    def sink(ev) -> None:
        nonlocal orphaned
        if orphaned:
            return
        try:
            conn.send(("event", ev))
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            orphaned = True  # the app has gone: stop at the next batch, checkpoints stay usable
            control.request_stop()

    try:
        result = target(sink, control)
        message = ("result", result)
    except Cancelled as e:
        message = ("cancelled", str(e))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the app
        message = ("error", (f"{type(e).__name__}: {e}", traceback.format_exc()))
    if not orphaned:
        _send_last(conn, message)


def _send_last(conn, message: tuple) -> None:
    try:
        conn.send(message)
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass
    except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be pickled
        conn.send(("error", (f"{type(e).__name__}: the job's result could not be sent back: {e}",
                             traceback.format_exc())))
    finally:
        conn.close()
