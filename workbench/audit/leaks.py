"""Near-duplicates and train/valid leaks of a dataset (``workbench audit --leaks-only``), no training.

pHash over every image; embeddings when an Embedder is given: a trained run's model (the layer before
its head), the audit's fold model, or any other feature extractor (e.g. a cached pretrained backbone:
build an ``Embedder`` around it and pass it in). Writes ``leaks.json`` and ``group-split.csv`` (the
group-aware split as a labels CSV) to the audit folder, never to the dataset folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import near_dups as nd
from ..runtime.atomic import atomic_write_json
from ..data.augment import IMAGENET_MEAN, IMAGENET_STD, center_crop
from ..config import RunConfig, norm_stats
from ..runtime.control import RunControl
from ..data import open_dataset
from ..data.cache import PresizeCache
from ..runtime.events import LogMessage
from ..runtime.paths import cache_root
from ..run.runs import load_model

LEAKS_FILE = "leaks.json"
SPLIT_FILE = "group-split.csv"


@dataclass
class Embedder:
    """A feature extractor and the preprocessing its inputs need."""
    features: Callable[[torch.Tensor], torch.Tensor]    # normalized (B, 3, S, S) float -> (B, D)
    image_size: int
    presize: int
    crop: float = 1.0
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    device: str = "cpu"
    source: str = ""

    def preprocess(self, u8: torch.Tensor) -> torch.Tensor:
        return center_crop(u8, self.image_size, self.mean, self.std, crop=self.crop)


def model_embedder(model: torch.nn.Module, cfg: RunConfig, source: str, device: str = "cpu") -> Embedder:
    """Embeddings of a classifier: the input of its head, with the validation preprocessing of ``cfg``."""
    model = model.float().eval().to(device)
    mean, std = norm_stats(cfg)
    return Embedder(nd.head_input_features(model), cfg.data.image_size, cfg.effective_presize,
                    cfg.data.valid_crop, mean=tuple(mean), std=tuple(std), device=device, source=source)


def run_embedder(run_dir, device: str = "cpu") -> Embedder:
    """The model of a trained run folder as an Embedder."""
    model, info = load_model(run_dir, device=device)
    return model_embedder(model, info.config, f"run {info.name}", device)


def embed_paths(emb: Embedder, paths: list[str], cache_dir: str = "", sink=None,
                control: RunControl | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) embeddings (zeros where undecodable) and the ok mask, via the presized image cache."""
    cache = PresizeCache.build(paths, emb.presize, cache_root(cache_dir), sink=sink, control=control)
    ok = np.asarray(cache.ok, dtype=bool)
    rows = np.flatnonzero(ok)
    with torch.no_grad():
        vec = nd.embed_presized(emb.features, cache.images[rows], emb.preprocess, emb.device,
                                control=control, sink=sink)
    out = np.zeros((len(paths), vec.shape[1] if vec.size else 1), np.float32)
    out[rows] = vec
    return out, ok


def dataset_leaks(cfg: RunConfig, embedder: Embedder | None = None, sink=None, control: RunControl | None = None,
                  out_dir: str | Path | None = None, max_distance: int = nd.PHASH_MAX_DISTANCE,
                  min_cosine: float = nd.COSINE_MIN) -> dict:
    """Near-duplicate groups, leaks (groups on both sides of the split) and label conflicts of
    cfg.data (its own split, sidecar changes applied); writes leaks.json + group-split.csv to ``out_dir``."""
    emit = sink or (lambda e: None)
    ds = open_dataset(cfg.data, cfg.seed, sink=sink, control=control)
    items = sorted(ds.items, key=lambda it: it.path)
    paths = [it.path for it in items]
    labels = [ds.classes[it.label] for it in items]
    splits = [it.split for it in items]
    device = embedder.device if embedder is not None else "cpu"
    bits, ok = nd.phashes(paths, sink=sink, control=control)
    ph = nd.hash_pairs(bits, ok, max_distance, device)
    em: list = []
    if embedder is not None:
        vec, eok = embed_paths(embedder, paths, cfg.data.cache_dir, sink, control)
        em = nd.embedding_pairs(vec, min_cosine, device, valid=eok)
    else:
        emit(LogMessage("near-duplicates: perceptual hash only (give a trained run for embeddings)", "warning"))
    groups = nd.find_groups(paths, splits, labels, ph, em)
    found = {"duplicates": [g.to_dict() for g in groups],
             "leaks": [g.to_dict() for g in groups if g.is_leak],
             "label_conflicts": [g.to_dict() for g in groups if g.is_conflict],
             "near_dup_settings": {"phash_max_distance": max_distance, "cosine_min": min_cosine,
                                   "embeddings": embedder.source if embedder is not None else ""},
             "exact_duplicates": [{"path": p.path, "kind": p.kind, "message": p.message} for p in ds.problems
                                  if p.kind in ("duplicate", "train_valid_leak")]}
    if out_dir is not None:
        out = Path(out_dir)
        raw = open_dataset(cfg.data, cfg.seed, check_health=False, apply_changes=False)
        raw_items = sorted(raw.items, key=lambda it: it.path)
        split_path = nd.write_group_split(out / SPLIT_FILE, raw.root, [it.path for it in raw_items],
                                          [raw.classes[it.label] for it in raw_items],
                                          [it.split for it in raw_items], groups)
        found["group_split_csv"] = str(split_path)
        atomic_write_json(out / LEAKS_FILE, found)
    emit(LogMessage(f"near-duplicates: {len(groups)} groups, {len(found['leaks'])} across train/valid, "
                    f"{len(found['label_conflicts'])} with different labels"))
    return found
