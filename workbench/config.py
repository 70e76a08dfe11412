"""RunConfig: a versioned tree of frozen dataclasses, loaded from / saved to TOML.

Field metadata (label, help, range, choices) drives the CLI help and the GUI options panel.
Overrides use dotted keys: ``train.epochs=5``. ``validate()`` returns readable problems.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w

from .errors import BadInput
from .models import sources as model_sources  # torch-free: the model.arch / model.pretrained help
from .runtime.atomic import atomic_write_text

SCHEMA_VERSION = 3


class ConfigError(BadInput):
    """A config file or override that cannot be applied; the message names the key."""


def opt(default: Any, label: str, help: str, *, min: float | None = None, max: float | None = None,
        choices: tuple | None = None, group: str = "", advanced: bool = False):
    """A config field with the metadata the CLI and the GUI use."""
    meta = {"label": label, "help": help, "min": min, "max": max, "choices": choices,
            "group": group, "advanced": advanced}
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class DataConfig:
    path: str = opt("", "Dataset folder", "Folder with one sub-folder per class (optionally train/ and valid/ splits), or images plus a labels CSV.")
    labels_csv: str = opt("", "Labels CSV", "Optional CSV with columns file,label[,is_valid]; file paths relative to the dataset folder.", advanced=True)
    valid_pct: float = opt(0.2, "Validation fraction", "Share of each class held out for validation when the dataset has no valid/ folder (stratified, seeded).", min=0.01, max=0.9)
    image_size: int = opt(128, "Image size (px)", "Side of the square images the model sees during training and validation.", min=16, max=1024)
    presize: int = opt(0, "Presize (px)", "Side of the decoded image cache; 0 = 1.25 x the largest training size. Changing the training size never rebuilds the cache.", min=0, max=2048, advanced=True)
    valid_crop: float = opt(0.875, "Validation crop", "Share of the image side kept by the centre crop of validation, prediction and export (the image is resized to image_size / valid_crop first). 0.875 matches the zoom of random-resized training crops; 1.0 keeps the whole square.", min=0.5, max=1.0, advanced=True)
    batch_size: int = opt(64, "Batch size", "Images per training step. Halved automatically when the device runs out of memory.", min=1, max=4096)
    min_side: int = opt(8, "Minimum image side (px)", "Images smaller than this are reported as too small and skipped.", min=1, max=4096, advanced=True)
    max_pixels: int = opt(89_478_485, "Maximum pixels", "Images with more pixels are reported as decompression bombs and skipped.", min=1_000, max=2**40, advanced=True)
    cache_dir: str = opt("", "Cache folder", "Where scan results and the presized image cache are kept; empty = $WORKBENCH_CACHE_DIR, else $WORKBENCH_HOME/cache, else ~/.cache/workbench.", advanced=True)
    changes_beside_data: bool = opt(False, "Keep changes beside the data", "Store relabel / quarantine decisions in DATASET/.workbench/changes.json, shared with everyone who uses the folder; off = in the per-user project folder, so the dataset folder is never written.", advanced=True)


@dataclass(frozen=True)
class AugmentConfig:
    enabled: bool = opt(True, "Augment training images", "Apply random batch augmentation to training batches (validation is never augmented).")
    min_scale: float = opt(0.35, "Min crop scale", "Random resized crop keeps at least this share of the image area.", min=0.05, max=1.0)
    flip: bool = opt(True, "Horizontal flip", "Flip half of the images left-right.")
    vflip: bool = opt(False, "Vertical flip", "Flip half of the images upside down (for aerial / microscopy images).")
    max_rotate: float = opt(10.0, "Max rotation (deg)", "Rotate by a random angle up to this many degrees.", min=0.0, max=180.0)
    max_zoom: float = opt(1.1, "Max zoom", "Zoom in by a random factor up to this.", min=1.0, max=3.0)
    max_warp: float = opt(0.2, "Max warp", "Random perspective-like warp strength.", min=0.0, max=0.8)
    p_affine: float = opt(0.75, "Affine probability", "Probability that rotation / zoom / warp is applied to an image.", min=0.0, max=1.0)
    max_lighting: float = opt(0.2, "Max lighting", "Random brightness and contrast change up to this strength.", min=0.0, max=0.9)
    p_lighting: float = opt(0.75, "Lighting probability", "Probability that the lighting change is applied to an image.", min=0.0, max=1.0)
    erase_p: float = opt(0.0, "Random erasing probability", "Probability of erasing a random rectangle of each image.", min=0.0, max=1.0)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = opt("resnet18", "Architecture", model_sources.arch_help())
    pretrained: str = opt("none", "Pretrained weights", "none = random init; or a weights tag: " + model_sources.tag_help() + ". Taken from the local weights cache; downloaded only when you ask (Download button, `workbench weights get`, train --download-weights).")
    weights: str = opt("", "Weights file", "Path to a weights file on disk (a torchvision / timm state_dict in .pth / .bin / .safetensors, also wrapped as {\"state_dict\": ...} or {\"model\": ...}; efficientnet-pytorch names are renamed for timm EfficientNets) to start from instead; empty = use model.pretrained. Every body tensor must fit unless model.allow_partial_weights is on.")
    allow_partial_weights: bool = opt(False, "Allow a partial weights fit", "Start from a weights file (model.weights or model.pretrained) even when some of the model's body tensors do not fit it by name, shape or kind of number; those stay random and the run log lists them. Off: such a file is refused, naming what does not fit.", advanced=True)
    mean: tuple = opt((), "Normalization mean", "Per-channel mean the images are normalized with; empty = the pretrained weights' own (ImageNet statistics without weights). Filled in when a run starts.", advanced=True)
    std: tuple = opt((), "Normalization std", "Per-channel standard deviation; empty = the pretrained weights' own (ImageNet statistics without weights). Filled in when a run starts.", advanced=True)
    dropout: float = opt(0.25, "Head dropout", "Dropout before the new classification head.", min=0.0, max=0.95)
    channels_last: bool = opt(True, "Channels-last memory format", "Faster convolutions on most CPUs and GPUs.", advanced=True)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = opt(5, "Epochs", "Passes over the training set.", min=1, max=10_000)
    budget_minutes: float = opt(0.0, "Train for (minutes)", "Time budget of the whole run, from the command's start to its end (scan, cache, validation included); before training a short probe measures this machine and chooses the number of epochs; 0 = off (use epochs).", min=0.0, max=10_000.0)
    lr: float = opt(2e-3, "Learning rate", "Peak learning rate (pick it with the LR finder).", min=1e-8, max=10.0)
    optimizer: str = opt("adamw", "Optimizer", "AdamW (default), SGD with Nesterov momentum, or RAdam.", choices=("adamw", "sgd", "radam"))
    weight_decay: float = opt(0.01, "Weight decay", "Decoupled weight decay; never applied to norm and bias parameters.", min=0.0, max=1.0)
    schedule: str = opt("one_cycle", "LR schedule", "one_cycle: warm-up then cosine annealing; cosine; sgdr: cosine warm restarts; flat_cos: flat then cosine; constant.",
                        choices=("one_cycle", "cosine", "sgdr", "flat_cos", "constant"))
    pct_start: float = opt(0.25, "Warm-up fraction", "Share of the run spent warming up (one-cycle) or flat (flat_cos).", min=0.0, max=0.95, advanced=True)
    div: float = opt(25.0, "Initial LR divisor", "One-cycle starts at lr / div.", min=1.0, max=1e6, advanced=True)
    final_div: float = opt(1e5, "Final LR divisor", "Schedules end at lr / final_div.", min=1.0, max=1e12, advanced=True)
    moms: tuple = opt((0.95, 0.85, 0.95), "Momentum cycle", "Momentum (beta1) at start, at peak LR, and at the end of one-cycle.", min=0.0, max=0.999, advanced=True)
    sgdr_cycle_len: int = opt(1, "SGDR first cycle (epochs)", "Length of the first warm-restart cycle.", min=1, max=10_000, advanced=True)
    sgdr_cycle_mult: int = opt(2, "SGDR cycle multiplier", "Each cycle is this many times longer than the previous one.", min=1, max=100, advanced=True)
    precision: str = opt("auto", "Precision", "auto: bf16 on CPUs with native bf16 (on some, fp32 trains faster: suggest measures both), fp32 on other CPUs, AMP on CUDA.",
                         choices=("auto", "fp32", "bf16", "fp16"))
    device: str = opt("auto", "Device", "auto = CUDA, then MPS, then CPU; or cpu, cuda, cuda:1, mps.")
    grad_clip: float = opt(0.0, "Gradient clipping", "Clip the gradient norm to this value; 0 = off.", min=0.0, max=1e6, advanced=True)
    grad_accum: int = opt(1, "Gradient accumulation", "Accumulate gradients over this many batches per optimizer step.", min=1, max=256, advanced=True)
    compile: bool = opt(False, "torch.compile", "Compile the model (slow start, ~5 % faster on CPU).", advanced=True)
    fine_tune: bool = opt(False, "Fine-tune schedule (fastai)", "As fastai's fine_tune: the frozen epochs (tricks.freeze_epochs) get their own one-cycle at lr, then the unfrozen epochs a fresh schedule at lr / 2 with discriminative rates (lr / lr_mult .. lr / 2). Off: one schedule over the whole run.")
    checkpoint_share: float = opt(0.1, "Checkpoint time share", "Write last.pt after an epoch only when writes then take at most this share of the time (a write under 0.25 s always happens); the last epoch, a stop and a pause always write. 1 = after every epoch. A crash loses the epochs since the last write.", min=0.01, max=1.0, advanced=True)
    threads: int = opt(0, "CPU threads", "Torch threads on CPU; 0 = all cores, fewer while other programs keep some busy (measured every 5 s; a changed count changes float rounding, so set a fixed count for a run that repeats bit for bit). A count above the cores this process may use is capped at them, with a note. In the app the run also has a lower CPU priority.", min=0, max=1024, advanced=True)


@dataclass(frozen=True)
class TricksConfig:
    mixup: float = opt(0.0, "MixUp alpha", "Blend pairs of images and their labels; 0 = off, 0.4 is a good start.", min=0.0, max=10.0)
    cutmix: float = opt(0.0, "CutMix alpha", "Paste a patch of another image and mix the labels by area; 0 = off, 1.0 is a good start.", min=0.0, max=10.0)
    label_smoothing: float = opt(0.0, "Label smoothing", "Soften the one-hot targets; 0.1 is a good start.", min=0.0, max=0.5)
    progressive_resize: bool = opt(False, "Progressive resizing", "Start with small images and grow to the image size during training.")
    prog_start_size: int = opt(0, "Progressive start size (px)", "First image size; 0 = half the image size.", min=0, max=1024, advanced=True)
    prog_end_pct: float = opt(0.75, "Progressive end point", "Share of the run after which the full image size is used.", min=0.05, max=1.0, advanced=True)
    freeze_epochs: int = opt(0, "Frozen epochs", "Fine-tune: train only the head for this many epochs, then unfreeze everything (needs pretrained weights to make sense).", min=0, max=1000)
    head_lr_mult: float = opt(1.0, "Head LR multiplier", "The new head trains at this many times the rate of the last body group (the d2l fine-tuning recipe uses 10); 1 = off.", min=1.0, max=1e3, advanced=True)
    lr_mult: float = opt(100.0, "Discriminative LR spread", "After unfreezing, the first layer group trains at lr / this, rising to lr for the head; 1 = same rate everywhere.", min=1.0, max=1e4)
    early_stop_patience: int = opt(0, "Early stopping patience", "Stop when the monitored metric has not improved for this many epochs; 0 = off.", min=0, max=1000)
    monitor: str = opt("accuracy", "Monitored metric", "Metric for early stopping and the best checkpoint (the reported model). accuracy: the highest validation accuracy, ties broken by the lower validation loss (the epoch you would pick from the curves); valid_loss: the lowest validation loss.", choices=("accuracy", "valid_loss"))
    keep_best: bool = opt(True, "Keep best model", "Load the best checkpoint at the end of training.")
    ema: bool = opt(False, "Weight averaging (EMA)", "Keep an exponential moving average of the weights, updated every step; validation, checkpoints, the best model and export use it.")
    ema_decay: float = opt(0.0, "EMA decay", "Weight of the old average at each step; 0 = auto: matched to the run length so the averaging window is about 3 % of the run's steps.", min=0.0, max=0.99999, advanced=True)
    class_balance: str = opt("none", "Class balancing", "none, sampler (oversample rare classes) or loss (class-weighted loss).", choices=("none", "sampler", "loss"))


@dataclass(frozen=True)
class TTAConfig:
    n: int = opt(4, "TTA passes", "Number of augmented passes at test time; 0 = off.", min=0, max=64)
    beta: float = opt(0.25, "TTA plain weight", "final = (1 - beta) x augmented mean + beta x plain.", min=0.0, max=1.0)
    scales: tuple = opt((1.0,), "TTA scales", "Extra multi-scale passes (image size multipliers).", min=0.25, max=4.0, advanced=True)


@dataclass(frozen=True)
class LRFindConfig:
    start_lr: float = opt(1e-7, "Start LR", "First learning rate of the range test.", min=1e-12, max=1.0)
    end_lr: float = opt(10.0, "End LR", "Last learning rate of the range test.", min=1e-6, max=1e3)
    num_it: int = opt(100, "Steps", "Number of steps of the range test.", min=5, max=10_000)
    stop_div: float = opt(4.0, "Divergence factor", "Stop when the smoothed loss exceeds this multiple of the best.", min=1.0, max=100.0)
    suggestion: str = opt("valley", "Suggestion", "Which suggestion the recipe takes by default.", choices=("valley", "steep", "minimum", "slide"))


@dataclass(frozen=True)
class ExportConfig:
    formats: tuple = opt(("safetensors", "torchscript", "onnx"), "Formats", "Export formats: safetensors (+ model.json), torchscript, onnx.")
    opset: int = opt(17, "ONNX opset", "ONNX opset version.", min=11, max=25, advanced=True)
    parity_atol: float = opt(1e-4, "Parity tolerance", "Max allowed difference of probabilities between an export and the in-app model.", min=0.0, max=1.0, advanced=True)


@dataclass(frozen=True)
class RunConfig:
    schema_version: int = opt(SCHEMA_VERSION, "Schema version", "Version of this config layout (older files are migrated).", advanced=True)
    seed: int = opt(42, "Seed", "Random seed for the split, initialisation, shuffling and augmentation.", min=0, max=2**63 - 1)
    name: str = opt("", "Run name", "Name of the run folder; empty = dataset name + time stamp.")
    runs_dir: str = opt("runs", "Runs folder", "Folder where run folders are created.")
    reasons: tuple = opt((), "Reasons", "Why a suggested recipe chose its options, one 'key: reason' per entry (written by 'workbench suggest' and the app's Suggest button; kept in the run folder's config).", advanced=True)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tricks: TricksConfig = field(default_factory=TricksConfig)
    tta: TTAConfig = field(default_factory=TTAConfig)
    lr_find: LRFindConfig = field(default_factory=LRFindConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    # ----------------------------------------------------------------- access
    def get(self, key: str) -> Any:
        obj: Any = self
        for part in key.split("."):
            if not dataclasses.is_dataclass(obj) or part not in {f.name for f in fields(obj)}:
                raise ConfigError(f"unknown config key '{key}'")
            obj = getattr(obj, part)
        return obj

    def set(self, key: str, value: Any) -> "RunConfig":
        """Return a copy with ``key`` set; the value is coerced to the field's type."""
        parts = key.split(".")
        return _set_path(self, parts, value, key)

    def with_overrides(self, assignments: list[str]) -> "RunConfig":
        cfg = self
        for a in assignments:
            if "=" not in a:
                raise ConfigError(f"override '{a}' must look like key=value, e.g. train.epochs=5")
            k, v = a.split("=", 1)
            cfg = cfg.set(k.strip(), parse_value(v.strip()))
        return cfg

    # ----------------------------------------------------------------- dict / TOML
    def to_dict(self) -> dict:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = migrate(dict(d))
        return _from_dict(cls, d, "")

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str) -> "RunConfig":
        try:
            return cls.from_dict(tomllib.loads(text))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"not a valid TOML file: {e}") from e

    @classmethod
    def load(cls, path: str | os.PathLike) -> "RunConfig":
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not a UTF-8 text file (a recipe is TOML text)") from None
        except OSError as e:
            raise ConfigError(f"{p}: cannot read ({e.strerror or e})") from None
        try:
            return cls.from_toml(text)
        except ConfigError as e:
            raise ConfigError(f"{p}: {e}") from e

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, self.to_toml())

    # ----------------------------------------------------------------- checks
    def validate(self) -> list[str]:
        problems = []
        for key, f, value in iter_fields(self):
            m = f.metadata
            label = f"{key} ({m.get('label', '')})"
            if m.get("choices") and value not in m["choices"]:
                problems.append(f"{label}: '{value}' is not one of {', '.join(map(str, m['choices']))}")
            values = value if isinstance(value, tuple) else (value,)
            for i, v in enumerate(values):
                where = f"{label}{f' value {i + 1}' if isinstance(value, tuple) else ''}"
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    continue
                if isinstance(v, float) and not math.isfinite(v):
                    problems.append(f"{where}: {v} is not a finite number")
                    continue
                if m.get("min") is not None and v < m["min"]:
                    problems.append(f"{where}: {v} is below the minimum {m['min']}")
                if m.get("max") is not None and v > m["max"]:
                    problems.append(f"{where}: {v} is above the maximum {m['max']}")
        if self.lr_find.start_lr >= self.lr_find.end_lr:
            problems.append(f"lr_find.start_lr ({self.lr_find.start_lr:g}) must be below lr_find.end_lr "
                            f"({self.lr_find.end_lr:g})")
        if not self.tta.scales:
            problems.append("tta.scales: needs at least one value (1.0 = the image size)")
        if len(self.train.moms) != 3:
            problems.append("train.moms: needs three values (start, middle, end)")
        bad = [f for f in self.export.formats if f not in ("safetensors", "torchscript", "onnx")]
        if bad:
            problems.append(f"export.formats: unknown format(s) {', '.join(bad)}")
        if self.tricks.mixup > 0 and self.tricks.cutmix > 0:
            pass  # both on: the MixUp/CutMix callback alternates between them per batch
        problems += model_problems(self.model)
        if self.data.presize and self.data.presize < self.data.image_size:
            problems.append(f"data.presize ({self.data.presize}) must be at least data.image_size ({self.data.image_size})")
        if self.schema_version != SCHEMA_VERSION:
            problems.append(f"schema_version {self.schema_version} is not the current {SCHEMA_VERSION}")
        return problems

    def warnings(self) -> list[str]:
        """Valid but unusual settings worth a word (training still starts)."""
        out = []
        if not 1e-6 <= self.train.lr <= 1.0:
            out.append(f"train.lr ({self.train.lr:g}) is outside the usual 1e-6 .. 1; pick one with the LR finder")
        return out

    @property
    def effective_presize(self) -> int:
        return self.data.presize or int(round(self.data.image_size * 1.25 / 8) * 8)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def norm_stats(cfg: "RunConfig") -> tuple[tuple, tuple]:
    """(mean, std) the images of a run are normalized with: model.mean / model.std, else those of the
    pretrained weights (their published metadata, no file needed), else ImageNet's."""
    m = cfg.model
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    if m.pretrained.lower() != "none" and not (m.mean and m.std):
        from .models.weights import WeightsError, spec as weights_spec
        try:
            s = weights_spec(m.arch, m.pretrained)
            mean, std = s.mean, s.std
        except WeightsError:
            pass
    return (tuple(m.mean) or tuple(mean)), (tuple(m.std) or tuple(std))


