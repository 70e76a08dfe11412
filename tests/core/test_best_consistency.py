"""A crash at any write of a run folder, then resume: metrics.json, last.pt and best.pt agree on the
best epoch, and best.pt holds that epoch's weights."""
from __future__ import annotations

import contextlib
import json

import pytest
import torch

import workbench.runtime.atomic as atomic
import workbench.train.run as run_mod
from synth import make_shapes_dataset
from test_trainer import TinyNet
from workbench.config import RunConfig
from workbench.train.checkpoint import saved_history
from workbench.run.folder import RunFolder, load_checkpoint
from workbench.train.run import recorded_best, resume, train


REAL_ATOMIC_PATH = atomic.atomic_path


class Crash(BaseException):
    """Stands for a SIGKILL: nothing after it runs (the run code catches only Exception)."""


@pytest.fixture()
def tiny_model(monkeypatch):
    monkeypatch.setattr(run_mod, "create_model", lambda arch, n, dropout=0.0, weights="": TinyNet(n))


def _cfg(data, out) -> RunConfig:
    return RunConfig().with_overrides([
        "data.image_size=16", "data.batch_size=8", "train.epochs=3", "train.lr=0.01", "train.device=cpu",
        "train.precision=fp32", "train.threads=1", "model.channels_last=false", "augment.enabled=false",
        f"runs_dir={out}"]).set("data.path", str(data))


def _crash_at(monkeypatch, run_dir, k):
    """Make the k-th atomic write into ``run_dir`` die before it happens (k < 0: count only)."""
    calls = []

    @contextlib.contextmanager
    def patched(path):
        if str(path).startswith(str(run_dir)):
            calls.append(str(path))
            if len(calls) - 1 == k:
                raise Crash(str(path))
        with REAL_ATOMIC_PATH(path) as tmp:
            yield tmp

    monkeypatch.setattr(atomic, "atomic_path", patched)
    return calls


def test_crash_at_every_write_then_resume_keeps_best_consistent(tmp_path, monkeypatch, tiny_model):
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=3, size=16)
    ref_dir = tmp_path / "ref"
    calls = _crash_at(monkeypatch, ref_dir, -1)
    assert train(_cfg(data, tmp_path), run_dir=ref_dir).status == "completed"
    n_writes = len(calls)
    assert any(c.endswith("best.pt") for c in calls)
    for k in range(n_writes):
        run_dir = tmp_path / f"run{k}"
        _crash_at(monkeypatch, run_dir, k)
        with pytest.raises(Crash):
            train(_cfg(data, tmp_path), run_dir=run_dir)
        monkeypatch.setattr(atomic, "atomic_path", REAL_ATOMIC_PATH)
        if not (run_dir / "config.toml").is_file():
            continue  # died before the run existed
        res = resume(run_dir)
        assert res.status == "completed", (k, calls[k] if k < len(calls) else "", res.message)
        f = RunFolder(run_dir)
        metrics = json.loads(f.metrics.read_text())
        last = load_checkpoint(f.last)
        best = load_checkpoint(f.best)
        losses = [r["valid_loss"] for r in saved_history(last)]
        accs = [r["accuracy"] for r in saved_history(last)]   # the default monitor: accuracy, ties by lower loss
        want = min(range(len(losses)), key=lambda i: (-accs[i], losses[i]))
        assert metrics["best_epoch"] == recorded_best(last) == int(best["epoch"]) == want, (k, calls)
        assert metrics["valid_loss"] == pytest.approx(losses[want])
        assert [r["epoch"] for r in f.read_history()] == [r["epoch"] for r in saved_history(last)] == [0, 1, 2], \
            (k, calls[k])
        if want == last["epoch"]:
            for a, b in zip(best["model"].values(), last["model"].values()):
                assert torch.equal(a, b)


@pytest.mark.parametrize("status", ["running", "completed"])
def test_history_lost_after_the_final_last_pt_is_recovered_on_resume(tmp_path, tiny_model, status):
    """The state a SIGKILL leaves between the final last.pt and history.csv (e.g. while best.pt is
    written): history.csv lacks the last epoch; resume ("already finished") rewrites it from last.pt."""
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=3, size=16)
    run_dir = tmp_path / "run"
    assert train(_cfg(data, tmp_path), run_dir=run_dir).status == "completed"
    f = RunFolder(run_dir)
    full = f.history.read_text()
    f.write_history(f.read_history()[:2])
    f.write_metrics({**json.loads(f.metrics.read_text()), "status": status})
    res = resume(run_dir)
    assert res.status == "completed" and res.message == "the run is already finished"
    assert f.history.read_text() == full
    assert "rewrote history.csv from last.pt" in f.log.read_text()


def test_a_budget_run_stopped_and_resumed_keeps_its_budget_figures(tmp_path, tiny_model):
    """A budget run killed (here: stopped after its first epoch, metrics left "running" as a kill
    leaves them) and resumed still reports budget_seconds / planned_seconds."""
    from workbench.runtime.control import RunControl
    from workbench.runtime.events import EpochEnd
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=3, size=16)
    run_dir = tmp_path / "run"
    control = RunControl()
    cfg = _cfg(data, tmp_path).set("train.budget_minutes", 0.1)
    res = train(cfg, run_dir=run_dir, control=control,
                sink=lambda e: control.request_stop() if isinstance(e, EpochEnd) else None)
    assert res.status == "cancelled"
    f = RunFolder(run_dir)
    before = json.loads(f.metrics.read_text())
    assert before["budget_seconds"] == 6.0 and before["planned_seconds"] > 0
    f.write_metrics({**before, "status": "running"})
    res = resume(run_dir)
    assert res.status == "completed"
    after = json.loads(f.metrics.read_text())
    assert (after["budget_seconds"], after["planned_seconds"]) == (before["budget_seconds"], before["planned_seconds"])


def test_a_new_run_removes_run_folders_killed_before_their_config(tmp_path, tiny_model):
    import os
    import time
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=3, size=16)
    runs = tmp_path / "runs"
    old, young, mine = runs / "data-20260101-000000", runs / "data-20260101-000001", runs / "notes"
    for d in (old, young):
        (d / "checkpoints").mkdir(parents=True)
        (d / ".lock").write_text("")
    os.utime(old / "checkpoints", (time.time() - 3600,) * 2)
    (mine / "checkpoints").mkdir(parents=True)
    (mine / "readme.txt").write_text("mine")
    os.utime(mine / "checkpoints", (time.time() - 3600,) * 2)
    res = train(_cfg(data, runs).set("train.epochs", 1))
    assert res.status == "completed" and res.run_dir.parent == runs
    assert not old.exists()                         # a kill's leftover: gone
    assert young.is_dir() and mine.is_dir()         # maybe a run starting now; a folder with other files
