"""Progressive resizing: train on small images first and grow to the full size.

Only the output size of the training batch transform changes (``train_loader.image_size``); the
decoded image cache is never rebuilt. Validation always runs at the final size, so validation
metrics stay comparable across epochs.
"""
from __future__ import annotations

from ..callback import Callback


def round8(size: float) -> int:
    return int(round(size / 8.0) * 8)


def default_start_size(final: int) -> int:
    """Half the final size, rounded to a multiple of 8, at least 16 (never above the final size)."""
    return min(final, max(16, round8(final // 2)))


def size_schedule(n_epochs: int, final: int, start: int = 0, end_pct: float = 0.75) -> list[int]:
    """Training image size per epoch: linear from ``start`` (0 = default) to ``final``, reached
    when ``epoch / (n_epochs - 1) >= end_pct``; intermediate sizes are multiples of 8."""
    start = default_start_size(final) if start <= 0 else min(int(start), final)
    if n_epochs <= 1:
        return [final] * max(n_epochs, 0)
    end_epoch = max(1, int(round(end_pct * (n_epochs - 1))))
    sizes = []
    for e in range(n_epochs):
        t = min(1.0, e / end_epoch)
        s = final if t >= 1.0 else min(final, max(16, round8(start + (final - start) * t)))
        sizes.append(int(s))
    return sizes


class ProgressiveResize(Callback):
    """Set ``trainer.train_loader.image_size`` each epoch from :func:`size_schedule`."""
    order = -30  # before the trainer reports the epoch's image size

    def __init__(self, final_size: int, start_size: int = 0, end_pct: float = 0.75) -> None:
        self.final_size = int(final_size)
        self.start_size = int(start_size)
        self.end_pct = float(end_pct)
        self.current = 0

    def size_for(self, epoch: int, n_epochs: int) -> int:
        sizes = size_schedule(n_epochs, self.final_size, self.start_size, self.end_pct)
        return sizes[min(max(epoch, 0), len(sizes) - 1)] if sizes else self.final_size

    def before_fit(self, trainer) -> None:
        self.current = 0
        trainer.valid_loader.image_size = self.final_size

    def before_epoch(self, trainer) -> None:
        size = self.size_for(trainer.epoch, trainer.n_epochs)
        trainer.train_loader.image_size = size
        if size != self.current:
            trainer.log(f"progressive resizing: training images at {size} px"
                        + ("" if size < self.final_size else " (final size)"))
        self.current = size

    def after_fit(self, trainer) -> None:
        trainer.train_loader.image_size = self.final_size
        trainer.valid_loader.image_size = self.final_size