def drop_reasons(cfg: "RunConfig", keys) -> "RunConfig":
    """``cfg`` without the reasons of ``keys`` (options the user set afterwards)."""
    keys = set(keys)
    kept = tuple(r for r in cfg.reasons if str(r).partition(": ")[0] not in keys)
    return cfg if kept == tuple(cfg.reasons) else cfg.set("reasons", kept)


def with_norm(cfg: "RunConfig") -> "RunConfig":
    """``cfg`` with model.mean / model.std filled in (what a run folder's config.toml records)."""
    mean, std = norm_stats(cfg)
    return cfg.set("model.mean", mean).set("model.std", std)


def model_problems(m: ModelConfig) -> list[str]:
    """Architecture typos (with suggestions), an unknown weights tag, an unusable weights file.
    (models and weights import torch: loaded here, when a recipe is validated, not with the config.)"""
    from .models.build import arch_problem
    from .models.weights import tags as weights_tags
    problem = arch_problem(m.arch)
    if problem:
        return [f"model.arch: {problem}"]
    out = []
    if len(m.mean) not in (0, 3) or len(m.std) not in (0, 3) or any(float(s) <= 0 for s in m.std):
        out.append("model.mean / model.std: need three values each (std above 0), or none")
    if m.weights:
        p = Path(m.weights).expanduser()
        if not p.is_file():
            return out + [f"model.weights: file not found: {m.weights}"]
        st = p.stat()
        problem = _weights_file_problem(m.arch, str(p.resolve()), st.st_size, st.st_mtime_ns,
                                        m.allow_partial_weights)
        if problem:
            out.append(f"model.weights: {problem}")
    elif m.pretrained.lower() != "none":
        tags = weights_tags(m.arch)
        if m.pretrained not in tags:
            hint = f"one of none, {', '.join(tags)}" if tags else "none (this model has no pretrained weights)"
            out.append(f"model.pretrained: '{m.pretrained}' is not a weights tag of {m.arch}; use {hint}")
        else:  # weights on this machine must load (missing ones are the weights store's business)
            from .models.weights import cached_path
            path = cached_path(m.arch, m.pretrained)
            if path is not None:
                st = path.stat()
                problem = _weights_file_problem(m.arch, str(path.resolve()), st.st_size, st.st_mtime_ns,
                                                m.allow_partial_weights)
                if problem:
                    out.append(f"model.pretrained: the {m.arch} weights '{m.pretrained}' cannot be used: {problem}")
    return out


