"""BudgetKeeper: keeps a time-budget run on its plan and re-plans when the measured speed drifts.

Before each training batch it sets ``trainer.pct_train`` from a ``schedules.ProgressMap``. After each
epoch it measures the speed against the plan's prediction: the median of measured / predicted seconds
over the latest epochs that cover ``WINDOW_SHARE`` of the budget, at most ``WINDOW_MAX_S`` (at least
the last epoch). It scales the prediction of the remaining epochs by that ratio and, when
the result misses the deadline by more than ``TOLERANCE`` of the budget and by more than the noise of the
measurement (``SIGNIFICANCE`` standard errors of the ratio), picks the largest number of epochs that
still ends by the deadline (at least one more epoch: a run always finishes its schedule). So the noise
of many short epochs and a one-off stall are not taken for a slower machine, while a lasting change is
followed within a few epochs. A new number of epochs replaces the map at that epoch boundary, so the
LR / momentum curve goes on from where it is, compressed or stretched, never restarted. The map is the
callback's checkpoint state: a resumed run keeps the plan and its curve (and does not re-plan: the
budget was the first command's).
"""
from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Callable

from ..atomic import atomic_write_json
from ..config import RunConfig
from ..events import Replanned
from .callback import Callback
from .planner import Plan, StepsView, fit_epochs, fmt_epochs, last_fraction, run_costs, whole
from .schedules import ProgressMap, fine_tune_boundary

TOLERANCE = 0.02          # a plan within this share of the budget of the time left is kept (noise)
RATIO_RANGE = (0.25, 4.0)  # measured / predicted speed ratio is clipped to this
WINDOW_SHARE = 0.05        # the speed is measured over the recent epochs that cover this share of the budget,
WINDOW_MAX_S = 20.0        # at most this many seconds
NOISE_EPOCHS = 10          # the epoch-to-epoch variation is measured over this many epochs ...
PRIOR_CV = 0.05            # ... and assumed to be this until five epochs are measured
SIGNIFICANCE = 3.0         # a re-plan needs a difference of this many standard errors


