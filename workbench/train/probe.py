"""The planner's speed probe: time a few training steps, a validation pass and a checkpoint write of
a throw-away copy of the run's trainer on this machine (``probe``), for ``planner.make_plan``.

On a CPU beside other programs the probe times its steps on one thread per core they leave free
(``probe_threads``; a phase whose threads outnumbered the free cores is timed again on fewer), because a
thread that shares its core with another program holds its partners up at every parallel region: two
starved threads stepped 2-4x slower than one here, far more than the free share says. The times are then
scaled to a free machine (``planner.Measured.cpu_scale``)."""
from __future__ import annotations

import gc
import math
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from ..config import RunConfig
from ..run.folder import RunFolder, load_checkpoint, save_checkpoint
from ..runtime.device import available_cores, pick_device
from .callback import Callback
from .cpu_threads import ProcStatMeter, free_cores
from .planner import (PROBE_STEPS, PROBE_VALID_BATCHES, WARMUP_STEPS, Measured, StepsView, _scale, frozen_epochs,
                      probe_sizes)
from .tricks.early_stop import EarlyStopping
from .tricks.freeze import FreezeUnfreeze
from .tricks.progressive import ProgressiveResize
from .trainer import TrainingError


class _Timer(Callback):
    """Times training steps (after the warm-up ones) and the validation pass of the probe fit; ends
    the probe after two timed steps once ``max_s`` has passed (one when a single step takes longer).
    A first step longer than ``2 * max_s`` (a slow or busy machine) is the only warm-up step.
    With a CPU ``meter`` (``cpu_threads.ProcStatMeter``) it samples the machine over the timed steps;
    with ``limit`` > 0 also over the warm-up steps, and before the timed steps sets torch's thread
    count to the cores other programs left free meanwhile (``probe_threads``, at most ``limit``): the
    timed steps run on one thread per free core, never on a starved thread pair (two threads on one
    free core step several times slower than one)."""
    order = 200

    def __init__(self, view: StepsView, max_s: float, meter=None, limit: int = 0) -> None:
        self.view, self.max_s, self.meter, self.limit = view, max_s, meter, int(limit)
        self.marks: list[float] = []
        self.valid_s = 0.0
        self._v0 = 0.0             # when validation began (0: not yet)
        self.warmup = WARMUP_STEPS
        self.samples: list = []   # (start, end) CPU samples of the timed steps
        self._w0 = None           # CPU sample at the first warm-up step

    def before_batch(self, trainer) -> None:
        if trainer.training:
            self.marks.append(time.perf_counter())
            if self.meter is None:
                return
            if len(self.marks) == 1 and self.limit > 0:
                self._w0 = self.meter()
            if len(self.marks) == self.warmup + 1 and self._adapt():
                self.warmup += 1   # the first step on a new thread count starts its threads: not timed
            if len(self.marks) == self.warmup + 1:
                self.samples = [self.meter()]

    def _adapt(self) -> bool:
        """Set the thread count for the load of the warm-up steps; True when it changed."""
        if self.limit <= 0 or self._w0 is None:
            return False
        now = self.meter()
        if now is None:
            return False
        free = free_cores(self._w0, now, int(getattr(self.meter, "cores", self.limit) or self.limit))
        self._w0 = None   # once per fit
        if free is None:
            return False
        cur = int(torch.get_num_threads())
        k = probe_threads(free, self.limit)
        if k != cur:
            torch.set_num_threads(k)
        return k != cur

    def after_batch(self, trainer) -> None:
        if not trainer.training or not self.marks:
            return
        spent = time.perf_counter() - self.marks[0]
        if len(self.marks) == 1 and spent > 2 * self.max_s:
            self.warmup = 1
        timed = len(self.marks) - self.warmup  # steps after the warm-up, this one included
        if (timed >= 2 and spent > self.max_s) or (timed >= 1 and spent > 2 * self.max_s):
            self.view.stop = True

    def after_train(self, trainer) -> None:
        self.marks.append(time.perf_counter())
        if len(self.samples) == 1:
            self.samples.append(self.meter())

    def before_validate(self, trainer) -> None:
        self._v0 = time.perf_counter()

    def after_validate(self, trainer) -> None:
        self.valid_s = time.perf_counter() - self._v0

    def validation_so_far(self) -> float:
        """The validation's seconds, also when it ended early (a check that raised before after_validate)."""
        return self.valid_s or (time.perf_counter() - self._v0 if self._v0 else 0.0)

    def step_s(self) -> float:
        d = [b - a for a, b in zip(self.marks, self.marks[1:])]
        timed = d[self.warmup:] or d
        return sum(timed) / max(1, len(timed))


