"""Learning-rate and momentum schedules as pure functions of the run progress, plus ParamScheduler.

``pct`` is the progress through the whole fit in [0, 1] (batches done / total batches).
- one_cycle: cosine warm-up from lr/div to lr over pct_start, then cosine down to lr/final_div;
  momentum moms[0] -> moms[1] -> moms[2] (inverse to the rate), as in fastai.
- cosine: cosine from lr to lr/final_div over the run.
- sgdr: cosine warm restarts; cycles of sgdr_cycle_len epochs, each sgdr_cycle_mult times longer;
  every cycle restarts at lr and anneals to lr/final_div.
- flat_cos: lr for pct_start of the run, then cosine to lr/final_div.
- constant: lr.
Schedules other than one_cycle hold momentum at moms[0].

With ``train.fine_tune`` (fastai's ``fine_tune``) and 0 < tricks.freeze_epochs < epochs the run has two
phases, each with its own schedule: the frozen epochs a one-cycle at lr with pct_start 0.99, the
unfrozen ones the configured schedule at lr / 2 (:func:`phase_at`).
``ProgressMap`` maps the position in the run (fractional epochs) to ``pct``. A time-budget run that
re-plans its number of epochs replaces the map at an epoch boundary: the new map starts at the
current ``pct`` and reaches 1 at the new end, so the remaining part of the curve is compressed or
stretched and never restarted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..config import RunConfig, TrainConfig
from .callback import Callback
from .optim import set_momentum

SCHEDULES = ("one_cycle", "cosine", "sgdr", "flat_cos", "constant")


def _cos(start: float, end: float, f: float) -> float:
    """Cosine interpolation from start (f=0) to end (f=1)."""
    f = min(max(f, 0.0), 1.0)
    return end + (start - end) * (1 + math.cos(math.pi * f)) / 2


def sgdr_position(tc: TrainConfig, pct: float) -> tuple[int, float]:
    """(cycle index, fraction through that cycle) at ``pct`` of a run of tc.epochs epochs."""
    e = min(max(pct, 0.0), 1.0) * tc.epochs
    start, length, k = 0.0, float(tc.sgdr_cycle_len), 0
    while e >= start + length and start + length < tc.epochs:
        start += length
        length *= tc.sgdr_cycle_mult
        k += 1
    return k, (e - start) / length


def lr_at(tc: TrainConfig, pct: float) -> float:
    """Learning rate at progress ``pct`` for the schedule named in ``tc.schedule``."""
    lr, low = tc.lr, tc.lr / tc.final_div
    s = tc.schedule
    if s == "one_cycle":
        if tc.pct_start > 0 and pct < tc.pct_start:
            return _cos(lr / tc.div, lr, pct / tc.pct_start)
        return _cos(lr, low, (pct - tc.pct_start) / max(1e-12, 1 - tc.pct_start))
    if s == "cosine":
        return _cos(lr, low, pct)
    if s == "sgdr":
        return _cos(lr, low, sgdr_position(tc, pct)[1])
    if s == "flat_cos":
        if pct < tc.pct_start:
            return lr
        return _cos(lr, low, (pct - tc.pct_start) / max(1e-12, 1 - tc.pct_start))
    if s == "constant":
        return lr
    raise ValueError(f"unknown schedule '{s}': use one of {', '.join(SCHEDULES)}")


def mom_at(tc: TrainConfig, pct: float) -> float:
    """Momentum (beta1) at progress ``pct``."""
    m0, m1, m2 = tc.moms
    if tc.schedule != "one_cycle":
        return float(m0)
    if tc.pct_start > 0 and pct < tc.pct_start:
        return _cos(m0, m1, pct / tc.pct_start)
    return _cos(m1, m2, (pct - tc.pct_start) / max(1e-12, 1 - tc.pct_start))


def phase_at(cfg: RunConfig, pct: float) -> tuple[TrainConfig, float]:
    """(schedule settings, progress within the phase) at run progress ``pct``; see the module doc."""
    tc, ft = cfg.train, fine_tune_boundary(cfg)
    if ft is None:
        return tc, pct
    k, b = ft
    if pct < b:
        return replace(tc, schedule="one_cycle", pct_start=0.99, epochs=k), pct / b
    return replace(tc, lr=tc.lr / 2, epochs=tc.epochs - k), (pct - b) / (1 - b)


def lr_mom_at(cfg: RunConfig, pct: float) -> tuple[float, float]:
    tc, p = phase_at(cfg, pct)
    return lr_at(tc, p), mom_at(tc, p)


def planned_curve(cfg: RunConfig, steps_per_epoch: int, epochs: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lrs, moms) for every batch of the whole run, as the ParamScheduler will set them; ``epochs``:
    the run length a time-budget plan chose (fractional when the last epoch is partial)."""
    both = np.array([lr_mom_at(cfg, p) for p in planned_pcts(cfg, steps_per_epoch, epochs)]).reshape(-1, 2)
    return both[:, 0], both[:, 1]


