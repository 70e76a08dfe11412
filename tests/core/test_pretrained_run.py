"""A run from pretrained weights through the store: the weights' normalization reaches the run config,
training, validation, export and predict (predict on exported files equals evaluate); timm models too."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision

from workbench.models import weights
from workbench.config import RunConfig
from workbench.data import open_dataset
from workbench.data.pipeline import build_loaders
from workbench.inference.export import export_run, load_exported
from workbench.analysis.interpret import predict_loader
from workbench.run.runs import load_model
from workbench.train.run import train

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def _published_state(arch: str) -> dict:
    if arch.startswith("timm/"):
        timm = pytest.importorskip("timm")
        return timm.create_model(arch.removeprefix("timm/")).state_dict()
    return torchvision.models.get_model(arch).state_dict()


@pytest.fixture
def local_weights(request, tmp_path, monkeypatch):
    """Weights for request.param as the tag TEST, only in the cache (no URL is reachable)."""
    arch = request.param
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    s = weights.WeightsSpec(arch, "TEST", "http://127.0.0.1:9/unreachable", f"{arch.replace('/', '--')}-test.pth",
                            mean=MEAN, std=STD)
    weights.register(s)
    s.dest.parent.mkdir(parents=True)
    torch.manual_seed(0)
    state = _published_state(arch)
    torch.save(state, s.dest)
    yield arch, state
    weights.unregister(arch, "TEST")


@pytest.mark.parametrize("local_weights", ["timm/test_convnext", "mobilenet_v3_small"], indirect=True)
def test_pretrained_run_exports_and_predicts_like_evaluate(local_weights, shapes_dir, tmp_path):
    arch, state = local_weights
    cfg = RunConfig().with_overrides([
        f"model.arch={arch}", "model.pretrained=TEST", "data.image_size=32", "data.batch_size=24",
        "train.epochs=1", "train.device=cpu", "train.precision=fp32", "tricks.freeze_epochs=1",
        f"runs_dir={tmp_path / 'runs'}", "name=pre", "export.formats=safetensors,torchscript"]).set(
        "data.path", str(shapes_dir))
    assert cfg.validate() == []
    res = train(cfg)
    assert res.status == "completed", res.message
    run_cfg = RunConfig.load(res.run_dir / "config.toml")
    assert run_cfg.model.mean == pytest.approx(MEAN) and run_cfg.model.std == pytest.approx(STD)
    model, info = load_model(res.run_dir)
    # the body started from the file: frozen for the one epoch, so its first conv is the file's exactly
    first = next(k for k, v in state.items() if v.ndim == 4)
    assert torch.equal(model.state_dict()[first], state[first])
    results = export_run(res.run_dir, "safetensors,torchscript")
    assert all(r.ok for r in results)
    meta = json.loads((res.run_dir / "export" / "model.json").read_text())
    assert meta["input"]["mean"] == pytest.approx(MEAN) and meta["pretrained"] == "TEST"
    bundle = build_loaders(open_dataset(run_cfg.data, run_cfg.seed), run_cfg, torch.device("cpu"))
    evaluated = predict_loader(model, bundle.valid, bundle.cache.paths)
    # exports apply the temperature fitted on validation (model.json); softmax(log p / T) is the same
    # calibration applied to the evaluated probabilities
    calibrated = torch.softmax(torch.log(torch.as_tensor(evaluated.probs).double()) / meta["temperature"], 1).numpy()
    for r in results:
        predicted = load_exported(r.path).predict(evaluated.paths)
        assert np.abs(predicted - calibrated).max() < 1e-4, r.format
