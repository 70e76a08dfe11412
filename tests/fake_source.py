"""A model source registered from a test alone: ``tiny/net``, a small conv net built here, with one set
of weights (``v1``) in one safetensors file of the test's folder. Registering it touches no file of the
program: the builder, the weights store, ``weights list`` and the model picker find it in the registry."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from workbench.models.source import Located, Source, WeightsSpec
from workbench.models.sources import register, unregister

ARCH, TAG = "tiny/net", "v1"


class TinyNet(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten())
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc(self.body(self.stem(x)))


class TinySource(Source):
    name = "tiny"
    label = "tiny test networks"
    prefix = "tiny/"
    builds = True
    examples = ("tiny/net",)

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def archs(self) -> list[str]:
        return [ARCH]

    def build(self, arch: str, num_classes: int) -> nn.Module:
        return TinyNet(num_classes)

    def tags(self, arch: str) -> list[str]:
        return [TAG] if arch == ARCH else []

    def spec(self, arch: str, tag: str) -> WeightsSpec:
        return WeightsSpec(arch, TAG, "http://127.0.0.1:9/tiny-net-v1.safetensors", "tiny-net-v1.safetensors",
                           mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), input_size=32)

    def locate(self, spec: WeightsSpec) -> Located | None:
        p = self.folder / spec.filename
        return Located("cached", p) if spec.arch == ARCH and p.is_file() else None

    def listed(self, everything: bool) -> list[str]:
        return self.archs()


@pytest.fixture
def tiny_source(tmp_path):
    """(the registered source, the body tensors of its one weights file)."""
    torch.manual_seed(3)
    body = {k: v for k, v in TinyNet(1000).state_dict().items() if not k.startswith("fc.")}
    folder = tmp_path / "tiny-weights"
    folder.mkdir()
    save_file(body, str(folder / "tiny-net-v1.safetensors"))
    src = register(TinySource(folder))
    yield src, body
    unregister(src.name)