def preview_curve(cfg: RunConfig, steps_per_epoch: int, epochs: float | None = None,
                  points: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x in epochs, lrs, moms) of the schedule drawn densely over the whole run (at least ``points``
    points and one per batch), so a run of few steps still shows the peak lr its schedule climbs to;
    the positions map as in ``planned_pcts`` (a time plan's ``epochs``, a fine-tune's frozen share)."""
    length = float(epochs) if epochs is not None else float(cfg.train.epochs)
    x = np.linspace(0.0, length, max(int(points), round(length * steps_per_epoch)) + 1)
    if epochs is None:
        pcts = x / max(length, 1e-9)
    else:
        ft = fine_tune_boundary(cfg)
        m = ProgressMap.fine_tune(epochs, *ft) if ft else ProgressMap(float(epochs))
        pcts = np.array([m.pct(float(v)) for v in x])
    both = np.array([lr_mom_at(cfg, min(float(p), 1.0)) for p in pcts]).reshape(-1, 2)
    return x, both[:, 0], both[:, 1]


@dataclass(frozen=True)
class ProgressMap:
    """pct = p0 + (1 - p0) * (x - x0) / (epochs - x0) for x fractional epochs done (clipped to [0, 1]).
    The default map (x0 = p0 = 0) is the plain x / epochs. A fine-tune run (``fine_tune``) also has a
    fixed first segment: its ``frozen`` epochs map to [0, ``boundary``] (the pct where ``phase_at``
    switches to the unfrozen schedule), so re-planning only ever compresses or stretches the
    unfrozen part and the schedule switches phase exactly when the body is unfrozen."""
    epochs: float        # the run's end; a fraction: the last epoch trains part of its batches
    x0: float = 0.0
    p0: float = 0.0
    frozen: float = 0.0
    boundary: float = 0.0

    @classmethod
    def fine_tune(cls, epochs: float, frozen: int, boundary: float) -> "ProgressMap":
        return cls(float(epochs), float(frozen), float(boundary), float(frozen), float(boundary))

    def pct(self, x: float) -> float:
        if self.frozen > 0 and x < self.frozen:
            return max(0.0, self.boundary * x / self.frozen)
        span = self.epochs - self.x0
        if span <= 0:
            return 1.0
        return min(1.0, max(0.0, self.p0 + (1.0 - self.p0) * (x - self.x0) / span))

    def replan(self, x: float, epochs: int) -> "ProgressMap":
        """The map for a run that now ends after ``epochs`` epochs, continuous at position ``x``
        (before the end of a frozen segment: the segment stays, the rest is rescaled)."""
        if epochs <= max(x, self.frozen):
            raise ValueError(f"a run re-planned at epoch {max(x, self.frozen):g} must end after it, not at {epochs}")
        if self.frozen > 0 and x < self.frozen:
            return replace(self, epochs=float(epochs))
        return ProgressMap(float(epochs), float(x), self.pct(x))

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "x0": self.x0, "p0": self.p0, "frozen": self.frozen,
                "boundary": self.boundary}

    @classmethod
    def from_dict(cls, d: dict) -> "ProgressMap":
        return cls(float(d["epochs"]), float(d.get("x0", 0.0)), float(d.get("p0", 0.0)),
                   float(d.get("frozen", 0.0)), float(d.get("boundary", 0.0)))


def fine_tune_boundary(cfg: RunConfig) -> tuple[int, float] | None:
    """(frozen epochs, pct where the unfrozen phase starts) of a fine-tune run, else None."""
    tc, k = cfg.train, cfg.tricks.freeze_epochs
    if not tc.fine_tune or not 0 < k < tc.epochs:
        return None
    return k, k / tc.epochs


def planned_pcts(cfg: RunConfig, steps_per_epoch: int, epochs: float | None = None) -> np.ndarray:
    """pct of every batch of a run of ``epochs`` (fractional: a time-budget plan; default
    train.epochs) as the budget keeper maps them (a fine-tune's frozen epochs keep their share)."""
    if epochs is None:
        total = max(1, cfg.train.epochs * steps_per_epoch)
        return np.arange(total) / total
    ft = fine_tune_boundary(cfg)
    m = ProgressMap.fine_tune(epochs, *ft) if ft else ProgressMap(float(epochs))
    x = np.arange(max(1, round(epochs * steps_per_epoch))) / steps_per_epoch
    return np.array([m.pct(float(v)) for v in x])


def set_group_lrs(trainer, lr: float) -> None:
    """Set every param group's lr to ``lr`` times its multiplier (``trainer.lr_mults``: one entry per
    layer group, read through the group's "layer_group"; or one entry per param group). Groups without
    a multiplier get ``lr``. Used by the training schedule and the LR finder alike."""
    mults = list(getattr(trainer, "lr_mults", None) or [])
    by_layer = len(mults) == len(getattr(trainer, "layer_groups", None) or [])
    for i, g in enumerate(trainer.opt.param_groups):
        k = g.get("layer_group", i) if by_layer else i
        g["lr"] = lr * (mults[k] if 0 <= k < len(mults) else 1.0)


class ParamScheduler(Callback):
    """Sets lr and momentum of every param group before each training batch.

    group lr = lr_at(pct) * trainer.lr_scale * trainer.lr_mults[group["layer_group"]].
    ``trainer.lr_mults`` has one entry per layer group; a list with one entry per param group is
    accepted too (then indexed by param group).
    """
    order = -10

    def before_batch(self, trainer) -> None:
        if not trainer.training:
            return
        lr, mom = lr_mom_at(trainer.cfg, trainer.pct_train)
        lr *= getattr(trainer, "lr_scale", 1.0)
        set_group_lrs(trainer, lr)
        for g in trainer.opt.param_groups:
            set_momentum(g, mom)
        trainer.sched_lr, trainer.sched_mom = lr, mom
