"""Stratified seeded split and the labels CSV layout."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from synth import draw_shape
from workbench.config import DataConfig
from workbench.data import DatasetError, open_dataset
from workbench.data.split import n_valid_for, stratified_split


def test_stratified_split_properties():
    by_class = {"a": [f"a/{i}.png" for i in range(50)], "b": [f"b/{i}.png" for i in range(7)],
                "c": ["c/0.png", "c/1.png"], "d": ["d/0.png"]}
    v1 = stratified_split(by_class, 0.2, seed=1)
    assert stratified_split({k: list(reversed(v)) for k, v in by_class.items()}, 0.2, seed=1) == v1
    assert sum(r.startswith("a/") for r in v1) == 10
    assert sum(r.startswith("b/") for r in v1) == 1
    assert sum(r.startswith("c/") for r in v1) == 1       # every class with >= 2 images gets one
    assert not any(r.startswith("d/") for r in v1)        # a single image stays in training
    assert stratified_split(by_class, 0.2, seed=2) != v1  # the seed matters
    assert [n_valid_for(n, 0.2) for n in (0, 1, 2, 3, 10)] == [0, 0, 1, 1, 2]
    assert n_valid_for(2, 0.9) == 1


def test_split_reproducible_on_disk(shapes_flat_dir, tmp_path):
    def valid(seed):
        ds = open_dataset(DataConfig(path=str(shapes_flat_dir), cache_dir=str(tmp_path)), seed=seed)
        return {it.path for it in ds.valid}
    assert valid(5) == valid(5) and valid(5) != valid(6)


def _images(root: Path, n_per_class: int = 6) -> list[str]:
    rng = random.Random(3)
    files = []
    (root / "imgs" / "sub dir").mkdir(parents=True)
    for c in ("circle", "square"):
        for i in range(n_per_class):
            rel = f"imgs/{'sub dir/' if i % 2 else ''}{c} {i}.png"
            draw_shape(c, 32, rng)[0].save(root / rel)
            files.append((rel, c))
    return files


def _write_csv(path: Path, header: str, rows: list[str]) -> None:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")


def test_csv_labels_with_is_valid(tmp_path):
    root = tmp_path / "ds"
    files = _images(root)
    rows = [f"{f},{c},{1 if i % 3 == 0 else 0}" for i, (f, c) in enumerate(files)]
    _write_csv(root / "labels.csv", "file,label,is_valid", rows)
    ds = open_dataset(DataConfig(path=str(root), labels_csv="labels.csv", cache_dir=str(tmp_path / "c")))
    assert ds.layout == "csv" and ds.split_source == "csv"
    assert ds.classes == ("circle", "square") and not ds.problems
    valid = {Path(it.path).relative_to(root).as_posix() for it in ds.valid}
    assert valid == {f for i, (f, _) in enumerate(files) if i % 3 == 0}
    for it in ds.items:
        assert Path(it.path).name.startswith(ds.classes[it.label])


def test_csv_problems_name_rows(tmp_path):
    root = tmp_path / "ds"
    files = _images(root)
    rows = [f"{f},{c}" for f, c in files[1:]]
    rows[2] = f"{files[3][0]},"                 # row 4: missing label
    rows.append("imgs/ghost.png,circle")         # unknown file
    _write_csv(tmp_path / "lab.csv", "file,label", rows)   # CSV outside the folder, absolute path
    ds = open_dataset(DataConfig(path=str(root), labels_csv=str(tmp_path / "lab.csv"),
                                 cache_dir=str(tmp_path / "c")))
    assert ds.split_source == "random" and len(ds.valid) >= 2
    by_kind = {}
    for p in ds.problems:
        by_kind.setdefault(p.kind, []).append(p.message)
    assert by_kind["csv_unknown_file"] == [f"lab.csv row {len(rows) + 1}: file 'imgs/ghost.png' does not exist "
                                           f"(in {root.resolve()})"]
    missing = sorted(by_kind["csv_missing_label"])
    assert any("row 4" in m and files[3][0] in m for m in missing)
    assert any(files[0][0] in m and "no row in lab.csv" in m for m in missing)
    assert len(ds.items) == len(files) - 2


def test_csv_errors(tmp_path):
    root = tmp_path / "ds"
    _images(root)
    cfg = DataConfig(path=str(root), labels_csv="nope.csv", cache_dir=str(tmp_path / "c"))
    with pytest.raises(DatasetError, match="labels CSV not found"):
        open_dataset(cfg)
    _write_csv(root / "bad.csv", "name,target", ["imgs/circle 0.png,circle"])
    with pytest.raises(DatasetError, match=r"bad.csv: needs columns 'file' and 'label'"):
        open_dataset(DataConfig(path=str(root), labels_csv="bad.csv", cache_dir=str(tmp_path / "c")))
    _write_csv(root / "ghosts.csv", "file;label", ["a.png;x", "b.png;y"])   # ';' delimiter detected
    with pytest.raises(DatasetError, match=r"no usable images.*csv_unknown_file"):
        open_dataset(DataConfig(path=str(root), labels_csv="ghosts.csv", cache_dir=str(tmp_path / "c")))


def test_val_folder_name(shapes_dir, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(shapes_dir / "train", root / "train")
    shutil.copytree(shapes_dir / "valid", root / "val")
    ds = open_dataset(DataConfig(path=str(root), cache_dir=str(tmp_path / "c")))
    assert ds.split_source == "folders" and len(ds.valid) == 24


@pytest.mark.parametrize("bad", ['"circle\n"', '"square\nextra"', '"circle\r"'])
def test_csv_label_with_a_line_break_is_refused_not_merged(tmp_path, bad):
    root = tmp_path / "ds"
    files = _images(root)
    rows = [f"{f},{c}" for f, c in files]
    rows[1] = f"{files[1][0]},{bad}"
    rows.append('"imgs/ghost,\nname.png",circle')  # a quoted file name across lines: one row, not two
    (root / "labels.csv").write_bytes(("file,label\n" + "\n".join(rows) + "\n").encode())
    ds = open_dataset(DataConfig(path=str(root), labels_csv="labels.csv", cache_dir=str(tmp_path / "c")))
    assert ds.classes == ("circle", "square")
    assert files[1][0] not in {Path(it.path).relative_to(root).as_posix() for it in ds.items}
    assert len(ds.items) == len(files) - 1
    bad_rows = [p for p in ds.problems if p.kind == "csv_bad_label"]
    assert len(bad_rows) == 1 and "row 3" in bad_rows[0].message and "line break" in bad_rows[0].message
