"""Run folders on disk: list them, read one, rename one, note on one, delete one, load its model, the best
run of each dataset (Qt-free; the GUI's run lists and ``workbench runs`` use this)."""
from __future__ import annotations

import math
import os
import shutil
from datetime import datetime
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import BadInput
from ..runtime.atomic import atomic_write_text
from ..config import ConfigError, RunConfig
from ..runtime.locks import BusyError, run_folder_lock
from ..models.build import ModelError, create_model
from ..runtime.paths import safe_component
from ..run.folder import CheckpointError, RunFolder, load_checkpoint
from ..data.sidecar import ChangeSet, data_effect

NOTE_FILE = "note.txt"      # the user's free-text note on a run
MAX_NOTE = 20_000           # characters

# What a user reads for a run's status (metrics.json keeps "cancelled": resume and older runs read it).
STATUS_WORDS = {"cancelled": "stopped", "early_stopped": "stopped early", "completed": "completed",
                "failed": "failed", "running": "running", "": "unknown"}


def status_words(status: str) -> str:
    """A run status as the app and ``workbench runs`` show it ("cancelled" reads "stopped")."""
    return STATUS_WORDS.get(str(status), str(status))


def finish_words(status: str, message: str = "") -> str:
    """How a run ended, said once: "stopped by the user" (not "stopped - stopped by the user"),
    "training completed"; the status words lead a message that does not say them ("failed: ...")."""
    words, message = status_words(status), str(message or "").strip()
    if not message or words.lower() in message.lower():
        return message or words
    return f"{words}: {message}"


class RunError(BadInput):
    """A folder that is not a readable run; the message names the folder and the problem."""


@dataclass
class RunInfo:
    run_dir: Path
    name: str
    config: RunConfig
    classes: tuple
    history: list = field(default_factory=list)     # rows of history.csv as dicts
    metrics: dict = field(default_factory=dict)     # metrics.json
    status: str = ""                                # running | completed | early_stopped | cancelled | failed
    created: float = 0.0                            # seconds since the epoch (config.toml written)
    note: str = ""                                  # note.txt (the user's note)


def load_run(run_dir) -> RunInfo:
    """Read config, classes, history and metrics of one run folder."""
    f = RunFolder(Path(run_dir))
    if not f.config.is_file():
        raise RunError(f"{f.path} is not a run folder (no config.toml)")
    try:
        cfg = RunConfig.load(f.config)
        classes = tuple(f.read_classes()) if f.classes.is_file() else ()
        history = f.read_history()
        metrics = f.read_metrics()
        if not isinstance(metrics, dict) or not all(isinstance(c, str) for c in classes):
            raise ValueError("metrics.json or classes.json does not hold what a run writes")
    except (ConfigError, ValueError, OSError, TypeError) as e:
        raise RunError(f"cannot read run folder {f.path}: {e}") from e
    return RunInfo(f.path, f.path.name, cfg, classes, history, metrics,
                   str(metrics.get("status", "")), f.config.stat().st_mtime, read_note(f.path))


def list_runs(runs_dir) -> list[RunInfo]:
    """All readable runs under ``runs_dir``, newest first; broken folders are skipped."""
    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if d.is_dir() and RunFolder.is_run(d):
            try:
                out.append(load_run(d))
            except RunError:
                continue
    return sorted(out, key=lambda r: r.created, reverse=True)


def delete_run(run_dir) -> Path:
    """Delete one run folder and everything in it; ``RunError`` (nothing deleted) when the folder does
    not look like a run folder (none of ``RunFolder.MARKERS`` in it) or another process holds its
    ``.lock`` (a run being trained or resumed). Returns the deleted path."""
    path = Path(run_dir)
    if not RunFolder(path).has_marker():
        raise RunError(f"{path} does not look like a run folder (no {' or '.join(RunFolder.MARKERS)}); "
                       "nothing was deleted.")
    try:
        with run_folder_lock(path):  # held while deleting: no process can start on it meanwhile
            shutil.rmtree(path)
    except BusyError:
        raise RunError(f"{path} is in use by another process (it is being trained or resumed): stop that "
                       f"process first; nothing was deleted.") from None
    return path


def read_note(run_dir) -> str:
    """The run's note ("" when it has none or the file cannot be read)."""
    try:
        return (Path(run_dir) / NOTE_FILE).read_text(encoding="utf-8", errors="replace")[:MAX_NOTE]
    except OSError:
        return ""


def set_note(run_dir, text: str) -> Path:
    """Keep ``text`` as the run's note (``note.txt`` in the run folder, written atomically; an empty
    note removes the file)."""
    path = Path(run_dir)
    if not RunFolder(path).has_marker():
        raise RunError(f"{path} is not a run folder (no {' or '.join(RunFolder.MARKERS)})")
    text = str(text).strip()
    if len(text) > MAX_NOTE:
        raise RunError(f"the note has {len(text)} characters; keep it under {MAX_NOTE}")
    note = path / NOTE_FILE
    if text:
        atomic_write_text(note, text + "\n")
    elif note.exists():
        note.unlink()
    return note


