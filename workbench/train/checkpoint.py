"""Checkpoints of a training run: the trainer's state (``capture_state`` / ``apply_state``, RNG
included), the in-memory undo point of a detour (``TrainerSnapshot``), the pacing of checkpoint writes,
and ``RunWriter``, the callback that writes a training run into its folder (``run.folder.RunFolder``
names the files and owns the checkpoint file format).

While a run trains, ``RunWriter`` is the one writer of its log lines, history.csv, metrics.json and
checkpoints. last.pt is written after an epoch when ``CheckpointPacer`` says so (checkpoints then take
at most ``train.checkpoint_share`` of the run), and always after the last epoch, on a stop and on a
pause. When the best epoch's weights are not in best.pt yet they ride along in last.pt
(``best_model``), so a crash between the two writes loses nothing. The history is kept once in
last.pt, in the Recorder's state (``saved_history`` reads it, also from older files that had a second
copy at the top level).
"""
from __future__ import annotations

import copy
import random
import time
from typing import Any

import numpy as np
import torch

from ..run.folder import RunFolder, save_checkpoint
from ..runtime.events import CheckpointSaved
from .callback import Callback
from .recorder import trace_point

class CheckpointPacer:
    """Whether to write last.pt after an epoch: always when one write is cheap (under ``FLOOR_S``) or
    ``share`` is 1, else once the time since the last write is at least ``(1 / share - 1)`` writes,
    so writing takes at most about ``share`` of the run. A crash then loses at most that much work."""

    FLOOR_S = 0.25

    def __init__(self, share: float = 1.0, clock=time.monotonic) -> None:
        self.share, self.clock = float(share), clock
        self.cost = 0.0                  # seconds the last write took
        self.last_end: float | None = None

    def due(self, final: bool = False) -> bool:
        if final or self.share >= 1.0 or self.last_end is None or self.cost < self.FLOOR_S:
            return True
        return self.clock() - self.last_end >= self.cost * (1.0 / max(self.share, 1e-6) - 1.0)

    def wrote(self, seconds: float) -> None:
        self.cost, self.last_end = float(seconds), self.clock()


