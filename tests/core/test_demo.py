"""Built-in demo dataset: deterministic, >= 6 classes, train/ + valid/, opens cleanly."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from workbench.config import DataConfig
from workbench.data import demo_path, generate_demo, open_dataset
from workbench.data.demo import CLASSES, N_TRAIN, N_VALID
from workbench.runtime.paths import data_home


def _hashes(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_demo_is_deterministic(tmp_path, monkeypatch):
    import workbench.data.demo as demo
    monkeypatch.setattr(demo, "N_TRAIN", 3)   # the per-image seeds do not depend on the counts
    monkeypatch.setattr(demo, "N_VALID", 1)
    h1 = _hashes(generate_demo(tmp_path / "one", seed=4))
    h2 = _hashes(generate_demo(tmp_path / "two", seed=4))
    assert h1 == h2 and len(h1) == len(CLASSES) * 4 + 1
    assert len(set(h1.values())) == len(h1)                          # no two images alike
    assert _hashes(generate_demo(tmp_path / "three", seed=5)) != h1
    generate_demo(tmp_path / "one", seed=4)                          # regenerated in place: same files
    assert _hashes(tmp_path / "one") == h1


def test_demo_path_is_generated_once_and_usable(tmp_path):
    first = demo_path()
    assert first == data_home() / "demo" and demo_path() == first   # generated once, then reused
    h = _hashes(first)
    assert len(h) == len(CLASSES) * (N_TRAIN + N_VALID) + 1
    assert (first / "README.txt").read_text(encoding="utf-8").startswith("Workbench demo dataset")
    ds = open_dataset(DataConfig(path=str(first), cache_dir=str(tmp_path / "c")))
    assert len(ds.classes) >= 6 and ds.split_source == "folders"
    assert set(ds.counts("train").values()) == {N_TRAIN} and set(ds.counts("valid").values()) == {N_VALID}
    assert not ds.problems and not ds.notes


def test_demo_refuses_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "photo.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="not a demo dataset"):
        generate_demo(tmp_path / "mine")
    assert (tmp_path / "mine" / "photo.jpg").read_bytes() == b"precious"
