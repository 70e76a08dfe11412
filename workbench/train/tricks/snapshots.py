"""Snapshot ensembles: with the SGDR schedule, save the weights at the end of each warm-restart cycle.

Snapshots go to ``run_dir/checkpoints/snapshot-<k>.pt`` (k = 0, 1, ... the cycle index), written
atomically; without a run folder they are kept in memory (``callback.snapshots``). Averaging the
predictions of the snapshots gives an ensemble at the cost of one training run.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import torch

from ...atomic import atomic_write_bytes
from ..callback import Callback
from ..checkpoint import RunFolder

SNAPSHOT_RE = re.compile(r"^snapshot-(\d+)\.pt$")


def cycle_ends(cycle_len: int, cycle_mult: int, n_epochs: int) -> list[int]:
    """Epoch counts (1-based: epochs done) at which an SGDR cycle ends, up to ``n_epochs``."""
    ends, length, total = [], max(1, int(cycle_len)), 0
    while total + length <= n_epochs:
        total += length
        ends.append(total)
        length *= max(1, int(cycle_mult))
    return ends


def snapshot_path(run_dir: str | Path, k: int) -> Path:
    return RunFolder(run_dir).snapshot(k)


def cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def load_snapshots(run_dir: str | Path) -> list[dict]:
    """The snapshot state_dicts of a run, in cycle order (weights only, never arbitrary objects)."""
    folder = RunFolder(run_dir).checkpoints
    if not folder.is_dir():
        return []
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := SNAPSHOT_RE.match(p.name)))
    out = []
    for _, p in found:
        try:
            out.append(torch.load(p, map_location="cpu", weights_only=True))
        except Exception as e:  # a truncated or foreign file
            raise ValueError(f"cannot read snapshot {p}: {e}") from e
    return out


class SnapshotEnsemble(Callback):
    """Save a snapshot when an SGDR cycle ends (cycle boundaries in epochs)."""
    order = 80  # after the schedule and metrics, before early stopping

    def __init__(self, cycle_len: int = 1, cycle_mult: int = 2, enabled: bool = True) -> None:
        self.cycle_len = int(cycle_len)
        self.cycle_mult = int(cycle_mult)
        self.enabled = enabled
        self.snapshots: list[dict] = []   # in-memory snapshots when the trainer has no run folder
        self.saved: list[int] = []        # cycle indices saved so far

    def before_fit(self, trainer) -> None:
        if not self.enabled:
            trainer.log("snapshot ensemble needs the sgdr schedule; no snapshots will be saved")

    def after_epoch(self, trainer) -> None:
        if not self.enabled:
            return
        ends = cycle_ends(self.cycle_len, self.cycle_mult, trainer.n_epochs)
        done = int(trainer.epoch) + 1
        if done not in ends:
            return
        k = ends.index(done)
        state = cpu_state(trainer.model)
        run_dir = getattr(trainer, "run_dir", None)
        if run_dir:
            buf = io.BytesIO()
            torch.save(state, buf)
            path = snapshot_path(run_dir, k)
            atomic_write_bytes(path, buf.getvalue())
            trainer.log(f"snapshot {k} saved: {path}")
        else:
            self.snapshots.append(state)
        if k not in self.saved:
            self.saved.append(k)

    def state_dict(self) -> dict:
        return {"saved": list(self.saved)}

    def load_state_dict(self, state: dict) -> None:
        self.saved = [int(k) for k in state.get("saved", [])]
