"""Reading a weights file: a safetensors file or a PyTorch file, told apart by their bytes.

Kept apart from the builder (``workbench.models.build``) so that the weights bundled with the install
(``workbench.models.bundled``, one of the registered sources) can read their package's file without
importing the builder, which reads the list of sources.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from .source import ModelError


def is_safetensors(path: str | Path) -> bool:
    """Whether the file's bytes are a safetensors file (an 8-byte header length, then a JSON header),
    whatever its name says."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= size - 8 and head[8:9] == b"{"


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from a safetensors file or a PyTorch file (torch.load with weights_only=True:
    no pickled code runs), told apart by their bytes, not by the name. A dict wrapping the state dict as
    ``{"model": ...}`` (a workbench checkpoint) or ``{"state_dict": ...}`` is unwrapped."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelError(f"weights file not found: {p}")
    try:
        if is_safetensors(p):
            sd = load_file(str(p))
        else:
            sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any read error becomes a clear message
        why = str(e).splitlines()[0] if str(e) else type(e).__name__  # torch's first line says it
        raise ModelError(f"cannot read weights file {p}: {why}") from e
    if isinstance(sd, dict) and isinstance(sd.get("model"), dict):
        sd = sd["model"]  # a workbench checkpoint
    elif isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelError(f"weights file {p} does not hold a state_dict of tensors")
    return {str(k).removeprefix("module."): v for k, v in sd.items()}
