"""LR range test: train with an exponentially growing learning rate, record the loss, suggest a rate.

The model weights and the optimizer state are restored exactly afterwards, also when the test is
stopped by the user or fails. Suggestions are pure functions of (lrs, smoothed losses).

Smoothing is measured in decades of lr, not in steps: with the default 100 steps over 8 decades
(~12 steps a decade) fastai's running average (beta 0.98, a time constant of ~50 steps = 4 decades)
trails the raw loss by 1-2 decades where it falls fastest, and every suggestion taken from it lands
~10x too high. The live curve (and the divergence stop) is a running average whose time constant is
``LIVE_DECADES`` of lr; the finished curve, the one the suggestions, the plot and lr_find.csv use, is
``smooth_curve``: a centred fit that does not lag at all.
"""
from __future__ import annotations

import bisect
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import ConfigError, LRFindConfig, RunConfig
from ..runtime.control import Cancelled, RunControl
from ..data import open_dataset
from ..data.pipeline import build_loaders
from ..data.report import require_trainable
from ..runtime.device import pick_device, set_threads
from ..runtime.atomic import atomic_write_json
from ..runtime.events import LogMessage, LRFindStep, Paused, Resumed, null_sink
from ..runtime.paths import project_dir
from .callback import CancelEpoch, CancelFit, Callback
from .run import adaptive_threads, build_trainer
from .schedules import ParamScheduler, set_group_lrs
from .tricks import EarlyStopping, WeightAverage
from .tricks.freeze import FreezeUnfreeze, unfreeze

SUGGESTIONS = ("valley", "steep", "minimum", "slide")
SMOOTH_DECADES = 0.15   # width (Gaussian sigma, decades of lr) of the centred smoothing of the result
LIVE_DECADES = 0.2      # time constant (decades of lr) of the running average of the live curve


@dataclass
class LRFindResult:
    lrs: np.ndarray
    losses: np.ndarray
    smooth_losses: np.ndarray
    suggestions: dict = field(default_factory=dict)   # name -> lr (valley, steep, minimum, slide)
    best: str = "valley"                              # the suggestion the recipe takes
    stopped_early: bool = False                       # diverged (or stopped) before num_it steps


# --------------------------------------------------------------------------- kept per dataset
KEPT_FILE = "lr-find.json"      # in the dataset's per-user project folder (never the dataset folder)
# the recipe keys a range test depends on: another value of one of them makes a kept test stale
TEST_KEYS = ("model.arch", "model.pretrained", "model.weights", "data.image_size", "data.batch_size",
             "train.optimizer", "train.weight_decay", "tricks.freeze_epochs")


def recipe_facts(cfg: RunConfig) -> dict:
    """{key: value} of the recipe keys a range test depends on (``TEST_KEYS``)."""
    return {key: cfg.get(key) for key in TEST_KEYS}


def changed_since(kept: dict, cfg: RunConfig) -> list[str]:
    """The keys of ``TEST_KEYS`` whose value in ``cfg`` differs from ``kept`` (a kept test's ``recipe``;
    the kept value read as the option's type, so 224 and 224.0 are one value)."""
    out = []
    for key in TEST_KEYS:
        if key not in kept:
            continue
        try:
            same = cfg.set(key, kept[key]).get(key) == cfg.get(key)
        except (ConfigError, ValueError, TypeError):
            same = False
        if not same:
            out.append(key)
    return out


def keep_result(result: "LRFindResult", cfg: RunConfig) -> Path | None:
    """Keep the range test of ``cfg``'s dataset (atomically) so it comes back after a restart or another
    dataset; None for a recipe without a dataset. OSError when it cannot be written."""
    if not cfg.data.path:
        return None
    def floats(a) -> list:
        return [float(v) if math.isfinite(float(v)) else None for v in np.asarray(a, dtype=float)]
    path = project_dir(cfg.data.path) / KEPT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"data_path": str(cfg.data.path), "saved_at": time.time(), "recipe": recipe_facts(cfg),
                             "lrs": floats(result.lrs), "losses": floats(result.losses),
                             "smooth_losses": floats(result.smooth_losses),
                             "suggestions": {k: (float(v) if v is not None and math.isfinite(v) else None)
                                             for k, v in result.suggestions.items()},
                             "best": result.best, "stopped_early": bool(result.stopped_early)})
    return path


