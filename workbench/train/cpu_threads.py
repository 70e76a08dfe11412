"""Match the training's torch thread count to the CPU cores it actually gets (CPU training only).

Why: torch's OpenMP threads meet at the end of every parallel region. When another program keeps one
of two cores busy, the training thread that shares that core runs a fraction of the time and its
partner waits at every region, so the whole step runs at the speed of the starved thread: at nice +10
beside one busy process, 0.26 steps/s on 2 threads where 1 thread on the free core does the work
undisturbed (``bench/job_priority.py``). ``AdaptiveThreads`` measures every few seconds how much of
the cores the other programs use (the machine's busy time of the cores this process may run on, from
/proc/stat, minus this process's own CPU time) and sets the thread count to the cores left free,
between 1 and the configured count, raising it again when the other programs go away.

Thread count changes the order of float reductions, so a run whose thread count changed is not
bit-for-bit repeatable; ``workbench.train.run`` adds this callback only with ``train.threads = 0``
(all cores), so a fixed ``train.threads`` keeps a run repeatable.
"""
from __future__ import annotations

import math
import os
import time
from typing import Callable

import torch

from .callback import Callback

Sample = tuple[float, float, float]  # (wall seconds, this process's CPU seconds, busy CPU seconds of its cores)


def threads_for(free_cores: float, current: int, limit: int, margin: float = 0.2) -> int:
    """The thread count for ``free_cores`` cores left free by other programs: the nearest whole
    number, between 1 and ``limit``. ``margin`` (in cores) keeps ``current`` near a boundary, so a
    reading that hovers around x.5 does not flip the count at every measurement."""
    limit = max(1, int(limit))
    current = min(max(1, int(current)), limit)
    if not math.isfinite(free_cores):
        return current
    target = min(limit, max(1, math.floor(free_cores + 0.5)))
    if target > current and free_cores < current + 0.5 + margin:
        return current
    if target < current and free_cores > current - 0.5 - margin:
        return current
    return target


def free_cores(before: Sample, after: Sample, cores: int) -> float | None:
    """Cores the other programs left free between two samples: ``cores`` minus (busy time of those
    cores - this process's CPU time) / wall time. None when the interval is too short to tell."""
    wall = after[0] - before[0]
    if wall < 0.5:
        return None
    own = max(0.0, after[1] - before[1])
    busy = max(0.0, after[2] - before[2])
    others = min(float(cores), max(0.0, (busy - own) / wall))
    return cores - others


def _busy_seconds(cpus: set[int] | None) -> float | None:
    """Busy seconds (all but idle and iowait) summed over ``cpus`` (None: every CPU) since boot."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    try:
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                name, *fields = line.split()
                if cpus is not None and int(name[3:]) not in cpus:
                    continue
                v = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
                total += v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    except (OSError, ValueError, IndexError):
        return None
    return total / tick


class ProcStatMeter:
    """Samples (wall, own CPU, busy CPU of this process's cores) from the OS (Linux /proc/stat)."""

    def __init__(self) -> None:
        self.cpus = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        self.cores = len(self.cpus) if self.cpus else (os.cpu_count() or 1)

    def __call__(self) -> Sample | None:
        busy = _busy_seconds(self.cpus)
        if busy is None:
            return None
        t = os.times()
        return time.monotonic(), t.user + t.system, busy


def threads_now(sample_s: float = 0.5, meter: Callable[[], Sample | None] | None = None,
                limit: int | None = None) -> int:
    """The thread count ``AdaptiveThreads`` would choose now: the cores other programs leave free over
    ``sample_s`` seconds (at most ``limit``, default torch's count). For a measurement that should
    run as a training run would (two threads starved by another program run far slower than one)."""
    meter = meter or ProcStatMeter()
    limit = int(limit or torch.get_num_threads())
    a = meter()
    if a is None:
        return limit
    time.sleep(sample_s)
    b = meter()
    free = free_cores(a, b, getattr(meter, "cores", limit)) if b is not None else None
    return limit if free is None else threads_for(free, limit, limit)


class AdaptiveThreads(Callback):
    """Every ``interval`` seconds of training, set torch's thread count (on the training thread, where
    OpenMP takes it) to the cores other programs leave free, never above the count at the start of
    the fit; logs each change. ``meter`` and ``clock`` are replaceable for tests."""
    order = 90

    def __init__(self, interval: float = 5.0, meter: Callable[[], Sample | None] | None = None,
                 cores: int | None = None, clock: Callable[[], float] = time.monotonic,
                 set_threads: Callable[[int], None] = torch.set_num_threads,
                 get_threads: Callable[[], int] = torch.get_num_threads) -> None:
        self.interval = interval
        self.meter = meter or ProcStatMeter()
        self.cores = cores or getattr(self.meter, "cores", None) or (os.cpu_count() or 1)
        self.clock = clock
        self._set, self._get = set_threads, get_threads
        self.limit = self.current = 1
        self._last: Sample | None = None
        self._due = 0.0
        self.changes: list[tuple[int, float]] = []  # (threads, free cores) at each change

    def before_fit(self, trainer) -> None:
        self.limit = self.current = max(1, int(self._get()))
        self._last = self.meter()
        self._due = self.clock() + self.interval

    def after_batch(self, trainer) -> None:
        if self._last is None or self.clock() < self._due:
            return
        self._due = self.clock() + self.interval
        now = self.meter()
        if now is None:
            return
        free = free_cores(self._last, now, self.cores)
        self._last = now
        if free is None:
            return
        k = threads_for(free, self.current, self.limit)
        if k == self.current:
            return
        self._set(k)
        self.changes.append((k, free))
        if k < self.current:
            trainer.log(f"other programs are using the CPU ({self.cores - free:.1f} of {self.cores} cores): "
                        f"training on {k} thread{'s' if k != 1 else ''}")
        else:
            trainer.log(f"the CPU is free again: training on {k} threads")
        self.current = k
        self._last = self.meter() or now  # the next interval runs entirely at the new count

    def after_pause(self, trainer) -> None:
        """A pause is not training: the next measurement starts when the run continues, so what other
        programs did while it waited does not choose the threads it trains on now."""
        if self._last is not None:
            self._last = self.meter() or self._last
            self._due = self.clock() + self.interval

    def after_fit(self, trainer) -> None:
        if self.current != self.limit:
            self._set(self.limit)
            self.current = self.limit
        self._last = None
