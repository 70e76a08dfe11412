"""The images views show, decoded off the GUI thread: thumbnails and large views of a file, the
augmentation preview's presized images and variants, and Grad-CAM heatmaps of one image.

Each ``request_*`` hands one core call to the side pool (``gui.jobs.submit``) and calls ``callback`` in
the GUI thread with the result, or with the Exception it raised. Views turn arrays into pixmaps and draw;
they never decode a file themselves. Files the health check rejected are never asked for (the Data
page's health report shows their problem instead).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..analysis.explain import compute_cam
from ..analysis.gradcam import dim_outside, overlay
from ..data.augment import BatchAugment, center_crop
from ..data.cache import decode_presized, thumbnail
from .jobs import submit, submit_keyed

__all__ = ["augment_grid", "decode", "dim_outside", "load_thumbnail", "overlay", "request_augment", "request_cam",
           "request_image"]


def load_thumbnail(path: str, size: int) -> tuple[str, np.ndarray]:
    """Decode an image file into (path, RGB uint8 array no larger than ``size``) with the decoder
    training uses (16-bit scaled, not clipped; EXIF orientation; JPEG draft mode)."""
    return path, thumbnail(path, size)


def request_image(path: str, size: int, callback: Callable[[object], None]) -> int:
    """``load_thumbnail(path, size)`` in the side pool; ``callback`` gets (path, array), or (path, the
    Exception) for a file that cannot be decoded."""
    return submit_keyed(path, lambda: thumbnail(path, size), callback)


def request_cam(run_dir: str, path: str, callback: Callable[[object], None], class_idx: int | None = None,
                calibrated: bool = False) -> int:
    """A Grad-CAM heatmap in the side pool; ``callback`` gets a CamResult or an Exception (GUI thread).
    ``calibrated``: probabilities after the run's temperature, as predict and the folder CSV give them."""
    return submit(lambda: compute_cam(run_dir, path, class_idx, calibrated), callback)


def decode(path: str, presize: int) -> np.ndarray:
    """uint8 (presize, presize, 3): short side resized to presize, centre-cropped (as the cache does)."""
    return decode_presized(path, presize)


def augment_grid(images: np.ndarray, cfg, out_size: int, seed: int, n_variants: int = 4,
                 valid_crop: float = 1.0) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, 1 + n_variants, out, out, 3) uint8: the centre crop validation sees
    (``valid_crop``, RunConfig ``data.valid_crop``), then augmented variants."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    plain = center_crop(x, out_size, crop=valid_crop).permute(0, 2, 3, 1)  # float NCHW -> NHWC
    gen = torch.Generator().manual_seed(seed)
    aug = BatchAugment(cfg)(x.repeat_interleave(n_variants, dim=0), out_size, gen).permute(0, 2, 3, 1)
    aug = aug.reshape(len(images), n_variants, out_size, out_size, 3)
    grid = torch.cat([plain[:, None], aug], dim=1)
    return (grid.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def request_augment(paths: list[str], presize: int, decoded: tuple | None, aug, size: int, seed: int,
                    valid_crop: float, n_variants: int, callback: Callable[[object], None]) -> int:
    """Decode ``paths`` presized (unless ``decoded`` = (paths, presize, array) holds them already) and
    draw their augmentation grid, in the side pool; ``callback`` gets ((paths, presize, array), grid)."""
    paths = list(paths)

    def work():
        if decoded and decoded[0] == paths and decoded[1] == presize:
            arr = decoded[2]
        else:
            arr = np.stack([decode(p, presize) for p in paths])
        return (paths, presize, arr), augment_grid(arr, aug, size, seed, n_variants, valid_crop)
    return submit(work, callback)
