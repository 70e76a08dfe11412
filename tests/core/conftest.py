"""Torture datasets: one of every kind of bad or unusual file the data layer must survive."""
from __future__ import annotations

import io
import os
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synth import draw_shape

# file (relative to the torture root) -> expected problem kind (skipped) ...
TORTURE_PROBLEMS = {
    "alpha/corrupt.png": "unreadable",
    "alpha/truncated.jpg": "truncated",
    "alpha/zero.jpg": "zero_byte",
    "alpha/readme.jpg": "not_image",
    "alpha/huge.png": "bomb",          # only with a small data.max_pixels (see TORTURE_MAX_PIXELS)
    "alpha/tiny.png": "too_small",
    "alpha/zz_copy.png": "duplicate",  # same bytes as alpha/good_000.png
}
# ... and expected conversion notes (kept)
TORTURE_NOTES = {
    "beta/cmyk.jpg": "cmyk",
    "beta/gray16.png": "16bit",
    "beta/palette.png": "palette",
    "beta/gray.png": "grayscale",
    "beta/rgba.png": "alpha",
    "beta/rotated.jpg": "exif_rotation",
}
TORTURE_MAX_PIXELS = 40_000           # huge.png is 260 x 260 = 67,600 pixels
GOOD_ALPHA = 6
UNICODE_CLASS = "gämma klasse ✓"
UNICODE_FILES = ("bild nr 1 ✓.png", "фото 2.png", "写真 3.png")


def _shape(kind: str, rng: random.Random, size: int = 32) -> Image.Image:
    return draw_shape(kind, size, rng)[0]


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def make_torture_dir(path: Path) -> Path:
    """A class-folder dataset: good images plus each bad kind (see TORTURE_PROBLEMS / TORTURE_NOTES)."""
    rng = random.Random(7)
    root = Path(path)
    alpha, beta, uni = root / "alpha", root / "beta", root / UNICODE_CLASS
    for d in (alpha, beta, uni, root / "empty", root / "solo", root / "alpha" / "nested deeper"):
        d.mkdir(parents=True, exist_ok=True)
    for i in range(GOOD_ALPHA - 1):
        _shape("circle", rng).save(alpha / f"good_{i:03d}.png")
    _shape("circle", rng).save(alpha / "nested deeper" / "good_nested.PNG")  # nested + upper-case ext
    (alpha / "zz_copy.png").write_bytes((alpha / "good_000.png").read_bytes())
    good = _png(_shape("circle", rng, 48))
    (alpha / "corrupt.png").write_bytes(good[:60] + bytes(np.random.default_rng(1).integers(0, 255, len(good) - 80,
                                                                                         dtype=np.uint8)) + good[-20:])
    big = _shape("circle", rng, 96)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=95)
    (alpha / "truncated.jpg").write_bytes(buf.getvalue()[: int(len(buf.getvalue()) * 0.6)])
    (alpha / "zero.jpg").write_bytes(b"")
    (alpha / "readme.jpg").write_text("this is a text file, not a picture\n", encoding="utf-8")
    _shape("circle", rng, 260).save(alpha / "huge.png")
    _shape("circle", rng, 4).save(alpha / "tiny.png")
    (alpha / ".hidden.png").write_bytes(_png(_shape("circle", rng)))
    (alpha / "notes.txt").write_text("not an image extension: ignored\n", encoding="utf-8")
    # a symlink to a good image outside the dataset, and a link to a folder above (must not loop)
    outside = root.parent / f"{root.name}_outside"
    outside.mkdir(exist_ok=True)
    _shape("circle", rng).save(outside / "target.png")
    os.symlink(outside / "target.png", alpha / "link.png")
    os.symlink(root, alpha / "loop")
    # beta: usable images needing conversion
    for i in range(3):
        _shape("square", rng).save(beta / f"good_{i:03d}.png")
    _shape("square", rng).convert("CMYK").save(beta / "cmyk.jpg", quality=95)
    a16 = (np.asarray(_shape("square", rng).convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(a16).save(beta / "gray16.png")
    assert Image.open(beta / "gray16.png").mode.startswith("I")
    _shape("square", rng).convert("P", palette=Image.Palette.ADAPTIVE).save(beta / "palette.png")
    _shape("square", rng).convert("L").save(beta / "gray.png")
    rgba = _shape("square", rng).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(beta / "rgba.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    _shape("square", rng).resize((40, 24)).save(beta / "rotated.jpg", exif=exif, quality=95)
    for name in UNICODE_FILES:
        _shape("triangle", rng).save(uni / name)
    _shape("triangle", rng).save(root / "solo" / "only.png")
    (root / "empty" / ".DS_Store").write_bytes(b"\0")
    hidden = root / ".workbench"
    hidden.mkdir()
    _shape("circle", rng).save(hidden / "ignored.png")
    return root


def make_split_torture(path: Path, valid_name: str = "valid") -> Path:
    """train/ + valid/ (or val/) with one validation file that is a copy of a training file."""
    rng = random.Random(11)
    root = Path(path)
    for split, n in (("train", 5), (valid_name, 2)):
        for c in ("a", "b"):
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                _shape("circle" if c == "a" else "square", rng).save(d / f"{c}_{i}.png")
    (root / valid_name / "a" / "leak.png").write_bytes((root / "train" / "a" / "a_0.png").read_bytes())
    return root


@pytest.fixture
def torture_dir(tmp_path) -> Path:
    return make_torture_dir(tmp_path / "torture")


@pytest.fixture
def split_torture_dir(tmp_path) -> Path:
    return make_split_torture(tmp_path / "split")


@pytest.fixture
def torture_spec():
    """What the torture folder contains (tests import nothing from conftest modules)."""
    from types import SimpleNamespace
    return SimpleNamespace(problems=dict(TORTURE_PROBLEMS), notes=dict(TORTURE_NOTES),
                           max_pixels=TORTURE_MAX_PIXELS, unicode_class=UNICODE_CLASS,
                           unicode_files=UNICODE_FILES, good_alpha=GOOD_ALPHA)


@pytest.fixture
def split_torture_factory(tmp_path):
    """make(valid_name) -> a new split torture folder."""
    def make(valid_name: str = "valid") -> Path:
        return make_split_torture(tmp_path / f"split_{valid_name}", valid_name)
    return make

