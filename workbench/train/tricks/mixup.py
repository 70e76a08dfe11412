"""MixUp and CutMix as one callback (one object switching modes, per batch).

Each training batch is mixed with a permutation of itself and its targets become soft targets
(one-hot mixed by lambda). With both alphas on, each batch picks MixUp or CutMix at random (50/50).
Randomness comes from ``(seed, batch counter)`` only, so a resumed run (counter restored from
``state_dict``) mixes exactly like an uninterrupted one, on any device. Validation is untouched.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..callback import Callback


@dataclass(frozen=True)
class MixParams:
    """What one batch gets: mode ("mixup" | "cutmix"), lambda (share of the original image),
    the permutation and, for CutMix, the pasted box (y0, y1, x0, x1)."""
    mode: str
    lam: float
    perm: np.ndarray
    box: tuple = ()


def cutmix_box(lam: float, h: int, w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A box covering about (1 - lam) of an h x w image, centred uniformly, clipped to the image."""
    cut = np.sqrt(max(0.0, 1.0 - lam))
    ch, cw = int(round(h * cut)), int(round(w * cut))
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    y0, y1 = int(np.clip(cy - ch // 2, 0, h)), int(np.clip(cy + ch - ch // 2, 0, h))
    x0, x1 = int(np.clip(cx - cw // 2, 0, w)), int(np.clip(cx + cw - cw // 2, 0, w))
    return y0, y1, x0, x1


class MixUpCutMix(Callback):
    """MixUp (``mixup_alpha``) and/or CutMix (``cutmix_alpha``); alpha 0 turns a mode off."""
    order = -20  # before anything that looks at the batch

    def __init__(self, n_classes: int, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0,
                 seed: int = 0) -> None:
        if mixup_alpha <= 0 and cutmix_alpha <= 0:
            raise ValueError("MixUpCutMix needs mixup_alpha > 0 or cutmix_alpha > 0")
        self.n_classes = int(n_classes)
        self.mixup_alpha = float(mixup_alpha)
        self.cutmix_alpha = float(cutmix_alpha)
        self.seed = int(seed)
        self.counter = 0          # training batches mixed so far (the random stream position)
        self.last: MixParams | None = None
        self._orig: tuple | None = None

    # ------------------------------------------------------------------ pure parts
    def params_for(self, counter: int, n: int, h: int, w: int) -> MixParams:
        """The mixing parameters of batch number ``counter`` (deterministic)."""
        rng = np.random.default_rng([self.seed, 0x6D1C, counter])
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            mode = "cutmix" if rng.random() < 0.5 else "mixup"
        else:
            mode = "mixup" if self.mixup_alpha > 0 else "cutmix"
        alpha = self.mixup_alpha if mode == "mixup" else self.cutmix_alpha
        lam = float(rng.beta(alpha, alpha))
        perm = rng.permutation(n)
        if mode == "mixup":
            return MixParams(mode, lam, perm)
        box = cutmix_box(lam, h, w, rng)
        y0, y1, x0, x1 = box
        lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)  # the area really pasted
        return MixParams(mode, lam, perm, box)

    def mix(self, xb: torch.Tensor, yb: torch.Tensor, p: MixParams) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed images and soft targets (rows sum to 1) for one batch."""
        perm = torch.as_tensor(p.perm, device=xb.device, dtype=torch.long)
        if p.mode == "mixup":
            x = xb * p.lam + xb[perm] * (1.0 - p.lam)
        else:
            y0, y1, x0, x1 = p.box
            x = xb.clone()
            x[:, :, y0:y1, x0:x1] = xb[:, :, y0:y1, x0:x1][perm]
        if yb.is_floating_point():      # already soft (another trick): mix as given
            soft = yb.float()
        else:
            soft = F.one_hot(yb.long(), self.n_classes).float()
        y = soft * p.lam + soft[perm] * (1.0 - p.lam)
        return x, y

    # ------------------------------------------------------------------ hooks
    def before_batch(self, trainer) -> None:
        if not getattr(trainer, "training", False):
            return
        xb, yb = trainer.xb, trainer.yb
        if xb.shape[0] < 2:
            self.counter += 1
            return
        p = self.params_for(self.counter, xb.shape[0], xb.shape[-2], xb.shape[-1])
        self.counter += 1
        self._orig = (xb, yb)
        self.last = p
        trainer.xb, trainer.yb = self.mix(xb, yb, p)

    def _restore(self, trainer) -> None:
        if self._orig is not None:
            trainer.xb, trainer.yb = self._orig
            self._orig = None

    def after_batch(self, trainer) -> None:
        self._restore(trainer)  # later code sees the real labels again

    def after_cancel_batch(self, trainer) -> None:
        self._restore(trainer)

    def after_cancel_epoch(self, trainer) -> None:
        self._restore(trainer)

    def after_cancel_fit(self, trainer) -> None:
        self._restore(trainer)

    def after_fit(self, trainer) -> None:
        self._restore(trainer)

    def state_dict(self) -> dict:
        return {"counter": self.counter}

    def load_state_dict(self, state: dict) -> None:
        self.counter = int(state.get("counter", 0))
