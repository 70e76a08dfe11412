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

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..config import RunConfig
from ..data.pipeline import batch_warning, enough_steps_batch, train_steps
from ..runtime.device import autocast, pick_device, pick_precision
from ..models.build import create_model
from .first_run import PHOTO_MIN_SIDE, fine_tune_size
from .reasons import AS_SET
from .pretrained import weights_on_disk as on_disk_weights
from ..models.weights import DEFAULT_TAG, WeightsError, bundled_source, cached_tag, spec

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
PRECISION_MARGIN = 0.05     # another precision / memory layout replaces the recipe's when at least this much faster
LAYOUT_ROUNDS = 3           # rounds of interleaved steps of the precision / layout candidates
LAYOUT_BATCH = 8            # their batch (the comparison, not the speed of the run: kept cheap)


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


RUN_LENGTH = ("train.epochs", "train.budget_minutes")   # the keys that set how long a run is


@dataclass(frozen=True)
class Choice:
    key: str
    value: Any
    reason: str
    depends: tuple = ()   # other keys whose values the reason speaks of (the run length: RUN_LENGTH)


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


def reason_lines(choices: list[Choice], cfg: RunConfig) -> tuple[str, ...]:
    """The ``reasons`` entry of a config: one "key: reason [as set: key = value; ...]" string per choice,
    which ends in the values the reason holds for (its option as chosen, and the options it speaks of as
    they are in ``cfg``): ``drop_stale_reasons`` drops it once one of them differs."""
    out = []
    for c in choices:
        values = {c.key: c.value, **{k: cfg.get(k) for k in c.depends if k != c.key}}
        out.append(f"{c.key}: {c.reason}{AS_SET}" + "; ".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
                   + "]")
    return tuple(out)


def measure_speed(arch: str, size: int, batch: int, n_classes: int = 10, device: str = "auto",
                  precision: str = "auto", steps: int = 3, warmup: int = 2) -> float:
    """Training images/s of ``arch`` at ``size`` px on this machine: forward + backward + AdamW step on
    synthetic input, the fastest of ``steps`` steps after ``warmup`` (the first ones after building a
    model are slower; another program slows a step down, never speeds one up)."""
    dev = pick_device(device)
    prec = pick_precision(dev, precision)
    model = create_model(arch, n_classes).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, size, size, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, n_classes, (batch,), device=dev)
    best = math.inf
    for i in range(steps + warmup):
        t = _timed_step(model, opt, x, y, dev, prec)
        if i >= warmup:
            best = min(best, t)
    return batch / max(1e-9, best)


def _timed_step(model, opt, x, y, dev, precision: str) -> float:
    """Seconds of one synthetic training step: forward, loss, backward, AdamW step."""
    t0 = time.perf_counter()
    with autocast(dev, precision):
        loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def measure_layouts(arch: str, size: int, batch: int, candidates: list[tuple[str, bool]], n_classes: int = 10,
                    device: str = "auto", rounds: int = LAYOUT_ROUNDS, warmup: int = 1) -> dict:
    """Training images/s of each (precision, channels_last) candidate, measured so that a busy machine
    does not decide: after ``warmup`` steps each, ``rounds`` rounds of one step per candidate in turn,
    and each candidate's fastest step is kept (another program slows a step down, never speeds it up;
    a busy moment hits one step of every candidate, not one candidate's whole measurement)."""
    dev = pick_device(device)
    built = {}
    for cl in sorted({bool(c) for _, c in candidates}):
        torch.manual_seed(0)
        model = create_model(arch, n_classes).to(dev)
        x = torch.randn(batch, 3, size, size, device=dev)
        if cl:
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        built[cl] = (model, torch.optim.AdamW(model.parameters(), lr=1e-3), x)
    y = torch.randint(0, n_classes, (batch,), device=dev)

    def step(precision: str, cl: bool) -> float:
        model, opt, x = built[bool(cl)]
        return _timed_step(model, opt, x, y, dev, precision)

    for _ in range(warmup):
        for c in candidates:
            step(*c)
    best = {c: math.inf for c in candidates}
    for _ in range(rounds):
        for c in candidates:
            best[c] = min(best[c], step(*c))
    return {c: batch / max(1e-9, t) for c, t in best.items()}


