"""Checkpoint pacing: last.pt is written only when writes stay within train.checkpoint_share of the
time; a stop, a pause and the last epoch always write; nothing a finished epoch did is lost, and a
crash at any write still leaves best.pt consistent (the best weights ride along in last.pt)."""
from __future__ import annotations

import pytest
import torch

from test_best_consistency import _cfg, _crash_at, Crash, REAL_ATOMIC_PATH, tiny_model  # noqa: F401
from test_resume import COLS, _trainer
from synth import make_shapes_dataset
import workbench.runtime.atomic as atomic
from workbench.runtime.control import RunControl
from workbench.runtime.events import CheckpointSaved
from workbench.train.callback import Callback
from workbench.train.checkpoint import CheckpointPacer, amortized_save_s, saved_history
from workbench.run.folder import RunFolder, load_checkpoint
from workbench.train.run import recorded_best, resume, train


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_pacer_keeps_writes_to_their_share():
    clock = Clock()
    p = CheckpointPacer(0.1, clock=clock)
    assert p.due()                        # nothing written yet
    p.wrote(1.0)                          # one write: 1 s -> the next one after 9 s
    clock.t += 8.9
    assert not p.due()
    assert p.due(final=True)
    clock.t += 0.2
    assert p.due()
    p.wrote(0.1)                          # cheap writes always happen
    assert p.due()
    assert CheckpointPacer(1.0, clock=clock).due()


def test_amortized_cost_matches_the_pacer():
    # 1 s writes, 2 s epochs, share 0.1: a write every 5 epochs (9 s / 2 s rounded up)
    assert amortized_save_s(1.0, 2.0, 0.1) == pytest.approx(0.2)
    assert amortized_save_s(1.0, 20.0, 0.1) == pytest.approx(1.0)   # long epochs: every epoch
    assert amortized_save_s(0.1, 2.0, 0.1) == pytest.approx(0.1)    # under the floor: every epoch
    assert amortized_save_s(1.0, 2.0, 1.0) == pytest.approx(1.0)


def _rare_writes(monkeypatch):
    """Only the first write and the final one are due (as with slow writes and short epochs)."""
    monkeypatch.setattr(CheckpointPacer, "due", lambda self, final=False: final or self.last_end is None)


def test_paced_run_writes_first_and_last_and_a_stop_keeps_finished_epochs(tmp_path, monkeypatch):
    _rare_writes(monkeypatch)
    full = _trainer(0, run_dir=tmp_path / "full")
    events = []
    full.sink = events.append
    full.fit(3)
    saved = [e.epoch for e in events if isinstance(e, CheckpointSaved)]
    assert saved == [0, 2]                               # epoch 2 (index 1) was not written
    assert load_checkpoint(RunFolder(tmp_path / "full").last)["epoch"] == 2

    control = RunControl()

    class StopInEpoch3(Callback):
        def after_batch(self, tr):
            if tr.epoch == 2 and tr.iter == 1:
                control.request_stop()

    part = _trainer(0, run_dir=tmp_path / "part", control=control, callbacks=[StopInEpoch3()])
    assert part.fit(3) == "cancelled"
    last = load_checkpoint(RunFolder(tmp_path / "part").last)
    assert last["next_epoch"] == 2 and len(saved_history(last)) == 2   # the unsaved epoch 2 was kept
    again = _trainer(7, run_dir=tmp_path / "part")
    start = again.resume_from(RunFolder(tmp_path / "part").last)
    assert start == 2 and again.fit(3, start_epoch=start) == "completed"
    for a, b in zip(full.history, again.history):
        for k in COLS:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7), (a["epoch"], k)


