"""BudgetKeeper: keeps a time-budget run on its plan and re-plans when the measured speed drifts.

The budget is working time: the keeper's clock (``now``) stops while the run is paused (the trainer's
``before_pause`` / ``after_pause`` hooks; a checkpoint written at the pause still counts, as a write),
and a resumed run continues with the budget its checkpoint had left (``used_s`` in its state), so
neither a pause nor the time between a stop and a resume is spent, and nothing moves while paused.

It places the schedule (``trainer.set_progress``: ``pct_train`` before each training batch) on a
``schedules.ProgressMap``, and lends the loop a ``StepsView`` of the training loader for an epoch whose
length can change (a loader lent in ``before_epoch``, put back in ``after_train``). It measures
the speed against the plan's prediction at every epoch end and, inside an epoch, every
``CHECK_MIN_S`` seconds of training or ``CHECK_SHARE`` of the budget, whichever is longer (so a plan of
one to three epochs stretches or shrinks like a long one): the median of measured / predicted seconds
over the latest measured spans that cover ``WINDOW_SHARE`` of the budget, at most ``WINDOW_MAX_S`` (at
least the last span). It scales the prediction of the rest of the run by that ratio and, when the
result misses the deadline by more than ``TOLERANCE`` of the budget and by more than the noise of the
measurement (``SIGNIFICANCE`` standard errors of the ratio), picks the longest run that still ends by
the deadline (at least to the end of the current epoch, or part of it when even that does not fit: a
run always finishes its schedule). So the noise of many short spans and a one-off stall are not taken
for a slower machine, while a lasting change is followed within a few spans. A new length replaces the
map at the current position, so the LR / momentum curve goes on from where it is, compressed or
stretched, never restarted; the epoch under way is cut or extended (it runs on a ``StepsView``). The
map is the callback's checkpoint state, with the budget used so far.

It also records the trained speed of each phase (a fine-tune's frozen epochs apart) beside the probe's
prediction in ``plan.json`` (``trained``).
"""
from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Callable

from ..runtime.atomic import atomic_write_json
from ..config import RunConfig
from ..runtime.events import Replanned
from .callback import Callback
from .planner import (WARMUP_STEPS, Plan, StepsView, cost_from, fit_epochs, fmt_epochs, frozen_epochs,
                      last_fraction, run_costs, span_seconds, train_seconds, whole)
from .schedules import ProgressMap, fine_tune_boundary

TOLERANCE = 0.02          # a plan within this share of the budget of the time left is kept (noise)
RATIO_RANGE = (0.25, 4.0)  # measured / predicted speed ratio is clipped to this
WINDOW_SHARE = 0.05        # the speed is measured over the recent spans that cover this share of the budget,
WINDOW_MAX_S = 20.0        # at most this many seconds
NOISE_EPOCHS = 10          # the span-to-span variation is measured over this many spans ...
PRIOR_CV = 0.05            # ... and assumed to be this until five spans are measured,
EARLY_CV = 0.15            # this for the first two (a fit's first steps and validation run slower)
SIGNIFICANCE = 3.0         # a re-plan needs a difference of this many standard errors
CHECK_MIN_S = 5.0          # inside an epoch: a measurement every this many seconds of training ...
CHECK_SHARE = 0.05         # ... or this share of the budget, whichever is longer


