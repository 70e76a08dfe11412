"""Out-of-fold predictions of a chosen accuracy, for tests of how an audit's ranking is judged and shown."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.analysis.interpret import Predictions


def make_oof(acc: float, n_classes: int = 10, n: int = 200, seed: int = 0) -> Predictions:
    """Out-of-fold predictions with accuracy ``acc`` over balanced classes."""
    rng = np.random.default_rng(seed)
    targets = np.arange(n) % n_classes
    right = rng.permutation(n) < round(acc * n)
    preds = np.where(right, targets, (targets + 1 + rng.integers(0, n_classes - 1, n)) % n_classes)
    probs = np.full((n, n_classes), 0.2 / (n_classes - 1), np.float32)
    probs[np.arange(n), preds] = 0.8
    return Predictions.from_probs([f"/x/{i}.png" for i in range(n)], targets, probs,
                                  [f"c{i}" for i in range(n_classes)])


def audit_result(root: Path, acc: float, n_classes: int = 3, n: int = 30):
    """A completed AuditResult over real image files under ``root`` whose out-of-fold accuracy is ``acc``."""
    from PIL import Image
    from workbench.audit.labels import AuditResult, rank_label_issues
    p = make_oof(acc, n_classes, n)
    paths = []
    for i in range(n):
        f = root / p.classes[int(p.targets[i])] / f"{i}.png"
        f.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), (i * 8 % 256, 0, 0)).save(f)
        paths.append(str(f))
    p.paths = paths
    return AuditResult(root / "audit", "completed", 3, 3, p.classes, rank_label_issues(p), p,
                       leaks={"duplicates": [], "leaks": [], "label_conflicts": []})
