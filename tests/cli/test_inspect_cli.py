"""`workbench inspect` and `workbench demo-data` through cli.main (and one real subprocess)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main


@pytest.fixture
def messy_dir(shapes_flat_dir, tmp_path) -> Path:
    root = tmp_path / "messy data"
    shutil.copytree(shapes_flat_dir, root)
    (root / "circle" / "empty file.jpg").write_bytes(b"")
    (root / "square" / "notes.png").write_text("not a picture", encoding="utf-8")
    (root / "nothing here").mkdir()
    return root


def test_inspect_summary_and_json(messy_dir, tmp_path, capsys):
    out_json = tmp_path / "report.json"
    assert main(["inspect", str(messy_dir), "--json", str(out_json), "--set", "data.valid_pct=0.25"]) == 0
    out, err = capsys.readouterr()
    assert "Classes (3):" in out and "circle" in out and "split from random" in out
    assert "zero_byte (1):" in out and "circle/empty file.jpg: empty file (0 bytes)" in out
    assert "not_image (1):" in out and "square/notes.png" in out and "empty_class (1):" in out
    assert "width min 32 / median 32 / max 32" in out
    assert "health" in err   # progress on stderr
    rep = json.loads(out_json.read_text(encoding="utf-8"))
    assert rep["classes"] == ["circle", "square", "triangle"] and rep["n_images"] == 60
    assert rep["counts"]["valid"] == {"circle": 5, "square": 5, "triangle": 5}
    assert rep["problem_counts"] == {"empty_class": 1, "not_image": 1, "zero_byte": 1}
    assert rep["skipped"] == 3 and rep["layout"] == "class_folders"
    assert {p["kind"]: os.path.basename(p["path"]) for p in rep["problems"]}["zero_byte"] == "empty file.jpg"
    assert rep["stats"]["sizes"]["height"]["median"] == 32 and len(rep["stats"]["mean"]) == 3


def test_inspect_labels_option(shapes_flat_dir, tmp_path, capsys):
    csv = tmp_path / "labels.csv"
    files = sorted(p for p in shapes_flat_dir.rglob("*.png"))
    csv.write_text("file,label\n" + "".join(f"{p.relative_to(shapes_flat_dir).as_posix()},{p.parent.name}\n"
                                            for p in files), encoding="utf-8")
    assert main(["inspect", str(shapes_flat_dir), "--labels", str(csv), "--json", "-", "--no-stats"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["layout"] == "csv" and rep["n_images"] == len(files) and rep["stats"] is None


def test_inspect_exit_2(tmp_path, shapes_flat_dir, capsys):
    assert main(["inspect", str(tmp_path / "missing")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    assert main(["inspect", str(shapes_flat_dir), "--set", "data.min_side=40"]) == 2
    err = capsys.readouterr().err
    assert "no usable images" in err and "too_small" in err
    assert main(["inspect", str(shapes_flat_dir), "--set", "data.nope=1"]) == 2


def test_demo_data_command(tmp_path, capsys, monkeypatch):
    import workbench.data.demo as demo
    monkeypatch.setattr(demo, "N_TRAIN", 2)   # a small demo is enough to test the command
    monkeypatch.setattr(demo, "N_VALID", 1)
    target = tmp_path / "demo"
    assert main(["demo-data", str(target), "--seed", "3"]) == 0
    from workbench.data.demo import CLASSES
    assert f"{len(CLASSES)} classes" in capsys.readouterr().out
    n = len(list(target.rglob("*.jpg")))
    assert (target / "README.txt").is_file() and n == len(demo.CLASSES) * 3
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("mine", encoding="utf-8")
    assert main(["demo-data", str(foreign)]) == 2
    assert "not a demo dataset" in capsys.readouterr().err


def test_inspect_subprocess(shapes_dir, tmp_path):
    env = dict(os.environ, WORKBENCH_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-m", "workbench", "inspect", str(shapes_dir), "--no-stats"],
                         capture_output=True, text=True, timeout=120, env=env,
                         cwd=str(Path(__file__).resolve().parents[2]))
    assert out.returncode == 0, out.stderr
    assert "Images: 96 usable (train 72, valid 24)" in out.stdout
