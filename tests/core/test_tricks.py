"""Training tricks: unit tests on a stand-in trainer with the contract attributes, plus (when the
real Trainer exists) integration tests through Trainer.fit."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from workbench.config import RunConfig
from workbench.runtime.control import RunControl
from workbench.train.callback import CancelFit, Callback
from workbench.train.tricks import (EarlyStopping, FreezeUnfreeze, MixUpCutMix, ProgressiveResize,
                                    build_callbacks, class_weights, discriminative_mults, make_loss,
                                    size_schedule)
from synth import TensorLoader



def cfg_with(**kv) -> RunConfig:
    return RunConfig().with_overrides([f"{k}={v}" for k, v in kv.items()])


class StandIn(SimpleNamespace):
    """The attributes of the callback contract, without a training loop."""

    def __init__(self, **kw):
        base = dict(training=True, epoch=0, n_epochs=1, metrics={}, stop_reason="", run_dir=None, lines=[])
        super().__init__(**{**base, **kw})

    def log(self, text):
        self.lines.append(text)


def small_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    groups = [list(model[0].parameters()) + list(model[1].parameters()), list(model[3].parameters()),
              list(model[6].parameters())]
    return model, groups


# ----------------------------------------------------------------------------- build / loss
def test_build_callbacks_defaults_empty_and_all_on():
    assert build_callbacks(RunConfig(), 3) == []
    cfg = cfg_with(**{"tricks.mixup": 0.4, "tricks.cutmix": 1.0, "tricks.progressive_resize": "true",
                      "tricks.freeze_epochs": 1, "tricks.early_stop_patience": 2,
                      "train.schedule": '"sgdr"',
                      "tricks.label_smoothing": 0.1})
    names = {cb.name for cb in build_callbacks(cfg, 3)}
    assert {"MixUpCutMix", "ProgressiveResize", "FreezeUnfreeze", "EarlyStopping"} <= names
    assert "ParamScheduler" not in names


def test_loss_smoothing_weights_and_soft_targets():
    cfg = cfg_with(**{"tricks.label_smoothing": 0.1, "tricks.class_balance": '"loss"'})
    w = class_weights([10, 30, 60])
    assert w.mean().item() == pytest.approx(1.0) and w[0] > w[1] > w[2]
    loss = make_loss(cfg, [10, 30, 60])
    pred = torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    soft = torch.nn.functional.one_hot(y, 3).float()
    expect = torch.nn.functional.cross_entropy(pred, y, weight=w, label_smoothing=0.1)
    assert torch.allclose(loss(pred, y), expect)
    assert torch.isfinite(loss(pred.bfloat16(), soft))
    plain = make_loss(RunConfig())
    assert torch.allclose(plain(pred, y), plain(pred, soft), atol=1e-6)  # hard == one-hot soft


# ----------------------------------------------------------------------------- MixUp / CutMix
def test_mixup_soft_targets_sum_to_one_and_seeded():
    xb, yb = torch.rand(8, 3, 16, 16), torch.arange(8) % 3
    cb = MixUpCutMix(3, mixup_alpha=0.4, seed=7)
    tr = StandIn(xb=xb, yb=yb)
    cb.before_batch(tr)
    p = cb.last
    assert p.mode == "mixup" and 0 <= p.lam <= 1
    assert tr.yb.shape == (8, 3) and torch.allclose(tr.yb.sum(1), torch.ones(8))
    perm = torch.as_tensor(p.perm)
    assert torch.allclose(tr.xb, xb * p.lam + xb[perm] * (1 - p.lam))
    # lambda comes from (seed, counter): a fresh object at the same counter gives the same batch
    again = MixUpCutMix(3, mixup_alpha=0.4, seed=7)
    assert again.params_for(0, 8, 16, 16).lam == p.lam
    assert MixUpCutMix(3, mixup_alpha=0.4, seed=8).params_for(0, 8, 16, 16).lam != p.lam
    # resume: the counter travels in state_dict
    again.load_state_dict(cb.state_dict())
    assert again.params_for(again.counter, 8, 16, 16).lam == cb.params_for(1, 8, 16, 16).lam
    cb.after_batch(tr)
    assert tr.yb is yb and tr.xb is xb


def test_cutmix_lambda_is_the_pasted_area():
    xb, yb = torch.rand(6, 3, 20, 24), torch.tensor([0, 1, 2, 0, 1, 2])
    cb = MixUpCutMix(3, cutmix_alpha=1.0, seed=3)
    for counter in range(20):
        p = cb.params_for(counter, 6, 20, 24)
        y0, y1, x0, x1 = p.box
        assert p.mode == "cutmix"
        assert p.lam == pytest.approx(1 - (y1 - y0) * (x1 - x0) / (20 * 24))
        x, y = cb.mix(xb, yb, p)
        pasted = torch.zeros(20, 24, dtype=torch.bool)
        pasted[y0:y1, x0:x1] = True
        perm = torch.as_tensor(p.perm)
        assert torch.equal(x[:, :, pasted], xb[perm][:, :, pasted])
        assert torch.equal(x[:, :, ~pasted], xb[:, :, ~pasted])
        assert torch.allclose(y.sum(1), torch.ones(6))
    both = MixUpCutMix(3, mixup_alpha=0.4, cutmix_alpha=1.0, seed=0)
    modes = {both.params_for(c, 4, 8, 8).mode for c in range(40)}
    assert modes == {"mixup", "cutmix"}


def test_mixup_leaves_validation_alone():
    xb, yb = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    tr = StandIn(xb=xb, yb=yb, training=False)
    MixUpCutMix(3, mixup_alpha=0.4).before_batch(tr)
    assert tr.xb is xb and tr.yb is yb


# ----------------------------------------------------------------------------- progressive resizing
def test_progressive_sizes_per_epoch():
    assert size_schedule(10, 128, 0, 0.75) == [64, 72, 80, 88, 104, 112, 120, 128, 128, 128]
    assert size_schedule(4, 64, 0, 1.0) == [32, 40, 56, 64]
    assert size_schedule(1, 64) == [64]
    assert size_schedule(3, 24)[0] == 16  # minimum 16
    loaders = SimpleNamespace(image_size=128), SimpleNamespace(image_size=128)
    tr = StandIn(train_loader=loaders[0], valid_loader=loaders[1], n_epochs=4)
    cb = ProgressiveResize(128, 0, 1.0)
    cb.before_fit(tr)
    seen = []
    for e in range(4):
        tr.epoch = e
        cb.before_epoch(tr)
        seen.append(tr.train_loader.image_size)
        assert tr.valid_loader.image_size == 128
    assert seen == size_schedule(4, 128, 0, 1.0) and seen[0] == 64 and seen[-1] == 128
    assert len(tr.lines) == 4
    tr.train_loader.image_size = 64
    cb.after_fit(tr)
    assert tr.train_loader.image_size == 128


# ----------------------------------------------------------------------------- freeze / unfreeze
def test_freeze_then_unfreeze_with_discriminative_rates():
    model, groups = small_model()
    tr = StandIn(model=model, layer_groups=groups, lr_mults=[1.0] * 3, n_epochs=3)
    cb = FreezeUnfreeze(freeze_epochs=1, lr_mult=100)
    cb.before_fit(tr)
    cb.before_epoch(tr)
    assert tr.lr_mults == [0.0, 0.0, 1.0]
    assert not model[0].weight.requires_grad and not model[3].weight.requires_grad
    assert model[1].weight.requires_grad  # BatchNorm stays trainable
    assert model[6].weight.requires_grad
    tr.epoch = 1
    cb.before_epoch(tr)
    assert all(p.requires_grad for p in model.parameters())
    assert tr.lr_mults == pytest.approx([0.01, 0.1, 1.0])
    assert discriminative_mults(5, 10_000) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    # resume at epoch 0 re-freezes; a stop mid-way leaves everything trainable
    cb2 = FreezeUnfreeze(freeze_epochs=2, lr_mult=100)
    cb2.load_state_dict({"epoch": 0})
    tr.epoch = 0
    cb2.before_fit(tr)
    assert not model[0].weight.requires_grad
    cb2.after_cancel_fit(tr)
    cb2.after_fit(tr)
    assert all(p.requires_grad for p in model.parameters())


def test_discriminative_rates_without_freezing_for_pretrained(tmp_path):
    w = tmp_path / "w.pth"
    w.write_bytes(b"x")
    cbs = build_callbacks(cfg_with(**{"model.weights": f'"{w}"'}), 3)
    cb = next(c for c in cbs if isinstance(c, FreezeUnfreeze))
    model, groups = small_model()
    tr = StandIn(model=model, layer_groups=groups, lr_mults=[1.0] * 3)
    cb.before_fit(tr)
    cb.before_epoch(tr)
    assert all(p.requires_grad for p in model.parameters())
    assert tr.lr_mults == pytest.approx([0.01, 0.1, 1.0])


# ----------------------------------------------------------------------------- early stopping
@pytest.mark.parametrize("monitor,values", [("valid_loss", [1.0, 0.8, 0.9, 0.85, 0.95]),
                                            ("accuracy", [0.5, 0.6, 0.55, 0.6, 0.58])])
def test_early_stopping_after_patience(monitor, values):
    cb = EarlyStopping(monitor, patience=3)
    tr = StandIn()
    for e, v in enumerate(values[:4]):
        tr.epoch, tr.metrics = e, {monitor: v}
        cb.after_epoch(tr)
    assert cb.wait == 2 and tr.stop_reason == ""
    resumed = EarlyStopping(monitor, patience=3)
    resumed.load_state_dict(cb.state_dict())
    tr.metrics = {monitor: values[4]}
    with pytest.raises(CancelFit):
        resumed.after_epoch(tr)
    assert tr.stop_reason == "early_stopped"
    assert not EarlyStopping(monitor, 1).improved(math.nan)


# ----------------------------------------------------------------------------- with the real Trainer
def real_trainer(callbacks=(), control=None, **over):
    from workbench.train.trainer import Trainer
    torch.manual_seed(0)
    cfg = cfg_with(**{"model.channels_last": "false", "train.lr": 0.01, "data.image_size": 16, **over})
    x = torch.randn(24, 3, 16, 16)
    y = torch.arange(24) % 3
    x[:, 0] += y[:, None, None].float()
    model, _ = small_model()
    return Trainer(model, TensorLoader(x, y, 4, True), TensorLoader(x[:8], y[:8], 4, False), cfg,
                   callbacks=list(callbacks), control=control)


class Probe(Callback):
    """Records what the batch tricks did, epoch by epoch."""
    order = 50

    def __init__(self):
        self.sizes, self.soft, self.frozen = [], 0, []

    def before_train(self, trainer):
        self.sizes.append(trainer.train_loader.image_size)
        self.frozen.append(not trainer.model[0].weight.requires_grad)

    def after_loss(self, trainer):
        self.soft += int(trainer.yb.is_floating_point())


def test_tricks_in_a_real_fit():
    cfg = cfg_with(**{"tricks.mixup": 0.4, "tricks.cutmix": 1.0, "tricks.label_smoothing": 0.1,
                      "tricks.progressive_resize": "true", "tricks.prog_end_pct": 1.0,
                      "tricks.freeze_epochs": 1, "tricks.early_stop_patience": 5, "data.image_size": 32})
    probe = Probe()
    tr = real_trainer([*build_callbacks(cfg, 3), probe], **{"tricks.freeze_epochs": 1})
    body_before = tr.model[0].weight.detach().clone()
    head_before = tr.model[6].weight.detach().clone()
    first = {}

    class AfterFirstEpoch(Callback):
        def after_epoch(self, trainer):
            if trainer.epoch == 0:
                first["body"] = trainer.model[0].weight.detach().clone()
                first["head"] = trainer.model[6].weight.detach().clone()
    tr.add_callback(AfterFirstEpoch())
    assert tr.fit(3) == "completed"
    assert probe.sizes == [16, 24, 32]
    assert probe.frozen == [True, False, False]
    assert torch.equal(first["body"], body_before)          # frozen epoch: body untouched
    assert not torch.equal(first["head"], head_before)      # ... head trained
    assert not torch.equal(tr.model[0].weight, body_before)  # unfrozen afterwards
    assert probe.soft == 3 * len(tr.train_loader)          # every training batch mixed
    assert len(tr.layer_groups) >= 2
    assert tr.lr_mults == pytest.approx(discriminative_mults(len(tr.layer_groups), 100))
    assert tr.train_loader.image_size == 32 and all(p.requires_grad for p in tr.model.parameters())


def test_stop_mid_epoch_restores_mixup_and_freeze():
    control = RunControl()

    class StopAt(Callback):
        order = 60

        def after_batch(self, trainer):
            if trainer.iter == 2:
                control.request_stop()
    mix = MixUpCutMix(3, mixup_alpha=0.4, cutmix_alpha=1.0, seed=0)
    freeze = FreezeUnfreeze(freeze_epochs=2, lr_mult=100)
    tr = real_trainer([mix, freeze, StopAt()], control=control)
    assert tr.fit(3) == "cancelled" and tr.stop_reason == "cancelled"
    assert all(p.requires_grad for p in tr.model.parameters())
    assert not tr.yb.is_floating_point() and mix._orig is None
    assert mix.state_dict() == {"counter": 3}


def test_early_stopping_in_a_real_fit():
    class FlatLoss(Callback):
        def after_validate(self, trainer):
            trainer.metrics["valid_loss"] = 1.0
    es = EarlyStopping("valid_loss", patience=2)
    tr = real_trainer([FlatLoss(), es])
    assert tr.fit(6) == "early_stopped"
    assert tr.epoch == 2 and es.wait == 2 and len(tr.history) == 3


def test_the_loss_used_in_training_is_the_one_build_trainer_made(shapes_dir):
    """Label smoothing and class weights live in one loss, made once by build_trainer; no callback swaps it."""
    import json

    from workbench.data import open_dataset
    from workbench.train.run import build_trainer
    from workbench.train.tricks import SmoothedCrossEntropy
    cfg = RunConfig().with_overrides([f"data.path={json.dumps(str(shapes_dir))}", "data.image_size=32",
                                      "data.batch_size=24", "tricks.label_smoothing=0.2",
                                      'tricks.class_balance="loss"', "model.channels_last=false"])
    tr = build_trainer(cfg, open_dataset(cfg.data, cfg.seed))
    made = tr.loss_func
    assert isinstance(made, SmoothedCrossEntropy) and made.label_smoothing == 0.2 and made.weight is not None
    seen = []

    class LossProbe(Callback):
        def after_loss(self, trainer):
            seen.append((trainer.loss_func, float(trainer.loss.detach()),
                         float(torch.nn.functional.cross_entropy(trainer.pred.detach().float(), trainer.yb,
                                                                 weight=made.weight, label_smoothing=0.2))))
    tr.add_callback(LossProbe())
    assert tr.fit(1) == "completed"
    assert seen and all(fn is made for fn, _, _ in seen)
    assert [loss for _, loss, _ in seen] == pytest.approx([ref for _, _, ref in seen], rel=1e-5)
    assert tr.loss_func is made
