"""Every file a command writes into a folder the user chose is new there or was written by the
program before (its manifest): a user's own model.json / lr_find.csv is never replaced without
--force; staging folders a killed export left are removed by the next export."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from trained_run import trained_run
from workbench.cli import main
from workbench.runtime.outputs import MANIFEST


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return trained_run(tmp_path_factory)


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _last_line(err: str) -> str:
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_export_never_replaces_a_users_model_json(run_dir, tmp_path, capsys):
    out = tmp_path / "deploy"
    out.mkdir()
    (out / "model.json").write_text('{"mine": true}\n')
    argv = ["export", str(run_dir), "--format", "safetensors", "--out", str(out)]
    assert main(argv) == 2
    line = _last_line(capsys.readouterr().err)
    assert "was not written by workbench" in line and "--force" in line
    assert (out / "model.json").read_text() == '{"mine": true}\n'
    assert sorted(p.name for p in out.iterdir()) == ["model.json"]
    assert main([*argv, "--force"]) == 0
    assert '"workbench-model"' in (out / "model.json").read_text()
    assert main(argv) == 0  # its own files: replaced without --force
    (out / "model.safetensors").write_bytes(b"changed by the user")
    assert main(argv) == 2  # a file of ours the user changed since is theirs now
    assert (out / "model.safetensors").read_bytes() == b"changed by the user"


def test_export_removes_staging_folders_of_killed_exports(run_dir, tmp_path):
    out = tmp_path / "exp"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = out / f".export-{dead.pid}-abcd1234"          # a kill mid-export left it
    left.mkdir()
    (left / "model.safetensors").write_bytes(b"x" * 1000)
    live = out / f".export-{os.getppid()}-zzzz9999"       # another process exporting now: kept
    live.mkdir()
    assert main(["export", str(run_dir), "--format", "safetensors", "--out", str(out)]) == 0
    assert not left.exists() and live.is_dir()
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, live.name, "model.json", "model.safetensors"])


def test_lr_find_never_replaces_a_users_csv(shapes_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "lr_find.csv").write_text("my,own,numbers\n")
    fast = ["--set", "lr_find.num_it=8", "--set", "data.image_size=32", "--set", "data.batch_size=16",
            "--set", "train.threads=1", "--set", "train.device=cpu", "--set", "model.arch=resnet18"]
    assert main(["lr-find", str(shapes_dir), "--out", str(out), "--no-plot", *fast]) == 2
    assert "was not written by workbench" in _last_line(capsys.readouterr().err)
    assert (out / "lr_find.csv").read_text() == "my,own,numbers\n"
    ours = tmp_path / "ours"
    for _ in range(2):  # the second run replaces the file the first one wrote
        assert main(["lr-find", str(shapes_dir), "--out", str(ours), "--no-plot", *fast]) == 0
    assert (ours / "lr_find.csv").read_text().startswith("lr,loss,smooth_loss")
