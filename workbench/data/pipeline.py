"""From a scanned Dataset and a RunConfig to the training and validation BatchLoaders."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .augment import BatchAugment
from ..config import RunConfig, norm_stats
from ..runtime.paths import cache_root
from .cache import PresizeCache
from .loader import MIN_FULL_BATCHES, BatchLoader, batches_per_epoch
from .types import TRAIN, VALID, Dataset, Item, Problem


@dataclass
class DataBundle:
    train: BatchLoader
    valid: BatchLoader
    cache: PresizeCache
    classes: tuple
    train_items: list[Item]
    valid_items: list[Item]
    skipped: list[Problem] = field(default_factory=list)  # files the cache could not decode


def class_balance_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-sample weights inverse to the frequency of its class (each class drawn equally often)."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return 1.0 / counts[labels] if len(labels) else np.zeros(0)


def steps_per_epoch(ds: Dataset, cfg: RunConfig) -> int:
    """Training batches per epoch, as ``len(build_loaders(ds, cfg).train)`` counts them (the training
    split, the batch size, a short last batch dropped) without building anything: the schedule preview,
    the plan and the trainer's schedule use this one number (100 for an empty dataset)."""
    return train_steps(len(ds.train), cfg.data.batch_size)


def train_steps(n_train: int, batch_size: int) -> int:
    """Training batches per epoch for ``n_train`` training images (100 for none): ``steps_per_epoch``
    once the training images are counted (the app counts them once per scan, not per edit)."""
    return batches_per_epoch(n_train, batch_size) if n_train else 100


def batch_warning(n_train: int, batch_size: int) -> str:
    """One sentence when the batch size leaves at most one full batch of the training images (an
    epoch of one or two steps: the model updates its weights a handful of times in a whole run), with
    a batch size that gives MIN_FULL_BATCHES steps; "" otherwise."""
    n, bs = int(n_train), int(batch_size)
    if n < 2 or n // max(1, bs) >= 2:
        return ""
    steps = batches_per_epoch(n, bs)
    if bs >= n:
        head = (f"data.batch_size: {bs} is at least the {n} training images, so every epoch is a single step "
                "(one weight update)")
    else:
        sizes = f"{bs} + {n - bs}" if steps > 1 else f"{bs}"
        head = (f"data.batch_size: batches of {bs} of the {n} training images make every epoch {steps} step"
                f"{'s' if steps != 1 else ''} ({sizes} images), too few weight updates")
    better = enough_steps_batch(n)
    if better < 2:
        return head
    return f"{head}; a batch size of {better} gives {batches_per_epoch(n, better)} steps per epoch"


def enough_steps_batch(n_train: int) -> int:
    """The largest power of two that leaves MIN_FULL_BATCHES full batches of ``n_train`` images (1 when
    none does): the batch size ``batch_warning`` proposes and Suggest falls back to."""
    return 1 << max(0, (int(n_train) // MIN_FULL_BATCHES).bit_length() - 1)


def batch_warnings(ds: Dataset, cfg: RunConfig) -> list[str]:
    """The recipe check's words about the batch size for this dataset (Recipe page, ``train --check``)."""
    w = batch_warning(len(ds.train), cfg.data.batch_size)
    return [w] if w else []


def build_loaders(ds: Dataset, cfg: RunConfig, device: torch.device, sink=None, control=None,
                  rank: int = 0, world_size: int = 1) -> DataBundle:
    """One presized cache for all train + valid items, then the two loaders.

    Items the cache could not decode are left out of the loaders and listed in ``skipped``.
    """
    train_items, valid_items = ds.split(TRAIN), ds.split(VALID)
    items = train_items + valid_items
    cache = PresizeCache.build([it.path for it in items], cfg.effective_presize,
                               cache_root(cfg.data.cache_dir), sink=sink, control=control)
    skipped = [Problem(path=items[i].path, kind="unreadable",
                       message=cache.errors.get(i, f"{items[i].path}: cannot decode image"))
               for i in np.flatnonzero(~cache.ok)]
    n_train = len(train_items)
    rows_train = np.array([i for i in range(n_train) if cache.ok[i]], dtype=np.int64)
    rows_valid = np.array([i for i in range(n_train, len(items)) if cache.ok[i]], dtype=np.int64)
    labels = np.array([it.label for it in items], dtype=np.int64)
    weights = None
    if cfg.tricks.class_balance == "sampler" and len(rows_train):
        weights = class_balance_weights(labels[rows_train], len(ds.classes))
    mean, std = norm_stats(cfg)
    common = dict(image_size=cfg.data.image_size, device=torch.device(device), seed=cfg.seed, mean=mean, std=std,
                  channels_last=cfg.model.channels_last, rank=rank, world_size=world_size)
    train = BatchLoader(cache, rows_train, labels[rows_train], cfg.data.batch_size, train=True,
                        augment=BatchAugment(cfg.augment), sample_weights=weights,
                        valid_crop=cfg.data.valid_crop, **common)  # the framing when augmentation is off
    valid = BatchLoader(cache, rows_valid, labels[rows_valid], cfg.data.batch_size, train=False,
                        valid_crop=cfg.data.valid_crop, **common)
    return DataBundle(train=train, valid=valid, cache=cache, classes=tuple(ds.classes),
                      train_items=[items[i] for i in rows_train], valid_items=[items[i] for i in rows_valid],
                      skipped=skipped)
