"""Time-budget planner: measure this machine on this recipe, then choose the epochs that fit.

With ``train.budget_minutes > 0`` the run's working time (from the command's start to its end: scan,
health check, cache build, probe, training, validation, checkpoints; pauses and the time between a stop
and a resume do not count) has to fit the budget. After the data is ready, ``probe.probe`` runs a few training
steps of a throw-away copy of the trainer at each image size the plan may use (the first and last of
progressive resizing), after warm-up steps, and for a fine-tune the frozen-body phase apart from the
unfrozen one; a few validation batches and a write of the weights (the checkpoints' write time is scaled
from it by their bytes). On a CPU it also measures the cores other programs took meanwhile (as
``cpu_threads`` does), times the steps on the threads those cores allow (a starved thread pair runs
several times slower than one thread: such a phase is timed again on fewer threads) and scales each
phase's times to a free machine's thread count, so a busy moment at the start does not shrink the plan
(the keeper follows a lasting load). ``make_plan`` picks
the largest number of epochs whose predicted total fits:

    total(E) = start-up (measured so far) + probe + sum over epochs of
               (steps x seconds per step at that epoch's size + validation + checkpoints) + END_S

Seconds per step at other sizes are interpolated linearly in size^2 between the probed sizes. While
training, ``budget.BudgetKeeper`` compares the measured epochs with this model and re-plans the
remaining epochs. Without a budget the same model predicts the duration of ``train.epochs`` epochs.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from ..config import RunConfig
from .checkpoint import amortized_save_s
from ..run.folder import RunFolder
from ..run.runs import epochs_words, whole_epochs
from .tricks.progressive import default_start_size, size_schedule

PLAN_FILE = RunFolder.PLAN
END_S = 0.5          # after the last epoch, besides reloading the best weights: metrics, process exit
PROBE_STEPS = 6      # training steps per probed size, the first WARMUP_STEPS not timed
WARMUP_STEPS = 2     # the first steps after building a model run slower (measured ~2x on CPU)
PROBE_VALID_BATCHES = 1
MAX_EPOCHS = 10_000
MIN_PARTIAL = 0.25   # a last, partial epoch trains at least this share of its batches
# a run on n torch threads of a free machine steps n ** THREAD_GAIN times as fast as the probe's one
# thread on the one core another program left free: on this 2-core CPU (EfficientNet-Lite0, 160 px, batch
# 32, bf16 and fp32, body frozen and not) 1.49-2.21x, geometric mean 1.77x over 7 measurements
THREAD_GAIN = 0.82
_IMPORTED = time.time()


def process_start_time() -> float:
    """Wall-clock time (time.time()) at which this process started: Linux /proc, else the time this
    module was imported (a CLI command imports it within a second or two of starting)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return time.time() - uptime + start_ticks / ticks
    except (OSError, ValueError, IndexError):
        return _IMPORTED


def command_start(entered: float, max_lead: float = 60.0) -> float:
    """When a command started: the process start, if the process began at most ``max_lead`` seconds
    before the command's code was ``entered`` (a fresh ``workbench ...`` process: interpreter and
    imports count), else ``entered`` (a command called inside a longer-lived process)."""
    p = process_start_time()
    return p if 0.0 <= entered - p <= max_lead else entered