def layout_candidates(cfg: RunConfig) -> list[tuple[str, bool]]:
    """The (precision, channels_last) pairs worth comparing on this device for this recipe: on a CPU
    both memory layouts, and fp32 beside bf16 where ``auto`` means bf16 (native bf16); none on a GPU."""
    dev = pick_device(cfg.train.device)
    if dev.type != "cpu":
        return []
    auto = pick_precision(dev, cfg.train.precision)
    precisions = ["bf16", "fp32"] if cfg.train.precision == "auto" and auto == "bf16" else [auto]
    return [(p, cl) for p in precisions for cl in (True, False)]


def cached_layouts(arch: str, size: int, batch: int, candidates: list, n_classes: int = 10) -> dict:
    """``measure_layouts`` at a batch of at most ``LAYOUT_BATCH``, kept per machine and thread count
    (``speed_store``): the comparison is a property of the CPU, measured once."""
    from ..train.speed_store import recalled_layout, remember_layout
    b = min(batch, LAYOUT_BATCH)
    dev = f"{pick_device('auto')}, {torch.get_num_threads()} threads"   # a starved thread pair compares apart
    found = recalled_layout(arch, size, b, dev)
    if found is not None and all(c in found for c in candidates):
        return {c: found[c] for c in candidates}
    speeds = measure_layouts(arch, size, b, candidates, n_classes)
    remember_layout(arch, size, b, dev, speeds)
    return speeds


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
            f"accuracy (measured on 160-px photos)")


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


def _name(c: tuple[str, bool]) -> str:
    return f"{c[0]}{' + channels-last' if c[1] else ''}"


def _choose_layout(cfg: RunConfig, choose, layout_speed, size: int, bs: int) -> float:
    """Measure the precision / memory-layout candidates (``layout_candidates``) and keep the fastest
    when it beats the recipe's own by at least ``PRECISION_MARGIN`` (this CPU, quiet, Lite0 at 224 px:
    bf16 + channels-last 20 img/s, bf16 17, fp32 + channels-last 15, fp32 9; other CPUs differ, so it is
    measured). Returns the chosen one's speed / the speed of the one ``measure_speed`` times (channels
    last, the recipe's precision)."""
    cands = layout_candidates(cfg)
    if len(cands) < 2:
        return 1.0
    dev = pick_device(cfg.train.device)
    own = (pick_precision(dev, cfg.train.precision), bool(cfg.model.channels_last))
    ips = layout_speed(cfg.model.arch, size, bs, cands)
    best = max(cands, key=lambda c: ips[c])
    pick = best if ips[best] >= ips.get(own, 0.0) * (1 + PRECISION_MARGIN) else own
    table = ", ".join(f"{_name(c)} {ips[c]:.0f}" for c in sorted(cands, key=lambda c: -ips[c]))
    why = f"fastest at {size} px on this CPU ({table} img/s; interleaved steps, best of {LAYOUT_ROUNDS})"
    if len({p for p, _ in cands}) > 1:
        auto = pick_precision(dev, "auto")
        choose("train.precision", "auto" if pick[0] == auto else pick[0],
               f"{pick[0]}{' (auto on this CPU)' if pick[0] == auto else ''}: {why}")
    choose("model.channels_last", pick[1], f"{'channels-last' if pick[1] else 'the default memory layout'}: {why}")
    ref = (own[0], True)
    return ips[pick] / ips[ref] if ips.get(ref) else 1.0


@contextlib.contextmanager
def _run_threads(active: bool):
    """Measure on the thread count a training run would start on now (``cpu_threads``: the cores other
    programs leave free; two starved threads train several times slower than one), then restore it."""
    before = torch.get_num_threads()
    if active:
        from ..train.cpu_threads import threads_now
        torch.set_num_threads(threads_now())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _probed(cfg: RunConfig, facts: DataFacts, probe, size: int, sizes: list[int], speed_at, gain: float,
            budget_s: float, min_epochs: int) -> tuple[int, float, int]:
    """(size, images/s, epochs) from the planner's probe of the recipe at ``size``; when fewer than
    ``min_epochs`` fit, once more at the next smaller size (from the model corrected by the probe)."""
    from ..train.planner import make_plan
    startup = TRAIN_STARTUP_S + STARTUP_S_PER_IMAGE * (facts.n_train + facts.n_valid)
    for attempt in range(2):
        trial = cfg.set("data.image_size", size).set("train.budget_minutes", budget_s / 60.0)
        m = probe(trial).measured
        ips = m.images_per_sec(size)
        epochs = max(1, int(make_plan(trial, m, startup, 0.0).epochs))
        smaller = [s for s in sizes if s < size]
        if epochs >= min_epochs or not smaller or attempt:
            return size, ips, epochs
        correction = ips / max(1e-9, speed_at(size) * gain)
        size = next((s for s in reversed(smaller) if _epochs_for(facts, speed_at(s) * gain * correction, budget_s,
                                                               cfg.train.checkpoint_share) >= min_epochs), smaller[0])
    return size, ips, epochs


