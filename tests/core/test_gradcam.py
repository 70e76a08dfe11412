"""Grad-CAM: shapes on four torchvision families, overlay, and localisation on a trained model."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from synth import CLASSES, draw_shape
from workbench.analysis.gradcam import centre_of_mass, colormap, find_target_layer, gradcam, overlay

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def to_input(img) -> torch.Tensor:
    x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255
    return (x - MEAN) / STD


@pytest.mark.parametrize("arch,expected", [
    ("resnet18", "layer4"), ("efficientnet_b0", "features"),
    ("mobilenet_v3_small", "features"), ("convnext_tiny", "features")])
def test_gradcam_shapes_on_torchvision_models(arch, expected):
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=3).eval()
    x = torch.randn(1, 3, 64, 64)
    name, _ = find_target_layer(model, x)
    assert name == expected or name.startswith(expected + ".")
    cam = gradcam(model, x)
    assert cam.shape == (64, 64) and cam.dtype == np.float32
    assert cam.min() >= 0.0 and cam.max() <= 1.0
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cam2 = gradcam(model, x, class_idx=2, layer=name)
    assert cam2.shape == (64, 64)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_gradcam_rejects_bad_input():
    model = torchvision.models.resnet18(num_classes=3)
    with pytest.raises(ValueError, match="one image"):
        gradcam(model, torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="no layer named"):
        gradcam(model, torch.randn(1, 3, 32, 32), layer="nope")


def test_overlay_and_colormap():
    img = np.full((40, 30, 3), 100, np.uint8)
    cam = np.zeros((10, 10), np.float32)
    cam[5:, 5:] = 1.0
    out = overlay(img, cam, alpha=0.5)
    assert out.shape == (40, 30, 3) and out.dtype == np.uint8
    assert out[-1, -1, 0] > out[0, 0, 0]          # hot corner is red
    assert out[0, 0, 2] > out[0, 0, 0]            # cold corner is blue
    lut = colormap(np.linspace(0, 1, 5))
    assert lut.shape == (5, 3) and lut[0, 2] > lut[0, 1] and lut[-1, 0] > 200   # dark violet .. yellow


class SmallCNN(nn.Module):
    def __init__(self, n: int = 3) -> None:
        super().__init__()
        def block(i, o, s):
            return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
        self.features = nn.Sequential(block(3, 16, 1), block(16, 32, 2), block(32, 64, 2), block(64, 64, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(64, n)

    def forward(self, x):
        return self.head(self.pool(self.features(x)).flatten(1))


def load_split(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image
    xs, ys = [], []
    for label, c in enumerate(CLASSES):
        for f in sorted((root / split / c).glob("*.png")):
            xs.append(to_input(Image.open(f).convert("RGB")))
            ys.append(label)
    return torch.cat(xs), torch.tensor(ys)


def test_cam_centre_of_mass_inside_shape(shapes_dir):
    """A model trained on the shapes fixture looks at the shape: CAM centre of mass inside its box."""
    torch.manual_seed(0)
    x, y = load_split(shapes_dir, "train")
    model = SmallCNN()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(24):
            xb = x[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
            dx, dy = torch.randint(-4, 5, (2,), generator=g).tolist()
            xb = xb.roll((dy, dx), (2, 3))
            loss = nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.8, f"the model did not learn the shapes (train accuracy {acc:.2f})"

    rng = random.Random(123)
    inside = total = 0
    for k in range(24):
        kind = CLASSES[k % 3]
        img, (x0, y0, x1, y1) = draw_shape(kind, 32, rng)
        cam = gradcam(model, to_input(img), class_idx=CLASSES.index(kind))
        cx, cy = centre_of_mass(cam)
        inside += (x0 <= cx <= x1) and (y0 <= cy <= y1)
        total += 1
    assert inside / total >= 0.75, f"CAM centre inside the shape box for only {inside}/{total} images"