@dataclass
class Measured:
    """What the probe measured on this machine for this recipe."""
    step_s: dict            # {image size: seconds per training step}
    valid_s: float          # one full validation pass
    save_s: float           # one checkpoint write after an epoch (last.pt + best.pt)
    steps_per_epoch: int
    batch_size: int
    n_train: int
    n_valid: int
    probe_s: float
    load_s: float = 0.0     # reading the best checkpoint back at the end
    frozen_step_s: dict = field(default_factory=dict)  # {size: seconds per step with the body frozen}
    raw_step_s: dict = field(default_factory=dict)     # {size: seconds per step as timed, before the CPU share}
    cpu_cores: float = 0.0  # the cores this process may use (0: not measured, e.g. a GPU)
    cpu_free: float = 0.0   # of which other programs left free during the timed steps
    threads: int = 0        # torch threads the probe trained on
    run_threads: int = 0    # torch threads the run starts with (0: as the probe)
    reused_s: float = -1.0  # >= 0: not probed by this command but reused, a probe made that many seconds ago

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("step_s", "frozen_step_s", "raw_step_s"):
            d[key] = {str(k): v for k, v in d[key].items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Measured":
        m = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key in ("step_s", "frozen_step_s", "raw_step_s"):
            m[key] = {int(k): float(v) for k, v in (m.get(key) or {}).items()}
        return cls(**m)

    @property
    def cpu_scale(self) -> float:
        """Quiet / measured step time (``_scale``): the probe's threads got ``cpu_free`` cores of them,
        and a run on a free machine trains on ``run_threads`` (at most the cores; 1: not measured)."""
        if self.cpu_cores <= 0 or self.threads <= 0:
            return 1.0
        return _scale(self.threads, self.cpu_free, min(self.run_threads or self.threads, int(self.cpu_cores)))

    def step_at(self, size: int, frozen: bool = False) -> float:
        """Seconds per step at ``size``: linear in size^2 through the probed sizes. ``frozen``: with the
        body frozen (a fine-tune's first epochs), the frozen/unfrozen ratio measured at its probed size."""
        if frozen and self.frozen_step_s:
            (s0, t0), = list(self.frozen_step_s.items())[:1]
            return t0 * self.step_at(size) / max(1e-9, self.step_at(int(s0)))
        pts = sorted((int(s), float(t)) for s, t in self.step_s.items())
        if len(pts) == 1:
            return pts[0][1] * (size / pts[0][0]) ** 2 if size != pts[0][0] else pts[0][1]
        (s0, t0), (s1, t1) = pts[0], pts[-1]
        slope = (t1 - t0) / max(1e-9, s1 ** 2 - s0 ** 2)
        return max(1e-6, t0 + slope * (size ** 2 - s0 ** 2))

    def images_per_sec(self, size: int) -> float:
        return self.batch_size / max(1e-9, self.step_at(size))


def sizes_for(cfg: RunConfig, epochs: int) -> list[int]:
    """Training image size of each epoch (progressive resizing or the fixed size)."""
    t, final = cfg.tricks, cfg.data.image_size
    if t.progressive_resize:
        return size_schedule(epochs, final, t.prog_start_size, t.prog_end_pct)
    return [final] * epochs


def frozen_epochs(cfg: RunConfig) -> int:
    """Epochs trained with the body frozen (``tricks.freeze_epochs``: the FreezeUnfreeze trick)."""
    return max(0, int(cfg.tricks.freeze_epochs))


def probe_sizes(cfg: RunConfig) -> list[int]:
    """The image sizes the probe times: the final size, and the first progressive size."""
    final = cfg.data.image_size
    if not cfg.tricks.progressive_resize:
        return [final]
    start = default_start_size(final) if cfg.tricks.prog_start_size <= 0 else min(cfg.tricks.prog_start_size, final)
    return sorted({start, final})


def epoch_costs(m: Measured, sizes: list[int], last_frac: float = 1.0, share: float = 1.0,
                saves: bool = True, frozen: int = 0) -> list[float]:
    """Predicted seconds of each epoch; the last one trains ``last_frac`` of its steps, the first
    ``frozen`` ones with the body frozen. Checkpoints (``saves``) count as the pacer writes them
    (``train.checkpoint_share``): amortized over the epochs between writes, and a whole write after
    the last epoch."""
    out = [m.steps_per_epoch * m.step_at(s, i < frozen) + m.valid_s for i, s in enumerate(sizes)]
    if out and last_frac < 1.0:
        out[-1] -= (1.0 - last_frac) * m.steps_per_epoch * m.step_at(sizes[-1], len(sizes) - 1 < frozen)
    if saves:
        out = [t + (m.save_s if i == len(out) - 1 else amortized_save_s(m.save_s, t, share))
               for i, t in enumerate(out)]
    return out


def whole(epochs: float) -> int:
    """Epochs the trainer runs for a (possibly fractional) run length (the count users see)."""
    return whole_epochs(epochs)


def last_fraction(epochs: float) -> float:
    return epochs - (whole(epochs) - 1)


def run_costs(cfg: RunConfig, m: Measured, epochs: float, saves: bool = True) -> list[float]:
    return epoch_costs(m, sizes_for(cfg, whole(epochs)), last_fraction(epochs), cfg.train.checkpoint_share, saves,
                       frozen_epochs(cfg))


def train_seconds(cfg: RunConfig, m: Measured, epochs: float, epoch: int) -> float:
    """Predicted seconds of the training steps of a whole epoch ``epoch`` in a run of ``epochs``."""
    sizes = sizes_for(cfg, whole(epochs))
    size = sizes[min(epoch, len(sizes) - 1)] if sizes else cfg.data.image_size
    return m.steps_per_epoch * m.step_at(size, epoch < frozen_epochs(cfg))


def cost_from(cfg: RunConfig, m: Measured, epochs: float, x: float = 0.0, ratio: float = 1.0) -> float:
    """Predicted seconds from position ``x`` (fractional epochs done) to the end of a run of ``epochs``:
    training and validation at ``ratio`` x the prediction, checkpoint writes as measured."""
    full, bare = run_costs(cfg, m, epochs), run_costs(cfg, m, epochs, saves=False)
    e0 = int(math.floor(x + 1e-9))
    done = max(0.0, x - e0)
    total = 0.0
    for e in range(e0, len(full)):
        t = bare[e] - (done * train_seconds(cfg, m, epochs, e) if e == e0 else 0.0)
        total += ratio * t + (full[e] - bare[e])
    return total


def span_seconds(cfg: RunConfig, m: Measured, epochs: float, xa: float, xb: float) -> float:
    """Predicted seconds of training (and of the validations at the epoch ends) between positions
    ``xa`` < ``xb`` in a run of ``epochs``, checkpoint writes aside. A position inside an epoch is
    after a training step; a whole number, after that epoch's validation."""
    total = 0.0
    for e in range(int(math.floor(xa + 1e-9)), int(math.ceil(xb - 1e-9))):
        lo, hi = max(xa, e), min(xb, e + 1)
        if hi > lo:
            total += (hi - lo) * train_seconds(cfg, m, epochs, e)
        if xa < e + 1 <= xb + 1e-9:
            total += m.valid_s
    return total


def fit_epochs(cfg: RunConfig, m: Measured, available: float, first: float = 0, ratio: float = 1.0,
               lo: int = 1, shorten_last: bool = False) -> float:
    """The longest run (whole epochs, then part of one more when at least MIN_PARTIAL of it fits)
    whose remaining part from position ``first`` (fractional epochs done) on takes at most
    ``available`` seconds at ``ratio`` x the prediction. At least ``lo`` epochs; when even those do not
    fit, ``shorten_last`` trains part of the last one (at least MIN_PARTIAL of it, and past ``first``)
    instead of all of it."""
    cost = lambda e: cost_from(cfg, m, e, first, ratio)  # noqa: E731
    n = largest_fitting(cost, available, lo)
    forced = cost(n) > available
    if forced and not shorten_last:
        return float(n)  # not even the shortest run fits: the shortest
    base = lo - 1 if forced else n   # whole epochs before the partial one
    train_s = ratio * train_seconds(cfg, m, base + 1, base)
    spare = available - cost(base + MIN_PARTIAL) + MIN_PARTIAL * train_s  # seconds for the extra epoch's steps
    frac = min(0.99, spare / train_s) if train_s > 0 else 0.0
    frac = math.floor(frac * 1000 + 1e-6) / 1000  # never rounded up past the budget
    least = MIN_PARTIAL
    if base == int(math.floor(first + 1e-9)):   # the partial epoch is the one under way
        least = max(least, first - base + 1.0 / max(1, m.steps_per_epoch))
    if forced:
        return base + min(1.0, max(least, frac))
    return n + frac if frac >= least and n < MAX_EPOCHS else float(n)


def fmt_epochs(epochs: float, share: bool = True) -> str:
    """A plan's length in whole epochs, as every page names it ("15 epochs and part of a 16th")."""
    return epochs_words(epochs, share)


def largest_fitting(cost: Callable[[int], float], available: float, lo: int, hi: int = MAX_EPOCHS) -> int:
    """Largest E in [lo, hi] with cost(E) <= available (cost increasing in E); lo when none fits."""
    if cost(lo) > available:
        return lo
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost(mid) <= available:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class Plan:
    """The plan shown before the start and stored as ``plan.json`` in the run folder."""
    budget_s: float                 # 0 = no budget (the plan predicts train.epochs)
    epochs: float                   # the run's length; a fraction: the last epoch trains part of its batches
    sizes: list
    epoch_s: list                   # predicted seconds of each epoch (train + validation + checkpoints)
    startup_s: float                # from the command's start to the probe (scan, health check, cache)
    started: float                  # time.time() of the command's start
    measured: Measured
    end_s: float = END_S
    note: str = ""
    replans: list = field(default_factory=list)
    trained: dict = field(default_factory=dict)  # per phase: predicted vs trained images/s (the keeper's)
    frozen_epochs: int = 0                       # the first epochs train with the body frozen (fine-tune)

    @property
    def predicted_s(self) -> float:
        return self.startup_s + self.measured.probe_s + sum(self.epoch_s) + self.end_s

    @property
    def predicted_end(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.started + self.predicted_s))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["measured"] = self.measured.to_dict()
        d.update(predicted_s=round(self.predicted_s, 3), predicted_end=self.predicted_end)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        keys = {f for f in cls.__dataclass_fields__} - {"measured"}
        return cls(measured=Measured.from_dict(d["measured"]), **{k: v for k, v in d.items() if k in keys})

    def lines(self, if_started: float | None = None) -> list[str]:
        """The plan in words. ``if_started``: a plan shown before its run (``--plan-only``, the app's
        Plan the run) ends ``predicted_s`` after a start at that time, not after the plan's own start."""
        m = self.measured
        speeds = ", ".join(f"{s} px {m.images_per_sec(s):.0f} img/s" for s in sorted(m.step_s))
        if m.frozen_step_s:
            k = max(1, self.frozen_epochs)
            speeds += (f"; with the body frozen ({'first epoch' if k == 1 else f'first {k} epochs'}) "
                       + ", ".join(f"{s} px {m.batch_size / max(1e-9, t):.0f} img/s"
                                   for s, t in sorted(m.frozen_step_s.items())))
        size_txt = (f"{self.sizes[0]} -> {self.sizes[-1]} px (progressive)" if self.sizes and self.sizes[0] != self.sizes[-1]
                    else f"{self.sizes[-1] if self.sizes else '?'} px")
        head = (f"time budget {self.budget_s / 60:g} min: {fmt_epochs(self.epochs)}" if self.budget_s
                else f"{fmt_epochs(self.epochs)} (no time budget)")
        after = f"about {max(1, round(self.predicted_s / 60))} min" if self.predicted_s >= 90 else f"about {self.predicted_s:.0f} s"
        if if_started is None:
            when = f"ending at {self.predicted_end}"
        else:
            end = time.strftime("%H:%M", time.localtime(if_started + self.predicted_s + 30))   # the nearest minute
            when = f"{after} after the start: ending at about {end} if started now"
        out = [f"plan: {head} at {size_txt}, batch {m.batch_size}, {m.steps_per_epoch} steps per epoch",
               f"  measured speed: {speeds}; validation {m.valid_s:.2f} s, a checkpoint write {m.save_s:.2f} s",
               f"  start-up (scan, health check, cache) {self.startup_s:.1f} s, "
               + (f"speed test {m.probe_s:.1f} s, " if m.reused_s < 0 else
                  f"no speed test (the one of {m.reused_s / 60:.0f} min ago on this machine is reused), ")
               +
               f"training {sum(self.epoch_s):.1f} s ({sum(self.epoch_s) / max(1e-9, self.epochs):.2f} s per epoch)",
               f"  predicted: {self.predicted_s:.0f} s in all, {when}"]
        if m.cpu_scale < 0.999:
            out.append(f"  other programs used {m.cpu_cores - m.cpu_free:.1f} of {m.cpu_cores:g} cores during the "
                       f"speed test: its times are scaled to a free machine (x{m.cpu_scale:.2f}); the run "
                       f"re-plans when the machine gets faster or slower for a while")
        if self.note:
            out.append(f"  note: {self.note}")
        return out


