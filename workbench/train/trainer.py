"""Trainer: the training loop with callbacks (hooks and the attributes they may use: train/callback.py).

The public surface (everything else, with a leading underscore, is the loop's own; a test keeps other
modules off it):

- ``Trainer(model, train_loader, valid_loader, cfg, callbacks=, sink=, control=, device=, precision=,
  run_dir=, loss_func=)``; ``run_dir`` adds a ``checkpoint.RunWriter`` (log.txt, history.csv,
  checkpoints) and sends the log lines into that folder.
- ``fit(n_epochs, start_epoch)`` -> "completed" | "cancelled" | "early_stopped" (raises on a failure).
- ``state()`` / ``load_state(state)`` / ``resume_from(path)``: exact resume from a checkpoint.
- ``undo_point()`` / ``undo(point)``: the whole in-memory state, put back exactly (a detour).
- ``add_callback(cb)`` / ``remove_callback(cb)`` (a misspelt hook raises when attached).
- ``borrowed(callbacks=, train_loader=, valid_loader=, sink=, leave_no_trace=)``: a block that runs
  with a temporary callback list, loaders or sink, all put back on exit, also on an exception (the LR
  finder, the planner's probe).
- ``set_forward(fn)`` / ``forward_module``: a wrapper of the forward pass (DDP).
- ``set_progress(fn)``: the schedule position ``pct_train`` from ``fn(trainer)`` (the time budget).
- ``log(text, level)``; ``history`` (the Recorder's rows); attributes callbacks read or change, such
  as a loader lent for one epoch or ``n_epochs`` re-planned, are listed in train/callback.py.

Semantics worth knowing:
- ``lr_mults`` has one entry per LAYER group; optimizer param groups carry ``"layer_group"``
  (see optim.py); the ParamScheduler maps one onto the other. ``lr_scale`` (1.0, halved on each
  out-of-memory retry) multiplies every rate.
- As in fastai, a ``CancelBatch`` / ``CancelEpoch`` runs ``after_cancel_*`` and then still the normal
  ``after_batch`` / ``after_epoch``; ``CancelFit`` runs ``after_cancel_fit`` then ``after_fit``.
  A failure (NaN loss, any error) also runs ``after_cancel_fit`` and ``after_fit`` before re-raising,
  so tricks restore their state.
- The trainer writes no file: ``after_epoch_kept`` (after the after_epoch hooks of every epoch the run
  keeps), ``before_pause`` and ``after_cancel_fit`` are where ``RunWriter`` saves.
- With gradient accumulation, ``before_step`` / ``after_step`` run only on batches that step.
- Validation runs no batch hooks; ``trainer.metrics`` = valid_loss, accuracy (+ top5 with more than
  5 classes: with 5 or fewer every image's class is in its top 5, so top-5 accuracy is always 100 %).
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterable

import torch
from torch import nn

from ..errors import Failure
from ..config import RunConfig
from ..runtime.control import Cancelled, RunControl
from ..runtime.device import autocast
from ..runtime.events import LogMessage, Paused, Resumed, null_sink
from ..models.build import layer_groups as make_layer_groups
from .callback import CancelBatch, CancelEpoch, CancelFit, Callback, check_hooks
from .checkpoint import RunWriter, TrainerSnapshot, apply_state, capture_state, cpu_copy, set_rng_state
from ..run.folder import RunFolder, load_checkpoint
from .optim import make_optimizer
from .recorder import Recorder
from .schedules import ParamScheduler

TOP5_MIN_CLASSES = 5   # top-5 accuracy is measured only with more classes than this (else it is always 100 %)


class TrainingError(Failure):
    """Training cannot go on (e.g. the loss became NaN); the message says where."""


def is_oom(e: BaseException) -> bool:
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(oom_type, type) and isinstance(e, oom_type):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


@contextlib.contextmanager
def _closing(it):
    """Close a loader's epoch iterator (stops its prefetch thread) however the loop ends."""
    try:
        yield it
    finally:
        close = getattr(it, "close", None)
        if close:
            close()


