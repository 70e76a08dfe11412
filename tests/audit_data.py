"""Datasets for the audit tests: colour classes with seeded label flips, and planted near-duplicates."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image

from PIL import ImageDraw

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 40), "blue": (40, 60, 200)}
AUDIT_OVERRIDES = ["data.image_size=32", "data.batch_size=16", "train.epochs=2", "train.lr=3e-3",
                   "model.arch=resnet18", "train.precision=fp32", "train.device=cpu", "train.threads=1"]


def make_noisy_colours(root: Path, n: int = 30, n_flip: int = 3, seed: int = 0) -> tuple[Path, set[str]]:
    """root/<colour>/<true>_<i>.png: noisy colour patches; ``n_flip`` images per class are saved under a
    wrong class folder. Returns (root, relative paths of the flipped images)."""
    rng, r = np.random.default_rng(seed), random.Random(seed)
    flipped = set()
    for c in COLOURS:
        (root / c).mkdir(parents=True, exist_ok=True)
    for c, col in COLOURS.items():
        for i in range(n):
            a = np.clip(np.array(col) + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
            dst = c
            if i < n_flip:
                dst = r.choice([o for o in COLOURS if o != c])
                flipped.add(f"{dst}/{c}_{i}.png")
            Image.fromarray(a).save(root / dst / f"{c}_{i}.png")
    return root, flipped


def mondrian(rng: random.Random, size: int) -> Image.Image:
    """A random picture of overlapping coloured rectangles and ellipses (distinct perceptual hashes)."""
    img = Image.new("RGB", (size, size), tuple(rng.randint(0, 255) for _ in range(3)))
    d = ImageDraw.Draw(img)
    for _ in range(8):
        x0, y0 = rng.randint(0, size - 8), rng.randint(0, size - 8)
        box = (x0, y0, rng.randint(x0 + 6, size), rng.randint(y0 + 6, size))
        fill = tuple(rng.randint(0, 255) for _ in range(3))
        (d.rectangle if rng.random() < 0.5 else d.ellipse)(box, fill=fill)
    return img


def plant_copies(root: Path) -> list[tuple[str, str]]:
    """Shapes dataset (train/ + valid/, 64 px) with near-copies of training images planted in valid/:
    resized, re-encoded, slightly cropped, colour-shifted, and one copy under another class.
    Returns (original, copy) relative paths."""
    rng = random.Random(3)
    for split, n in (("train", 12), ("valid", 4)):
        for c in ("circle", "square"):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                mondrian(rng, 64).save(root / split / c / f"{split}_{c}_{i:03d}.png")
    planted = []
    src = sorted((root / "train" / "circle").glob("*.png"))
    edits = {
        "resized": lambda im: im.resize((48, 48), Image.BILINEAR),
        "reencoded": None,
        "cropped": lambda im: im.crop((3, 3, 61, 61)),
        "colour": lambda im: Image.fromarray(np.clip(np.asarray(im).astype(int) + [25, -10, 15], 0, 255).astype(np.uint8)),
    }
    for (name, fn), s in zip(edits.items(), src):
        im = Image.open(s).convert("RGB")
        if name == "reencoded":
            dst = root / "valid" / "circle" / f"copy_{name}.jpg"
            im.save(dst, quality=70)
        else:
            dst = root / "valid" / "circle" / f"copy_{name}.png"
            fn(im).save(dst)
        planted.append((s.relative_to(root).as_posix(), dst.relative_to(root).as_posix()))
    s = src[5]
    dst = root / "valid" / "square" / "copy_other_class.png"
    Image.open(s).convert("RGB").resize((56, 56)).save(dst)
    planted.append((s.relative_to(root).as_posix(), dst.relative_to(root).as_posix()))
    return planted
