"""`workbench lr-find`: runs the range test on the synthetic dataset, prints suggestions, writes the CSV."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from workbench.cli import main
from workbench.cli.lr_find_cmd import ascii_plot, curve_csv

FAST = ["--set", "lr_find.num_it=8", "--set", "data.image_size=32", "--set", "data.batch_size=16",
        "--set", "train.threads=1", "--set", "train.device=cpu", "--set", "model.arch=resnet18"]



@pytest.fixture(autouse=True)
def _restore_threads():
    """lr-find sets torch's thread count (train.threads); put it back for the tests after these."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_lr_find_cli_writes_csv(shapes_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["lr-find", str(shapes_dir), "--out", str(out), *FAST])
    assert code == 0
    text = capsys.readouterr().out
    for name in ("valley", "steep", "minimum", "slide"):
        assert name in text
    assert "<- recipe default" in text and "train.lr=" in text
    rows = list(csv.reader((out / "lr_find.csv").open()))
    assert rows[0] == ["lr", "loss", "smooth_loss"]
    assert 2 <= len(rows) - 1 <= 8
    lrs = [float(r[0]) for r in rows[1:]]
    assert lrs == sorted(lrs) and lrs[0] == 1e-7
    assert not list(out.glob(".*tmp"))  # written atomically, no temp file left


def test_lr_find_cli_usage_errors(tmp_path, capsys):
    assert main(["lr-find", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["lr-find", str(tmp_path), "--set", "lr_find.num_it=1"]) == 2
    assert "lr_find.num_it" in capsys.readouterr().err


def test_ascii_plot_and_csv_text():
    lrs = np.logspace(-6, 0, 40)
    loss = (np.log10(lrs) + 3) ** 2 + 1
    plot = ascii_plot(lrs, loss, {"valley": 1e-4, "minimum": 1e-3})
    lines = plot.splitlines()
    assert "V" in lines[0] and "M" in lines[0]
    assert sum(line.count("*") + line.count("^") for line in lines) >= 30
    assert ascii_plot([1e-3], [1.0]) == ""
    assert curve_csv([0.1], [2.0], [2.5]).splitlines() == ["lr,loss,smooth_loss", "0.1,2,2.5"]


def test_lr_find_cli_names_an_unusable_flat_curve(shapes_dir, tmp_path, capsys, monkeypatch):
    """A curve whose lowest point is at the first rates ('minimum' below the start LR) gets the same
    sentence the app shows, and no 'train with it' line."""
    import workbench.train.lr_find as lf

    lrs = 1e-7 * (1e8) ** (np.arange(100) / 99)
    smooth = 0.6931 + 0.0005 * np.log10(lrs / 1e-7) ** 2      # never falls
    flat = lf.LRFindResult(lrs, smooth.copy(), smooth, lf.suggest(lrs, smooth), "valley")
    assert flat.suggestions["minimum"] < lrs[0]
    monkeypatch.setattr(lf, "lr_find", lambda cfg, sink=None, unfrozen=False: flat)
    assert main(["lr-find", str(shapes_dir), "--out", str(tmp_path), "--no-plot", *FAST]) == 0
    text = capsys.readouterr().out
    assert lf.curve_problem(flat) in text and "no usable rate" in text
    assert "train with it" not in text
