"""Schedules: curve shapes of each schedule and the ParamScheduler's mapping onto param groups."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from workbench.config import RunConfig
from workbench.train.optim import get_momentum, make_optimizer
from workbench.train.schedules import ParamScheduler, lr_at, mom_at, planned_curve, preview_curve, sgdr_position


def cfg_for(schedule: str, **over) -> RunConfig:
    cfg = RunConfig().with_overrides([f"train.schedule=\"{schedule}\"", "train.lr=0.01", "train.epochs=10"])
    return cfg.with_overrides([f"{k}={v}" for k, v in over.items()])


def test_one_cycle_shape():
    cfg = cfg_for("one_cycle")
    lrs, moms = planned_curve(cfg, steps_per_epoch=40)
    assert len(lrs) == len(moms) == 400
    tc = cfg.train
    assert lrs[0] == pytest.approx(tc.lr / tc.div)
    peak = int(np.argmax(lrs))
    assert peak == pytest.approx(0.25 * 400, abs=1) and lrs[peak] == pytest.approx(tc.lr, rel=1e-4)
    assert lr_at(tc, 1.0) == pytest.approx(tc.lr / tc.final_div)
    assert np.all(np.diff(lrs[:peak]) > 0) and np.all(np.diff(lrs[peak + 1:]) < 0)
    # momentum runs inverse to the rate: 0.95 -> 0.85 at the peak -> 0.95
    assert moms[0] == pytest.approx(0.95) and int(np.argmin(moms)) == peak
    assert moms[peak] == pytest.approx(0.85, abs=1e-4) and mom_at(tc, 1.0) == pytest.approx(0.95)


def test_cosine_and_constant():
    tc = cfg_for("cosine").train
    assert lr_at(tc, 0) == pytest.approx(0.01) and lr_at(tc, 0.5) == pytest.approx((0.01 + 1e-7) / 2)
    assert lr_at(tc, 1) == pytest.approx(1e-7)
    tc = cfg_for("constant").train
    assert {lr_at(tc, p) for p in np.linspace(0, 1, 11)} == {0.01}
    assert mom_at(tc, 0.5) == pytest.approx(0.95)


def test_sgdr_restarts_at_cycle_boundaries():
    cfg = cfg_for("sgdr", **{"train.epochs": 7, "train.sgdr_cycle_len": 1, "train.sgdr_cycle_mult": 2})
    spe = 20
    lrs, _ = planned_curve(cfg, spe)
    # cycles of 1, 2 and 4 epochs start at epochs 0, 1 and 3
    for start in (0, 1, 3):
        assert lrs[start * spe] == pytest.approx(0.01)
    assert lrs[1 * spe - 1] < 0.001 and lrs[3 * spe - 1] < 0.001
    jumps = np.where(np.diff(lrs) > 0)[0] + 1
    assert list(jumps) == [spe, 3 * spe]
    assert sgdr_position(cfg.train, 0.5) == (2, pytest.approx((3.5 - 3) / 4))


def test_flat_cos_flat_then_falls():
    cfg = cfg_for("flat_cos", **{"train.pct_start": 0.5})
    lrs, _ = planned_curve(cfg, 10)
    assert np.all(lrs[:50] == 0.01)
    assert np.all(np.diff(lrs[50:]) < 0) and lrs[-1] < 0.0001


def test_param_scheduler_maps_layer_group_mults():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    groups = [list(model[0].parameters()) + list(model[1].parameters()), list(model[2].parameters())]
    opt = make_optimizer("adamw", groups, 0.01, 0.1)
    # decay / no-decay split: each layer group gives two param groups
    assert [g["layer_group"] for g in opt.param_groups] == [0, 0, 1, 1]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0, 0.1, 0.0]
    assert all(p.ndim <= 1 for p in opt.param_groups[1]["params"])
    cfg = cfg_for("one_cycle")
    tr = SimpleNamespace(cfg=cfg, opt=opt, layer_groups=groups, lr_mults=[0.1, 1.0], lr_scale=0.5,
                         pct_train=0.25, training=True)
    ParamScheduler().before_batch(tr)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.0005, 0.0005, 0.005, 0.005])
    assert get_momentum(opt.param_groups[0]) == pytest.approx(0.85)


@pytest.mark.parametrize("name", ["adamw", "sgd", "radam"])
def test_optimizers_step(name):
    model = nn.Linear(3, 2)
    opt = make_optimizer(name, [list(model.parameters())], 0.1, 0.01)
    before = model.weight.detach().clone()
    model(torch.ones(2, 3)).sum().backward()
    opt.step()
    assert not torch.equal(before, model.weight)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("lamb", [list(model.parameters())], 0.1, 0.0)


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_cpu_optimizers_use_the_fused_step_with_the_same_update(name):
    torch.manual_seed(0)
    a, b = nn.Linear(5, 3), nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    ours = make_optimizer(name, [list(a.parameters())], 0.05, 0.01)
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.SGD
    same = {k: v for k, v in ours.defaults.items() if k in ("lr", "betas", "momentum", "nesterov")}
    ref = cls([{"params": [b.weight], "weight_decay": 0.01}, {"params": [b.bias], "weight_decay": 0.0}], **same)
    assert ours.defaults["fused"] is True and not ref.defaults.get("fused")
    x = torch.randn(4, 5)
    for _ in range(3):
        for model, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            model(x).square().sum().backward()
            opt.step()
    assert torch.allclose(a.weight, b.weight, atol=1e-6)


@pytest.mark.parametrize("mults", [[0.1, 1.0], [0.1, 0.2, 0.5, 1.0], [0.3]])
def test_lr_finder_and_schedule_put_the_same_multipliers_on_the_param_groups(mults):
    """One mapping of lr_mults onto param groups (by layer group, by param group, missing -> 1)."""
    from workbench.config import LRFindConfig
    from workbench.train.lr_find import LRFinder
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    groups = [list(model[0].parameters()) + list(model[1].parameters()), list(model[2].parameters())]

    def rates(callback, pct):
        opt = make_optimizer("adamw", groups, 0.01, 0.1)
        tr = SimpleNamespace(cfg=cfg_for("constant"), opt=opt, layer_groups=groups, lr_mults=mults, lr_scale=1.0,
                             pct_train=pct, training=True)
        callback.before_batch(tr)
        base = tr.sched_lr if callback.__class__ is ParamScheduler else callback._lr
        return [g["lr"] / base for g in opt.param_groups]

    finder = LRFinder(LRFindConfig())
    assert rates(finder, 0.0) == pytest.approx(rates(ParamScheduler(), 0.0))


@pytest.mark.parametrize("schedule", ["one_cycle", "cosine", "flat_cos"])
def test_preview_curve_reaches_the_peak_of_a_short_run(schedule):
    """4 epochs x 3 steps: the 12 batch positions miss the schedule's peak (the preview showed 0.00105
    under a caption saying 0.002); the dense preview reaches it and spans the whole run."""
    cfg = RunConfig().set("train.schedule", schedule).set("train.lr", 0.002).set("train.epochs", 4)
    x, lrs, moms = preview_curve(cfg, 3)
    assert max(lrs) == pytest.approx(0.002, rel=0.01)
    assert x[0] == 0 and x[-1] == pytest.approx(4.0) and len(x) == len(lrs) == len(moms) >= 1000
    x, lrs, _ = preview_curve(cfg, 3, epochs=2.5)  # a time plan's length
    assert x[-1] == pytest.approx(2.5) and max(lrs) == pytest.approx(0.002, rel=0.01)
