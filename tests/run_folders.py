"""Small run folders for tests of the run lists (no training), and a run lock held by another process."""
from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from workbench.config import RunConfig


def make_run(runs: Path, name: str, acc: float, data: str = "/data/a") -> Path:
    d = runs / name
    d.mkdir(parents=True)
    RunConfig().set("data.path", data).save(d / "config.toml")
    (d / "classes.json").write_text(json.dumps(["a", "b"]))
    (d / "metrics.json").write_text(json.dumps({"status": "completed", "valid_accuracy": acc}))
    return d


@contextmanager
def held_by_other_process(run: Path):
    """The run's .lock held by another process, as a training would hold it."""
    code = ("import sys; from workbench.runtime.locks import run_folder_lock\n"
            f"with run_folder_lock({str(run)!r}):\n    print('held', flush=True); sys.stdin.read()")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": ""})
    try:
        assert p.stdout.readline().strip() == "held"
        yield
    finally:
        p.stdin.close()
        p.wait(30)
