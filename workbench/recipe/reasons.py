"""The reasons of a suggested recipe (its ``reasons`` entry: one "key: reason [as set: key = value; ...]"
line per choice): reading them, and dropping those that no longer hold. Torch-free, so the CLI's
option parsing can use it."""
from __future__ import annotations

import json
import math
from typing import Any

from ..config import ConfigError, RunConfig

AS_SET = " [as set: "   # a reason line's end: the values it was given for, "key = json; ..." then "]"


def split_reason(line) -> tuple[str, str, dict | None]:
    """(key, reason, {key: value} it holds for, or None where the line does not say: written by hand or
    by an older version)."""
    key, _, reason = str(line).partition(": ")
    head, mark, tail = reason.rpartition(AS_SET)
    if not mark or not tail.endswith("]"):
        return key, reason, None
    values = {}
    try:
        for part in tail[:-1].split("; "):
            k, _, v = part.partition(" = ")
            values[k] = json.loads(v)
    except ValueError:
        return key, reason, None
    return key, head, values


def parse_reasons(lines) -> dict[str, str]:
    """{key: reason} of a config's ``reasons`` (the values they hold for left out)."""
    out = {}
    for line in lines:
        key, reason, _ = split_reason(line)
        if key and reason:
            out[key] = reason
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return a == b if not isinstance(b, tuple) else list(b) == a


def drop_stale_reasons(cfg: RunConfig, keep_unsaid: bool = True) -> RunConfig:
    """``cfg`` without the reasons that no longer hold: those whose option, or an option they speak of
    (the number of epochs, the time budget), now has another value than the one they were given for,
    by any means (an edit, the LR finder, Undo, Load, a budget). Reasons that do not say their values
    (written by hand, or by a version before the values were kept) stay unless ``keep_unsaid`` is False:
    the app drops them, since it cannot tell whether they still hold."""
    kept = []
    for line in cfg.reasons:
        _, _, values = split_reason(line)
        try:
            if values is None and not keep_unsaid:
                continue
            if values is None or all(_same(v, cfg.get(k)) for k, v in values.items()):
                kept.append(line)
        except ConfigError:   # an option this version does not have: the reason does not hold
            continue
    return cfg if len(kept) == len(cfg.reasons) else cfg.set("reasons", tuple(kept))
