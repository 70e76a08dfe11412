"""The model sources, registered in one place.

A source builds architectures, holds weights for them, or both (``workbench.models.source.Source``).
The built-in ones, in the order they are asked:

- ``bundled`` (``bundled.py``): ImageNet weights in packages installed with workbench;
- ``files`` (``disk_source.py``): weights files in the local weights cache (downloaded or imported);
- ``torchvision`` (``torchvision_source.py``): torchvision's models and their published weights;
- ``timm`` (``timm_source.py``): timm's models as ``timm/<name>`` and their weights.

Weights on this machine are asked first (bundled, then the cache), then the libraries. The model
builder (``build``), the weights store (``weights``), the model catalogue of the picker
(``recipe.pretrained``), ``workbench weights`` and the recipe's help text read :func:`sources`.
Adding a source: one module with a ``Source`` subclass, imported here and given its place in
:data:`BUILTIN` (or, from other code, one :func:`register` call, which holds in that process only).
Nothing here imports torch.
"""
from __future__ import annotations

from . import bundled, disk_source, timm_source, torchvision_source
from .source import DEFAULT_TAG, Located, ModelError, Source, WeightsSpec, register, registered, unregister

__all__ = ["BUILTIN", "DEFAULT_TAG", "Located", "ModelError", "Source", "WeightsSpec", "arch_help", "builders",
           "offline_places", "register", "search_examples", "source_of", "sources", "suggested_archs",
           "tag_help", "unregister"]

BUILTIN: tuple[Source, ...] = (bundled.SOURCE, disk_source.SOURCE, torchvision_source.SOURCE, timm_source.SOURCE)
for _src in BUILTIN:
    register(_src)


def sources() -> tuple[Source, ...]:
    """Every registered source, in the order they are asked."""
    return registered()


def builders() -> list[Source]:
    """The sources that build architectures."""
    return [s for s in sources() if s.builds]


def source_of(arch: str) -> Source | None:
    """The source ``arch`` belongs to: the one whose prefix it starts with (the longest), else the first
    source of bare names that knows it; None when no source does. A prefixed name belongs to its source
    even where that source cannot build it (not installed, or no such model)."""
    prefixed = [s for s in builders() if s.prefix and arch.startswith(s.prefix)]
    if prefixed:
        return max(prefixed, key=lambda s: len(s.prefix))
    return next((s for s in builders() if not s.prefix and not s.missing() and s.knows(arch)), None)


def suggested_archs() -> list[str]:
    """Architectures a new fine-tune looks for first (their weights on disk), source by source."""
    return list(dict.fromkeys(a for s in sources() for a in s.suggested))


def arch_help() -> str:
    """model.arch's help text, one part per source that builds models."""
    parts = [s.arch_help for s in builders() if s.arch_help]
    return "Any " + " or, ".join(parts) + "."


def tag_help() -> str:
    """model.pretrained's tag choices, one part per source."""
    parts = [s.tag_help for s in sources() if s.tag_help]
    return " or ".join(parts)


def offline_places() -> str:
    """Where weights are found without the network, source by source, as one phrase."""
    return "; ".join(s.offline for s in sources() if s.offline)


def search_examples() -> str:
    """Search words for the architecture picker, from every source that builds models."""
    return ", ".join(e for s in builders() for e in s.examples)
