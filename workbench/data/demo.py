"""Built-in demo dataset: procedurally drawn shapes and textures with distractors (offline, seeded).

8 classes x (60 train + 15 valid) JPEGs of 64 px. The class is the large main object; its colour,
position, scale and rotation are random, and backgrounds have gradients, noise, faint textures,
small clutter shapes and occluding patches, so the task is learnable but not trivial.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..runtime.paths import data_home

CLASSES = ("circle", "ring", "square", "star", "stripes", "triangle")
N_TRAIN, N_VALID, SIZE, SS = 100, 20, 64, 2   # SS: supersampling factor while drawing
MARKER = "Workbench demo dataset"
CLUTTER = ("circle", "square", "triangle", "star", "cross")

README = f"""{MARKER}
======================

A small image classification dataset drawn procedurally by workbench (Pillow + numpy), offline.
It is regenerated with `workbench demo-data PATH --seed N`; the same seed gives the same files.

Classes ({len(CLASSES)}): {', '.join(CLASSES)}
Layout: train/<class>/*.jpg ({N_TRAIN} per class) and valid/<class>/*.jpg ({N_VALID} per class), {SIZE}x{SIZE} px.

The class is the large main object. Colour, position, size and rotation are random and not tied to
the class; backgrounds carry gradients, noise and faint stripe / checker textures, and small clutter
shapes and occluding patches are added as distractors.
"""


def _poly(cx: float, cy: float, r: float, n: int, rot: float, inner: float | None = None) -> list:
    pts = []
    k = 2 * n if inner else n
    for i in range(k):
        rr = (inner * r if (inner and i % 2) else r)
        a = rot + i * 2 * math.pi / k
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def _cross(cx: float, cy: float, r: float, rot: float, w: float = 0.34) -> list:
    base = [(w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w),
            (-w, -w), (-w, -1)]
    c, s = math.cos(rot), math.sin(rot)
    return [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in base]


def _colour(rng: np.random.Generator, bright: bool | None = None) -> tuple:
    c = rng.integers(0, 256, 3)
    if bright is not None:
        lo, hi = (130, 256) if bright else (0, 120)
        c[int(rng.integers(0, 3))] = rng.integers(lo, hi)
        c = np.clip(c + (60 if bright else -60), 0, 255)
    return tuple(int(x) for x in c)


def _texture(n: int, kind: str, period: float, rot: float, c1: tuple, c2: tuple) -> Image.Image:
    x = np.arange(n, dtype=np.float32)[None, :]
    y = np.arange(n, dtype=np.float32)[:, None]
    u = x * math.cos(rot) + y * math.sin(rot)
    v = -x * math.sin(rot) + y * math.cos(rot)
    m = np.floor(u / period) % 2 if kind == "stripes" else (np.floor(u / period) + np.floor(v / period)) % 2
    out = np.where(m[..., None] > 0, np.array(c1, np.uint8), np.array(c2, np.uint8))
    return Image.fromarray(out, "RGB")


def _background(rng: np.random.Generator, n: int) -> Image.Image:
    x = np.arange(n, dtype=np.float32)[None, :] / n - 0.5
    y = np.arange(n, dtype=np.float32)[:, None] / n - 0.5
    a = rng.uniform(0, 2 * math.pi)
    t = np.clip(x * math.cos(a) + y * math.sin(a) + 0.5, 0, 1)[..., None]
    c1, c2 = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    im = Image.fromarray((c1 * (1 - t) + c2 * t).astype(np.uint8), "RGB")
    if rng.random() < 0.2:  # faint texture distractor over the whole background
        tex = _texture(n, str(rng.choice(["stripes", "checker"])), rng.uniform(3, 7) * SS,
                       rng.uniform(0, math.pi), _colour(rng), _colour(rng))
        im = Image.blend(im, tex, float(rng.uniform(0.08, 0.16)))
    return im


def _draw_object(im: Image.Image, kind: str, cx: float, cy: float, r: float, rot: float,
                 rng: np.random.Generator, bright: bool | None) -> None:
    n = im.size[0]
    d = ImageDraw.Draw(im)
    fill = _colour(rng, bright)
    if kind in ("stripes", "checker"):
        tex = _texture(n, kind, rng.uniform(0.16, 0.3) * r, rng.uniform(0, math.pi), fill, _colour(rng))
        mask = Image.new("L", (n, n), 0)
        md = ImageDraw.Draw(mask)
        if rng.random() < 0.5:
            md.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        else:
            md.polygon(_poly(cx, cy, r * 1.15, 4, rot), fill=255)
        im.paste(tex, (0, 0), mask)
    elif kind == "circle":
        e = rng.uniform(0.85, 1.0)
        d.ellipse((cx - r, cy - r * e, cx + r, cy + r * e), fill=fill)
    elif kind == "ring":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fill, width=max(2, int(r * rng.uniform(0.22, 0.36))))
    elif kind == "square":
        d.polygon(_poly(cx, cy, r * 1.1, 4, rot), fill=fill)
    elif kind == "triangle":
        d.polygon(_poly(cx, cy, r * 1.15, 3, rot), fill=fill)
    elif kind == "star":
        d.polygon(_poly(cx, cy, r * 1.2, 5, rot, inner=0.45), fill=fill)
    elif kind == "cross":
        d.polygon(_cross(cx, cy, r * 1.05, rot), fill=fill)
    else:
        raise ValueError(f"unknown demo class '{kind}'")


def draw_image(kind: str, rng: np.random.Generator, size: int = SIZE) -> Image.Image:
    """One demo image of class ``kind``."""
    n = size * SS
    im = _background(rng, n)
    for _ in range(int(rng.integers(0, 3))):  # small clutter shapes behind the object
        _draw_object(im, str(rng.choice(CLUTTER)), rng.uniform(0, n), rng.uniform(0, n),
                     rng.uniform(0.05, 0.09) * n, rng.uniform(0, 2 * math.pi), rng, None)
    r = rng.uniform(0.27, 0.38) * n
    cx, cy = rng.uniform(r * 0.9, n - r * 0.9), rng.uniform(r * 0.9, n - r * 0.9)
    dark_bg = float(np.asarray(im.crop((int(cx - r), int(cy - r), int(cx + r), int(cy + r)))).mean()) < 128
    bright = dark_bg if rng.random() < 0.9 else not dark_bg   # mostly, but not always, contrasting
    _draw_object(im, kind, cx, cy, r, rng.uniform(0, 2 * math.pi), rng, bright)
    if rng.random() < 0.15:  # occluding patch over part of the object
        w, h = rng.uniform(0.25, 0.55) * r, rng.uniform(0.25, 0.55) * r
        ox, oy = cx + rng.uniform(-r, r) * 0.8, cy + rng.uniform(-r, r) * 0.8
        ImageDraw.Draw(im).rectangle((ox - w, oy - h, ox + w, oy + h), fill=_colour(rng))
    if rng.random() < 0.25:  # one small clutter shape in front
        _draw_object(im, str(rng.choice(CLUTTER)), rng.uniform(0, n), rng.uniform(0, n),
                     rng.uniform(0.06, 0.1) * n, rng.uniform(0, 2 * math.pi), rng, None)
    small = np.asarray(im.resize((size, size), Image.LANCZOS), dtype=np.float32)
    noise = rng.standard_normal((size, size, 3), dtype=np.float32) * rng.uniform(3, 12)
    return Image.fromarray(np.clip(small + noise, 0, 255).astype(np.uint8), "RGB")


def is_demo(path: Path) -> bool:
    try:
        return (path / "README.txt").read_text(encoding="utf-8").startswith(MARKER)
    except OSError:
        return False


def _write(target: Path, seed: int) -> None:
    for si, (split, count) in enumerate((("train", N_TRAIN), ("valid", N_VALID))):
        for ci, cls in enumerate(CLASSES):
            folder = target / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                rng = np.random.default_rng([seed, si, ci, i])
                buf = BytesIO()
                draw_image(cls, rng).save(buf, "JPEG", quality=92)
                (folder / f"{cls}_{i:03d}.jpg").write_bytes(buf.getvalue())
    (target / "README.txt").write_text(README + f"\nSeed: {seed}\n", encoding="utf-8")


def generate_demo(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write the demo dataset to ``path`` and return it. Refuses a non-empty folder that is not a demo."""
    target = Path(path).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a folder")
    in_place = target.is_dir() and any(target.iterdir())
    if in_place and not is_demo(target):
        raise FileExistsError(f"{target} is not empty and is not a demo dataset; choose an empty or new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _write(tmp, seed)   # the files appear at once: one rename of the folder, or one per file
        if in_place:
            for f in sorted(p for p in tmp.rglob("*") if p.is_file()):
                dest = target / f.relative_to(tmp)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, dest)
        else:
            if target.is_dir():
                target.rmdir()
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def demo_path() -> Path:
    """data_home()/demo, generated on first use."""
    p = data_home() / "demo"
    if not is_demo(p):
        try:
            generate_demo(p)
        except OSError:
            if not is_demo(p):  # another process may have finished it first
                raise
    return p
