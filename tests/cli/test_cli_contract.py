"""The CLI's promises: bad input is one sentence and exit 2 before anything is written; SIGTERM
stops like Ctrl-C; a folder that is not a run is never written into."""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from workbench.cli import main
from workbench.cli import train_cmd
from workbench.events import BatchEnd

SETS = ["--set", "data.image_size=32", "--set", "data.batch_size=16", "--set", "train.epochs=2",
        "--set", "train.threads=1", "--set", "model.arch=resnet18", "--set", "train.lr=0.003"]


@pytest.fixture(autouse=True)
def _keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


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
