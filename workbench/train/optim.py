"""Optimizers with weight decay split and layer-group bookkeeping.

Each layer group (see ``workbench.models.build.layer_groups``) becomes up to two optimizer param groups:
parameters with ``ndim > 1`` (weights of convs / linears) get weight decay; biases and norm weights
(``ndim <= 1``) get none. Every param group carries ``"layer_group"``: the index of its layer group,
so ``trainer.lr_mults`` (one entry per LAYER group) maps onto the param groups; the ParamScheduler
sets ``group["lr"] = schedule_lr * lr_scale * lr_mults[group["layer_group"]]``.
Momentum (AdamW / RAdam beta1, SGD momentum) is set per batch by the scheduler via ``set_momentum``.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn

OPTIMIZERS = ("adamw", "sgd", "radam")
BETA2 = 0.99  # fastai's default second moment for Adam-style optimizers


def split_param_groups(layer_groups: Sequence[Iterable[nn.Parameter]], lr: float, wd: float) -> list[dict]:
    """Param groups: per layer group a decay group and a no-decay group (empty ones skipped)."""
    groups = []
    for i, params in enumerate(layer_groups):
        params = list(params)
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        for ps, w in ((decay, wd), (no_decay, 0.0)):
            if ps:
                groups.append({"params": ps, "lr": lr, "weight_decay": w, "layer_group": i})
    return groups


def make_optimizer(name: str, param_groups: Sequence[Iterable[nn.Parameter]], lr: float, wd: float,
                   moms: Sequence[float] = (0.95, 0.85, 0.95)) -> torch.optim.Optimizer:
    """AdamW / SGD (Nesterov) / RAdam (decoupled decay) over layer groups, decay split as above."""
    name = name.lower()
    groups = split_param_groups(param_groups, lr, wd)
    mom = float(moms[0])
    if name == "adamw":
        return _fused_if_possible(torch.optim.AdamW, groups, lr=lr, betas=(mom, BETA2), weight_decay=wd)
    if name == "sgd":
        return _fused_if_possible(torch.optim.SGD, groups, lr=lr, momentum=mom, nesterov=True, weight_decay=wd)
    if name == "radam":
        return torch.optim.RAdam(groups, lr=lr, betas=(mom, BETA2), weight_decay=wd,
                                 decoupled_weight_decay=True)
    raise ValueError(f"unknown optimizer '{name}': use one of {', '.join(OPTIMIZERS)}")


def _fused_if_possible(cls, groups: list[dict], **kw) -> torch.optim.Optimizer:
    """The fused (one kernel per parameter) implementation where the parameters' device has one:
    on the CPU it halves the optimizer step (a tenth of a resnet18 training step); the result is
    the same update. Falls back to the default implementation elsewhere."""
    try:
        return cls(groups, fused=True, **kw)
    except (RuntimeError, TypeError):
        return cls(groups, **kw)


def set_momentum(group: dict, mom: float) -> None:
    """Set beta1 (Adam-style) or momentum (SGD) of one param group."""
    if "betas" in group:
        group["betas"] = (mom, group["betas"][1])
    elif "momentum" in group:
        group["momentum"] = mom


def get_momentum(group: dict) -> float:
    if "betas" in group:
        return float(group["betas"][0])
    return float(group.get("momentum", 0.0))
