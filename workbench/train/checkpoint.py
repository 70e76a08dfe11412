"""Checkpoints and the run folder layout. Every write goes through workbench.runtime.atomic.

Run folder::

    config.toml  classes.json  history.csv  metrics.json  log.txt
    checkpoints/last.pt   full training state after the last finished epoch (exact resume)
    checkpoints/best.pt   model weights of the best epoch (by cfg.tricks.monitor)

last.pt is written after an epoch when ``CheckpointPacer`` says so (checkpoints then take at most
``train.checkpoint_share`` of the run), and always after the last epoch, on a stop and on a pause.
When the best epoch's weights are not in best.pt yet they ride along in last.pt (``best_model``), so
a crash between the two writes loses nothing.

Checkpoints hold only tensors, numbers, strings, lists, tuples and dicts, so they load with
``torch.load(weights_only=True)``; RNG states are stored as tensors / plain lists for that reason.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import Failure
from ..runtime.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..config import RunConfig
from ..runtime.paths import safe_component
from .recorder import HISTORY_FIELDS

CHECKPOINT_VERSION = 1


class CheckpointError(Failure):
    """A checkpoint that is missing or unreadable; the message names the file."""


class CheckpointPacer:
    """Whether to write last.pt after an epoch: always when one write is cheap (under ``FLOOR_S``) or
    ``share`` is 1, else once the time since the last write is at least ``(1 / share - 1)`` writes,
    so writing takes at most about ``share`` of the run. A crash then loses at most that much work."""

    FLOOR_S = 0.25

    def __init__(self, share: float = 1.0, clock=time.monotonic) -> None:
        self.share, self.clock = float(share), clock
        self.cost = 0.0                  # seconds the last write took
        self.last_end: float | None = None

    def due(self, final: bool = False) -> bool:
        if final or self.share >= 1.0 or self.last_end is None or self.cost < self.FLOOR_S:
            return True
        return self.clock() - self.last_end >= self.cost * (1.0 / max(self.share, 1e-6) - 1.0)

    def wrote(self, seconds: float) -> None:
        self.cost, self.last_end = float(seconds), self.clock()


def amortized_save_s(save_s: float, epoch_s: float, share: float) -> float:
    """Checkpoint seconds per epoch under ``CheckpointPacer`` for epochs of ``epoch_s`` seconds."""
    if share >= 1.0 or save_s < CheckpointPacer.FLOOR_S:
        return save_s
    every = max(1, int(-(-save_s * (1.0 / max(share, 1e-6) - 1.0) // max(epoch_s, 1e-6))))
    return save_s / every


# --------------------------------------------------------------------- RNG
def get_rng_state() -> dict:
    np_state = np.random.get_state()
    state = {"python": _to_plain(random.getstate()),
             "numpy": {"key": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                       "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_to_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = list(state["cuda"])[:torch.cuda.device_count()]
        for i, s in enumerate(cuda):
            torch.cuda.set_rng_state(s, i)


def _to_plain(x: Any) -> Any:
    return [_to_plain(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(v) for v in x) if isinstance(x, list) else x


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


# --------------------------------------------------------------------- trainer state
def capture_state(tr) -> dict:
    """A Trainer's full state after its current epoch: model, optimizer, grad scaler, RNG, callback
    states (by name), step, batch size and lr scale (after out-of-memory halving), history."""
    return {"epoch": tr.epoch, "next_epoch": tr.epoch + 1, "n_epochs": tr.n_epochs,
            "step": tr.step, "model": tr.model.state_dict(), "opt": tr.opt.state_dict(),
            "scaler": tr.scaler.state_dict(), "rng": get_rng_state(),
            "callbacks": {cb.name: cb.state_dict() for cb in tr.callbacks},
            "batch_size": int(tr.train_loader.batch_size),
            "valid_batch_size": int(getattr(tr.valid_loader, "batch_size", 0) or 0),
            "lr_scale": tr.lr_scale, "lr_mults": [float(m) for m in tr.lr_mults],
            "metrics": dict(tr.metrics), "history": [dict(r) for r in tr.history]}


def apply_state(tr, state: dict) -> None:
    """Put a state from ``capture_state`` back into a Trainer (RNG excluded)."""
    tr.model.load_state_dict(state["model"])
    tr.opt.load_state_dict(state["opt"])
    if state.get("scaler"):
        tr.scaler.load_state_dict(state["scaler"])
    saved = state.get("callbacks", {})
    for cb in tr.callbacks:
        if cb.name in saved:
            cb.load_state_dict(saved[cb.name])
    tr.train_loader.batch_size = int(state["batch_size"])
    if state.get("valid_batch_size"):
        tr.valid_loader.batch_size = int(state["valid_batch_size"])
    tr.lr_scale = float(state.get("lr_scale", 1.0))
    tr.lr_mults = list(state.get("lr_mults", tr.lr_mults))
    tr.step = int(state["step"])
    tr.epoch = int(state["epoch"])
    tr.metrics = dict(state.get("metrics", {}))


class TrainerSnapshot:
    """A Trainer as it is now, in memory, for a detour that must leave no trace (the LR range test):
    weights, optimizer, grad scaler, requires_grad flags, callbacks' state, loader image sizes, RNG
    states, train/eval mode and every attribute of the trainer itself (lists and dicts copied).
    ``restore()`` puts all of it back exactly; attributes added since are removed."""

    def __init__(self, tr) -> None:
        self.trainer = tr
        self.model = copy.deepcopy(tr.model.state_dict())
        self.opt = copy.deepcopy(tr.opt.state_dict())
        scaler = getattr(tr, "scaler", None)
        self.scaler = copy.deepcopy(scaler.state_dict()) if scaler is not None else None
        self.requires_grad = [p.requires_grad for p in tr.model.parameters()]
        self.attrs = {k: (copy.copy(v) if isinstance(v, (list, dict)) else v) for k, v in vars(tr).items()}
        self.callbacks = [(cb, copy.deepcopy(cb.state_dict())) for cb in getattr(tr, "callbacks", [])]
        self.sizes = [(ld, ld.image_size) for ld in (tr.train_loader, tr.valid_loader) if hasattr(ld, "image_size")]
        self.rng = get_rng_state()
        self.training_mode = tr.model.training

    def restore(self) -> None:
        tr = self.trainer
        for k in [k for k in vars(tr) if k not in self.attrs]:
            delattr(tr, k)
        for k, v in self.attrs.items():
            setattr(tr, k, v)
        with torch.no_grad():
            tr.model.load_state_dict(self.model)
        tr.opt.load_state_dict(self.opt)
        if self.scaler is not None:
            tr.scaler.load_state_dict(self.scaler)
        tr.opt.zero_grad(set_to_none=True)
        for p, flag in zip(tr.model.parameters(), self.requires_grad):
            p.requires_grad_(flag)
        for cb, state in self.callbacks:
            cb.load_state_dict(state)
        for ld, size in self.sizes:
            ld.image_size = size
        set_rng_state(self.rng)
        tr.model.train(self.training_mode)


def cpu_copy(obj: Any) -> Any:
    """Deep copy with every tensor moved to the CPU (the out-of-memory rollback keeps one per epoch)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


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
        """history.csv: the HISTORY_FIELDS columns (top5 only when the rows have it: 5 classes or more)."""
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
