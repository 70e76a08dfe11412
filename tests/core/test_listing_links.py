"""Image listings never enter a linked folder: no loop, no image twice (predict, the app's folder
prediction and the dataset scan share one walker); odd entries named like images get a line."""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from workbench.cli import main
from workbench.data.scan import walk_images
from workbench.inference.predict import list_images, predict_folder_to_csv

sys.path.insert(0, str(Path(__file__).parents[1]))
from trained_run import trained_run  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return trained_run(tmp_path_factory)


def _looped_folder(tmp_path: Path) -> Path:
    top = tmp_path / "photos"
    (top / "sub").mkdir(parents=True)
    Image.new("RGB", (40, 40), "red").save(top / "a.png")
    Image.new("RGB", (40, 40), "blue").save(top / "sub" / "b.png")
    os.symlink("..", top / "sub" / "up")      # a link to the folder above
    os.symlink(".", top / "self")             # a link to itself
    os.symlink(top / "sub", top / "again")    # the same images a second time
    return top


def _listed_within(fn, seconds=20):
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("v", fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "listing did not finish: it followed a folder loop"
    return out["v"]


def test_list_images_never_enters_linked_folders(tmp_path):
    top = _looped_folder(tmp_path)
    skipped = []
    paths = _listed_within(lambda: list_images(top, skipped))
    assert paths == [str(top / "a.png"), str(top / "sub" / "b.png")]
    assert {Path(p.path).name for p in skipped} == {"up", "self", "again"}
    assert all(p.kind == "linked_folder" for p in skipped)


def test_predict_cli_and_folder_prediction_list_each_image_once(tmp_path, run_dir, capsys):
    top = _looped_folder(tmp_path)
    out = tmp_path / "preds.csv"
    assert _listed_within(lambda: main(["predict", str(run_dir), str(top), "--out", str(out)]), 120) == 0
    rows = out.read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == [str(top / "a.png"), str(top / "sub" / "b.png")]
    assert "a link to a folder, not followed" in capsys.readouterr().err
    res = _listed_within(lambda: predict_folder_to_csv(run_dir, top, tmp_path / "app.csv"), 120)
    assert res["n_predicted"] == 2 and any(k.endswith("self") for k in res["errors"])


def test_dataset_walk_lists_linked_files_but_not_linked_folders(tmp_path):
    top = _looped_folder(tmp_path)
    outside = tmp_path / "outside.png"
    Image.new("RGB", (40, 40)).save(outside)
    os.symlink(outside, top / "linked.png")
    problems = []
    got = sorted(_listed_within(lambda: list(walk_images(top, problems))))
    assert got == [str(top / "a.png"), str(top / "linked.png"), str(top / "sub" / "b.png")]
    assert sorted(Path(p.path).name for p in problems) == ["again", "self", "up"]


def test_predict_on_an_empty_folder_is_bad_input(tmp_path, run_dir, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", str(run_dir), str(empty)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: no image files")


def test_inspect_names_a_fifo_and_a_link_loop_named_like_images(tmp_path, shapes_dir, capsys):
    import shutil
    data = tmp_path / "data"
    shutil.copytree(shapes_dir, data)
    cls = sorted((data / "train").iterdir())[0]
    os.mkfifo(cls / "pipe.jpg")
    os.symlink("loop.jpg", cls / "loop.jpg")
    os.symlink(data / "valid", cls / "linked")
    assert _listed_within(lambda: main(["inspect", str(data)]), 120) == 0
    out = capsys.readouterr().out
    rel = f"train/{cls.name}"
    assert f"{rel}/pipe.jpg: not a regular file" in out
    assert f"{rel}/loop.jpg: cannot read the file" in out
    assert "a link to a folder, not followed" in out
