"""Health check on the torture folder: each bad file reported with its kind and skipped, notes kept."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from workbench.config import DataConfig
from workbench.runtime.control import Cancelled, RunControl
from workbench.data import compute_stats, open_dataset
from workbench.runtime.events import Progress


def _cfg(root: Path, tmp_path: Path, **kw) -> DataConfig:
    return DataConfig(path=str(root), cache_dir=str(tmp_path / "cache"), **kw)


def _rel(ds, path: str) -> str:
    return Path(os.path.relpath(path, ds.root)).as_posix()


def _tree_hashes(root: Path) -> dict:
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[str(p)] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("max_pixels", [40_000, 20_000])  # Pillow warning range, and its refusal range
def test_each_bad_file_is_reported_and_skipped(torture_dir, torture_spec, tmp_path, max_pixels):
    before = _tree_hashes(torture_dir)
    ds = open_dataset(_cfg(torture_dir, tmp_path, max_pixels=max_pixels))
    kinds = {_rel(ds, p.path): p.kind for p in ds.problems if p.skipped}
    item_rels = {_rel(ds, it.path) for it in ds.items}
    for rel, kind in torture_spec.problems.items():
        assert kinds.get(rel) == kind, (rel, kinds)
        assert rel not in item_rels
    for p in ds.problems:
        if p.skipped and os.path.isfile(p.path):
            assert _rel(ds, p.path) in p.message  # every message names its file
    assert _tree_hashes(torture_dir) == before  # nothing moved, deleted or changed
    assert not any(n.kind == "quarantined" for n in ds.notes)
    truncated = next(p.message for p in ds.problems if p.kind == "truncated")
    assert truncated.split(": ", 1)[1].count("truncated") == 1, truncated   # said once, with Pillow's detail


def test_notes_and_usable_rest(torture_dir, torture_spec, tmp_path):
    ds = open_dataset(_cfg(torture_dir, tmp_path, max_pixels=torture_spec.max_pixels))
    notes = {}
    for n in ds.notes:
        assert not n.skipped
        notes.setdefault(_rel(ds, n.path), set()).add(n.kind)
    for rel, kind in torture_spec.notes.items():
        assert kind in notes.get(rel, set()), (rel, notes)
    assert ds.classes == ("alpha", "beta", torture_spec.unicode_class, "solo")
    rels = {_rel(ds, it.path) for it in ds.items}
    assert set(torture_spec.notes) <= rels
    assert {f"{torture_spec.unicode_class}/{f}" for f in torture_spec.unicode_files} <= rels
    assert "alpha/link.png" in rels and "alpha/nested deeper/good_nested.PNG" in rels
    assert not any(".hidden" in r or ".workbench" in r or "/loop/" in r or r.endswith(".txt") for r in rels)
    counts = ds.counts()
    assert counts["alpha"] == torture_spec.good_alpha + 1      # good + nested + symlink
    assert counts["beta"] == 3 + len(torture_spec.notes)
    assert counts["solo"] == 1
    kinds = {p.kind: p for p in ds.problems}
    assert kinds["empty_class"].path.endswith("empty") and "'empty'" in kinds["empty_class"].message
    assert kinds["single_image_class"].skipped is False and "'solo'" in kinds["single_image_class"].message
    assert "good_000.png" in kinds["duplicate"].message
    # stats use the upright size of the EXIF-rotated 40x24 image
    st = compute_stats(ds)
    i = [k for k, it in enumerate(ds.items) if it.path.endswith("rotated.jpg")][0]
    assert (st.widths[i], st.heights[i]) == (24, 40)
    assert st.n_sampled > 0 and all(0 < m < 1 for m in st.mean)


def test_progress_events_and_cancel(torture_dir, tmp_path):
    events = []
    ds = open_dataset(_cfg(torture_dir, tmp_path), sink=events.append)
    health = [e for e in events if isinstance(e, Progress) and e.task == "health"]
    assert health[0].done == 0 and health[-1].done == health[-1].total > len(ds.items)

    control = RunControl()

    def stop_on_start(e):
        if isinstance(e, Progress) and e.task == "health":
            control.request_stop()
    with pytest.raises(Cancelled):
        open_dataset(_cfg(torture_dir, tmp_path / "other"), sink=stop_on_start, control=control)
    # a later open finishes the job
    assert len(open_dataset(_cfg(torture_dir, tmp_path / "other")).items) == len(ds.items)


@pytest.mark.parametrize("valid_name", ["valid", "val"])
def test_train_valid_leak(tmp_path, split_torture_factory, valid_name):
    root = split_torture_factory(valid_name)
    ds = open_dataset(_cfg(root, tmp_path))
    assert ds.layout == "split_folders" and ds.split_source == "folders"
    leak = [p for p in ds.problems if p.kind == "train_valid_leak"]
    assert len(leak) == 1 and leak[0].path.endswith("leak.png") and leak[0].skipped
    assert "a_0.png" in leak[0].message
    assert ds.counts("train") == {"a": 5, "b": 5} and ds.counts("valid") == {"a": 2, "b": 2}


def test_a_tiny_validation_set_is_warned_about(tmp_path):
    from synth import make_shapes_dataset
    from workbench.config import RunConfig
    from workbench.data import open_dataset
    from workbench.data.report import MIN_VALID_IMAGES, training_problems
    small = open_dataset(RunConfig().set("data.path", str(make_shapes_dataset(tmp_path / "s", n_train=6, n_valid=1)))
                         .data)
    errors, warnings = training_problems(small)
    n = len(small.valid)
    assert not errors and n < MIN_VALID_IMAGES
    assert any(w.startswith(f"data: only {n} validation images") for w in warnings)
    big = open_dataset(RunConfig().set("data.path", str(make_shapes_dataset(tmp_path / "b", n_train=6, n_valid=8)))
                       .data)
    assert len(big.valid) >= MIN_VALID_IMAGES and not any("validation image" in w for w in training_problems(big)[1])
