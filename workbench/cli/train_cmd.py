"""``workbench train [DATASET] [--config FILE] [--set KEY=VALUE ...] [--out RUN_DIR] [--plan-only]``.

With ``train.budget_minutes`` the run is planned to end within the budget, counted from this
command's start; ``--plan-only`` prints the plan (epochs, sizes, measured speed, predicted end) and
trains nothing.

Progress bar (epoch, batch, loss, images/s, ETA) and one line per epoch on stderr; the run folder and
the result on stdout. Ctrl-C once stops cleanly after the current batch (checkpoint kept), twice aborts.
Exit code: 0 completed / early-stopped, 1 failed, 130 cancelled.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, TextIO

from ..control import RunControl
from ..events import (BatchEnd, Event, EpochEnd, FitFinished, FitStarted, LogMessage, Paused, Progress,
                      Replanned, Resumed)
from .common import TerminalProgress, UsageError, add_config_args, fmt_time, load_config

EXIT_CODES = {"completed": 0, "early_stopped": 0, "failed": 1, "cancelled": 130}


class TrainProgress(TerminalProgress):
    """Terminal sink for training events (bars for Progress and batches, one line per epoch)."""

    def __init__(self, stream: TextIO | None = None, min_interval: float = 0.1) -> None:
        super().__init__(stream, min_interval)
        self.epochs = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, (Progress, LogMessage)):
            super().__call__(event)
        elif isinstance(event, FitStarted):
            self.epochs = event.epochs
            self.line(f"training {event.n_train} images ({event.n_valid} for validation), "
                      f"{len(event.classes)} classes, on {event.device}, {event.precision}, "
                      f"batch size {event.batch_size}, epochs {event.start_epoch + 1}-{event.epochs}")
        elif isinstance(event, BatchEnd):
            self.progress(f"epoch {event.epoch + 1}/{self.epochs}", event.batch + 1, event.n_batches,
                          f"loss {event.smooth_loss:.4f} {event.images_per_sec:.0f} img/s "
                          f"total ETA {fmt_time(event.eta_s)}")
        elif isinstance(event, EpochEnd):
            extra = " ".join(f"{k} {v:.4f}" for k, v in event.metrics.items())
            self.line(f"epoch {event.epoch + 1}/{self.epochs}: train loss {event.train_loss:.4f}  "
                      f"valid loss {event.valid_loss:.4f}  {extra}  {fmt_time(event.seconds)}"
                      f"{'  (best)' if event.is_best else ''}")
        elif isinstance(event, Replanned):
            self.epochs = event.epochs
        elif isinstance(event, Paused):
            self.line("paused")
        elif isinstance(event, Resumed):
            self.line("resumed")
        elif isinstance(event, FitFinished):
            self.line(f"{event.status}: {event.message}")
            if event.traceback:
                self.line(event.traceback.rstrip())


@contextlib.contextmanager
def ctrl_c_stops(control: RunControl, sink: TerminalProgress) -> Iterator[None]:
    """First Ctrl-C: control.request_stop() (a clean stop); second: KeyboardInterrupt (abort).
    Only in the main thread (where Python delivers signals); the previous handler is put back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum, frame):
        if control.stop_requested:
            raise KeyboardInterrupt
        control.request_stop()
        sink.line("stopping after this batch (press Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_with_progress(job: Callable[[Callable, RunControl], object], out: TextIO | None = None) -> int:
    """Run a train / resume job with a terminal sink and Ctrl-C handling; return the exit code."""
    out = out or sys.stdout
    control = RunControl()
    sink = TrainProgress()
    with ctrl_c_stops(control, sink):
        result = job(sink, control)
    print(f"run folder: {result.run_dir}", file=out)
    m = result.metrics or {}
    print(f"status: {result.status} ({result.message})", file=out)
    if m.get("valid_accuracy") is not None:
        print(f"accuracy {m['valid_accuracy']:.4f}  valid loss {m['valid_loss']:.4f}  "
              f"best epoch {m.get('best_epoch', -1) + 1}", file=out)
    return EXIT_CODES.get(result.status, 1)


def cmd(args: argparse.Namespace) -> int:
    from ..train.planner import command_start
    from ..train.run import plan_run, train
    started = command_start(getattr(args, "entered", time.time()))
    if args.folds:
        from .crossval_cmd import run as crossval
        if args.out:
            raise UsageError("--out cannot be used with --folds (each fold gets its own run folder)")
        return crossval(args)
    cfg = load_config(args, args.dataset)
    if not cfg.data.path:
        raise UsageError("no dataset: give DATASET or set data.path in the config")
    if not Path(cfg.data.path).expanduser().exists():
        raise UsageError(f"dataset folder not found: {cfg.data.path}")
    if args.plan_only:
        from ..data import DatasetError
        try:
            plan = plan_run(cfg, sink=TrainProgress(), started=started)
        except DatasetError as e:
            raise UsageError(str(e)) from e
        print("\n".join(plan.lines()))
        return 0
    out = Path(args.out) if args.out else None
    if out is not None and (out / "checkpoints" / "last.pt").is_file():
        raise UsageError(f"{out} already holds a run: use 'workbench resume {out}' or another --out folder")
    print(f"run folder: {out}" if out else "starting run", file=sys.stderr)
    return run_with_progress(lambda sink, control: train(cfg, sink=sink, control=control, run_dir=out,
                                                           started=started))


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model on a dataset folder",
                       description="Train an image classifier. Writes a run folder with the config, "
                                   "history, metrics, log and checkpoints.")
    p.add_argument("dataset", nargs="?", help="dataset folder (overrides data.path)")
    add_config_args(p)
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs_dir/<name or dataset-time>)")
    p.add_argument("--folds", type=int, default=0, metavar="K",
                   help="k-fold cross-validation: K stratified folds, one run each, plus summary.json "
                        "(same as 'workbench crossval')")
    p.add_argument("--plan-only", action="store_true",
                   help="measure this machine on the recipe and print the plan (epochs, image sizes, images/s, "
                        "predicted end; with train.budget_minutes the epochs that fit the budget), then exit")
    p.set_defaults(func=cmd)
