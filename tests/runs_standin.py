"""Test-only stand-in for ``workbench.runs`` (load_run / load_model), used only while that module is
missing from the tree; it follows the documented run-folder contract."""
from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class _RunInfo:
    run_dir: Path
    name: str
    config: object
    classes: tuple
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    status: str = ""


def _load_run(run_dir):
    from workbench.config import RunConfig
    from workbench.train.checkpoint import RunFolder
    f = RunFolder(run_dir)
    m = f.read_metrics() if f.metrics.is_file() else {}
    return _RunInfo(Path(run_dir), Path(run_dir).name, RunConfig.load(f.config), tuple(f.read_classes()),
                    f.read_history() if f.history.is_file() else [], m, m.get("status", ""))


def _load_model(run_dir, which="best", device="cpu"):
    from workbench.models import create_model
    from workbench.train.checkpoint import load_checkpoint
    info = _load_run(run_dir)
    cfg = info.config
    model = create_model(cfg.model.arch, len(info.classes), cfg.model.dropout)
    model.load_state_dict(load_checkpoint(Path(run_dir) / "checkpoints" / f"{which}.pt")["model"])
    return model.to(device).eval(), info


def ensure_runs_module() -> bool:
    """Install the stand-in when workbench.runs does not exist; True when the stand-in is used."""
    if importlib.util.find_spec("workbench.runs") is not None:
        return False
    mod = types.ModuleType("workbench.runs")
    mod.load_run, mod.load_model, mod.RunInfo = _load_run, _load_model, _RunInfo
    sys.modules["workbench.runs"] = mod
    return True
