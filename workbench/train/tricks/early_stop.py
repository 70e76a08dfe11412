"""Early stopping on the validation loss (lower is better) or accuracy (higher is better)."""
from __future__ import annotations

import math

from ..callback import CancelFit, Callback


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs in a row.

    Sets ``trainer.stop_reason = "early_stopped"`` and raises ``CancelFit`` from ``after_epoch``, after
    the other epoch-end callbacks (high ``order``). The epoch it stops after is still kept: its
    checkpoint is written in ``after_epoch_kept``, which runs after every ``after_epoch`` hook.
    """
    order = 90

    def __init__(self, monitor: str = "valid_loss", patience: int = 3, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError("early stopping patience must be at least 1")
        self.monitor = monitor
        self.mode = "max" if monitor in ("accuracy", "top5", "f1") else "min"
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.wait = 0

    def improved(self, value: float) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def after_epoch(self, trainer) -> None:
        metrics = getattr(trainer, "metrics", None) or {}
        if self.monitor not in metrics:
            return  # no validation this epoch
        value = float(metrics[self.monitor])
        if self.improved(value):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop_reason = "early_stopped"
            trainer.log(f"early stopping: {self.monitor} has not improved for {self.wait} epochs "
                        f"(best {self.best:.4g})" if self.best is not None else
                        f"early stopping: no valid {self.monitor} for {self.wait} epochs")
            raise CancelFit("early stopped")

    def state_dict(self) -> dict:
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get("best")
        self.wait = int(state.get("wait", 0))