def kept_result(dataset_root: str | os.PathLike) -> tuple["LRFindResult", dict] | None:
    """The range test kept for a dataset and its facts ({"saved_at": seconds since the epoch, "recipe":
    recipe_facts of the recipe it ran with}), or None: none kept, or an unreadable file."""
    if not dataset_root:
        return None
    try:
        d = json.loads((project_dir(dataset_root) / KEPT_FILE).read_text(encoding="utf-8"))
        def arr(key) -> np.ndarray:
            return np.array([np.nan if v is None else float(v) for v in d[key]], dtype=float)
        result = LRFindResult(arr("lrs"), arr("losses"), arr("smooth_losses"),
                              {str(k): (float("nan") if v is None else float(v)) for k, v in d["suggestions"].items()},
                              str(d.get("best", "valley")), bool(d.get("stopped_early", False)))
        if not (len(result.lrs) == len(result.losses) == len(result.smooth_losses)):
            return None
        return result, {"saved_at": float(d.get("saved_at", 0.0)), "recipe": dict(d.get("recipe", {}))}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


# --------------------------------------------------------------------------- smoothing (pure)
def live_beta(start_lr: float, end_lr: float, num_it: int, decades: float = LIVE_DECADES) -> float:
    """Running-average factor whose time constant is ``decades`` of lr on this schedule (0.6 for
    100 steps over 1e-7 .. 10), so the live curve trails the raw loss by about that much whatever
    the number of steps (fastai's fixed 0.98 trails by ~4 decades at 100 steps)."""
    span = math.log10(end_lr / start_lr) if start_lr > 0 and end_lr > start_lr else 0.0
    if num_it < 2 or span <= 0:
        return 0.0
    tau = decades * (num_it - 1) / span            # time constant in steps
    return 1.0 - 1.0 / tau if tau > 1.0 else 0.0


def smooth_curve(lrs, losses, decades: float = SMOOTH_DECADES, robust: int = 2) -> np.ndarray:
    """Centred, zero-lag smoothing of a range-test curve: at each point a straight-line fit of the
    loss against log10(lr), with Gaussian weights of width ``decades`` around it (the same width in
    lr whatever the number of steps). Symmetric, so it does not shift the curve; a line, so it keeps
    the slope of a steady descent and needs no correction at the ends. ``robust`` rounds of bisquare
    reweighting (as in LOWESS) keep a single spiking batch from bending the curve. Non-finite losses
    are left out of the fits and stay NaN."""
    x = np.log10(np.asarray(lrs, dtype=float))
    y = np.asarray(losses, dtype=float)
    out = np.full(len(y), np.nan)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() == 0:
        return out
    xs, ys = x[ok], y[ok]
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    h = max(float(decades), 1e-9)
    lo = np.searchsorted(xs, xs - 4 * h, "left")
    hi = np.searchsorted(xs, xs + 4 * h, "right")
    strength = np.ones(len(xs))
    fit = ys.copy()
    for round_ in range(robust + 1):
        for i in range(len(xs)):
            a, b = lo[i], hi[i]
            dx = xs[a:b] - xs[i]
            w = np.exp(-0.5 * (dx / h) ** 2) * strength[a:b]
            sw = w.sum()
            if sw <= 0:
                continue
            mx, my = (w * dx).sum() / sw, (w * ys[a:b]).sum() / sw
            var = (w * (dx - mx) ** 2).sum()
            slope = (w * (dx - mx) * (ys[a:b] - my)).sum() / var if var > 1e-12 * sw else 0.0
            fit[i] = my - slope * mx                 # the line at dx = 0
        if round_ == robust:
            break
        resid = ys - fit
        scale = 6.0 * float(np.median(np.abs(resid)))
        if scale <= 0:
            break
        strength = np.clip(1 - (resid / scale) ** 2, 0, None) ** 2
    res = np.empty(len(xs))
    res[order] = fit
    out[ok] = res
    return out


