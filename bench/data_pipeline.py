"""Data path benchmark: presized cache + BatchLoader + BatchAugment vs torchvision ImageFolder + DataLoader.

    python bench/data_pipeline.py [--data PATH] [--epochs 5] [--sizes 64,128,224]
    python bench/data_pipeline.py --many 20000      # memory while iterating a large synthetic cache

Both pipelines read the same files and are measured in the same run (compare the ratios; absolute
speed depends on the machine and its load). The cache build is timed separately.
"""
from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    from bench.common import (REPO, ensure_repo_on_path, peak_rss_mb, print_header,
                              print_table, rss_breakdown_mb, timer)
except ImportError:  # run as a script: bench/ is on sys.path
    from common import (REPO, ensure_repo_on_path, peak_rss_mb, print_header,  # type: ignore
                        print_table, rss_breakdown_mb, timer)

ensure_repo_on_path()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from workbench.data.augment import BatchAugment  # noqa: E402
from workbench.config import AugmentConfig  # noqa: E402
from workbench.data.cache import PresizeCache  # noqa: E402
from workbench.data.loader import BatchLoader  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "nette-mini"


def presize_for(size: int) -> int:
    """The presize the app would use for this training size (RunConfig.effective_presize)."""
    return int(round(size * 1.25 / 8) * 8)


FULL = AugmentConfig()  # the default recipe: crop, flip, rotate, zoom, warp, lighting
CROP_FLIP = AugmentConfig(p_affine=0.0, p_lighting=0.0)  # the same work as the torchvision baseline


def cache_rate(cache: PresizeCache, size: int, epochs: int, batch_size: int, aug: AugmentConfig = FULL) -> float:
    n = len(cache)
    loader = BatchLoader(cache, np.arange(n), np.zeros(n, np.int64), batch_size, train=True,
                         image_size=size, device=torch.device("cpu"), augment=BatchAugment(aug),
                         drop_last=False)
    for _ in loader:  # warm-up epoch
        pass
    seen = 0
    t0 = time.perf_counter()
    for e in range(epochs):
        loader.set_epoch(e + 1)
        for x, _ in loader:
            seen += x.shape[0]
    return seen / (time.perf_counter() - t0)