class BudgetKeeper(Callback):
    order = -20  # its epoch's loader view is in place before the other callbacks' before_epoch

    def __init__(self, cfg: RunConfig, epochs: float, plan: Plan | None = None, deadline: float | None = None,
                 plan_path: str | Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.cfg, self.plan, self.deadline = cfg, plan, deadline
        self.plan_path = Path(plan_path) if plan_path else None
        ft = fine_tune_boundary(cfg)  # the frozen epochs keep their share of the curve
        self.map = ProgressMap.fine_tune(float(epochs), *ft) if ft else ProgressMap(float(epochs))
        self.replans: list[dict] = []
        self.clock = clock
        self.paused_s = 0.0                                  # seconds paused, not spent of the budget
        self._paused_at: tuple[float, float] | None = None   # (clock, checkpoint seconds) at the pause
        self._marks: list[tuple[float, float, float]] = []   # (position, time, checkpoint seconds so far)
        self._ratios: list[tuple[float, float]] = []         # (seconds measured, seconds predicted) per span
        self._full_loader = None   # the training loader while an epoch runs on a view
        self._full_n = 0
        self._view: StepsView | None = None
        self._fit_batches = 0
        self._epoch_t: tuple[float, float, int] | None = None  # (time, checkpoint s, batch) the epoch's timing starts
        self._batches = 0
        self.trained: dict[str, list[float]] = {}            # phase: [images, seconds, predicted seconds, epochs]

    # ------------------------------------------------------------------ the training clock
    @property
    def active(self) -> bool:
        return self.deadline is not None and self.plan is not None

    def now(self) -> float:
        """The keeper's clock: the wall clock less the time paused."""
        return self.clock() - self.paused_s

    def used_s(self) -> float:
        """Seconds of the budget spent so far (from the command's start, pauses aside)."""
        if not self.active:
            return 0.0
        return self.now() - (self.deadline - self.plan.budget_s)

    def before_pause(self, trainer) -> None:
        self._paused_at = (self.clock(), float(getattr(trainer, "checkpoint_seconds", 0.0)))

    def after_pause(self, trainer) -> None:
        if self._paused_at is not None:
            t, saved = self._paused_at
            wrote = float(getattr(trainer, "checkpoint_seconds", 0.0)) - saved   # counts as a write
            gap = max(0.0, self.clock() - t - wrote)
            self.paused_s += gap
            self._paused_at = None
            if self.active and gap >= 0.5:
                end = time.strftime("%H:%M:%S", time.localtime(self.deadline + self.paused_s))
                trainer.log(f"time budget: paused {gap:.0f} s, not counted as training: the budget's end moves "
                            f"to {end}, the plan stays {fmt_epochs(self.map.epochs)}")

    # ------------------------------------------------------------------ the loop
    def before_fit(self, trainer) -> None:
        trainer.n_epochs = whole(self.map.epochs)
        trainer.set_progress(self.position)
        self._marks, self._ratios, self._fit_batches = [], [], 0

    def before_epoch(self, trainer) -> None:
        self._restore(trainer)
        frac = last_fraction(self.map.epochs)
        last = trainer.epoch == whole(self.map.epochs) - 1
        if self.active or (last and frac < 0.999):  # the epoch's length can change while it runs
            self._full_loader, self._full_n = trainer.train_loader, len(trainer.train_loader)
            n = max(1, round(frac * self._full_n)) if last and frac < 0.999 else self._full_n
            trainer.train_loader = self._view = StepsView(trainer.train_loader, n)
        if self.active and not self._marks:
            self._marks.append((float(trainer.epoch), self.now(), self._saved(trainer)))

    def before_train(self, trainer) -> None:
        self._batches = 0
        first_of_phase = trainer.epoch == frozen_epochs(self.cfg) or not self.trained.get(self._phase(trainer))
        self._epoch_t = None if first_of_phase and trainer.n_iter > WARMUP_STEPS else \
            (self.now(), self._saved(trainer), 0)

    def _restore(self, trainer) -> None:
        if self._full_loader is not None:
            trainer.train_loader, self._full_loader, self._full_n, self._view = self._full_loader, None, 0, None

    def position(self, trainer) -> float:
        """The schedule's position at the training batch under way, on the (re-planned) map."""
        n = self._full_n or trainer.n_iter
        return self.map.pct(trainer.epoch + trainer.iter / max(1, n))

    def after_batch(self, trainer) -> None:
        if not trainer.training:
            return
        self._batches += 1
        self._fit_batches += 1
        if self._epoch_t is None and self._batches == WARMUP_STEPS:   # the trained speed after the warm-up
            self._epoch_t = (self.now(), self._saved(trainer), self._batches)
        if not self.active or trainer.stop_reason:
            return
        n = self._full_n or trainer.n_iter
        if trainer.iter + 1 >= trainer.n_iter:
            return  # the epoch's end is measured after its validation
        x, now = trainer.epoch + (trainer.iter + 1) / max(1, n), self.now()
        if len(self._marks) == 1 and trainer.n_iter > WARMUP_STEPS and self._fit_batches <= WARMUP_STEPS:
            if self._fit_batches == WARMUP_STEPS:
                self._marks[0] = (x, now, self._saved(trainer))   # the first steps of a fit are slower
            return
        if now - self._marks[-1][1] < max(CHECK_MIN_S, CHECK_SHARE * self.plan.budget_s):
            return
        self._marks.append((x, now, self._saved(trainer)))
        self._check(trainer, x, now)

    def after_train(self, trainer) -> None:
        if self._epoch_t is not None and self.plan is not None:
            t0, s0, b0 = self._epoch_t
            steps = self._batches - b0
            spent = self.now() - t0 - (self._saved(trainer) - s0)
            n = self._full_n or trainer.n_iter
            pred = steps / max(1, n) * train_seconds(self.cfg, self.plan.measured, self.map.epochs, trainer.epoch)
            if steps > 0 and spent > 0:
                row = self.trained.setdefault(self._phase(trainer), [0.0, 0.0, 0.0, 0.0])
                row[0] += steps * int(trainer.train_loader.batch_size)
                row[1] += spent
                row[2] += pred
                row[3] += steps / max(1, n)
        self._restore(trainer)

    def after_fit(self, trainer) -> None:
        self._restore(trainer)
        trainer.set_progress(None)
        self._write_plan()

    def after_epoch(self, trainer) -> None:
        done = int(trainer.epoch) + 1
        if done <= 2 or done == frozen_epochs(self.cfg) + 1:
            self._write_plan()   # the trained speed beside the prediction, early
        if not self.active or done >= whole(self.map.epochs) or trainer.stop_reason:
            return
        now = self.now()
        self._marks.append((float(done), now, self._saved(trainer)))
        self._check(trainer, float(done), now)

    # ------------------------------------------------------------------ re-planning
    @staticmethod
    def _saved(trainer) -> float:
        return float(getattr(trainer, "checkpoint_seconds", 0.0))

    def _phase(self, trainer) -> str:
        if frozen_epochs(self.cfg) <= 0:
            return "training"
        return "frozen" if trainer.epoch < frozen_epochs(self.cfg) else "unfrozen"

    def predicted(self, epochs: float, first: int, last: int | None = None, saves: bool = True) -> float:
        """Predicted seconds of epochs first..last-1 in a run of ``epochs`` epochs (with or without
        their checkpoint writes)."""
        return sum(run_costs(self.cfg, self.plan.measured, epochs, saves)[first:last])

    def _check(self, trainer, x: float, now: float) -> None:
        """Measure the span since the previous mark and re-plan from position ``x`` when needed."""
        (x_a, t_a, s_a), (x_b, t_b, s_b) = self._marks[-2], self._marks[-1]
        m = self.plan.measured
        # the speed of training + validation: checkpoint writes (the pacer's, not every epoch) aside
        pred = span_seconds(self.cfg, m, self.map.epochs, x_a, x_b)
        if x_b <= x_a or pred <= 0:
            return
        self._ratios.append((t_b - t_a - (s_b - s_a), pred))
        ratio, error = self.speed_ratio()
        ratio = min(max(ratio, RATIO_RANGE[0]), RATIO_RANGE[1])
        at_end = abs(x - round(x)) < 1e-9            # after an epoch's validation, before its write
        e = int(math.floor(x + 1e-9))
        pending = (self.predicted(self.map.epochs, e - 1, e) - self.predicted(self.map.epochs, e - 1, e, saves=False)
                   if at_end else 0.0)
        available = self.deadline - now - pending - self.plan.end_s
        current = cost_from(self.cfg, m, self.map.epochs, x, ratio)
        # kept when within the tolerance, or when the difference could be the noise of the measurement
        if abs(current - available) <= max(TOLERANCE * max(1.0, self.plan.budget_s),
                                           SIGNIFICANCE * error * current):
            return
        lo = max(e, int(self.map.frozen)) + 1  # a fine-tune keeps its frozen epochs
        new = fit_epochs(self.cfg, m, available, first=x, ratio=ratio, lo=lo, shorten_last=True)
        if abs(new - self.map.epochs) < 1e-6:
            return
        old = self.map.epochs
        self.map = self.map.replan(x, new)
        trainer.n_epochs = whole(new)
        if not at_end and self._view is not None:   # the epoch under way ends where the new plan says
            last = whole(new) - 1 == trainer.epoch and last_fraction(new) < 0.999
            self._view.n = max(trainer.iter + 1, round(last_fraction(new) * self._full_n)) if last else self._full_n
            trainer.n_iter = self._view.n
        rec = {"after_epoch": round(x, 3), "epochs": new, "was": old, "speed_ratio": round(ratio, 3),
               "seconds_left": round(available, 1)}
        self.replans.append(rec)
        trainer.sink(Replanned(epochs=whole(new), after_epoch=e))
        where = f"after {e} epochs" if at_end else f"during epoch {e + 1}"
        trainer.log(f"time budget: measured speed {1 / ratio:.2f}x the plan, re-planned to {fmt_epochs(new)} "
                    f"(was {fmt_epochs(old, share=False)}) {where}; the schedule continues from "
                    f"{self.map.p0:.0%}")
        self._write_plan()

    def speed_ratio(self) -> tuple[float, float]:
        """Measured / predicted seconds of the latest spans that together cover ``WINDOW_SHARE`` of the
        budget, at most ``WINDOW_MAX_S`` (at least the last span): the median of their ratios, so a
        one-off stall is ignored and a lasting change of speed takes over once it fills half the
        window. Also its standard error, from the spread of the last ``NOISE_EPOCHS`` spans (median
        absolute deviation, so a change of speed is not taken for noise), ``PRIOR_CV`` until five are
        measured (``EARLY_CV`` for the first two)."""
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
            cv = EARLY_CV if len(self._ratios) <= 2 else PRIOR_CV
        return statistics.median(window), 1.25 * cv / math.sqrt(len(window))

    def seconds_left(self, trainer) -> float | None:
        """The run's ETA as this keeper sees it (the Recorder sends it with each BatchEnd): the rest of
        the planned run at the measured speed, and never past the deadline, which the next measurement
        re-plans to (a count of batches left at the average speed so far took the first, slower steps
        and the plan from before a re-plan for the speed of the rest). None without a budget."""
        if not self.active:
            return None
        n = self._full_n or trainer.n_iter
        x = trainer.epoch + ((trainer.iter + 1) / max(1, n) if trainer.training else 1.0)
        ratio = min(max(self.speed_ratio()[0], RATIO_RANGE[0]), RATIO_RANGE[1]) if self._ratios else 1.0
        rest = cost_from(self.cfg, self.plan.measured, self.map.epochs, min(x, self.map.epochs), ratio)
        left = self.deadline - self.now() - self.plan.end_s
        return min(rest, left) if left > 0 else rest

    def trained_speeds(self) -> dict:
        """Per phase: the images/s the probe predicted and the images/s trained (warm-up steps aside)."""
        out = {}
        for phase, (images, spent, pred, epochs) in self.trained.items():
            if spent > 0 and pred > 0:
                out[phase] = {"predicted_img_s": round(images / pred, 2), "trained_img_s": round(images / spent, 2),
                              "trained_vs_predicted": round(pred / spent, 3), "epochs": round(epochs, 3)}
        return out

    def _write_plan(self) -> None:
        if self.plan_path is None or self.plan is None:
            return
        self.plan.replans = list(self.replans)  # "epochs" stays the plan made before the start
        self.plan.trained = self.trained_speeds()
        atomic_write_json(self.plan_path, self.plan.to_dict())

    def state_dict(self) -> dict:
        return {"map": self.map.to_dict(), "replans": [dict(r) for r in self.replans],
                "used_s": round(self.used_s(), 3), "paused_s": round(self.paused_s, 3)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("map"):
            self.map = ProgressMap.from_dict(state["map"])
        self.replans = [dict(r) for r in state.get("replans", [])]


def resumed_keeper(cfg: RunConfig, state: dict, plan: Plan | None, started: float,
                   plan_path: str | Path | None = None, clock: Callable[[], float] = time.time) -> BudgetKeeper:
    """The keeper of a resumed run: its plan (``plan.json``) and map go on, with the budget its
    checkpoint ``state`` had left, counted from this command's start ``started`` (the time between
    the stop and the resume is not spent). Without a plan it keeps the checkpoint's epochs."""
    epochs = int(state.get("n_epochs", cfg.train.epochs))
    used = float(state.get("callbacks", {}).get("BudgetKeeper", {}).get("used_s", 0.0) or 0.0)
    if plan is None or plan.budget_s <= 0:
        return BudgetKeeper(cfg, epochs, clock=clock)
    left = max(0.0, plan.budget_s - used)
    return BudgetKeeper(cfg, epochs, plan, deadline=started + left, plan_path=plan_path, clock=clock)