@functools.lru_cache(maxsize=32)
def _weights_file_problem(arch: str, path: str, size: int, mtime_ns: int, allow_partial: bool = False) -> str:
    from .models.build import ModelError, check_weights_file
    try:
        check_weights_file(arch, path, allow_partial)
    except ModelError as e:
        return str(e)
    return ""


# --------------------------------------------------------------------- helpers
def iter_fields(cfg: Any, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """Yield (dotted key, field, value) for every leaf option of a config tree."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from iter_fields(value, key + ".")
        else:
            yield key, f, value


def field_meta(key: str) -> dict:
    for k, f, _ in iter_fields(RunConfig()):
        if k == key:
            return dict(f.metadata)
    raise ConfigError(f"unknown config key '{key}'")


def parse_value(text: str) -> Any:
    """Parse an override value: TOML literal when possible, else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if "," in text:
            return tuple(parse_value(t.strip()) for t in text.split(",") if t.strip())
        return text


def coerce(value: Any, default: Any, key: str) -> Any:
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if isinstance(value, (bool, int)) and value in (0, 1):
                return bool(value)
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            return str(value)
        if kind is tuple:
            if isinstance(value, str):
                value = parse_value(value) if "," in value else (value,)
            if not isinstance(value, (list, tuple)):
                value = (value,)
            if default:
                return tuple(coerce(v, default[0], key) for v in value)
            return tuple(value)
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"{key}: cannot use {value!r} (expected {kind.__name__})")


