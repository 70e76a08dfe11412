"""Grad-CAM explanations of single images with a run's model, for worker threads (Qt-free).

``CamProvider`` loads a run's model once (one run at a time is kept) and turns an image path into a
heatmap with the validation preprocessing. The GUI calls ``compute_cam`` from its side thread pool, so
no view ever holds the model.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .config import norm_stats


@dataclass(frozen=True)
class CamResult:
    path: str
    image: np.ndarray      # uint8 S x S x 3, what the model saw (before normalization)
    cam: np.ndarray        # float32 S x S in [0, 1]
    overlay: np.ndarray    # uint8 S x S x 3
    probs: np.ndarray      # float32 (C,)
    classes: tuple


class CamProvider:
    """Loads a run's model once and computes Grad-CAM heatmaps for image files (worker threads only)."""

    def __init__(self, run_dir: str, which: str = "best") -> None:
        from .runs import load_model
        self.run_dir = str(run_dir)
        self.model, self.info = load_model(self.run_dir, which=which, device="cpu")
        self.model = self.model.float().cpu().eval()
        self.cfg = self.info.config
        self.classes = tuple(self.info.classes)
        self.lock = threading.Lock()

    def preprocess(self, path: str) -> tuple[np.ndarray, "torch.Tensor"]:  # noqa: F821
        """Same path as validation: decode + presize, resize / centre crop to the image size, normalize."""
        import torch
        from .augment import center_crop, normalize
        from .data.cache import decode_presized
        raw = torch.from_numpy(np.array(decode_presized(path, self.cfg.effective_presize)))[None]
        x01 = center_crop(raw, self.cfg.data.image_size, crop=self.cfg.data.valid_crop)  # float (1, 3, S, S)
        img = (x01[0].permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
        return img, normalize(x01, *norm_stats(self.cfg))

    def explain(self, path: str, class_idx: int | None = None) -> CamResult:
        import torch
        from .gradcam import gradcam, overlay
        with self.lock:
            img, x = self.preprocess(path)
            with torch.no_grad():
                probs = torch.softmax(self.model(x).float(), dim=1)[0].numpy()
            idx = int(probs.argmax()) if class_idx is None else int(class_idx)
            cam = gradcam(self.model, x, class_idx=idx)
        return CamResult(path, img, cam, overlay(img, cam), probs.astype(np.float32), self.classes)


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


def compute_cam(run_dir: str, path: str, class_idx: int | None = None) -> CamResult:
    """Worker-side entry: Grad-CAM of one image with the run's cached model."""
    return cam_provider(run_dir).explain(path, class_idx)
