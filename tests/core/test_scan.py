"""Scanning: layouts, errors, the scan cache (no decode on re-open), stats and the report."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import workbench.data.health as health
from workbench.config import DataConfig
from workbench.data import DatasetError, compute_stats, dataset_report, open_dataset
from workbench.data.scancache import scans_dir


def _cfg(root, tmp_path, **kw) -> DataConfig:
    return DataConfig(path=str(root), cache_dir=str(tmp_path / "cache"), **kw)


def test_split_folders(shapes_dir, tmp_path):
    ds = open_dataset(_cfg(shapes_dir, tmp_path))
    assert ds.layout == "split_folders" and ds.split_source == "folders"
    assert ds.classes == ("circle", "square", "triangle")
    assert ds.counts("train") == {"circle": 24, "square": 24, "triangle": 24}
    assert ds.counts("valid") == {"circle": 8, "square": 8, "triangle": 8}
    assert not ds.problems and not ds.notes
    assert all(os.path.isabs(it.path) and os.path.isfile(it.path) for it in ds.items)
    assert all(Path(it.path).parent.name == ds.classes[it.label] for it in ds.items)


def test_class_folders_random_split(shapes_flat_dir, tmp_path):
    ds = open_dataset(_cfg(shapes_flat_dir, tmp_path, valid_pct=0.25), seed=3)
    assert ds.layout == "class_folders" and ds.split_source == "random"
    assert ds.counts("valid") == {"circle": 5, "square": 5, "triangle": 5}
    assert ds.counts("train") == {"circle": 15, "square": 15, "triangle": 15}


def test_train_only_and_test_folder(tmp_path, shapes_dir):
    root = tmp_path / "d"
    shutil.copytree(shapes_dir / "train", root / "train")
    shutil.copytree(shapes_dir / "valid", root / "test")
    ds = open_dataset(_cfg(root, tmp_path))
    assert ds.split_source == "random" and ds.layout == "split_folders"
    assert len(ds.split("test")) == 24 and len(ds.valid) > 0 and len(ds.train) + len(ds.valid) == 72


def test_errors(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        open_dataset(_cfg(tmp_path / "nope", tmp_path))
    with pytest.raises(DatasetError, match="empty"):
        open_dataset(DataConfig(path=""))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders"):
        open_dataset(_cfg(empty, tmp_path))
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "a.png").write_bytes(b"x")
    with pytest.raises(DatasetError, match="labels CSV"):
        open_dataset(_cfg(loose, tmp_path))
    broken = tmp_path / "broken" / "cls"
    broken.mkdir(parents=True)
    (broken / "x.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"no usable images.*zero_byte"):
        open_dataset(_cfg(broken.parent, tmp_path))


def test_cache_hit_does_not_decode(shapes_dir, tmp_path, monkeypatch):
    root = tmp_path / "copy"
    shutil.copytree(shapes_dir, root)
    first = open_dataset(_cfg(root, tmp_path))
    assert list(scans_dir(str(tmp_path / "cache")).glob("health-*.json"))
    decoded = []

    def must_not_decode(path, *a):
        decoded.append(path)
        raise AssertionError(f"decoded {path} although it was cached")
    monkeypatch.setattr(health, "check_file", must_not_decode)
    again = open_dataset(_cfg(root, tmp_path))
    assert again == first and not decoded
    # split settings are applied after the cache: no decode either
    open_dataset(_cfg(root, tmp_path, valid_pct=0.5), seed=9)
    # an edited file is the only one decoded again
    target = root / "train" / "circle" / "train_circle_000.png"
    os.utime(target, ns=(0, 10**9))
    monkeypatch.undo()
    seen = []
    orig = health.check_file
    monkeypatch.setattr(health, "check_file", lambda p, *a: seen.append(p) or orig(p, *a))
    open_dataset(_cfg(root, tmp_path))
    assert seen == [str(target)]
    # other health settings are a different cache
    seen.clear()
    open_dataset(_cfg(root, tmp_path, min_side=16))
    assert len(seen) == len(first.items)


def test_check_health_false_decodes_nothing(shapes_flat_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(health, "check_file", lambda *a: pytest.fail("decoded"))
    ds = open_dataset(_cfg(shapes_flat_dir, tmp_path), check_health=False)
    assert len(ds.items) == 60


def test_stats_and_report(shapes_dir, tmp_path, monkeypatch):
    ds = open_dataset(_cfg(shapes_dir, tmp_path))
    st = compute_stats(ds, sample=20)
    assert st.counts == {"train": ds.counts("train"), "valid": ds.counts("valid")}
    assert len(st.widths) == len(ds.items) and set(st.widths) == {32} and np.allclose(st.aspects, 1.0)
    assert st.width_hist[0].sum() == len(ds.items) and len(st.width_hist[1]) == len(st.width_hist[0]) + 1
    assert st.n_sampled == 20 and all(0.0 < s < 0.5 for s in st.std)
    monkeypatch.setattr("workbench.data.stats._sample_pixels", lambda p: pytest.fail("not cached"))
    cached = compute_stats(ds, sample=20)
    assert cached.mean == pytest.approx(st.mean) and np.array_equal(cached.widths, st.widths)
    rep = json.loads(json.dumps(dataset_report(ds, st)))
    assert rep["classes"] == list(ds.classes) and rep["totals"] == {"train": 72, "valid": 24}
    assert rep["stats"]["sizes"]["width"] == {"min": 32.0, "median": 32.0, "max": 32.0}
    assert rep["problems"] == [] and rep["split_source"] == "folders"


def test_scan_info_travels_with_the_dataset(shapes_dir, tmp_path, monkeypatch):
    """open_dataset's health records are an attribute of the Dataset (no global dict keyed by id):
    copies and pickles keep them, and compute_stats reads no image header for the sizes."""
    import dataclasses
    import pickle

    import workbench.data.scancache as scancache
    import workbench.data.stats as stats
    ds = open_dataset(_cfg(shapes_dir, tmp_path))
    assert ds.scan is not None and ds.scan.cache_dir == str(tmp_path / "cache")
    assert set(ds.scan.records) >= {it.path for it in ds.items}
    assert all(ds.scan.records[it.path].width == 32 for it in ds.items)
    assert not any(isinstance(v, dict) and v and all(isinstance(k, int) for k in v)
                   for v in vars(scancache).values())
    monkeypatch.setattr(stats, "_header_size", lambda p: pytest.fail(f"header of {p} read again"))
    for copy in (dataclasses.replace(ds, notes=()), pickle.loads(pickle.dumps(ds))):
        assert copy == ds or copy.notes == ()
        st = compute_stats(copy, sample=5)
        assert set(st.widths) == {32}
        assert list((tmp_path / "cache" / "scans").glob("stats-*.json"))  # the run's cache_dir, not the default
