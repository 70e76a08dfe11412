"""Recipe defaults that come with a pretrained model, the Data page's fine-tuning suggestion, and the
architecture catalogue of the Recipe page's model picker.

Choosing pretrained weights changes a few recipe defaults, visibly (the Recipe page lists them): one
frozen epoch with fastai's two-phase fine-tune schedule, base lr 2e-3, a milder random crop, and the
weights' own normalization. Only keys still at their plain defaults (and not given explicitly) change.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..config import RunConfig, norm_stats
from ..models.sources import builders, suggested_archs
from ..models.weights import DEFAULT_TAG, NONE, WeightsError, bundled, cached_path, cached_tag, spec, status

PRETRAINED_DEFAULTS = {
    "tricks.freeze_epochs": (1, "one frozen epoch trains the new head first"),
    "train.fine_tune": (True, "fastai's fine-tune schedule: frozen phase, then lr / 2 with discriminative rates"),
    "train.lr": (2e-3, "base learning rate 2e-3"),
    "augment.min_scale": (0.5, "milder random crop (min scale 0.5): pretrained features need less augmentation"),
}
SMALL_PER_CLASS = 1000
# a fine-tune of photos smaller than the weights' size: this size costs no accuracy (nette-mini, 160-px
# photos, Lite0 fine-tuned 3 epochs: 72.5 % at 160 px in 70 s, 72.5 % at 224 px in 190 s; README)
NO_COST_SIZE = 160


def pretrained_defaults(cfg: RunConfig, explicit: Iterable[str] = ()) -> tuple[RunConfig, list[str]]:
    """``cfg`` with the pretrained recipe defaults applied, and one note per key that changed.
    Nothing changes when model.pretrained is none and no weights file is set."""
    if cfg.model.pretrained.lower() == NONE and not cfg.model.weights:
        return cfg, []
    plain, explicit = RunConfig(), set(explicit)
    notes = []
    for key, (value, why) in PRETRAINED_DEFAULTS.items():
        if key in explicit or cfg.get(key) != plain.get(key) or cfg.get(key) == value:
            continue
        cfg = cfg.set(key, value)
        notes.append(f"{key} = {value}: {why}")
    if cfg.model.pretrained.lower() != NONE:
        if not cfg.model.mean:
            mean, std = norm_stats(cfg)
            notes.append(f"model.mean / model.std = the weights' normalization "
                         f"({', '.join(f'{v:.3f}' for v in mean)} / {', '.join(f'{v:.3f}' for v in std)})")
        try:
            size = spec(cfg.model.arch, cfg.model.pretrained).input_size
        except WeightsError:
            size = 0
        if size and size != cfg.data.image_size:
            why = (f"on photos no larger than that, {size} px costs more time, not accuracy"
                   if NO_COST_SIZE <= cfg.data.image_size < size else
                   f"set it to {size} for the best accuracy, smaller trains faster")
            notes.append(f"the weights were trained at {size} px; data.image_size stays {cfg.data.image_size} "
                         f"({why})")
    return cfg, notes


def weights_on_disk(prefer: Sequence[str] = ()) -> tuple[str, str, str] | None:
    """(arch, tag, origin) of the ImageNet weights a new fine-tune should start from, or None: weights
    bundled with the install first, then cached weights of ``prefer`` and of the architectures the model
    sources suggest (``workbench.models.sources.suggested_archs``: resnet18, ..., timm/convnext_nano). origin is
    'bundled' or 'cached'. Never touches the network."""
    for arch, tag in bundled():
        if cached_path(arch, tag) is not None:
            return arch, tag, "bundled"
    for arch in dict.fromkeys([*prefer, *suggested_archs()]):
        tag = cached_tag(arch)
        if tag:
            return arch, tag, "cached"
    return None


def suggest_fine_tune(class_counts: Sequence[int], cfg: RunConfig) -> tuple[str, str]:
    """('arch:tag', sentence) for the Data page when the dataset is small, the recipe trains from scratch
    and ImageNet weights are on disk (``weights_on_disk``: bundled first, then cached, the recipe's own
    architecture before the others); ('', '') otherwise. Never proposes a download, never touches the
    network."""
    if not class_counts or cfg.model.pretrained.lower() != NONE or cfg.model.weights:
        return "", ""
    if max(class_counts) >= SMALL_PER_CLASS:
        return "", ""
    found = weights_on_disk(prefer=(cfg.model.arch,))
    if found is None:
        return "", ""
    arch, tag, origin = found
    where = "bundled with the install" if origin == "bundled" else "in the local weights cache"
    return f"{arch}:{tag}", (f"Small dataset (at most {max(class_counts)} images per class): fine-tuning the "
                             f"ImageNet-pretrained {arch} ({tag}, {where}) usually beats training from "
                             f"scratch by far.")


# ------------------------------------------------------------------ catalogue for pickers
@dataclass(frozen=True)
class ArchInfo:
    arch: str
    family: str               # the model source that builds it: torchvision | timm | ...
    params_m: float           # millions of parameters (0 = unknown without building the model)
    input_size: int           # recommended input size of the default weights (0 = no weights)
    state: str                # bundled | cached | downloadable | corrupt | none
    size_bytes: int = 0
    tag: str = ""             # the default weights' own name (DEFAULT resolved), '' without weights

    @property
    def on_disk(self) -> bool:
        return self.state in ("bundled", "cached")


BUFFERS = ("running_mean", "running_var", "num_batches_tracked")  # kept in a state dict, not parameters


def params_in_file(path) -> int:
    """Parameters stored in a safetensors weights file, read from its header alone (no tensor is
    loaded; batch-norm statistics are not parameters); 0 for another format or an unreadable file."""
    try:
        with open(path, "rb") as f:
            if not str(path).endswith(".safetensors"):
                return 0
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n)) if 0 < n < 100_000_000 else {}
    except (OSError, ValueError):
        return 0
    return sum(math.prod(v.get("shape", ())) for k, v in header.items()
               if k != "__metadata__" and isinstance(v, dict) and not k.endswith(BUFFERS))


def catalogue() -> list[ArchInfo]:
    """Every architecture of every model source with its default weights' state, what is on this
    machine first: the weights bundled with the install (best first), then cached ones, then the rest in
    name order. No network, no hashing of uncached files."""
    out = []
    for src in builders():
        for arch in src.archs():
            params = src.params_m(arch)
            try:
                st = status(arch, DEFAULT_TAG)
                if not params and st.path is not None and st.state in ("bundled", "cached"):
                    params = params_in_file(st.path) / 1e6   # e.g. timm / bundled weights on disk: from the file
                out.append(ArchInfo(arch, src.name, params, st.spec.input_size, st.state, st.size_bytes, st.spec.tag))
            except (WeightsError, RuntimeError):
                out.append(ArchInfo(arch, src.name, params, 0, "none"))
    rank = {arch: i for i, (arch, _tag) in enumerate(bundled())}
    return sorted(out, key=lambda r: (0, rank.get(r.arch, 0)) if r.state == "bundled" else
                  (1, 0) if r.state == "cached" else (2, 0))
