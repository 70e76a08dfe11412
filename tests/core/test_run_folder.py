"""RunFolder names the files of a run folder, and the best -> last checkpoint fallback is its one method."""
from __future__ import annotations

import pytest
import torch

from workbench.config import RunConfig
from workbench.analysis.interpret import checkpoint_file, predictions_file
from workbench.run.runs import RunError, delete_run, load_model
from workbench.run.folder import RunFolder, save_checkpoint


def test_best_falls_back_to_last_until_best_exists(tmp_path):
    f = RunFolder(tmp_path).create()
    assert f.checkpoint("best") == f.last == tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(f.best, {"epoch": 0, "model": {}})
    assert f.checkpoint("best") == tmp_path / "checkpoints" / "best.pt"
    assert f.checkpoint("last") == f.last
    assert f.checkpoint("epoch-2") == tmp_path / "checkpoints" / "epoch-2.pt"
    assert checkpoint_file(tmp_path, "best") == f.best  # interpret asks the same method


def test_file_names_and_run_detection(tmp_path):
    f = RunFolder(tmp_path)
    assert not RunFolder.is_run(tmp_path) and not f.has_marker()
    f.config.write_text("", encoding="utf-8")
    assert RunFolder.is_run(tmp_path) and f.has_marker()
    assert [p.name for p in (f.config, f.classes, f.history, f.metrics, f.log, f.progress, f.launch_log,
                             f.calibration())] == ["config.toml", "classes.json", "history.csv", "metrics.json",
                                                 "log.txt", "progress.json", "torchrun.log", "calibration.json"]
    assert f.predictions() == predictions_file(tmp_path) == tmp_path / "predictions.npz"
    assert f.predictions("last") == tmp_path / "predictions-last.npz"
    assert f.calibration("last") == tmp_path / "calibration-last.json"
    assert RunFolder.LAUNCHER_FILES == {"progress.json", "torchrun.log"}


def test_load_model_reads_last_when_best_is_missing(tmp_path):
    """load_model goes through RunFolder.checkpoint: with no best.pt it names last.pt in its error."""
    f = RunFolder(tmp_path).create()
    RunConfig().save(f.config)
    f.write_classes(["a", "b"])
    f.last.write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="last.pt"):
        load_model(tmp_path)
    torch.save({"x": 1}, f.best)  # best.pt now exists, so it is the one read
    with pytest.raises(RunError, match="best.pt"):
        load_model(tmp_path)


def test_delete_run_removes_only_a_run_folder(tmp_path):
    run, photos = tmp_path / "run-a", tmp_path / "photos"
    (run / "checkpoints").mkdir(parents=True)
    (run / RunFolder.METRICS).write_text("{}")
    (photos / "cats").mkdir(parents=True)
    assert delete_run(run) == run and not run.exists()
    with pytest.raises(RunError, match="does not look like a run folder"):
        delete_run(photos)
    assert (photos / "cats").is_dir() and tmp_path.is_dir()


def test_log_lines_are_appended_not_rewritten(tmp_path):
    """append_log adds whole lines to the same file (a rewrite per line grew with the log's length)."""
    f = RunFolder(tmp_path)
    f.append_log("first")
    inode = f.log.stat().st_ino
    for i in range(200):
        f.append_log(f"line {i} é")
    lines = f.log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 201 and lines[0].endswith(" first") and lines[-1].endswith(" line 199 é")
    assert f.log.stat().st_ino == inode  # the same file, appended to


def test_delete_run_is_refused_while_another_process_holds_its_lock(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path
    run = tmp_path / "run-live"
    (run / "checkpoints").mkdir(parents=True)
    (run / RunFolder.CONFIG).write_text("")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom workbench.runtime.locks import run_folder_lock\n"
         f"with run_folder_lock({str(run)!r}):\n    print('held', flush=True)\n    sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError, match="in use by another process.*nothing was deleted"):
            delete_run(run)
        assert (run / RunFolder.CONFIG).is_file() and (run / "checkpoints").is_dir()
    finally:
        holder.communicate("")
    assert delete_run(run) == run and not run.exists()  # free again: deleted
