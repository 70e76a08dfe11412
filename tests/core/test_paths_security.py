"""Nothing is read or written outside where the user pointed: CSV rows outside the dataset, run
names that climb out of runs_dir; WORKBENCH_HOME moves the caches too."""
from __future__ import annotations

from pathlib import Path

from synth import draw_shape
from workbench.config import DataConfig, RunConfig
from workbench.data import open_dataset
from workbench.runtime.paths import cache_root, safe_component
from workbench.train.run import new_run_dir


def test_csv_rows_outside_the_dataset_are_rejected_per_row(tmp_path):
    import random
    rng = random.Random(0)
    root, outside = tmp_path / "ds", tmp_path / "outside"
    (root / "imgs").mkdir(parents=True)
    outside.mkdir()
    rows = []
    for c in ("circle", "square"):
        for i in range(4):
            draw_shape(c, 32, rng)[0].save(root / "imgs" / f"{c}{i}.png")
            rows.append(f"imgs/{c}{i}.png,{c}")
    draw_shape("circle", 32, rng)[0].save(outside / "x.png")
    rows += ["../outside/x.png,circle", f"{outside / 'x.png'},square", "imgs/../../outside/x.png,circle",
             f"{root / 'imgs' / 'circle0.png'},circle"]  # the last: absolute but inside (a duplicate)
    (root / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    ds = open_dataset(DataConfig(path=str(root), labels_csv="labels.csv", cache_dir=str(tmp_path / "c")))
    assert len(ds.items) == 8
    assert all(Path(it.path).resolve().is_relative_to(root.resolve()) for it in ds.items)
    outside_rows = sorted(p.message for p in ds.problems if p.kind == "csv_outside_root")
    assert [m.split(":")[0] for m in outside_rows] == ["labels.csv row 10", "labels.csv row 11", "labels.csv row 12"]
    assert all("outside the dataset folder" in m for m in outside_rows)
    assert any(p.kind == "csv_duplicate_row" for p in ds.problems)


def test_a_run_name_is_one_folder_inside_runs_dir(tmp_path):
    runs = tmp_path / "runs"
    for name in ("../../../../tmp/x", "/etc/passwd", "..", ".hidden", "a\\b", "c:d", "ok name"):
        p = new_run_dir(RunConfig().set("runs_dir", str(runs)).set("name", name))
        assert p.parent == runs and p.name not in ("", ".", "..") and not p.name.startswith("."), (name, p)
    assert safe_component("ok name") == "ok name"
    assert safe_component("../..") == "_" and safe_component("...") == "run"


def test_workbench_home_alone_moves_the_caches(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_CACHE_DIR", raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / "cache"
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    assert cache_root(str(tmp_path / "cfg")) == tmp_path / "cfg"


def test_a_dataset_folder_whose_name_is_not_utf8_gets_a_project_folder(tmp_path, monkeypatch):
    import os
    from workbench.runtime.paths import project_dir
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    odd = tmp_path / os.fsdecode(b"data-\xff")
    other = tmp_path / os.fsdecode(b"data-\xfe")
    assert project_dir(odd) != project_dir(other)
    assert project_dir(odd).parent == tmp_path / "home" / "projects"