def make_plan(cfg: RunConfig, m: Measured, startup_s: float, started: float) -> Plan:
    """Choose the epochs for ``cfg.train.budget_minutes`` (or keep ``train.epochs`` without one)."""
    budget = float(cfg.train.budget_minutes) * 60.0
    note = ""
    end_s = END_S + m.load_s
    if budget > 0:
        available = budget - startup_s - m.probe_s - end_s
        epochs = fit_epochs(cfg, m, available)
        need = sum(run_costs(cfg, m, 1))
        if need > available:
            note = (f"the budget is too short for one epoch ({need:.0f} s needed, {max(0.0, available):.0f} s "
                    f"left after start-up): one epoch is trained")
    else:
        epochs = float(cfg.train.epochs)
    sizes = sizes_for(cfg, whole(epochs))
    return Plan(budget_s=budget, epochs=epochs, sizes=sizes, epoch_s=run_costs(cfg, m, epochs),
                startup_s=startup_s, started=started, measured=m, end_s=end_s, note=note,
                frozen_epochs=frozen_epochs(cfg) if m.frozen_step_s else 0)


# ------------------------------------------- used by the probe (train/probe.py) and the keeper
class StepsView:
    """A view of a loader that yields ``n`` batches (cycling its epochs), stoppable by a flag."""

    def __init__(self, loader, n: int) -> None:
        self.loader, self.n, self.stop = loader, max(1, int(n)), False

    def __len__(self) -> int:
        return self.n

    def __getattr__(self, name):
        return getattr(self.loader, name)

    batch_size = property(lambda self: self.loader.batch_size,
                          lambda self, v: setattr(self.loader, "batch_size", v))
    image_size = property(lambda self: self.loader.image_size,
                          lambda self, v: setattr(self.loader, "image_size", v))

    def __iter__(self):
        done = 0
        while done < self.n and not self.stop:
            for batch in self.loader:
                yield batch
                done += 1
                if done >= self.n or self.stop:
                    return


def _scale(threads: int, free: float, full: int) -> float:
    """Quiet / measured step time of steps timed on ``threads`` threads while other programs left
    ``free`` cores free, for a run on ``full`` threads on a free machine (at least 0.25): the share of
    its threads' time the steps got (linear: time slicing), times the speed-up of ``full`` threads
    over ``threads``, taken as (full / threads) ** THREAD_GAIN (sub-linear)."""
    threads, full = max(1, int(threads)), max(1, int(full))
    share = min(1.0, max(0.0, free) / threads)
    return min(1.0, max(0.25, share * (min(threads, full) / full) ** THREAD_GAIN))