def _set_path(obj: Any, parts: list[str], value: Any, key: str) -> Any:
    names = {f.name: f for f in fields(obj)}
    if parts[0] not in names:
        raise ConfigError(f"unknown config key '{key}'")
    cur = getattr(obj, parts[0])
    if len(parts) == 1:
        if dataclasses.is_dataclass(cur):
            raise ConfigError(f"'{key}' is a section, not an option")
        return replace(obj, **{parts[0]: coerce(value, cur, key)})
    if not dataclasses.is_dataclass(cur):
        raise ConfigError(f"unknown config key '{key}'")
    return replace(obj, **{parts[0]: _set_path(cur, parts[1:], value, key)})


def _to_dict(obj: Any) -> dict:
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            out[f.name] = _to_dict(v)
        elif isinstance(v, tuple):
            out[f.name] = list(v)
        else:
            out[f.name] = v
    return out


def _from_dict(cls: type, d: dict, prefix: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"section '{prefix.rstrip('.')}' must be a table")
    names = {f.name: f for f in fields(cls)}
    unknown = [k for k in d if k not in names]
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(prefix + k for k in unknown)}")
    obj = cls()
    kwargs = {}
    for k, v in d.items():
        cur = getattr(obj, k)
        if dataclasses.is_dataclass(cur):
            kwargs[k] = _from_dict(type(cur), v, f"{prefix}{k}.")
        else:
            kwargs[k] = coerce(v, cur, prefix + k)
    return replace(obj, **kwargs)


