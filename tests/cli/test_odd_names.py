"""A file name that is not valid UTF-8 (kept by Python as surrogate escapes) works everywhere:
scan and split, training, inspect, predict to CSV, and the GUI's health table."""
from __future__ import annotations

import csv
import io
import os

import pytest

from synth import make_shapes_dataset
from trained_run import trained_run
from workbench.cli import main
from workbench.config import DataConfig

ODD = b"bild\xff\xfe.png"  # Latin-1 era bytes: no UTF-8 decoding exists


@pytest.fixture()
def odd_dataset(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", n_train=5, n_valid=2, size=32, split_folders=False)
    src = sorted((root / "circle").iterdir())[0]
    os.rename(bytes(src), os.path.join(bytes(root / "circle"), ODD))
    return root


def test_scan_split_and_inspect_accept_the_name(odd_dataset, tmp_path, capsys):
    from workbench.data import open_dataset
    ds = open_dataset(DataConfig(path=str(odd_dataset), cache_dir=str(tmp_path / "c")))
    odd = os.fsdecode(os.path.join(bytes(odd_dataset / "circle"), ODD))
    assert odd in {it.path for it in ds.items}
    assert main(["inspect", str(odd_dataset), "--json", str(tmp_path / "r.json")]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_train_and_predict_to_csv_keep_the_name(odd_dataset, tmp_path, tmp_path_factory, capsys):
    out = tmp_path / "run"
    sets = ["--set", "data.image_size=16", "--set", "train.epochs=1", "--set", "train.threads=1",
            "--set", "model.arch=resnet18", "--set", "data.batch_size=8"]
    assert main(["train", str(odd_dataset), *sets, "--out", str(out)]) == 0
    run = trained_run(tmp_path_factory)
    csv_path = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(odd_dataset / "circle"), "--out", str(csv_path)]) == 0
    raw = csv_path.read_bytes()
    assert ODD in raw  # the file's own bytes, so the row names the real file
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8", "surrogateescape"))))
    assert any(os.fsencode(r[0]).endswith(ODD) for r in rows[1:])


def test_gui_health_table_shows_and_previews_the_file(qtbot, odd_dataset):
    from workbench.data.types import Dataset, Item, Problem
    from workbench.gui.session import Session
    from workbench.gui.views.data_view import DataView
    odd = os.fsdecode(os.path.join(bytes(odd_dataset / "circle"), ODD))
    items = tuple(Item(os.fsdecode(p), 0, "train") for p in sorted(os.listdir(bytes(odd_dataset / "circle"))))
    items = tuple(Item(os.path.join(str(odd_dataset / "circle"), i.path), 0, "train") for i in items)
    ds = Dataset(str(odd_dataset), ("circle",), items, (), (Problem(odd, "grayscale", f"{odd}: converted", False),),
                 "folders", "class_folders")
    session = Session()
    view = DataView(session)
    qtbot.addWidget(view)
    session.dataset = ds
    session.dataset_changed.emit(ds)
    view.health.selectRow(0)
    assert view.problem_path.text().splitlines()[0].endswith("bild\ufffd\ufffd.png")  # then what is wrong
    qtbot.waitUntil(lambda: not view.problem_image.pixmap().isNull())   # decoded by the thumbnail loader
