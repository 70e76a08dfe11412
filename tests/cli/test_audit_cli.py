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


def test_killed_audit_resumes_from_its_finished_folds(tmp_path):
    """A real `workbench audit` process killed with SIGKILL in its second fold; the same command
    then keeps fold 0 (not retrained) and resumes fold 1 from its checkpoint."""
    import os
    import signal
    import subprocess
    import time
    from pathlib import Path
    data, _ = make_noisy_colours(tmp_path / "colours", n=12, n_flip=1, seed=6)
    overrides = [o for o in AUDIT_OVERRIDES if not o.startswith("train.epochs")] + ["train.epochs=4"]
    args = ["audit", str(data), "--folds", "2", "--set", f"runs_dir={tmp_path / 'runs'}"]
    args += sum((["--set", o] for o in overrides), [])
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "WORKBENCH_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(repo)}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", *args], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = tmp_path / "runs" / "colours-audit"
    ckpt = out / "folds" / "fold1" / "checkpoints" / "last.pt"
    try:
        deadline = time.monotonic() + 300
        while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ckpt.exists(), "the audit wrote no checkpoint in its second fold"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert (out / "oof-fold0.npz").is_file() and not (out / "oof-fold1.npz").exists()
    stamp = (out / "oof-fold0.npz").stat().st_mtime_ns
    fold0_ckpt = (out / "folds" / "fold0" / "checkpoints" / "last.pt").stat().st_mtime_ns
    from workbench.cli import main
    report = tmp_path / "r.json"
    assert main(args + ["--json", str(report)]) == 0
    rep = json.loads(report.read_text())
    assert rep["status"] == "completed" and rep["folds_done"] == 2 and rep["n_images"] == 36
    assert (out / "oof-fold0.npz").stat().st_mtime_ns == stamp            # fold 0 kept
    assert (out / "folds" / "fold0" / "checkpoints" / "last.pt").stat().st_mtime_ns == fold0_ckpt
    log = (out / "folds" / "fold1" / "log.txt").read_text()
    assert "resume:" in log                                               # fold 1 resumed, not restarted


def test_a_weak_ranking_is_said_before_the_suspects(tmp_path, monkeypatch, capsys):
    from oof_data import audit_result
    from workbench.audit import labels as audit
    data, _ = make_noisy_colours(tmp_path / "colours", n=12, n_flip=1, seed=2)
    weak = audit_result(tmp_path / "weak", 0.40)
    monkeypatch.setattr(audit, "estimate_seconds", lambda cfg, k, n: 1.0)
    monkeypatch.setattr(audit, "run_audit", lambda cfg, k, **kw: weak)
    assert main(["audit", str(data), "--folds", "2", "--set", f"runs_dir={tmp_path / 'runs'}"]) == 0
    out = capsys.readouterr().out.splitlines()
    warn = next(i for i, ln in enumerate(out) if ln.startswith("WARNING: out-of-fold accuracy 40.0%"))
    first = next(i for i, ln in enumerate(out) if ln.lstrip().startswith("1  "))
    assert warn < first and "too low for the ranking to mean anything" in out[warn]
