"""BatchLoader and build_loaders: counts, order, sharding, weighting, resizing, prefetch thread."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.data.augment import IMAGENET_MEAN, IMAGENET_STD, BatchAugment, center_crop, normalize
from workbench.config import RunConfig
from workbench.data import cache as cache_mod
from workbench.data.cache import PresizeCache
from workbench.data.loader import BatchLoader
from workbench.data.pipeline import build_loaders
from workbench.data.types import Dataset, Item

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cache(shapes_dir, tmp_path_factory) -> PresizeCache:
    files = sorted(str(p) for p in Path(shapes_dir).rglob("*.png"))
    return PresizeCache.build(files, 32, tmp_path_factory.mktemp("lcache"))


def loader(cache, n=None, bs=16, train=True, **kw) -> BatchLoader:
    n = len(cache) if n is None else n
    rows = np.arange(n)
    labels = kw.pop("labels", rows % 3)
    kw.setdefault("augment", BatchAugment() if train else None)
    return BatchLoader(cache, rows, labels, bs, train=train, image_size=24, device=CPU, **kw)


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("BatchLoader-prefetch") and t.is_alive()]


def epoch_rows(ld: BatchLoader, epoch: int) -> list[int]:
    ld.set_epoch(epoch)
    return [int(r) for _, _, rows in ld.iter_with_rows() for r in rows]


def test_batch_counts_and_drop_last(cache):
    n = len(cache)  # 96
    tr = loader(cache, bs=20)      # four full batches: the short last one (16 images) is dropped
    assert tr.n_samples == n and len(tr) == 4
    sizes = [x.shape[0] for x, _ in tr]
    assert sizes == [20, 20, 20, 20]
    va = loader(cache, bs=40, train=False)
    assert len(va) == 3 and [x.shape[0] for x, _ in va] == [40, 40, 16]
    nodrop = loader(cache, bs=40, drop_last=False)
    assert [x.shape[0] for x, _ in nodrop] == [40, 40, 16]
    small = loader(cache, n=10, bs=64)  # fewer samples than a batch: one smaller batch, never nothing
    assert len(small) == 1 and [x.shape[0] for x, _ in small] == [10]


def test_a_short_last_batch_is_kept_when_dropping_it_leaves_too_few_steps(cache):
    """78 images in batches of 64 trained one batch of 64 per epoch and dropped 14 images every epoch;
    with fewer than four full batches the short last batch is kept (not a batch of one image)."""
    from workbench.data.loader import batches_per_epoch
    one = loader(cache, n=78, bs=64)
    assert len(one) == 2 and [x.shape[0] for x, _ in one] == [64, 14]
    seen = epoch_rows(one, 0)
    assert sorted(seen) == list(range(78))              # every image, every epoch
    few = loader(cache, bs=40)                           # 96 = 2 x 40 + 16: the 16 are kept
    assert len(few) == 3 and [x.shape[0] for x, _ in few] == [40, 40, 16]
    single = loader(cache, n=81, bs=40)                  # the short batch is one image: dropped
    assert len(single) == 2 and [x.shape[0] for x, _ in single] == [40, 40]
    assert batches_per_epoch(78, 64) == 2 and batches_per_epoch(96, 20) == 4 and batches_per_epoch(81, 40) == 2


def test_batches_are_normalized_channels_last(cache):
    va = loader(cache, bs=8, train=False)
    x, y, rows = next(iter(va.iter_with_rows()))
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (8, 3, 24, 24)
    assert x.is_contiguous(memory_format=torch.channels_last)
    ref = normalize(center_crop(torch.from_numpy(np.asarray(cache.images[rows])), 24), IMAGENET_MEAN, IMAGENET_STD)
    assert torch.allclose(x, ref, atol=1e-4)
    assert rows.tolist() == list(range(8))  # validation: in order


def test_order_deterministic_per_epoch_and_differs_across_epochs(cache):
    a, b = loader(cache, bs=16, seed=3), loader(cache, bs=16, seed=3)
    e0, e0b, e1 = epoch_rows(a, 0), epoch_rows(b, 0), epoch_rows(a, 1)
    assert e0 == e0b and e0 != e1
    assert len(set(e0)) == len(e0)  # a permutation, no repeats
    assert e0 != sorted(e0)
    # augmentation randomness follows (seed, epoch) too
    a.set_epoch(2)
    b.set_epoch(2)
    xa, _ = next(iter(a))
    xb, _ = next(iter(b))
    assert torch.equal(xa, xb)


def test_rows_match_labels(cache):
    labels = (np.arange(len(cache)) * 7) % 5
    ld = loader(cache, bs=16, labels=labels)
    for _, y, rows in ld.iter_with_rows():
        assert y.tolist() == labels[rows].tolist()


def test_image_size_change_needs_no_rebuild(cache, monkeypatch):
    monkeypatch.setattr(cache_mod, "decode_presized", lambda *a: (_ for _ in ()).throw(AssertionError))
    ld = loader(cache, bs=16)
    assert next(iter(ld))[0].shape[-1] == 24
    ld.image_size = 16
    assert next(iter(ld))[0].shape[-1] == 16
    ld.batch_size = 8
    assert next(iter(ld))[0].shape == (8, 3, 16, 16) and len(ld) == len(cache) // 8


def test_two_ranks_get_disjoint_covering_shards(cache):
    r0 = loader(cache, bs=16, rank=0, world_size=2, seed=1)
    r1 = loader(cache, bs=16, rank=1, world_size=2, seed=1)
    s0, s1 = epoch_rows(r0, 4), epoch_rows(r1, 4)
    assert len(r0) == len(r1) == 3 and len(s0) == len(s1) == 48
    full0 = r0.order(), r1.order()
    assert set(full0[0]).isdisjoint(full0[1])
    assert sorted(np.concatenate(full0).tolist()) == list(range(len(cache)))
    assert set(s0).isdisjoint(s1)
    # an odd count is padded so that both ranks have the same number of batches
    o0 = loader(cache, n=11, bs=2, rank=0, world_size=2, train=False)
    o1 = loader(cache, n=11, bs=2, rank=1, world_size=2, train=False)
    assert o0.n_samples == o1.n_samples == 6 and len(o0) == len(o1) == 3
    assert set(o0.order()) | set(o1.order()) == set(range(11))


def test_weighted_sampling_oversamples_rare_class(cache):
    n = len(cache)
    labels = np.zeros(n, np.int64)
    labels[:6] = 1  # 6 rare vs 90 common
    w = 1.0 / np.bincount(labels)[labels]
    ld = loader(cache, bs=40, labels=labels, sample_weights=w, seed=0)
    drawn = []
    for e in range(3):
        ld.set_epoch(e)
        drawn += [int(v) for _, y in ld for v in y]
    share = np.mean(np.array(drawn) == 1)
    assert 0.35 < share < 0.65  # ~0.5 instead of 0.05


def test_early_break_stops_prefetch_thread(cache):
    ld = loader(cache, bs=4)
    for _ in ld:
        assert prefetch_threads()
        break
    assert prefetch_threads() == []
    it = ld.iter_with_rows()
    next(it)
    it.close()
    assert prefetch_threads() == []
    with pytest.raises(RuntimeError):
        for _ in ld:
            raise RuntimeError("training step failed")
    assert prefetch_threads() == []


def test_worker_errors_reach_the_consumer(cache):
    ld = loader(cache, bs=4, train=False)
    ld.image_size = 0  # impossible size: the batch transform fails in the prefetch thread
    with pytest.raises(ValueError, match="image_size"):
        for _ in ld:
            pass
    assert prefetch_threads() == []


def _dataset(shapes_dir: Path, extra_bad: Path | None = None) -> Dataset:
    classes = ("circle", "square", "triangle")
    items = []
    for split in ("train", "valid"):
        for label, c in enumerate(classes):
            for p in sorted((shapes_dir / split / c).glob("*.png")):
                items.append(Item(str(p), label, split))
    if extra_bad is not None:
        items.append(Item(str(extra_bad), 0, "train"))
    return Dataset(root=str(shapes_dir), classes=classes, items=tuple(items))


def test_build_loaders(shapes_dir, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    ds = _dataset(Path(shapes_dir), bad)
    cfg = RunConfig().set("data.image_size", 24).set("data.batch_size", 16).set("data.cache_dir", str(tmp_path / "c"))
    cfg = cfg.set("tricks.class_balance", "sampler")
    b = build_loaders(ds, cfg, CPU)
    assert b.cache.presize == cfg.effective_presize
    assert [p.path for p in b.skipped] == [str(bad)] and str(bad) in b.skipped[0].message
    assert len(b.train_items) == 72 and len(b.valid_items) == 24 and b.classes == ds.classes
    assert b.train.sample_weights is not None and b.valid.sample_weights is None
    assert len(b.train) == 72 // 16 and len(b.valid) == 2
    x, y = next(iter(b.train))
    assert x.shape == (16, 3, 24, 24) and int(y.max()) < 3
    rows = np.concatenate([r for _, _, r in b.valid.iter_with_rows()])
    assert [b.cache.paths[r] for r in rows] == [it.path for it in b.valid_items]


def test_same_batches_whatever_the_number_of_workers(cache):
    a, b = loader(cache, bs=16, seed=9, workers=1), loader(cache, bs=16, seed=9, workers=3)
    for ld in (a, b):
        ld.set_epoch(1)
    for (xa, ya, ra), (xb, yb, rb) in zip(a.iter_with_rows(), b.iter_with_rows()):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and (ra == rb).all()


def test_torch_thread_setting_is_left_alone(cache):
    before = torch.get_num_threads()
    for _ in loader(cache, bs=16):
        pass
    seen = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert torch.get_num_threads() == before and seen == [before]


@pytest.mark.parametrize("bs", [16, 10, 72, 100])
def test_steps_per_epoch_is_the_training_loaders_length(shapes_dir, tmp_path, bs):
    """The schedule preview and the plan count batches as the training loader does (a short last batch
    dropped, never the whole epoch); the preview said 4 steps where training ran 3."""
    from workbench.data.pipeline import steps_per_epoch
    ds = _dataset(Path(shapes_dir))
    cfg = RunConfig().set("data.image_size", 24).set("data.batch_size", bs).set("data.cache_dir", str(tmp_path / "c"))
    assert steps_per_epoch(ds, cfg) == len(build_loaders(ds, cfg, CPU).train)
