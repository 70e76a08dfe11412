"""Model factory and layer groups.

``create_model`` builds any architecture of a registered model source (``workbench.models.sources``:
torchvision's models by name, timm's as ``timm/<name>`` when the optional ``timm`` extra is installed,
...), optionally loads a local weights file (never downloads: ``workbench.models.weights`` finds and
fetches pretrained files), then replaces the final classifier with ``ClassifierHead`` (Dropout +
Linear). ``layer_groups`` splits the parameters into stem, body stages and head for freezing and
discriminative learning rates (a source may have its own grouping: timm's stem / stages).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .files import is_safetensors, load_weights_file
from .layouts import adapt
from .source import ModelError
from .sources import builders, source_of, sources

__all__ = ["COUNTER", "ClassifierHead", "ModelError", "WeightsFit", "arch_problem", "check_arch", "check_weights_file",
           "create_model", "fit_problem", "fit_weights", "head_module", "is_safetensors", "layer_groups",
           "list_archs", "load_weights", "load_weights_file", "suggest_archs"]

_MAX_BODY_GROUPS = 4


class ClassifierHead(nn.Sequential):
    """The new classification head: Dropout followed by Linear (or a 1x1 conv for SqueezeNet)."""


def list_archs() -> list[str]:
    """Every architecture the registered sources build here, source by source (torchvision's names,
    then timm's ``timm/...``)."""
    return [a for s in builders() for a in s.archs()]


def suggest_archs(arch: str, n: int = 5) -> list[str]:
    """Close matches for a mistyped architecture among every source's names (with or without a prefix)."""
    names = list_archs()
    prefixes = sorted({s.prefix for s in builders() if s.prefix}, key=len, reverse=True)

    def bare(name: str) -> str:
        return next((name.removeprefix(p) for p in prefixes if name.startswith(p)), name)
    by_bare = {bare(name): name for name in reversed(names)}
    close = difflib.get_close_matches(arch, names, n=n, cutoff=0.6)
    close += [by_bare[c] for c in difflib.get_close_matches(bare(arch), list(by_bare), n=n, cutoff=0.6)]
    return list(dict.fromkeys(close))[:n]


def arch_problem(arch: str) -> str:
    """'' when ``arch`` can be built here, else one sentence saying why (with suggestions)."""
    src = source_of(arch)
    if src is not None:
        why = src.missing()
        if why:
            return f"'{arch}' is a {src.name} model and {why}"
        if src.knows(arch):
            return ""
    close = suggest_archs(arch)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `workbench weights list --all` shows all names"
    return f"unknown architecture '{arch}'{hint}"


def check_arch(arch: str) -> None:
    """``ModelError`` (with close names) when ``arch`` is not a known architecture."""
    problem = arch_problem(arch)
    if problem:
        raise ModelError(problem)


def head_module(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, ClassifierHead):
            return m
    return _final_layer(model)[1]


COUNTER = "num_batches_tracked"  # BatchNorm's step counter: optional in a weights file
SHOWN = 5  # names of tensors that do not fit, in a message


@dataclass(frozen=True)
class WeightsFit:
    """How a state dict fits a model's body (the head never comes from a file)."""
    usable: dict                  # name -> tensor to load
    n_body: int                   # body tensors the model needs (BatchNorm counters not counted)
    left_random: dict             # body tensor name -> why it does not fit (missing / shape / dtype)
    layout: str = ""              # a known layout of another implementation that was adapted, or ''

    def names(self, shown: int = SHOWN) -> str:
        """'a (missing), b (shape (3,) in the file, (4,) here) and 40 more'."""
        items = [f"{k} ({why})" for k, why in list(self.left_random.items())[:shown]]
        more = len(self.left_random) - shown
        return ", ".join(items) + (f" and {more} more" if more > 0 else "")


def _why_not(own: torch.Tensor, v: torch.Tensor) -> str:
    if own.shape != v.shape:
        return f"shape {tuple(v.shape)} in the file, {tuple(own.shape)} here"
    if own.is_floating_point() != v.is_floating_point() or v.is_complex() or v.dtype == torch.bool:
        return f"{str(v.dtype).removeprefix('torch.')} in the file, {str(own.dtype).removeprefix('torch.')} here"
    return ""


def fit_weights(model: nn.Module, sd: dict) -> WeightsFit:
    """Which tensors of ``sd`` fit ``model``'s body by name, shape and kind of number (floating point
    weights are never taken from integer ones), after adapting a known layout of another implementation
    (``workbench.models.layouts``). BatchNorm counters missing from the file are fine."""
    sd, layout = adapt(sd, model)
    own = model.state_dict()
    hm = head_module(model)
    head = tuple(f"{name}." for name, m in model.named_modules() if m is hm)
    usable, left = {}, {}
    for k, mine in own.items():
        if k.startswith(head):
            continue
        v = sd.get(k)
        why = "missing" if v is None else _why_not(mine, v)
        if not why:
            usable[k] = v
        elif not k.endswith(COUNTER):
            left[k] = why
    n_body = sum(1 for k in own if not k.startswith(head) and not k.endswith(COUNTER))
    return WeightsFit(usable, n_body, left, layout)


def fit_problem(fit: WeightsFit, path, arch: str, allow_partial: bool) -> str:
    """'' when ``fit`` may be loaded, else the sentence that refuses it."""
    if not fit.usable or not any(not k.endswith(COUNTER) for k in fit.usable):
        return f"weights file {path} does not match {arch}: none of its tensors fit the model's {fit.n_body} body tensors"
    if fit.left_random and not allow_partial:
        return (f"weights file {path} does not match {arch}: {len(fit.left_random)} of the model's "
                f"{fit.n_body} body tensors would stay random: {fit.names()} (to start from the tensors that "
                f"fit anyway, set model.allow_partial_weights = true or import with --allow-partial)")
    return ""


def load_weights(model: nn.Module, path: str | Path, arch: str = "", allow_partial: bool = False) -> WeightsFit:
    """Load the body of ``model`` from the weights file ``path``; ModelError when it does not fit
    (partly fitting files only with ``allow_partial``: the returned fit lists what stayed random)."""
    fit = fit_weights(model, load_weights_file(path))
    problem = fit_problem(fit, path, arch or type(model).__name__, allow_partial)
    if problem:
        raise ModelError(problem)
    own = model.state_dict()
    with torch.no_grad():
        model.load_state_dict({k: v.to(own[k].dtype) for k, v in fit.usable.items()}, strict=False)
    return fit


def _final_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """Dotted name and module of the final classifier: the last Linear, else SqueezeNet's last conv."""
    last = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            last = (name, m)
    if last is None:
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                last = (name, m)
    if last is None:
        raise ModelError(f"cannot find the classifier of {type(model).__name__}")
    return last


def _replace(model: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, attr = dotted.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, new)


def _new_head(old: nn.Module, num_classes: int, dropout: float) -> ClassifierHead:
    if isinstance(old, nn.Linear):
        new = nn.Linear(old.in_features, num_classes)
    elif isinstance(old, nn.Conv2d):
        new = nn.Conv2d(old.in_channels, num_classes, kernel_size=1)
    else:
        raise ModelError(f"cannot replace a classifier of type {type(old).__name__}")
    return ClassifierHead(nn.Dropout(dropout), new)


def _build(arch: str, num_classes: int) -> tuple[nn.Module, str, nn.Module]:
    """(model with random init, dotted name of its classifier, the classifier)."""
    src = source_of(arch)
    model = src.build(arch, num_classes)
    return (model, *(src.classifier(arch, model) or _final_layer(model)))


def create_model(arch: str, num_classes: int, dropout: float = 0.0, weights: str = "",
                 allow_partial: bool = False) -> nn.Module:
    """Build ``arch`` with a new ``num_classes`` head; random init unless ``weights`` is a local file
    (see :func:`load_weights`)."""
    check_arch(arch)
    if num_classes < 1:
        raise ModelError(f"num_classes must be at least 1, got {num_classes}")
    model, name, old = _build(arch, num_classes)
    _replace(model, name, _new_head(old, num_classes, dropout))
    if weights:
        load_weights(model, weights, arch, allow_partial)
    return model


def check_weights_file(arch: str, path: str | Path, allow_partial: bool = False) -> WeightsFit:
    """Raise ModelError unless ``path`` holds weights for ``arch`` (all of its body, or with
    ``allow_partial`` some of it); returns how it fits."""
    model = create_model(arch, 10)
    fit = fit_weights(model, load_weights_file(path))
    problem = fit_problem(fit, path, arch, allow_partial)
    if problem:
        raise ModelError(problem)
    return fit


# --------------------------------------------------------------------- layer groups
def _own(module: nn.Module, skip: set, recurse: bool = True) -> list[nn.Parameter]:
    return [p for p in module.parameters(recurse=recurse) if id(p) not in skip]


def _split(module: nn.Module, skip: set) -> list[tuple[nn.Module | None, list]]:
    """Chunks of a module's parameters: consecutive plain layers merged, containers kept whole."""
    chunks: list[tuple[nn.Module | None, list]] = []
    leaves = _own(module, skip, recurse=False)
    for child in module.children():
        ps = _own(child, skip)
        if not ps:
            continue
        is_layer = not any(_own(c, skip) for c in child.children())
        if is_layer:
            leaves += ps
            continue
        if leaves:
            chunks.append((None, leaves))
            leaves = []
        chunks.append((child, ps))
    if leaves:
        chunks.append((None, leaves))
    return chunks


def layer_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """[stem, body stage groups..., head]; every parameter appears exactly once, in model order."""
    head = _own(head_module(model), set())
    skip = {id(p) for p in head}
    for src in sources():  # a source's own grouping (timm's stem / stages) comes first
        own = src.layer_chunks(model, skip)
        if own is not None:
            return _merge(own, head)
    chunks = _split(model, skip)
    total = sum(p.numel() for _, ps in chunks for p in ps) or 1
    for _ in range(6):
        # expand the biggest container while there are too few chunks, or while one container of many
        # blocks (e.g. a ViT encoder) holds most of the model
        expandable = [i for i, (m, _) in enumerate(chunks) if m is not None]
        if not expandable:
            break
        i = max(expandable, key=lambda j: sum(p.numel() for p in chunks[j][1]))
        share = sum(p.numel() for p in chunks[i][1]) / total
        n_kids = sum(1 for c in chunks[i][0].children() if _own(c, skip))
        if len(chunks) >= _MAX_BODY_GROUPS and not (share > 0.5 and n_kids >= 4):
            break
        chunks[i:i + 1] = _split(chunks[i][0], skip)
    return _merge([ps for _, ps in chunks], head)


def _merge(params: list[list[nn.Parameter]], head: list[nn.Parameter]) -> list[list[nn.Parameter]]:
    """First chunk = stem, the others merged into at most _MAX_BODY_GROUPS groups, then the head."""
    groups: list[list[nn.Parameter]] = []
    if params:
        groups.append(params[0])
        body = params[1:]
        for idx in np.array_split(np.arange(len(body)), min(_MAX_BODY_GROUPS, len(body))) if body else []:
            groups.append([p for i in idx for p in body[i]])
    groups.append(head)
    # dedupe tied parameters, keeping the first occurrence
    seen: set = set()
    out = []
    for g in groups:
        g2 = [p for p in g if id(p) not in seen]
        seen.update(id(p) for p in g2)
        if g2:
            out.append(g2)
    return out
