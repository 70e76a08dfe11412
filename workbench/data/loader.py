"""BatchLoader: batches straight from the presized memmap cache, augmented on the device.

Background threads prepare the next batches (index the memmap -> uint8 tensor -> pinned memory on
CUDA -> device -> augment or centre crop -> normalize) while the caller computes; batches arrive in
order. Order and augmentation are functions of (seed, epoch, rank, batch index), whatever thread
prepares a batch; ranks get disjoint shards of one global order (DistributedSampler semantics).
"""
from __future__ import annotations

import math
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

import numpy as np
import torch

from .augment import IMAGENET_MEAN, IMAGENET_STD, BatchAugment, center_crop
from ..runtime.device import keep_freed_memory
from .cache import PresizeCache


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1, np.uint64)[0] >> 1)


MIN_FULL_BATCHES = 4   # fewer full batches than this: a training epoch keeps its short last batch


def keeps_short_batch(n_images: int, batch_size: int) -> bool:
    """Whether a training epoch of ``n_images`` keeps its short last batch instead of dropping it.

    Dropping it (``drop_last``) spares batch-norm a tiny batch at a cost of a few images per epoch, the
    usual trade with many batches. With fewer than MIN_FULL_BATCHES full batches the short one is a
    large share of the images (64 of 78 in one batch dropped 14 every epoch) and another step is worth
    more than an even batch size: it is kept, unless it holds a single image (a batch of one breaks
    batch-norm layers in training)."""
    full, rest = divmod(int(n_images), max(1, int(batch_size)))
    return rest > 1 and full < MIN_FULL_BATCHES


def batches_per_epoch(n_images: int, batch_size: int, drop_last: bool = True) -> int:
    """Batches in an epoch of ``n_images``: a training loader (``drop_last``) drops a short last batch
    unless ``keeps_short_batch`` says it is needed, and always keeps one."""
    n, bs = int(n_images), max(1, int(batch_size))
    if n == 0:
        return 0
    return max(1, n // bs) if drop_last and not keeps_short_batch(n, bs) else math.ceil(n / bs)


class BatchLoader:
    """Iterate (x, y) batches over ``rows`` of a PresizeCache; see the module docstring."""

    def __init__(self, cache: PresizeCache, rows: np.ndarray, labels: np.ndarray, batch_size: int, *,
                 train: bool, image_size: int, device: torch.device, augment: BatchAugment | None = None,
                 seed: int = 0, drop_last: bool | None = None, channels_last: bool = True,
                 sample_weights: np.ndarray | None = None, rank: int = 0, world_size: int = 1,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, workers: int | None = None, valid_crop: float = 1.0) -> None:
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
        self.valid_crop = float(valid_crop)  # centre crop of batches that are not augmented
        self.epoch = 0
        self.workers = workers  # prefetch threads; None = 2 on the CPU (single-threaded each), 1 on a GPU
        keep_freed_memory()  # batch buffers are reused instead of page-faulted afresh every step

    # ----------------------------------------------------------------------- order
    def set_epoch(self, epoch: int) -> None:
        """Shuffle order and augmentation randomness become a function of (seed, epoch)."""
        self.epoch = int(epoch)

    @property
    def n_samples(self) -> int:
        """Images per epoch for this rank."""
        return math.ceil(len(self.rows) / self.world_size)

    def __len__(self) -> int:
        return batches_per_epoch(self.n_samples, self.batch_size, self.drop_last)

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
        if self.train and self.augment is not None and self.augment.cfg.enabled:
            x = self.augment.transform(x, image_size, gen, self.mean, self.std, self.channels_last)
        else:
            x = center_crop(x, image_size, self.mean, self.std, self.channels_last, self.valid_crop)
        return x, y, rows


_THREADS_LOCK = threading.Lock()


def _one_torch_thread() -> None:
    """Make torch ops of the calling (prefetch) thread single-threaded, leaving the process-wide
    setting as it was. Several single-threaded workers beat one multi-threaded one here: batch
    transforms are many short ops, and OpenMP barriers stall badly when the cores are also busy
    with training (or with other programs)."""
    with _THREADS_LOCK:
        prev = torch.get_num_threads()
        if prev == 1:
            return
        torch.set_num_threads(1)  # this thread's OpenMP setting, and (as a side effect) the global one
        fix = threading.Thread(target=torch.set_num_threads, args=(prev,), name="BatchLoader-threads")
        fix.start()  # restore the global default from another thread, keeping this thread's 1
        fix.join()


class _Epoch:
    """One pass over the loader. Batch boundaries are cut here in order (reading batch_size and
    image_size afresh for each batch); a small thread pool prepares the next batches while the
    caller computes, and they are delivered in order. Closing (or abandoning) the pass cancels
    what is pending and waits for the pool's threads."""

    def __init__(self, loader: BatchLoader) -> None:
        self._loader = loader
        self._order = loader.order()
        self._start = 0
        self._index = 0
        self._pending: deque[Future] = deque()
        cpu = loader.device.type == "cpu"
        workers = loader.workers or (min(2, os.cpu_count() or 1) if cpu else 1)
        self._depth = workers + 1
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="BatchLoader-prefetch",
                                        initializer=_one_torch_thread if cpu else None)
        self._closed = False
        self._fill()

    def _next_positions(self) -> np.ndarray | None:
        ld, n = self._loader, len(self._order)
        if self._start >= n:
            return None
        bs = max(1, ld.batch_size)
        if ld.drop_last and n - self._start < bs and self._index > 0 and not keeps_short_batch(n, bs):
            return None
        pos = self._order[self._start:self._start + bs]
        self._start += len(pos)
        return pos

    def _fill(self) -> None:
        ld = self._loader
        while len(self._pending) < self._depth:
            pos = self._next_positions()
            if pos is None:
                return
            gen = None
            if ld.train and ld.augment is not None:  # per-batch stream: same result whichever thread runs it
                gen = torch.Generator().manual_seed(_seed(ld.seed, ld.epoch, ld.rank, self._index))
            self._pending.append(self._pool.submit(ld._make_batch, pos, gen, ld.image_size))
            self._index += 1

    def __iter__(self) -> "_Epoch":
        return self

    def __next__(self):
        if self._closed or not self._pending:
            self.close()
            raise StopIteration
        fut = self._pending.popleft()
        try:
            item = fut.result()
        except BaseException:
            self.close()
            raise
        self._fill()
        return item

    def close(self) -> None:
        """Cancel pending batches and wait for the prefetch threads (safe to call more than once)."""
        if self._closed:
            return
        self._closed = True
        for f in self._pending:
            f.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
