"""Run a long job in a child process: events stream back to a sink, stop / pause cross over. No Qt.

``run_in_child_process(target, sink, control)`` spawns a fresh Python process that calls
``target(sink, control)`` and blocks until it ends: every event the child sends is passed to ``sink``
in order, the child's return value is returned, an exception in the child comes back as
``ChildJobError`` (with the child's traceback), a stop comes back as ``Cancelled``. ``control`` must
be ``RunControl.for_process()`` so that stop / pause set here are seen in the child.

Why a process for training in the app: the training loop then runs as the main thread of its own
interpreter. It shares no interpreter lock with the UI (a busy UI thread no longer holds up the loop,
nor the loop the UI), and it keeps the OpenMP thread pool of a main thread: a second thread that
runs torch ops makes GNU OpenMP count more threads than cores and stop spin-waiting between
parallel regions, which cost 15-20 % of a CPU training step on 2 cores. The child runs at a lower
CPU priority (nice +10 by default, so the app's own threads win a core; SCHED_IDLE on request, which
starves the job as soon as any other program is busy: see ``job_priority``). A crash in the native code of
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

from ..errors import BadInput, Failure
from .control import Cancelled, RunControl


class ChildJobError(Failure):
    """An exception raised in the child process (``summary`` "Type: message", ``details`` its traceback;
    ``bad_input``: it was a ``BadInput``, and ``summary`` is then its sentence alone)."""

    def __init__(self, summary: str, details: str = "", bad_input: bool = False) -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = details
        self.bad_input = bad_input


class JobProcess:
    """A spawned child process that runs one job. It starts (and, with ``warm_modules``, imports what
    the job needs) right away and then waits for its job, so a spare one started ahead of time lets the
    next job begin at once instead of after the few seconds of a Python + torch start-up.

    ``control`` (default: a new ``RunControl.for_process()``) is handed to the child at its start:
    the job run in it must use this control."""

    def __init__(self, warm_modules: tuple[str, ...] = (), background: bool | str = True,
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
    def pid(self) -> int | None:
        return self._proc.pid

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


def run_in_child_process(target: Callable[[Callable, RunControl], Any], sink: Callable | None,
                   control: RunControl, background: bool | str = True, join_timeout: float = 60.0) -> Any:
    """Call picklable ``target(sink, control)`` in a new child process (``JobProcess``) and return its
    result. ``background``: the child runs at a lower CPU priority (True: ``job_priority()``, or a
    mode of ``background_priority``). ``control``
    must be ``RunControl.for_process()`` (``JobProcess`` checks)."""
    return JobProcess(background=background, control=control).run(target, sink, join_timeout=join_timeout)


PRIORITIES = ("nice", "idle", "normal")
PRIORITY_ENV = "WORKBENCH_JOB_PRIORITY"


def job_priority() -> str:
    """The job process's CPU priority: ``$WORKBENCH_JOB_PRIORITY`` (nice, idle or normal), default nice.

    nice (+10): the app's threads still win a core when they wake up, and the job keeps a fair
    share beside other busy programs. idle (Linux SCHED_IDLE): the app's timer is a little more
    punctual (up to 2-4 ms better p99, bench/ui_latency.py), but any other busy process takes the
    job's core almost entirely; with OpenMP threads waiting on each other the whole job then crawls
    (epochs 33-58 s instead of 1.4-2.8 s beside one busy process). normal: unchanged."""
    value = os.environ.get(PRIORITY_ENV, "nice").strip().lower()
    return value if value in PRIORITIES else "nice"


def background_priority(mode: str = "nice") -> str:
    """Lower the CPU priority of the calling thread and of every thread it starts afterwards
    (``mode`` from ``job_priority``). Returns what was applied."""
    if mode == "idle":
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "SCHED_IDLE"
        except (AttributeError, OSError):
            pass
    if mode in ("idle", "nice"):
        try:
            os.nice(10)
            return "nice +10"
        except (AttributeError, OSError):
            pass
    return "unchanged"


def sched_times(pid: int) -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for one) summed over the threads of a
    process (Linux /proc/<pid>/task/*/schedstat); None where unknown."""
    run = wait = 0.0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                on_cpu, waiting = f.read().split()[:2]
        except (OSError, ValueError):
            continue  # a thread that just ended
        run, wait = run + int(on_cpu) / 1e9, wait + int(waiting) / 1e9
    return run, wait


class CpuShare:
    """How much of the CPU time a process asked for it got since the last ``sample()``: time on a
    CPU / (time on a CPU + time runnable but waiting), 0..1 (1: never waited; low: other programs
    of equal or higher priority hold the cores). None until two samples exist or where unknown."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._last: tuple[float, float] | None = None

    def sample(self) -> float | None:
        now = sched_times(self.pid)
        last, self._last = self._last, now
        if now is None or last is None:
            return None
        run, wait = max(0.0, now[0] - last[0]), max(0.0, now[1] - last[1])
        return run / (run + wait) if run + wait > 1e-3 else None


def _serve(conn, control: RunControl, background: bool, warm_modules: tuple[str, ...]) -> None:
    # Ctrl-C in the terminal reaches the whole process group: the app decides (it asks and stops
    # the job through ``control``), the child does not die mid-write
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if background:  # first, so every thread of the job inherits it
        background_priority(background if isinstance(background, str) else job_priority())
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
    except BadInput as e:  # the job's input cannot be used: its sentence, no traceback
        message = ("error", (str(e), traceback.format_exc(), True))
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
