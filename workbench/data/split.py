"""Seeded, stratified train / validation split.

Each file's place in its class is fixed by a hash of (seed, relative path), so the split is the same
for the same seed and file set, does not depend on listing order, and adding a few files moves few others.
"""
from __future__ import annotations

import hashlib


def _order_key(seed: int, rel: str) -> bytes:
    return hashlib.sha1(f"{seed}\x00{rel}".encode("utf-8", "surrogateescape")).digest()  # any file name


def n_valid_for(n: int, valid_pct: float) -> int:
    """Validation count for a class of ``n`` images: round(n * pct), at least 1 when n >= 2, at most n-1."""
    if n < 2:
        return 0
    return min(n - 1, max(1, int(round(n * valid_pct))))


def stratified_split(rels_by_class: dict[str, list[str]], valid_pct: float, seed: int) -> set[str]:
    """The relative paths that go to validation, chosen per class."""
    valid: set[str] = set()
    for cls in sorted(rels_by_class):
        rels = sorted(set(rels_by_class[cls]), key=lambda r: (_order_key(seed, r), r))
        valid.update(rels[:n_valid_for(len(rels), valid_pct)])
    return valid
