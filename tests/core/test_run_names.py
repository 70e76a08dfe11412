"""Run folders the user names: rename (atomic, refused while the run is in use), a note, the best run."""
from __future__ import annotations

import os

import pytest

from run_folders import held_by_other_process, make_run
from workbench.cli import main as cli_main
from workbench.run.runs import RunError, best_runs, list_runs, load_run, rename_run, run_summary, set_note


def test_rename_and_note_persist(tmp_path):
    run = make_run(tmp_path / "runs", "resnet-20261206-0", 0.8)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "best.pt").write_bytes(b"x")
    new = rename_run(run, "  first try, lr 3e-3 ")
    assert new == run.parent / "first try, lr 3e-3" and new.is_dir() and not run.exists()
    assert (new / "checkpoints" / "best.pt").read_bytes() == b"x"      # moved whole, nothing copied
    set_note(new, "augmentation off\nbees confused with wasps")
    info = load_run(new)
    assert info.name == "first try, lr 3e-3" and info.note.startswith("augmentation off")
    named = make_run(tmp_path / "other", "named", 0.7)
    from workbench.config import RunConfig
    RunConfig.load(named / "config.toml").set("name", "named").save(named / "config.toml")
    os.utime(named / "config.toml", (1_700_000_000, 1_700_000_000))
    renamed = load_run(rename_run(named, "renamed"))
    assert renamed.config.name == "renamed" and renamed.created == 1_700_000_000   # the name, not the date
    assert [i.note for i in list_runs(tmp_path / "runs")] == [info.note]
    set_note(new, "  ")
    assert load_run(new).note == "" and not (new / "note.txt").exists()


@pytest.mark.parametrize("bad", ["", "a/b", "..", ".hidden", "x\\y", "c:d"])
def test_rename_refuses_bad_names(tmp_path, bad):
    run = make_run(tmp_path / "runs", "r1", 0.8)
    with pytest.raises(RunError):
        rename_run(run, bad)
    assert run.is_dir() and sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r1"]


def test_rename_refuses_taken_name_and_non_runs(tmp_path):
    a, b = make_run(tmp_path / "runs", "a", 0.8), make_run(tmp_path / "runs", "b", 0.7)
    (tmp_path / "runs" / "empty").mkdir()
    for target in ("b", "empty"):
        with pytest.raises(RunError, match="already"):
            rename_run(a, target)
    with pytest.raises(RunError, match="not a run folder"):
        rename_run(tmp_path / "runs" / "empty", "x")
    assert a.is_dir() and b.is_dir() and (b / "metrics.json").is_file()


