"""Freeze / unfreeze / fine-tune with discriminative learning rates.

For the first ``freeze_epochs`` epochs only the head (last layer group) trains: every other
parameter gets ``requires_grad = False`` and its group's ``lr_mults`` entry is 0. BatchNorm (and
other norm) layers are kept trainable by choice (as in fastai and Lightning's ``train_bn``): their
parameters keep ``requires_grad = True`` and the layers stay in train mode, so their running
statistics adapt to the new data while the rest of the body is frozen; with the frozen groups'
rate at 0 their affine parameters only move once the body is unfrozen.

After unfreezing, ``lr_mults`` rise geometrically from ``1 / lr_mult`` (first group) to 1 (head);
with ``head_lr_mult`` > 1 every body group's rate is further divided by it, so the new head trains at
that many times the body's rate (the d2l fine-tuning recipe: 10). Discriminative rates are also used
without freezing when ``lr_mult > 1`` and pretrained weights are loaded. ``trainer.lr_mults`` has one entry per layer group (``trainer.layer_groups``).
"""
from __future__ import annotations

import torch.nn as nn

from ..callback import Callback

NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm,
              nn.modules.instancenorm._InstanceNorm)


def discriminative_mults(n_groups: int, lr_mult: float) -> list[float]:
    """Geometric rates from 1/lr_mult (first group) to 1.0 (last group, the head)."""
    if n_groups <= 1:
        return [1.0] * n_groups
    return [float(lr_mult ** (-(n_groups - 1 - i) / (n_groups - 1))) for i in range(n_groups)]


def norm_param_ids(model: nn.Module) -> set[int]:
    """ids of the parameters that belong to normalization layers."""
    return {id(p) for m in model.modules() if isinstance(m, NORM_TYPES) for p in m.parameters(recurse=False)}


def freeze_to(model: nn.Module, layer_groups: list, n: int, train_bn: bool = True) -> None:
    """Freeze the first ``n`` layer groups (norm layers stay trainable when ``train_bn``); unfreeze the rest."""
    norms = norm_param_ids(model) if train_bn else set()
    for i, group in enumerate(layer_groups):
        for p in group:
            p.requires_grad_(i >= n or id(p) in norms)


def unfreeze(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(True)


class FreezeUnfreeze(Callback):
    """Fine-tune: head only for ``freeze_epochs``, then everything with discriminative rates."""
    order = -10

    def __init__(self, freeze_epochs: int = 0, lr_mult: float = 1.0, discriminative: bool = True,
                 train_bn: bool = True, head_lr_mult: float = 1.0) -> None:
        self.freeze_epochs = int(freeze_epochs)
        self.lr_mult = float(lr_mult)
        self.head_lr_mult = max(1.0, float(head_lr_mult))
        self.discriminative = bool(discriminative)
        self.train_bn = bool(train_bn)
        self.epoch = 0       # epoch being (or last) trained; restored on resume
        self.frozen = False

    def mults(self, n_groups: int, frozen: bool) -> list[float]:
        if frozen:
            return [0.0] * (n_groups - 1) + [1.0]
        m = discriminative_mults(n_groups, self.lr_mult) if self.discriminative and self.lr_mult > 1 \
            else [1.0] * n_groups
        return [v / self.head_lr_mult for v in m[:-1]] + m[-1:]

    def apply(self, trainer, epoch: int) -> None:
        """Set requires_grad and lr_mults for ``epoch``."""
        groups = trainer.layer_groups
        frozen = epoch < self.freeze_epochs and len(groups) > 1
        if frozen:
            freeze_to(trainer.model, groups, len(groups) - 1, self.train_bn)
        else:
            unfreeze(trainer.model)
        if frozen != self.frozen:
            if frozen:
                trainer.log(f"fine-tune: body frozen for {self.freeze_epochs} epoch(s), training the head")
            else:
                trainer.log("fine-tune: unfrozen; " + self.describe(len(groups)))
        self.frozen = frozen
        trainer.lr_mults = self.mults(len(groups), frozen)

    def describe(self, n_groups: int) -> str:
        m = self.mults(n_groups, False)
        return f"layer group rates x{m[0]:.3g} .. x{m[-1]:.3g}" if m else "no layer groups"

    def before_fit(self, trainer) -> None:
        self.frozen = False
        self.apply(trainer, max(int(getattr(trainer, "epoch", 0) or 0), self.epoch))

    def before_epoch(self, trainer) -> None:
        self.epoch = int(trainer.epoch)
        self.apply(trainer, self.epoch)

    def after_cancel_fit(self, trainer) -> None:
        unfreeze(trainer.model)

    def after_fit(self, trainer) -> None:
        unfreeze(trainer.model)
        if self.frozen:
            trainer.lr_mults = self.mults(len(trainer.layer_groups), False)
        self.frozen = False

    def state_dict(self) -> dict:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state.get("epoch", 0))