# --------------------------------------------------------------------- migration
def _migrate_1_to_2(d: dict) -> dict:
    """Schema 1 had data.size, train.mixed_precision (bool) and tricks.mixup_alpha."""
    data = dict(d.get("data", {}))
    if "size" in data:
        data["image_size"] = data.pop("size")
    train = dict(d.get("train", {}))
    if "mixed_precision" in train:
        train["precision"] = "auto" if train.pop("mixed_precision") else "fp32"
    tricks = dict(d.get("tricks", {}))
    if "mixup_alpha" in tricks:
        tricks["mixup"] = tricks.pop("mixup_alpha")
    out = dict(d)
    for name, sec in (("data", data), ("train", train), ("tricks", tricks)):
        if sec or name in d:
            out[name] = sec
    out["schema_version"] = 2
    return out


def _migrate_2_to_3(d: dict) -> dict:
    """Schema 3 added data.valid_crop (default 0.875); runs of schema 2 were validated on the whole
    square, so their files keep 1.0 and re-evaluating an old run gives its recorded numbers."""
    out = dict(d)
    data = dict(d.get("data", {}))
    data.setdefault("valid_crop", 1.0)
    out["data"] = data
    out["schema_version"] = 3
    return out


MIGRATIONS = {1: _migrate_1_to_2, 2: _migrate_2_to_3}


