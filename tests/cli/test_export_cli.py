"""`workbench export / predict / evaluate` on a tiny trained run."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from trained_run import trained_run
from workbench.analysis.calibration import read_temperature, scale
from workbench.cli import main
from workbench.analysis.interpret import Predictions


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory)


@pytest.fixture(scope="module")
def evaluation(run_dir, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("eval") / "eval.json"
    assert main(["evaluate", str(run_dir), "--tta", "--json", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def valid_copy(run_dir, tmp_path_factory) -> Path:
    """The run's validation folder copied, plus an unreadable file (the dataset itself stays untouched)."""
    from workbench.config import RunConfig
    cfg = RunConfig.load(run_dir / "config.toml")
    dst = tmp_path_factory.mktemp("to_predict") / "valid"
    shutil.copytree(Path(cfg.data.path) / "valid", dst)
    (dst / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    return dst


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exp")
    assert main(["export", str(run_dir), "--format", "safetensors,torchscript,onnx", "--out", str(out)]) == 0
    return out


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_evaluate_json(evaluation, capsys):
    s = evaluation["summary"]
    assert s["n"] == 24 and 0.0 <= s["accuracy"] <= 1.0
    assert sum(map(sum, evaluation["confusion_matrix"])) == 24
    assert [r["class"] for r in evaluation["per_class"]] == ["circle", "square", "triangle"]
    losses = [t["loss"] for t in evaluation["top_losses"]]
    assert losses == sorted(losses, reverse=True) and len(losses) == 10
    assert set(evaluation["tta"]) >= {"plain_accuracy", "tta_accuracy", "gain"}
    assert evaluation["tta"]["plain_accuracy"] == pytest.approx(s["accuracy"])
    c = evaluation["calibration"]
    assert c["temperature"] == pytest.approx(read_temperature(evaluation["run_dir"]))
    assert 0.0 <= c["ece_after"] <= 1.0 and 0.0 <= c["ece_before"] <= 1.0


def test_export_cli_all_formats(run_dir, exported, tmp_path, capsys):
    for name in ("model.json", "model.safetensors", "model.pt", "model.onnx"):
        assert (exported / name).is_file()
    meta = json.loads((exported / "model.json").read_text())
    assert set(meta["files"]) == {"safetensors", "torchscript", "onnx"}
    out = tmp_path / "exp"
    assert main(["export", str(run_dir), "--format", "safetensors", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "safetensors" in text and "same" in text and "match the in-app model" in text
    assert main(["export", str(tmp_path), "--out", str(out)]) == 2
    assert main(["export", str(run_dir), "--format", "tflite"]) == 2


@pytest.mark.parametrize("model", ["run", "model.json", "model.pt", "model.onnx"])
def test_predict_folder_matches_evaluate(model, run_dir, exported, evaluation, valid_copy, tmp_path, capsys):
    model_path = run_dir if model == "run" else exported / model
    csv_path = tmp_path / "preds.csv"
    code = main(["predict", str(model_path), str(valid_copy), "--out", str(csv_path), "--topk", "2"])
    err = capsys.readouterr().err
    assert code == 0
    assert "broken.png" in err and "1 unreadable" in err
    rows = read_csv(csv_path)
    assert len(rows) == 24 and set(rows[0]) == {"path", "label", "probability", "top_k"}
    expected = {Path(e["path"]).relative_to(Path(e["path"]).parents[1]).as_posix(): e
                for e in evaluation["predictions"]}
    # predict and every export apply the temperature fitted on the validation set
    t = read_temperature(run_dir)
    assert t != 1.0 and json.loads((exported / "model.json").read_text())["temperature"] == pytest.approx(t)
    val = Predictions.load(run_dir / "predictions.npz")
    calibrated = dict(zip((Path(q).relative_to(Path(q).parents[1]).as_posix() for q in val.paths),
                          scale(val.probs, t).max(1)))
    for r in rows:
        key = Path(r["path"]).relative_to(valid_copy).as_posix()
        assert r["label"] == expected[key]["pred"], key
        assert float(r["probability"]) == pytest.approx(calibrated[key], abs=1e-3)
        top = r["top_k"].split(";")
        assert len(top) == 2 and top[0].startswith(r["label"] + ":")


def test_predict_single_file_to_stdout_and_errors(run_dir, valid_copy, capsys):
    one = next((valid_copy / "square").glob("*.png"))
    assert main(["predict", str(run_dir), str(one)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "path,label,probability,top_k" and len(out) == 2
    assert main(["predict", str(run_dir), str(valid_copy / "circle" / "broken.png")]) == 1
    assert main(["predict", str(run_dir), str(valid_copy / "nope")]) == 2
    assert main(["predict", str(valid_copy), str(one)]) == 2   # not a model
    assert "neither a run folder" in capsys.readouterr().err


def test_predict_min_confidence_abstains(run_dir, valid_copy, tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert main(["predict", str(run_dir), str(valid_copy), "--out", str(out)]) == 0
    plain = read_csv(out)
    vals = sorted({float(r["probability"]) for r in plain})
    cut = (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2   # between two printed values
    assert main(["predict", str(run_dir), str(valid_copy), "--out", str(out), "--min-confidence", str(cut)]) == 0
    rows = read_csv(out)
    for a, b in zip(plain, rows):
        assert b["label"] == ("unsure" if float(a["probability"]) < cut else a["label"])
    assert any(r["label"] == "unsure" for r in rows) and any(r["label"] != "unsure" for r in rows)
    assert main(["predict", str(run_dir), str(valid_copy), "--min-confidence", "1.5"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_predict_with_tta(run_dir, valid_copy, capsys):
    one = next((valid_copy / "triangle").glob("*.png"))
    assert main(["predict", str(run_dir), str(one), "--tta", "--topk", "3"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[1].split(",")
    probs = [float(t.split(":")[1]) for t in row[3].split(";")]
    assert len(probs) == 3 and sum(probs) == pytest.approx(1.0, abs=2e-3)


def test_crossval_command(shapes_flat_dir, tmp_path, monkeypatch, capsys):
    """The command wiring (train itself is replaced by a recorder; folds are checked in core tests)."""
    import workbench.train.run as run_mod
    calls = []

    def fake_train(cfg, sink=None, control=None, run_dir=None):
        calls.append(cfg.data.labels_csv)
        return run_mod.RunResult(tmp_path / cfg.name, "completed", {"valid_accuracy": 0.5, "valid_loss": 1.0})
    monkeypatch.setattr(run_mod, "train", fake_train)
    code = main(["crossval", str(shapes_flat_dir), "--folds", "2", "--set", f"runs_dir={tmp_path}",
                 "--set", "name=cvtest"])
    out = capsys.readouterr().out
    assert code == 0 and len(calls) == 2 and all(c.endswith(".csv") for c in calls)
    assert "accuracy 0.5000 +- 0.0000" in out and (tmp_path / "cvtest-cv" / "summary.json").is_file()
    assert main(["crossval", str(shapes_flat_dir), "--folds", "1"]) == 2
    # `workbench train --folds K` is the same command
    assert main(["train", str(shapes_flat_dir), "--folds", "2", "--set", f"runs_dir={tmp_path}",
                 "--set", "name=cvtrain"]) == 0
    assert len(calls) == 4 and (tmp_path / "cvtrain-cv" / "summary.json").is_file()


def test_calibration_is_per_checkpoint(run_dir, tmp_path):
    """Exporting or evaluating last never changes the temperature an export of best applies."""
    import torch
    from workbench.analysis.calibration import calibrate, calibration_file
    from workbench.analysis.interpret import interpret_run
    from workbench.run.folder import load_checkpoint, save_checkpoint
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    last = run / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    state["model"] = {k: v * 4 if k.startswith("fc.") else v for k, v in state["model"].items()}
    save_checkpoint(last, state)  # last: the same model with 4x sharper logits, so another temperature
    for f in run.glob("calibration*.json"):
        f.unlink()
    p = interpret_run(run, which="best").predictions
    t_best = calibrate(p.probs, p.targets).temperature
    assert main(["export", str(run), "--which", "last", "--format", "safetensors", "--out", str(tmp_path / "a")]) == 0
    assert main(["evaluate", str(run), "--which", "last"]) == 0
    assert main(["export", str(run), "--format", "safetensors", "--out", str(tmp_path / "b")]) == 0
    t_last = json.loads((tmp_path / "a" / "model.json").read_text())["temperature"]
    t_exported = json.loads((tmp_path / "b" / "model.json").read_text())["temperature"]
    assert t_exported == pytest.approx(t_best, rel=1e-4)
    assert abs(t_last - t_best) > 0.1 * t_best
    assert calibration_file(run, "last").is_file() and calibration_file(run).is_file()
    assert read_temperature(run, "last") == pytest.approx(t_last, rel=1e-4)
    assert torch.isfinite(torch.tensor(t_exported))
