"""Grad-CAM for any CNN-like classifier, hook-based; plus a numpy colormap overlay (no matplotlib).

The target layer is found automatically: the last module (in execution order) whose output is a 4-D
feature map with spatial size > 1, i.e. the last conv stage before global pooling. Works for torchvision
resnets, efficientnets, mobilenets and convnexts.
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


def find_target_layer(model: nn.Module, x: torch.Tensor) -> tuple[str, nn.Module]:
    """The last module whose output is (N, C, H, W) with H * W > 1 (the last conv stage)."""
    best = None
    for name, mod, shape in _record_outputs(model, x):
        if len(shape) == 4 and shape[2] * shape[3] > 1:
            best = (name, mod)
    if best is None:
        raise ValueError("Grad-CAM: the model has no 4-D feature map with spatial size > 1 "
                         f"for input size {tuple(x.shape[-2:])}; use larger images")
    return best


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
            layer: nn.Module | str | None = None) -> np.ndarray:
    """Class activation map (H, W) in [0, 1] for a normalized input ``x`` of shape (1, 3, H, W).

    ``class_idx`` None explains the predicted class. The model is put in eval mode; its weights are
    not changed and gradients of its parameters are left untouched.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"Grad-CAM expects one image of shape (1, 3, H, W), got {tuple(x.shape)}")
    model.eval()
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = x.detach().to(dev).float()
    target = _resolve_layer(model, layer, x)
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
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    top = float(cam.max())
    cam = cam / top if top > 0 else torch.zeros_like(cam)
    return cam.cpu().numpy().astype(np.float32)


# ----------------------------------------------------------------- colours
# "jet"-like colormap anchors: position -> RGB in [0, 1]
_ANCHORS = np.array([0.0, 0.125, 0.375, 0.625, 0.875, 1.0])
_COLOURS = np.array([[0, 0, 0.5], [0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0], [0.5, 0, 0]])


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB (blue -> cyan -> yellow -> red)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0, 1)
    rgb = np.stack([np.interp(v, _ANCHORS, _COLOURS[:, c]) for c in range(3)], axis=-1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a CAM (any size, values in [0, 1]) over an uint8 H x W x 3 image; returns uint8 H x W x 3."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"overlay expects an H x W x 3 image, got shape {img.shape}")
    cam = np.asarray(cam, dtype=np.float32)
    if cam.shape != img.shape[:2]:
        t = torch.from_numpy(cam)[None, None]
        cam = F.interpolate(t, size=img.shape[:2], mode="bilinear", align_corners=False)[0, 0].numpy()
    heat = colormap(cam).astype(np.float32)
    out = (1 - alpha) * img.astype(np.float32) + alpha * heat
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
