"""A tiny trained run shared by the tests (trained once per test session, then reused).

Usage in a test module::

    from trained_run import trained_run

    @pytest.fixture(scope="session")
    def run_dir(tmp_path_factory):
        return trained_run(tmp_path_factory)
"""
from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

from synth import make_shapes_dataset

_CACHE: dict[str, Path] = {}

# --- test-only stand-in for workbench.runs, used only while that module is missing from the tree ---

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


OVERRIDES = ["data.image_size=32", "data.batch_size=16", "train.epochs=2", "train.lr=3e-3",
             "model.arch=resnet18", "train.precision=fp32", "train.device=cpu", "tta.n=2", "name=tiny-run"]


def trained_run(tmp_path_factory) -> Path:
    """Run folder of resnet18 trained 2 epochs at 32 px on a synthetic shapes dataset (3 classes,
    24 train + 8 valid images each). Its dataset lives next to it (``<run>/../../shapes``)."""
    run = _CACHE.get("run")
    if run is not None and (run / "checkpoints" / "best.pt").is_file():
        return run
    from workbench.config import RunConfig
    from workbench.train.run import train
    ensure_runs_module()
    base = tmp_path_factory.mktemp("trained_run")
    data = make_shapes_dataset(base / "shapes")
    cfg = RunConfig().with_overrides(OVERRIDES + [f"runs_dir={base / 'runs'}"]).set("data.path", str(data))
    res = train(cfg)
    if res.status != "completed":
        raise RuntimeError(f"training the shared test run failed ({res.status}): {res.message}")
    _CACHE["run"] = Path(res.run_dir)
    return _CACHE["run"]
