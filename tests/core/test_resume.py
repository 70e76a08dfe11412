"""Exact resume: in process (stop, new Trainer, resume_from) and across a real SIGKILL of the CLI."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from synth import make_shapes_dataset
from test_trainer import TinyNet, random_loaders, tiny_cfg
from workbench.runtime.control import RunControl
from workbench.train.callback import Callback
from workbench.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
COLS = ("train_loss", "valid_loss", "accuracy", "lr")


def _trainer(seed, **kw):
    torch.manual_seed(seed)
    tl, vl = random_loaders(3, n=40, bs=8)
    return Trainer(TinyNet(3), tl, vl, tiny_cfg(**{"train.epochs": 3}), **kw)


def test_resume_in_process_matches_uninterrupted(tmp_path):
    full = _trainer(0)
    full.fit()

    control = RunControl()

    class StopInEpoch2(Callback):
        def after_batch(self, tr):
            if tr.epoch == 1 and tr.iter == 2:
                control.request_stop()

    part = _trainer(0, run_dir=tmp_path, control=control, callbacks=[StopInEpoch2()])
    assert part.fit() == "cancelled"
    torch.manual_seed(123)  # the resumed process starts from a different RNG state and init
    again = _trainer(7, run_dir=tmp_path)
    start = again.resume_from(tmp_path / "checkpoints" / "last.pt")
    assert start == 1
    assert again.fit(3, start_epoch=start) == "completed"
    assert [r["epoch"] for r in again.history] == [0, 1, 2]
    for a, b in zip(full.history, again.history):
        for k in COLS:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7), (a["epoch"], k)
    for p, q in zip(full.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.allclose(p.float(), q.float(), atol=1e-6)


def _history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as fh:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def _train_cmd(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "workbench", "train", str(data), "--out", str(out),
            "--set", "data.image_size=32", "--set", "data.batch_size=8", "--set", "train.epochs=3",
            "--set", "train.threads=1", "--set", "train.precision=fp32", "--set", "model.arch=resnet18",
            "--set", "train.lr=0.003", "--set", "seed=3"]


def _env(cache: Path) -> dict:
    env = dict(os.environ, WORKBENCH_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    return env


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, monkeypatch, capsys):
    data = make_shapes_dataset(tmp_path / "data", n_train=8, n_valid=4)
    run_a, run_b = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    # run B (to be killed) in a subprocess with its own cache folder; it is resumed with the same
    # command in this process (`workbench resume`, through the CLI entry point) to save a start-up
    pb = subprocess.Popen(_train_cmd(data, run_b), cwd=REPO, env=_env(tmp_path / "cb"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = run_b / "checkpoints" / "last.pt"
    threads = torch.get_num_threads()
    # ... while the same command runs uninterrupted in a thread of this process (run A)
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "ca"))
    from workbench.cli import main
    result_a: dict = {}
    ta = threading.Thread(target=lambda: result_a.setdefault("rc", main(_train_cmd(data, run_a)[3:])))
    ta.start()
    try:
        # B is another process: poll the file system for its first checkpoint, then kill it hard
        deadline = time.monotonic() + 240
        while not last.exists() and pb.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert last.exists(), "run B wrote no checkpoint"
        pb.send_signal(signal.SIGKILL)
        pb.wait(30)
        ta.join(240)
        assert result_a.get("rc") == 0
    finally:
        torch.set_num_threads(threads)
        if pb.poll() is None:
            pb.kill()
            pb.wait(30)
    assert pb.returncode == -signal.SIGKILL
    killed_at = len(_history(run_b)) if (run_b / "history.csv").exists() else 0
    assert killed_at < 3, "run B finished before the kill; the test proves nothing"

    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cb"))
    try:
        assert main(["resume", str(run_b)]) == 0
    finally:
        torch.set_num_threads(threads)
    assert str(run_b) in capsys.readouterr().out
    ha, hb = _history(run_a), _history(run_b)
    assert [r["epoch"] for r in hb] == [0.0, 1.0, 2.0] == [r["epoch"] for r in ha]
    for a, b in zip(ha, hb):
        for k in COLS:
            assert np.isclose(a[k], b[k], rtol=1e-4, atol=1e-6), (a["epoch"], k, a[k], b[k])
    assert json.loads((run_b / "metrics.json").read_text())["status"] == "completed"


def test_full_disk_keeps_the_last_checkpoint_and_says_what_is_needed(tmp_path, monkeypatch):
    import collections

    from workbench.runtime import atomic
    from workbench.runtime.atomic import DiskFullError
    from workbench.run.folder import load_checkpoint, save_checkpoint
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(1000)})
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 2000, 2000))
    with pytest.raises(DiskFullError) as err:
        save_checkpoint(path, {"epoch": 2, "w": torch.ones(1000)})
    assert "checkpoint last.pt" in str(err.value) and "2.0 KB free" in str(err.value)
    assert "runs_dir" in str(err.value)
    assert load_checkpoint(path)["epoch"] == 1 and not list(path.parent.glob(".*.tmp"))


def test_last_pt_keeps_the_history_once_and_one_written_the_old_way_still_resumes(tmp_path, monkeypatch):
    """The history lives once in last.pt, in the Recorder's state. A last.pt written before that (a
    second copy at the top level) resumes like a new one: same history as an uninterrupted run, and
    a history.csv left behind by a kill is rebuilt from it."""
    import workbench.train.run as run_mod
    from workbench.runtime.events import EpochEnd
    from workbench.train.checkpoint import saved_history
    from workbench.run.folder import RunFolder, load_checkpoint, save_checkpoint
    from workbench.train.run import resume, train
    from test_best_consistency import _cfg
    monkeypatch.setattr(run_mod, "create_model", lambda arch, n, dropout=0.0, weights="": TinyNet(n))
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=3, size=16)
    cfg = _cfg(data, tmp_path)
    assert train(cfg, run_dir=tmp_path / "ref").status == "completed"
    ref = RunFolder(tmp_path / "ref").read_history()
    for name in ("new", "old"):
        f = RunFolder(tmp_path / name)
        control = RunControl()
        res = train(cfg, run_dir=f.path, control=control,
                    sink=lambda e: control.request_stop() if isinstance(e, EpochEnd) else None)
        assert res.status == "cancelled"
        state = load_checkpoint(f.last)
        assert "history" not in state and [r["epoch"] for r in saved_history(state)] == [0]
        assert state["callbacks"]["Recorder"]["history"] == saved_history(state)
        if name == "old":
            save_checkpoint(f.last, {**state, "history": saved_history(state)})   # as it was written before
            f.write_history([])                                                   # and a kill lost history.csv
        assert resume(f.path).status == "completed", name
        got = f.read_history()
        assert [r["epoch"] for r in got] == [0, 1, 2], name
        for a, b in zip(ref, got):
            for k in COLS:
                assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7), (name, a["epoch"], k)
    rows = [{"epoch": 0, "train_loss": 1.0}]
    assert saved_history({"history": rows, "callbacks": {"Recorder": {"best_epoch": 0}}}) == rows   # oldest files
