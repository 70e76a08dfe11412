"""Local multi-GPU runs for the GUI: start ``torchrun`` as a subprocess and follow it through the run folder.

The training side (rank 0) keeps ``RUN_DIR/progress.json`` up to date with ``ProgressFile`` (atomic
writes, at most every ``min_interval`` seconds, always at the start and end of the fit and of each
epoch). ``run_torchrun`` reads that file while the processes run and turns it back into events
(FitStarted, BatchEnd, EpochEnd, FitFinished) for the caller's sink; ``control.request_stop()`` sends
SIGINT to torchrun (which forwards it once to every rank: a clean stop at the next batch, all ranks
together), then SIGTERM, then SIGKILL if the processes do not leave in time. Qt-free.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..runtime.atomic import atomic_write_json
from ..config import RunConfig
from ..runtime.control import RunControl
from ..runtime.events import BatchEnd, EpochEnd, Event, FitFinished, FitStarted, LogMessage, null_sink
from ..run.folder import RunFolder, new_run_dir

PROGRESS_FILE = RunFolder.PROGRESS
LAUNCH_LOG = RunFolder.LAUNCH_LOG
ENV_FLAG = "WORKBENCH_PROGRESS_FILE"


def progress_file_wanted() -> bool:
    """True when the launcher asked for progress.json (set for every process started by run_torchrun)."""
    return os.environ.get(ENV_FLAG) == "1"


def gpu_count() -> int:
    """CUDA GPUs this machine has; the GUI offers a multi-GPU run only when this is above 1."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _plain(ev: Event) -> dict:
    d = dataclasses.asdict(ev)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


class ProgressFile:
    """Event sink of rank 0 that mirrors the run's progress into RUN_DIR/progress.json."""

    def __init__(self, run_dir: str | os.PathLike, min_interval: float = 2.0) -> None:
        self.path = Path(run_dir) / PROGRESS_FILE
        self.min_interval = min_interval
        self._last = 0.0
        self.state: dict = {"version": 1, "status": "running", "pid": os.getpid(), "fit": None,
                            "batch": None, "epochs": [], "finished": None, "log": [], "updated": 0.0}

    def __call__(self, ev: Event) -> None:
        force = True
        if isinstance(ev, FitStarted):
            self.state.update(fit=_plain(ev), status="running", finished=None, epochs=[])
        elif isinstance(ev, BatchEnd):
            self.state["batch"] = _plain(ev)
            force = ev.batch == ev.n_batches - 1
        elif isinstance(ev, EpochEnd):
            self.state["epochs"].append(_plain(ev))
        elif isinstance(ev, FitFinished):
            fin = _plain(ev)
            fin.pop("traceback", None)
            self.state.update(finished=fin, status=ev.status)
        elif isinstance(ev, LogMessage):
            self.state["log"] = (self.state["log"] + [ev.text])[-20:]
            force = False
        else:
            return
        self.write(force)

    def write(self, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        self.state["updated"] = time.time()
        atomic_write_json(self.path, self.state)


def read_progress(run_dir: str | os.PathLike) -> dict | None:
    """The last complete progress.json of a run, or None when there is none (yet)."""
    p = Path(run_dir) / PROGRESS_FILE
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class ProgressFollower:
    """Turns successive progress.json snapshots into the events not sent yet."""

    def __init__(self, sink: Callable[[Event], None]) -> None:
        self.sink = sink
        self.started = False
        self.epochs_sent = 0
        self.last_batch: tuple | None = None
        self.finished: dict | None = None

    def update(self, state: dict | None) -> None:
        if not state:
            return
        if state.get("fit") and not self.started:
            f = dict(state["fit"])
            f["classes"] = tuple(f.get("classes", ()))
            f["history"] = tuple(f.get("history", ()))
            f["batches"] = tuple(tuple(p) for p in f.get("batches", ()))
            self.sink(FitStarted(**f))
            self.started = True
        b = state.get("batch")
        if b and (b["epoch"], b["batch"]) != self.last_batch:
            self.last_batch = (b["epoch"], b["batch"])
            self.sink(BatchEnd(**b))
        for e in state.get("epochs", [])[self.epochs_sent:]:
            self.sink(EpochEnd(**e))
            self.epochs_sent += 1
        if state.get("finished") and self.finished is None:
            self.finished = state["finished"]


@dataclass
class TorchrunResult:
    run_dir: Path
    status: str                    # completed | early_stopped | cancelled | failed
    returncode: int
    metrics: dict = field(default_factory=dict)
    message: str = ""


def launcher_command(nproc: int) -> list[str]:
    """The torchrun launcher for this installation: the packaged app relaunches itself with --no-python."""
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    if getattr(sys, "frozen", False):
        return [sys.executable, "launch", "--nproc", str(nproc), "--"]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "workbench"]


