"""A blank picture or a photo site's grey "image not found" placeholder gets a note that says so in
words (the health report shows it beside the picture); photos and drawn shapes do not."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from synth import make_shapes_dataset
from workbench.config import DataConfig
from workbench.data import open_dataset


def test_placeholder_pictures_are_noted_in_words(tmp_path):
    root = make_shapes_dataset(tmp_path / "ds", n_train=6, n_valid=2)
    holder = Image.new("P", (320, 240), 0)
    holder.putpalette([200, 200, 200, 90, 90, 90] + [0] * 762)
    ImageDraw.Draw(holder).text((110, 110), "image not found", fill=1)
    target = next((root / "train").iterdir())
    holder.save(target / "placeholder.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(target / "noise.png")
    ds = open_dataset(DataConfig(path=str(root), cache_dir=str(tmp_path / "cache")))
    noted = {n.path.rsplit("/", 1)[-1]: n.message for n in ds.notes if n.kind == "one_colour"}
    assert list(noted) == ["placeholder.png"]
    assert "image not found" in noted["placeholder.png"] and "placeholder" in noted["placeholder.png"]
    assert any(it.path.endswith("placeholder.png") for it in ds.items)        # a note, never a skip
