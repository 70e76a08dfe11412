"""Training follows the cores other programs leave free: the decision (pure), the callback driven by a
fake clock and meter, the measurement on this machine, and where the run adds it."""
from __future__ import annotations

import os
import time

import pytest
import torch

from workbench.config import RunConfig
from workbench.train.cpu_threads import AdaptiveThreads, ProcStatMeter, free_cores, threads_for
from workbench.train.run import adaptive_threads


def test_threads_for_the_free_cores():
    assert threads_for(2.0, current=2, limit=2) == 2
    assert threads_for(1.1, current=2, limit=2) == 1          # one core held by another program
    assert threads_for(1.0, current=1, limit=2) == 1          # still held: stay on 1
    assert threads_for(1.95, current=1, limit=2) == 2         # it went away: back to 2
    assert threads_for(0.1, current=2, limit=2) == 1          # never below 1
    assert threads_for(8.0, current=2, limit=2) == 2          # never above the configured count
    assert threads_for(5.0, current=8, limit=8) == 5
    assert threads_for(float("nan"), current=2, limit=2) == 2


def test_threads_for_keeps_the_count_near_a_boundary():
    # 1.5 free cores: the nearest count is 2, but a reading that hovers there must not flip the count
    assert threads_for(1.4, current=2, limit=2) == 2
    assert threads_for(1.6, current=1, limit=2) == 1
    assert threads_for(1.25, current=2, limit=2) == 1
    assert threads_for(1.75, current=1, limit=2) == 2


def test_free_cores_from_two_samples():
    # 5 s: the cores were busy 9.5 s, 5 s of it this process: the others used 0.9 cores of 2
    assert free_cores((0.0, 10.0, 100.0), (5.0, 15.0, 109.5), 2) == pytest.approx(1.1)
    assert free_cores((0.0, 10.0, 100.0), (5.0, 15.0, 104.0), 2) == pytest.approx(2.0)   # only us, rounding
    assert free_cores((0.0, 0.0, 0.0), (5.0, 0.0, 50.0), 2) == pytest.approx(0.0)        # clipped at 0
    assert free_cores((0.0, 0.0, 0.0), (0.1, 0.1, 0.2), 2) is None                       # too short to tell


class _Machine:
    """A fake clock and meter: ``others`` cores busy with other programs, this process using
    ``threads`` cores (its thread count, capped by what is free)."""

    def __init__(self, cores: int = 2) -> None:
        self.cores, self.others, self.now, self.own, self.busy = cores, 0.0, 0.0, 0.0, 0.0
        self.threads = cores

    def set_threads(self, k: int) -> None:
        self.threads = k

    def advance(self, seconds: float) -> None:
        free = self.cores - self.others
        # threads beyond the free cores share one with the other programs at a lower priority and
        # get a tenth of it; the threads on the free cores still burn them (spinning at each barrier)
        mine = self.threads if self.threads <= free else free + 0.1 * (self.threads - free)
        self.now += seconds
        self.own += mine * seconds
        self.busy += min(float(self.cores), mine + self.others) * seconds

    def meter(self):
        return self.now, self.own, self.busy


class _Trainer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, text: str, level: str = "info") -> None:
        self.lines.append(text)


def test_callback_drops_to_the_free_cores_and_raises_again_when_the_other_program_ends():
    m, tr = _Machine(), _Trainer()
    cb = AdaptiveThreads(interval=5.0, meter=m.meter, cores=2, clock=lambda: m.now,
                         set_threads=m.set_threads, get_threads=lambda: 2)
    cb.before_fit(tr)

    def train_for(seconds: float, step: float = 0.5) -> None:
        for _ in range(int(seconds / step)):
            m.advance(step)
            cb.after_batch(tr)

    train_for(10)
    assert m.threads == 2 and tr.lines == []                  # a quiet machine: all cores
    m.others = 1.0                                             # another program starts
    m.advance(0.4)
    cb.after_batch(tr)
    assert m.threads == 2                                      # not measured again before the interval ends
    train_for(10)
    assert m.threads == 1
    assert tr.lines == ["other programs are using the CPU (0.9 of 2 cores): training on 1 thread"]
    train_for(20)
    assert m.threads == 1 and len(tr.lines) == 1              # still busy: stays on 1, no more lines
    m.others = 0.0                                             # it ends
    train_for(10)
    assert m.threads == 2 and tr.lines[-1] == "the CPU is free again: training on 2 threads"
    assert [k for k, _ in cb.changes] == [1, 2]
    m.others = 1.0
    train_for(10)
    assert m.threads == 1
    cb.after_fit(tr)
    assert m.threads == 2                                      # the configured count is put back


