"""The CLI's promises: bad input is one sentence and exit 2 before anything is written; SIGTERM
stops like Ctrl-C; a folder that is not a run is never written into."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from workbench.cli import main
from workbench.cli import train_cmd
from workbench.runtime.events import BatchEnd

SETS = ["--set", "data.image_size=32", "--set", "data.batch_size=16", "--set", "train.epochs=2",
        "--set", "train.threads=1", "--set", "model.arch=resnet18", "--set", "train.lr=0.003"]


def test_sigterm_stops_cleanly_like_ctrl_c(tmp_path, shapes_dir, monkeypatch):
    class TermOnFirstBatch(train_cmd.TrainProgress):
        sent = False

        def __call__(self, event):
            super().__call__(event)
            if isinstance(event, BatchEnd) and not self.sent:
                self.sent = True
                os.kill(os.getpid(), signal.SIGTERM)  # what `kill PID` or a job scheduler does

    monkeypatch.setattr(train_cmd, "TrainProgress", TermOnFirstBatch)
    out = tmp_path / "run"
    assert main(["train", str(shapes_dir), *SETS, "--out", str(out)]) == 130
    m = json.loads((out / "metrics.json").read_text())
    assert m["status"] == "cancelled"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_train_into_a_folder_that_is_not_a_run_is_refused_and_it_stays_untouched(tmp_path, shapes_dir, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.toml").write_text("my own notes\n")
    (out / "metrics.json").write_text('{"mine": 1}\n')
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["train", str(shapes_dir), *SETS, "--out", str(out)]) == 2
    assert "resume" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    assert main(["train", str(shapes_dir), *SETS, "--out", str(other)]) == 2
    assert "not empty and is not a run folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def _one_sentence(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in err and lines and lines[-1].startswith("error: "), err
    return lines[-1]


@pytest.mark.parametrize("case", ["file", "arch", "device", "cuda", "fp16", "empty", "csv", "vit_32px", "out_proc",
                                  "cache_is_file", "section_scalar", "changes_string", "changes_list",
                                  "one_image_classes"])
def test_setup_problems_exit_2_before_a_run_folder_exists(case, tmp_path, shapes_dir, capsys, monkeypatch):
    import shutil
    runs = tmp_path / "runs"
    data, extra = str(shapes_dir), []
    if case == "vit_32px":
        extra = ["--set", "model.arch=vit_b_16"]
    elif case == "one_image_classes":
        pngs = sorted(shapes_dir.rglob("*.png"))
        for c, png in (("a", pngs[0]), ("b", pngs[-1])):
            (tmp_path / "two" / c).mkdir(parents=True)
            shutil.copy(png, tmp_path / "two" / c / "only.png")
        data = str(tmp_path / "two")
    elif case == "out_proc":
        extra = ["--out", "/proc/workbench-run"]
    elif case == "cache_is_file":
        (tmp_path / "afile").write_text("x")
        extra = ["--set", f"data.cache_dir={tmp_path / 'afile'}"]
    elif case == "section_scalar":
        (tmp_path / "r.toml").write_text("train = 5\n")
        extra = ["--config", str(tmp_path / "r.toml")]
    elif case.startswith("changes_"):
        data = str(tmp_path / "data")
        shutil.copytree(shapes_dir, data)
        first = next(p for p in sorted(Path(data).rglob("*.png"))).relative_to(data).as_posix()
        (Path(data) / ".workbench").mkdir()
        change = "relabel" if case == "changes_string" else ["relabel", "b"]
        (Path(data) / ".workbench" / "changes.json").write_text(json.dumps({"version": 1, "changes": {first: change}}))
    if case == "file":
        data = str(next(shapes_dir.rglob("*.png")))
    elif case == "arch":
        extra = ["--set", "model.arch=resnet1800"]
    elif case == "device":
        extra = ["--set", "train.device=tpu:7"]
    elif case == "cuda":
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        extra = ["--set", "train.device=cuda"]
    elif case == "fp16":
        extra = ["--set", "train.device=cpu", "--set", "train.precision=fp16"]
    elif case == "empty":
        (tmp_path / "empty" / "a").mkdir(parents=True)
        data = str(tmp_path / "empty")
    elif case == "csv":
        (tmp_path / "labels.csv").write_text("name,target\nx.png,a\n")
        extra = ["--set", f"data.labels_csv={tmp_path / 'labels.csv'}"]
    rc = main(["train", data, *SETS, *extra, "--set", f"runs_dir={runs}"])
    line = _one_sentence(capsys.readouterr().err)
    assert rc == 2, line
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())
    expected = {"vit_32px": "it needs exactly 224 px", "out_proc": "cannot make the run folder /proc/workbench-run",
                "cache_is_file": "is a file, not a folder", "section_scalar": "section 'train' must be a table",
                "changes_string": "must be a table with an action", "changes_list": "must be a table with an action",
                "one_image_classes": "no image is left for validation"}
    assert expected.get(case, "") in line


def _copy_run(tmp_path_factory, tmp_path):
    import shutil
    from trained_run import trained_run
    run = tmp_path / "run"
    shutil.copytree(trained_run(tmp_path_factory), run)
    return run


@pytest.mark.parametrize("broken", ["config.toml", "metrics.json", "checkpoints/last.pt", "checkpoints/best.pt",
                                    "classes.json"])
def test_resume_and_export_of_a_broken_run_exit_2(broken, tmp_path, tmp_path_factory, capsys):
    run = _copy_run(tmp_path_factory, tmp_path)
    m = json.loads((run / "metrics.json").read_text())
    m["status"] = "cancelled"  # so that resume has work to do
    (run / "metrics.json").write_text(json.dumps(m))
    (run / broken).write_bytes(b"{ not what it should be \xff")
    export_before = sorted(p.name for p in (run).rglob("*"))
    which = ["--which", "last"] if broken == "checkpoints/last.pt" else []
    for argv in (["resume", str(run)],
                 ["export", str(run), "--format", "safetensors", "--out", str(tmp_path / "x"), *which]):
        if broken in ("checkpoints/best.pt", "classes.json") and argv[0] == "resume":
            continue  # resume needs neither
        rc = main(argv)
        line = _one_sentence(capsys.readouterr().err)
        assert rc == 2, (argv, line)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
    assert sorted(p.name for p in run.rglob("*")) == export_before


@pytest.mark.parametrize("command", [["lr-find"], ["crossval", "--folds", "2"]])
def test_lr_find_and_crossval_check_the_setup_first(command, tmp_path, shapes_dir, capsys):
    runs, out = tmp_path / "runs", tmp_path / "lrf"
    argv = [command[0], str(shapes_dir), *command[1:], "--set", "train.device=tpu:7", "--set", f"runs_dir={runs}"]
    if command[0] == "lr-find":
        argv += ["--out", str(out)]
    assert main(argv) == 2
    assert "unknown device" in _one_sentence(capsys.readouterr().err)
    assert not runs.exists() and not out.exists()


def test_threads_above_the_cores_are_capped_with_a_note_and_sigterm_still_stops(tmp_path, shapes_dir, monkeypatch,
                                                                               capsys):
    import workbench.runtime.device as device_mod
    from workbench.runtime.events import FitStarted
    monkeypatch.setattr(device_mod, "available_cores", lambda: 2)
    seen = []

    class TermAtStart(train_cmd.TrainProgress):
        def __call__(self, event):
            super().__call__(event)
            if isinstance(event, FitStarted):
                seen.append(torch.get_num_threads())
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(train_cmd, "TrainProgress", TermAtStart)
    out = tmp_path / "run"
    sets = ["train.threads=1000" if s == "train.threads=1" else s for s in SETS]
    assert main(["train", str(shapes_dir), *sets, "--out", str(out)]) == 130
    assert seen == [2]
    assert "train.threads = 1000 is more than the 2 core(s)" in (out / "log.txt").read_text()
    assert "using 2" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["status"] == "cancelled"


def test_suggest_out_a_folder_is_refused(tmp_path, shapes_dir, capsys):
    folder = tmp_path / "recipes"
    folder.mkdir()
    assert main(["suggest", str(shapes_dir), "--out", str(folder)]) == 2
    assert "is a folder" in _one_sentence(capsys.readouterr().err) and not any(folder.iterdir())


def test_disk_full_is_its_message_without_a_traceback(tmp_path, shapes_dir, monkeypatch, capsys):
    import collections
    import shutil as shutil_mod

    from workbench.runtime import atomic
    out = tmp_path / "run"
    real = shutil_mod.disk_usage
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(atomic.shutil, "disk_usage",
                        lambda p: usage(10**9, 10**9 - 2000, 2000) if str(p).startswith(str(out)) else real(p))
    assert main(["train", str(shapes_dir), *SETS, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "not enough disk space for the checkpoint last.pt" in captured.err
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"


def test_evaluate_top_below_zero_is_refused(tmp_path, tmp_path_factory, capsys):
    run = _copy_run(tmp_path_factory, tmp_path)
    assert main(["evaluate", str(run), "--top", "-1"]) == 2
    assert "--top must be 0 or more" in _one_sentence(capsys.readouterr().err)


def test_train_again_into_a_folder_a_kill_left_before_its_config(tmp_path, shapes_dir):
    """Killed between making the run folder and writing config.toml: the same command runs again."""
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / ".lock").write_text("")
    assert main(["train", str(shapes_dir), *SETS, "--set", "train.epochs=1", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["status"] == "completed"
