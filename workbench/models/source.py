"""What a model source is: the :class:`Source` base class, what it says about a weights file on this
machine (:class:`Located`), where a set of pretrained weights comes from (:class:`WeightsSpec`), and the
list of registered sources.

A source is anything that builds architectures (torchvision, timm) or holds weights for them (the
weights cache on disk, the packages bundled with the install). Each implements the methods it has
something to say about; the base class answers "nothing" for the others. ``workbench.models.sources``
registers the built-in ones, in the order they are asked; the model builder, the weights store, the
CLI and the model picker read that list instead of branching on names.

This module (like every built-in source's module) imports no torch: the recipe's help text is composed
from the sources while ``workbench --help`` stays fast.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

DEFAULT_TAG = "DEFAULT"
_HASH_RE = re.compile(r"-([a-f0-9]{6,})\.")


class ModelError(BadInput):
    """Unknown architecture or unusable weights file; the message names it."""


def checkpoints_dir() -> Path:
    """The weights cache: torch's ``$TORCH_HOME/hub/checkpoints``."""
    import torch
    return Path(torch.hub.get_dir()) / "checkpoints"


def hash_prefix(filename: str) -> str:
    """The sha256 prefix a published file name carries (``resnet18-f37072fd.pth`` -> ``f37072fd``), or ''."""
    m = _HASH_RE.search(filename)
    return m.group(1) if m else ""


@dataclass(frozen=True)
class WeightsSpec:
    arch: str                 # workbench name: resnet18, timm/convnext_nano
    tag: str                  # resolved tag: IMAGENET1K_V1, in12k_ft_in1k
    url: str
    filename: str             # name in the checkpoints folder
    sha256_prefix: str = ""   # from the file name (torchvision); "" = unknown
    size_bytes: int = 0       # 0 = unknown
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"
    input_size: int = 224
    hf_repo: str = ""         # timm: Hugging Face repo id, also looked up in the HF cache

    @property
    def dest(self) -> Path:
        return checkpoints_dir() / self.filename

    @property
    def key(self) -> str:
        return f"{self.arch}:{self.tag}"


@dataclass(frozen=True)
class Located:
    """A source's answer to "is this set of weights on this machine?"."""
    state: str                # bundled | cached | corrupt
    path: Path | None = None  # None: known here but unusable (``problem`` says why)
    problem: str = ""
    check: str = ""           # the sha256 prefix the store checks the file against ('' = none)
    origin: str = ""          # where the file came from, in words (a package name), '' = the cache


class Source:
    """A model source. Subclass it, set the wording, implement what the source has, register one
    instance (``workbench.models.sources``). Architecture names of a source with a ``prefix`` start
    with it (``timm/...``); a source without one owns the bare names it ``knows``."""

    name = ""                 # short name: the picker's family, `weights list`, messages ("a timm model")
    label = ""                # one line for help texts: what it is
    prefix = ""               # its architecture names start with this ('' = bare names)
    builds = False            # whether it builds architectures (else it only holds weights)
    examples: tuple[str, ...] = ()   # search words for the picker's hint
    suggested: tuple[str, ...] = ()  # architectures a new fine-tune looks for first
    offline = ""              # where it finds weights without the network, in words ('' = nowhere)
    arch_help = ""            # its part of model.arch's help
    tag_help = ""             # its part of model.pretrained's help

    def __repr__(self) -> str:
        return f"<model source {self.name}>"

    # ---------------------------------------------------------------- architectures
    def missing(self) -> str:
        """'' when the source can be used here, else what to install ("timm is not installed (...)")."""
        return ""

    def archs(self) -> list[str]:
        """Every architecture it builds here ([] when it cannot be used)."""
        return []

    def knows(self, arch: str) -> bool:
        """Whether it builds ``arch`` (sources with many names answer without listing them)."""
        return arch in self.archs()

    def build(self, arch: str, num_classes: int) -> "nn.Module":
        """``arch`` with random weights and an output of ``num_classes`` (the builder replaces the head)."""
        raise ModelError(f"the {self.name} source builds no models")

    def classifier(self, arch: str, model: "nn.Module") -> "tuple[str, nn.Module] | None":
        """Dotted name and module of the model's final classifier; None = the builder finds it (the
        last Linear, else the last conv)."""
        return None

    def layer_chunks(self, model: "nn.Module", skip: set) -> "list[list] | None":
        """Parameters of ``model`` in model order as [stem, stages...], leaving out those whose id is in
        ``skip`` (the new head), when the source has its own grouping for it; None = the builder's."""
        return None

    def params_m(self, arch: str) -> float:
        """Millions of parameters, known without building the model (0 = unknown)."""
        return 0.0

    # ---------------------------------------------------------------- weights
    def tags(self, arch: str) -> list[str]:
        """Named pretrained weights of ``arch``, the default first ([] = none)."""
        return []

    def spec(self, arch: str, tag: str) -> WeightsSpec:
        """Where ``arch:tag`` comes from (``tag`` is one of :meth:`tags` or DEFAULT)."""
        raise ModelError(f"the {self.name} source has no weights of {arch}")

    def refine(self, spec: WeightsSpec) -> WeightsSpec:
        """``spec`` with what this source knows better (e.g. its own record of the preprocessing)."""
        return spec

    def locate(self, spec: WeightsSpec) -> Located | None:
        """The weights ``spec`` on this machine, as this source holds them; None = not here."""
        return None

    def listed(self, everything: bool) -> list[str]:
        """What `workbench weights list` shows of this source: ``arch`` (all its weights) or
        ``arch:tag`` refs; ``everything`` = the --all flag."""
        return []

    def guess(self, path: Path) -> tuple[str, str] | None:
        """(arch, tag) of a published weights file, told by its name; None = not one of this source's."""
        return None

    def stored_ref(self, filename: str) -> tuple[str, str] | None:
        """(arch, tag) of a file in the weights cache named the way this source's weights are stored
        there, for files the source's own listing would leave out; None = not one of them."""
        return None


_SOURCES: list[Source] = []


def register(source: Source, before: str = "") -> Source:
    """Add ``source`` (replacing one of the same name where it stood), last or before the source named
    ``before``; returns it. Sources are asked in this order."""
    if before:
        unregister(source.name)
    for i, s in enumerate(_SOURCES):
        if s.name == source.name:
            _SOURCES[i] = source
            return source
    at = next((i for i, s in enumerate(_SOURCES) if s.name == before), len(_SOURCES))
    _SOURCES.insert(at, source)
    return source


def unregister(name: str) -> None:
    _SOURCES[:] = [s for s in _SOURCES if s.name != name]


def registered() -> tuple[Source, ...]:
    """The registered sources in the order they are asked (``workbench.models.sources.sources()``
    guarantees the built-in ones are among them)."""
    return tuple(_SOURCES)
