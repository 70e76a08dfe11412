"""Near-duplicate images and train/valid leaks: perceptual hashes (imagehash pHash) catch resized,
re-encoded and slightly cropped copies; cosine similarity of embeddings (the layer before a model's
head) catches the rest. Pairs are joined into groups (connected components); a group with members on
both sides of the split is a leak, one whose members carry different labels a label conflict.

Thresholds (tuned on planted copies, see bench/label_audit.py and the README): pHash Hamming distance
<= PHASH_MAX_DISTANCE of 64 bits, cosine similarity >= COSINE_MIN. Exact copies are already found by
the scanner's content hash (kinds ``duplicate`` / ``train_valid_leak``).

The group-aware split keeps every group on one side (the side most of its members are on, train on a
tie) and is written as a labels CSV (file,label,is_valid) outside the dataset folder.
"""
from __future__ import annotations

import csv
import importlib
import io
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import BadInput
from ..runtime.atomic import atomic_write_text
from ..runtime.control import RunControl
from ..data.cache import load_rgb
from ..data.types import TRAIN, VALID
from ..runtime.events import Progress
from ..models.build import head_module

PHASH_MAX_DISTANCE = 12
COSINE_MIN = 0.99
_CHUNK = 2048


class MissingExtra(BadInput, RuntimeError):
    """An optional dependency is not installed; the message says what to install."""


def require(module: str):
    """Import an optional dependency of the audit, or raise MissingExtra naming the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(f"the audit needs the optional package '{module.split('.')[0]}': "
                           "pip install 'workbench[audit]'") from e


# ---------------------------------------------------------------- perceptual hashes
def phashes(paths: Sequence[str], sink: Callable | None = None,
            control: RunControl | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, 64) bool pHash bits per image and an ok mask (False where the file could not be decoded)."""
    imagehash = require("imagehash")
    bits = np.zeros((len(paths), 64), dtype=bool)
    ok = np.zeros(len(paths), dtype=bool)
    for i, p in enumerate(paths):
        if control is not None and i % 64 == 0:
            control.check()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bits[i] = imagehash.phash(load_rgb(str(p), draft_size=128)).hash.reshape(-1)
            ok[i] = True
        except Exception:  # noqa: BLE001 - an unreadable file is simply not compared
            continue
        if sink is not None and (i % 64 == 63 or i == len(paths) - 1):
            sink(Progress("phash", i + 1, len(paths)))
    return bits, ok


def _pairs_from_scores(score_fn: Callable, n: int, keep: Callable, device) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a in range(0, n, _CHUNK):
        s = score_fn(a, min(n, a + _CHUNK))            # (chunk, n) on the device
        rows, cols = torch.nonzero(keep(s), as_tuple=True)
        rows = rows + a
        m = rows < cols
        out.extend(zip(rows[m].tolist(), cols[m].tolist()))
    return out


def hash_pairs(bits: np.ndarray, ok: np.ndarray | None = None, max_distance: int = PHASH_MAX_DISTANCE,
               device="cpu") -> list[tuple[int, int]]:
    """Index pairs (i < j) whose pHash Hamming distance is <= max_distance (a matmul on the device)."""
    b = torch.as_tensor(np.asarray(bits, dtype=np.float32), device=device) * 2 - 1   # +-1 per bit
    if ok is not None:
        b[~torch.as_tensor(np.asarray(ok), device=device)] = 0   # undecodable: never close to anything
    nbits = b.shape[1]
    # +-1 vectors: dot = nbits - 2 * hamming
    return _pairs_from_scores(lambda a, e: b[a:e] @ b.T, len(b),
                              lambda s: s >= nbits - 2 * max_distance - 0.5, device)


