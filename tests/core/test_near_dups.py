"""Near-duplicates: planted copies (resized, re-encoded, cropped, colour-shifted) across the split are
reported as leaks, a copy under another class as a label conflict, and the group-aware split keeps each
group on one side."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from audit_data import plant_copies
from workbench.audit import near_dups as nd
from workbench.config import RunConfig
from workbench.data import open_dataset
from workbench.audit.leaks import Embedder, dataset_leaks

pytest.importorskip("imagehash")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted") / "data"
    pairs = plant_copies(root)
    cfg = RunConfig().set("data.path", str(root)).set("runs_dir", str(root.parent / "runs"))
    found = dataset_leaks(cfg, None, out_dir=root.parent / "audit")
    return root, pairs, cfg, found


def _rel(root: Path, group: dict) -> set[str]:
    return {Path(m).relative_to(root).as_posix() for m in group["members"]}


def test_planted_copies_are_leaks_and_nothing_else(planted):
    root, pairs, _, found = planted
    groups = [_rel(root, g) for g in found["duplicates"]]
    for a, b in pairs:
        assert any({a, b} <= g for g in groups), (a, b, groups)
    assert len(groups) == len(pairs) and all(len(g) == 2 for g in groups)   # no unrelated image grouped
    assert len(found["leaks"]) == len(pairs)
    for g in found["leaks"]:
        assert sorted(g["splits"]) == ["train", "valid"]
    conflicts = [_rel(root, g) for g in found["label_conflicts"]]
    assert conflicts == [set(pairs[-1])]
    assert found["near_dup_settings"]["phash_max_distance"] == nd.PHASH_MAX_DISTANCE


def test_group_aware_split_keeps_groups_on_one_side(planted):
    root, pairs, cfg, found = planted
    split_csv = Path(found["group_split_csv"])
    assert split_csv.parent != root and not (root / split_csv.name).exists()
    with open(split_csv, newline="", encoding="utf-8") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh)}
    assert len(rows) == sum(1 for _ in root.rglob("*.*"))
    ds = open_dataset(cfg.set("data.labels_csv", str(split_csv)).data)
    split = {Path(it.path).relative_to(root).as_posix(): it.split for it in ds.items}
    for a, b in pairs:
        assert split[a] == split[b] == "train"     # one member of two on each side: train wins the tie
    untouched = [f for f in rows if f.startswith("valid/") and not Path(f).name.startswith("copy_")]
    assert untouched and all(split[f] == "valid" for f in untouched)
    again = dataset_leaks(cfg.set("data.labels_csv", str(split_csv)), None)
    assert again["leaks"] == [] and len(again["duplicates"]) == len(pairs)


def test_embeddings_find_what_the_hash_misses(planted):
    root, pairs, cfg, _ = planted
    ds = open_dataset(cfg.data)
    paths = sorted(it.path for it in ds.items)
    a, b = str(root / "train/square/train_square_000.png"), str(root / "valid/square/valid_square_001.png")
    target = torch.zeros(len(paths), 8)
    target[:, 0] = torch.arange(len(paths), dtype=torch.float32)   # distinct directions per image ...
    target[:, 1:] = torch.randn(len(paths), 7, generator=torch.Generator().manual_seed(0)) * 5
    target[paths.index(b)] = target[paths.index(a)] * 1.01         # ... except one chosen pair
    lookup = {}

    def features(x: torch.Tensor) -> torch.Tensor:   # a stand-in feature extractor: the seam's contract
        return torch.stack([lookup[float(v)] for v in x.flatten(1).sum(1)])

    u8_sums = {}
    emb = Embedder(features, 32, 40, source="stand-in")
    from workbench.data.cache import decode_presized
    for i, p in enumerate(paths):
        s = float(emb.preprocess(torch.from_numpy(np.array(decode_presized(p, 40)))[None]).flatten(1).sum(1))
        u8_sums[p] = s
        lookup[s] = target[i]
    assert len(set(u8_sums.values())) == len(paths)
    found = dataset_leaks(cfg, emb)
    groups = {frozenset(Path(m).relative_to(root).as_posix() for m in g["members"]): g["found_by"]
              for g in found["duplicates"]}
    assert groups[frozenset({Path(a).relative_to(root).as_posix(), Path(b).relative_to(root).as_posix()})] == "embedding"


def test_hash_pairs_and_components():
    bits = np.zeros((4, 64), bool)
    bits[1, :5] = True            # distance 5 from row 0
    bits[2, :40] = True           # far away
    bits[3, :40] = True
    bits[3, 60:] = True           # distance 4 from row 2
    assert nd.hash_pairs(bits, max_distance=5) == [(0, 1), (2, 3)]
    assert nd.hash_pairs(bits, np.array([True, False, True, True]), max_distance=5) == [(2, 3)]
    assert nd.components(5, [(0, 1), (1, 3)]) == [[0, 1, 3]]
