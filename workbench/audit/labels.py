"""Label audit: out-of-fold predictions by stratified cross-fitting, label issues ranked by confident
learning (cleanlab), near-duplicates and train/valid leaks, a group-aware split.

Every labelled image (the dataset's own split ignored, sidecar relabels / quarantines applied) is dealt
into k stratified folds (crossval.stratified_folds); fold i trains on the other folds and predicts
fold i, so each image gets probabilities from a model that never saw it. Everything lives in
``<runs_dir>/<dataset>-audit/``: fold<i>.csv, folds/fold<i>/ (ordinary run
folders), oof-fold<i>.npz (the held-out predictions of a finished fold), report.json, group-split.csv.
Running the same audit again skips finished folds and resumes a stopped or killed one from its
checkpoint. Nothing is written into the dataset folder.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from . import leaks
from ..models import weights
from ..runtime.atomic import atomic_write_json, atomic_write_text
from ..config import RunConfig
from ..runtime.control import RunControl
from ..train.crossval import fold_csv, stratified_folds
from ..data import ChangeSet, open_dataset
from ..runtime.device import autocast, pick_device, pick_precision
from ..runtime.events import LogMessage, Progress
from ..analysis.interpret import Predictions, interpret_run
from ..models.build import create_model
from .near_dups import require
from ..recipe.first_run import first_run
from ..recipe.pretrained import pretrained_defaults
from ..recipe.working import same_dataset
from ..run.folder import RunFolder
from ..train.run import resume, train

REPORT_FILE = "report.json"
QUICK_SIZE, QUICK_EPOCHS = 64, 3
MIN_SKILL = 0.5     # share of the gap from chance to 100 % the out-of-fold accuracy must close (ranking_check)


@dataclass
class AuditResult:
    audit_dir: Path
    status: str                           # completed | cancelled | failed
    k: int
    folds_done: int
    classes: tuple = ()
    label_issues: list = field(default_factory=list)
    oof: Predictions | None = None        # out-of-fold predictions of every image (path order)
    fold_of: np.ndarray | None = None     # fold number of each image of ``oof``
    leaks: dict = field(default_factory=dict)
    message: str = ""
    wall_seconds: float = 0.0
    data_path: str = ""                   # the dataset folder audited (report.json says so: saved_report)

    def to_dict(self) -> dict:
        acc = float((self.oof.preds == self.oof.targets).mean()) if self.oof is not None and len(self.oof) else None
        reliable, note, chance = ranking_check(self.oof)
        return {"audit_dir": str(self.audit_dir), "status": self.status, "k": self.k, "folds_done": self.folds_done,
                "classes": list(self.classes), "oof_accuracy": acc, "n_images": len(self.oof) if self.oof else 0,
                "chance_accuracy": chance, "ranking_reliable": reliable, "ranking_note": note,
                "label_issues": self.label_issues, **self.leaks, "message": self.message,
                "wall_seconds": round(self.wall_seconds, 3), "data_path": self.data_path}


def audit_recipe(cfg: RunConfig, quick: bool = True, median_side: float = 0.0, from_scratch: bool = False,
                 backbone_weights: str = "", explicit: Iterable[str] = ()) -> RunConfig:
    """The recipe every fold trains.

    - The recipe's time budget is dropped: each fold trains its epochs (the estimate counts them).
    - A recipe that names no model, on photos (``median_side``: the images' median short side, 0 =
      unknown), starts every fold from the ImageNet weights on disk (bundled with the install first,
      then cached) at their native size with the fine-tune defaults (``first_run``; ``explicit``: the
      keys the user set, a ``model.*`` key among them leaves the model alone), unless ``from_scratch``: out-of-fold models trained from scratch on a few hundred photos are too weak
      to rank label issues (README, "Label audit": precision@k measured both ways).
    - ``backbone_weights`` (a local weights file) starts every fold from it instead.
    - ``quick``: at most QUICK_EPOCHS epochs; a recipe that still trains from scratch also at most
      QUICK_SIZE px, and from cached weights of its architecture when there are such (and the
      fine-tune defaults)."""
    out = cfg.set("train.budget_minutes", 0.0)
    if backbone_weights:
        out = out.set("model.weights", backbone_weights)
    elif not from_scratch:
        out = first_run(out, median_side, explicit).config
    if quick:
        out = out.set("train.epochs", min(out.train.epochs, QUICK_EPOCHS))
        if out.model.pretrained.lower() == "none" and not out.model.weights:
            out = out.set("data.image_size", min(out.data.image_size, QUICK_SIZE))
            tag = "" if from_scratch else weights.cached_tag(out.model.arch)
            if tag:
                out, _ = pretrained_defaults(out.set("model.pretrained", tag))
    return out


def quick_recipe(cfg: RunConfig, backbone_weights: str = "") -> RunConfig:
    """The quick audit recipe of ``cfg`` (``audit_recipe`` with quick on, the images' size unknown)."""
    return audit_recipe(cfg, True, backbone_weights=backbone_weights)


def describe_recipe(cfg: RunConfig) -> str:
    """'timm/tf_efficientnet_lite0 fine-tuned from in1k at 224 px, 3 epochs' (the audit's one line)."""
    m = cfg.model
    start = (f"fine-tuned from {m.pretrained}" if m.pretrained.lower() != "none" else
             "fine-tuned from its weights file" if m.weights else "from scratch")
    return f"{m.arch} {start} at {cfg.data.image_size} px, {cfg.train.epochs} epochs"


def ranking_check(oof: Predictions | None) -> tuple[bool, str, float]:
    """(reliable, sentence, chance accuracy) of an out-of-fold ranking. Chance is the share of the
    largest class; the ranking is trusted when the out-of-fold accuracy closes at least MIN_SKILL of
    the gap between chance and 100 % (10 classes: 55 %; 2 balanced classes: 75 %). Below that most
    suspects are the fold models' own mistakes, not wrong labels."""
    if oof is None or not len(oof):
        return False, "no out-of-fold predictions", 0.0
    acc = float((oof.preds == oof.targets).mean())
    chance = float(np.bincount(oof.targets).max() / len(oof.targets))
    need = chance + MIN_SKILL * (1.0 - chance)
    if acc >= need:
        return True, "", chance
    return False, (f"out-of-fold accuracy {acc:.1%} is too low for the ranking to mean anything (chance "
                   f"{chance:.1%}; it needs at least {need:.1%}): most suspects are the fold models' own "
                   f"mistakes, not wrong labels. Start the folds from pretrained weights, train longer or "
                   f"use larger images before accepting any suggestion."), chance


def pretrained_embedder(cfg: RunConfig) -> leaks.Embedder | None:
    """Embeddings of the recipe's architecture with its cached pretrained weights (model.pretrained,
    else the first cached tag), or None when no such weights are on this machine."""
    arch = cfg.model.arch
    tag = cfg.model.pretrained if cfg.model.pretrained.lower() != "none" else weights.cached_tag(arch)
    path = weights.cached_path(arch, tag) if tag and tag.lower() != "none" else None
    if path is None:
        return None
    model = create_model(arch, 1, 0.0, weights=str(path))
    return leaks.model_embedder(model, cfg.set("model.pretrained", tag).set("model.weights", ""),
                                f"pretrained {arch}:{tag}")


def audit_dir(cfg: RunConfig) -> Path:
    """``<runs_dir>/<dataset folder>-audit``: one per dataset, never named after the recipe's run name (a
    name given to a run; the audit is the dataset's). Another dataset of the same folder name shares it:
    its recipe (data.path) differs, so its folds start again (``_prepare``) and its report is not shown
    for this dataset (``saved_report``)."""
    name = Path(cfg.data.path).expanduser().resolve().name or "dataset"
    return Path(cfg.runs_dir).expanduser() / f"{name}-audit"


def saved_report(cfg: RunConfig) -> dict | None:
    """The last finished audit of ``cfg``'s dataset (its report.json, with ``saved_at``: the file's time
    in seconds since the epoch), or None: no finished audit, an unreadable report, or the report of
    another dataset of the same folder name (the audit folder is named after the folder)."""
    if not cfg.data.path:
        return None
    path = audit_dir(cfg) / REPORT_FILE
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        saved_at = path.stat().st_mtime
    except (OSError, ValueError):
        return None
    if (not isinstance(report, dict) or report.get("status") != "completed"
            or not isinstance(report.get("label_issues"), list) or not report.get("data_path")
            or not same_dataset(str(report["data_path"]), cfg.data.path)):
        return None
    return report | {"saved_at": saved_at}


def audit_items(cfg: RunConfig, sink, control):
    ds = open_dataset(cfg.data, cfg.seed, sink=sink, control=control)
    return ds, sorted(ds.items, key=lambda it: it.path)


def seconds_per_image(cfg: RunConfig, steps: int = 2) -> tuple[float, float]:
    """(training, inference) seconds per image of the recipe's model here, timed on random batches."""
    device = pick_device(cfg.train.device)
    precision = pick_precision(device, cfg.train.precision)
    model = create_model(cfg.model.arch, 10, cfg.model.dropout).to(device)
    bs, size = min(cfg.data.batch_size, 32), cfg.data.image_size
    x = torch.randn(bs, 3, size, size, device=device)
    y = torch.randint(0, 10, (bs,), device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(train_mode: bool) -> None:
        with autocast(device, precision):
            if train_mode:
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            else:
                with torch.no_grad():
                    model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    out = []
    for mode in (True, False):
        model.train(mode)
        step(mode)  # warm-up
        t = time.perf_counter()
        for _ in range(steps):
            step(mode)
        out.append((time.perf_counter() - t) / (steps * bs))
    return out[0], out[1]


def estimate_seconds(cfg: RunConfig, k: int, n_images: int) -> float:
    """Predicted wall time of a k-fold audit on this machine: k x (the recipe's training time on
    (k-1)/k of the images + prediction of the rest), from timing a few training steps here."""
    cfg = cfg.set("train.budget_minutes", 0.0)   # as run_audit: the folds ignore a time budget
    train_s, infer_s = seconds_per_image(cfg)
    n_train, n_valid = n_images * (k - 1) / k, n_images / k
    per_fold = cfg.train.epochs * (n_train * train_s + n_valid * infer_s) + n_valid * infer_s
    return k * per_fold


def _prepare(cfg: RunConfig, k: int, root: Path, items, classes, out: Path) -> list[Path]:
    """Write the recipe and fold CSVs; forget folds whose CSV or recipe changed since the last run."""
    recipe = out / "recipe.toml"
    text = cfg.to_toml()
    stale_all = recipe.is_file() and recipe.read_text(encoding="utf-8") != text
    atomic_write_text(recipe, text)
    fold = stratified_folds(np.array([it.label for it in items], dtype=np.int64), k, cfg.seed)
    paths = []
    for i in range(k):
        csv_path = out / f"fold{i}.csv"
        content = fold_csv(root, items, classes, fold, i)
        if stale_all or not csv_path.is_file() or csv_path.read_text(encoding="utf-8") != content:
            shutil.rmtree(out / "folds" / f"fold{i}", ignore_errors=True)   # our own run folder, not data
            (out / f"oof-fold{i}.npz").unlink(missing_ok=True)
            atomic_write_text(csv_path, content)
        paths.append(csv_path)
    for extra in out.glob("oof-fold*.npz"):   # folds beyond k from an earlier audit
        if not extra.stem.removeprefix("oof-fold").isdigit() or int(extra.stem.removeprefix("oof-fold")) >= k:
            extra.unlink()
    return paths


def _run_fold(cfg: RunConfig, out: Path, i: int, csv_path: Path, sink, control) -> tuple[str, str]:
    """Train (or resume) fold i and keep its held-out predictions; (status, message)."""
    runs = out / "folds"
    run_dir = runs / f"fold{i}"
    fcfg = cfg.set("data.labels_csv", str(csv_path.resolve())).set("runs_dir", str(runs)).set("name", f"fold{i}")
    if RunFolder(run_dir).last.is_file():
        res = resume(run_dir, sink=sink, control=control)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)   # died before its first checkpoint
        res = train(fcfg, sink=sink, control=control, run_dir=run_dir)
    if res.status not in ("completed", "early_stopped"):
        return res.status, res.message
    preds = interpret_run(run_dir, sink=sink, control=control, use_cache=False).predictions
    preds.save(out / f"oof-fold{i}.npz")
    return "completed", ""


def _combine(out: Path, k: int, items, classes) -> tuple[Predictions, np.ndarray]:
    by_path = {}
    for i in range(k):
        p = Predictions.load(out / f"oof-fold{i}.npz")
        for j, path in enumerate(p.paths):
            by_path[path] = (p.probs[j], i)
    keep = [it for it in items if it.path in by_path]
    probs = np.stack([by_path[it.path][0] for it in keep]) if keep else np.zeros((0, len(classes)), np.float32)
    oof = Predictions.from_probs([it.path for it in keep], [it.label for it in keep], probs, classes)
    return oof, np.array([by_path[it.path][1] for it in keep], dtype=np.int64)


def rank_label_issues(oof: Predictions, ranked_by: str = "self_confidence") -> list[dict]:
    """Suspected label issues by confident learning (cleanlab.filter.find_label_issues), rank 1 first."""
    if ranked_by not in ("self_confidence", "normalized_margin"):
        raise ValueError(f"ranked_by must be self_confidence or normalized_margin, not {ranked_by!r}")
    if not len(oof):
        return []
    cl_filter = require("cleanlab.filter")
    idx = cl_filter.find_label_issues(oof.targets, oof.probs, return_indices_ranked_by=ranked_by, n_jobs=1)
    out = []
    for rank, i in enumerate(np.asarray(idx, dtype=np.int64), start=1):
        p, given = oof.probs[i], int(oof.targets[i])
        order = np.argsort(-p)
        sug = int(order[0] if order[0] != given else order[1])
        out.append({"path": oof.paths[i], "given": oof.classes[given], "suggested": oof.classes[sug],
                    "self_confidence": float(p[given]), "suggested_prob": float(p[sug]), "rank": rank})
    return out


def leaks_only(cfg: RunConfig, run_dir: str = "", sink: Callable | None = None,
               control: RunControl | None = None) -> dict:
    """Near-duplicates and leaks without training (embeddings from ``run_dir`` when given, else from
    the recipe's architecture with cached pretrained weights, else pHash only); the report goes to the
    audit folder (leaks.json, group-split.csv)."""
    emb = leaks.run_embedder(run_dir) if run_dir else pretrained_embedder(cfg)
    return leaks.dataset_leaks(cfg, emb, sink=sink, control=control, out_dir=audit_dir(cfg))


def accept_suggestions(root, issues: list[dict], classes=None) -> ChangeSet:
    """Relabel each issue's image to its suggested class in the dataset's sidecar (saved; undoable);
    the images themselves are never touched. The next scan applies the changes."""
    cs = ChangeSet.load(root)
    for r in issues:
        cs.relabel(r["path"], r["suggested"], classes)
    cs.save()
    return cs


def run_audit(cfg: RunConfig, k: int = 5, sink: Callable | None = None, control: RunControl | None = None,
              embedder: leaks.Embedder | None = None, ranked_by: str = "self_confidence") -> AuditResult:
    """The full audit (see the module docstring); writes report.json and group-split.csv.

    Near-duplicates use the embeddings of ``embedder`` when given (e.g. a pretrained backbone), else
    of fold 0's model (the layer before its head)."""
    require("cleanlab")
    t0 = time.perf_counter()
    emit = sink or (lambda e: None)
    # the folds train their epochs: a time budget would re-plan each fold to the whole audit's minutes
    cfg = cfg.set("data.path", str(Path(cfg.data.path).expanduser().resolve())).set("train.budget_minutes", 0.0)
    ds, items = audit_items(cfg, sink, control)
    counts = np.bincount([it.label for it in items], minlength=len(ds.classes))
    if k < 2 or k > int(counts[counts > 0].min()):
        raise ValueError(f"{cfg.data.path}: {k} folds need at least {max(k, 2)} images per class and k >= 2; "
                         f"the smallest class has {int(counts[counts > 0].min())}")
    out = audit_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    csvs = _prepare(cfg, k, Path(ds.root), items, ds.classes, out)
    done = 0
    for i in range(k):
        emit(Progress("audit", i, k, f"fold {i + 1}/{k}"))
        if (out / f"oof-fold{i}.npz").is_file():
            emit(LogMessage(f"audit fold {i + 1}/{k}: already done, kept"))
            done += 1
            continue
        if control is not None and control.stop_requested:
            break
        emit(LogMessage(f"audit fold {i + 1}/{k}: training on the other folds, predicting this one"))
        status, message = _run_fold(cfg, out, i, csvs[i], sink, control)
        if status == "failed":
            return AuditResult(out, "failed", k, done, ds.classes, message=f"fold {i + 1}: {message}",
                               wall_seconds=time.perf_counter() - t0)
        if status != "completed":
            return AuditResult(out, "cancelled", k, done, ds.classes, message=message or "stopped by the user",
                               wall_seconds=time.perf_counter() - t0)
        done += 1
    emit(Progress("audit", done, k, "ranking label issues"))
    if done < k:
        return AuditResult(out, "cancelled", k, done, ds.classes, message="stopped by the user",
                           wall_seconds=time.perf_counter() - t0)
    oof, fold_of = _combine(out, k, items, ds.classes)
    oof.save(out / "oof-all.npz", fold=fold_of)
    issues = rank_label_issues(oof, ranked_by)
    if embedder is None:
        embedder = leaks.run_embedder(out / "folds" / "fold0")
    found = leaks.dataset_leaks(cfg, embedder, sink=sink, control=control, out_dir=out)
    res = AuditResult(out, "completed", k, done, ds.classes, issues, oof, fold_of, found,
                      wall_seconds=time.perf_counter() - t0, data_path=cfg.data.path)
    atomic_write_json(out / REPORT_FILE, res.to_dict())
    return res
