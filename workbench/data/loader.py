"""BatchLoader: batches straight from the presized memmap cache, augmented on the device.

A background thread prepares the next batches (index the memmap -> uint8 tensor -> pinned memory on
CUDA -> device -> augment or centre crop -> normalize) while the caller computes. Order and
augmentation are functions of (seed, epoch, rank); ranks get disjoint shards of one global order.
"""
from __future__ import annotations

import math
import queue
import threading
from typing import Iterator

import numpy as np
import torch

from ..augment import IMAGENET_MEAN, IMAGENET_STD, BatchAugment, center_crop
from .cache import PresizeCache

PREFETCH = 2  # batches prepared ahead of the consumer


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1, np.uint64)[0] >> 1)


class BatchLoader:
    """Iterate (x, y) batches over ``rows`` of a PresizeCache; see the module docstring."""

    def __init__(self, cache: PresizeCache, rows: np.ndarray, labels: np.ndarray, batch_size: int, *,
                 train: bool, image_size: int, device: torch.device, augment: BatchAugment | None = None,
                 seed: int = 0, drop_last: bool | None = None, channels_last: bool = True,
                 sample_weights: np.ndarray | None = None, rank: int = 0, world_size: int = 1,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD) -> None:
        self.cache = cache
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.rows.shape != self.labels.shape:
            raise ValueError(f"rows ({self.rows.shape}) and labels ({self.labels.shape}) differ in length")
        if len(self.rows) and (self.rows.min() < 0 or self.rows.max() >= len(cache)):
            raise ValueError("rows index outside the cache")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.batch_size = int(batch_size)
        self.train = train
        self.image_size = int(image_size)
        self.device = torch.device(device)
        self.augment = augment
        self.seed = seed
        self.drop_last = train if drop_last is None else drop_last
        self.channels_last = channels_last
        self.sample_weights = None
        if sample_weights is not None:
            w = np.asarray(sample_weights, dtype=np.float64)
            if w.shape != self.rows.shape or (w < 0).any() or w.sum() <= 0:
                raise ValueError("sample_weights must be non-negative, one per row, not all zero")
            self.sample_weights = w / w.sum()
        self.rank, self.world_size = rank, world_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.epoch = 0

    # ----------------------------------------------------------------------- order
    def set_epoch(self, epoch: int) -> None:
        """Shuffle order and augmentation randomness become a function of (seed, epoch)."""
        self.epoch = int(epoch)

    @property
    def n_samples(self) -> int:
        """Images per epoch for this rank."""
        return math.ceil(len(self.rows) / self.world_size)

    def __len__(self) -> int:
        n, bs = self.n_samples, max(1, self.batch_size)
        if n == 0:
            return 0
        return max(1, n // bs) if self.drop_last else math.ceil(n / bs)

    def order(self) -> np.ndarray:
        """Positions into ``rows`` this rank visits this epoch (DistributedSampler semantics)."""
        n = len(self.rows)
        if n == 0:
            return np.zeros(0, np.int64)
        if self.train:
            rng = np.random.default_rng(_seed(self.seed, self.epoch))
            if self.sample_weights is not None:
                idx = rng.choice(n, size=n, replace=True, p=self.sample_weights)
            else:
                idx = rng.permutation(n)
        else:
            idx = np.arange(n)
        total = self.n_samples * self.world_size
        if total > n:  # pad by wrapping so every rank gets the same number of samples
            idx = np.concatenate([idx, np.resize(idx, total - n)])
        return idx[self.rank:total:self.world_size]

    # ----------------------------------------------------------------------- iteration
    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        ep = _Epoch(self)
        try:
            for x, y, _ in ep:
                yield x, y
        finally:
            ep.close()

    def iter_with_rows(self) -> "_Epoch":
        """Yield (x, y, rows): rows are the cache indices (numpy) of the images in the batch."""
        return _Epoch(self)

    def _make_batch(self, pos: np.ndarray, gen: torch.Generator | None, image_size: int):
        if image_size < 1:
            raise ValueError(f"BatchLoader.image_size must be a positive number of pixels, got {image_size}")
        rows = self.rows[pos]
        # memmap fancy indexing reads the rows in one go (sorted reads are friendlier to the disk)
        srt = np.argsort(rows, kind="stable")
        arr = np.empty((len(rows),) + self.cache.images.shape[1:], np.uint8)
        arr[srt] = self.cache.images[rows[srt]]
        x = torch.from_numpy(arr)
        y = torch.from_numpy(self.labels[pos])
        cuda = self.device.type == "cuda"
        if cuda:
            x, y = x.pin_memory(), y.pin_memory()
        x = x.to(self.device, non_blocking=cuda)
        y = y.to(self.device, non_blocking=cuda)
        if self.train and self.augment is not None:
            x = self.augment.transform(x, image_size, gen, self.mean, self.std, self.channels_last)
        else:
            x = center_crop(x, image_size, self.mean, self.std, self.channels_last)
        return x, y, rows


class _Epoch:
    """One pass over the loader, fed by a prefetch thread that stops when the pass is abandoned."""

    _SENTINEL = object()

    def __init__(self, loader: BatchLoader) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=PREFETCH)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=_produce, args=(loader, self._queue, self._stop),
                                        name="BatchLoader-prefetch", daemon=True)
        self._thread.start()

    def __iter__(self) -> "_Epoch":
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _Epoch._SENTINEL:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        """Stop the prefetch thread and wait for it (safe to call more than once)."""
        self._done = True
        self._stop.set()
        while self._thread.is_alive():
            try:  # unblock a producer waiting on a full queue
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def thread(self) -> threading.Thread:
        return self._thread


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _produce(loader: BatchLoader, q: queue.Queue, stop: threading.Event) -> None:
    """Producer: walks this rank's order, reading batch_size / image_size afresh for each batch."""
    try:
        order = loader.order()
        gen = None
        if loader.train and loader.augment is not None:
            gen = torch.Generator().manual_seed(_seed(loader.seed, loader.epoch, loader.rank, 1))
        start, n, yielded = 0, len(order), 0
        while start < n and not stop.is_set():
            bs = max(1, loader.batch_size)
            if loader.drop_last and n - start < bs and yielded > 0:
                break
            pos = order[start:start + bs]
            start += len(pos)
            if not _put(q, loader._make_batch(pos, gen, loader.image_size), stop):
                return
            yielded += 1
        _put(q, _Epoch._SENTINEL, stop)
    except BaseException as e:  # handed to the consumer, which re-raises it
        _put(q, e, stop)
