"""Interpretation of a trained classifier: one inference pass over the validation set -> Predictions,
and everything else (confusion matrix, per-class report, top losses, ...) computed from those arrays.

Qt-free; returns arrays, indices and dataclasses that the GUI and the CLI draw.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from ..runtime.atomic import atomic_write_bytes
from ..runtime.control import RunControl
from ..data import open_dataset
from ..data.pipeline import build_loaders
from ..runtime.device import autocast, pick_precision
from ..runtime.events import Progress
from ..run.runs import load_model, load_run, started_at
from ..run.folder import RunFolder

PREDICTIONS_FILE = RunFolder.PREDICTIONS


@dataclass
class Predictions:
    """Model outputs for a fixed list of images (usually the validation set)."""
    paths: list
    targets: np.ndarray          # int64 (N,)
    probs: np.ndarray            # float32 (N, C)
    losses: np.ndarray           # float32 (N,) cross-entropy of each image
    classes: tuple

    def __post_init__(self) -> None:
        self.targets = np.asarray(self.targets, dtype=np.int64)
        self.probs = np.asarray(self.probs, dtype=np.float32)
        self.losses = np.asarray(self.losses, dtype=np.float32)
        self.classes = tuple(self.classes)
        n = len(self.paths)
        if self.targets.shape != (n,) or self.probs.shape[0] != n or self.losses.shape != (n,):
            raise ValueError(f"Predictions: inconsistent lengths (paths {n}, targets {self.targets.shape}, "
                             f"probs {self.probs.shape}, losses {self.losses.shape})")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def preds(self) -> np.ndarray:
        """Top-1 predicted class per image."""
        return self.probs.argmax(1) if len(self) else np.zeros(0, dtype=np.int64)

    @property
    def correct(self) -> np.ndarray:
        return self.preds == self.targets

    @classmethod
    def from_probs(cls, paths: Sequence[str], targets: Any, probs: Any, classes: Sequence[str]) -> "Predictions":
        """Build Predictions from probabilities; per-image losses are -log p(true class)."""
        probs = np.asarray(probs, dtype=np.float32)
        targets = np.asarray(targets, dtype=np.int64)
        return cls(list(paths), targets, probs, nll_losses(probs, targets), tuple(classes))

    # ------------------------------------------------------------ persistence
    def to_bytes(self, **extra: Any) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, paths=np.array(self.paths, dtype=str), targets=self.targets, probs=self.probs,
                 losses=self.losses, classes=np.array(self.classes, dtype=str),
                 **{k: np.asarray(v) for k, v in extra.items()})
        return buf.getvalue()

    def save(self, path: str | os.PathLike, **extra: Any) -> None:
        atomic_write_bytes(path, self.to_bytes(**extra))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Predictions":
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls([str(p) for p in z["paths"]], z["targets"], z["probs"], z["losses"],
                           tuple(str(c) for c in z["classes"]))
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{path}: not a valid predictions file ({e})") from e


def nll_losses(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    if len(targets) == 0:
        return np.zeros(0, dtype=np.float32)
    p = probs[np.arange(len(targets)), targets]
    return (-np.log(np.clip(p, 1e-12, 1.0))).astype(np.float32)


# ---------------------------------------------------------------- inference
def _batches_with_rows(loader: Any) -> Iterable[tuple]:
    if hasattr(loader, "iter_with_rows"):
        yield from loader.iter_with_rows()
        return
    start = 0
    for x, y in loader:
        yield x, y, np.arange(start, start + len(x))
        start += len(x)


@torch.no_grad()
def predict_loader(model: torch.nn.Module, loader: Any, items: Sequence[Any], device: Any = "cpu",
                   precision: str = "fp32", classes: Sequence[str] = (), sink: Callable | None = None,
                   control: RunControl | None = None, task: str = "predict") -> Predictions:
    """One pass over ``loader``; ``items[row]`` (Item or path) names the image of each loader row."""
    model.eval()
    device = torch.device(device)
    total = len(loader) if hasattr(loader, "__len__") else 0
    rows_all, probs_all, targets_all = [], [], []
    for i, (x, y, rows) in enumerate(_batches_with_rows(loader)):
        if control is not None:
            control.check()
        with autocast(device, precision):
            logits = model(x.to(device))
        probs_all.append(torch.softmax(logits.float(), 1).cpu().numpy())
        targets_all.append(torch.as_tensor(y).cpu().numpy().astype(np.int64))
        rows_all.append(np.asarray(rows.cpu() if torch.is_tensor(rows) else rows, dtype=np.int64))
        if sink is not None:
            sink(Progress(task, i + 1, total))
    if not probs_all:
        n_cls = len(classes)
        return Predictions([], np.zeros(0, np.int64), np.zeros((0, n_cls), np.float32), np.zeros(0, np.float32), tuple(classes))
    rows = np.concatenate(rows_all)
    order = np.argsort(rows, kind="stable")
    probs = np.concatenate(probs_all)[order]
    targets = np.concatenate(targets_all)[order]
    paths = [_item_path(items[r]) for r in rows[order]]
    if not classes:
        classes = tuple(str(c) for c in range(probs.shape[1]))
    return Predictions.from_probs(paths, targets, probs, classes)


def _item_path(item: Any) -> str:
    return str(getattr(item, "path", item))


# ---------------------------------------------------------------- metrics
def confusion_matrix(p: Predictions, normalize: bool = False) -> np.ndarray:
    """C x C counts, rows = true class, columns = predicted; ``normalize`` divides each row by its sum."""
    c = len(p.classes)
    cm = np.zeros((c, c), dtype=np.int64)
    np.add.at(cm, (p.targets, p.preds), 1)
    return normalize_rows(cm) if normalize else cm


def normalize_rows(cm: np.ndarray) -> np.ndarray:
    sums = cm.sum(1, keepdims=True).astype(np.float64)
    return np.divide(cm, sums, out=np.zeros(cm.shape, dtype=np.float64), where=sums > 0)


def most_confused(p: Predictions, min_count: int = 1) -> list[tuple[str, str, int]]:
    """Off-diagonal (true, predicted, count) pairs with count >= min_count, most frequent first."""
    cm = confusion_matrix(p)
    out = [(p.classes[t], p.classes[q], int(cm[t, q])) for t in range(len(cm)) for q in range(len(cm))
           if t != q and cm[t, q] >= min_count]
    return sorted(out, key=lambda r: (-r[2], r[0], r[1]))


def per_class_report(p: Predictions) -> list[dict]:
    """Precision, recall, F1 and support per class (0 where undefined)."""
    cm = confusion_matrix(p)
    tp = np.diag(cm).astype(np.float64)
    pred_n, true_n = cm.sum(0), cm.sum(1)
    out = []
    for i, name in enumerate(p.classes):
        prec = tp[i] / pred_n[i] if pred_n[i] else 0.0
        rec = tp[i] / true_n[i] if true_n[i] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out.append({"class": name, "precision": float(prec), "recall": float(rec), "f1": float(f1),
                    "support": int(true_n[i])})
    return out


def accuracy(p: Predictions) -> float:
    return float(p.correct.mean()) if len(p) else 0.0


def top_k_accuracy(p: Predictions, k: int) -> float:
    if not len(p):
        return 0.0
    top = np.argsort(-p.probs, axis=1)[:, :k]
    return float((top == p.targets[:, None]).any(1).mean())


def summary(p: Predictions) -> dict:
    """accuracy, balanced accuracy (mean recall over present classes), mean loss, top5 (more than 5 classes:
    with 5 or fewer it is always 100 % and says nothing)."""
    rep = per_class_report(p)
    recalls = [r["recall"] for r in rep if r["support"] > 0]
    out = {"n": len(p), "accuracy": accuracy(p),
           "balanced_accuracy": float(np.mean(recalls)) if recalls else 0.0,
           "valid_loss": float(p.losses.mean()) if len(p) else 0.0}
    if len(p.classes) > 5:
        out["top5"] = top_k_accuracy(p, 5)
    return out


def top_losses(p: Predictions, k: int | None = None, cls: int | str | None = None) -> np.ndarray:
    """Indices sorted by loss, largest first; optionally only images whose true class is ``cls``."""
    idx = np.arange(len(p))
    if cls is not None:
        idx = idx[p.targets == _class_index(p, cls)]
    idx = idx[np.argsort(-p.losses[idx], kind="stable")]
    return idx[:k] if k is not None else idx


def least_confident_correct(p: Predictions, k: int | None = None) -> np.ndarray:
    """Correctly classified images with the lowest probability of their class first."""
    idx = np.flatnonzero(p.correct)
    conf = p.probs[idx, p.targets[idx]] if len(idx) else np.zeros(0)
    idx = idx[np.argsort(conf, kind="stable")]
    return idx[:k] if k is not None else idx


def margins(p: Predictions) -> np.ndarray:
    """Difference between the two largest probabilities per image (1 with a single class)."""
    if p.probs.shape[1] < 2:
        return np.ones(len(p), dtype=np.float32)
    top2 = np.sort(p.probs, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def most_uncertain(p: Predictions, k: int | None = None) -> np.ndarray:
    """Images with the smallest margin between the top-2 classes first."""
    idx = np.argsort(margins(p), kind="stable")
    return idx[:k] if k is not None else idx


def indices_for_cell(p: Predictions, true: int | str, pred: int | str) -> np.ndarray:
    """Images of confusion-matrix cell (true, pred), largest loss first."""
    t, q = _class_index(p, true), _class_index(p, pred)
    idx = np.flatnonzero((p.targets == t) & (p.preds == q))
    return idx[np.argsort(-p.losses[idx], kind="stable")]


def _class_index(p: Predictions, cls: int | str) -> int:
    if isinstance(cls, str):
        if cls not in p.classes:
            raise ValueError(f"unknown class '{cls}' (classes: {', '.join(p.classes)})")
        return p.classes.index(cls)
    return int(cls)


def ensemble_predictions(preds: Sequence[Predictions]) -> Predictions:
    """Average the probabilities of several Predictions over the same images (same order and classes)."""
    if not preds:
        raise ValueError("ensemble_predictions needs at least one Predictions")
    first = preds[0]
    for q in preds[1:]:
        if q.classes != first.classes or list(q.paths) != list(first.paths) or not np.array_equal(q.targets, first.targets):
            raise ValueError("ensemble_predictions: members cover different images or classes")
    probs = np.mean([q.probs for q in preds], axis=0)
    return Predictions.from_probs(first.paths, first.targets, probs, first.classes)


@dataclass
class Report:
    """Everything the Results page / `workbench evaluate` shows, as plain data."""
    summary: dict
    per_class: list
    confusion: list
    most_confused: list
    top_losses: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"summary": self.summary, "per_class": self.per_class, "confusion_matrix": self.confusion,
                "most_confused": [{"true": t, "pred": q, "count": n} for t, q, n in self.most_confused],
                "top_losses": self.top_losses}


def build_report(p: Predictions, k: int = 10) -> Report:
    tl = [{"path": p.paths[i], "true": p.classes[p.targets[i]], "pred": p.classes[p.preds[i]],
           "loss": float(p.losses[i]), "prob": float(p.probs[i, p.preds[i]])} for i in top_losses(p, k)]
    return Report(summary(p), per_class_report(p), confusion_matrix(p).tolist(), most_confused(p), tl)


# ---------------------------------------------------------------- run folders
@dataclass
class Interpretation:
    """Predictions of a run's model on its validation set, plus the run's info and a report."""
    predictions: Predictions
    run: Any                      # runs.RunInfo
    which: str = "best"
    from_cache: bool = False

    @property
    def report(self) -> Report:
        return build_report(self.predictions)


def predictions_file(run_dir: str | os.PathLike, which: str = "best") -> Path:
    return RunFolder(run_dir).predictions(which)


def checkpoint_file(run_dir: str | os.PathLike, which: str) -> Path:
    """The checkpoint load_model uses for ``which`` (best falls back to last)."""
    return RunFolder(run_dir).checkpoint(which)


def open_valid(run_dir: str | os.PathLike, which: str = "best", sink: Callable | None = None,
               control: RunControl | None = None, device: Any = None):
    """(model in eval mode, RunInfo, DataBundle, device, precision) rebuilt from the run's config, so
    validation batches get exactly the preprocessing they had during training, on the validation set
    the run was trained on: the dataset's changes (relabel, quarantine) as they stood when the run
    started; a change made since applies to the next run."""
    dev = torch.device(device) if device is not None else None
    model, info = load_model(run_dir, which=which, device=str(dev) if dev is not None else "cpu")
    cfg = info.config
    dev = dev or torch.device("cpu")
    precision = pick_precision(dev, cfg.train.precision)
    ds = open_dataset(cfg.data, cfg.seed, sink=sink, control=control, changes_until=started_at(info))
    bundle = build_loaders(ds, cfg, dev, sink=sink, control=control)
    if tuple(bundle.classes) != tuple(info.classes):
        raise ValueError(f"{run_dir}: the classes of {cfg.data.path} changed since training "
                         f"(run: {', '.join(info.classes)}; folder: {', '.join(bundle.classes)})")
    if not len(bundle.valid_items):
        raise ValueError(f"{run_dir}: the dataset {cfg.data.path} has no validation images to interpret")
    return model, info, bundle, dev, precision


def interpret_run(run_dir: str | os.PathLike, sink: Callable | None = None, control: RunControl | None = None,
                  which: str = "best", device: Any = None, use_cache: bool = True) -> Interpretation:
    """Predict the run's validation set once and keep it in run_dir/predictions.npz; later calls load
    that file while it is newer than the checkpoint."""
    cached = predictions_file(run_dir, which)
    ckpt = checkpoint_file(run_dir, which)
    if use_cache and cached.is_file() and ckpt.is_file() and cached.stat().st_mtime >= ckpt.stat().st_mtime:
        try:
            return Interpretation(Predictions.load(cached), load_run(run_dir), which, from_cache=True)
        except ValueError:
            pass  # unreadable: predict again and overwrite it
    model, info, bundle, dev, precision = open_valid(run_dir, which, sink, control, device)
    preds = predict_loader(model, bundle.valid, bundle.cache.paths, dev, precision, info.classes,
                           sink=sink, control=control, task="interpret")
    preds.save(cached)
    return Interpretation(preds, info, which)


def runs_ensemble(run_dirs: Sequence[str | os.PathLike], sink: Callable | None = None,
                  control: RunControl | None = None, which: str = "best") -> Predictions:
    """Mean-probability ensemble of several runs trained on the same dataset split."""
    return ensemble_predictions([interpret_run(r, sink, control, which).predictions for r in run_dirs])