def embedding_pairs(emb: torch.Tensor | np.ndarray, min_cosine: float = COSINE_MIN, device="cpu",
                    valid: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose embeddings, centred on their mean (features after a ReLU all point
    the same way), have cosine similarity >= min_cosine; rows where ``valid`` is False never pair."""
    e = torch.as_tensor(np.asarray(emb) if not torch.is_tensor(emb) else emb, dtype=torch.float32).to(device)
    mask = torch.ones(len(e), dtype=torch.bool, device=device) if valid is None else \
        torch.as_tensor(np.asarray(valid), device=device)
    if mask.any():
        e = e - e[mask].mean(0, keepdim=True)
    e = torch.nn.functional.normalize(e, dim=1)
    e[~mask] = 0.0
    return _pairs_from_scores(lambda a, b: e[a:b] @ e.T, len(e), lambda s: s >= min_cosine, device)


# ---------------------------------------------------------------- embeddings (the seam for any model)
def head_input_features(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """features(x): the input of the model's classifier head (the layer before the head), flattened."""
    head = head_module(model)
    got: list[torch.Tensor] = []
    head.register_forward_hook(lambda m, inp, out: got.append(inp[0].detach()))

    def features(x: torch.Tensor) -> torch.Tensor:
        got.clear()
        model(x)
        return got[-1].flatten(1).float()
    return features


@torch.no_grad()
def embed_presized(features: Callable[[torch.Tensor], torch.Tensor], u8: np.ndarray, preprocess: Callable,
                   device="cpu", batch_size: int = 64, control: RunControl | None = None,
                   sink: Callable | None = None) -> np.ndarray:
    """(N, D) float32 embeddings of presized uint8 (N, S, S, 3) images; ``features`` is any callable
    from a preprocessed batch to (B, D) (a trained run's head input, a pretrained backbone, ...)."""
    out = []
    for b in range(0, len(u8), batch_size):
        if control is not None:
            control.check()
        x = preprocess(torch.from_numpy(np.ascontiguousarray(u8[b:b + batch_size]))).to(device)
        out.append(features(x).cpu().numpy().astype(np.float32))
        if sink is not None:
            sink(Progress("embed", min(b + batch_size, len(u8)), len(u8)))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


# ---------------------------------------------------------------- groups, leaks, conflicts
@dataclass
class Group:
    members: list        # image paths
    splits: list         # split of each member
    labels: list         # class name of each member
    found_by: str        # "phash", "embedding" or "phash+embedding"

    @property
    def is_leak(self) -> bool:
        return len(set(self.splits)) > 1

    @property
    def is_conflict(self) -> bool:
        return len(set(self.labels)) > 1

    def to_dict(self) -> dict:
        return asdict(self)


def components(n: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Connected components with at least two members (union-find), each sorted, ordered by first."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for i, j in pairs:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def find_groups(paths: Sequence[str], splits: Sequence[str], labels: Sequence[str],
                phash_pairs: Sequence[tuple[int, int]] = (),
                emb_pairs: Sequence[tuple[int, int]] = ()) -> list[Group]:
    """Near-duplicate groups from pHash and embedding pairs."""
    ph, em = set(map(tuple, phash_pairs)), set(map(tuple, emb_pairs))
    out = []
    for g in components(len(paths), sorted(ph | em)):
        inside = set(g)
        by_ph = any(i in inside for i, _ in ph if _ in inside)
        by_em = any(i in inside for i, _ in em if _ in inside)
        how = "+".join(n for n, f in (("phash", by_ph), ("embedding", by_em)) if f)
        out.append(Group([paths[i] for i in g], [splits[i] for i in g], [labels[i] for i in g], how))
    return out


def group_aware_valid(paths: Sequence[str], splits: Sequence[str], groups: Sequence[Group]) -> set[str]:
    """The validation paths after moving each straddling group to the side most of it is on."""
    valid = {p for p, s in zip(paths, splits) if s == VALID}
    for g in groups:
        if not g.is_leak:
            continue
        n_valid = sum(s == VALID for s in g.splits)
        side = VALID if n_valid > len(g.members) - n_valid else TRAIN
        for p in g.members:
            (valid.add if side == VALID else valid.discard)(p)
    return valid


def split_csv(root: str | os.PathLike, paths: Sequence[str], labels: Sequence[str], valid: set[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "label", "is_valid"])
    for p, label in zip(paths, labels):
        w.writerow([os.path.relpath(p, root), label, int(p in valid)])
    return buf.getvalue()


def write_group_split(out_csv: str | os.PathLike, root: str | os.PathLike, paths: Sequence[str],
                      labels: Sequence[str], splits: Sequence[str], groups: Sequence[Group]) -> Path:
    """Write the group-aware split as a labels CSV (use it with data.labels_csv=...)."""
    valid = group_aware_valid(paths, splits, groups)
    atomic_write_text(out_csv, split_csv(root, paths, labels, valid))
    return Path(out_csv)
