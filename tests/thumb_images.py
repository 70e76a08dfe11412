"""Awkward image files for the thumbnail tests: 16-bit PNG, EXIF-rotated JPEG, CMYK, palette, alpha."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_awkward_images(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    deep = (np.linspace(0, 40000, 90 * 60).reshape(60, 90)).astype(np.uint16)  # mid-grey in 16 bits
    out["png16"] = folder / "deep.png"
    Image.fromarray(deep).save(out["png16"])
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (40, 100, 3), dtype=np.uint8)
    photo[:, :50] = (200, 30, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show upright
    out["jpeg_exif"] = folder / "rotated.jpg"
    Image.fromarray(photo).save(out["jpeg_exif"], quality=95, exif=exif)
    out["cmyk"] = folder / "cmyk.jpg"
    Image.fromarray(photo).convert("CMYK").save(out["cmyk"], quality=95)
    pal = Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    out["palette"] = folder / "palette.png"
    pal.save(out["palette"], transparency=0)
    rgba = np.dstack([photo, np.where(np.arange(100) < 50, 0, 255).astype(np.uint8)[None].repeat(40, 0)])
    out["rgba"] = folder / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(out["rgba"])
    return out
