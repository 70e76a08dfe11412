"""Recorder: smoothed batch loss, throughput, ETA, throttled BatchEnd events, history rows, and the
trace of the batch curve (``trace``: the smoothed loss and lr of the BatchEnd events sent, at most
``TRACE_PER_EPOCH`` a epoch) that a resumed run draws for the epochs it did before.

The trainer calls ``end_epoch`` after validation (before the after_epoch hooks) so that an early stop
raised from after_epoch never loses the epoch's row.
"""
from __future__ import annotations

import math
import time

from ..runtime.events import BatchEnd, EpochEnd
from .callback import Callback
from .optim import get_momentum

TRACE_PER_EPOCH = 100   # points of the batch curve kept per epoch (the live view draws them on a resume)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def trace_point(p) -> tuple[float, float, float] | None:
    """A point of a checkpoint's trace, or None when it is not three finite numbers."""
    try:
        x, y, lr = (float(v) for v in p)
    except (TypeError, ValueError):
        return None
    return (x, y, lr) if all(map(math.isfinite, (x, y, lr))) else None


class SmoothLoss:
    """Exponential moving average with debiasing (fastai's smooth loss)."""

    def __init__(self, beta: float = 0.98) -> None:
        self.beta, self.avg, self.count = beta, 0.0, 0

    def add(self, value: float) -> float:
        self.count += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * value
        return self.value

    @property
    def value(self) -> float:
        return self.avg / (1 - self.beta ** self.count) if self.count else float("nan")


