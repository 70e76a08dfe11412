"""Pretrained weights "on disk" for tests: a small timm model's (random) weights registered as the tag
TEST with their own normalization and input size, only in the test's weights cache, and listed as
bundled with the install (what ``weights.bundled()`` reports where the backbone package is installed).
Nothing is downloaded."""
from __future__ import annotations

import pytest
import torch

from workbench.recipe import pretrained

from workbench.models import weights

ARCH, TAG, NATIVE = "timm/test_efficientnet", "TEST", 224


@pytest.fixture
def bundled_weights(tmp_path, monkeypatch):
    """(arch, tag, native input size) of the weights weights_on_disk() now finds (origin 'bundled')."""
    timm = pytest.importorskip("timm")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    s = weights.WeightsSpec(ARCH, TAG, "http://127.0.0.1:9/unreachable", "test_efficientnet-bundled.pth",
                            mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), input_size=NATIVE)
    weights.register(s)
    s.dest.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(timm.create_model(ARCH.removeprefix("timm/")).state_dict(), s.dest)
    for module in (weights, pretrained):   # wherever weights_on_disk() looks it up
        monkeypatch.setattr(module, "bundled", lambda: [(ARCH, TAG)], raising=False)
    yield ARCH, TAG, NATIVE
    weights.unregister(ARCH, TAG)


@pytest.fixture
def no_disk_weights(monkeypatch):
    """No ImageNet weights on this machine: the bundled packages (installed with the test environment)
    count as absent, and the test's weights cache is empty."""
    for module in (weights, pretrained):
        monkeypatch.setattr(module, "bundled", lambda: [], raising=False)
