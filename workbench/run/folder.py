"""The run folder: the one place that names its files, their atomic writers and readers, and the
checkpoint file format. Every write goes through workbench.runtime.atomic.

Run folder::

    config.toml  classes.json  history.csv  metrics.json  log.txt  plan.json
    checkpoints/last.pt   full training state after the last finished epoch (exact resume)
    checkpoints/best.pt   model weights of the best epoch (by cfg.tricks.monitor)
    predictions.npz / predictions-<which>.npz     validation predictions of a checkpoint (analysis)
    calibration.json / calibration-<which>.json   the temperature fitted on them (analysis)

While a run trains, ``train.checkpoint.RunWriter`` (a callback) writes through this module; the
analysis, inference and GUI code read and write the other files through ``RunFolder`` too, and
``run.runs`` lists, renames and deletes whole folders.

Checkpoints hold only tensors, numbers, strings, lists, tuples and dicts, so they load with
``torch.load(weights_only=True)``; RNG states are stored as tensors / plain lists for that reason.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from ..config import RunConfig
from ..errors import Failure
from ..runtime.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..runtime.events import LogMessage
from ..runtime.paths import safe_component

CHECKPOINT_VERSION = 1
# history.csv's columns
HISTORY_FIELDS = ("epoch", "train_loss", "valid_loss", "accuracy", "lr", "seconds", "images_per_sec", "top5")


class CheckpointError(Failure):
    """A checkpoint that is missing or unreadable; the message names the file."""


# --------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | Path, state: dict) -> None:
    """Serialize ``state`` with torch.save and write it atomically."""
    buf = io.BytesIO()
    torch.save({"version": CHECKPOINT_VERSION, **state}, buf)
    have_last = RunFolder(Path(path).parent.parent).last.is_file()  # path: <run>/checkpoints/<name>.pt
    after = ("the run can be resumed from its last checkpoint." if have_last else
             "no checkpoint of this run has been written yet, so it has to start again.")
    atomic_write_bytes(path, buf.getvalue(), what=f"the checkpoint {Path(path).name}",
                       hint=f"Free some space, or choose a runs folder (runs_dir) on a larger disk; {after}")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - a clear message naming the file
        text = str(e).strip()
        if "weights only load failed" in text.lower() or "weights_only" in text:
            why = ("it is damaged, or holds more than tensors and plain data (such a file is never "
                   "unpickled: that could run code)")
        else:
            why = text.splitlines()[0][:200] if text else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {p}: {why}") from e


# --------------------------------------------------------------------- run folder
class RunFolder:
    """Paths and atomic writers of one run folder: the one place that names its files."""

    CONFIG = "config.toml"
    CLASSES = "classes.json"
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    LOG = "log.txt"
    CHECKPOINTS = "checkpoints"
    PREDICTIONS = "predictions.npz"      # validation predictions of the best checkpoint (interpret)
    CALIBRATION = "calibration.json"     # temperature scaling fitted on them (calibration-<which>.json)
    PROGRESS = "progress.json"           # written by rank 0 of a torchrun job
    LAUNCH_LOG = "torchrun.log"          # output of the torchrun launcher
    PLAN = "plan.json"                   # the time-budget plan (train.planner)
    LAUNCHER_FILES = frozenset({PROGRESS, LAUNCH_LOG})  # may exist before the run itself starts
    MARKERS = (METRICS, CONFIG)          # a folder with neither is not a run folder

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config = property(lambda self: self.path / RunFolder.CONFIG)
    classes = property(lambda self: self.path / RunFolder.CLASSES)
    history = property(lambda self: self.path / RunFolder.HISTORY)
    metrics = property(lambda self: self.path / RunFolder.METRICS)
    log = property(lambda self: self.path / RunFolder.LOG)
    checkpoints = property(lambda self: self.path / RunFolder.CHECKPOINTS)
    last = property(lambda self: self.checkpoint_named("last"))
    best = property(lambda self: self.checkpoint_named("best"))
    progress = property(lambda self: self.path / RunFolder.PROGRESS)
    launch_log = property(lambda self: self.path / RunFolder.LAUNCH_LOG)

    @staticmethod
    def is_run(path: str | Path) -> bool:
        """True for a folder that holds a run (its config.toml)."""
        return (Path(path) / RunFolder.CONFIG).is_file()

    def has_marker(self) -> bool:
        return any((self.path / m).is_file() for m in self.MARKERS)

    def checkpoint_named(self, name: str) -> Path:
        return self.checkpoints / f"{name}.pt"

    def checkpoint(self, which: str = "best") -> Path:
        """The checkpoint to load for ``which``: "best" falls back to last.pt while best.pt does not exist
        (a run stopped before its first best epoch); any other name is checkpoints/<which>.pt."""
        if which == "best" and not self.best.is_file():
            return self.last
        return self.checkpoint_named(which)

    def predictions(self, which: str = "best") -> Path:
        return self.path / (self.PREDICTIONS if which == "best" else f"predictions-{which}.npz")

    def calibration(self, which: str = "best") -> Path:
        """The temperature fitted on ``which``'s validation predictions (one file per checkpoint, like
        the predictions, so evaluating last never changes what an export of best applies)."""
        return self.path / (self.CALIBRATION if which == "best" else f"calibration-{which}.json")

    def create(self) -> "RunFolder":
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        return self

    def write_classes(self, classes) -> None:
        atomic_write_json(self.classes, list(classes))

    def read_classes(self) -> list[str]:
        return json.loads(self.classes.read_text(encoding="utf-8"))

    def write_history(self, rows: list[dict]) -> None:
        """history.csv: the HISTORY_FIELDS columns (top5 only when the rows have it: more than 5 classes)."""
        out = io.StringIO()
        fields = [f for f in HISTORY_FIELDS if f != "top5" or any("top5" in r for r in rows)]
        w = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(float(v)) if isinstance(v, float) else v) for k, v in r.items()})
        atomic_write_text(self.history, out.getvalue())

    def read_history(self) -> list[dict]:
        if not self.history.is_file():
            return []
        rows = []
        with open(self.history, encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in r.items() if v != ""})
        return rows

    def write_metrics(self, metrics: dict) -> None:
        """metrics.json is strict JSON: a number that is not finite (NaN, infinity) is written as null."""
        atomic_write_json(self.metrics, _finite(metrics))

    def read_metrics(self) -> dict:
        return json.loads(self.metrics.read_text(encoding="utf-8")) if self.metrics.is_file() else {}

    def logged(self, sink):
        """A sink that appends the text of every LogMessage to log.txt, then passes each event on to
        ``sink`` (a trainer's log lines go into its run folder this way)."""
        def forward(event) -> None:
            if isinstance(event, LogMessage):
                self.append_log(event.text)
            if sink is not None:
                sink(event)
        return forward

    def log_tail(self, lines: int = 300, max_bytes: int = 256 * 1024) -> list[str]:
        """The last ``lines`` lines of log.txt (read from at most its last ``max_bytes``; a line cut by
        that start is left out); [] when the run has no log."""
        try:
            with open(self.log, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - max_bytes))
                data = f.read()
        except OSError:
            return []
        text = data.decode("utf-8", errors="replace").splitlines()
        if size > max_bytes and text:
            text = text[1:]
        return text[-lines:]

    def append_log(self, text: str) -> None:
        """Add a time-stamped line with one append (O_APPEND, one write: a kill leaves whole lines; the
        log is never rewritten, so a long run's log costs the same per line as a short one's)."""
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n".encode("utf-8", errors="surrogateescape")
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def name_taken(cfg: RunConfig) -> str:
    """"" when a new run of ``cfg`` can start under its run name (none set: a dated name is made
    unique), else one sentence: the folder that name gives already holds a run or other files."""
    if not cfg.name:
        return ""
    path = Path(cfg.runs_dir).expanduser() / safe_component(cfg.name)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return ""   # free: a missing or empty folder
    if not path.is_dir():
        return f"name: {path} exists and is not a folder; choose another run name"
    what = "holds a run" if RunFolder.is_run(path) or RunFolder(path).checkpoints.is_dir() else "is not empty"
    return (f"name: the run name '{cfg.name}' is taken ({path} {what}); choose another name, or clear it "
            "for a dated one" + (" (resume continues that run)" if what == "holds a run" else ""))


def free_name(cfg: RunConfig) -> str:
    """``cfg.name`` when a new run can take it (``name_taken``), else the first free "NAME-2", "NAME-3", ...
    (the app's runs under a name the recipe keeps, as dated names are made unique)."""
    name, k = cfg.name, 2
    while name_taken(cfg.set("name", name)):
        name, k = f"{cfg.name}-{k}", k + 1
    return name


def new_run_dir(cfg: RunConfig, dataset_name: str = "") -> Path:
    """cfg.runs_dir / (cfg.name or '<dataset>-<YYYYmmdd-HHMMSS>'), made unique if it exists; the name
    is always one folder inside runs_dir (``paths.safe_component``)."""
    base = Path(cfg.runs_dir).expanduser()
    name = safe_component(cfg.name or f"{dataset_name or Path(cfg.data.path).name or 'run'}-"
                                      f"{time.strftime('%Y%m%d-%H%M%S')}")
    path, k = base / name, 2
    while not cfg.name and path.exists():
        path, k = base / f"{name}-{k}", k + 1
    return path
