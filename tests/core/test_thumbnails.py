"""One thumbnail pipeline: data.cache.thumbnail decodes as training does, and the dataset statistics
and the explanation photo use it (the GUI callers: tests/gui/test_gui_thumbnails.py)."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.data import stats
from workbench.data.cache import load_rgb, thumbnail
from workbench.analysis.explain import VIEW_SIDE, photo_and_box
from thumb_images import make_awkward_images


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_awkward_images(tmp_path_factory.mktemp("awkward"))


def test_thumbnail_is_the_training_decode_made_small(images):
    deep = thumbnail(str(images["png16"]), 45)
    assert deep.shape == (30, 45, 3) and deep.dtype == np.uint8
    assert 60 < deep.mean() < 100  # 16-bit values scaled by 257, not clipped to white
    upright = thumbnail(str(images["jpeg_exif"]), 50)
    assert upright.shape == (50, 20, 3)  # EXIF orientation 6: the 100 x 40 photo stands upright
    assert upright[:20, :, 0].mean() > 150 and upright[:20, :, 1].mean() < 80  # red half on top
    alpha = thumbnail(str(images["rgba"]), 100)
    assert (alpha[:, :50] == 255).all()  # transparent pixels over white, as training sees them
    for name in ("cmyk", "palette"):
        a = thumbnail(str(images[name]), 100)
        assert a.shape == (40, 100, 3) and np.array_equal(a, np.asarray(load_rgb(str(images[name]))))
    full = np.asarray(load_rgb(str(images["png16"])))
    assert np.array_equal(thumbnail(str(images["png16"]), 500), full)  # never enlarged


@pytest.mark.parametrize("name", ["png16", "jpeg_exif", "cmyk", "palette", "rgba"])
def test_dataset_statistics_and_explanations_use_the_thumbnail(images, name):
    path = str(images[name])
    a = thumbnail(path, stats.THUMB).astype(np.float64).reshape(-1, 3) / 255.0
    expect = np.concatenate([a.sum(0), (a * a).sum(0), [len(a)]])
    np.testing.assert_array_equal(stats._sample_pixels(path), expect)
    photo, box = photo_and_box(path, 1.0)
    np.testing.assert_array_equal(photo, thumbnail(path, VIEW_SIDE))
    side = min(photo.shape[:2])
    assert box[2] - box[0] == box[3] - box[1] == side  # the centred square validation shows the model
