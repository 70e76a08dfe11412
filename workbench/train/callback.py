"""Callbacks: typed hooks named after loop events. Unlike event sinks they MAY change training state.

Hook order in ``Trainer.fit``::

    before_fit
      for each epoch:  before_epoch
          before_train
            for each batch: before_batch -> (forward) after_pred -> after_loss -> (backward)
                            before_step -> (optimizer step) after_step -> after_batch
          after_train
          before_validate -> (validation) -> after_validate
        after_epoch
        after_epoch_kept   the epoch is kept: validated, recorded and every after_epoch hook ran (also
                           when one of them ended the fit by early stopping); writers save it here
    after_fit

Raising ``CancelBatch`` / ``CancelEpoch`` / ``CancelFit`` from a hook skips the rest of that unit and
calls ``after_cancel_batch`` / ``after_cancel_epoch`` / ``after_cancel_fit`` on every callback. A user
stop (``RunControl``) arrives as ``CancelFit`` with ``trainer.stop_reason == "cancelled"``;
early stopping raises ``CancelFit`` after setting ``trainer.stop_reason = "early_stopped"``.
``after_fit`` is always called last, on the normal and on the cancel path, so every trick restores its
state there. An epoch cut short (``CancelEpoch``), a stop inside an epoch and a failure run no
``after_epoch_kept``. A pause runs ``before_pause`` when the run stops to wait (the time budget's
clock stops, a writer saves the latest finished epoch; then the Paused event is sent) and
``after_pause`` when it goes on.

Trainer attributes a callback may read or change (the contract; the trainer's methods and extension
points are listed in workbench/train/trainer.py):
    trainer.cfg            RunConfig (read-only)
    trainer.model          nn.Module (already on trainer.device)
    trainer.opt            torch.optim.Optimizer; param groups follow trainer.layer_groups order
    trainer.layer_groups   list[list[nn.Parameter]] (stem ... head), see models.layer_groups
    trainer.lr_mults       list[float], one per LAYER group: the schedule sets the lr of every
                           param group g to schedule_lr * lr_mults[g["layer_group"]] (each layer group
                           is split into a weight-decay and a no-decay param group)
    trainer.device         torch.device; trainer.precision: "fp32" | "bf16" | "fp16"
    trainer.train_loader   BatchLoader (attributes image_size and batch_size are settable); a callback
                           may lend the loop another one in before_epoch (read for that epoch) and put
                           the original back by after_train / after_fit
    trainer.valid_loader   BatchLoader
    trainer.control        RunControl (a callback may wrap it for a fit, restoring it in after_fit)
    trainer.loss_func      callable(pred, target) -> loss; target is a LongTensor of class indices
                           OR a float tensor (N, C) of soft targets (MixUp / CutMix)
    trainer.xb, trainer.yb current batch (callbacks may replace them in before_batch)
    trainer.pred, trainer.loss   set after the forward pass / loss
    trainer.epoch, trainer.n_epochs, trainer.iter, trainer.n_iter, trainer.step (global optimizer steps);
                           a callback may change n_epochs (a time budget re-plans; read every epoch),
                           and n_iter when it shortens the epoch's loader it lent
    trainer.start_epoch    the epoch this fit started from (a resumed run's first epoch)
    trainer.pct_train      float in [0, 1]: position in the schedule, set before each training batch
                           (by default the progress through the fit; ``trainer.set_progress`` overrides it)
    trainer.training       True inside the training part of an epoch
    trainer.metrics        dict of the last validation: {"valid_loss": ..., "accuracy": ...}
    trainer.is_best        whether the epoch that just ended is the best so far (set by the Recorder)
    trainer.recorder       the Recorder: history rows, best epoch, this epoch's loss totals
    trainer.stop_reason    "" | "cancelled" | "early_stopped" | "failed"
    trainer.epoch_start_state   the state at the start of the epoch under way (CPU copy, as
                           ``trainer.state()`` after the previous epoch); None before the first
    trainer.checkpoint_seconds  seconds spent writing checkpoints (a writer adds its own; the time
                           budget leaves them out of the training speed)
    trainer.log(text)      send a LogMessage event (a run folder's sink writes it to log.txt)
    trainer.sink(event)    send an event to observers
"""
from __future__ import annotations

import difflib


class CancelBatch(Exception):
    """Skip the rest of the current batch."""


class CancelEpoch(Exception):
    """Skip the rest of the current epoch."""


class CancelFit(Exception):
    """End the fit; after_cancel_fit and after_fit still run."""


HOOKS = ("before_fit", "before_epoch", "before_train", "before_batch", "after_pred", "after_loss",
         "before_step", "after_step", "after_batch", "after_train", "before_validate", "after_validate",
         "after_epoch", "after_epoch_kept", "after_fit", "after_cancel_batch", "after_cancel_epoch",
         "after_cancel_fit", "before_pause", "after_pause")


_HOOK_PREFIXES = ("before_", "after_")


def hook_problem(name: str) -> str:
    """'' when ``name`` is not meant as a hook or is a known one; else a sentence naming the close match."""
    if not name.startswith(_HOOK_PREFIXES) or name in HOOKS:
        return ""
    close = difflib.get_close_matches(name, HOOKS, n=1)
    hint = f" (did you mean {close[0]}?)" if close else f"; the hooks are {', '.join(HOOKS)}"
    return f"{name} is not a trainer hook{hint}"


def check_hooks(cb) -> None:
    """Raise TypeError when ``cb`` defines a method named like a hook that the trainer never calls
    (a misspelt hook would otherwise be silently skipped)."""
    for klass in type(cb).__mro__:
        for name, value in vars(klass).items():
            problem = hook_problem(name) if callable(value) else ""
            if problem:
                raise TypeError(f"{type(cb).__name__}: {problem}")


class Callback:
    """Base class; override only the hooks you need. Lower ``order`` runs first.
    A method named ``before_*`` / ``after_*`` that is not one of HOOKS raises TypeError when the class
    is defined, so a misspelt hook cannot be silently skipped."""
    order: int = 0

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in vars(cls).items():
            problem = hook_problem(name) if callable(value) else ""
            if problem:
                raise TypeError(f"{cls.__name__}: {problem}")

    def state_dict(self) -> dict:
        """State saved in checkpoints so a resumed run continues exactly."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    @property
    def name(self) -> str:
        return type(self).__name__


def _noop(self, trainer) -> None:
    return None


for _hook in HOOKS:
    setattr(Callback, _hook, _noop)
