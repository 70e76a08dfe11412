"""Two real processes: temp files of another live process survive, one presize cache build is shared
(the second process waits and then opens it), and a run folder in use is refused with a message."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synth import make_shapes_dataset
from workbench.runtime import atomic
from workbench.runtime.atomic import atomic_write_bytes, atomic_write_text
from workbench.data.cache import PresizeCache
from workbench.runtime.locks import BusyError, run_folder_lock, wait_lock

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), WORKBENCH_CACHE_DIR=str(tmp_path / "cache"))


def test_temp_file_of_a_live_process_is_kept_and_a_dead_ones_removed(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        live = tmp_path / f".cache.u8.{other.pid}-abcd1234.tmp"   # being written by another process
        mine = tmp_path / f".cache.u8.{os.getpid()}-zz99.tmp"      # this process, no write in flight
        old = tmp_path / ".cache.u8.legacy.tmp"                     # no pid: by age
        for f in (live, mine, old):
            f.write_bytes(b"half")
        young = tmp_path / ".cache.u8.young.tmp"
        young.write_bytes(b"x")
        os.utime(old, (time.time() - 2 * atomic.STALE_SECONDS,) * 2)
        atomic_write_bytes(tmp_path / "cache.u8", b"done")
        assert live.exists() and young.exists()
        assert not mine.exists() and not old.exists()
    finally:
        other.communicate(b"")


def test_written_files_follow_the_umask_not_0600(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:
        assert atomic._read_umask() == 0o027
    finally:
        os.umask(old)
    monkeypatch.setattr(atomic, "UMASK", 0o022)
    atomic_write_text(tmp_path / "model.json", "{}")
    assert stat.S_IMODE((tmp_path / "model.json").stat().st_mode) == 0o644
    os.chmod(tmp_path / "model.json", 0o640)  # a file replaced keeps its mode
    atomic_write_text(tmp_path / "model.json", "{}")
    assert stat.S_IMODE((tmp_path / "model.json").stat().st_mode) == 0o640


BUILD = """
import json, sys
from pathlib import Path
from workbench.data.cache import PresizeCache
paths = json.loads(sys.argv[1])
def sink(e):
    if type(e).__name__ == "LogMessage":
        print(e.text, flush=True)
c = PresizeCache.build(paths, 24, Path(sys.argv[2]), sink=sink)
print(json.dumps({"decoded": c.decoded, "ok": int(c.ok.sum())}))
"""


def test_second_process_waits_for_the_cache_build_and_reuses_it(tmp_path):
    data = make_shapes_dataset(tmp_path / "data", n_train=4, n_valid=2, size=32)
    paths = sorted(str(p) for p in data.rglob("*.png"))
    root = tmp_path / "cache"
    lock = PresizeCache.meta_path_for(paths, 24, root).with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    with wait_lock(lock):  # this process builds; the child has to wait for it
        child = subprocess.Popen([sys.executable, "-c", BUILD, json.dumps(paths), str(root)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
        line = child.stdout.readline()  # the child says it waits for this process
        assert "waiting for another process" in line, child.communicate()[1]
        mine = PresizeCache.build(paths, 24, root)
        assert mine.decoded == len(paths)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert json.loads(out) == {"decoded": 0, "ok": len(paths)}  # opened the cache this process built


def test_run_folder_in_use_by_another_process_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom workbench.runtime.locks import run_folder_lock\n"
                               f"with run_folder_lock({str(run)!r}):\n    print('held', flush=True)\n    sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BusyError, match="in use by another"):
            with run_folder_lock(run):
                pass
        (run / "config.toml").write_text("")  # the CLI: resume or train of a busy run: exit 2, that sentence
        from workbench.cli import main
        assert main(["resume", str(run)]) == 2
        assert main(["train", str(tmp_path), "--out", str(run)]) == 2
        err = capsys.readouterr().err
        assert err.count("in use by another training process") == 2 and "Traceback" not in err
    finally:
        holder.communicate("")
    with run_folder_lock(run):  # free again once the holder has ended
        pass


def test_a_cache_build_removes_temp_files_of_killed_builds_of_other_file_sets(tmp_path):
    data = make_shapes_dataset(tmp_path / "data", n_train=2, n_valid=1, size=32)
    paths = sorted(str(p) for p in data.rglob("*.png"))
    folder = tmp_path / "cache" / "presize"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = folder / f".p24-0123456789abcdef01234567.u8.{dead.pid}-k1ll3d.tmp"  # another file set
    killed.write_bytes(b"\0" * 4096)
    PresizeCache.build(paths, 24, tmp_path / "cache")
    assert not killed.exists()


def test_two_trainings_on_one_dataset_at_once_both_finish(tmp_path):
    """The reported failure: the second of two runs on one dataset died with FileNotFoundError on
    its cache temp file, which the first one had deleted."""
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=2, size=32)
    sets = ["--set", "data.image_size=16", "--set", "train.epochs=1", "--set", "train.threads=1",
            "--set", "model.arch=resnet18", "--set", "data.batch_size=8", "--set", "train.device=cpu"]
    procs = [subprocess.Popen([sys.executable, "-m", "workbench", "train", str(data), *sets, "--out",
                               str(tmp_path / f"run{i}")], env=_env(tmp_path), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    for i in range(2):
        assert json.loads((tmp_path / f"run{i}" / "metrics.json").read_text())["status"] == "completed"
    presize = tmp_path / "cache" / "presize"
    assert len(list(presize.glob("p*-*.json"))) == 1 and not list(presize.glob(".*.tmp"))
