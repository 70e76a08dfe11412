"""`workbench audit`: leaks-only, the full audit with a JSON report, the estimate, bad input, a missing extra."""
from __future__ import annotations

import json
import sys

import pytest

from audit_data import AUDIT_OVERRIDES, make_noisy_colours, plant_copies
from workbench.cli import main

pytest.importorskip("cleanlab")


def test_leaks_only_json(tmp_path, capsys):
    root = tmp_path / "data"
    pairs = plant_copies(root)
    out = tmp_path / "report.json"
    assert main(["audit", str(root), "--leaks-only", "--json", str(out), "--set", f"runs_dir={tmp_path / 'runs'}"]) == 0
    text = capsys.readouterr().out
    assert f"across train/valid: {len(pairs)}" in text and "data.labels_csv=" in text
    rep = json.loads(out.read_text())
    assert len(rep["leaks"]) == len(pairs)
    assert all(set(g) >= {"members", "splits", "labels"} for g in rep["leaks"])
    assert (tmp_path / "runs" / "data-audit" / "group-split.csv").is_file()


def test_full_audit_and_estimate(tmp_path, capsys):
    data, flipped = make_noisy_colours(tmp_path / "colours", n=12, n_flip=1, seed=2)
    common = ["--folds", "2", "--set", f"runs_dir={tmp_path / 'runs'}"] + sum((["--set", o] for o in AUDIT_OVERRIDES), [])
    assert main(["audit", str(data), "--estimate", *common]) == 0
    assert "about" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    out = tmp_path / "r.json"
    assert main(["audit", str(data), "--json", str(out), *common]) == 0
    rep = json.loads(out.read_text())
    assert rep["status"] == "completed" and rep["n_images"] == 36 and rep["label_issues"]
    first = rep["label_issues"][0]
    assert set(first) >= {"path", "given", "suggested", "self_confidence", "rank"} and first["rank"] == 1
    assert "suspected label issues" in capsys.readouterr().out


def test_bad_input_and_missing_extra(tmp_path, monkeypatch, capsys):
    assert main(["audit", str(tmp_path / "nope"), "--leaks-only"]) == 2
    assert main(["audit", str(tmp_path), "--folds", "1"]) == 2
    assert main(["audit", str(tmp_path), "--run", str(tmp_path)]) == 2
    capsys.readouterr()
    data, _ = make_noisy_colours(tmp_path / "c", n=4, n_flip=0)
    monkeypatch.setitem(sys.modules, "imagehash", None)
    assert main(["audit", str(data), "--leaks-only", "--set", f"runs_dir={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'workbench[audit]'" in err and "Traceback" not in err
