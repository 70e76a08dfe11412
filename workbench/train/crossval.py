"""k-fold cross-validation: stratified folds over all labelled images (the dataset's own split is
ignored), one ordinary run folder per fold (name suffix -fold<i>), and a summary.json with the mean
and standard deviation of accuracy and validation loss.

Each fold is trained through the normal ``train`` entry point; its split is handed over as a labels
CSV (file,label,is_valid) written next to the summary, never into the dataset folder.
"""
from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..runtime.atomic import atomic_write_json, atomic_write_text
from ..config import RunConfig
from ..runtime.control import RunControl
from ..data import open_dataset
from ..runtime.events import LogMessage
from ..runtime.paths import safe_component
from . import run as runner
from ..run.folder import RunFolder
from .preflight import preflight


def stratified_folds(labels: np.ndarray, k: int, seed: int = 42) -> np.ndarray:
    """Fold number (0..k-1) per image: each class is shuffled and dealt round-robin over the folds,
    continuing where the previous class stopped so fold sizes differ by at most one."""
    labels = np.asarray(labels, dtype=np.int64)
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    start = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        fold[idx] = (start + np.arange(len(idx))) % k
        start = (start + len(idx)) % k
    return fold


def fold_csv(root: Path, items: list, classes: tuple, fold: np.ndarray, i: int) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "label", "is_valid"])
    for it, f in zip(items, fold):
        w.writerow([os.path.relpath(it.path, root), classes[it.label], int(f == i)])
    return buf.getvalue()


def _stats(values: list) -> dict:
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if not len(v):
        return {"mean": None, "std": None, "values": []}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "values": v.tolist()}


FINISHED = ("completed", "early_stopped")
RECIPE_FILE = "recipe.toml"  # the recipe of a cross-validation, to tell a rerun from another one


class CrossvalExists(ValueError):
    """A named cross-validation exists with other folds, recipe or dataset; the message says what to do."""


def _cv_dirs(cfg: RunConfig, root: Path) -> tuple[str, Path]:
    """(base name, cv folder): the recipe's name, or '<dataset>-<time>' made unique."""
    runs = Path(cfg.runs_dir).expanduser()
    if cfg.name:
        base = safe_component(cfg.name)
        return base, runs / f"{base}-cv"
    stem = safe_component(f"{root.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    base, n = stem, 2
    while (runs / f"{base}-cv").exists() or (runs / f"{base}-fold0").exists():
        base, n = f"{stem}-{n}", n + 1
    return base, runs / f"{base}-cv"


def _check_same(cv_dir: Path, base: str, recipe: str, csvs: list[str]) -> None:
    """A cross-validation run again must have the folds, recipe and dataset it had (CrossvalExists)."""
    def refuse(why: str) -> CrossvalExists:
        return CrossvalExists(f"cross-validation '{base}' ({cv_dir}) was run with {why}: run it with the same "
                              f"recipe, dataset and --folds to continue it, or choose another name (--set name=...)")
    old = cv_dir / RECIPE_FILE
    if old.is_file() and old.read_text(encoding="utf-8") != recipe:
        raise refuse("another recipe")
    if (cv_dir / f"fold{len(csvs)}.csv").is_file():
        raise refuse("more folds")
    for i, content in enumerate(csvs):
        path = cv_dir / f"fold{i}.csv"
        if path.is_file() and path.read_text(encoding="utf-8") != content:
            raise refuse("other folds (another --folds, seed or set of images)")


def _finished(run_dir: Path) -> bool:
    return RunFolder.is_run(run_dir) and RunFolder(run_dir).read_metrics().get("status") in FINISHED


def _fold(fcfg: RunConfig, run_dir: Path, sink, control) -> "runner.RunResult":
    """Train fold run ``run_dir``, resume it when a run was stopped or killed there, or return the
    result of a finished one."""
    if not RunFolder.is_run(run_dir):  # also a fold killed before its config.toml (train takes it over)
        return runner.train(fcfg, sink=sink, control=control, run_dir=run_dir)
    if _finished(run_dir):
        prior = RunFolder(run_dir).read_metrics()
        return runner.RunResult(run_dir, prior["status"], prior, "finished before")
    return runner.resume(run_dir, sink=sink, control=control)


def run_folds(cfg: RunConfig, k: int, sink: Callable | None = None, control: RunControl | None = None) -> dict:
    """Train ``k`` folds and write ``<runs_dir>/<name>-cv/summary.json``; returns the summary dict.

    A user stop ends the loop after the current fold; the summary then covers the folds done. Run
    again with the same name, recipe, dataset and ``k``, finished folds are kept, a stopped or killed
    fold is resumed and a finished cross-validation says so; with anything else changed it is refused
    (``CrossvalExists``). Without a name each run gets a new one.
    """
    emit = sink or (lambda e: None)
    if cfg.data.path:
        cfg = cfg.set("data.path", str(Path(cfg.data.path).expanduser().resolve()))
    preflight(cfg, check_data=False)  # SetupError before any file is written
    ds = open_dataset(cfg.data, cfg.seed, sink=sink, control=control)
    items = sorted(ds.items, key=lambda it: it.path)
    labels = np.array([it.label for it in items], dtype=np.int64)
    counts = np.bincount(labels, minlength=len(ds.classes))
    smallest = int(counts[counts > 0].min()) if len(items) else 0
    if k > smallest:
        raise ValueError(f"{cfg.data.path}: {k} folds need at least {k} images per class; the smallest "
                         f"class has {smallest}")
    fold = stratified_folds(labels, k, cfg.seed)
    root = Path(ds.root)
    base, cv_dir = _cv_dirs(cfg, root)
    recipe = cfg.to_toml()
    csvs = [fold_csv(root, items, ds.classes, fold, i) for i in range(k)]
    _check_same(cv_dir, base, recipe, csvs)
    run_dirs = [cv_dir.parent / f"{base}-fold{i}" for i in range(k)]
    if all(_finished(d) for d in run_dirs):
        emit(LogMessage(f"cross-validation '{base}' is already finished: its {k} folds are kept as they are"))
    atomic_write_text(cv_dir / RECIPE_FILE, recipe)
    folds = []
    for i in range(k):
        if control is not None and control.stop_requested:
            break
        csv_path = cv_dir / f"fold{i}.csv"
        if not csv_path.is_file():
            atomic_write_text(csv_path, csvs[i])
        fcfg = cfg.set("data.labels_csv", str(csv_path.resolve())).set("name", f"{base}-fold{i}")
        emit(LogMessage(f"cross-validation fold {i + 1}/{k}: {int((fold == i).sum())} validation images"))
        res = _fold(fcfg, run_dirs[i], sink, control)
        m = res.metrics or {}
        folds.append({"fold": i, "run_dir": str(res.run_dir), "status": res.status,
                      "accuracy": m.get("valid_accuracy", m.get("accuracy")),
                      "valid_loss": m.get("valid_loss"), "n_valid": int((fold == i).sum()),
                      "message": res.message})
        if res.status == "cancelled":
            break
    summary = {"k": k, "dataset": str(root), "classes": list(ds.classes), "n_images": len(items),
               "seed": cfg.seed, "folds": folds, "completed_folds": sum(f["status"] != "cancelled" for f in folds),
               "accuracy": _stats([f["accuracy"] for f in folds if f["status"] != "failed"]),
               "valid_loss": _stats([f["valid_loss"] for f in folds if f["status"] != "failed"]),
               "summary_path": str(cv_dir / "summary.json")}
    atomic_write_json(cv_dir / "summary.json", summary)
    return summary
