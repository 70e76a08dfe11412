"""Grad-CAM maps fine enough to read: a stage with at least 7 x 7 cells, a perceptual colour map,
a heatmap that fades where it is cold, placed on the part of the full photo the model saw."""
from __future__ import annotations

import numpy as np
import torch
import torchvision

from workbench.analysis.gradcam import colormap, find_target_layer, gradcam_info, overlay


def test_small_inputs_are_explained_on_a_stage_with_7x7_cells():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2).eval()
    x = torch.randn(1, 3, 64, 64)
    assert find_target_layer(model, x)[0] == "layer4"            # 2 x 2: the colour wash
    cam, layer, grid = gradcam_info(model, x, min_side=7)
    assert layer == "layer2" and grid == (8, 8) and cam.shape == (64, 64)
    cam, layer, grid = gradcam_info(model, torch.randn(1, 3, 224, 224), min_side=7)
    assert layer == "layer4" and grid == (7, 7)                  # large inputs keep the last stage
    _, layer, grid = gradcam_info(model, torch.randn(1, 3, 20, 20), min_side=7)
    assert layer == "layer2" and grid == (3, 3)   # no late stage that fine: the finest of them (coarse)


def test_colour_map_is_perceptual():
    rgb = colormap(np.linspace(0, 1, 64)).astype(np.float64) / 255
    lum = 0.2126 * rgb[:, 0] + 0.7152 * rgb[:, 1] + 0.0722 * rgb[:, 2]
    assert np.all(np.diff(lum) > 0)                              # lightness rises steadily (not jet)


def test_overlay_fades_where_cold_and_stays_in_its_box():
    img = np.full((60, 80, 3), 128, np.uint8)
    cam = np.zeros((8, 8), np.float32)
    cam[:4, :4] = 1.0
    out = overlay(img, cam, alpha=0.5, box=(10, 0, 70, 60))
    assert (out[:, :10] == 128).all() and (out[:, 70:] == 128).all()    # outside the box: the photo
    hot, cold = out[5, 15].astype(int), out[55, 65].astype(int)
    assert np.abs(cold - 128).max() < np.abs(hot - 128).max()             # the cold part keeps the photo
    assert np.abs(overlay(img, cam, alpha=0.0) - img).max() == 0
