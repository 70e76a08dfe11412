"""Run folders on disk: list them, read one, delete one, load its model (Qt-free; the GUI's run list uses this)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .config import ConfigError, RunConfig
from .locks import BusyError, run_folder_lock
from .models import ModelError, create_model
from .train.checkpoint import CheckpointError, RunFolder, load_checkpoint


class RunError(ValueError):
    """A folder that is not a readable run; the message names the folder and the problem."""


@dataclass
class RunInfo:
    run_dir: Path
    name: str
    config: RunConfig
    classes: tuple
    history: list = field(default_factory=list)     # rows of history.csv as dicts
    metrics: dict = field(default_factory=dict)     # metrics.json
    status: str = ""                                # running | completed | early_stopped | cancelled | failed
    created: float = 0.0                            # seconds since the epoch (config.toml written)


def load_run(run_dir) -> RunInfo:
    """Read config, classes, history and metrics of one run folder."""
    f = RunFolder(Path(run_dir))
    if not f.config.is_file():
        raise RunError(f"{f.path} is not a run folder (no config.toml)")
    try:
        cfg = RunConfig.load(f.config)
        classes = tuple(f.read_classes()) if f.classes.is_file() else ()
        history = f.read_history()
        metrics = f.read_metrics()
        if not isinstance(metrics, dict) or not all(isinstance(c, str) for c in classes):
            raise ValueError("metrics.json or classes.json does not hold what a run writes")
    except (ConfigError, ValueError, OSError, TypeError) as e:
        raise RunError(f"cannot read run folder {f.path}: {e}") from e
    return RunInfo(f.path, f.path.name, cfg, classes, history, metrics,
                   str(metrics.get("status", "")), f.config.stat().st_mtime)


def list_runs(runs_dir) -> list[RunInfo]:
    """All readable runs under ``runs_dir``, newest first; broken folders are skipped."""
    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if d.is_dir() and RunFolder.is_run(d):
            try:
                out.append(load_run(d))
            except RunError:
                continue
    return sorted(out, key=lambda r: r.created, reverse=True)


def delete_run(run_dir) -> Path:
    """Delete one run folder and everything in it; ``RunError`` (nothing deleted) when the folder does
    not look like a run folder (none of ``RunFolder.MARKERS`` in it) or another process holds its
    ``.lock`` (a run being trained or resumed). Returns the deleted path."""
    path = Path(run_dir)
    if not RunFolder(path).has_marker():
        raise RunError(f"{path} does not look like a run folder (no {' or '.join(RunFolder.MARKERS)}); "
                       "nothing was deleted.")
    try:
        with run_folder_lock(path):  # held while deleting: no process can start on it meanwhile
            shutil.rmtree(path)
    except BusyError:
        raise RunError(f"{path} is in use by another process (it is being trained or resumed): stop that "
                       f"process first; nothing was deleted.") from None
    return path


def load_model(run_dir, which: str = "best", device: str | torch.device = "cpu") -> tuple[nn.Module, RunInfo]:
    """The run's model in eval mode (best.pt, or last.pt; best falls back to last) and its RunInfo."""
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', not {which!r}")
    info = load_run(run_dir)
    if not info.classes:
        raise RunError(f"{info.run_dir}: classes.json is missing")
    f = RunFolder(info.run_dir)
    path = f.checkpoint(which)
    try:
        state = load_checkpoint(path)
    except CheckpointError as e:
        raise RunError(str(e)) from e
    cfg = info.config
    try:
        model = create_model(cfg.model.arch, len(info.classes), cfg.model.dropout)
        model.load_state_dict(state["model"])
    except ModelError as e:
        raise RunError(f"{info.run_dir}: {e}") from e
    except (KeyError, TypeError, RuntimeError) as e:  # not a checkpoint of this run's model
        raise RunError(f"{path} does not hold the weights of this run's model ({cfg.model.arch}, "
                       f"{len(info.classes)} classes): {str(e).splitlines()[0][:200]}") from e
    return model.to(device).eval(), info