class RemovedOptionWarning(UserWarning):
    """A recipe sets an option this version no longer has; it is ignored."""


# options taken out of the recipe, in any schema version: key -> (default it had, why it went)
REMOVED = {"tricks.snapshot_ensemble": (False, "the snapshot ensemble was removed (nothing read its snapshots)")}


def _drop_removed(d: dict) -> dict:
    """``d`` without the REMOVED options; one RemovedOptionWarning for each one set to something
    other than its old default (a run folder's config.toml lists every option, mostly at defaults)."""
    out = dict(d)
    for key, (default, why) in REMOVED.items():
        section, _, name = key.partition(".")
        sec = out.get(section)
        if not isinstance(sec, dict) or name not in sec:
            continue
        sec = dict(sec)
        value = sec.pop(name)
        out[section] = sec
        if value != default:
            warnings.warn(f"{key} = {value!r} is ignored: {why}", RemovedOptionWarning, stacklevel=4)
    return out


def migrate(d: dict) -> dict:
    version = d.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise ConfigError(f"schema_version must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise ConfigError(f"this config was written by a newer version (schema {version}, this program knows {SCHEMA_VERSION})")
    defaults = RunConfig()
    for f in fields(RunConfig):
        if dataclasses.is_dataclass(getattr(defaults, f.name)) and f.name in d and not isinstance(d[f.name], dict):
            raise ConfigError(f"section '{f.name}' must be a table ([{f.name}] followed by key = value lines), "
                              f"not {d[f.name]!r}")
    while version < SCHEMA_VERSION:
        d = MIGRATIONS[version](d)
        version = d["schema_version"]
    return _drop_removed(d)
