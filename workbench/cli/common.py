"""Shared CLI helpers: config arguments, help from config metadata, terminal progress."""
from __future__ import annotations

import argparse
import contextlib
import signal
import shutil
import sys
import threading
import time
import warnings
from typing import Iterator, TextIO

from ..runtime.atomic import atomic_write_json
from ..config import ConfigError, RemovedOptionWarning, RunConfig, drop_reasons, iter_fields
from ..recipe.reasons import drop_stale_reasons
from ..runtime.control import RunControl
from ..runtime.events import (BatchEnd, EpochEnd, Event, FitFinished, FitStarted, LogMessage, Paused, Progress,
                      Replanned, Resumed, fmt_time)


class UsageError(Exception):
    """Bad input from the user: printed as 'error: ...' and exit code 2."""


def require_dataset(cfg: RunConfig) -> None:
    """UsageError when the command got no dataset (neither DATASET nor data.path)."""
    if not cfg.data.path:
        raise UsageError("no dataset: give DATASET or set data.path in the config")


def require_run(run_dir) -> None:
    """UsageError when ``run_dir`` is no run folder (evaluate, export, resume)."""
    from ..run.folder import RunFolder  # torch: not on the path of `workbench --help`
    if not RunFolder.is_run(run_dir):
        raise UsageError(f"{run_dir}: not a run folder (no {RunFolder.CONFIG})")


def require_folds(k: int) -> None:
    """UsageError for a fold count that cannot cross-fit."""
    if k < 2:
        raise UsageError(f"--folds must be at least 2, got {k}")


def write_json_file(path: str, data: dict) -> None:
    """Write a command's --json report atomically; a path that cannot be written is bad input."""
    try:
        atomic_write_json(path, data)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from e


def config_keys_help() -> str:
    lines = ["config keys (use with --set KEY=VALUE):"]
    for key, f, value in iter_fields(RunConfig()):
        if key == "schema_version":
            continue
        m = f.metadata
        extra = f" [{'|'.join(map(str, m['choices']))}]" if m.get("choices") else ""
        lines.append(f"  {key} = {value!r}{extra}\n      {m.get('help', '')}")
    return "\n".join(lines)


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="recipe TOML file (the same file the app saves)")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                   help="override a config key after the file, e.g. --set train.epochs=5 (repeatable)")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = config_keys_help()


def load_config(args: argparse.Namespace, dataset: str | None = None) -> RunConfig:
    """Config file first, then --set overrides, then the positional dataset; exit 2 on problems."""
    try:
        with warnings.catch_warnings(record=True) as removed:
            warnings.simplefilter("always", RemovedOptionWarning)
            cfg = RunConfig.load(args.config) if getattr(args, "config", None) else RunConfig()
        for w in removed:
            if issubclass(w.category, RemovedOptionWarning):
                print(f"warning: {args.config}: {w.message}", file=sys.stderr)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        overrides = getattr(args, "overrides", []) or []
        cfg = cfg.with_overrides(overrides)
        # a suggested recipe: the reasons of options set here no longer hold
        cfg = drop_reasons(cfg, (a.split("=", 1)[0].strip() for a in overrides))
        cfg = drop_stale_reasons(cfg)   # and those speaking of a value set here (the epochs, the budget)
        if dataset:
            cfg = cfg.set("data.path", dataset)
    except ConfigError as e:
        raise UsageError(str(e)) from e
    problems = cfg.validate()
    if problems:
        if len(problems) == 1:
            raise UsageError(f"invalid config: {problems[0]}")
        raise UsageError("invalid config:\n  " + "\n  ".join(problems))
    return cfg


class TerminalProgress:
    """Event sink drawing Progress events as a one-line bar on a terminal (plain lines otherwise)."""

    def __init__(self, stream: TextIO | None = None, min_interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.min_interval = min_interval
        self._last = 0.0
        self._task = None
        self._t0 = time.monotonic()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.progress(event.task, event.done, event.total, event.message)
        elif isinstance(event, LogMessage):
            self.line(event.text)

    def progress(self, task: str, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if task != self._task:
            self._task, self._t0 = task, now
        finished = total and done >= total
        if not finished and now - self._last < self.min_interval:
            return
        self._last = now
        frac = done / total if total else 0.0
        elapsed = now - self._t0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - 60))
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        text = f"{task:<14} [{bar}] {done}/{total} {frac:4.0%} ETA {fmt_time(eta)} {message}"
        if self.tty:
            self.stream.write("\r" + text[:200] + ("\n" if finished else ""))
        elif finished or done == 0:
            self.stream.write(text + "\n")
        self.stream.flush()

    def line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()


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
def _on_stop_signals(handler) -> Iterator[None]:
    """``handler(signum, frame)`` for SIGINT and SIGTERM while inside; the previous handlers put back.
    Only in the main thread (where Python delivers signals); elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextlib.contextmanager
def ctrl_c_stops(control: RunControl, sink: TerminalProgress) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: control.request_stop() (a clean stop: the run is "cancelled" and
    resumable); a second one: KeyboardInterrupt (abort)."""
    def on_signal(signum, frame):
        if control.stop_requested:
            raise KeyboardInterrupt
        control.request_stop()
        what = "Ctrl-C" if signum == signal.SIGINT else "the termination signal"
        sink.line(f"stopping after this batch on {what} (press Ctrl-C again to abort)")

    with _on_stop_signals(on_signal):
        yield


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt here, also when the process started with SIGINT
    ignored (a shell's background job): a download blocked on a stalled connection stops at once
    and cleans up, instead of waiting for its timeout."""
    def on_signal(signum, frame):
        raise KeyboardInterrupt

    with _on_stop_signals(on_signal):
        yield
