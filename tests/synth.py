"""Synthetic image-folder datasets for tests: coloured shapes on noisy backgrounds, drawn with Pillow."""
from __future__ import annotations

import math
import random
from pathlib import Path

import torch
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")


def draw_shape(kind: str, size: int, rng: random.Random) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """One image and the bounding box (x0, y0, x1, y1) of the shape."""
    bg = tuple(rng.randint(0, 80) for _ in range(3))
    img = Image.new("RGB", (size, size), bg)
    px = img.load()
    for _ in range(size * size // 8):
        x, y = rng.randrange(size), rng.randrange(size)
        v = rng.randint(0, 60)
        px[x, y] = (v, v, v)
    d = ImageDraw.Draw(img)
    r = rng.uniform(0.22, 0.34) * size
    cx = rng.uniform(r + 1, size - r - 1)
    cy = rng.uniform(r + 1, size - r - 1)
    color = (rng.randint(150, 255), rng.randint(150, 255), rng.randint(150, 255))
    box = (int(cx - r), int(cy - r), int(cx + r), int(cy + r))
    if kind == "circle":
        d.ellipse(box, fill=color)
    elif kind == "square":
        a = rng.uniform(0, math.pi / 2)
        pts = [(cx + r * math.cos(a + k * math.pi / 2), cy + r * math.sin(a + k * math.pi / 2)) for k in range(4)]
        d.polygon(pts, fill=color)
    elif kind == "triangle":
        a = rng.uniform(0, 2 * math.pi)
        pts = [(cx + r * math.cos(a + k * 2 * math.pi / 3), cy + r * math.sin(a + k * 2 * math.pi / 3)) for k in range(3)]
        d.polygon(pts, fill=color)
    else:
        d.line([(cx - r, cy - r), (cx + r, cy + r)], fill=color, width=max(2, size // 10))
        d.line([(cx - r, cy + r), (cx + r, cy - r)], fill=color, width=max(2, size // 10))
    return img, box


def make_shapes_dataset(root: Path, classes=CLASSES, n_train: int = 24, n_valid: int = 8, size: int = 32,
                        seed: int = 0, split_folders: bool = True, ext: str = ".png") -> Path:
    """Write root/{train,valid}/<class>/*.png (or root/<class>/* when split_folders is False)."""
    rng = random.Random(seed)
    root = Path(root)
    for split, n in (("train", n_train), ("valid", n_valid)):
        for c in classes:
            folder = root / split / c if split_folders else root / c
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img, _ = draw_shape(c, size, rng)
                img.save(folder / f"{split}_{c}_{i:03d}{ext}")
    return root


class TensorLoader:
    """BatchLoader stand-in over in-memory tensors (for Trainer tests): len, iter of (x, y), set_epoch, settable batch_size / image_size."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0):
        self.x, self.y, self.batch_size, self.shuffle, self.seed = x, y, batch_size, shuffle, seed
        self.image_size = x.shape[-1]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def n_samples(self) -> int:
        return len(self.y)

    def __len__(self) -> int:
        n = len(self.y) // self.batch_size if self.shuffle else -(-len(self.y) // self.batch_size)
        return max(1, n)

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
            order = torch.randperm(len(self.y), generator=g)
        else:
            order = torch.arange(len(self.y))
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.x[idx], self.y[idx]
