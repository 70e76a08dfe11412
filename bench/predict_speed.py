"""Images/s of `workbench predict` (Predictor.predict_paths) on a folder vs a plain torchvision loop
(PIL decode + Resize + CenterCrop + ToTensor + Normalize, batch 64, no_grad); both on the CPU with the
same model. Prints the CPU kind and the ratio measured in one run.

    python bench/predict_speed.py [--n 256] [--size 128] [--arch resnet18] [--src-size 480x360]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.config import RunConfig  # noqa: E402
from workbench.runtime.device import cpu_kind  # noqa: E402
from workbench.models.build import create_model  # noqa: E402
from workbench.inference.predict import build_meta, torch_predictor  # noqa: E402


def make_folder(root: Path, n: int, w: int, h: int) -> list[str]:
    """JPEG photos-like images (smooth gradients + noise) in 4 class folders."""
    rng = random.Random(0)
    paths = []
    for i in range(n):
        folder = root / f"class{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
        noise = np.random.default_rng(i).normal(0, 25, (h, w, 3))
        arr = np.clip(base * rng.uniform(0.3, 1.0) + noise, 0, 255).astype(np.uint8)
        p = folder / f"img{i:04d}.jpg"
        Image.fromarray(arr).save(p, quality=90)
        paths.append(str(p))
    return paths


def preprocess_only(pred, paths, size: int, batch: int = 64) -> tuple[float, float]:
    """Images/s of the two preprocessing paths alone (decode + resize + crop + normalize, no model)."""
    from torchvision import transforms as T
    from workbench.inference.predict import decode_paths
    tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    t0 = time.perf_counter()
    for b in range(0, len(paths), batch):
        u8, _, _ = decode_paths(paths[b:b + batch], pred.presize)
        pred.preprocess(u8)
    ours = len(paths) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for b in range(0, len(paths), batch):
        torch.stack([tf(Image.open(p).convert("RGB")) for p in paths[b:b + batch]])
    return ours, len(paths) / (time.perf_counter() - t0)


def torchvision_loop(model, paths, size: int, batch: int = 64) -> float:
    from torchvision import transforms as T
    tf = T.Compose([T.Resize(size), T.CenterCrop(size), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    t0 = time.perf_counter()
    with torch.no_grad():
        for b in range(0, len(paths), batch):
            x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths[b:b + batch]])
            model(x).softmax(1)
    return len(paths) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--src-size", default="480x360")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = map(int, args.src_size.split("x"))
    cfg = RunConfig().with_overrides([f"data.image_size={args.size}", f"model.arch={args.arch}"])
    torch.manual_seed(0)
    model = create_model(args.arch, 4).eval()
    pred = torch_predictor(model, build_meta(cfg, [f"class{i}" for i in range(4)]), "bench")
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_folder(Path(tmp), args.n, w, h)
        pred.predict_paths(paths[:64])                       # warm-up both paths
        torchvision_loop(model, paths[:64], args.size)
        ours, base = [], []
        for _ in range(args.repeats):                         # interleaved: same machine state
            t0 = time.perf_counter()
            done, _, errors = pred.predict_paths(paths, batch_size=64)
            ours.append(len(done) / (time.perf_counter() - t0))
            base.append(torchvision_loop(model, paths, args.size))
        pre_ours, pre_base = preprocess_only(pred, paths, args.size)
    o, b = max(ours), max(base)
    print(f"CPU: {cpu_kind()}  torch threads: {torch.get_num_threads()}  torch {torch.__version__}")
    print(f"{args.n} JPEGs {w}x{h} -> {args.size}px, {args.arch}, batch 64, fp32, no_grad")
    print(f"workbench predict : {o:8.1f} img/s   (runs: {', '.join(f'{v:.1f}' for v in ours)})")
    print(f"torchvision loop  : {b:8.1f} img/s   (runs: {', '.join(f'{v:.1f}' for v in base)})")
    print(f"ratio predict / torchvision: {o / b:.2f}x")
    print(f"preprocessing only: workbench {pre_ours:.1f} img/s, torchvision {pre_base:.1f} img/s, "
          f"ratio {pre_ours / pre_base:.2f}x")


if __name__ == "__main__":
    main()