def run_torchrun(cfg_path: str | os.PathLike, dataset: str, nproc: int, sink=None,
                 control: RunControl | None = None, run_dir: str | os.PathLike | None = None,
                 extra_args: Sequence[str] = (), grace_s: float = 30.0, poll_s: float = 0.5) -> TorchrunResult:
    """Train ``dataset`` with the recipe ``cfg_path`` on ``nproc`` local processes (one per GPU).

    Blocks until the run ends (call it from a worker thread). Sends FitStarted / BatchEnd / EpochEnd /
    FitFinished to ``sink``; ``control.request_stop()`` stops all ranks cleanly.
    """
    cfg = RunConfig.load(cfg_path).set("data.path", str(dataset))
    run_dir = Path(run_dir) if run_dir else new_run_dir(cfg)
    args = ["train", str(dataset), "--config", str(cfg_path), "--out", str(run_dir), *extra_args]
    return _run(launcher_command(nproc) + args, run_dir, sink, control, grace_s, poll_s)


def _run(cmd: list[str], run_dir: Path, sink, control, grace_s: float, poll_s: float) -> TorchrunResult:
    sink = sink or null_sink
    control = control or RunControl()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / PROGRESS_FILE).unlink(missing_ok=True)  # from an earlier attempt (resume): not this run's
    follower = ProgressFollower(sink)
    env = {**os.environ, ENV_FLAG: "1", "PYTHONUNBUFFERED": "1"}
    log_path = run_dir / LAUNCH_LOG
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        sink(LogMessage(f"started {nproc_of(cmd)} training processes with torchrun (log: {log_path})"))
        stop_sent_at: float | None = None
        term_sent = False
        while True:
            try:
                rc = proc.wait(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                pass
            follower.update(read_progress(run_dir))
            if control.stop_requested and stop_sent_at is None:
                proc.send_signal(signal.SIGINT)  # torchrun forwards it once to every rank
                stop_sent_at = time.monotonic()
            elif stop_sent_at is not None and time.monotonic() - stop_sent_at > grace_s:
                if not term_sent:
                    proc.terminate()
                    term_sent = True
                elif time.monotonic() - stop_sent_at > 2 * grace_s:
                    _kill_group(proc)
    follower.update(read_progress(run_dir))
    return _finish(follower, run_dir, rc, sink, control, log_path)


def nproc_of(cmd: list[str]) -> str:
    for i, a in enumerate(cmd):
        if a.startswith("--nproc_per_node="):
            return a.split("=", 1)[1]
        if a == "--nproc" and i + 1 < len(cmd):
            return cmd[i + 1]
    return "?"


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc). torchrun starts every rank in a session of its
    own, so killing torchrun's process group would leave the ranks running."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except (OSError, ValueError):
                pass
    return out


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to ``pid`` and every process it started (deepest last-started first)."""
    for p in reversed(process_tree(pid)):
        try:
            os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _kill_group(proc: subprocess.Popen) -> None:
    kill_tree(proc.pid)


def _finish(follower: ProgressFollower, run_dir: Path, rc: int, sink, control, log_path: Path) -> TorchrunResult:
    fin = follower.finished
    if fin:
        status, message, metrics = fin["status"], fin.get("message", ""), dict(fin.get("metrics") or {})
        trace = ""
    else:
        status = "cancelled" if control.stop_requested else "failed"
        message = (f"the training processes stopped (torchrun exit code {rc}) before reporting a result; "
                   f"see {log_path}")
        metrics, trace = {}, _tail(log_path)
    if status == "failed" and not trace:
        trace = _tail(log_path)
    best = (fin or {}).get("best_epoch", metrics.get("best_epoch", -1))
    sink(FitFinished(status=status, message=message, traceback=trace, best_epoch=int(-1 if best is None else best),
                     metrics=metrics, run_dir=str(run_dir)))
    return TorchrunResult(run_dir, status, rc, metrics, message)


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return ""
