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
from workbench.lr_find import longest_descent, lr_schedule, run_lr_find, suggest
from workbench.train.callback import CancelBatch, CancelEpoch, CancelFit, Callback


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


# ----------------------------------------------------------------------------- a stand-in trainer
class MiniTrainer:
    """Follows the callback contract (hook order, cancel hooks) over in-memory batches."""

    def __init__(self, model, batches, callbacks=(), sink=None, control=None):
        self.model, self.batches = model, batches
        self.train_loader, self.valid_loader = batches, batches[:1]
        self.layer_groups = [list(model.parameters())]
        self.lr_mults = [1.0]
        self.opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        for g in self.opt.param_groups:
            g["layer_group"] = 0
        self.loss_func = nn.CrossEntropyLoss()
        self.callbacks = sorted(callbacks, key=lambda c: c.order)
        self.sink = sink or (lambda e: None)
        self.control = control
        self.epoch = self.iter = self.step = 0
        self.metrics, self.stop_reason, self.training = {}, "", False

    def log(self, text):
        pass

    def _cb(self, hook):
        for cb in self.callbacks:
            getattr(cb, hook)(self)

    def fit(self, n_epochs, start_epoch=0):
        self.n_epochs = n_epochs
        self.sink(FitStarted("", n_epochs, 0, len(self.batches), 0, 0, (), "cpu", "fp32", 4))
        try:
            self._cb("before_fit")
            for self.epoch in range(start_epoch, n_epochs):
                try:
                    self._cb("before_epoch")
                    self.training = True
                    self.model.train()
                    for self.iter, (self.xb, self.yb) in enumerate(self.batches):
                        if self.control is not None and self.control.stop_requested:
                            self.stop_reason = "cancelled"
                            raise CancelFit()
                        try:
                            self._cb("before_batch")
                            self.pred = self.model(self.xb)
                            self.loss = self.loss_func(self.pred, self.yb)
                            self._cb("after_loss")
                            self.loss.backward()
                            self._cb("before_step")
                            self.opt.step()
                            self.opt.zero_grad()
                            self.step += 1
                            self._cb("after_step")
                            self.sink(BatchEnd(self.epoch, self.iter, 1, self.step, 0, 0, 0, 0, 0, 0))
                            self._cb("after_batch")
                        except CancelBatch:
                            self._cb("after_cancel_batch")
                    self.training = False
                    self._cb("before_validate")
                    self._cb("after_epoch")
                except CancelEpoch:
                    self._cb("after_cancel_epoch")
        except CancelFit:
            self._cb("after_cancel_fit")
        finally:
            self._cb("after_fit")


def tiny_setup(n_batches=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 3))
    batches = [(torch.rand(4, 3, 8, 8, generator=g), torch.randint(0, 3, (4,), generator=g))
               for _ in range(n_batches)]
    return model, batches


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
    def __init__(self):
        self.n = 0

    def after_batch(self, trainer):
        self.n += 1

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = state["n"]


def test_range_test_restores_weights_and_optimizer_exactly():
    model, batches = tiny_setup()
    counter = Counter()
    events = []
    tr = MiniTrainer(model, batches, [counter], sink=events.append)
    warm_up(tr)
    before = snapshot(tr)
    res = run_lr_find(tr, LRFindConfig(start_lr=1e-5, end_lr=1e-2, num_it=15), sink=events.append)
    assert len(res.lrs) == 15 and not res.stopped_early  # 15 steps over 6-batch epochs
    assert np.all(np.diff(res.lrs) > 0) and res.lrs[0] == pytest.approx(1e-5)
    assert res.best == "valley" and set(res.suggestions) == {"valley", "steep", "minimum", "slide"}
    assert_same(before, tr)
    assert counter.n == 0                     # callbacks' state restored too
    assert tr.callbacks == [counter]
    steps = [e for e in events if isinstance(e, LRFindStep)]
    assert steps and steps[-1].step == 14 and steps[-1].total == 15
    assert not any(isinstance(e, (FitStarted, BatchEnd)) for e in events)  # not a training run


def test_range_test_stops_early_on_divergence():
    model, batches = tiny_setup()
    tr = MiniTrainer(model, batches)
    warm_up(tr)
    before = snapshot(tr)
    res = run_lr_find(tr, LRFindConfig(start_lr=1e-4, end_lr=1e3, num_it=200, stop_div=2.0))
    assert res.stopped_early and len(res.lrs) < 200
    last = res.smooth_losses[-1]
    assert not np.isfinite(last) or last > 2.0 * np.nanmin(res.smooth_losses[:-1])
    assert_same(before, tr)


def test_range_test_user_stop_and_error_restore():
    model, batches = tiny_setup()
    control = RunControl()

    class StopAt(Callback):
        def after_batch(self, trainer):
            if trainer.iter == 2:
                control.request_stop()

    tr = MiniTrainer(model, batches, [StopAt()])
    warm_up(tr)
    before = snapshot(tr)
    with pytest.raises(Cancelled):
        run_lr_find(tr, LRFindConfig(num_it=20), control=control)
    assert_same(before, tr)

    class Boom(Callback):
        def after_step(self, trainer):
            if trainer.iter == 1:
                raise RuntimeError("boom")

    tr2 = MiniTrainer(*tiny_setup(), [Boom()])
    warm_up(tr2)
    before = snapshot(tr2)
    with pytest.raises(RuntimeError, match="boom"):
        run_lr_find(tr2, LRFindConfig(num_it=20))
    assert_same(before, tr2)