# --------------------------------------------------------------------------- suggestions (pure)
def _trim(lrs: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite points only, without the noisy first 10 % and the last few (divergence) points."""
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    ok = np.isfinite(lrs) & np.isfinite(losses) & (lrs > 0)
    lrs, losses = lrs[ok], losses[ok]
    n = len(lrs)
    if n >= 20:
        start, end = n // 10, n - min(5, n // 10)
        lrs, losses = lrs[start:end], losses[start:end]
    return lrs, losses


def longest_descent(losses: np.ndarray) -> tuple[int, int]:
    """(first, last) index of the longest decreasing subsequence of ``losses``: the widest valley."""
    n = len(losses)
    if n == 0:
        return 0, 0
    tails: list[float] = []       # -loss at the end of the best run of each length
    tail_idx: list[int] = []
    prev = [-1] * n
    for i, v in enumerate(losses):
        k = bisect.bisect_left(tails, -v)
        if k == len(tails):
            tails.append(-v)
            tail_idx.append(i)
        else:
            tails[k], tail_idx[k] = -v, i
        prev[i] = tail_idx[k - 1] if k > 0 else -1
    last = tail_idx[-1]
    first = last
    while prev[first] != -1:
        first = prev[first]
    return first, last


def suggest_valley(lrs, smooth_losses) -> float:
    """Longest descending valley of the curve; the point 2/3 of the way into it."""
    lrs, losses = _trim(lrs, smooth_losses)
    if len(lrs) == 0:
        return float("nan")
    first, last = longest_descent(losses)
    return float(lrs[first + int(round((last - first) * 2 / 3))])


def suggest_steep(lrs, smooth_losses) -> float:
    """Steepest descent of the smoothed loss against log(lr), before the minimum."""
    lrs, losses = _trim(lrs, smooth_losses)
    if len(lrs) < 3:
        return float(lrs[0]) if len(lrs) else float("nan")
    stop = int(np.argmin(losses)) + 1
    if stop < 3:
        return float(lrs[0])
    grad = np.gradient(losses[:stop], np.log10(lrs[:stop]))
    return float(lrs[int(np.argmin(grad))])


def suggest_minimum(lrs, smooth_losses) -> float:
    """A tenth of the rate at the lowest smoothed loss."""
    lrs, losses = _trim(lrs, smooth_losses)
    if len(lrs) == 0:
        return float("nan")
    return float(lrs[int(np.argmin(losses))] / 10.0)


def suggest_slide(lrs, smooth_losses, window_pct: float = 0.15, thresh: float = 0.005) -> float:
    """Slide rule: move a window left from the end of the curve while the slopes at its two ends
    differ by more than ``thresh`` (relative to the loss scale); the rate where they agree (the
    curve flattens towards its minimum region) is the suggestion."""
    lrs, losses = _trim(lrs, smooth_losses)
    n = len(lrs)
    if n < 4:
        return float(lrs[0]) if n else float("nan")
    grad = np.gradient(losses)
    scale = float(np.median(np.abs(losses))) or 1.0
    window = max(2, int(round(n * window_pct)))
    right = n - 1
    left = right - window
    lr = lrs[max(left, 0)]
    while left >= 0 and abs(grad[right] - grad[left]) > thresh * scale:
        lr = lrs[left]
        right -= 1
        left -= 1
    return float(lr)


def suggest(lrs, smooth_losses) -> dict[str, float]:
    """All four suggestions: valley, steep, minimum, slide."""
    return {"valley": suggest_valley(lrs, smooth_losses), "steep": suggest_steep(lrs, smooth_losses),
            "minimum": suggest_minimum(lrs, smooth_losses), "slide": suggest_slide(lrs, smooth_losses)}


# --------------------------------------------------------------------------- what to plot (pure)
def diverged_from(smooth_losses, first: int = 0) -> int:
    """Index where the diverged tail begins: the first point past the lowest smoothed loss (from
    ``first`` on) that has climbed back above halfway to the starting level, and at least 1.5x the
    lowest; ``len`` when the curve never gets there."""
    y = np.asarray(smooth_losses, dtype=float)
    n = len(y)
    fin = np.where(np.isfinite(y[first:]))[0] + first
    if len(fin) == 0:
        return n
    low_i = int(fin[np.argmin(y[fin])])
    low, start = float(y[low_i]), float(y[fin[0]])
    limit = max(low + 0.5 * (start - low), low + 0.5 * abs(low))
    for i in range(low_i + 1, n):
        if not np.isfinite(y[i]) or y[i] > limit:
            return i
    return n


def plot_window(n: int, skip_start: int = 10, skip_end: int = 5, smooth_losses=None) -> tuple[int, int]:
    """(first, end) of the points worth plotting, as fastai's plot does: without the noisy first
    steps and the last ones (at most a tenth of the curve at either end); given the smoothed losses,
    also without the diverged tail (``diverged_from``)."""
    if n < 20:
        first, end = 0, n
    else:
        first, end = min(skip_start, n // 10), n - min(skip_end, n // 10)
    if smooth_losses is not None:
        end = max(min(end, diverged_from(smooth_losses, first)), min(first + 2, n))
    return first, end


def y_range(smooth_losses, first: int = 0, end: int | None = None,
            losses=None) -> tuple[float, float] | None:
    """y limits that show the whole smoothed curve between ``first`` and ``end`` with a 5 % margin,
    and, given the raw ``losses``, their lowest point too (the raw loss is never cut off at the
    bottom; its spikes above the smoothed curve are clipped)."""
    y = np.asarray(smooth_losses, dtype=float)[first:end]
    y = y[np.isfinite(y)]
    if len(y) == 0:
        return None
    lo, hi = float(y.min()), float(y.max())
    if losses is not None:
        raw = np.asarray(losses, dtype=float)[first:end]
        raw = raw[np.isfinite(raw)]
        if len(raw):
            lo = min(lo, float(raw.min()))
    pad = 0.05 * max(hi - lo, 0.01 * max(abs(hi), 1e-6))
    return lo - pad, hi + pad


def curve_problem(result: "LRFindResult") -> str:
    """One sentence when the curve cannot give a rate (empty, or its lowest point at the very start,
    so the "minimum" suggestion lies below the first rate tried); empty when it is usable."""
    lrs = np.asarray(result.lrs, dtype=float)
    if len(lrs) < 5:
        return "The range test stopped after too few steps to suggest a rate."
    low = result.suggestions.get("minimum")
    if low is not None and math.isfinite(low) and low < lrs[0]:
        return (f"The loss did not fall during the range test (its lowest point is at the first rates, so "
                f"'minimum' is {low:.1e}, below the start {lrs[0]:.1e}): this curve gives no usable rate. "
                "Check the labels, or try a lower lr_find.start_lr or more steps (lr_find.num_it).")
    return ""


# --------------------------------------------------------------------------- the range test
def lr_schedule(start_lr: float, end_lr: float, num_it: int) -> np.ndarray:
    """Exponential rates from start_lr to end_lr over num_it steps."""
    if num_it < 2:
        return np.array([float(start_lr)])
    return start_lr * (end_lr / start_lr) ** (np.arange(num_it) / (num_it - 1))


class LRFinder(Callback):
    """Drives ``trainer.fit`` as a range test: sets the rate each batch, records the loss, skips
    validation and ends the fit after ``num_it`` batches or when the smoothed loss diverges.

    While it runs, the loss is smoothed by a (debiased) running average whose time constant is
    ``LIVE_DECADES`` of lr (``beta`` overrides it); the result is smoothed again by ``smooth_curve``."""
    order = 1000  # after any schedule, so its rate wins

    def __init__(self, cfg_lr: LRFindConfig, sink=None, min_interval: float = 0.05,
                 beta: float | None = None) -> None:
        self.cfg = cfg_lr
        self.sched = lr_schedule(cfg_lr.start_lr, cfg_lr.end_lr, cfg_lr.num_it)
        self.sink = sink or null_sink
        self.min_interval = min_interval
        self.beta = live_beta(cfg_lr.start_lr, cfg_lr.end_lr, cfg_lr.num_it) if beta is None else beta
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smooth: list[float] = []
        self.diverged = False
        self._avg = 0.0
        self._best = math.inf
        self._last_sent = -math.inf
        self._lr = float(self.sched[0])

    def before_batch(self, trainer) -> None:   # a stop or pause: the trainer's own control check
        self._lr = float(self.sched[min(len(self.lrs), len(self.sched) - 1)])
        set_group_lrs(trainer, self._lr)

    def before_step(self, trainer) -> None:
        set_group_lrs(trainer, self._lr)  # also after any scheduler that sets rates late

    def after_loss(self, trainer) -> None:
        """Record the loss; end the test after num_it batches or when the smoothed loss diverges
        (checked here, before the trainer would stop on a NaN loss)."""
        if not getattr(trainer, "training", True):
            return
        loss = float(trainer.loss.detach().float().item())
        i = len(self.lrs)
        self._avg = self.beta * self._avg + (1 - self.beta) * loss
        smooth = self._avg / (1 - self.beta ** (i + 1))
        self.lrs.append(self._lr)
        self.losses.append(loss)
        self.smooth.append(smooth)
        if math.isfinite(smooth):
            self._best = min(self._best, smooth)
        done = len(self.lrs) >= len(self.sched)
        self.diverged = not math.isfinite(smooth) or smooth > self.cfg.stop_div * self._best
        now = time.monotonic()
        if math.isfinite(smooth) and (done or self.diverged or now - self._last_sent >= self.min_interval):
            self._last_sent = now
            self.sink(LRFindStep(i, len(self.sched), self._lr, loss, smooth))
        if done or self.diverged:
            raise CancelFit("LR range test finished")

    def before_validate(self, trainer) -> None:
        raise CancelEpoch("no validation in the LR range test")

    def result(self, best: str) -> LRFindResult:
        """The recorded curve, smoothed by ``smooth_curve`` (centred: no lag), and its suggestions."""
        lrs, losses = (np.asarray(v, dtype=float) for v in (self.lrs, self.losses))
        smooth = smooth_curve(lrs, losses)
        return LRFindResult(lrs, losses, smooth, suggest(lrs, smooth), best,
                            stopped_early=len(self.lrs) < len(self.sched))


class CyclingLoader:
    """A training loader seen as one epoch of exactly ``n`` batches: cycles through the wrapped
    loader (a new shuffle each pass) so ``trainer.fit(1)`` runs the whole range test."""

    def __init__(self, loader, n: int) -> None:
        self.loader, self.n = loader, int(n)

    def __len__(self) -> int:
        return self.n

    def __getattr__(self, name):  # image_size, batch_size, n_samples, ... of the wrapped loader
        return getattr(self.loader, name)

    def __setattr__(self, name, value) -> None:
        if name in ("loader", "n"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.loader, name, value)

    def set_epoch(self, epoch: int) -> None:
        pass  # each pass below picks its own shuffle

    def __iter__(self):
        done, rounds = 0, 0
        while done < self.n:
            if hasattr(self.loader, "set_epoch"):
                self.loader.set_epoch(rounds)
            it = iter(self.loader)
            got = 0
            try:
                for batch in it:
                    yield batch
                    got += 1
                    done += 1
                    if done >= self.n:
                        return
            finally:
                close = getattr(it, "close", None)
                if close:
                    close()
            if got == 0:
                return  # an empty loader: nothing to cycle
            rounds += 1


def _quiet_sink(sink):
    """The trainer's events during the range test: only log lines and pause notices get through
    (no FitStarted / BatchEnd / EpochEnd / FitFinished: this is not a training run)."""
    def forward(event) -> None:
        if sink is not None and isinstance(event, (LogMessage, Paused, Resumed)):
            sink(event)
    return forward


def _range_test_callbacks(callbacks: list) -> list:
    """The trainer's callbacks that shape a training batch (MixUp, freezing, loss, ...); the
    schedule, early stopping and weight averaging are left out (the finder sets the rate
    itself and restores the weights)."""
    return [cb for cb in callbacks
            if not isinstance(cb, (ParamScheduler, EarlyStopping, WeightAverage))]


def run_lr_find(trainer, cfg_lr: LRFindConfig, sink=None, control: RunControl | None = None,
                best: str | None = None, unfrozen: bool = False, extra_callbacks: tuple = ()) -> LRFindResult:
    """Run the range test with ``trainer.fit(1)`` over a cycling view of the training loader (same
    model, loss, precision, batch augmentation and batch tricks as training), lent to the trainer
    with ``trainer.borrowed(..., leave_no_trace=True)``: weights, optimizer, callbacks, loaders, sink
    and everything else it touched are put back, also when stopped (raises ``Cancelled``) or failing.
    Sends ``LRFindStep`` events to ``sink`` (at most ~20 per second, finite losses only).

    Being a one-epoch fit, it sees what the first training epoch sees, except that progressive
    resizing uses the final image size. With frozen layer groups only the head's rate moves;
    ``unfrozen`` tests the phase after unfreezing instead (whole model, discriminative rates; the rate
    found is the head's). ``extra_callbacks`` join it (the CPU thread count that follows the free cores)."""
    finder = LRFinder(cfg_lr, sink)
    cbs = _range_test_callbacks(list(trainer.callbacks))
    freezers = [cb for cb in cbs if isinstance(cb, FreezeUnfreeze)] if unfrozen else []
    cbs = [cb for cb in cbs if cb not in freezers]
    with trainer.borrowed(callbacks=[*cbs, finder, *extra_callbacks], sink=_quiet_sink(sink),
                          train_loader=CyclingLoader(trainer.train_loader, cfg_lr.num_it), leave_no_trace=True):
        if unfrozen:
            unfreeze(trainer.model)
            if freezers:
                trainer.lr_mults = freezers[0].mults(len(trainer.layer_groups), False)
        trainer.fit(1)
    if any(c is not None and c.stop_requested for c in (control, trainer.control)):
        raise Cancelled("LR finder stopped by the user")
    if not finder.lrs:
        raise RuntimeError("the LR range test recorded no batches (empty training set?)")
    return finder.result(best or cfg_lr.suggestion)


def lr_find(cfg: RunConfig, sink=None, control: RunControl | None = None, unfrozen: bool = False) -> LRFindResult:
    """Open the dataset, build loaders, model and trainer as training would, and run the range test.
    Torch CPU threads follow ``train.threads`` (all cores by default)."""

    set_threads(cfg.train.threads)
    device = pick_device(cfg.train.device)
    ds = open_dataset(cfg.data, cfg.seed, sink=sink, control=control)
    require_trainable(ds)
    bundle = build_loaders(ds, cfg, device, sink=sink, control=control)
    trainer = build_trainer(cfg, bundle, sink=sink, control=control, device=device)
    return run_lr_find(trainer, cfg.lr_find, sink=sink, control=control, unfrozen=unfrozen,
                       extra_callbacks=tuple(adaptive_threads(cfg, device, 1)))  # like training: follow the free cores
