"""Test-time augmentation: average n augmented passes (the run's own batch augmentation, seeded) and
blend with the plain pass: final = (1 - beta) * augmented mean + beta * plain.

The plain and augmented probabilities are kept separately, so the blend weight can be changed,
and accuracy plotted against it, without running the model again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ..data.augment import IMAGENET_MEAN, IMAGENET_STD, BatchAugment, center_crop
from ..config import AugmentConfig, RunConfig, TTAConfig, norm_stats
from ..runtime.control import RunControl
from ..runtime.device import autocast
from ..runtime.events import Progress
from ..analysis.interpret import open_valid


@dataclass
class TTAResult:
    plain_probs: np.ndarray      # float32 (N, C)
    aug_probs: np.ndarray        # float32 (N, C): mean of the augmented passes (== plain when n = 0)
    targets: np.ndarray          # int64 (N,)
    classes: tuple
    paths: list = field(default_factory=list)
    n_passes: int = 0

    def final(self, beta: float) -> np.ndarray:
        """(1 - beta) * augmented mean + beta * plain."""
        return ((1.0 - beta) * self.aug_probs + beta * self.plain_probs).astype(np.float32)

    def accuracy(self, beta: float | None = None) -> float:
        """Accuracy of the blend (beta None = the plain pass)."""
        probs = self.plain_probs if beta is None else self.final(beta)
        return float((probs.argmax(1) == self.targets).mean()) if len(self.targets) else 0.0


def accuracy_vs_beta(result: TTAResult, betas: Sequence[float]) -> np.ndarray:
    """Accuracy for each blend weight, computed from the stored probabilities."""
    return np.array([result.accuracy(float(b)) for b in betas], dtype=np.float64)


def fixed_and_broken(result: TTAResult, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(indices wrong without TTA but right with it, indices right without TTA but wrong with it)."""
    plain_ok = result.plain_probs.argmax(1) == result.targets
    tta_ok = result.final(beta).argmax(1) == result.targets
    return np.flatnonzero(~plain_ok & tta_ok), np.flatnonzero(plain_ok & ~tta_ok)


def tta_sizes(image_size: int, tta: TTAConfig) -> list[int]:
    """Output sizes of the augmented passes of one round (one per scale, rounded to multiples of 8)."""
    sizes = []
    for s in tta.scales or (1.0,):
        sizes.append(image_size if s == 1.0 else max(8, int(round(image_size * float(s) / 8)) * 8))
    return sizes


def tta_batch(logits_fn: Callable[[torch.Tensor], torch.Tensor], u8: torch.Tensor, image_size: int,
              tta: TTAConfig, augment: AugmentConfig, generator: torch.Generator,
              mean=None, std=None, sizes: Sequence[int] | None = None,
              crop: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Plain and augmented-mean probabilities for one uint8 (N, S, S, 3) batch of presized images
    (``crop``: the validation centre crop, RunConfig ``data.valid_crop``)."""
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if mean is None else (mean, std)
    plain = torch.softmax(logits_fn(center_crop(u8, image_size, mean, std, crop=crop)).float(), 1)
    if tta.n <= 0:
        p = plain.cpu().numpy()
        return p, p.copy()
    aug = BatchAugment(augment)
    total = torch.zeros_like(plain)
    count = 0
    for _ in range(tta.n):
        for size in (sizes or tta_sizes(image_size, tta)):
            total += torch.softmax(logits_fn(aug.transform(u8, size, generator, mean, std)).float(), 1)
            count += 1
    return plain.cpu().numpy(), (total / count).cpu().numpy()


@torch.no_grad()
def tta_predict(model: torch.nn.Module, cache, rows: Sequence[int], labels: Sequence[int], cfg: RunConfig,
                seed: int | None = None, classes: Sequence[str] = (), device="cpu", precision: str = "fp32",
                batch_size: int | None = None, sink: Callable | None = None,
                control: RunControl | None = None) -> TTAResult:
    """TTA over ``rows`` of a PresizeCache (``cache.images`` uint8 (N, S, S, 3)) with the run's config."""
    model.eval()
    device = torch.device(device)
    rows = np.asarray(rows, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    bs = batch_size or cfg.data.batch_size
    gen = torch.Generator().manual_seed(cfg.seed if seed is None else seed)
    size = cfg.data.image_size

    def logits_fn(x: torch.Tensor) -> torch.Tensor:
        with autocast(device, precision):
            return model(x)

    plains, augs = [], []
    n_batches = max(1, -(-len(rows) // bs))
    for b in range(0, len(rows), bs):
        if control is not None:
            control.check()
        u8 = torch.from_numpy(np.ascontiguousarray(cache.images[rows[b:b + bs]])).to(device)
        p, a = tta_batch(logits_fn, u8, size, cfg.tta, cfg.augment, gen, *norm_stats(cfg), crop=cfg.data.valid_crop)
        plains.append(p)
        augs.append(a)
        if sink is not None:
            sink(Progress("tta", b // bs + 1, n_batches))
    n_cls = len(classes) or (plains[0].shape[1] if plains else 0)
    plain = np.concatenate(plains) if plains else np.zeros((0, n_cls), np.float32)
    aug = np.concatenate(augs) if augs else plain.copy()
    paths = [cache.paths[r] for r in rows] if hasattr(cache, "paths") else []
    cls = tuple(classes) or tuple(str(i) for i in range(n_cls))
    return TTAResult(plain.astype(np.float32), aug.astype(np.float32), labels, cls, paths,
                     cfg.tta.n * len(tta_sizes(size, cfg.tta)))


def tta_run(run_dir, sink: Callable | None = None, control: RunControl | None = None, which: str = "best",
            device=None) -> TTAResult:
    """TTA of a run's model on its validation set (rows in the order of interpret_run's Predictions)."""
    model, info, bundle, dev, precision = open_valid(run_dir, which, sink, control, device)
    v = bundle.valid
    order = np.argsort(np.asarray(v.rows), kind="stable")
    return tta_predict(model, bundle.cache, np.asarray(v.rows)[order], np.asarray(v.labels)[order], info.config,
                       classes=info.classes, device=dev, precision=precision, sink=sink, control=control)
