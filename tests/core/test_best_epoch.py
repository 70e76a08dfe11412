"""The reported model is the epoch a user would pick from the curves: the highest validation
accuracy, ties broken by the lower validation loss; metrics.json and the summaries say which epoch
that is and why."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import workbench.train.run as run_mod
from synth import make_shapes_dataset
from test_best_consistency import _cfg, tiny_model  # noqa: F401
from workbench.config import RunConfig
from workbench.train.callback import Callback
from workbench.run.folder import RunFolder, load_checkpoint
from workbench.train.recorder import Recorder
from workbench.train.run import reported_line, resume, train


def _best(rows, monitor=None):
    rec = Recorder()
    cfg = RunConfig() if monitor is None else RunConfig().set("tricks.monitor", monitor)
    tr = SimpleNamespace(cfg=cfg, sink=lambda e: None, opt=SimpleNamespace(param_groups=[{"lr": 0.1}]))
    rec.before_fit(tr)
    for epoch, (acc, loss) in enumerate(rows):
        rec.before_train(tr)
        tr.epoch, tr.metrics = epoch, {"accuracy": acc, "valid_loss": loss}
        rec.end_epoch(tr)
    return rec.best_epoch


def test_default_keeps_the_most_accurate_epoch_not_the_lowest_loss():
    # the issue's first run: epoch 1 had the lowest loss (1.20) at 45.8 %, epoch 5 62.1 % at loss 4.97
    rows = [(0.458, 1.20), (0.50, 2.1), (0.55, 3.0), (0.60, 4.2), (0.621, 4.97)]
    assert RunConfig().tricks.monitor == "accuracy"
    assert _best(rows) == 4
    assert _best(rows, "valid_loss") == 0          # the old default, still available


def test_accuracy_ties_go_to_the_lower_validation_loss():
    assert _best([(0.5, 1.0), (0.7, 0.9), (0.7, 0.6), (0.7, 0.8), (0.6, 0.1)]) == 2
    assert _best([(0.5, 1.0), (0.5, float("nan"))]) == 0


def test_best_loss_survives_a_resume():
    rec = Recorder()
    rec.best_value, rec.best_loss, rec.best_epoch = 0.7, 0.6, 2
    again = Recorder()
    again.load_state_dict(rec.state_dict())
    assert (again.best_value, again.best_loss, again.best_epoch) == (0.7, 0.6, 2)
    assert not again.is_better("accuracy", 0.7, 0.65) and again.is_better("accuracy", 0.7, 0.5)


class IssueCurves(Callback):
    """Validation numbers shaped like the issue's run: the loss is lowest in the first epoch while
    the accuracy keeps rising."""
    order = 100

    def after_validate(self, tr):
        tr.metrics["accuracy"] = {0: 0.45, 1: 0.55}.get(tr.epoch, 0.62)
        tr.metrics["valid_loss"] = 1.2 + 2.0 * tr.epoch


def test_run_reports_the_epoch_a_user_would_pick_and_says_why(tmp_path, monkeypatch, tiny_model):  # noqa: F811
    real_build = run_mod.build_callbacks
    monkeypatch.setattr(run_mod, "build_callbacks", lambda *a, **k: [*real_build(*a, **k), IssueCurves()])
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=3, size=16)
    res = train(_cfg(data, tmp_path), run_dir=tmp_path / "run")
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["best_epoch"] == m["reported_epoch"] == 2 and m["valid_accuracy"] == pytest.approx(0.62)
    assert m["monitor"] == "accuracy" and "highest validation accuracy" in m["reported_why"]
    assert int(load_checkpoint(RunFolder(tmp_path / "run").best)["epoch"]) == 2
    assert reported_line(res.metrics).startswith("epoch 3 of 3 (the last): the highest validation accuracy")
    assert "reported model: epoch 3 of 3" in (tmp_path / "run" / "log.txt").read_text()
    assert resume(tmp_path / "run").metrics["reported_epoch"] == 2


def test_valid_loss_monitor_and_keep_best_off_say_so(tmp_path, monkeypatch, tiny_model):  # noqa: F811
    real_build = run_mod.build_callbacks
    monkeypatch.setattr(run_mod, "build_callbacks", lambda *a, **k: [*real_build(*a, **k), IssueCurves()])
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=3, size=16)
    m = train(_cfg(data, tmp_path).set("tricks.monitor", "valid_loss"), run_dir=tmp_path / "a").metrics
    assert m["reported_epoch"] == 0 and m["valid_accuracy"] == pytest.approx(0.45)
    assert reported_line(m) == "epoch 1 of 3: the lowest validation loss (tricks.monitor = valid_loss)"
    m = train(_cfg(data, tmp_path).set("tricks.keep_best", False).set("tricks.monitor", "valid_loss"),
              run_dir=tmp_path / "b").metrics
    assert m["reported_epoch"] == 2 and "keep_best is off" in m["reported_why"]


def test_a_stopped_runs_reported_epoch_says_how_many_were_planned():
    why = "the highest validation accuracy, ties broken by the lower validation loss"
    m = {"reported_epoch": 3, "epochs_done": 4, "epochs": 15, "status": "cancelled", "reported_why": why}
    assert reported_line(m) == f"epoch 4 (the last of 4 trained; 15 were planned): {why}"
    assert reported_line({**m, "reported_epoch": 1}) == f"epoch 2 (of 4 trained; 15 were planned): {why}"
    assert reported_line({**m, "status": "completed", "epochs": 4}) == f"epoch 4 of 4 (the last): {why}"
