"""Suggest a recipe: from the dataset's facts, the weights at hand and this machine's speed, choose the
options that matter, each with a one-line reason (``Choice``). Compute only: data in, data out.

Inputs are plain: ``DataFacts`` (from a scanned Dataset and its stats), ``pretrained(arch) -> path | ""``
(a weights file the user gave for an architecture: ``model.weights``), ``pretrained_tag(arch) -> tag | ""``
(a pretrained tag whose weights are in the local cache: ``weights.cached_tag``, never downloads),
``on_disk(prefer)`` (the ImageNet weights on this machine, bundled first: ``pretrained.weights_on_disk``) and
``speed(arch, size, batch) -> training images/s`` (default: ``measure_speed``, a few steps
on synthetic input). The rules and the measurements behind them are listed in the README
("Suggest a recipe"); the thresholds are the constants below.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .config import RunConfig, drop_reasons  # noqa: F401  (drop_reasons: part of this module's API)
from .device import autocast, pick_device, pick_precision
from .models import create_model
from .first_run import PHOTO_MIN_SIDE, fine_tune_size
from .pretrained import weights_on_disk as on_disk_weights
from .weights import DEFAULT_TAG, WeightsError, bundled_source, cached_tag, spec

SIZES = (48, 64, 96, 128, 160, 224)
NATIVE_FALLBACK = 224       # the input size of weights whose own size is unknown (most ImageNet weights)
MIN_EPOCHS_SCRATCH = 15     # fewer epochs than this from scratch: a smaller image size is worth more
MIN_EPOCHS_FINETUNE = 5
SHORT_RUN_EPOCHS = 10       # below this, light augmentation (the run is too short to use strong)
MIX_MIN_EPOCHS = 40         # MixUp / CutMix only for runs at least this long
EMA_MIN_STEPS = 100         # weight averaging needs enough steps to average over
SMALL_DATASET = 2000        # training images below which batches of 32 give twice the updates
# a time budget's seconds besides the epochs (this machine, nette-mini: 4.2-4.6 s from the command's start to
# the probe, a probe of 1.5-2 s, 1-1.5 s for the last checkpoint write and the end)
TRAIN_STARTUP_S = 3.0       # a train command before its data: the interpreter and torch
STARTUP_S_PER_IMAGE = 0.004  # then the scan, health check and cache, per image
PROBE_S = 1.5               # the planner's measurement of this machine
END_S = 1.5                 # after the last epoch: its checkpoint write, reloading the best weights
SCRATCH_LR, FINETUNE_LR = 3e-3, 1e-3
PRECISION_MARGIN = 0.05     # fp32 replaces auto's bf16 on a CPU when it trains at least this much faster


@dataclass(frozen=True)
class DataFacts:
    n_classes: int
    n_train: int
    n_valid: int
    per_class_min: int
    per_class_median: float
    imbalance: float            # largest / smallest class (training split)
    median_side: float          # median of the shorter image side, px

    @classmethod
    def from_dataset(cls, ds, stats=None) -> "DataFacts":
        counts = [c for c in ds.counts("train").values()] or [0]
        sides = []
        if stats is not None and len(getattr(stats, "widths", [])):
            sides = np.minimum(stats.widths, stats.heights)
            sides = sides[sides > 0]
        return cls(n_classes=len(ds.classes), n_train=len(ds.train), n_valid=len(ds.valid),
                   per_class_min=int(min(counts)), per_class_median=float(np.median(counts)),
                   imbalance=float(max(counts) / max(1, min(counts))),
                   median_side=float(np.median(sides)) if len(sides) else 0.0)


@dataclass(frozen=True)
class Choice:
    key: str
    value: Any
    reason: str


@dataclass
class Suggestion:
    config: RunConfig
    choices: list[Choice]
    facts: DataFacts
    speed: dict = field(default_factory=dict)   # {image size: measured training images/s}
    epochs_estimate: int = 0

    def reasons(self) -> dict[str, str]:
        return {c.key: c.reason for c in self.choices}

    def to_toml(self) -> str:
        lines = ["# suggested recipe: why each option was chosen", *(f"#   {c.key} = {c.value!r}: {c.reason}"
                                                                   for c in self.choices)]
        return "\n".join(lines) + "\n" + self.config.to_toml()


def reason_lines(choices: list[Choice]) -> tuple[str, ...]:
    """The ``reasons`` entry of a config: one "key: reason" string per choice."""
    return tuple(f"{c.key}: {c.reason}" for c in choices)


def parse_reasons(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        key, _, reason = str(line).partition(": ")
        if key and reason:
            out[key] = reason
    return out


def measure_speed(arch: str, size: int, batch: int, n_classes: int = 10, device: str = "auto",
                  precision: str = "auto", steps: int = 4, warmup: int = 3) -> float:
    """Training images/s of ``arch`` at ``size`` px on this machine: forward + backward + AdamW step on
    synthetic input, after ``warmup`` steps (the first ones after building a model are slower)."""
    dev = pick_device(device)
    prec = pick_precision(dev, precision)
    model = create_model(arch, n_classes).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, size, size, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, n_classes, (batch,), device=dev)
    t0 = 0.0
    for i in range(steps + warmup):
        if i == warmup:
            t0 = time.perf_counter()
        with autocast(dev, prec):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / max(1e-9, time.perf_counter() - t0)


def weights_on_disk(cfg: RunConfig) -> Callable[[str], str]:
    """``pretrained(arch) -> path or ""``: the weights file the user gave (``model.weights``, for its
    ``model.arch``); cached library weights come from ``pretrained_tag``."""
    return lambda arch: cfg.model.weights if arch == cfg.model.arch and cfg.model.weights else ""


def native_size(arch: str, tag: str = "") -> int:
    """The input size the weights of ``arch`` (tag ``tag``, else its default) were trained at; 224 when
    unknown (a weights file of your own)."""
    try:
        return spec(arch, tag or DEFAULT_TAG).input_size or NATIVE_FALLBACK
    except (WeightsError, RuntimeError):
        return NATIVE_FALLBACK


def _fine_tune_why(size: int, native: int) -> str:
    if size == native:
        return "the weights' native size"
    return (f"the photos' own size, below the weights' {native} px: upsampling cost 2.7x the time for the same "
            f"accuracy (measured, README)")


def _epochs_for(facts: DataFacts, ips: float, budget_s: float, checkpoint_share: float = 0.1) -> int:
    """Epochs that fit ``budget_s`` at ``ips`` training images/s (validation at 3x that speed), as the
    planner will count them: start-up, probe and end aside, paced checkpoints at most their share."""
    fixed = TRAIN_STARTUP_S + STARTUP_S_PER_IMAGE * (facts.n_train + facts.n_valid) + PROBE_S + END_S
    per_epoch = (facts.n_train / ips + facts.n_valid / (3 * ips)) * (1 + checkpoint_share)
    return max(1, int((budget_s - fixed) / max(1e-9, per_epoch)))


def _speed_model(measured: dict, sizes: list[int], measure: Callable[[int], float]) -> Callable[[int], float]:
    """Training images/s at any size, from measurements at the two smallest candidate sizes (into
    ``measured``): seconds per image affine in the area, as the planner models a step. Small images do
    not train proportionally faster (a step has a fixed part: at 48 and 64 px this CPU measured about the
    same speed), and beyond the measured sizes the time grows at least half as fast as the area."""
    for size in sizes[:2]:
        measured.setdefault(size, measure(size))
    if len(sizes) < 2:
        return lambda size: measured[sizes[0]] * (sizes[0] / size) ** 2
    (s0, s1), (t0, t1) = sizes[:2], (1 / measured[sizes[0]], 1 / measured[sizes[1]])
    slope = max((t1 - t0) / (s1 ** 2 - s0 ** 2), 0.5 * t1 / s1 ** 2)
    return lambda size: measured[size] if size in measured else 1 / max(1e-9, t1 + slope * (size ** 2 - s1 ** 2))


def _choose_precision(cfg: RunConfig, choose, auto_ips: float, precision_speed, size: int, bs: int) -> float:
    """Where ``auto`` means bf16 on a CPU (native bf16), measure fp32 too: some CPUs with native bf16
    train a small net faster in fp32 (this Intel Xeon: 123 vs 105 img/s at 64 px). Returns the
    speed of the precision the recipe will train in."""
    dev = pick_device(cfg.train.device)
    if cfg.train.precision != "auto" or dev.type != "cpu" or pick_precision(dev, "auto") != "bf16":
        return auto_ips
    fp32 = precision_speed(cfg.model.arch, size, bs, "fp32")
    if fp32 >= auto_ips * (1 + PRECISION_MARGIN):
        choose("train.precision", "fp32", f"fp32 trains {fp32 / auto_ips:.2f}x as fast as bf16 on this CPU at {size} px "
                                          f"({fp32:.0f} vs {auto_ips:.0f} img/s measured)")
        return fp32
    choose("train.precision", "auto", f"bf16 (auto on this CPU) measured {auto_ips:.0f} img/s, fp32 {fp32:.0f} "
                                      f"at {size} px")
    return auto_ips


def suggest(facts: DataFacts, base: RunConfig | None = None, budget_minutes: float = 0.0,
            speed: Callable[[str, int, int], float] | None = None,
            pretrained: Callable[[str], str] | None = None,
            pretrained_tag: Callable[[str], str] | None = None,
            precision_speed: Callable[[str, int, int, str], float] | None = None,
            on_disk: Callable[[tuple], tuple | None] | None = None) -> Suggestion:
    """A recipe for this dataset on this machine (``base`` supplies everything not chosen here).
    ``precision_speed(arch, size, batch, precision)``: training images/s in that precision (default:
    ``measure_speed``; with a ``speed`` given and no ``precision_speed``, precision is not compared).
    ``on_disk(prefer) -> (arch, tag, origin) | None``: the ImageNet weights on this machine (default:
    ``pretrained.weights_on_disk``, bundled first, then cached)."""
    cfg = base or RunConfig()
    pretrained = pretrained or weights_on_disk(cfg)
    pretrained_tag = pretrained_tag or cached_tag
    choices: list[Choice] = []

    def choose(key: str, value: Any, reason: str) -> None:
        nonlocal cfg
        cfg = cfg.set(key, value)
        choices.append(Choice(key, cfg.get(key), reason))

    # architecture and weights: a file the user gave for the recipe's architecture, else cached weights
    # of an architecture the recipe names, else the weights on disk (bundled with the install first,
    # then cached); never a download
    arch, tag, origin = cfg.model.arch, "", ""
    weights = pretrained(arch)
    if not weights and arch != RunConfig().model.arch:
        tag = pretrained_tag(arch)
        origin = "bundled" if tag and bundled_source(arch, tag) is not None else "cached"
    photos = not facts.median_side or facts.median_side >= PHOTO_MIN_SIDE
    if not (weights or tag) and photos:
        found = (on_disk or on_disk_weights)((arch,))
        if found is not None:
            arch, tag, origin = found
    finetune = bool(weights or tag)
    native = native_size(arch, tag) if finetune else 0
    if finetune:
        per_class = f"{facts.per_class_median:.0f} images per class"
        if tag:
            where = "bundled with the install" if origin == "bundled" else "in the local cache"
            choose("model.arch", arch, f"pretrained weights {arch}:{tag} are {where}")
            choose("model.pretrained", tag, f"fine-tuning pretrained weights beats training from scratch on {per_class}")
        else:
            choose("model.arch", arch, f"pretrained weights for {arch} are on disk")
            choose("model.weights", weights, f"fine-tuning pretrained weights beats training from scratch on {per_class}")
        choose("tricks.freeze_epochs", 1, "fine-tune: one epoch trains only the new head, then all layers")
        choose("tricks.lr_mult", 100.0, "discriminative rates after unfreezing: the first layers learn 100x slower")
        choose("train.lr", FINETUNE_LR, "a lower peak rate keeps the pretrained features")
    else:
        why = ("no pretrained weights on disk" if photos else
               f"images of {facts.median_side:.0f} px are not photos (below {PHOTO_MIN_SIDE} px)")
        choose("model.arch", "resnet18", f"{why}: resnet18 from scratch, the smallest standard net (the demo recipe)")
        choose("train.lr", SCRATCH_LR, "from scratch: the demo recipe's peak rate")

    bs = 32 if facts.n_train < SMALL_DATASET else 64
    choose("data.batch_size", bs, f"{facts.n_train} training images: {math.ceil(facts.n_train / bs)} steps per epoch"
           + (" (32 doubles the updates of a small set)" if bs == 32 else ""))

    # image size: a fine-tune keeps the weights' native size (a short budget buys fewer epochs, not fewer
    # pixels); from scratch, from the images and, with a budget, from the measured speed
    cap = facts.median_side or max(SIZES)
    own = native
    if finetune:
        native = fine_tune_size(own, facts.median_side)
    sizes = [native] if finetune else ([s for s in SIZES if s <= cap] or [max(16, int(cap // 8 * 8))])
    measured: dict[int, float] = {}
    speed_fn = speed or (lambda a, s, b: measure_speed(a, s, b, facts.n_classes))
    min_epochs = MIN_EPOCHS_FINETUNE if finetune else MIN_EPOCHS_SCRATCH
    budget_s = float(budget_minutes) * 60.0
    share = cfg.train.checkpoint_share
    if budget_s > 0:
        speed_at = _speed_model(measured, sizes, lambda size: speed_fn(cfg.model.arch, size, bs))
        size = next((s for s in reversed(sizes) if _epochs_for(facts, speed_at(s), budget_s, share) >= min_epochs),
                    sizes[0])
        if size not in measured:
            measured[size] = speed_fn(cfg.model.arch, size, bs)
        if precision_speed is None and speed is None:
            precision_speed = lambda a, s, b, p: measure_speed(a, s, b, facts.n_classes, precision=p)  # noqa: E731
        if precision_speed is not None:
            measured[size] = _choose_precision(cfg, choose, measured[size], precision_speed, size, bs)
        epochs = _epochs_for(facts, measured[size], budget_s, share)
        if finetune:
            short = (f"; fewer than {min_epochs} fit, but the weights' size is kept: a short budget buys fewer "
                     f"epochs, not fewer pixels" if epochs < min_epochs else "")
            choose("data.image_size", size, f"{_fine_tune_why(size, own)}; {measured[size]:.0f} img/s measured here: "
                   f"about {epochs} epochs fit {budget_minutes:g} min{short}")
        else:
            choose("data.image_size", size, f"{measured[size]:.0f} img/s measured here at {size} px: about {epochs} "
                   f"epochs fit {budget_minutes:g} min" + (f" (a larger size would give fewer than {min_epochs})"
                                                             if size < sizes[-1] else ""))
        choose("train.budget_minutes", float(budget_minutes), "the time you gave; the planner fixes the epochs "
                                                              "before the start")
    else:
        size = native if finetune else min(128, sizes[-1])
        choose("data.image_size", size, _fine_tune_why(size, own) if finetune else
               f"images have a median short side of {facts.median_side:.0f} px"
               if facts.median_side else "the default size")
        epochs = cfg.train.epochs
        choose("train.epochs", epochs, "no time budget given (suggest --budget-minutes N plans the epochs)")

    # regularisation by run length and data size
    if epochs < SHORT_RUN_EPOCHS:
        choose("augment.min_scale", 0.5, f"a short run (~{epochs} epochs) cannot use deep crops; lighter augmentation")
        choose("augment.max_warp", 0.1, "lighter augmentation for a short run")
    else:
        choose("augment.min_scale", 0.35, f"{epochs} epochs: the default random-resized crops")
    if facts.per_class_median < 100 and epochs >= SHORT_RUN_EPOCHS:
        choose("augment.erase_p", 0.25, f"only {facts.per_class_median:.0f} images per class: random erasing "
                                        "against over-fitting")
    choose("tricks.label_smoothing", 0.1, "softer targets; the demo recipe's value")
    mix = epochs >= MIX_MIN_EPOCHS
    choose("tricks.mixup", 0.4 if mix else 0.0, f"MixUp {'on' if mix else 'off'}: ~{epochs} epochs "
           f"({'long enough' if mix else 'too short'}; it pays off from ~{MIX_MIN_EPOCHS})")
    choose("tricks.cutmix", 1.0 if mix else 0.0, f"CutMix {'on' if mix else 'off'} with MixUp (run length)")
    steps = epochs * math.ceil(facts.n_train / bs)
    ema = steps >= EMA_MIN_STEPS
    choose("tricks.ema", ema, f"~{steps} optimizer steps: weight averaging {'on' if ema else 'off'} "
                              f"(it needs at least {EMA_MIN_STEPS} to average over)")
    if facts.imbalance >= 3:
        choose("tricks.class_balance", "sampler", f"classes differ {facts.imbalance:.0f}x in size: oversample the rare ones")
    cfg = cfg.set("reasons", reason_lines(choices))
    return Suggestion(cfg, choices, facts, measured, epochs)