class Trainer:
    """Runs ``fit`` over a model and two BatchLoaders, calling callback hooks in the documented order."""

    def __init__(self, model: nn.Module, train_loader, valid_loader, cfg: RunConfig,
                 callbacks: Iterable[Callback] = (), sink: Callable | None = None,
                 control: RunControl | None = None, device: torch.device | str = "cpu",
                 precision: str = "fp32", run_dir=None, loss_func: Callable | None = None) -> None:
        self.cfg, self.device, self.precision = cfg, torch.device(device), precision
        self.model = model.to(self.device)
        if cfg.model.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._own_forward = torch.compile(self.model) if cfg.train.compile else self.model
        self._forward = self._own_forward
        self.train_loader, self.valid_loader = train_loader, valid_loader
        self.control = control or RunControl()
        self.loss_func = loss_func or nn.CrossEntropyLoss()
        self.layer_groups = make_layer_groups(self.model)
        tc = cfg.train
        self.opt = make_optimizer(tc.optimizer, self.layer_groups, tc.lr, tc.weight_decay, tc.moms)
        self.lr_mults = [1.0] * len(self.layer_groups)
        self.lr_scale = 1.0
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")
        cbs = list(callbacks)
        if run_dir:
            folder = RunFolder(run_dir).create()
            cbs.append(RunWriter(folder, tc.checkpoint_share))
            sink = folder.logged(sink)
        self.sink = sink or null_sink
        for cb in cbs:
            check_hooks(cb)
        if not any(isinstance(c, ParamScheduler) for c in cbs):
            cbs.append(ParamScheduler())
        self.recorder = next((c for c in cbs if isinstance(c, Recorder)), None) or Recorder()
        if self.recorder not in cbs:
            cbs.append(self.recorder)
        self.callbacks = sorted(cbs, key=lambda c: c.order)
        self.epoch = self.iter = self.step = self.start_epoch = 0
        self.n_epochs, self.n_iter = tc.epochs, 0
        self.pct_train = 0.0
        self._progress: Callable[["Trainer"], float] | None = None
        self.training = False
        self.metrics: dict = {}
        self.stop_reason = ""
        self.is_best = False
        self.xb = self.yb = self.pred = self.loss = None
        self.last_loss = float("nan")
        self.sched_lr, self.sched_mom = tc.lr, tc.moms[0]
        self._pending_rng: dict | None = None
        self.checkpoint_seconds = 0.0        # time writers spent on checkpoints (RunWriter adds its own)
        self._epoch_start: dict | None = None  # the state at the start of this epoch (CPU copy)

    # ------------------------------------------------------------------ helpers
    @property
    def history(self) -> list[dict]:
        return self.recorder.history

    @property
    def epoch_start_state(self) -> dict | None:
        """The state at the start of the epoch under way (a CPU copy of ``state()`` after the previous
        epoch, RNG included): what an out-of-memory retry goes back to, and what a writer saves on a
        stop or a pause. None before the first epoch."""
        return self._epoch_start

    def log(self, text: str, level: str = "info") -> None:
        """Send a LogMessage (a run folder's sink, ``RunFolder.logged``, writes it to log.txt)."""
        self.sink(LogMessage(text, level))

    def __call__(self, hook: str) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self)

    @property
    def forward_module(self) -> Callable:
        """What the loop calls for a forward pass now (the model, compiled when train.compile, or a
        wrapper a callback set)."""
        return self._forward

    def set_forward(self, fn: Callable | None = None) -> None:
        """Let a callback wrap the forward pass (DDP); None puts the trainer's own back."""
        self._forward = fn if fn is not None else self._own_forward

    def set_progress(self, fn: Callable[["Trainer"], float] | None = None) -> None:
        """Let a callback place the schedule: before each training batch ``pct_train = fn(trainer)``
        (the time budget's re-planned curve); None puts back the trainer's own, the progress through
        the fit (epoch + batch over n_epochs)."""
        self._progress = fn

    def add_callback(self, cb: Callback) -> None:
        check_hooks(cb)
        self.callbacks = sorted([*self.callbacks, cb], key=lambda c: c.order)

    def remove_callback(self, cb: Callback) -> None:
        self.callbacks = [c for c in self.callbacks if c is not cb]

    @contextlib.contextmanager
    def borrowed(self, callbacks: Iterable[Callback] | None = None, train_loader=None, valid_loader=None,
                 sink: Callable | None = None, leave_no_trace: bool = False):
        """Run a block with a temporary callback list (instead of the trainer's own, checked like
        ``add_callback``), training / validation loader or event sink; on exit, also on an exception,
        each is put back as it was. ``leave_no_trace`` also puts back everything a fit changes
        (``undo_point``: weights, optimizer, counters, callbacks' state, RNG). None keeps the trainer's."""
        point = self.undo_point() if leave_no_trace else None
        kept = (list(self.callbacks), self.train_loader, self.valid_loader, self.sink)
        try:
            if callbacks is not None:
                cbs = list(callbacks)
                for cb in cbs:
                    check_hooks(cb)
                self.callbacks = sorted(cbs, key=lambda c: c.order)
            if train_loader is not None:
                self.train_loader = train_loader
            if valid_loader is not None:
                self.valid_loader = valid_loader
            if sink is not None:
                self.sink = sink
            yield self
        finally:
            if point is not None:
                self.undo(point)
            self.callbacks, self.train_loader, self.valid_loader, self.sink = kept

    def _autocast(self):
        return autocast(self.device, self.precision)

    def _check_control(self) -> None:
        try:
            self.control.check(on_pause=self._on_pause, on_resume=self._on_resume)
        except Cancelled:
            self.stop_reason = "cancelled"
            raise CancelFit("stopped by the user") from None

    def _check_pause(self) -> None:
        """Validation's boundary: wait while paused; a stop lets the epoch finish (validated and saved),
        so the training of an epoch whose last batch ran is never thrown away."""
        with contextlib.suppress(Cancelled):
            self.control.check(on_pause=self._on_pause, on_resume=self._on_resume)

    def _on_pause(self) -> None:
        self("before_pause")  # the time budget stops counting; a writer saves the latest finished epoch
        self.sink(Paused())   # so a run shown as paused can be resumed from disk

    def _on_resume(self) -> None:
        self("after_pause")
        self.sink(Resumed())

    # ------------------------------------------------------------------ fit
    def fit(self, n_epochs: int | None = None, start_epoch: int = 0) -> str:
        """Train epochs start_epoch..n_epochs-1; returns completed | cancelled | early_stopped.

        Raises TrainingError (NaN loss) or the original exception on failure, with stop_reason "failed".
        """
        self.n_epochs = n_epochs or self.cfg.train.epochs
        self.start_epoch = start_epoch
        self.stop_reason = ""
        try:
            self("before_fit")
            if self._pending_rng is not None:
                set_rng_state(self._pending_rng)
                self._pending_rng = None
            epoch = start_epoch
            while epoch < self.n_epochs:  # a callback may re-plan n_epochs (time budget)
                self.epoch = epoch
                self._do_epoch()
                epoch += 1
                if self.control.stop_requested and epoch < self.n_epochs:
                    self._check_control()  # a stop during validation: the epoch is kept, then stop
        except CancelFit:
            self.stop_reason = self.stop_reason or "cancelled"
            self("after_cancel_fit")   # on a stop, a writer saves every finished epoch for resume
        except BaseException:
            self.stop_reason = "failed"
            try:
                self("after_cancel_fit")
            finally:
                self("after_fit")
            raise
        self("after_fit")
        return self.stop_reason or "completed"

    def _do_epoch(self) -> None:
        complete = False
        try:
            self._train_with_retry()
            self._validate_with_retry()
            self.recorder.end_epoch(self)
            complete = True
            self("after_epoch")
        except CancelEpoch:
            self("after_cancel_epoch")
            self("after_epoch")
        finally:
            if complete and self.stop_reason not in ("failed", "cancelled"):
                self("after_epoch_kept")  # also when an after_epoch hook ended the fit (early stopping)

    # ------------------------------------------------------------------ training
    def _train_with_retry(self) -> None:
        while True:
            start = self._epoch_start = self._epoch_start_copy()
            try:
                self._train_epoch()
                return
            except Exception as e:  # noqa: BLE001 - only out-of-memory is handled here
                if not is_oom(e):
                    raise
                bs = int(self.train_loader.batch_size)
                if bs <= 1:
                    raise TrainingError(f"out of memory at epoch {self.epoch + 1} even with batch size 1") from e
                self._retry_from(start)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self.train_loader.batch_size = bs // 2
                self.lr_scale *= 0.5
                self.log(f"out of memory at epoch {self.epoch + 1}: batch size {bs} -> {bs // 2}, "
                         f"learning rate x{self.lr_scale:g}; retrying the epoch", "warning")

    def _train_epoch(self) -> None:
        self("before_epoch")
        if hasattr(self.train_loader, "set_epoch"):
            self.train_loader.set_epoch(self.epoch)
        self.n_iter = len(self.train_loader)
        self.model.train()
        self.training = True
        self("before_train")
        with _closing(iter(self.train_loader)) as it:
            for i, (xb, yb) in enumerate(it):
                self.iter = i
                self.pct_train = (self._progress(self) if self._progress is not None else
                                  (self.epoch * self.n_iter + i) / max(1, self.n_epochs * self.n_iter))
                self._check_control()
                self.xb, self.yb = xb, yb
                self._do_batch()
        self.training = False
        self("after_train")

    def _do_batch(self) -> None:
        self.pred = self.loss = None
        try:
            self("before_batch")
            with self._autocast():
                self.pred = self._forward(self.xb)
                self("after_pred")
                self.loss = self.loss_func(self.pred, self.yb)
            self("after_loss")
            self.last_loss = float(self.loss.detach())
            if not math.isfinite(self.last_loss):
                raise TrainingError(f"the loss became {self.last_loss} at epoch {self.epoch + 1}, batch "
                                    f"{self.iter + 1} of {self.n_iter}: lower the learning rate "
                                    f"(the last good checkpoint is kept)")
            accum = max(1, self.cfg.train.grad_accum)
            self.scaler.scale(self.loss / accum).backward()
            if (self.iter + 1) % accum == 0 or self.iter == self.n_iter - 1:
                self("before_step")
                if self.cfg.train.grad_clip > 0:
                    self.scaler.unscale_(self.opt)
                    nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
                self.scaler.step(self.opt)
                self.scaler.update()
                self.opt.zero_grad(set_to_none=True)
                self.step += 1
                self("after_step")
        except CancelBatch:
            self.opt.zero_grad(set_to_none=True)
            self("after_cancel_batch")
        self("after_batch")

    # ------------------------------------------------------------------ validation
    def _validate_with_retry(self) -> None:
        while True:
            try:
                self._validate()
                return
            except Exception as e:  # noqa: BLE001
                bs = int(getattr(self.valid_loader, "batch_size", 1))
                if not is_oom(e) or bs <= 1:
                    raise
                self.valid_loader.batch_size = bs // 2
                self.log(f"out of memory in validation: batch size {bs} -> {bs // 2}", "warning")

    def _validate(self) -> None:
        self("before_validate")
        self.model.eval()
        total, loss_sum, top1, top5 = 0, 0.0, 0, 0
        n_classes = None
        with torch.no_grad(), _closing(iter(self.valid_loader)) as it:
            for xb, yb in it:
                self._check_pause()
                with self._autocast():
                    pred = self._forward(xb)
                pred = pred.float()
                n_classes = pred.shape[1]
                loss_sum += float(self.loss_func(pred, yb)) * len(yb)
                top1 += int((pred.argmax(1) == yb).sum())
                if n_classes > TOP5_MIN_CLASSES:
                    top5 += int((pred.topk(5, dim=1).indices == yb[:, None]).any(1).sum())
                total += len(yb)
        nan = float("nan")
        self.metrics = {"valid_loss": loss_sum / total if total else nan,
                        "accuracy": top1 / total if total else nan}
        if n_classes is not None and n_classes > TOP5_MIN_CLASSES:
            self.metrics["top5"] = top5 / total
        if total and not math.isfinite(self.metrics["valid_loss"]):  # caught like a training loss that breaks
            raise TrainingError(f"the validation loss became {self.metrics['valid_loss']} at epoch {self.epoch + 1}: "
                                f"the model's outputs are not finite numbers (lower the learning rate, or train "
                                f"with train.precision=fp32; the last good checkpoint is kept)")
        self("after_validate")

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        """Everything needed to continue exactly after the current epoch (see checkpoint.capture_state)."""
        return capture_state(self)

    def load_state(self, state: dict, restore_rng: bool = True) -> int:
        """Restore a state from ``state()`` / a checkpoint; returns the epoch to start from.
        The RNG state is applied when ``fit`` starts (after before_fit)."""
        apply_state(self, state)
        if restore_rng:  # a checkpoint (not the out-of-memory rollback)
            self._pending_rng = state["rng"]
        return int(state["next_epoch"])

    def undo_point(self) -> TrainerSnapshot:
        """This trainer's whole in-memory state; ``undo(point)`` puts it back exactly, so a detour
        (the LR range test) leaves no trace."""
        return TrainerSnapshot(self)

    def undo(self, point: TrainerSnapshot) -> None:
        point.restore()

    def resume_from(self, path) -> int:
        """Load checkpoint ``path``; returns the epoch ``fit`` should start from."""
        return self.load_state(load_checkpoint(path, map_location=self.device))

    def _epoch_start_copy(self) -> dict:
        """``state()`` now, at the start of epoch ``self.epoch``, copied to the CPU."""
        st = self.state()
        st["epoch"] = st["next_epoch"] = self.epoch
        return cpu_copy(st)

    def _retry_from(self, start: dict) -> None:
        """Go back to the start of the epoch (out-of-memory retry), RNG included."""
        self.load_state(start, restore_rng=False)
        set_rng_state(start["rng"])