def amortized_save_s(save_s: float, epoch_s: float, share: float) -> float:
    """Checkpoint seconds per epoch under ``CheckpointPacer`` for epochs of ``epoch_s`` seconds."""
    if share >= 1.0 or save_s < CheckpointPacer.FLOOR_S:
        return save_s
    every = max(1, int(-(-save_s * (1.0 / max(share, 1e-6) - 1.0) // max(epoch_s, 1e-6))))
    return save_s / every


# --------------------------------------------------------------------- RNG
def get_rng_state() -> dict:
    np_state = np.random.get_state()
    state = {"python": _to_plain(random.getstate()),
             "numpy": {"key": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                       "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_to_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = list(state["cuda"])[:torch.cuda.device_count()]
        for i, s in enumerate(cuda):
            torch.cuda.set_rng_state(s, i)


def _to_plain(x: Any) -> Any:
    return [_to_plain(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(v) for v in x) if isinstance(x, list) else x


# --------------------------------------------------------------------- trainer state
def capture_state(tr) -> dict:
    """A Trainer's full state after its current epoch: model, optimizer, grad scaler, RNG, callback
    states (by name; the Recorder's holds the history), step, batch size and lr scale (after
    out-of-memory halving)."""
    return {"epoch": tr.epoch, "next_epoch": tr.epoch + 1, "n_epochs": tr.n_epochs,
            "step": tr.step, "model": tr.model.state_dict(), "opt": tr.opt.state_dict(),
            "scaler": tr.scaler.state_dict(), "rng": get_rng_state(),
            "callbacks": {cb.name: cb.state_dict() for cb in tr.callbacks},
            "batch_size": int(tr.train_loader.batch_size),
            "valid_batch_size": int(getattr(tr.valid_loader, "batch_size", 0) or 0),
            "lr_scale": tr.lr_scale, "lr_mults": [float(m) for m in tr.lr_mults],
            "metrics": dict(tr.metrics)}


def saved_history(state: dict) -> list[dict]:
    """The history rows a checkpoint state records: the Recorder's (one copy); a last.pt written
    before the history was kept once also has it at the top level, read when the Recorder's is missing."""
    recorder = (state.get("callbacks") or {}).get("Recorder") or {}
    rows = recorder.get("history") if "history" in recorder else state.get("history", [])
    return [dict(r) for r in rows or [] if isinstance(r, dict)]


def saved_trace(run_dir) -> list[tuple[float, float, float]]:
    """The batch curve a run's last.pt keeps ((epoch + share of its batches, smoothed loss, lr), at
    most 100 points an epoch, as the live view drew it); [] without a readable last.pt. The file is
    memory-mapped, so the model and optimizer tensors are not read."""
    path = RunFolder(run_dir).last
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - no curve to draw is the answer for a missing or damaged file
        return []
    recorder = (state.get("callbacks") or {}).get("Recorder") or {} if isinstance(state, dict) else {}
    return [p for p in map(trace_point, recorder.get("trace") or []) if p is not None]


def apply_state(tr, state: dict) -> None:
    """Put a state from ``capture_state`` back into a Trainer (RNG excluded). An older last.pt's
    top-level copy of the history is not read: the Recorder's state holds the same rows."""
    tr.model.load_state_dict(state["model"])
    tr.opt.load_state_dict(state["opt"])
    if state.get("scaler"):
        tr.scaler.load_state_dict(state["scaler"])
    saved = state.get("callbacks", {})
    for cb in tr.callbacks:
        if cb.name in saved:
            cb.load_state_dict(saved[cb.name])
    tr.train_loader.batch_size = int(state["batch_size"])
    if state.get("valid_batch_size"):
        tr.valid_loader.batch_size = int(state["valid_batch_size"])
    tr.lr_scale = float(state.get("lr_scale", 1.0))
    tr.lr_mults = list(state.get("lr_mults", tr.lr_mults))
    tr.step = int(state["step"])
    tr.epoch = int(state["epoch"])
    tr.metrics = dict(state.get("metrics", {}))


class TrainerSnapshot:
    """A Trainer as it is now, in memory, for a detour that must leave no trace (the LR range test):
    weights, optimizer, grad scaler, requires_grad flags, callbacks' state, loader image sizes, RNG
    states, train/eval mode and every attribute of the trainer itself (lists and dicts copied).
    ``restore()`` puts all of it back exactly; attributes added since are removed."""

    def __init__(self, tr) -> None:
        self.trainer = tr
        self.model = copy.deepcopy(tr.model.state_dict())
        self.opt = copy.deepcopy(tr.opt.state_dict())
        scaler = getattr(tr, "scaler", None)
        self.scaler = copy.deepcopy(scaler.state_dict()) if scaler is not None else None
        self.requires_grad = [p.requires_grad for p in tr.model.parameters()]
        self.attrs = {k: (copy.copy(v) if isinstance(v, (list, dict)) else v) for k, v in vars(tr).items()}
        self.callbacks = [(cb, copy.deepcopy(cb.state_dict())) for cb in getattr(tr, "callbacks", [])]
        self.sizes = [(ld, ld.image_size) for ld in (tr.train_loader, tr.valid_loader) if hasattr(ld, "image_size")]
        self.rng = get_rng_state()
        self.training_mode = tr.model.training

    def restore(self) -> None:
        tr = self.trainer
        for k in [k for k in vars(tr) if k not in self.attrs]:
            delattr(tr, k)
        for k, v in self.attrs.items():
            setattr(tr, k, v)
        with torch.no_grad():
            tr.model.load_state_dict(self.model)
        tr.opt.load_state_dict(self.opt)
        if self.scaler is not None:
            tr.scaler.load_state_dict(self.scaler)
        tr.opt.zero_grad(set_to_none=True)
        for p, flag in zip(tr.model.parameters(), self.requires_grad):
            p.requires_grad_(flag)
        for cb, state in self.callbacks:
            cb.load_state_dict(state)
        for ld, size in self.sizes:
            ld.image_size = size
        set_rng_state(self.rng)
        tr.model.train(self.training_mode)


def cpu_copy(obj: Any) -> Any:
    """Deep copy with every tensor moved to the CPU (the out-of-memory rollback keeps one per epoch)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return copy.deepcopy(obj)


class RunWriter(Callback):
    """Writes a training run into its folder: after every epoch the run keeps (``after_epoch_kept``)
    a line in log.txt, last.pt (when ``CheckpointPacer`` says so; always after the last epoch and
    when the run stops), best.pt for a new best epoch, history.csv, and metrics.json from
    ``metrics(trainer)`` when given. On a stop or a pause it writes the state at the start of the
    epoch under way when last.pt is older, so no finished epoch is lost. After a failure it writes
    nothing: the last good checkpoint stays. (A Trainer given ``run_dir`` adds one; ``run.py`` adds
    its own, with the metrics.)"""
    order = 200  # after every callback whose state the checkpoint holds

    def __init__(self, folder: "RunFolder", share: float = 1.0, metrics=None) -> None:
        self.folder, self.metrics = folder, metrics
        self.pacer = CheckpointPacer(share)
        self.saved_epoch = -1            # the epoch whose end last.pt holds
        self.best_unsaved: dict | None = None   # the best epoch's weights while best.pt is behind

    def before_fit(self, trainer) -> None:
        self.saved_epoch = int(trainer.start_epoch) - 1   # a resumed run's last.pt holds the epoch before

    def after_epoch_kept(self, trainer) -> None:
        r = trainer.history[-1] if trainer.history else {}
        nan = float("nan")
        self.folder.append_log(
            f"epoch {trainer.epoch + 1}/{trainer.n_epochs}: train_loss {r.get('train_loss', nan):.4f} "
            f"valid_loss {r.get('valid_loss', nan):.4f} accuracy {r.get('accuracy', nan):.4f} "
            f"({r.get('seconds', 0.0):.1f} s){' best' if trainer.is_best else ''}")
        final = (trainer.epoch >= trainer.n_epochs - 1 or bool(trainer.stop_reason)
                 or trainer.control.stop_requested)
        best = ({"epoch": trainer.epoch, "model": trainer.model.state_dict(), "metrics": dict(trainer.metrics)}
                if trainer.is_best else None)
        if self.pacer.due(final):
            self._write(trainer, trainer.state(), best)
        elif best is not None:
            self.best_unsaved = cpu_copy(best)
        self.folder.write_history(trainer.history)
        if self.metrics is not None:
            self.folder.write_metrics(self.metrics(trainer))

    def before_pause(self, trainer) -> None:
        self._write_epoch_start(trainer)   # a paused run is resumable from its latest finished epoch

    def after_cancel_fit(self, trainer) -> None:
        if trainer.stop_reason == "cancelled":
            self._write_epoch_start(trainer)   # keep every finished epoch for resume

    def _write_epoch_start(self, trainer) -> None:
        """Write the state at the start of the epoch under way (the end of the previous one) when
        last.pt is older: after a stop or during a pause, nothing a finished epoch did is lost."""
        snap = trainer.epoch_start_state
        if snap is None or int(snap["next_epoch"]) - 1 <= self.saved_epoch:
            return
        done = int(snap["next_epoch"])
        self._write(trainer, {**snap, "epoch": done - 1, "next_epoch": done})

    def _write(self, trainer, state: dict, best: dict | None = None) -> None:
        """last.pt, then best.pt when the best epoch is newer than it. last.pt first: a crash between
        the two leaves a last.pt that holds the weights of its recorded best (its own model, or
        ``best_model``), and resume re-saves best.pt from it (run.repair_best)."""
        t0 = time.perf_counter()
        best = best or self.best_unsaved
        if best is not None and best["epoch"] != state["epoch"]:
            state = {**state, "best_model": best}
        save_checkpoint(self.folder.last, state)
        if best is not None:
            save_checkpoint(self.folder.best, best)
        self.best_unsaved, self.saved_epoch = None, int(state["epoch"])
        took = time.perf_counter() - t0
        self.pacer.wrote(took)
        trainer.checkpoint_seconds += took
        trainer.sink(CheckpointSaved(str(self.folder.last), int(state["epoch"])))
