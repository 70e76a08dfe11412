"""Ready-made recipes. The demo recipe is what `./run` trains on the built-in demo dataset."""
from __future__ import annotations

from pathlib import Path

from ..config import RunConfig

# Tuned so the default model reaches a clearly good accuracy on the demo set in about a minute on a
# 2-core CPU (see README, "Demo").
DEMO_OVERRIDES = {
    "data.image_size": 64,
    "data.batch_size": 32,
    "train.epochs": 20,
    "train.lr": 3e-3,
    "augment.min_scale": 0.75,   # the shapes fill most of the frame; deeper crops cut them away
    "tricks.label_smoothing": 0.1,
}


def demo_recipe(dataset: str | Path, runs_dir: str | Path | None = None) -> RunConfig:
    cfg = RunConfig().set("data.path", str(dataset))
    for k, v in DEMO_OVERRIDES.items():
        cfg = cfg.set(k, v)
    if runs_dir is not None:
        cfg = cfg.set("runs_dir", str(runs_dir))
    return cfg
