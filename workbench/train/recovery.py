"""Recovery of run folders after a kill, shared by ``train`` and ``resume``: history.csv rebuilt from
the history last.pt records, the numbers of a last.pt range-checked before they are trusted, and the
folders a run killed before its config.toml leaves behind (taken over or removed)."""
from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

from ..config import field_meta
from ..runtime.locks import RUN_LOCK, is_busy
from .checkpoint import saved_history
from ..run.folder import RunFolder
from .preflight import SetupError


def repair_history(folder: RunFolder, state: dict) -> str:
    """Make history.csv list exactly the epochs last.pt records. history.csv is written after last.pt,
    so a kill between the two loses the last row (and a paced last.pt may be older than history.csv,
    whose later rows are then trained again); the history last.pt records (``saved_history``) is the
    truth on resume. Returns what was done ('' when history.csv was right)."""
    rows = saved_history(state)
    try:
        have = [int(r.get("epoch", -1)) for r in folder.read_history()]
    except (OSError, ValueError, TypeError):
        have = None
    want = [int(r.get("epoch", -1)) for r in rows]
    if have == want:
        return ""
    folder.write_history(rows)
    return (f"history.csv listed {'an unreadable table' if have is None else f'{len(have)} epoch(s)'}, "
            f"last.pt records {len(want)}: rewrote history.csv from last.pt")


def number_in(v: Any, lo: float, hi: float, whole: bool = False) -> bool:
    if isinstance(v, bool) or not isinstance(v, int if whole else (int, float)):
        return False
    return (isinstance(v, int) or math.isfinite(v)) and lo <= v <= hi


def check_state_numbers(state: dict, path: Path) -> None:
    """The numbers of a last.pt that resume trusts, range-checked like recipe values (SetupError)."""
    max_epochs = int(field_meta("train.epochs")["max"])
    max_batch = int(field_meta("data.batch_size")["max"])
    checks = [("n_epochs", 1, max_epochs, True), ("next_epoch", 0, max_epochs, True),
              ("epoch", -1, max_epochs, True), ("step", 0, float("inf"), True),
              ("batch_size", 1, max_batch, True), ("lr_scale", 1e-30, 1.0, False)]
    for key, lo, hi, whole in checks:
        if key in state and not number_in(state[key], lo, hi, whole):
            raise SetupError(f"cannot resume: {path} holds {key} = {state[key]!r}, outside {lo} .. {hi}; the file "
                             f"is damaged or was not written by this program")
    if state.get("valid_batch_size") and not number_in(state["valid_batch_size"], 1, max_batch, True):
        raise SetupError(f"cannot resume: {path} holds valid_batch_size = {state['valid_batch_size']!r}, "
                         f"outside 1 .. {max_batch}")


def killed_before_start(path: str | Path) -> bool:
    """Whether ``path`` is what a run killed between making its folder and writing config.toml leaves:
    an empty checkpoints/ folder, the lock file and launcher files only."""
    p = Path(path)
    f = RunFolder(p)
    if not f.checkpoints.is_dir() or f.has_marker() or any(f.checkpoints.iterdir()):
        return False
    return all(e.name in (RunFolder.CHECKPOINTS, RUN_LOCK, *RunFolder.LAUNCHER_FILES) for e in p.iterdir())


def remove_killed_starts(runs_dir: Path, min_age_s: float = 60.0) -> list[Path]:
    """Remove the run folders a kill left in ``runs_dir`` before their config.toml (``killed_before_start``),
    at least ``min_age_s`` old (a run starting now is never taken for one) and held by no process."""
    removed = []
    try:
        entries = [d for d in runs_dir.iterdir() if d.is_dir() and not d.is_symlink()]
    except OSError:
        return removed
    now = time.time()
    for d in entries:
        try:
            if (killed_before_start(d) and now - RunFolder(d).checkpoints.stat().st_mtime >= min_age_s
                    and not is_busy(d)):
                shutil.rmtree(d)
                removed.append(d)
        except OSError:
            continue
    return removed