class Recorder(Callback):
    """Keeps history and sends BatchEnd (at most ``max_rate`` per second) and EpochEnd events."""
    order = 100

    def __init__(self, max_rate: float = 20.0) -> None:
        self.min_interval = 1.0 / max_rate
        self.smooth = SmoothLoss()
        self.history: list[dict] = []
        self.best_value: float | None = None
        self.best_loss: float | None = None     # validation loss of the best epoch (breaks accuracy ties)
        self.best_epoch = -1
        self.trace: list[tuple[float, float, float]] = []   # (epoch + share of its batches, smooth loss, lr)
        self._last_sent = 0.0

    # ------------------------------------------------------------------ hooks
    def before_fit(self, trainer) -> None:
        self._fit_t0 = time.perf_counter()
        self._batches_done = 0
        self._train_time = 0.0
        self._valid_times: list[float] = []
        self._paused_t0: float | None = None   # when the run paused (perf_counter), until it continues

    def before_pause(self, trainer) -> None:
        self._paused_t0 = time.perf_counter()

    def after_pause(self, trainer) -> None:
        """A pause is not training: the clocks of the fit, the epoch and its validation skip it, so the
        images/s, an epoch's seconds and the ETA after a pause count the time trained only."""
        if self._paused_t0 is None:
            return
        gap, self._paused_t0 = time.perf_counter() - self._paused_t0, None
        for name in ("_fit_t0", "_epoch_t0", "_valid_t0"):
            if hasattr(self, name):
                setattr(self, name, getattr(self, name) + gap)

    def before_train(self, trainer) -> None:
        self._epoch_t0 = time.perf_counter()
        self._losses_sum, self._losses_n, self._images = 0.0, 0, 0
        self.smooth = SmoothLoss()  # per epoch: the live loss ends near the epoch's train_loss

    def epoch_totals(self) -> tuple[float, int, int]:
        """(sum of batch loss x batch size, images in those sums, images trained) of this epoch so far."""
        return self._losses_sum, self._losses_n, self._images

    def set_epoch_totals(self, loss_sum: float, n: int, images: int) -> None:
        """Replace this epoch's totals, e.g. with the sums over every rank of a DDP run."""
        self._losses_sum, self._losses_n, self._images = float(loss_sum), int(n), int(images)

    def after_batch(self, trainer) -> None:
        if not trainer.training or trainer.loss is None:
            return
        loss = float(trainer.last_loss)
        n = int(trainer.yb.shape[0])
        self._losses_sum += loss * n
        self._losses_n += n
        self._images += n
        self._batches_done += 1
        smooth = self.smooth.add(loss)
        now = time.perf_counter()
        last = trainer.iter == trainer.n_iter - 1
        if not last and now - self._last_sent < self.min_interval:
            return
        self._last_sent = now
        elapsed = now - self._epoch_t0
        g = trainer.opt.param_groups[-1]
        self._keep_trace(trainer, smooth, float(g["lr"]), last)
        trainer.sink(BatchEnd(epoch=trainer.epoch, batch=trainer.iter, n_batches=trainer.n_iter,
                              step=trainer.step, loss=loss, smooth_loss=smooth, lr=float(g["lr"]),
                              mom=get_momentum(g), images_per_sec=self._images / max(elapsed, 1e-9),
                              eta_s=self.eta(trainer, now)))

    def after_train(self, trainer) -> None:
        self._train_seconds = time.perf_counter() - self._epoch_t0
        self._train_time += self._train_seconds

    def before_validate(self, trainer) -> None:
        self._valid_t0 = time.perf_counter()

    def after_validate(self, trainer) -> None:
        self._valid_times.append(time.perf_counter() - self._valid_t0)

    # ------------------------------------------------------------------ helpers
    def _keep_trace(self, trainer, smooth: float, lr: float, last: bool) -> None:
        """One point of the batch curve as the live view draws it, at most TRACE_PER_EPOCH an epoch."""
        x = trainer.epoch + (trainer.iter + 1) / max(1, trainer.n_iter)
        gap = 1.0 / TRACE_PER_EPOCH
        if _finite(smooth) and (last or not self.trace or x - self.trace[-1][0] >= gap - 1e-9):
            self.trace.append((float(x), float(smooth), float(lr)))

    def eta(self, trainer, now: float | None = None) -> float:
        """Seconds left in the fit: time per batch so far x batches left, plus validations left; a
        callback that plans the run (``seconds_left``, the time budget's keeper) knows better."""
        for cb in getattr(trainer, "callbacks", ()):
            left = getattr(cb, "seconds_left", None)
            planned = left(trainer) if callable(left) else None
            if planned is not None:
                return max(0.0, float(planned))
        now = time.perf_counter() if now is None else now
        spent = self._train_time + (now - self._epoch_t0 if trainer.training else 0.0)
        per_batch = spent / max(1, self._batches_done)
        left = (trainer.n_epochs - trainer.epoch) * trainer.n_iter - (trainer.iter + 1)
        v = sum(self._valid_times) / len(self._valid_times) if self._valid_times else per_batch
        return max(0.0, per_batch * max(0, left) + v * (trainer.n_epochs - trainer.epoch))

    def is_better(self, monitor: str, value: float, loss: float | None = None) -> bool:
        """Whether an epoch with ``monitor`` = ``value`` (and validation loss ``loss``) beats the best
        so far: higher accuracy, or equal accuracy and a lower validation loss; lower valid_loss."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best_value is None:
            return True
        if monitor != "accuracy":
            return value < self.best_value
        if value != self.best_value:
            return value > self.best_value
        return _finite(loss) and (not _finite(self.best_loss) or loss < self.best_loss)

    def end_epoch(self, trainer) -> dict:
        """Append the epoch's history row, update the best, send EpochEnd; returns the row."""
        seconds = time.perf_counter() - self._epoch_t0
        train_loss = self._losses_sum / max(1, self._losses_n)
        m = trainer.metrics
        monitor = trainer.cfg.tricks.monitor
        is_best = self.is_better(monitor, m.get(monitor), m.get("valid_loss"))
        if is_best:
            self.best_value, self.best_epoch = float(m[monitor]), trainer.epoch
            self.best_loss = float(m["valid_loss"]) if _finite(m.get("valid_loss")) else None
        ips = self._images / max(getattr(self, "_train_seconds", seconds), 1e-9)
        lr = float(trainer.opt.param_groups[-1]["lr"])
        row = {"epoch": trainer.epoch, "train_loss": train_loss, "valid_loss": m.get("valid_loss", float("nan")),
               "accuracy": m.get("accuracy", float("nan")), "lr": lr, "seconds": seconds, "images_per_sec": ips}
        if "top5" in m:   # with more than 5 classes: a resumed run draws it for its earlier epochs too
            row["top5"] = m["top5"]
        self.history.append(row)
        trainer.is_best = is_best
        extra = {k: v for k, v in m.items() if k != "valid_loss"}
        trainer.sink(EpochEnd(epoch=trainer.epoch, train_loss=train_loss, valid_loss=row["valid_loss"],
                              metrics=extra, lr=lr, seconds=seconds, images_per_sec=ips, is_best=is_best))
        return row

    def state_dict(self) -> dict:
        return {"smooth_avg": self.smooth.avg, "smooth_count": self.smooth.count,
                "history": [dict(r) for r in self.history], "trace": list(self.trace),
                "best_value": self.best_value, "best_loss": self.best_loss, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.smooth.avg = float(state.get("smooth_avg", 0.0))
        self.smooth.count = int(state.get("smooth_count", 0))
        self.history = [dict(r) for r in state.get("history", [])]
        self.trace = [p for p in map(trace_point, state.get("trace") or []) if p is not None]
        self.best_value = state.get("best_value")
        self.best_loss = state.get("best_loss")
        self.best_epoch = int(state.get("best_epoch", -1))
