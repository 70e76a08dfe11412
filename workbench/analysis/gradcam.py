"""Grad-CAM for any CNN-like classifier, hook-based; plus a numpy colormap overlay (no matplotlib).

The target layer is found automatically: the last module (in execution order) whose output is a 4-D
feature map of at least ``min_side`` x ``min_side`` cells, else the last one with spatial size > 1.
With ``min_side`` 1 that is the last conv stage before global pooling; the explanations of the app
ask for 7 x 7, so a 64 px input (2 x 2 at resnet's last stage, a colour wash) is explained on an
earlier stage (8 x 8). Works for torchvision resnets, efficientnets, mobilenets and convnexts.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _record_outputs(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, tuple]]:
    """Forward once; list (name, module, output shape) in the order the modules finished."""
    seen: list[tuple[str, nn.Module, tuple]] = []
    handles = []
    for name, mod in model.named_modules():
        if mod is model:
            continue
        def hook(m, inp, out, name=name):
            if torch.is_tensor(out):
                seen.append((name, m, tuple(out.shape)))
        handles.append(mod.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def find_target_layer(model: nn.Module, x: torch.Tensor, min_side: int = 1) -> tuple[str, nn.Module]:
    """The last module whose output is (N, C, H, W) with H and W >= ``min_side``; see ``_find``."""
    return _find(model, x, min_side)[:2]


def _find(model: nn.Module, x: torch.Tensor, min_side: int) -> tuple[str, nn.Module, tuple]:
    """With ``min_side`` 1: the last 4-D feature map with H * W > 1. Otherwise the last map with at
    least ``min_side`` cells a side among the late stages (at least a quarter of the last map's
    channels: the first convolutions see edges, not classes); when none is that fine, the finest of
    those stages (ties: the later one)."""
    all_maps = [(name, mod, shape) for name, mod, shape in _record_outputs(model, x) if len(shape) == 4]
    maps = [m for m in all_maps if m[2][2] * m[2][3] > 1]
    if not maps:
        raise ValueError("Grad-CAM: the model has no 4-D feature map with spatial size > 1 "
                         f"for input size {tuple(x.shape[-2:])}; use larger images")
    if min_side <= 1:
        name, mod, shape = maps[-1]
        return name, mod, shape[2:]
    late = [m for m in maps if m[2][1] * 4 >= all_maps[-1][2][1]]
    fine = [m for m in late if min(m[2][2:]) >= min_side]
    name, mod, shape = fine[-1] if fine else max(reversed(late), key=lambda m: min(m[2][2:]))
    return name, mod, shape[2:]


def _resolve_layer(model: nn.Module, layer: Any, x: torch.Tensor) -> nn.Module:
    if layer is None:
        return find_target_layer(model, x)[1]
    if isinstance(layer, str):
        mods = dict(model.named_modules())
        if layer not in mods:
            raise ValueError(f"Grad-CAM: model has no layer named '{layer}'")
        return mods[layer]
    return layer


def gradcam(model: nn.Module, x: torch.Tensor, class_idx: int | None = None,
            layer: nn.Module | str | None = None, min_side: int = 1) -> np.ndarray:
    """Class activation map (H, W) in [0, 1] for a normalized input ``x`` of shape (1, 3, H, W).

    ``class_idx`` None explains the predicted class. The model is put in eval mode; its weights are
    not changed and gradients of its parameters are left untouched.
    """
    return gradcam_info(model, x, class_idx, layer, min_side)[0]


def gradcam_info(model: nn.Module, x: torch.Tensor, class_idx: int | None = None,
                 layer: nn.Module | str | None = None, min_side: int = 7) -> tuple[np.ndarray, str, tuple]:
    """``gradcam`` plus the name of the layer explained and its grid (cells high, cells wide)."""
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"Grad-CAM expects one image of shape (1, 3, H, W), got {tuple(x.shape)}")
    model.eval()
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = x.detach().to(dev).float()
    if layer is None:
        name, target, _ = _find(model, x, min_side)
    else:
        target = _resolve_layer(model, layer, x)
        name = layer if isinstance(layer, str) else next((n for n, m in model.named_modules() if m is target), "")
    acts: list[torch.Tensor] = []
    h = target.register_forward_hook(lambda m, i, o: acts.append(o))
    try:
        with torch.enable_grad():
            xg = x.clone().requires_grad_(True)
            logits = model(xg)
            if class_idx is None:
                class_idx = int(logits[0].argmax())
            act = acts[-1]
            grad, = torch.autograd.grad(logits[0, class_idx], act)
    finally:
        h.remove()
    act, grad = act.detach().float(), grad.detach().float()
    grid = tuple(int(v) for v in act.shape[2:])
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    top = float(cam.max())
    cam = cam / top if top > 0 else torch.zeros_like(cam)
    return cam.cpu().numpy().astype(np.float32), name, grid


# ----------------------------------------------------------------- colours
# viridis anchors (perceptually uniform: lightness rises steadily from dark violet to yellow, also
# for colour-blind readers), position -> RGB in [0, 1]
_ANCHORS = np.linspace(0.0, 1.0, 9)
_COLOURS = np.array([[0.267, 0.005, 0.329], [0.279, 0.175, 0.483], [0.230, 0.322, 0.546],
                     [0.173, 0.449, 0.558], [0.128, 0.567, 0.551], [0.153, 0.683, 0.498],
                     [0.360, 0.785, 0.388], [0.678, 0.864, 0.190], [0.993, 0.906, 0.144]])


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB (viridis: dark violet -> blue -> green -> yellow)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0, 1)
    rgb = np.stack([np.interp(v, _ANCHORS, _COLOURS[:, c]) for c in range(3)], axis=-1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def _resize(cam: np.ndarray, shape: tuple) -> np.ndarray:
    if cam.shape == tuple(shape):
        return cam
    t = torch.from_numpy(np.ascontiguousarray(cam, dtype=np.float32))[None, None]
    return F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False)[0, 0].numpy()


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5,
            box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Blend a CAM (any size, values in [0, 1]) over an uint8 H x W x 3 image; returns uint8 H x W x 3.

    The heatmap's opacity is ``alpha`` where the map is hot, fading to a quarter of it where it is
    cold, so the photo stays readable. ``box`` (left, top, right, bottom) puts the map on the part of
    the image the model saw (the validation crop of a full-resolution photo); the rest is unchanged."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"overlay expects an H x W x 3 image, got shape {img.shape}")
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))
    out = img.astype(np.float32).copy()
    if x1 > x0 and y1 > y0:
        c = np.clip(_resize(np.asarray(cam, dtype=np.float32), (y1 - y0, x1 - x0)), 0, 1)
        a = (float(alpha) * (0.25 + 0.75 * c))[..., None]
        region = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = (1 - a) * region + a * colormap(c).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def dim_outside(image: np.ndarray, box: tuple[int, int, int, int], keep: float = 0.45) -> np.ndarray:
    """The image with everything outside ``box`` (left, top, right, bottom) darkened to ``keep`` of its
    brightness: the part of a full-resolution photo the model never saw reads as such, not as a frame
    the heatmap forgot."""
    out = np.asarray(image).astype(np.float32)
    h, w = out.shape[:2]
    x0, y0, x1, y1 = max(0, int(box[0])), max(0, int(box[1])), min(w, int(box[2])), min(h, int(box[3]))
    inside = out[y0:y1, x0:x1].copy()
    out *= keep
    out[y0:y1, x0:x1] = inside
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def centre_of_mass(cam: np.ndarray) -> tuple[float, float]:
    """(x, y) centre of mass of a map, in pixel coordinates."""
    cam = np.asarray(cam, dtype=np.float64)
    total = cam.sum()
    if total <= 0:
        h, w = cam.shape
        return (w - 1) / 2, (h - 1) / 2
    ys, xs = np.indices(cam.shape)
    return float((xs * cam).sum() / total), float((ys * cam).sum() / total)
