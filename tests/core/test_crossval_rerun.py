"""Cross-validation run again under the same name: finished folds are kept, a stopped (or killed)
fold resumes, a finished one says so, and other folds under the same name are refused (exit 2)."""
from __future__ import annotations

import json
import os
import signal

import pytest

import workbench.train.run as run_mod
from test_trainer import TinyNet
from workbench.cli import crossval_cmd, main
from workbench.runtime.events import EpochEnd, FitStarted

SETS = ["--set", "data.image_size=16", "--set", "data.batch_size=8", "--set", "train.epochs=2",
        "--set", "train.threads=1", "--set", "train.device=cpu", "--set", "train.precision=fp32",
        "--set", "model.channels_last=false", "--set", "augment.enabled=false", "--set", "name=cv"]


@pytest.fixture()
def tiny(monkeypatch):
    monkeypatch.setattr(run_mod, "create_model", lambda arch, n, dropout=0.0, weights="": TinyNet(n))


def _metrics(d):
    return json.loads((d / "metrics.json").read_text())


def test_stopped_crossval_resumes_then_says_it_is_done(tmp_path, shapes_flat_dir, monkeypatch, tiny, capsys):
    runs = tmp_path / "runs"
    args = ["train", str(shapes_flat_dir), "--folds", "3", *SETS, "--set", f"runs_dir={runs}"]
    starts = []

    class TermInFold1(crossval_cmd.TrainProgress):
        def __call__(self, event):
            super().__call__(event)
            if isinstance(event, FitStarted):
                starts.append(event.run_dir)
            if isinstance(event, EpochEnd) and len(starts) == 2 and event.epoch == 0:  # stopped after epoch 1 of 2
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(crossval_cmd, "TrainProgress", TermInFold1)
    assert main(args) == 130
    fold0, fold1, fold2 = (runs / f"cv-fold{i}" for i in range(3))
    assert _metrics(fold0)["status"] == "completed" and _metrics(fold1)["status"] == "cancelled"
    assert not fold2.exists()
    # as a SIGKILL leaves it: fold1 still "running"; fold2 made but killed before its config.toml
    (fold1 / "metrics.json").write_text(json.dumps({**_metrics(fold1), "status": "running"}))
    (fold2 / "checkpoints").mkdir(parents=True)
    (fold2 / ".lock").write_text("")
    fold0_last = (fold0 / "checkpoints" / "last.pt").stat().st_mtime_ns
    monkeypatch.setattr(crossval_cmd, "TrainProgress", crossval_cmd.TrainProgress.__mro__[1])
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    assert (fold0 / "checkpoints" / "last.pt").stat().st_mtime_ns == fold0_last   # kept, not trained again
    assert "resume:" in (fold1 / "log.txt").read_text()                           # resumed from its checkpoint
    assert all(_metrics(d)["status"] == "completed" and _metrics(d)["epochs_done"] == 2 for d in (fold0, fold1, fold2))
    summary = json.loads((runs / "cv-cv" / "summary.json").read_text())
    assert [f["status"] for f in summary["folds"]] == ["completed"] * 3
    assert main(args) == 0
    assert "cross-validation 'cv' is already finished" in capsys.readouterr().err
    assert main([*args[:3], "2", *args[4:]]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("error: cross-validation 'cv'") and "more folds" in last
    assert main([*args[:3], "4", *args[4:]]) == 2
    assert "was run with other folds" in capsys.readouterr().err