def test_pause_writes_the_latest_finished_epoch(tmp_path, monkeypatch):
    _rare_writes(monkeypatch)
    control = RunControl()
    seen = []

    class PauseInEpoch3(Callback):
        def after_batch(self, tr):
            if tr.epoch == 2 and tr.iter == 0 and not seen:
                seen.append(1)
                control.pause()
                # check() blocks while paused: resume from a timer thread once it wrote the state
                import threading
                threading.Timer(0.05, control.resume).start()

    tr = _trainer(0, run_dir=tmp_path, control=control, callbacks=[PauseInEpoch3()])
    events = []
    tr.sink = events.append
    tr.fit(4)
    saved = [e.epoch for e in events if isinstance(e, CheckpointSaved)]
    assert saved == [0, 1, 3]                            # epoch index 1 written at the pause


def test_crash_at_every_paced_write_keeps_best_consistent(tmp_path, monkeypatch, tiny_model):  # noqa: F811
    _rare_writes(monkeypatch)
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=3, size=16)
    cfg = _cfg(data, tmp_path).set("train.epochs", 4)
    calls = _crash_at(monkeypatch, tmp_path / "ref", -1)
    assert train(cfg, run_dir=tmp_path / "ref").status == "completed"
    n_writes = len(calls)
    ref_last = load_checkpoint(RunFolder(tmp_path / "ref").last)
    for k in range(n_writes):
        run_dir = tmp_path / f"run{k}"
        _crash_at(monkeypatch, run_dir, k)
        with pytest.raises(Crash):
            train(cfg, run_dir=run_dir)
        monkeypatch.setattr(atomic, "atomic_path", REAL_ATOMIC_PATH)
        if not (run_dir / "config.toml").is_file():
            continue
        assert resume(run_dir).status == "completed", (k, calls[k])
        f = RunFolder(run_dir)
        last, best = load_checkpoint(f.last), load_checkpoint(f.best)
        assert recorded_best(last) == int(best["epoch"]) == recorded_best(ref_last), (k, calls[k])
        ref_best = load_checkpoint(RunFolder(tmp_path / "ref").best)
        for a, b in zip(ref_best["model"].values(), best["model"].values()):
            assert torch.allclose(a.float(), b.float(), atol=1e-5), (k, calls[k])



def test_best_weights_ride_along_in_last_until_best_is_written(tmp_path, monkeypatch, tiny_model):  # noqa: F811
    """A best epoch that was not written goes into last.pt as best_model, and resume repairs best.pt
    from it after a crash between the two final writes."""
    import workbench.train.run as run_mod
    _rare_writes(monkeypatch)
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=3, size=16)
    cfg = _cfg(data, tmp_path).set("train.epochs", 4).set("tricks.monitor", "accuracy")

    class BestAtSecondEpoch(Callback):
        order = 100

        def after_validate(self, tr):
            tr.metrics["accuracy"] = {0: 0.5, 1: 0.9}.get(tr.epoch, 0.1)

    real_build = run_mod.build_callbacks
    monkeypatch.setattr(run_mod, "build_callbacks", lambda *a, **k: [*real_build(*a, **k), BestAtSecondEpoch()])
    best_writes = []

    def crash_on_second_best(path, _real=REAL_ATOMIC_PATH):
        if str(path).endswith("best.pt"):
            best_writes.append(path)
            if len(best_writes) == 2:
                raise Crash(str(path))
        return _real(path)

    monkeypatch.setattr(atomic, "atomic_path", crash_on_second_best)
    run_dir = tmp_path / "run"
    with pytest.raises(Crash):
        train(cfg, run_dir=run_dir)
    monkeypatch.setattr(atomic, "atomic_path", REAL_ATOMIC_PATH)
    f = RunFolder(run_dir)
    last = load_checkpoint(f.last)
    assert last["epoch"] == 3 and recorded_best(last) == 1 and last["best_model"]["epoch"] == 1
    assert int(load_checkpoint(f.best)["epoch"]) == 0     # written after the first epoch, then the crash
    assert resume(run_dir).status == "completed"
    assert int(load_checkpoint(f.best)["epoch"]) == 1
