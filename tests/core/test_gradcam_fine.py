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


class BrightSpot(torch.nn.Module):
    """A CNN whose evidence is known: zero-padded 3 x 3 convolutions that pass on brightness above a
    dark grey, pooled to 7 x 7 cells at 112 px; class 0 = "something bright", class 1 its opposite."""

    def __init__(self) -> None:
        super().__init__()
        convs = [torch.nn.Conv2d(3 if i == 0 else 4, 4, 3, padding=1) for i in range(4)]
        with torch.no_grad():
            for i, c in enumerate(convs):
                c.weight.zero_()
                c.bias.fill_(-1.0 if i == 0 else 0.0)
                for o in range(4):
                    if i == 0:
                        c.weight[o, :, 1, 1] = 1 / 3      # mean of the normalized channels
                    else:
                        c.weight[o, o, 1, 1] = 1.0
        self.features = torch.nn.Sequential(*[m for c in convs for m in (c, torch.nn.ReLU(), torch.nn.AvgPool2d(2))])
        self.head = torch.nn.Linear(4, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0] * 4, [-1.0] * 4]))
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def test_heatmaps_sit_on_the_evidence_not_at_the_edges(tmp_path):
    """The app's whole path (decode, centre square, presize, validation crop, CAM upsampling and
    normalization, the box on the full photo) on photos whose only evidence is a bright disc, wide, tall
    and square, centred and not: the hot spot is on the disc, and the picture's edges stay cold. The
    pipeline pads nothing; edge hot spots on real photos come from the model (README: Grad-CAM)."""
    import threading

    from PIL import Image, ImageDraw

    from workbench.analysis.explain import CamProvider
    from workbench.analysis.gradcam import centre_of_mass
    from workbench.config import RunConfig
    cam = object.__new__(CamProvider)   # a provider without a run folder: its model is the one above
    cam.run_dir, cam.which, cam._temperature, cam.lock = "", "best", 1.0, threading.Lock()
    cam.model, cam.classes = BrightSpot().eval(), ("bright", "dark")
    cam.cfg = RunConfig().set("data.image_size", 112).set("data.valid_crop", 0.875)
    for (w, h), (cx, cy) in (((320, 200), (160, 100)), ((200, 320), (100, 160)), ((300, 300), (190, 120))):
        img = Image.new("RGB", (w, h), (40, 40, 40))
        ImageDraw.Draw(img).ellipse((cx - 20, cy - 20, cx + 20, cy + 20), fill=(255, 255, 255))
        path = tmp_path / f"disc-{w}x{h}.png"
        img.save(path)
        r = cam.explain(str(path), class_idx=0)
        assert r.photo.shape[:2] == (h, w) and r.cam.shape == (112, 112)
        mx, my = centre_of_mass(r.cam)
        x0, y0, x1, y1 = r.box
        px, py = x0 + (mx + 0.5) * (x1 - x0) / 112, y0 + (my + 0.5) * (y1 - y0) / 112
        assert abs(px - cx) < 8 and abs(py - cy) < 8, (w, h, px, py)
        ring = np.ones((112, 112), bool)
        ring[12:-12, 12:-12] = False
        assert r.cam[ring].max() < 0.05, (w, h)          # the edges are cold


def test_the_part_of_the_photo_the_model_did_not_see_is_dimmed():
    from workbench.analysis.gradcam import dim_outside
    img = np.full((60, 80, 3), 200, np.uint8)
    out = dim_outside(img, (10, 0, 70, 60))
    assert (out[:, 10:70] == 200).all()                                  # the square the model saw: as it was
    assert (out[:, :10] == 90).all() and (out[:, 70:] == 90).all()        # the rest at 45 % of its brightness