def torchvision_rate(root: Path, size: int, epochs: int, batch_size: int, workers: int) -> float:
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms as T
    tf = T.Compose([T.RandomResizedCrop(size, scale=(0.35, 1.0)), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    ds = datasets.ImageFolder(str(root), transform=tf)
    dl = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
    for _ in dl:  # warm-up epoch (starts the workers)
        pass
    seen = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for x, _ in dl:
            seen += x.shape[0]
    rate = seen / (time.perf_counter() - t0)
    del dl
    return rate


def image_files(root: Path) -> list[str]:
    from torchvision import datasets
    return [p for p, _ in datasets.ImageFolder(str(root)).samples]


def run_speed(args) -> None:
    root = Path(args.data).expanduser()
    if not root.is_dir():
        sys.exit(f"error: dataset folder not found: {root} (pass --data PATH)")
    files = image_files(root)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"data: {root} ({len(files)} images), batch {args.batch_size}, {args.epochs} timed epochs "
          f"after 1 warm-up, best of {args.repeat}")
    tmp = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    rows = []
    try:
        for size in sizes:
            ps = presize_for(size)
            with timer() as t_build:
                cache = PresizeCache.build(files, ps, tmp)
            with timer() as t_open:
                PresizeCache.build(files, ps, tmp)
            same = full = base = 0.0
            for _ in range(max(1, args.repeat)):  # interleaved, best of each: fair under a varying load
                same = max(same, cache_rate(cache, size, args.epochs, args.batch_size, CROP_FLIP))
                full = max(full, cache_rate(cache, size, args.epochs, args.batch_size, FULL))
                base = max(base, torchvision_rate(root, size, args.epochs, args.batch_size, args.workers))
            rows.append([size, ps, f"{t_build['s']:.2f}", f"{t_open['s'] * 1000:.1f}",
                         f"{len(files) / t_build['s']:.0f}", f"{base:.0f}", f"{same:.0f}", f"{same / base:.2f}x",
                         f"{full:.0f}", f"{full / base:.2f}x"])
            print(f"  {size} px done", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print_table(["size", "presize", "build s", "reopen ms", "build img/s", f"torchvision({args.workers}w)",
                 "cache crop+flip", "ratio", "cache full aug", "ratio"], rows)
    print("img/s. torchvision: ImageFolder + DataLoader(RandomResizedCrop, RandomHorizontalFlip, ToTensor, "
          "Normalize);")
    print("cache: memmap -> BatchLoader -> BatchAugment on the CPU; crop+flip = the same work as torchvision, "
          "full aug = the default recipe (+ rotate, zoom, warp, lighting).")


def _make_images(folder: Path, n: int) -> list[str]:
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> str:
        rng = random.Random(i)
        w, h = rng.randint(40, 80), rng.randint(40, 80)
        a = np.random.default_rng(i).integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(a).resize((w, h), Image.BILINEAR)
        p = folder / f"img_{i:06d}.jpg"
        img.save(p, quality=85)
        return str(p)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


def run_many(args) -> None:
    n, size = args.many, 56
    ps = presize_for(size)
    tmp = Path(tempfile.mkdtemp(prefix="wb-bench-many-"))
    try:
        with timer() as t_gen:
            files = _make_images(tmp / "images", n)
        rss0 = rss_breakdown_mb()
        with timer() as t_build:
            cache = PresizeCache.build(files, ps, tmp / "cache")
        rss1 = rss_breakdown_mb()
        mm = cache.images.nbytes / 2**20
        loader = BatchLoader(cache, np.arange(n), np.zeros(n, np.int64), 256, train=True, image_size=size,
                             device=torch.device("cpu"), augment=BatchAugment(AugmentConfig()))
        nb, seen = len(loader), 0
        marks = [["before", f"{rss1.get('RssAnon', 0):.0f}", f"{rss1.get('RssFile', 0):.0f}", "+0",
                  f"{rss1.get('VmRSS', 0):.0f}"]]
        checkpoints = {max(0, math.ceil(nb * f) - 1) for f in (0.05, 0.1, 0.25, 0.5, 0.75, 1.0)}
        with timer() as t_iter:
            for b, (x, _) in enumerate(loader):
                seen += x.shape[0]
                if b in checkpoints:
                    r = rss_breakdown_mb()
                    marks.append([f"{b + 1}/{nb}", f"{r.get('RssAnon', 0):.0f}", f"{r.get('RssFile', 0):.0f}",
                                  f"{r.get('RssFile', 0) - rss1.get('RssFile', 0):+.0f}", f"{r.get('VmRSS', 0):.0f}"])
        print(f"{n} synthetic JPEGs (40-80 px) generated in {t_gen['s']:.1f} s; presize {ps}, memmap {mm:.0f} MiB")
        print(f"cache build {t_build['s']:.1f} s ({n / t_build['s']:.0f} img/s); RssAnon before build "
              f"{rss0.get('RssAnon', 0):.0f} MiB, after {rss1.get('RssAnon', 0):.0f} MiB")
        print(f"one training epoch at {size} px, batch 256: {seen} images in {t_iter['s']:.1f} s "
              f"({seen / t_iter['s']:.0f} img/s)")
        print_table(["batch", "RssAnon MiB", "RssFile MiB", "RssFile growth (memmap pages)", "VmRSS MiB"], marks)
        print(f"peak RSS (getrusage ru_maxrss): {peak_rss_mb():.0f} MiB; memmap file {mm:.0f} MiB")
        print("RssAnon (heap) levels off after the first batches (allocator reuse) instead of growing with "
              "the dataset; RssFile growth is memmap pages (OS page cache, reclaimable, at most the file size).")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="image folder (default: ../shared/data/nette-mini)")
    p.add_argument("--epochs", type=int, default=5, help="timed epochs per measurement")
    p.add_argument("--sizes", default="64,128,224", help="comma-separated training sizes")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the torchvision baseline")
    p.add_argument("--repeat", type=int, default=3, help="measure each pipeline this many times, keep the best")
    p.add_argument("--many", type=int, default=0, metavar="N",
                   help="instead: generate N small synthetic images and report memory while iterating")
    args = p.parse_args(argv)
    print_header("data pipeline benchmark")
    if args.many:
        run_many(args)
    else:
        run_speed(args)


if __name__ == "__main__":
    main()
