"""Immutable events sent from the core to observers (GUI, CLI). Observers never change training.

An event sink is any callable taking one event. Payloads are small: numbers, strings, small numpy
arrays or CPU tensors; never a GPU tensor or a live module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


class Event:
    """Base class of all events."""


def null_sink(event: Event) -> None:
    """A sink that ignores everything."""


def fan_out(*sinks: Callable[[Event], None]) -> Callable[[Event], None]:
    """One sink that forwards each event to several sinks."""
    live = [s for s in sinks if s is not None]

    def sink(event: Event) -> None:
        for s in live:
            s(event)
    return sink


@dataclass(frozen=True)
class Progress(Event):
    """Progress of a slow non-training task (scan, health check, cache build, export, predict)."""
    task: str
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class LogMessage(Event):
    text: str
    level: str = "info"  # info | warning | error


@dataclass(frozen=True)
class FitStarted(Event):
    run_dir: str
    epochs: int
    start_epoch: int
    steps_per_epoch: int
    n_train: int
    n_valid: int
    classes: tuple
    device: str
    precision: str
    batch_size: int
    history: tuple = ()  # a resumed run: the history rows (dicts) of the epochs done before start_epoch
    batches: tuple = ()  # a resumed run: its batch curve before start_epoch, (x in epochs, smoothed loss, lr)
    label_smoothing: float = 0.0  # > 0: the validation loss of EpochEnd is label-smoothed (the loss trained with)


@dataclass(frozen=True)
class Replanned(Event):
    """A time-budget run changed its number of epochs after ``after_epoch`` epochs (speed drift)."""
    epochs: int
    after_epoch: int


@dataclass(frozen=True)
class BatchEnd(Event):
    epoch: int
    batch: int           # 0-based index within the epoch
    n_batches: int
    step: int            # global optimizer step
    loss: float
    smooth_loss: float
    lr: float
    mom: float
    images_per_sec: float
    eta_s: float


@dataclass(frozen=True)
class EpochEnd(Event):
    epoch: int
    train_loss: float
    valid_loss: float
    metrics: dict        # e.g. {"accuracy": 0.91}
    lr: float
    seconds: float
    images_per_sec: float
    is_best: bool


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str
    epoch: int


@dataclass(frozen=True)
class Paused(Event):
    pass


@dataclass(frozen=True)
class Resumed(Event):
    pass


@dataclass(frozen=True)
class FitFinished(Event):
    status: str          # completed | cancelled | failed | early_stopped
    message: str = ""
    traceback: str = ""
    best_epoch: int = -1
    metrics: dict = field(default_factory=dict)
    run_dir: str = ""


@dataclass(frozen=True)
class LRFindStep(Event):
    step: int
    total: int
    lr: float
    loss: float
    smooth_loss: float


def fmt_time(seconds: float) -> str:
    """A duration (or ETA) as MM:SS, or H:MM:SS from one hour on."""
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
