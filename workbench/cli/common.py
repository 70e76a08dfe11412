"""Shared CLI helpers: config arguments, help from config metadata, terminal progress."""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from typing import TextIO

from ..config import ConfigError, RunConfig, iter_fields
from ..events import Event, LogMessage, Progress
from ..suggest import drop_reasons


class UsageError(Exception):
    """Bad input from the user: printed as 'error: ...' and exit code 2."""


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
        cfg = RunConfig.load(args.config) if getattr(args, "config", None) else RunConfig()
        overrides = getattr(args, "overrides", []) or []
        cfg = cfg.with_overrides(overrides)
        # a suggested recipe: the reasons of options set here no longer hold
        cfg = drop_reasons(cfg, (a.split("=", 1)[0].strip() for a in overrides))
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


def fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
