"""Every thumbnail the GUI shows comes from the core pipeline (data.cache.thumbnail): the data page
and leak pairs (widgets.thumbs.load_thumb), galleries and the image viewer (image_viewer), and the
augmentation preview (presized like the cache; gui.session_images)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from workbench.data.cache import decode_presized, thumbnail
from workbench.gui import session_images
from workbench.gui.views import gallery_view, image_viewer
from workbench.gui.widgets.thumbs import load_thumb
from thumb_images import make_awkward_images


def pixels(q: QImage) -> np.ndarray:
    q = q.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(q.constBits(), np.uint8).reshape(q.height(), q.bytesPerLine())
    return rows[:, :3 * q.width()].reshape(q.height(), q.width(), 3).copy()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return make_awkward_images(tmp_path_factory.mktemp("awkward_gui"))


@pytest.mark.parametrize("name", ["png16", "jpeg_exif", "cmyk", "palette", "rgba"])
def test_gui_thumbnails_equal_the_core_thumbnail(images, name):
    path = str(images[name])
    for size in (32, 96):
        core = thumbnail(path, size)
        np.testing.assert_array_equal(pixels(load_thumb(path, size)), core)
        assert image_viewer.load_thumbnail(path, size)[0] == path
        np.testing.assert_array_equal(image_viewer.load_thumbnail(path, size)[1], core)
    np.testing.assert_array_equal(gallery_view._safe_thumbnail(path)[1], thumbnail(path, gallery_view.THUMB))
    np.testing.assert_array_equal(session_images.decode(path, 48), decode_presized(path, 48))
