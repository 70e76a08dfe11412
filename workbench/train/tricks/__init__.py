"""Training tricks as callbacks: MixUp / CutMix, label smoothing and class weights (loss),
progressive resizing, freeze / unfreeze with discriminative rates, early stopping, weight
averaging (EMA)."""
from __future__ import annotations

from ...config import RunConfig
from ..callback import Callback
from .early_stop import EarlyStopping
from .ema import WeightAverage, auto_decay
from .freeze import FreezeUnfreeze, discriminative_mults
from .mixup import MixUpCutMix
from .progressive import ProgressiveResize, size_schedule
from .smoothing import SmoothedCrossEntropy, class_weights, make_loss

__all__ = ["build_callbacks", "make_loss", "MixUpCutMix", "ProgressiveResize",
           "FreezeUnfreeze", "EarlyStopping", "SmoothedCrossEntropy",
           "WeightAverage", "auto_decay", "class_weights", "discriminative_mults", "size_schedule"]


def build_callbacks(cfg: RunConfig, n_classes: int) -> list[Callback]:
    """The trick callbacks the config asks for (empty for the defaults). The LR / momentum
    schedule is not included (the trainer adds its ParamScheduler), nor the loss (label smoothing,
    class weights: :func:`make_loss`, which ``build_trainer`` hands to the Trainer)."""
    t = cfg.tricks
    cbs: list[Callback] = []
    if t.mixup > 0 or t.cutmix > 0:
        cbs.append(MixUpCutMix(n_classes, t.mixup, t.cutmix, seed=cfg.seed))
    if t.progressive_resize:
        cbs.append(ProgressiveResize(cfg.data.image_size, t.prog_start_size, t.prog_end_pct))
    starts_trained = bool(cfg.model.weights) or cfg.model.pretrained.lower() != "none"
    if t.freeze_epochs > 0 or ((t.lr_mult > 1 or t.head_lr_mult > 1) and starts_trained):
        cbs.append(FreezeUnfreeze(t.freeze_epochs, t.lr_mult, head_lr_mult=t.head_lr_mult))
    if t.ema:
        cbs.append(WeightAverage(t.ema_decay))
    if t.early_stop_patience > 0:
        cbs.append(EarlyStopping(t.monitor, t.early_stop_patience))
    return sorted(cbs, key=lambda c: c.order)
