"""Training: Trainer loop with callbacks, schedules, optimizers, checkpoints, and run orchestration.

Lazy exports (so importing ``workbench.train.callback`` stays light)::

    Trainer, TrainingError            (trainer.py)
    train, resume, build_trainer, RunResult   (run.py)
"""
from __future__ import annotations

import importlib

_EXPORTS = {"Trainer": "trainer", "TrainingError": "trainer", "train": "run", "resume": "run",
            "build_trainer": "run", "RunResult": "run", "ParamScheduler": "schedules",
            "planned_curve": "schedules", "Recorder": "recorder"}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