def _steps(n_train: int, bs: int) -> str:
    k = train_steps(n_train, bs)
    return f"{k} step{'s' if k != 1 else ''}"


def _batch_size(n_train: int, bs: int) -> tuple[int, str]:
    """(batch size, reason): ``bs`` unless the recipe check would warn about it for ``n_train`` images
    (``batch_warning``: at most one full batch, an epoch of one or two steps), then the batch size that
    warning proposes; the steps per epoch counted as the training loader counts them (``train_steps``:
    a short last batch dropped unless the epoch needs it)."""
    if batch_warning(n_train, bs):
        smaller = max(2, enough_steps_batch(n_train))
        return smaller, (f"{n_train} training images: {_steps(n_train, smaller)} per epoch (batches of {bs} "
                         f"would make {train_steps(n_train, bs)}, too few weight updates)")
    return bs, (f"{n_train} training images: {_steps(n_train, bs)} per epoch"
                + (" (32 doubles the updates of a small set)" if bs == 32 else ""))


def suggest(facts: DataFacts, base: RunConfig | None = None, budget_minutes: float = 0.0,
            speed: Callable[[str, int, int], float] | None = None,
            pretrained: Callable[[str], str] | None = None,
            pretrained_tag: Callable[[str], str] | None = None,
            layout_speed: Callable[[str, int, int, list], dict] | None = None,
            probe: Callable[[RunConfig], Any] | None = None,
            on_disk: Callable[[tuple], tuple | None] | None = None) -> Suggestion:
    """A recipe for this dataset on this machine (``base`` supplies everything not chosen here).
    ``layout_speed(arch, size, batch, candidates)``: {(precision, channels_last): training images/s}
    (default: ``cached_layouts``; with a ``speed`` given and no ``layout_speed``, nothing is compared).
    ``probe(recipe) -> planner.Plan``: the planner's probe and plan of the recipe as chosen so far (the
    CLI's ``train.run.plan_run``, which keeps the probe for the run): with it, the epochs and the
    rules that follow from them come from the run's own measurement, and the run does not probe again.
    ``on_disk(prefer) -> (arch, tag, origin) | None``: the ImageNet weights on this machine (default:
    ``pretrained.weights_on_disk``, bundled first, then cached)."""
    cfg = base or RunConfig()
    pretrained = pretrained or weights_on_disk(cfg)
    pretrained_tag = pretrained_tag or cached_tag
    choices: list[Choice] = []

    def choose(key: str, value: Any, reason: str, depends: tuple = ()) -> None:
        nonlocal cfg
        cfg = cfg.set(key, value)
        choices.append(Choice(key, cfg.get(key), reason, depends))

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
    choose("data.batch_size", *_batch_size(facts.n_train, bs))
    bs = cfg.data.batch_size

    # image size: a fine-tune keeps the weights' native size (a short budget buys fewer epochs, not fewer
    # pixels); from scratch, from the images and, with a budget, from the measured speed
    cap = facts.median_side or max(SIZES)
    own = native
    if finetune:
        native = fine_tune_size(own, facts.median_side)
    sizes = [native] if finetune else ([s for s in SIZES if s <= cap] or [max(16, int(cap // 8 * 8))])
    measured: dict[int, float] = {}
    # the synthetic steps run in the recipe's precision as given (the layout choice is measured apart)
    speed_fn = speed or (lambda a, s, b, p=cfg.train.precision: measure_speed(a, s, b, facts.n_classes, precision=p))

    min_epochs = MIN_EPOCHS_FINETUNE if finetune else MIN_EPOCHS_SCRATCH
    budget_s = float(budget_minutes) * 60.0
    share = cfg.train.checkpoint_share
    if budget_s > 0:
        with _run_threads(speed is None and cfg.train.threads == 0 and pick_device(cfg.train.device).type == "cpu"):
            speed_at = _speed_model(measured, sizes, lambda size: speed_fn(cfg.model.arch, size, bs))
            size = next((s for s in reversed(sizes) if _epochs_for(facts, speed_at(s), budget_s, share) >= min_epochs),
                        sizes[0])
            if layout_speed is None and speed is None:
                layout_speed = lambda a, s, b, c: cached_layouts(a, s, b, c, facts.n_classes)  # noqa: E731
            gain = _choose_layout(cfg, choose, layout_speed, size, bs) if layout_speed is not None else 1.0
            source = "measured here"  # on synthetic input
            if probe is not None:
                size, ips, epochs = _probed(cfg, facts, probe, size, sizes, speed_at, gain, budget_s, min_epochs)
                measured[size], source = ips, "measured by the planner's probe of this recipe"
            else:
                if size not in measured:
                    measured[size] = speed_fn(cfg.model.arch, size, bs)
                measured[size] *= gain
                epochs = _epochs_for(facts, measured[size], budget_s, share)
            if finetune:
                short = (f"; fewer than {min_epochs} fit, but the weights' size is kept: a short budget buys fewer "
                         f"epochs, not fewer pixels" if epochs < min_epochs else "")
                choose("data.image_size", size, f"{_fine_tune_why(size, own)}; {measured[size]:.0f} img/s {source}: "
                       f"about {epochs} epochs fit {budget_minutes:g} min{short}", RUN_LENGTH)
            else:
                choose("data.image_size", size, f"{measured[size]:.0f} img/s {source} at {size} px: about {epochs} "
                       f"epochs fit {budget_minutes:g} min" + (f" (a larger size would give fewer than {min_epochs})"
                                                                 if size < sizes[-1] else ""), RUN_LENGTH)
            choose("train.budget_minutes", float(budget_minutes), "the time you gave; the planner fixes the epochs "
                                                                  "before the start", RUN_LENGTH)
    else:
        size = native if finetune else min(128, sizes[-1])
        choose("data.image_size", size, _fine_tune_why(size, own) if finetune else
               f"images have a median short side of {facts.median_side:.0f} px"
               if facts.median_side else "the default size")
        epochs = cfg.train.epochs
        choose("train.epochs", epochs, f"no time budget given, so kept as set ({epochs}): Suggest plans the epochs "
               "only for a time budget (train.budget_minutes, 'Train for (minutes)'), from this machine's speed",
               RUN_LENGTH)

    # regularisation by run length and data size
    if epochs < SHORT_RUN_EPOCHS:
        choose("augment.min_scale", 0.5, f"a short run (~{epochs} epochs) cannot use deep crops; lighter augmentation",
               RUN_LENGTH)
        choose("augment.max_warp", 0.1, "lighter augmentation for a short run", RUN_LENGTH)
    else:
        choose("augment.min_scale", 0.35, f"{epochs} epochs: the default random-resized crops", RUN_LENGTH)
    if facts.per_class_median < 100 and epochs >= SHORT_RUN_EPOCHS:
        choose("augment.erase_p", 0.25, f"only {facts.per_class_median:.0f} images per class: random erasing "
                                        "against over-fitting", RUN_LENGTH)
    choose("tricks.label_smoothing", 0.1, "softer targets (0.9 for the true class): less over-confident "
                                          "predictions, fastai's and timm's usual 0.1")
    mix = epochs >= MIX_MIN_EPOCHS
    choose("tricks.mixup", 0.4 if mix else 0.0, f"MixUp {'on' if mix else 'off'}: ~{epochs} epochs "
           f"({'long enough' if mix else 'too short'}; it pays off from ~{MIX_MIN_EPOCHS})", RUN_LENGTH)
    choose("tricks.cutmix", 1.0 if mix else 0.0, f"CutMix {'on' if mix else 'off'} with MixUp (run length)",
           RUN_LENGTH)
    steps = epochs * train_steps(facts.n_train, bs)
    ema = steps >= EMA_MIN_STEPS
    choose("tricks.ema", ema, f"~{steps} optimizer steps: weight averaging {'on' if ema else 'off'} "
                              f"(it needs at least {EMA_MIN_STEPS} to average over)", RUN_LENGTH + ("data.batch_size",))
    if facts.imbalance >= 3:
        choose("tricks.class_balance", "sampler", f"classes differ {facts.imbalance:.0f}x in size: oversample the rare ones")
    cfg = cfg.set("reasons", reason_lines(choices, cfg))
    return Suggestion(cfg, choices, facts, measured, epochs)
