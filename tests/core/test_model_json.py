"""A malformed model.json is refused with a message (never a traceback, NaN probabilities or an
unbounded allocation), by the loader and by `workbench predict` (exit 2)."""
from __future__ import annotations

import json
import math

import pytest

from trained_run import trained_run
from workbench.cli import main
from workbench.inference.export import ExportError, export_run, load_exported


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("mj") / "export"
    export_run(trained_run(tmp_path_factory), "safetensors", out)
    return out


def _edit(meta: dict, case: str) -> str:
    inp = meta["input"]
    if case == "classes_int":
        meta["classes"] = 5
    elif case == "size_0":
        inp["image_size"] = 0
    elif case == "size_neg":
        inp["image_size"] = -5
    elif case == "mean_2":
        inp["mean"] = [0.5, 0.5]
    elif case == "std_0":
        inp["std"] = [0, 0.2, 0.2]
    elif case == "std_nan":
        inp["std"] = [math.nan, 0.2, 0.2]
    elif case == "crop_0":
        inp["valid_crop"] = 0
    elif case == "crop_neg":
        inp["valid_crop"] = -1
    elif case == "size_6000":
        inp["image_size"], inp["presize"] = 6000, 12000
    elif case == "files_escape":
        meta["files"] = {"safetensors": "../../etc/passwd"}
    elif case.startswith("temp_"):
        meta["temperature"] = {"temp_neg": -1.0, "temp_zero": 0, "temp_nan": math.nan, "temp_inf": math.inf,
                               "temp_str": "2", "temp_huge": 1e300}[case]
    elif case == "dropout_neg":
        meta["dropout"] = -1
    if case == "deep":
        return "[" * 200_000 + "]" * 200_000
    return json.dumps(meta)


CASES = ["classes_int", "size_0", "size_neg", "mean_2", "std_0", "std_nan", "crop_0", "crop_neg", "size_6000",
         "files_escape", "deep", "temp_neg", "temp_zero", "temp_nan", "temp_inf", "temp_str", "temp_huge",
         "dropout_neg"]


@pytest.mark.parametrize("case", CASES)
def test_malformed_model_json_is_refused(case, export_dir, tmp_path, tmp_path_factory, capsys):
    import shutil
    d = tmp_path / "exp"
    shutil.copytree(export_dir, d)
    meta = json.loads((d / "model.json").read_text())
    (d / "model.json").write_text(_edit(meta, case))
    with pytest.raises(ExportError, match="model.json|JSON"):
        load_exported(d / "model.json")
    img = next((trained_run(tmp_path_factory).parents[1] / "shapes").rglob("*.png"))
    assert main(["predict", str(d / "model.json"), str(img)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    if case.startswith("temp_"):
        assert "'temperature' must be a finite number above 0" in err


def test_the_export_itself_loads(export_dir):
    assert load_exported(export_dir / "model.json").image_size == 32


@pytest.mark.parametrize("n_out", [1, 5])
def test_onnx_whose_outputs_differ_from_its_model_json_is_refused(n_out, export_dir, tmp_path, tmp_path_factory,
                                                                  capsys):
    import torch

    from workbench.inference.export import write_onnx
    meta = json.loads((export_dir / "model.json").read_text())
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, n_out)).eval()
    path = write_onnx(model, meta, tmp_path, torch.zeros(2, 3, 32, 32))
    with pytest.raises(ExportError, match=rf"shape \(1, {n_out}\).*lists 3 classes"):
        load_exported(path)
    img = next((trained_run(tmp_path_factory).parents[1] / "shapes").rglob("*.png"))
    assert main(["predict", str(path), str(img)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and "lists 3 classes" in err
