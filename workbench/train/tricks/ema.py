"""Weight averaging: an exponential moving average (EMA) of the weights, kept on the training device.

After every optimizer step each floating-point parameter is blended, ``ema = decay * ema + (1 - decay)
* weight``; buffers (BatchNorm running statistics, counters) are copied. ``decay = 0`` means auto: the
averaging window ``1 / (1 - decay)`` is ``WINDOW_PCT`` of the run's optimizer steps.

Validation, checkpoints, best-model selection and export see the EMA weights: before validation the
model's weights and the average trade places, and they trade back when the next epoch starts training.
So between epochs (when checkpoints are written) the model holds the average and this callback holds
the raw training weights; its state (the raw weights, the decay, the number of updates, which side is
where) is one entry of the checkpoint's callback states, so a resumed run continues exactly. After the
fit the model keeps the average.
"""
from __future__ import annotations

import torch

from ..callback import Callback

WINDOW_PCT = 0.03      # auto decay: the averaging window is this share of the run's steps
MAX_AUTO_DECAY = 0.9999


def auto_decay(total_steps: int, window_pct: float = WINDOW_PCT) -> float:
    """Decay whose window 1 / (1 - decay) is ``window_pct`` of ``total_steps`` (at least 1 step)."""
    window = max(1.0, window_pct * max(1, int(total_steps)))
    return min(MAX_AUTO_DECAY, 1.0 - 1.0 / window)


class WeightAverage(Callback):
    """EMA of the model weights; see the module docstring."""
    order = 90  # validation hooks run after the trainer's own, before early stopping looks at metrics

    def __init__(self, decay: float = 0.0) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.requested = float(decay)
        self.decay = float(decay)
        self.updates = 0
        self.shadow: dict[str, torch.Tensor] | None = None   # the other copy (EMA, or raw when swapped)
        self.swapped = False                                  # True: the model holds the EMA weights
        self._params: set[str] = set()

    # ------------------------------------------------------------------ helpers
    def _entries(self, model) -> dict[str, torch.Tensor]:
        return model.state_dict(keep_vars=False)

    def _init(self, trainer) -> None:
        model = trainer.model
        self._params = {n for n, p in model.named_parameters()}
        if self.shadow is None:
            self.shadow = {k: v.detach().clone() for k, v in self._entries(model).items()}
            self.updates = 0
            self.swapped = False
        if self.requested > 0:
            self.decay = self.requested
        elif self.updates == 0:
            accum = max(1, int(getattr(trainer.cfg.train, "grad_accum", 1)))
            steps = trainer.n_epochs * max(1, len(trainer.train_loader)) // accum
            self.decay = auto_decay(steps)

    @torch.no_grad()
    def _swap(self, trainer) -> None:
        for k, v in self._entries(trainer.model).items():
            s = self.shadow[k]
            tmp = v.detach().clone()
            v.copy_(s)
            s.copy_(tmp)
        self.swapped = not self.swapped

    # ------------------------------------------------------------------ hooks
    def before_fit(self, trainer) -> None:
        self._init(trainer)
        trainer.log(f"weight averaging (EMA): decay {self.decay:.5g} "
                    f"(window {1 / (1 - self.decay):.0f} steps)")

    def before_train(self, trainer) -> None:
        first = next(iter(trainer.model.state_dict().values()), None)
        if first is not None and self.shadow and next(iter(self.shadow.values())).device != first.device:
            self.shadow = {k: v.to(first.device) for k, v in self.shadow.items()}  # after an OOM rollback
        if self.swapped:
            self._swap(trainer)  # train the raw weights again

    @torch.no_grad()
    def after_step(self, trainer) -> None:
        if self.swapped:
            return
        d = self.decay
        for k, v in self._entries(trainer.model).items():
            s = self.shadow[k]
            if k in self._params and v.is_floating_point():
                s.lerp_(v.detach().to(s.dtype), 1.0 - d)
            else:
                s.copy_(v)
        self.updates += 1

    def before_validate(self, trainer) -> None:
        if not self.swapped and self.shadow is not None:
            self._swap(trainer)  # validate (and checkpoint) the average

    def after_fit(self, trainer) -> None:
        if self.shadow is not None and not self.swapped:
            self._swap(trainer)  # the model leaves the fit holding the average

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "swapped": self.swapped,
                "shadow": dict(self.shadow) if self.shadow is not None else {}}

    def load_state_dict(self, state: dict) -> None:
        shadow = state.get("shadow") or {}
        self.shadow = {k: v.detach().clone() for k, v in shadow.items()} if shadow else None
        self.decay = float(state.get("decay", self.decay))
        self.updates = int(state.get("updates", 0))
        self.swapped = bool(state.get("swapped", False))