def test_what_other_programs_did_during_a_pause_does_not_choose_the_threads_after_it():
    m, tr = _Machine(), _Trainer()
    cb = AdaptiveThreads(interval=5.0, meter=m.meter, cores=2, clock=lambda: m.now,
                         set_threads=m.set_threads, get_threads=lambda: 2)
    cb.before_fit(tr)
    for _ in range(4):                                         # 2 s of training on a free machine
        m.advance(0.5)
        cb.after_batch(tr)
    cb.before_pause(tr)                                        # paused 15 s while another program ran
    m.now += 15.0
    m.busy += 1.5 * 15.0
    cb.after_pause(tr)                                         # it ended before the run continued
    for _ in range(20):
        m.advance(0.5)
        cb.after_batch(tr)
    assert m.threads == 2 and tr.lines == [] and cb.changes == []


def test_callback_never_exceeds_the_count_the_fit_started_with():
    m, tr = _Machine(cores=4), _Trainer()
    m.threads = 2
    cb = AdaptiveThreads(interval=1.0, meter=m.meter, cores=4, clock=lambda: m.now,
                         set_threads=m.set_threads, get_threads=lambda: 2)
    cb.before_fit(tr)
    for _ in range(10):
        m.advance(0.5)
        cb.after_batch(tr)
    assert m.threads == 2 and tr.lines == [] and cb.changes == []


def test_meter_reads_this_machine():
    meter = ProcStatMeter()
    if meter() is None:
        pytest.skip("no /proc/stat here")
    a = meter()
    t_end = time.process_time() + 0.3
    while time.process_time() < t_end:                         # burn CPU in this process
        pass
    b = meter()
    assert meter.cores == len(os.sched_getaffinity(0))
    own, busy = b[1] - a[1], b[2] - a[2]
    assert own >= 0.25 and busy >= own - 0.05                  # the cores' busy time includes ours


def test_run_adds_it_only_for_cpu_training_on_all_cores():
    cfg = RunConfig()
    assert [type(c) for c in adaptive_threads(cfg, torch.device("cpu"), 1)] == [AdaptiveThreads]
    assert adaptive_threads(cfg.set("train.threads", 2), torch.device("cpu"), 1) == []   # fixed: repeatable
    assert adaptive_threads(cfg, torch.device("cpu"), 2) == []                            # DDP ranks
    assert adaptive_threads(cfg, torch.device("cuda"), 1) == []


def test_the_lr_finder_follows_the_free_cores_too(shapes_dir, monkeypatch):
    """The range test runs the adaptation like training (it too sat at 2 threads beside a busy
    program); the callback sees the finder's batches and puts the count back at the end."""
    import workbench.train.lr_find as lr_find_mod
    from workbench.train.callback import Callback

    class Spy(Callback):
        def __init__(self):
            self.batches = self.fits = 0

        def before_batch(self, tr):
            self.batches += 1

        def after_fit(self, tr):
            self.fits += 1

    spy = Spy()
    seen = []
    monkeypatch.setattr(lr_find_mod, "adaptive_threads",
                        lambda cfg, device, world: seen.append((cfg.train.threads, device.type, world)) or [spy])
    cfg = RunConfig().with_overrides(["data.image_size=16", "data.batch_size=8", "train.device=cpu",
                                      "lr_find.num_it=6", "model.channels_last=false"]).set("data.path", str(shapes_dir))
    res = lr_find_mod.lr_find(cfg)
    assert len(res.lrs) > 0 and seen == [(0, "cpu", 1)]
    assert spy.batches >= len(res.lrs) and spy.fits == 1   # every batch of the range test
