"""LR finder: suggestions on synthetic curves; the range test restores weights and optimizer
exactly, stops early on divergence and unwinds on a user stop."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from workbench.config import LRFindConfig, RunConfig
from workbench.runtime.control import Cancelled, RunControl
from workbench.runtime.events import BatchEnd, FitStarted, LRFindStep
from workbench.train.tricks import MixUpCutMix
from workbench.train.lr_find import (LRFinder, diverged_from, live_beta, longest_descent, lr_schedule, plot_window,
                               run_lr_find, smooth_curve, suggest, y_range)
from workbench.train.callback import CancelFit
from workbench.train.callback import Callback
from types import SimpleNamespace
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


# ----------------------------------------------------------------------------- lag of the smoothing
STEEP_AT = -2.9   # log10(lr) where the loss below falls fastest


def steep_fall(lrs, seed=0, noise=0.03):
    """A fine-tune's range test: flat at ln(10), a steep fall between 1e-3.3 and 1e-2.5 (fastest at
    1e-2.9) to ~0.3, flat, then divergence past 1e-1; 3 % batch-to-batch noise."""
    x = np.log10(lrs)
    clean = 2.3 - 2.0 / (1 + np.exp(-(x - STEEP_AT) * 6)) + np.where(x > -1, 4 * (x + 1) ** 2, 0)
    return clean * (1 + np.random.default_rng(seed).normal(0, noise, len(x)))


def run_finder(loss_of_lr, cfg=LRFindConfig()):
    """Drive the range-test callback as the trainer does, with the loss a function of the rate."""
    finder = LRFinder(cfg)
    tr = SimpleNamespace(opt=SimpleNamespace(param_groups=[{}]), training=True)
    for _ in range(cfg.num_it):
        finder.before_batch(tr)
        tr.loss = torch.tensor(float(loss_of_lr(finder._lr)))
        try:
            finder.after_loss(tr)
        except CancelFit:
            break
    return finder


def halfway(lrs, losses, hi=2.3, lo=0.3):
    """log10(lr) where a curve first falls below the middle of the descent."""
    x = np.log10(lrs)
    return float(x[np.argmax(np.asarray(losses) < (hi + lo) / 2)])


@pytest.mark.parametrize("seed", range(6))
def test_valley_and_steep_land_where_the_raw_loss_falls_fastest(seed):
    """With the default 100 steps over 1e-7 .. 10 (12 a decade), fastai's running average (beta
    0.98) trailed the raw loss by about a decade, so valley / steep came out ~3-10x too high."""
    sched = lr_schedule(1e-7, 10, 100)
    noisy = dict(zip(sched, steep_fall(sched, seed)))
    finder = run_finder(lambda lr: noisy[lr])
    res = finder.result("valley")
    assert abs(halfway(res.lrs, res.smooth_losses) - STEEP_AT) <= 0.15   # the curve does not lag
    assert abs(halfway(finder.lrs, finder.smooth) - STEEP_AT) <= 0.35    # nor does the live one much
    assert abs(np.log10(res.suggestions["steep"]) - STEEP_AT) <= 0.3, res.suggestions
    assert abs(np.log10(res.suggestions["valley"]) - STEEP_AT) <= 0.35, res.suggestions
    assert res.stopped_early and np.log10(res.lrs[-1]) < 0.5          # stopped on the divergence


def test_smoothing_width_is_in_decades_not_steps():
    assert live_beta(1e-7, 10, 100) == pytest.approx(1 - 1 / (0.2 * 99 / 8))
    assert live_beta(1e-7, 10, 400) > live_beta(1e-7, 10, 100)          # more steps: more of them averaged
    for n in (100, 400):   # the same curve sampled 4x denser is smoothed into the same curve
        lrs = lr_schedule(1e-7, 10, n)
        x = np.log10(lrs)
        clean = 2.3 - 2.0 / (1 + np.exp(-(x - STEEP_AT) * 6))
        sm = smooth_curve(lrs, clean)
        assert np.max(np.abs(sm - clean)) < 0.1 and abs(halfway(lrs, sm) - STEEP_AT) <= 0.1
    line = 5.0 - 0.5 * np.log10(lrs)
    assert np.allclose(smooth_curve(lrs, line), line)                   # no shift, slope kept, ends too
    spiky, gap = line.copy(), line.copy()
    spiky[200] += 50.0
    assert abs(smooth_curve(lrs, spiky)[195] - line[195]) < 0.05        # one bad batch does not bend it
    gap[300:] = np.nan
    out = smooth_curve(lrs, gap)
    assert np.isnan(out[300:]).all() and np.allclose(out[:300], line[:300])


def test_plot_drops_the_diverged_tail_and_keeps_the_raw_loss_in_view():
    lrs = lr_schedule(1e-7, 10, 100)
    raw = steep_fall(lrs, 0)
    smooth = smooth_curve(lrs, raw)
    first, end = plot_window(len(lrs), smooth_losses=smooth)
    assert first == 10 and np.log10(lrs[end - 1]) < -0.3          # the climb past 1e-1 is not drawn
    assert end == diverged_from(smooth, first) and smooth[end] > 1.3 * np.nanmin(smooth)
    lo, hi = y_range(smooth, first, end, losses=raw)
    assert lo < raw[first:end].min() and hi >= smooth[first:end].max()
    assert hi < 1.2 * smooth[first:end].max()                        # raw spikes above are clipped


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


def test_range_test_leaves_the_trainers_callbacks_loader_and_sink_as_they_were():
    """The finder runs with its own callback list (no schedule, early stopping or weight averaging; the
    finder in), a cycling loader and a quiet sink, lent by ``trainer.borrowed``: afterwards, also after
    a failure, the trainer has its own again, the same objects in the same order."""
    from workbench.train.tricks import EarlyStopping, WeightAverage

    class Boom(Callback):
        fail = False

        def after_step(self, trainer):
            if self.fail and trainer.iter == 1:
                raise RuntimeError("boom")

    events = []
    boom = Boom()
    tr = make_trainer([Counter(), EarlyStopping(), WeightAverage(0.9), boom], sink=events.append)
    cbs, tl, vl, sink = list(tr.callbacks), tr.train_loader, tr.valid_loader, tr.sink
    seen = []

    class Look(Callback):
        def before_fit(self, trainer):
            seen.append([c.name for c in trainer.callbacks])

    run_lr_find(tr, LRFindConfig(num_it=5), extra_callbacks=(Look(),))
    assert "LRFinder" in seen[0] and not {"ParamScheduler", "EarlyStopping", "WeightAverage"} & set(seen[0])
    assert tr.callbacks == cbs and tr.train_loader is tl and tr.valid_loader is vl and tr.sink is sink
    boom.fail = True
    with pytest.raises(RuntimeError, match="boom"):
        run_lr_find(tr, LRFindConfig(num_it=5))
    assert tr.callbacks == cbs and tr.train_loader is tl and tr.valid_loader is vl and tr.sink is sink


def test_range_test_stops_early_on_divergence():
    tr = make_trainer()
    warm_up(tr)
    before = snapshot(tr)
    cfg = LRFindConfig(start_lr=1e-4, end_lr=1e3, num_it=200, stop_div=2.0)
    res = run_lr_find(tr, cfg)
    assert res.stopped_early and len(res.lrs) < 200
    beta, avg, live = LRFinder(cfg).beta, 0.0, []   # the live (running-average) curve it stopped on
    for i, loss in enumerate(res.losses):
        avg = beta * avg + (1 - beta) * loss
        live.append(avg / (1 - beta ** (i + 1)))
    assert not np.isfinite(live[-1]) or live[-1] > 2.0 * np.nanmin(live[:-1])
    assert np.all(np.isfinite(live[:-1]) & (np.array(live[:-1]) <= 2.0 * np.minimum.accumulate(live[:-1])))
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