def test_rename_refused_while_the_run_is_in_use(tmp_path, capsys):
    run = make_run(tmp_path / "runs", "busy", 0.8)
    with held_by_other_process(run):
        with pytest.raises(RunError, match="in use"):
            rename_run(run, "other")
        assert cli_main(["runs", "rename", str(run), "other"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "in use" in err and "Traceback" not in err
    assert run.is_dir() and not (run.parent / "other").exists()
    assert cli_main(["runs", "rename", str(run), "other"]) == 0 and (run.parent / "other").is_dir()


def test_best_run_per_dataset_and_cli(tmp_path, capsys):
    runs = tmp_path / "runs"
    make_run(runs, "a1", 0.6)
    make_run(runs, "a2", 0.9)
    make_run(runs, "b1", 0.5, data="/data/b")
    best = best_runs(list_runs(runs))
    assert {k: v.name for k, v in best.items()} == {"/data/a": "a2", "/data/b": "b1"}
    assert cli_main(["runs", "note", str(runs / "a2"), "the keeper"]) == 0
    capsys.readouterr()
    assert cli_main(["runs", "note", str(runs / "a2")]) == 0
    assert capsys.readouterr().out.strip() == "the keeper"
    (runs / "a2" / "metrics.json").write_text('{"status": "completed", "valid_accuracy": 0.9, "epochs_done": 5, "epochs": 5}')
    assert cli_main(["runs", "list", str(runs)]) == 0
    lines = {ln.split("\t")[0][2:]: ln for ln in capsys.readouterr().out.splitlines()}
    assert lines["a2"].startswith("*") and lines["a2"].endswith("the keeper")
    assert lines["a2"].split("\t")[1:6] == ["completed", "5/5", "90.0%", "resnet18", "a"]   # ..., arch, dataset
    assert lines["b1"].startswith("*") and lines["a1"].startswith(" ")


def test_runs_list_without_a_folder_lists_the_apps_runs(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    make_run(home / "runs", "from-the-app", 0.9)
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.chdir(tmp_path)                       # no ./runs here
    assert cli_main(["runs", "list"]) == 0
    out, err = capsys.readouterr()
    assert "from-the-app" in out and f"runs in {home / 'runs'}" in err
    make_run(tmp_path / "runs", "from-the-cli", 0.8)   # where `workbench train` writes by default
    assert cli_main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert "from-the-cli" in out and "from-the-app" not in out
    assert cli_main(["runs"]) == 0 and capsys.readouterr().out == out     # no action: list


def test_a_runs_start_is_the_earlier_of_its_metrics_and_its_config():
    from types import SimpleNamespace
    from datetime import datetime
    from workbench.run.runs import started_at
    t = datetime.strptime("2026-01-01T11:00:00+0000", "%Y-%m-%dT%H:%M:%S%z").timestamp()
    assert started_at(SimpleNamespace(created=t + 90, metrics={"started": "2026-01-01T11:00:00+0000"})) == t
    assert started_at(SimpleNamespace(created=t, metrics={})) == t
    assert started_at(SimpleNamespace(created=0.0, metrics={"started": "garbled"})) is None


def test_a_resumed_runs_data_is_as_of_its_last_scan():
    """A run resumed after a quarantine reports its last epochs on the set its resume scanned: Results
    rebuilds that one, not the one of its first start."""
    from types import SimpleNamespace
    from datetime import datetime
    from workbench.run.runs import started_at
    t = datetime.strptime("2026-01-01T11:00:00+0000", "%Y-%m-%dT%H:%M:%S%z").timestamp()
    m = {"started": "2026-01-01T11:00:00+0000", "data_scanned": "2026-01-01T12:30:00+0000"}
    assert started_at(SimpleNamespace(created=t, metrics=m)) == t + 5400


def test_a_runs_summary_line_tells_runs_of_one_day_apart(tmp_path):
    """The sidebar's second line: accuracy, epochs done of planned, and the status unless it completed."""
    import json
    done = make_run(tmp_path, "photos-20261206-101500", 0.913)
    (done / "metrics.json").write_text(json.dumps({"status": "completed", "valid_accuracy": 0.913, "epochs_done": 10,
                                                    "epochs": 10}))
    stopped = make_run(tmp_path, "photos-20261206-101900", 0.725)
    (stopped / "metrics.json").write_text(json.dumps({"status": "cancelled", "valid_accuracy": 0.725,
                                                       "epochs_done": 3, "epochs": 8}))
    fresh = make_run(tmp_path, "photos-20261206-102300", 0.5)
    (fresh / "metrics.json").write_text(json.dumps({"status": "running"}))
    assert run_summary(load_run(done)) == "acc 91.3% · 10/10 epochs"
    assert run_summary(load_run(stopped)) == "acc 72.5% · 3/8 epochs · stopped"
    assert run_summary(load_run(fresh)) == "0/5 epochs · running"   # the config's epochs until the run says more


def test_a_runs_log_tail_keeps_whole_lines(tmp_path):
    from workbench.run.folder import RunFolder
    f = RunFolder(tmp_path)
    assert f.log_tail() == []                                  # no log yet
    for i in range(500):
        f.append_log(f"epoch {i}: train_loss 0.{i:03d}")
    tail = f.log_tail(lines=300)
    assert len(tail) == 300 and tail[-1].endswith("epoch 499: train_loss 0.499") and tail[0].endswith("epoch 200: train_loss 0.200")
    short = f.log_tail(lines=1000, max_bytes=1000)             # a start inside a line drops that line
    assert short and all(" epoch " in ln and ln.startswith("20") for ln in short)
    assert short[-1] == tail[-1]


def test_a_taken_run_name_is_said_before_a_run_starts(tmp_path, shapes_dir, capsys):
    """A recipe's run name whose folder holds a run is a problem (the app's check, `train`), said in one
    sentence before anything starts; no name (a dated one) or a free name is none."""
    from workbench.config import RunConfig
    from workbench.run.folder import free_name, name_taken
    runs = tmp_path / "runs"
    cfg = RunConfig().set("runs_dir", str(runs)).set("data.path", str(shapes_dir))
    assert name_taken(cfg) == "" and name_taken(cfg.set("name", "first")) == ""
    make_run(runs, "first", 0.8)
    (runs / "empty").mkdir()
    assert name_taken(cfg) == "" and name_taken(cfg.set("name", "empty")) == ""
    problem = name_taken(cfg.set("name", "first"))
    assert problem.startswith("name: the run name 'first' is taken") and "holds a run" in problem
    make_run(runs, "first-2", 0.7)
    assert free_name(cfg.set("name", "first")) == "first-3" and free_name(cfg.set("name", "new")) == "new"
    assert cli_main(["train", str(shapes_dir), "--set", f"runs_dir={runs}", "--set", "name=first",
                     "--set", "train.epochs=1", "--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the run name 'first' is taken") and "Traceback" not in err
    assert sorted(p.name for p in runs.iterdir()) == ["empty", "first", "first-2"]     # nothing written