class BudgetKeeper(Callback):
    order = -20  # before the ParamScheduler reads pct_train

    def __init__(self, cfg: RunConfig, epochs: int, plan: Plan | None = None, deadline: float | None = None,
                 plan_path: str | Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.cfg, self.plan, self.deadline = cfg, plan, deadline
        self.plan_path = Path(plan_path) if plan_path else None
        ft = fine_tune_boundary(cfg)  # the frozen epochs keep their share of the curve
        self.map = ProgressMap.fine_tune(float(epochs), *ft) if ft else ProgressMap(float(epochs))
        self.replans: list[dict] = []
        self.clock = clock
        self._marks: list[tuple[int, float, float]] = []  # (epochs done, time, checkpoint seconds so far)
        self._ratios: list[tuple[float, float]] = []      # (seconds measured, seconds predicted) per epoch
        self._full_loader = None   # the training loader while the last, partial epoch runs on a view
        self._full_n = 0

    def before_fit(self, trainer) -> None:
        trainer.n_epochs = whole(self.map.epochs)
        self._marks, self._ratios, self._t_fit = [], [], self.clock()

    def before_epoch(self, trainer) -> None:
        self._restore(trainer)
        frac = last_fraction(self.map.epochs)
        if trainer.epoch == whole(self.map.epochs) - 1 and frac < 0.999:  # a partial last epoch
            self._full_loader, self._full_n = trainer.train_loader, len(trainer.train_loader)
            trainer.train_loader = StepsView(trainer.train_loader, max(1, round(frac * self._full_n)))

    def _restore(self, trainer) -> None:
        if self._full_loader is not None:
            trainer.train_loader, self._full_loader, self._full_n = self._full_loader, None, 0

    def after_train(self, trainer) -> None:
        self._restore(trainer)

    def after_fit(self, trainer) -> None:
        self._restore(trainer)

    def before_batch(self, trainer) -> None:
        if trainer.training:
            n = self._full_n or trainer.n_iter
            trainer.pct_train = self.map.pct(trainer.epoch + trainer.iter / max(1, n))

    def predicted(self, epochs: float, first: int, last: int | None = None, saves: bool = True) -> float:
        """Predicted seconds of epochs first..last-1 in a run of ``epochs`` epochs (with or without
        their checkpoint writes)."""
        return sum(run_costs(self.cfg, self.plan.measured, epochs, saves)[first:last])

    def after_epoch(self, trainer) -> None:
        done = int(trainer.epoch) + 1
        now = self.clock()
        saved = float(getattr(trainer, "checkpoint_seconds", 0.0))
        if not self._marks:
            self._marks.append((done - 1, self._t_fit, 0.0))
        self._marks.append((done, now, saved))
        if self.deadline is None or self.plan is None or done >= whole(self.map.epochs) or trainer.stop_reason:
            return
        (d_a, t_a, s_a), (d_b, t_b, s_b) = self._marks[-2], self._marks[-1]
        # the speed of training + validation: checkpoint writes (the pacer's, not every epoch) aside
        pred = self.predicted(self.map.epochs, d_a, d_b, saves=False)
        if d_b <= d_a or pred <= 0:
            return
        spent = t_b - t_a - (s_b - s_a)
        self._ratios.append((spent, pred))
        ratio, error = self.speed_ratio()
        ratio = min(max(ratio, RATIO_RANGE[0]), RATIO_RANGE[1])
        m = self.plan.measured
        this_save = (self.predicted(self.map.epochs, done - 1, done)
                     - self.predicted(self.map.epochs, done - 1, done, saves=False))  # still to come
        available = self.deadline - now - this_save - self.plan.end_s
        current = ratio * self.predicted(self.map.epochs, done)
        # kept when within the tolerance, or when the difference could be the noise of the measurement
        if abs(current - available) <= max(TOLERANCE * max(1.0, self.plan.budget_s),
                                           SIGNIFICANCE * error * current):
            return
        lo = max(done, int(self.map.frozen)) + 1  # a fine-tune keeps its frozen epochs
        new = fit_epochs(self.cfg, m, available, first=done, ratio=ratio, lo=lo, shorten_last=True)
        if abs(new - self.map.epochs) < 1e-6:
            return
        old = self.map.epochs
        self.map = self.map.replan(done, new)
        trainer.n_epochs = whole(new)
        rec = {"after_epoch": done, "epochs": new, "was": old, "speed_ratio": round(ratio, 3),
               "seconds_left": round(available, 1)}
        self.replans.append(rec)
        trainer.sink(Replanned(epochs=whole(new), after_epoch=done))
        trainer.log(f"time budget: measured speed {1 / ratio:.2f}x the plan, re-planned to {fmt_epochs(new)} "
                    f"(was {old:g}); the schedule continues from {self.map.p0:.0%}")
        if self.plan_path is not None:
            self.plan.replans = list(self.replans)  # "epochs" stays the plan made before the start
            atomic_write_json(self.plan_path, self.plan.to_dict())

    def speed_ratio(self) -> tuple[float, float]:
        """Measured / predicted seconds of the latest epochs that together cover ``WINDOW_SHARE`` of the
        budget, at most ``WINDOW_MAX_S`` (at least the last epoch): the median of their ratios, so a
        one-off stall is ignored and a lasting change of speed takes over once it fills half the
        window. Also its standard error, from the spread of the last ``NOISE_EPOCHS`` epochs (median
        absolute deviation, so a change of speed is not taken for noise), ``PRIOR_CV`` until five are
        measured."""
        window, covered = [], 0.0
        for spent, pred in reversed(self._ratios):
            if window and covered >= min(WINDOW_SHARE * self.plan.budget_s, WINDOW_MAX_S):
                break
            window.append(spent / pred)
            covered += spent
        recent = [spent / pred for spent, pred in self._ratios[-NOISE_EPOCHS:]]
        mid = statistics.median(recent)
        if len(recent) >= 5 and mid > 0:
            cv = 1.4826 * statistics.median(abs(r - mid) for r in recent) / mid
        else:
            cv = PRIOR_CV
        return statistics.median(window), 1.25 * cv / math.sqrt(len(window))

    def state_dict(self) -> dict:
        return {"map": self.map.to_dict(), "replans": [dict(r) for r in self.replans]}

    def load_state_dict(self, state: dict) -> None:
        if state.get("map"):
            self.map = ProgressMap.from_dict(state["map"])
        self.replans = [dict(r) for r in state.get("replans", [])]
