"""Export -> reload -> same predictions, for safetensors, TorchScript and ONNX; clear errors."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from workbench.config import RunConfig
from workbench.inference.export import ExportError, ExportFailed, export_model, load_exported, parse_formats
from workbench.models.build import create_model
from workbench.inference.predict import decode_paths

HAS_ORT = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
FORMATS = ["safetensors", "torchscript"] + (["onnx"] if HAS_ORT else [])


@pytest.fixture(scope="module")
def exported(shapes_dir, tmp_path_factory):
    cfg = RunConfig().with_overrides(["data.image_size=32", "model.arch=resnet18"]).set("data.path", str(shapes_dir))
    torch.manual_seed(0)
    model = create_model("resnet18", 3, dropout=0.25)
    with torch.no_grad():  # make the random head decisive so top-1 is well defined
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(20)
    out = tmp_path_factory.mktemp("export")
    results = export_model(model, cfg, ("circle", "square", "triangle"), FORMATS, out)
    return cfg, model.eval(), out, results


def test_all_formats_match_in_app_model(exported, shapes_dir):
    cfg, model, out, results = exported
    assert [r.format for r in results] == FORMATS
    for r in results:
        assert r.ok and r.top1_equal and r.max_abs_diff <= cfg.export.parity_atol and r.n_images > 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["classes"] == ["circle", "square", "triangle"] and meta["num_classes"] == 3
    assert meta["input"]["image_size"] == 32 and meta["input"]["presize"] == cfg.effective_presize
    assert meta["arch"] == "resnet18" and meta["recipe"]["data"]["image_size"] == 32
    assert len(meta["input"]["mean"]) == 3 and "centre" in meta["input"]["resize"]

    paths = sorted(str(p) for p in (shapes_dir / "valid").rglob("*.png"))[:12]
    u8, ok, errors = decode_paths(paths, cfg.effective_presize)
    assert not errors and len(ok) == 12
    ref = load_exported(out / "model.json")
    x = ref.preprocess(u8)
    with torch.no_grad():
        direct = torch.softmax(model(x), 1).numpy()
    base = ref.predict(paths)
    np.testing.assert_allclose(base, direct, atol=1e-5)
    for name in ("model.safetensors", "model.pt", "model.onnx" if HAS_ORT else "model.pt"):
        p = load_exported(out / name)
        assert p.classes == ("circle", "square", "triangle")
        probs = p.predict(paths)
        np.testing.assert_allclose(probs, base, atol=1e-4)
        assert (probs.argmax(1) == base.argmax(1)).all()
    # uint8 arrays of any size go through the same presize + crop
    arr = np.stack([np.asarray(__import__("PIL.Image").Image.open(q).convert("RGB")) for q in paths[:3]])
    np.testing.assert_allclose(ref.predict(arr), base[:3], atol=1e-5)


def test_export_folder_works_without_json_for_embedded_formats(exported, tmp_path):
    _, _, out, _ = exported
    for name in ("model.pt",) + (("model.onnx",) if HAS_ORT else ()):
        (tmp_path / name).write_bytes((out / name).read_bytes())
        assert load_exported(tmp_path / name).classes == ("circle", "square", "triangle")


def test_missing_or_mismatched_metadata(exported, tmp_path):
    _, _, out, _ = exported
    lone = tmp_path / "model.safetensors"
    lone.write_bytes((out / "model.safetensors").read_bytes())
    with pytest.raises(ExportError, match="model.json not found"):
        load_exported(lone)
    meta = json.loads((out / "model.json").read_text())
    meta["classes"] = ["a", "b", "c", "d"]
    meta["num_classes"] = 4
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ExportError, match="do not match model.json"):
        load_exported(tmp_path / "model.json")
    meta["num_classes"] = 3
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ExportError, match="lists 4 classes"):
        load_exported(tmp_path / "model.json")
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ExportError, match="not readable JSON"):
        load_exported(tmp_path / "model.json")
    with pytest.raises(ExportError, match="unknown model file type"):
        load_exported(__file__)
    with pytest.raises(ExportError, match="unknown export format"):
        parse_formats("safetensors,tflite")


def test_parity_failure_raises(shapes_dir, tmp_path, monkeypatch):
    """A broken writer (weights perturbed on the way out) is caught by the parity check."""
    import workbench.inference.export as ex
    cfg = RunConfig().with_overrides(["data.image_size=32"]).set("data.path", str(shapes_dir))
    model = create_model("resnet18", 3)
    real = ex.write_safetensors

    def corrupt(m, meta, out, x):
        bad = create_model("resnet18", 3)
        return real(bad, meta, out, x)
    monkeypatch.setattr(ex, "write_safetensors", corrupt)
    with pytest.raises(ExportFailed, match="does not match the in-app model") as failed:
        export_model(model, cfg, ("a", "b", "c"), "safetensors", tmp_path)
    assert failed.value.format == "safetensors"   # the GUI marks that format FAILED from this


def test_a_writer_error_names_its_format(shapes_dir, tmp_path, monkeypatch):
    import workbench.inference.export as ex
    cfg = RunConfig().with_overrides(["data.image_size=32"]).set("data.path", str(shapes_dir))

    def broken(m, meta, out, x):
        raise OSError("disk full")
    monkeypatch.setattr(ex, "write_torchscript", broken)
    with pytest.raises(ExportFailed, match="torchscript export to .* failed: OSError: disk full") as failed:
        export_model(create_model("resnet18", 3), cfg, ("a", "b", "c"), ["safetensors", "torchscript"], tmp_path)
    assert failed.value.format == "torchscript"