def check_run_name(name: str) -> str:
    """``name`` stripped, when it can be a run folder's name; RunError with the reason otherwise."""
    name = str(name).strip()
    if not name:
        raise RunError("the new run name is empty")
    if safe_component(name, "") != name or name.startswith("."):
        raise RunError(f"'{name}' cannot be a folder name: leave out / \\ : * ? \" < > |, control characters "
                       "and a leading or trailing dot")
    return name


def rename_run(run_dir, new_name: str) -> Path:
    """Rename the run folder to ``new_name`` in the same runs folder (one atomic rename); refused while
    another process uses the run (its ``.lock``), when the name is taken or not a folder name.
    Returns the new path."""
    path = Path(run_dir)
    name = check_run_name(new_name)
    if not RunFolder(path).has_marker():
        raise RunError(f"{path} is not a run folder (no {' or '.join(RunFolder.MARKERS)}); nothing was renamed")
    if name == path.name:
        return path
    target = path.parent / name
    if target.exists() or target.is_symlink():
        raise RunError(f"there is already a '{name}' in {path.parent}; choose another name")
    try:
        with run_folder_lock(path):   # held across the rename: no training can start on it meanwhile
            os.rename(path, target)
    except BusyError:
        raise RunError(f"{path.name} is in use (a training or resume holds it); rename it when that has "
                       "ended") from None
    except OSError as e:
        raise RunError(f"cannot rename {path} to {name}: {e.strerror or e}") from None
    _rename_in_config(RunFolder(target), name)
    return target


def _rename_in_config(folder: RunFolder, name: str) -> None:
    """The run's config.toml names it as its folder does (``name``, written atomically) and keeps its
    time (the run's date, ``RunInfo.created``); a config that cannot be read or written keeps its old
    name (the folder's rename stands)."""
    try:
        cfg = RunConfig.load(folder.config)
        if cfg.name and cfg.name != name:
            st = folder.config.stat()
            atomic_write_text(folder.config, cfg.set("name", name).to_toml())
            os.utime(folder.config, ns=(st.st_atime_ns, st.st_mtime_ns))
    except (ConfigError, OSError, ValueError):
        pass


def edit_run(run_dir, name: str | None = None, note: str | None = None) -> Path:
    """Rename (when ``name`` differs) then set the note (when given) of a run; returns its folder.
    A refused rename leaves the note unchanged too."""
    path = Path(run_dir)
    if name is not None:
        path = rename_run(path, name)
    if note is not None and note.strip() != read_note(path).strip():
        set_note(path, note)
    return path


def run_accuracy(info: RunInfo) -> float | None:
    """The run's validation accuracy (metrics.json, else the last epoch of its history)."""
    m = getattr(info, "metrics", None) or {}
    for key in ("valid_accuracy", "accuracy", "best_accuracy"):
        if isinstance(m.get(key), (int, float)) and not isinstance(m.get(key), bool):
            return float(m[key])
    hist = getattr(info, "history", None) or []
    accs = [r.get("accuracy") for r in hist if isinstance(r.get("accuracy"), (int, float))]
    return float(accs[-1]) if accs else None


def run_epochs(info) -> tuple[int, int]:
    """(epochs done, epochs planned) of a run: from metrics.json (a time-budget run's re-planned count,
    a resumed run's whole count), else from its history and config; planned is never below done."""
    m = getattr(info, "metrics", None) or {}
    hist = getattr(info, "history", None) or []
    done = m.get("epochs_done") if isinstance(m.get("epochs_done"), int) else len(hist)
    planned = m.get("epochs") if isinstance(m.get("epochs"), int) and m.get("epochs") > 0 else None
    if planned is None:
        cfg = getattr(info, "config", None)
        planned = cfg.train.epochs if cfg is not None else done
    return done, max(planned, done)


def run_summary(info, words: str | None = None) -> str:
    """One short line that tells a run apart from its neighbours, most telling first: the validation
    accuracy when known, the epochs done of those planned, and the status unless it completed
    ("acc 91.3% · 8/8 epochs", "acc 72.5% · 3/8 epochs · stopped": "acc" so the share is not read as the
    run's progress); ``words``: the status as the caller reads it
    (the app's "paused" for the run it has paused)."""
    done, planned = run_epochs(info)
    acc = run_accuracy(info)
    words = status_words(str(getattr(info, "status", ""))) if words is None else words
    parts = ([f"acc {acc:.1%}"] if acc is not None else []) + [f"{done}/{planned} epoch{'' if planned == 1 else 's'}"]
    return " · ".join(parts + ([words] if words and words != "completed" else []))


def whole_epochs(epochs: float) -> int:
    """The epochs a run of ``epochs`` trains (a time plan's fractional length: its last epoch trains part
    of its batches, and counts as one): the count every page shows ("Epoch 7/16", "11/11")."""
    return max(1, math.ceil(float(epochs) - 1e-9))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def epochs_words(epochs: float, share: bool = True) -> str:
    """A run length as users read it, in whole epochs: "16 epochs", or for a time plan of 15.35 epochs
    "15 epochs and part of a 16th (35% of its batches)" (``share``: with the share in brackets)."""
    n = whole_epochs(epochs)
    part = float(epochs) - (n - 1)
    if part >= 0.999:
        return f"{n} epoch{'' if n == 1 else 's'}"
    tail = f" ({part:.0%} of its batches)" if share else ""
    if n == 1:
        return f"part of one epoch{tail}"
    return f"{n - 1} epoch{'' if n == 2 else 's'} and part of {'an' if _ordinal(n)[0] in '8' or n in (11, 18) else 'a'} {_ordinal(n)}{tail}"


