"""Cross-entropy with label smoothing and optional class weights, for hard or soft targets."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ...config import RunConfig


def class_weights(class_counts: Sequence[int]) -> torch.Tensor:
    """Inverse-frequency weights normalized to mean 1 (a class with 0 images counts as 1)."""
    counts = torch.tensor([max(int(c), 1) for c in class_counts], dtype=torch.float32)
    w = 1.0 / counts
    return w / w.mean()


class SmoothedCrossEntropy:
    """``loss(pred, target)``: target is a LongTensor of class indices or float soft targets (N, C).

    Label smoothing also applies to soft targets (MixUp / CutMix), mixing them with the uniform
    distribution. With class weights, index targets are averaged by the weights of their classes
    (PyTorch's weighted mean); soft targets are averaged over the batch.
    """

    def __init__(self, label_smoothing: float = 0.0, weight: torch.Tensor | None = None) -> None:
        self.label_smoothing = float(label_smoothing)
        self.weight = weight
        self._cache: dict = {}

    def _weight_on(self, device: torch.device) -> torch.Tensor | None:
        if self.weight is None:
            return None
        key = str(device)
        if key not in self._cache:
            self._cache[key] = self.weight.to(device=device, dtype=torch.float32)
        return self._cache[key]

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.dtype in (torch.float16, torch.bfloat16):
            pred = pred.float()
        if target.is_floating_point():
            target = target.to(pred.dtype)
        return F.cross_entropy(pred, target, weight=self._weight_on(pred.device),
                               label_smoothing=self.label_smoothing)

    def __repr__(self) -> str:
        return (f"SmoothedCrossEntropy(label_smoothing={self.label_smoothing}, "
                f"weighted={self.weight is not None})")


def make_loss(cfg: RunConfig, class_counts: Sequence[int] | None = None) -> SmoothedCrossEntropy:
    """The training loss the config asks for: label smoothing and, with
    ``tricks.class_balance == "loss"``, inverse-frequency class weights (needs ``class_counts``)."""
    weight = None
    if cfg.tricks.class_balance == "loss":
        if not class_counts:
            raise ValueError("tricks.class_balance = 'loss' needs the training class counts")
        weight = class_weights(class_counts)
    return SmoothedCrossEntropy(cfg.tricks.label_smoothing, weight)
