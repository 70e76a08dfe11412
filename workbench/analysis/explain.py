"""Grad-CAM explanations of single images with a run's model, for worker threads (Qt-free).

``CamProvider`` loads a run's model once (one run at a time is kept) and turns an image path into a
heatmap with the validation preprocessing. The GUI calls ``compute_cam`` from its side thread pool, so
no view ever holds the model.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from ..data.augment import center_crop, normalize
from .calibration import run_temperature
from ..config import norm_stats
from ..data.cache import decode_presized, thumbnail
from .gradcam import gradcam_info, overlay
from ..run.runs import load_model


FINE = 7          # a map with fewer cells a side than this is "coarse"
VIEW_SIDE = 1024  # the photo of the large viewer is at most this many pixels on its long side


@dataclass(frozen=True)
class CamResult:
    path: str
    image: np.ndarray      # uint8 S x S x 3, what the model saw (before normalization)
    cam: np.ndarray        # float32 S x S in [0, 1]
    overlay: np.ndarray    # uint8 S x S x 3
    probs: np.ndarray      # float32 (C,)
    classes: tuple
    layer: str = ""        # the layer explained
    grid: tuple = ()       # its cells (high, wide)
    photo: np.ndarray | None = None   # uint8, the whole photo (long side <= VIEW_SIDE), for the viewer
    box: tuple = ()        # (left, top, right, bottom) of ``photo`` that the model saw

    @property
    def coarse(self) -> bool:
        return bool(self.grid) and min(self.grid) < FINE

    def describe(self) -> str:
        """One line for the viewer: which map this is, and whether it is coarse."""
        if not self.grid:
            return ""
        h, w = self.grid
        text = f"Grad-CAM of {self.layer or 'the model'}: {h} x {w} cells over the {self.image.shape[0]} px input"
        if self.coarse:
            text += (" (coarse: this model has no finer map at this image size; a larger data.image_size "
                     "gives a finer one)")
        return text


def photo_and_box(path: str, crop: float) -> tuple[np.ndarray, tuple]:
    """The upright RGB photo (decoded as training decodes it, scaled to VIEW_SIDE at most) and the
    centred square of it that validation shows the model (the short side x ``crop``)."""
    photo = thumbnail(path, VIEW_SIDE)
    h, w = photo.shape[:2]
    side = min(w, h) * crop
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    return photo, tuple(int(round(v)) for v in box)


class CamProvider:
    """Loads a run's model once and computes Grad-CAM heatmaps for image files (worker threads only)."""

    def __init__(self, run_dir: str, which: str = "best") -> None:
        self.run_dir, self.which = str(run_dir), which
        self._temperature: float | None = None
        self.model, self.info = load_model(self.run_dir, which=which, device="cpu")
        self.model = self.model.float().cpu().eval()
        self.cfg = self.info.config
        self.classes = tuple(self.info.classes)
        self.lock = threading.Lock()

    def preprocess(self, path: str) -> tuple[np.ndarray, "torch.Tensor"]:  # noqa: F821
        """Same path as validation: decode + presize, resize / centre crop to the image size, normalize."""
        raw = torch.from_numpy(np.array(decode_presized(path, self.cfg.effective_presize)))[None]
        x01 = center_crop(raw, self.cfg.data.image_size, crop=self.cfg.data.valid_crop)  # float (1, 3, S, S)
        img = (x01[0].permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
        return img, normalize(x01, *norm_stats(self.cfg))

    def temperature(self) -> float:
        """The run's calibration temperature for this checkpoint (fitted once when missing or stale), so
        calibrated probabilities equal those of ``workbench predict`` and the folder CSV."""
        if self._temperature is None:
            self._temperature = run_temperature(self.run_dir, self.which)
        return self._temperature

    def explain(self, path: str, class_idx: int | None = None, calibrated: bool = False) -> CamResult:
        """Grad-CAM of ``path``; ``calibrated`` divides the logits by the run's temperature first (the
        Export page's prediction), otherwise the plain probabilities (as the Results page shows them)."""
        t = self.temperature() if calibrated else 1.0
        with self.lock:
            img, x = self.preprocess(path)
            with torch.no_grad():
                probs = torch.softmax(self.model(x).float() / t, dim=1)[0].numpy()
            idx = int(probs.argmax()) if class_idx is None else int(class_idx)
            cam, layer, grid = gradcam_info(self.model, x, class_idx=idx, min_side=FINE)
        photo, box = photo_and_box(path, self.cfg.data.valid_crop)
        return CamResult(path, img, cam, overlay(img, cam), probs.astype(np.float32), self.classes,
                         layer, grid, photo, box)


_providers: dict[tuple[str, str], CamProvider] = {}
_providers_lock = threading.Lock()


def cam_provider(run_dir: str, which: str = "best") -> CamProvider:
    """The shared provider of a run (only the most recent run's model is kept in memory)."""
    key = (str(run_dir), which)
    with _providers_lock:
        p = _providers.get(key)
        if p is None:
            _providers.clear()
            p = _providers[key] = CamProvider(*key)
        return p


def compute_cam(run_dir: str, path: str, class_idx: int | None = None, calibrated: bool = False) -> CamResult:
    """Worker-side entry: Grad-CAM of one image with the run's cached model (``calibrated``: see explain)."""
    return cam_provider(run_dir).explain(path, class_idx, calibrated)