def planned_epochs(info: RunInfo) -> float | None:
    """The epochs a time-budget run planned last (``metrics.json``: ``planned_epochs``, fractional when
    the last epoch trains part of its batches, else the re-planned ``epochs``); None for a run without
    a budget. Its config.toml keeps the plan made before the start."""
    cfg, m = getattr(info, "config", None), getattr(info, "metrics", None) or {}
    if cfg is None or cfg.train.budget_minutes <= 0:
        return None
    for key in ("planned_epochs", "epochs"):
        v = m.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return float(v)
    return None


def best_runs(infos: list[RunInfo]) -> dict[str, Path]:
    """{dataset folder: run folder} of the most accurate run of each dataset (the newest one on a tie),
    among the runs validated on the same images as the dataset's newest run (metrics.json's
    ``valid_fingerprint``): accuracies on different validation sets are not compared. A run whose
    validation set changed while it trained (``valid_changed_at_epoch``: resumed after relabels or
    quarantines) is never the best: its epochs were measured on two sets."""
    by_data: dict[str, list[tuple[float, float, str, Path]]] = {}
    for info in infos:
        acc = run_accuracy(info)
        if acc is None or (getattr(info, "metrics", None) or {}).get("valid_changed_at_epoch") is not None:
            continue
        path = getattr(getattr(getattr(info, "config", None), "data", None), "path", "")
        key = str(Path(path).expanduser()) if path else ""
        by_data.setdefault(key, []).append((acc, getattr(info, "created", 0.0) or 0.0, valid_key(info), info.run_dir))
    out = {}
    for key, runs in by_data.items():
        newest = max(runs, key=lambda r: r[1])[2]
        out[key] = max((r for r in runs if r[2] == newest), key=lambda r: r[:2])[3]
    return out


def started_at(info: RunInfo) -> float | None:
    """When the run last scanned its dataset, in seconds since the epoch: metrics.json's
    ``data_scanned`` (written at the start and at every resume: the validation set its reported
    numbers are on), else its ``started`` or its config.toml's time, whichever is earlier (a
    time-budget run rewrites config.toml once it has planned); None when unknown."""
    m = getattr(info, "metrics", None) or {}
    scanned = _stamp(m.get("data_scanned"))
    if scanned is not None:
        return scanned
    times = [t for t in (getattr(info, "created", 0.0), _stamp(m.get("started"))) if t]
    return min(times) if times else None


def data_changes_since(info) -> int:
    """How many images were relabelled or quarantined (or had that taken back) since the run last scanned
    its dataset (its start or latest resume, ``started_at``): a resume trains its remaining epochs and
    validates on the dataset with those changes. 0 when unknown."""
    when, cfg = started_at(info), getattr(info, "config", None)
    if when is None or cfg is None or not cfg.data.path:
        return 0
    try:
        changes = ChangeSet.load(cfg.data.path, cfg.data.changes_beside_data)
    except (OSError, ValueError):
        return 0
    then, now = data_effect(changes.as_of(when)), data_effect(changes.by_rel())
    return sum(1 for k in set(then) | set(now) if then.get(k) != now.get(k))


def _stamp(text) -> float | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def valid_key(info: RunInfo) -> str:
    """Which validation images a run was measured on: metrics.json's ``valid_fingerprint`` (files and
    labels), else its count of images ("" when unknown)."""
    m = getattr(info, "metrics", None) or {}
    return str(m.get("valid_fingerprint") or (f"n={m['n_valid']}" if m.get("n_valid") is not None else ""))


def load_model(run_dir, which: str = "best", device: str | torch.device = "cpu") -> tuple[nn.Module, RunInfo]:
    """The run's model in eval mode (best.pt, or last.pt; best falls back to last) and its RunInfo."""
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', not {which!r}")
    info = load_run(run_dir)
    if not info.classes:
        raise RunError(f"{info.run_dir}: classes.json is missing")
    f = RunFolder(info.run_dir)
    path = f.checkpoint(which)
    try:
        state = load_checkpoint(path)
    except CheckpointError as e:
        raise RunError(str(e)) from e
    cfg = info.config
    try:
        model = create_model(cfg.model.arch, len(info.classes), cfg.model.dropout)
        model.load_state_dict(state["model"])
    except ModelError as e:
        raise RunError(f"{info.run_dir}: {e}") from e
    except (KeyError, TypeError, RuntimeError) as e:  # not a checkpoint of this run's model
        raise RunError(f"{path} does not hold the weights of this run's model ({cfg.model.arch}, "
                       f"{len(info.classes)} classes): {str(e).splitlines()[0][:200]}") from e
    return model.to(device).eval(), info
