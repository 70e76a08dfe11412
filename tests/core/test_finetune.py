"""Fine-tuning the fastai way: two-phase schedule, discriminative rates, BatchNorm, exact resume,
the LR finder on the unfrozen phase."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from test_trainer import TinyNet, random_loaders, tiny_cfg
from workbench.runtime.control import RunControl
from workbench.train.lr_find import run_lr_find
from workbench.train.callback import Callback
from workbench.train.schedules import planned_curve
from workbench.train.trainer import Trainer
from workbench.train.tricks import build_callbacks

FT = {"train.epochs": 3, "tricks.freeze_epochs": 1, "train.fine_tune": "true", "tricks.lr_mult": 100,
      "train.lr": 0.01}


class RateProbe(Callback):
    """Per training batch: (epoch, lr of every param group, body conv trainable, BatchNorm trainable)."""
    order = 100

    def __init__(self):
        self.rows = []

    def before_step(self, tr):
        lrs = {}
        for g in tr.opt.param_groups:
            lrs[g["layer_group"]] = g["lr"]
        self.rows.append((tr.epoch, [lrs[k] for k in sorted(lrs)], tr.model[0].weight.requires_grad,
                          tr.model[1].weight.requires_grad))


def _trainer(cfg, extra=(), **kw):
    torch.manual_seed(0)
    tl, vl = random_loaders(3, n=40, bs=8)
    return Trainer(TinyNet(3), tl, vl, cfg, callbacks=[*build_callbacks(cfg, 3), *extra], **kw)


def test_two_phases_with_their_own_schedules_and_discriminative_rates():
    cfg = tiny_cfg(**FT)
    probe = RateProbe()
    tr = _trainer(cfg, [probe])
    assert tr.fit() == "completed"
    frozen = [r for r in probe.rows if r[0] == 0]
    thawed = [r for r in probe.rows if r[0] > 0]
    assert all(r[1][0] == 0.0 and not r[2] and r[3] for r in frozen)   # body frozen, BatchNorm trainable
    assert all(r[1][0] > 0 and r[2] for r in thawed)
    n = len(tr.train_loader)
    planned, _ = planned_curve(cfg, n)
    assert [r[1][-1] for r in probe.rows] == pytest.approx(list(planned))  # the head follows the plan
    assert np.all(np.diff(planned[:n]) > 0)                             # phase 1: warm-up nearly all along
    assert planned[n] == pytest.approx(0.005 / 25)                      # phase 2: fresh cycle from lr / 2 / div
    for r in thawed:
        assert r[1][0] / r[1][-1] == pytest.approx(1 / 100)             # lr / lr_mult .. lr
    fine, _ = planned_curve(cfg, 200)
    assert fine[:200].max() == pytest.approx(0.01, rel=1e-3) and fine[200:].max() == pytest.approx(0.005, rel=1e-3)
    plain, _ = planned_curve(cfg.set("train.fine_tune", False), 200)
    assert np.all(np.diff(plain[200:]) <= 0) and fine[250] > fine[200]  # one schedule vs a second warm-up


def test_head_lr_mult_trains_the_head_faster_than_the_body():
    cfg = tiny_cfg(**{**FT, "tricks.lr_mult": 1, "tricks.head_lr_mult": 10})
    probe = RateProbe()
    assert _trainer(cfg, [probe]).fit() == "completed"
    for epoch, lrs, *_ in probe.rows:
        if epoch > 0:
            assert lrs[-1] / lrs[0] == pytest.approx(10)


@pytest.mark.parametrize("stop_epoch", [1, 3])  # mid frozen phase (epochs 0-1), mid unfrozen phase (2-3)
def test_resume_in_either_phase_is_exact(tmp_path, stop_epoch):
    cfg = tiny_cfg(**{**FT, "tricks.freeze_epochs": 2, "train.epochs": 4})
    full = _trainer(cfg)
    full.fit()
    control = RunControl()

    class Stop(Callback):
        def after_batch(self, tr):
            if tr.epoch == stop_epoch and tr.iter == 2:
                control.request_stop()
    part = _trainer(cfg, [Stop()], run_dir=tmp_path, control=control)
    assert part.fit() == "cancelled"
    torch.manual_seed(99)
    again = _trainer(cfg, run_dir=tmp_path)
    start = again.resume_from(tmp_path / "checkpoints" / "last.pt")
    assert start == stop_epoch
    assert again.fit(4, start_epoch=start) == "completed"
    for a, b in zip(full.history, again.history):
        for k in ("train_loss", "valid_loss", "lr"):
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7), (a["epoch"], k)
    for p, q in zip(full.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.allclose(p.float(), q.float(), atol=1e-6)


def test_lr_finder_on_the_unfrozen_phase():
    cfg = tiny_cfg(**FT).with_overrides(["lr_find.num_it=6"])
    probe = RateProbe()
    tr = _trainer(cfg, [probe])
    before = [p.detach().clone() for p in tr.model.parameters()]
    run_lr_find(tr, cfg.lr_find)
    assert all(r[1][0] == 0.0 for r in probe.rows)                       # default: the first (frozen) epoch
    probe.rows.clear()
    res = run_lr_find(tr, cfg.lr_find, unfrozen=True)
    assert len(res.lrs) == 6 and all(r[2] and r[1][0] > 0 for r in probe.rows)
    assert all(r[1][0] / r[1][-1] == pytest.approx(1 / 100) for r in probe.rows)
    assert all(torch.equal(a, b) for a, b in zip(before, tr.model.parameters()))
    assert all(p.requires_grad for p in tr.model.parameters()) and tr.lr_mults == [1.0, 1.0]
    assert np.all(np.diff(res.lrs) > 0)
