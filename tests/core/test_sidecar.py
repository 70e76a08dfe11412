"""Relabel / quarantine sidecar: kept per user by default (or beside the data on request), applied by
open_dataset, images and the dataset folder untouched."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import workbench.data.sidecar as sidecar
from workbench.config import DataConfig
from workbench.data import ChangeSet, open_dataset


@pytest.fixture
def ds_copy(shapes_dir, tmp_path) -> Path:
    root = tmp_path / "ds"
    shutil.copytree(shapes_dir, root)
    return root


def _hashes(root: Path) -> dict:
    return {str(p): hashlib.sha1(p.read_bytes()).hexdigest() for p in root.rglob("*.png")}


def test_relabel_quarantine_undo_and_apply(ds_copy, tmp_path):
    cfg = DataConfig(path=str(ds_copy), cache_dir=str(tmp_path / "c"))
    before = _hashes(ds_copy)
    ds = open_dataset(cfg)
    a, b, c = ds.train[0], ds.train[1], ds.valid[0]
    cs = ChangeSet.load(ds.root)
    assert cs.location == sidecar.user_path(Path(ds.root)) and len(cs) == 0
    cs.relabel(a.path, "square", classes=ds.classes)
    cs.quarantine(b.path)
    cs.quarantine(c.path)
    cs.keep(c.path)                      # replaces the quarantine with a recorded keep
    with pytest.raises(ValueError, match="not an existing class"):
        cs.relabel(a.path, "hexagon", classes=ds.classes)
    by_path = {e["path"]: (e["action"], e["new_class"]) for e in cs.entries}
    assert by_path == {a.path: ("relabel", "square"), b.path: ("quarantine", None), c.path: ("keep", None)}
    assert all(set(e) == {"path", "action", "new_class", "time"} for e in cs.entries)
    assert cs.undo() and cs.get(c.path)["action"] == "quarantine"   # undo the keep
    assert cs.undo() and cs.get(c.path) is None                     # undo the quarantine
    saved = cs.save()
    assert saved.is_file() and json.loads(saved.read_text())["changes"]

    ds2 = open_dataset(cfg)
    paths = {it.path: it for it in ds2.items}
    assert b.path not in paths and c.path in paths
    assert ds2.classes[paths[a.path].label] == "square" and paths[a.path].split == a.split
    kinds = {n.kind: n for n in ds2.notes}
    assert kinds["quarantined"].path == b.path and kinds["relabelled"].path == a.path
    assert len(open_dataset(cfg, apply_changes=False).items) == len(ds.items)
    assert _hashes(ds_copy) == before    # the images themselves are never touched
    assert not (ds_copy / ".workbench").exists()   # nor is anything written into the dataset folder

    again = ChangeSet.load(ds_copy)      # history survives a reload
    assert again.undo() and again.undo() and not again.undo()
    again.save()
    assert open_dataset(cfg) == ds


def test_unknown_class_in_file_is_ignored(ds_copy, tmp_path):
    cs = ChangeSet.load(ds_copy)
    target = ds_copy / "train" / "circle" / "train_circle_001.png"
    cs.relabel(target, "hexagon")
    cs.save()
    ds = open_dataset(DataConfig(path=str(ds_copy), cache_dir=str(tmp_path / "c")))
    assert "hexagon" not in ds.classes
    assert [n.kind for n in ds.notes] == ["relabel_ignored"]


def test_beside_the_data_on_request_and_falls_back_when_the_write_fails(ds_copy, tmp_path, monkeypatch):
    cs = ChangeSet.load(ds_copy, beside_data=True)
    assert cs.location == ds_copy.resolve() / ".workbench" / "changes.json"
    cs.quarantine("train/circle/train_circle_002.png")   # relative paths work too
    assert cs.save() == ds_copy.resolve() / ".workbench" / "changes.json"
    # the per-user default reads a sidecar found beside the data, and writes its own file
    user = ChangeSet.load(ds_copy)
    assert len(user) == 1 and user.location == sidecar.user_path(ds_copy.resolve())
    ds = open_dataset(DataConfig(path=str(ds_copy), cache_dir=str(tmp_path / "c")))
    assert not any(it.path.endswith("train_circle_002.png") for it in ds.items)
    with pytest.raises(ValueError, match="not inside"):
        cs.quarantine(tmp_path / "elsewhere.png")
    # the folder refuses the write (read-only share; permission bits are not trusted, e.g. for root)
    real = sidecar.atomic_write_json

    def refuse(path, data):
        if ds_copy.resolve() in Path(path).parents:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, data)
    monkeypatch.setattr(sidecar, "atomic_write_json", refuse)
    cs.quarantine("train/circle/train_circle_003.png")
    assert cs.save() == sidecar.user_path(ds_copy.resolve())
    assert "projects" in cs.location.parts


def test_read_only_dataset_is_never_written(ds_copy, tmp_path):
    import os
    import stat
    for d in [ds_copy, *[p for p in ds_copy.rglob("*") if p.is_dir()]]:
        d.chmod(d.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        cs = ChangeSet.load(ds_copy)
        cs.quarantine("train/circle/train_circle_002.png")
        cs.save()   # also as root, which could write a chmod a-w folder
        assert not (ds_copy / ".workbench").exists()
        assert cs.location == sidecar.user_path(ds_copy.resolve()) and os.path.isfile(cs.location)
    finally:
        for d in [ds_copy, *[p for p in ds_copy.rglob("*") if p.is_dir()]]:
            d.chmod(d.stat().st_mode | stat.S_IWUSR)


def test_every_action_the_program_writes_loads_back(ds_copy, tmp_path):
    """keep (Results galleries) and to_label (the Try it page) are written, saved and read back, and the
    scan applies none of them: the images stay in their classes."""
    cfg = DataConfig(path=str(ds_copy), cache_dir=str(tmp_path / "c"))
    ds = open_dataset(cfg)
    a, b = ds.train[0], ds.train[1]
    cs = ChangeSet.load(ds.root)
    cs.keep(a.path)
    cs.mark_to_label(b.path, predicted="square", probability=0.41)
    cs.save()
    again = ChangeSet.load(ds.root)
    assert {e["path"]: e["action"] for e in again.entries} == {a.path: "keep", b.path: "to_label"}
    ds2 = open_dataset(cfg)
    assert [(it.path, it.label) for it in ds2.items] == [(it.path, it.label) for it in ds.items]


def test_changes_as_of_a_time_rebuild_the_list_a_run_was_trained_with(tmp_path, monkeypatch):
    """``as_of``: a change made after a time is replaced by the one it replaced; undone changes stay gone."""
    import workbench.data.sidecar as sc
    from workbench.data.sidecar import ChangeSet
    root = tmp_path / "ds"
    root.mkdir()
    clock = iter(["2026-01-01T10:00:00Z", "2026-01-01T12:00:00Z", "2026-01-01T12:00:05Z", "2026-01-01T10:00:10Z",
                  "2026-01-01T12:00:10Z"])
    monkeypatch.setattr(sc, "_now", lambda: next(clock))
    cs = ChangeSet.load(root)
    cs.relabel(root / "a.png", "cat")           # 10:00, before the run
    cs.quarantine(root / "a.png")               # 12:00, after: a was relabelled when the run started
    cs.keep(root / "b.png")                     # 12:00:05, after: b had no change
    cs.relabel(root / "c.png", "dog")           # 10:00:10, before the run ...
    cs.remove(root / "c.png")                   # 12:00:10, ... taken off the list after it
    run_start = 1767265200.0                    # 2026-01-01T11:00:00Z
    assert cs.as_of(run_start) == {
        "a.png": {"action": "relabel", "new_class": "cat", "time": "2026-01-01T10:00:00Z"},
        "c.png": {"action": "relabel", "new_class": "dog", "time": "2026-01-01T10:00:10Z"}}
    assert cs.as_of(run_start + 7200) == cs.by_rel() and "c.png" not in cs.by_rel()
    assert cs.as_of(0) == {}
    cs.save()                                   # the times survive the file
    assert ChangeSet.load(root).as_of(run_start) == cs.as_of(run_start)


def test_a_change_without_its_history_counts_from_its_own_time(tmp_path, monkeypatch):
    """A list whose undo history was cut (or never kept): a change made after the run started is not
    part of that run's data; one made before is."""
    import workbench.data.sidecar as sc
    from workbench.data.sidecar import ChangeSet
    root = tmp_path / "ds"
    root.mkdir()
    clock = iter(["2026-01-01T10:00:00Z", "2026-01-01T12:00:00Z"])
    monkeypatch.setattr(sc, "_now", lambda: next(clock))
    cs = ChangeSet.load(root)
    cs.relabel(root / "a.png", "cat")            # 10:00, before the run
    cs.quarantine(root / "b.png")                # 12:00, after it
    cs._history.clear()                          # as in a list of an older version, or past its 1000 records
    assert cs.as_of(1767265200.0) == {"a.png": {"action": "relabel", "new_class": "cat",
                                                "time": "2026-01-01T10:00:00Z"}}
