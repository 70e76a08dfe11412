"""CLI train / resume: exit codes, run folder files, Ctrl-C (SIGINT) stops cleanly."""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from workbench.cli import main
from workbench.cli import train_cmd
from workbench.runtime.events import BatchEnd
from workbench.run.runs import list_runs, load_model, load_run

SETS = ["--set", "data.image_size=32", "--set", "data.batch_size=16", "--set", "train.epochs=2",
        "--set", "train.threads=1", "--set", "model.arch=resnet18", "--set", "train.lr=0.003"]


@pytest.fixture(scope="module")
def trained(shapes_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "runs" / "first"
    n = torch.get_num_threads()
    rc = main(["train", str(shapes_dir), *SETS, "--out", str(out)])
    torch.set_num_threads(n)
    return rc, out


def test_train_writes_the_run_folder(trained, capsys):
    rc, out = trained
    assert rc == 0
    for name in ("config.toml", "classes.json", "history.csv", "metrics.json", "log.txt",
                 "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "completed" and m["epochs_done"] == 2 and m["arch"] == "resnet18"
    for key in ("valid_accuracy", "valid_loss", "best_epoch", "wall_seconds", "device", "precision",
                "image_size", "n_train", "n_valid", "started", "finished"):
        assert key in m, key
    assert m["n_train"] == 72 and m["n_valid"] == 24
    assert json.loads((out / "classes.json").read_text()) == ["circle", "square", "triangle"]
    assert "epoch 2/2" in (out / "log.txt").read_text()


def test_runs_module_reads_the_run(trained):
    _, out = trained
    info = load_run(out)
    assert info.status == "completed" and info.classes == ("circle", "square", "triangle")
    assert len(info.history) == 2 and info.config.data.image_size == 32
    assert [r.run_dir for r in list_runs(out.parent)] == [out]
    model, _ = load_model(out, which="last")
    assert not model.training
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)


def test_resume_of_a_finished_run_is_a_no_op(trained, capsys):
    _, out = trained
    assert main(["resume", str(out)]) == 0
    assert "already finished" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path, shapes_dir):
    assert main(["train", str(tmp_path / "nope"), *SETS]) == 2
    assert main(["train", str(shapes_dir), "--set", "train.epochs=0"]) == 2
    assert main(["resume", str(tmp_path)]) == 2


def test_failed_run_exits_1_and_is_marked_failed(tmp_path, shapes_dir, monkeypatch):
    # (a bad weights file no longer gets this far: it is refused with exit 2, see test_weights_cli.py)
    from workbench.train.trainer import Trainer

    def broken_fit(self, *a, **k):
        raise RuntimeError("the disk holding broken.pth went away")
    monkeypatch.setattr(Trainer, "fit", broken_fit)
    out = tmp_path / "run"
    assert main(["train", str(shapes_dir), *SETS, "--out", str(out)]) == 1
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "failed" and "broken.pth" in m["message"]


def test_ctrl_c_stops_cleanly_with_exit_130(tmp_path, shapes_dir, monkeypatch):
    class InterruptOnFirstBatch(train_cmd.TrainProgress):
        sent = False

        def __call__(self, event):
            super().__call__(event)
            if isinstance(event, BatchEnd) and not self.sent:
                self.sent = True
                os.kill(os.getpid(), signal.SIGINT)  # what a first Ctrl-C does

    monkeypatch.setattr(train_cmd, "TrainProgress", InterruptOnFirstBatch)
    out = tmp_path / "run"
    assert main(["train", str(shapes_dir), *SETS, "--out", str(out)]) == 130
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "cancelled" and m["epochs_done"] == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_plan_only_prints_the_plan_and_trains_nothing(shapes_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["train", str(shapes_dir), *SETS, "--set", "train.budget_minutes=0.5", "--plan-only"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "plan: time budget 0.5 min:" in out and "img/s" in out and "after the start: ending at about" in out
    import re
    epochs = float(re.search(r"min: ([\d.]+) epoch", out).group(1))
    assert epochs >= 1
    startup = float(re.search(r"start-up \(scan, health check, cache\) ([\d.]+) s", out).group(1))
    assert startup < 60   # counted from this command, not from the start of the test process
    assert not (tmp_path / "runs").exists()


def test_a_recipe_with_a_removed_option_trains_after_one_warning_line(tmp_path, shapes_dir, capsys):
    recipe = tmp_path / "old.toml"
    recipe.write_text("[tricks]\nsnapshot_ensemble = true\n", encoding="utf-8")
    assert main(["train", str(shapes_dir), "--config", str(recipe), *SETS, "--check"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {recipe}: tricks.snapshot_ensemble = True is ignored: the snapshot ensemble was removed" in err
    assert "Traceback" not in err and "RemovedOptionWarning" not in err


def test_check_says_when_the_batch_size_leaves_one_or_two_steps_per_epoch(tmp_path, shapes_dir, capsys, monkeypatch):
    """72 training images in batches of 64 or 128: an epoch of one or two steps was accepted without a
    word (and 8 images were dropped each epoch); the check says so in one sentence and names a batch size."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(shapes_dir), *SETS, "--check"]) == 0
    out, err = capsys.readouterr()
    assert "data.batch_size" not in err                                # 16: four full batches, nothing to say
    from workbench.config import RunConfig                              # the recipe's length and rate are said
    assert "epochs, lr " in out and f"batch 16;" in out and RunConfig().model.arch in out
    assert main(["train", str(shapes_dir), *SETS, "--set", "data.batch_size=128", "--check"]) == 0
    err = capsys.readouterr().err
    line = next(s for s in err.splitlines() if "data.batch_size" in s)
    assert "128 is at least the 72 training images" in line and "a batch size of 16 gives 4 steps" in line
    assert main(["train", str(shapes_dir), *SETS, "--set", "data.batch_size=64", "--check"]) == 0
    line = next(s for s in capsys.readouterr().err.splitlines() if "data.batch_size" in s)
    assert "2 steps (64 + 8 images)" in line                         # the short batch is trained, not dropped
    assert not (tmp_path / "runs").exists()
