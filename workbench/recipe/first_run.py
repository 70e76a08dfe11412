"""The recipe a new dataset of photos gets: the fine-tune of the ImageNet weights on this machine.

``workbench train DATASET`` without a recipe that names its model, and the app's first recipe for a
newly opened dataset, start from the weights ``pretrained.weights_on_disk`` finds (bundled with the
install first, then cached) instead of training resnet18 from scratch, when the images are photos:
a median short side of at least ``PHOTO_MIN_SIDE`` px (tiny synthetic images such as the built-in
demo's 64-px shapes train from scratch at their own size, with their own recipe). The recipe is the
architecture and tag of those weights, their native input size (``fine_tune_size``) and ``FIRST_RUN_EPOCHS`` (keys the user
set stay), plus the pretrained recipe defaults; one line says what was chosen and why, and names the
switch back to training from scratch. Never touches the network.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from ..config import RunConfig
from ..data.demo import is_demo
from ..data.loader import batches_per_epoch
from ..data.pipeline import batch_warning, enough_steps_batch
from ..data.scan import IMAGE_EXTS
from .pretrained import NO_COST_SIZE, pretrained_defaults, weights_on_disk
from ..models.weights import WeightsError, spec

PHOTO_MIN_SIDE = 96        # median short side (px) from which a dataset counts as photos
FIRST_RUN_EPOCHS = 5       # without a time budget (README, "Pretrained models": measured on nette-mini)
SAMPLE = 64                # images whose header is read to judge a folder
MODEL_KEYS = ("model.arch", "model.pretrained", "model.weights")


@dataclass(frozen=True)
class FirstRun:
    config: RunConfig
    line: str = ""             # one line: the fine-tune and why ('' when the recipe was left alone)
    notes: tuple = ()          # the pretrained recipe defaults that changed

    @property
    def applied(self) -> bool:
        return bool(self.line)


def names_model(explicit: Iterable[str]) -> bool:
    """Whether the user's recipe file or --set names the model (then it is left alone)."""
    return any(k.startswith("model.") for k in explicit)


def plain_model(cfg: RunConfig) -> bool:
    """The recipe's model is the library default (resnet18, no weights)."""
    plain = RunConfig().model
    return all(cfg.get(k) == getattr(plain, k.split(".", 1)[1]) for k in MODEL_KEYS)


def median_short_side(root: str | os.PathLike, n: int = SAMPLE) -> float:
    """Median short side (px) of up to ``n`` images spread over the folder (only headers are read);
    0 when none can be read."""
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        paths += [os.path.join(dirpath, f) for f in sorted(filenames)
                  if os.path.splitext(f)[1].lower() in IMAGE_EXTS]
    if not paths:
        return 0.0
    sides = []
    for i in np.linspace(0, len(paths) - 1, min(n, len(paths))).round().astype(int):
        try:
            with Image.open(paths[i]) as im:
                sides.append(min(im.size))
        except Exception:  # noqa: BLE001 - an unreadable file is the health check's business
            continue
    return float(np.median(sides)) if sides else 0.0


def fine_tune_size(native: int, median_side: float) -> int:
    """The image size of a fine-tune: the weights' native size, or NO_COST_SIZE when the photos are
    smaller than native but at least that large (upsampling them to native cost 2.7x the time for the
    same accuracy, measured). Other sizes are not measured: native."""
    if native and NO_COST_SIZE <= median_side < native:
        return NO_COST_SIZE
    return native


def first_run(cfg: RunConfig, median_side: float, explicit: Iterable[str] = (), switch: str = "",
              found: tuple[str, str, str] | None = None, n_train: int = 0) -> FirstRun:
    """The first-run fine-tune of ``cfg`` (see the module docstring), or ``FirstRun(cfg)`` when the
    recipe names its model, the images are not photos, the dataset is the demo or no weights are on
    disk. ``switch`` is how to train from scratch instead (a flag, a checkbox), named in the line.
    With ``n_train`` (training images), a default batch size that leaves under two full batches per
    epoch becomes the one the recipe check proposes (``enough_steps_batch``)."""
    explicit = set(explicit)
    if names_model(explicit) or not plain_model(cfg) or median_side < PHOTO_MIN_SIDE:
        return FirstRun(cfg)
    if cfg.data.path and is_demo(Path(cfg.data.path).expanduser()):
        return FirstRun(cfg)
    found = found or weights_on_disk()
    if found is None:
        return FirstRun(cfg)
    arch, tag, origin = found
    out = cfg.set("model.arch", arch).set("model.pretrained", tag)
    try:
        native = spec(arch, tag).input_size
    except WeightsError:
        native = 0
    plain = RunConfig()
    if native and "data.image_size" not in explicit and cfg.data.image_size == plain.data.image_size:
        out = out.set("data.image_size", fine_tune_size(native, median_side))
    batch = ""
    if (n_train and "data.batch_size" not in explicit and cfg.data.batch_size == plain.data.batch_size
            and batch_warning(n_train, cfg.data.batch_size)):
        bs = enough_steps_batch(n_train)
        out = out.set("data.batch_size", bs)
        batch = f" in batches of {bs} ({batches_per_epoch(n_train, bs)} steps per epoch for {n_train} training images)"
    timed = out.train.budget_minutes > 0
    if not timed and "train.epochs" not in explicit and cfg.train.epochs == plain.train.epochs:
        out = out.set("train.epochs", FIRST_RUN_EPOCHS)
    out, notes = pretrained_defaults(out, explicit)
    where = "bundled with the install" if origin == "bundled" else "in the local weights cache"
    length = f"a {out.train.budget_minutes:g}-minute budget" if timed else f"{out.train.epochs} epochs"
    size = (f"{out.data.image_size} px" if out.data.image_size in (native, cfg.data.image_size) or not native else
            f"{out.data.image_size} px (the photos' size; the weights' {native} px costs more time, not accuracy)")
    line = (f"first run: fine-tuning ImageNet-pretrained {arch}:{tag} ({where}) at {size} "
            f"for {length}{batch}, because these are photos (median short side {median_side:.0f} px) and "
            f"fine-tuning beats training from scratch on them" + (f"; {switch}" if switch else ""))
    return FirstRun(out, line, tuple(notes))
