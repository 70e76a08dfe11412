"""Autocast is decided once, in workbench.runtime.device: training and inference run the same dtype."""
from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn

from workbench.analysis import interpret
from workbench.config import RunConfig
from workbench.runtime.device import autocast, autocast_dtype
from workbench.train.trainer import Trainer
from synth import TensorLoader

PAIRS = [(d, p) for d in ("cpu", "cuda", "mps") for p in ("fp32", "bf16", "fp16")]


class Seen(nn.Module):
    """Records the autocast state (enabled, dtype) of the CPU during each forward."""

    def __init__(self, n_classes: int = 3):
        super().__init__()
        self.lin = nn.Linear(3 * 4 * 4, n_classes)
        self.seen: list[tuple[bool, torch.dtype]] = []

    def forward(self, x):
        self.seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return self.lin(x.flatten(1))


class AnyDeviceBatch:
    """A batch whose .to(device) works for any device type, so predict_loader runs without a GPU."""

    def __init__(self, n: int):
        self.n = n

    def to(self, device):
        return self

    def __len__(self):
        return self.n


class Constant(nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 3)


def trainer(precision: str = "fp32", model: nn.Module | None = None) -> Trainer:
    x, y = torch.randn(8, 3, 4, 4), torch.arange(8) % 3
    cfg = RunConfig().set("train.epochs", 1).set("train.lr", 1e-3)
    return Trainer(model or Seen(), TensorLoader(x, y, 4, True), TensorLoader(x, y, 4, False), cfg,
                   precision=precision)


@pytest.fixture
def recorded(monkeypatch):
    """torch.autocast replaced by a recorder of (device type, dtype)."""
    calls: list[tuple[str, torch.dtype]] = []

    def fake(device_type, dtype=None, **kw):
        calls.append((device_type, dtype))
        return contextlib.nullcontext()

    monkeypatch.setattr(torch, "autocast", fake)
    return calls


def train_side(tr: Trainer, dev: str, precision: str, calls: list):
    tr.device, tr.precision = torch.device(dev), precision
    del calls[:]
    try:
        with tr._autocast():
            pass
    except ValueError as e:
        return ("error", str(e))
    return list(calls)


def interpret_side(dev: str, precision: str, calls: list):
    del calls[:]
    loader = [(AnyDeviceBatch(2), torch.tensor([0, 1]))]
    try:
        interpret.predict_loader(Constant(), loader, ["a", "b"], device=dev, precision=precision,
                                 classes=("a", "b", "c"))
    except ValueError as e:
        return ("error", str(e))
    return list(calls)


def test_trainer_and_interpret_choose_the_same_autocast_for_every_device_and_precision(recorded):
    tr = trainer()
    for dev, precision in PAIRS:
        train, infer = train_side(tr, dev, precision, recorded), interpret_side(dev, precision, recorded)
        assert train == infer, (dev, precision, train, infer)
        if precision == "fp16" and dev == "cpu":
            assert train[0] == "error"
        else:
            dtype = autocast_dtype(dev, precision)
            assert train == ([] if dtype is None else [(dev, dtype)])
    # fp16 on a GPU (CUDA or Apple) is autocast in both, not only on CUDA
    assert train_side(tr, "mps", "fp16", recorded) == [("mps", torch.float16)]


@pytest.mark.parametrize("precision, expected", [("fp32", (False, None)), ("bf16", (True, torch.bfloat16))])
def test_training_and_inference_forward_passes_run_in_the_same_dtype_on_cpu(precision, expected):
    tr = trainer(precision)
    tr.fit(1)
    train_seen = set(tr.model.seen)
    model = Seen()
    loader = [(torch.randn(2, 3, 4, 4), torch.tensor([0, 1]))]
    interpret.predict_loader(model, loader, ["a", "b"], precision=precision, classes=("a", "b", "c"))
    infer_seen = set(model.seen)
    assert train_seen == infer_seen
    enabled, dtype = next(iter(train_seen))
    assert enabled is expected[0]
    if expected[1] is not None:
        assert dtype == expected[1]


def test_unknown_precision_is_one_sentence():
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        autocast("cpu", "fp8")
