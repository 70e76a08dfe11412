"""What the Runs page shows of a run when runs are compared (pure functions, no widgets): the config
options that differ, the values shown from where they differ, a run's epochs and validation set."""
from __future__ import annotations

import os
import re
import time

from ...config import iter_fields
from ..session_helpers import planned_epochs, whole_epochs


def config_differences(configs: list, shown: list | None = None) -> list[tuple[str, list]]:
    """[(dotted key, [value per config])] for the options whose values are not all equal; ``shown``
    (a dict per config) replaces values, e.g. the epochs a time plan chose for train.epochs. A suggestion's
    reasons are left out: they explain values, whose own rows show what differs."""
    rows = []
    flat = [{k: v for k, _, v in iter_fields(c) if k != "reasons"} | (o or {})
            for c, o in zip(configs, shown or [{}] * len(configs))]
    for key in flat[0] if flat else []:
        vals = [f.get(key) for f in flat]
        if any(v != vals[0] for v in vals[1:]):
            rows.append((key, vals))
    return rows


VALID_ROW = "validation set"


def two_lines(name: str) -> str:
    """A run name as a column title: its dataset and its date-time on two lines ("nette-mini" /
    "20261206-084618"), half as wide, so the runs' columns fit beside each other; other names as they are."""
    m = re.match(r"^(.+)-(\d{8}-\d{4,6})$", name)
    return f"{m.group(1)}\n{m.group(2)}" if m else name


def from_difference(texts: list[str], keep: int = 24) -> list[str]:
    """Values as shown side by side: when they share a long beginning, each starts with "…" at the
    word (or path component) where they begin to differ, so the part that tells them apart is seen."""
    if len(texts) < 2:
        return texts
    n = len(os.path.commonprefix(texts))
    item = texts[0].rfind("; ", 0, n) + 2     # the differing item whole, else the differing word
    cut = item if item > keep else max(texts[0].rfind(" ", 0, n), texts[0].rfind("/", 0, n)) + 1
    if cut <= keep:
        return texts
    return ["…" + t[cut:] for t in texts]


def valid_set(info) -> str:
    """The validation set of a run as shown when runs are compared: size and digest of the files."""
    m = getattr(info, "metrics", None) or {}
    n, digest = m.get("n_valid"), m.get("valid_fingerprint")
    if n is None and not digest:
        return "unknown"
    return f"{n} images" + (f" ({digest[:8]})" if digest else "")


def epochs_shown(info) -> dict:
    """train.epochs of a time-budget run as it trained, in whole epochs as the Train page and the Runs
    table count them (a partial last epoch is one): the latest plan, and the start's when it differs."""
    e = planned_epochs(info)
    if e is None:
        return {}
    n, first = whole_epochs(e), info.config.train.epochs
    start = f"; {first} at the start" if n != first else ""
    return {"train.epochs": f"{n} (time plan{start})"}


def created_words(info) -> str:
    """When the run was made, "YYYY-mm-dd HH:MM" (the Runs table and the resume list)."""
    c = getattr(info, "created", None)
    if isinstance(c, (int, float)):
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(c))
    return str(c or "")


def dataset_labels(paths: list[str]) -> dict[str, str]:
    """{dataset path: the short name the Runs table shows}: the folder's name, with as many parent
    folders as it takes to tell apart datasets that share a name ("a/photos", "b/photos")."""
    parts = {p: [x for x in str(p).replace("\\", "/").rstrip("/").split("/") if x] or [str(p)]
             for p in dict.fromkeys(str(p) for p in paths if p)}
    out = {}
    for p, segs in parts.items():
        n = 1
        while n < len(segs) and any(q != p and qs[-n:] == segs[-n:] for q, qs in parts.items()):
            n += 1
        out[p] = "/".join(segs[-n:])
    return out
