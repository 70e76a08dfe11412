"""Model factory and layer groups.

``create_model`` builds any torchvision classification model by name, optionally loads a local weights
file (never downloads), then replaces the final classifier with ``ClassifierHead`` (Dropout + Linear).
``layer_groups`` splits the parameters into stem, body stages and head for freezing and
discriminative learning rates.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

# Extra constructor arguments: no auxiliary classifiers (they would change the forward output).
_EXTRA_KWARGS = {"googlenet": {"aux_logits": False, "init_weights": True},
                 "inception_v3": {"aux_logits": False, "init_weights": True}}
_MAX_BODY_GROUPS = 4


class ModelError(ValueError):
    """Unknown architecture or unusable weights file; the message names it."""


class ClassifierHead(nn.Sequential):
    """The new classification head: Dropout followed by Linear (or a 1x1 conv for SqueezeNet)."""


def list_archs() -> list[str]:
    """Names of all torchvision classification models."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def _check_arch(arch: str) -> None:
    archs = list_archs()
    if arch not in archs:
        close = difflib.get_close_matches(arch, archs, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see list_archs() for all names"
        raise ModelError(f"unknown architecture '{arch}'{hint}")


def check_arch(arch: str) -> None:
    """``ModelError`` (with close names) when ``arch`` is not a known architecture."""
    _check_arch(arch)


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from .safetensors or .pth/.pt (torch.load with weights_only=True)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelError(f"weights file not found: {p}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file
            sd = load_file(str(p))
        else:
            sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any read error becomes a clear message
        raise ModelError(f"cannot read weights file {p}: {e}") from e
    if isinstance(sd, dict) and isinstance(sd.get("model"), dict):
        sd = sd["model"]  # a workbench checkpoint
    elif isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelError(f"weights file {p} does not hold a state_dict of tensors")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def _load_body(model: nn.Module, sd: dict, path: str) -> None:
    own = model.state_dict()
    usable = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    if not usable or len(usable) < 0.5 * len(own):
        raise ModelError(f"weights file {path} does not match this architecture "
                         f"({len(usable)} of {len(own)} tensors fit)")
    model.load_state_dict(usable, strict=False)


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


def create_model(arch: str, num_classes: int, dropout: float = 0.0, weights: str = "") -> nn.Module:
    """Build ``arch`` with a new ``num_classes`` head; random init unless ``weights`` is a local file."""
    _check_arch(arch)
    if num_classes < 1:
        raise ModelError(f"num_classes must be at least 1, got {num_classes}")
    model = torchvision.models.get_model(arch, weights=None, **_EXTRA_KWARGS.get(arch, {}))
    if weights:
        _load_body(model, load_weights_file(weights), weights)
    name, old = _final_layer(model)
    if isinstance(old, nn.Linear):
        new = nn.Linear(old.in_features, num_classes)
    else:
        new = nn.Conv2d(old.in_channels, num_classes, kernel_size=1)
    _replace(model, name, ClassifierHead(nn.Dropout(dropout), new))
    return model


def head_module(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, ClassifierHead):
            return m
    return _final_layer(model)[1]


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
    params = [ps for _, ps in chunks]
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
