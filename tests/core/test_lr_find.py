"""LR finder: suggestions on synthetic curves; the range test restores weights and optimizer
exactly, stops early on divergence and unwinds on a user stop."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from workbench.config import LRFindConfig, RunConfig
from workbench.control import Cancelled, RunControl
from workbench.events import BatchEnd, FitStarted, LRFindStep
from workbench.train.tricks import MixUpCutMix
from workbench.lr_find import longest_descent, lr_schedule, run_lr_find, suggest
from workbench.train.callback import Callback
from workbench.train.trainer import Trainer
from synth import TensorLoader



def u_curve(noise: float = 0.0, seed: int = 0):
    """A typical range-test curve: flat, a descent between 1e-5 and ~2e-2, then divergence."""
    lrs = np.logspace(-7, 1, 100)
    x = np.log10(lrs)
    loss = 2.0 - 1.5 / (1 + np.exp(-(x + 3) * 2)) + np.exp(2 * (x + 0.5))
    loss = loss + np.random.default_rng(seed).normal(0, noise, len(loss))
    keep = np.cumprod(loss < 4 * np.minimum.accumulate(loss)).astype(bool)
    return lrs[keep], loss[keep]


@pytest.mark.parametrize("noise", [0.0, 0.02])
def test_suggestions_land_in_the_descent(noise):
    lrs, loss = u_curve(noise)
    lr_at_min = lrs[np.argmin(loss)]
    s = suggest(lrs, loss)
    assert set(s) == {"valley", "steep", "minimum", "slide"}
    for name, lr in s.items():
        assert 1e-5 < lr < lr_at_min, (name, lr, lr_at_min)


def test_longest_descent_and_schedule():
    assert longest_descent(np.array([3.0, 5, 4, 3, 2, 6, 1, 7])) == (1, 6)
    sched = lr_schedule(1e-7, 10, 100)
    assert sched[0] == pytest.approx(1e-7) and sched[-1] == pytest.approx(10)
    assert np.allclose(np.diff(np.log(sched)), np.log(1e8) / 99)
    assert np.isnan(suggest(np.array([]), np.array([]))["valley"])


# ----------------------------------------------------------------------------- the real Trainer
def make_trainer(callbacks=(), sink=None, control=None, n=24, **cfg_over):
    torch.manual_seed(0)
    cfg = RunConfig().with_overrides(["model.channels_last=false", "train.lr=0.01"] +
                                     [f"{k}={v}" for k, v in cfg_over.items()])
    x = torch.randn(n, 3, 8, 8)
    y = torch.arange(n) % 3
    x[:, 0] += y[:, None, None].float()
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 8, 3),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    tr = Trainer(model, TensorLoader(x, y, 4, True), TensorLoader(x[:8], y[:8], 4, False), cfg,
                 callbacks=list(callbacks), sink=sink, control=control)
    tr.batches = list(tr.train_loader)
    return tr


def warm_up(trainer):
    """One real step so the optimizer has state (exp_avg, step) to be restored."""
    x, y = trainer.batches[0]
    trainer.loss_func(trainer.model(x), y).backward()
    trainer.opt.step()
    trainer.opt.zero_grad()


def snapshot(trainer):
    return ({k: v.clone() for k, v in trainer.model.state_dict().items()},
            {k: {n: t.clone() if torch.is_tensor(t) else t for n, t in st.items()}
             for k, st in trainer.opt.state_dict()["state"].items()},
            [dict((k, v) for k, v in g.items() if k != "params") for g in trainer.opt.param_groups])


def assert_same(before, trainer):
    model_sd, opt_state, groups = before
    now = trainer.model.state_dict()
    assert now.keys() == model_sd.keys()
    for k in model_sd:
        assert torch.equal(now[k], model_sd[k]), k
    st = trainer.opt.state_dict()["state"]
    assert st.keys() == opt_state.keys()
    for k in opt_state:
        for n, t in opt_state[k].items():
            assert torch.equal(st[k][n], t) if torch.is_tensor(t) else st[k][n] == t
    assert [dict((k, v) for k, v in g.items() if k != "params") for g in trainer.opt.param_groups] == groups


class Counter(Callback):
    order = 50

    def __init__(self):
        self.n = self.soft = 0

    def after_batch(self, trainer):
        self.n += 1

    def after_loss(self, trainer):
        self.soft += int(trainer.yb.is_floating_point())

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = state["n"]


def test_range_test_restores_weights_and_optimizer_exactly():
    counter = Counter()
    mix = MixUpCutMix(3, mixup_alpha=0.4, seed=1)
    events = []
    tr = make_trainer([counter, mix], sink=events.append)
    warm_up(tr)
    before = snapshot(tr)
    res = run_lr_find(tr, LRFindConfig(start_lr=1e-5, end_lr=1e-2, num_it=15), sink=events.append)
    assert len(res.lrs) == 15 and not res.stopped_early  # 15 steps over 6-batch epochs
    assert np.all(np.diff(res.lrs) > 0) and res.lrs[0] == pytest.approx(1e-5)
    assert res.best == "valley" and set(res.suggestions) == {"valley", "steep", "minimum", "slide"}
    assert_same(before, tr)
    assert counter.n == 0 and mix.counter == 0  # callbacks' state restored too
    assert counter.soft == 15                   # every batch was mixed, as in training
    assert counter in tr.callbacks and len(tr.callbacks) == 4  # + ParamScheduler, Recorder
    assert tr.history == [] and tr.step == 0 and isinstance(tr.train_loader, TensorLoader)
    steps = [e for e in events if isinstance(e, LRFindStep)]
    assert steps and steps[-1].step == 14 and steps[-1].total == 15
    assert not any(isinstance(e, (FitStarted, BatchEnd)) for e in events)  # not a training run


def test_range_test_stops_early_on_divergence():
    tr = make_trainer()
    warm_up(tr)
    before = snapshot(tr)
    res = run_lr_find(tr, LRFindConfig(start_lr=1e-4, end_lr=1e3, num_it=200, stop_div=2.0))
    assert res.stopped_early and len(res.lrs) < 200
    last = res.smooth_losses[-1]
    assert not np.isfinite(last) or last > 2.0 * np.nanmin(res.smooth_losses[:-1])
    assert_same(before, tr)


def test_range_test_user_stop_and_error_restore():
    control = RunControl()

    class StopAt(Callback):
        def after_batch(self, trainer):
            if trainer.iter == 2:
                control.request_stop()

    tr = make_trainer([StopAt()], control=control)
    warm_up(tr)
    before = snapshot(tr)
    with pytest.raises(Cancelled):
        run_lr_find(tr, LRFindConfig(num_it=20), control=control)
    assert_same(before, tr)

    class Boom(Callback):
        def after_step(self, trainer):
            if trainer.iter == 1:
                raise RuntimeError("boom")

    tr2 = make_trainer([Boom()])
    warm_up(tr2)
    before = snapshot(tr2)
    with pytest.raises(RuntimeError, match="boom"):
        run_lr_find(tr2, LRFindConfig(num_it=20))
    assert_same(before, tr2)