def others_share(pairs: list, cores: float) -> float | None:
    """Cores other programs used, on average over the (start, end) CPU sample pairs (the busy time of
    this process's cores minus its own CPU time, over the wall time); None when nothing was sampled."""
    wall = busy = own = 0.0
    for a, b in pairs:
        if a is None or b is None:
            continue
        wall += b[0] - a[0]
        own += max(0.0, b[1] - a[1])
        busy += max(0.0, b[2] - a[2])
    if wall <= 0:
        return None
    return min(float(cores), max(0.0, (busy - own) / wall))


def state_bytes(obj) -> int:
    """Bytes of the tensors in a (nested) checkpoint state."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(state_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(state_bytes(v) for v in obj)
    return 0


def _time_checkpoints(tr, folder: RunFolder) -> tuple[float, float]:
    """Seconds of an epoch's checkpoint write (last.pt: the whole state, and best.pt: the weights) and
    of reading best.pt back. Only best.pt is written; the write of both is scaled from it by their
    tensor bytes (the write is bound by the bytes: serialisation, then the disk)."""
    best = {"epoch": 0, "model": tr.model.state_dict(), "metrics": {}}
    s0 = time.perf_counter()
    save_checkpoint(folder.best, best)
    write_s = time.perf_counter() - s0
    s0 = time.perf_counter()
    load_checkpoint(folder.best)
    load_s = time.perf_counter() - s0
    n_best = max(1, state_bytes(best))
    return write_s * (state_bytes(tr.state()) + n_best) / n_best, load_s


# the tricks the probe leaves out: they would fix the image size or freeze layers (faster steps than
# most of the run; a fine-tune's frozen phase is timed on its own), or stop it
_LEFT_OUT = (ProgressiveResize, FreezeUnfreeze, EarlyStopping)


def probe_threads(free: float, limit: int) -> int:
    """The threads the probe times its steps on when other programs leave ``free`` cores free: one
    per free core (a quarter core short still counts), between 1 and ``limit``. Not rounded to the
    nearest like the run's ``cpu_threads.threads_for``: a thread that shares its core with another
    program holds its partners up at every parallel region, a slowdown the free share does not scale."""
    return max(1, min(int(limit), math.floor(free + 0.25)))


def free_machine_threads(cfg: RunConfig) -> int:
    """The torch threads a run of ``cfg`` trains on when no other program uses the CPU
    (``train.threads``, 0: all cores; at most the cores: ``runtime.device.set_threads``)."""
    cores = available_cores()
    return max(1, min(cfg.train.threads, cores) if cfg.train.threads > 0 else cores)


def probe(make_trainer: Callable[[], object], cfg: RunConfig, budget_s: float = 0.0,
          save_dir: str | Path | None = None, meter=None) -> Measured:
    """Time training steps at each size of ``probe_sizes`` (and, for a fine-tune with frozen epochs,
    the frozen-body steps at the first size), validation and a checkpoint write (of the weights, into a
    temporary folder under ``save_dir``, the run's disk) on a throw-away trainer from ``make_trainer()``
    (same model, loaders, tricks and precision as the run). On a CPU, ``meter`` (default
    ``cpu_threads.ProcStatMeter``) measures the cores other programs use: while the trainer is built,
    over each phase's warm-up steps and over its timed steps. With ``train.threads = 0`` the timed
    steps run on one thread per core the warm-up found free (``probe_threads``), and a phase whose timed steps found fewer cores free than it had threads (a load that
    came meanwhile: its starved threads ran several times slower than the free share says) is timed
    once more on fewer threads. Each phase's step times are scaled by its own CPU share to the
    threads a run trains on when the machine is free (``free_machine_threads``; not the count
    torch has now, which a caller may have lowered for the load). Each timed fit runs in
    ``trainer.borrowed`` (its own callbacks and loader views), so the trainer's callbacks and
    loaders are as they were afterwards."""
    t0 = time.perf_counter()
    if meter is None and pick_device(cfg.train.device).type == "cpu":
        meter = ProcStatMeter()
    before = meter() if meter is not None else None
    tr = make_trainer()
    train, valid = tr.train_loader, tr.valid_loader
    bs0, size0 = int(train.batch_size), int(train.image_size)
    steps_per_epoch, n_valid_batches = len(train), len(valid)
    kept = [c for c in tr.callbacks if not isinstance(c, _LEFT_OUT)]
    freezer = next((c for c in tr.callbacks if isinstance(c, FreezeUnfreeze)), None)
    threads0 = int(torch.get_num_threads())      # restored afterwards
    full = free_machine_threads(cfg) if meter is not None else threads0
    cores = float(getattr(meter, "cores", 0) or 0) if meter is not None else 0.0
    adapt = full if before is not None and cfg.train.threads == 0 else 0
    if adapt:
        # the run adapts its threads to the cores other programs leave free (cpu_threads): so does the
        # probe, first from the load while its trainer was built, then from each phase's warm-up
        after = meter()
        free = free_cores(before, after, int(cores) or full) if after is not None else None
        if free is not None:
            torch.set_num_threads(probe_threads(free, full))
    max_s = max(0.5, 0.01 * budget_s)
    sizes = probe_sizes(cfg)
    phases = [(size, False) for size in sizes]
    if freezer is not None and frozen_epochs(cfg) > 0 and len(getattr(tr, "layer_groups", [])) > 1:
        phases.insert(0, (sizes[0], True))
    step_s: dict[int, float] = {}
    frozen_s: dict[int, float] = {}
    shares: dict = {}   # (size, frozen): (threads, free cores) of the timed steps
    valid_s = 0.0
    try:
        queue = [(size, frozen, True) for size, frozen in phases]
        while queue:
            size, frozen, may_retry = queue.pop(0)
            train.image_size = size
            view = StepsView(train, PROBE_STEPS)
            final = size == cfg.data.image_size and not frozen
            nv = min(PROBE_VALID_BATCHES, n_valid_batches) if final else 1
            timer = _Timer(view, max_s, meter, adapt)
            if frozen:
                freezer.epoch = 0
            with tr.borrowed(callbacks=[*kept, timer, *([freezer] if frozen else [])], train_loader=view,
                             valid_loader=StepsView(valid, nv), leave_no_trace=True):
                try:
                    tr.fit(1)   # each phase from the built trainer's weights: a repeat does not train it further
                except TrainingError:
                    # the throw-away model's loss went non-finite (a few steps at the schedule's peak): its
                    # times hold, the validation until the check counts, and the run itself starts afresh
                    if len(timer.marks) < 2:
                        raise
                    timer.valid_s = timer.validation_so_far()
            (frozen_s if frozen else step_s)[size] = timer.step_s()
            threads = int(torch.get_num_threads())
            others = others_share([tuple(timer.samples)], cores) if cores and len(timer.samples) == 2 else None
            if others is not None:
                shares[(size, frozen)] = (threads, cores - others)
                fewer = probe_threads(cores - others, threads)
                if adapt and may_retry and fewer < threads:
                    torch.set_num_threads(fewer)
                    queue.insert(0, (size, frozen, False))   # starved threads: timed again on fewer
                    continue
            if final:
                valid_s = timer.valid_s * n_valid_batches / max(1, nv)
        with tempfile.TemporaryDirectory(prefix=".probe-", dir=save_dir) as tmp:
            save_s, load_s = _time_checkpoints(tr, RunFolder(tmp).create())
    finally:
        torch.set_num_threads(threads0)
        train.batch_size, train.image_size = bs0, size0   # the loaders are the run's: as they were
        del tr
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    m = Measured(step_s=dict(step_s), valid_s=valid_s, save_s=save_s, steps_per_epoch=steps_per_epoch,
                 batch_size=bs0, n_train=int(getattr(train, "n_samples", steps_per_epoch * bs0)),
                 n_valid=int(getattr(valid, "n_samples", 0)), probe_s=time.perf_counter() - t0, load_s=load_s,
                 frozen_step_s=dict(frozen_s), raw_step_s=dict(step_s))
    if shares:
        # the phase at the run's own size (the last one timed) is the one the plan's lines report
        key = (cfg.data.image_size, False) if (cfg.data.image_size, False) in shares else list(shares)[-1]
        m.threads, m.cpu_free = shares[key]
        m.cpu_cores, m.run_threads = cores, full
        k = {kf: _scale(t, f, min(full, int(cores))) for kf, (t, f) in shares.items()}
        m.step_s = {s: t * k.get((s, False), m.cpu_scale) for s, t in step_s.items()}
        m.frozen_step_s = {s: t * k.get((s, True), m.cpu_scale) for s, t in frozen_s.items()}
        m.valid_s = valid_s * m.cpu_scale
    return m
