"""Checks before a run folder exists: recipe ranges, dataset, architecture, device, precision and
memory. A problem is one sentence in a ``SetupError``; nothing has been written when one is raised.

The memory estimate runs the model once on PyTorch's "meta" device (shapes only: no memory, no
compute) at the recipe's image size and counts every layer's output, which is what training keeps
for the backward pass. Estimated training memory::

    parameters x 4 bytes x (weights + gradients + 2 optimizer moments)
    + batch x (layer outputs x 4 bytes x ACTIVATION_FACTOR + 2 input copies)

On the CPU a run whose estimate is above the memory available is refused (the kernel would end the
process without a message); above WARN_SHARE of it there is a warning. On a GPU it is a warning only,
because an out-of-memory error there halves the batch and retries.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import BadInput
from ..config import RunConfig, field_meta
from ..data.pipeline import batch_warnings
from ..data.report import require_trainable, training_problems
from ..data import DatasetError, open_dataset
from ..runtime.device import pick_device, pick_precision, threads_note
from ..models.build import ModelError, check_arch, create_model
from ..runtime.paths import cache_root

ACTIVATION_FACTOR = 1.5  # saved outputs plus the transient gradients of the backward pass
WARN_SHARE = 0.8


class SetupError(BadInput):
    """The run cannot start as configured; the message is one sentence saying why and what to do."""


@dataclass(frozen=True)
class MemoryEstimate:
    bytes_needed: int
    bytes_available: int | None   # None: unknown
    per_image: int                # bytes of one image in a training batch
    params: int                   # parameter count
    classes: int = 0              # of the head the count is with (0: not said)

    def text(self) -> str:
        avail = "unknown" if self.bytes_available is None else _gb(self.bytes_available)
        head = f" with a {self.classes}-class head" if self.classes else ""
        return (f"about {_gb(self.bytes_needed)} needed ({self.params / 1e6:.1f} M parameters{head}, "
                f"{_gb(self.per_image)} per image in a batch), {avail} available")


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n < 10e9 else f"{n / 1e9:.0f} GB"


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory(device: torch.device) -> int | None:
    """Bytes the run may still use: free GPU memory, or on the CPU the kernel's MemAvailable,
    bounded by a cgroup (container) limit; None when it cannot be told."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:  # noqa: BLE001 - no estimate rather than no run
            return None
    if device.type != "cpu":
        return None
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    limit, used = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if limit is None:  # cgroup v1
        limit, used = (_read_int("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
                       _read_int("/sys/fs/cgroup/memory/memory.usage_in_bytes"))
    if limit is not None and used is not None and limit < 1 << 60:
        room = max(0, limit - used)
        avail = room if avail is None else min(avail, room)
    return avail


def estimate_memory(cfg: RunConfig, n_classes: int, device: torch.device) -> MemoryEstimate:
    """Training memory of ``cfg`` (see the module docstring); the model is built on the meta device."""
    size = max(cfg.data.image_size, cfg.tricks.prog_start_size or 0)
    with torch.device("meta"):
        model = create_model(cfg.model.arch, max(1, n_classes), cfg.model.dropout)
        x = torch.empty(1, 3, size, size)
    outputs = 0

    def count(_m, _inp, out):
        nonlocal outputs
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                outputs += t.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    try:
        model.train()
        model(x)
    except Exception:  # noqa: BLE001 - an architecture the meta device cannot run: parameters only
        outputs = 0
    finally:
        for h in hooks:
            h.remove()
    params = sum(p.numel() for p in model.parameters())
    per_image = int(outputs * 4 * ACTIVATION_FACTOR + 2 * 3 * size * size * 4)
    needed = params * 4 * 4 + cfg.data.batch_size * per_image
    return MemoryEstimate(int(needed), available_memory(device), per_image, int(params), max(1, n_classes))


def _runs_at(model: torch.nn.Module, size: int) -> bool:
    try:
        model(torch.empty(2, 3, size, size, device="meta"))
        return True
    except Exception:  # noqa: BLE001 - any failure at this size
        return False


def check_input_size(cfg: RunConfig) -> None:
    """SetupError when the architecture cannot take the recipe's image size (a ViT needs its own
    size exactly), naming the size it needs; checked on the meta device (shapes only, no memory)."""
    sizes = {cfg.data.image_size}
    if cfg.tricks.progressive_resize and cfg.tricks.prog_start_size > 0:
        sizes.add(min(cfg.tricks.prog_start_size, cfg.data.image_size))
    try:
        with torch.device("meta"):
            model = create_model(cfg.model.arch, 2, cfg.model.dropout)
        model.train()
    except Exception:  # noqa: BLE001 - the architecture check reports what is wrong with it
        return
    bad = sorted(s for s in sizes if not _runs_at(model, s))
    if not bad:
        return
    lo, hi = int(field_meta("data.image_size")["min"]), int(field_meta("data.image_size")["max"])
    good = next((s for s in range(max(lo, 16), hi + 1, 16) if _runs_at(model, s)), None)
    if good is None:
        return  # no size works on the meta device: training will say what fails
    what = (f"exactly {good} px" if not _runs_at(model, good + 16) and not _runs_at(model, good * 2)
            else f"at least about {good} px")
    key = "data.image_size" if cfg.data.image_size in bad else "tricks.prog_start_size"
    raise SetupError(f"model.arch={cfg.model.arch} cannot take {bad[0]} px images ({key}); it needs {what}: "
                     f"set {key}={good} or choose another architecture")


def check_cache_dir(cfg: RunConfig) -> None:
    """SetupError when the cache folder (data.cache_dir or its default) cannot be made or written."""
    root = cache_root(cfg.data.cache_dir)
    key = "data.cache_dir" if cfg.data.cache_dir else "the cache folder ($WORKBENCH_CACHE_DIR)"
    if root.exists() and not root.is_dir():
        raise SetupError(f"{key} {root} is a file, not a folder: set it to a folder this program can write")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SetupError(f"{key} {root} cannot be used: {e.strerror or e} (it must be a folder this program "
                         f"can write)") from None
    if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
        raise SetupError(f"{key} {root} cannot be used: {'not a folder' if not root.is_dir() else 'not writable'} "
                         f"(it must be a folder this program can write)")


def check_memory(cfg: RunConfig, n_classes: int, device: torch.device) -> str:
    """Raise SetupError when the run will not fit on the CPU; returns a warning ('' when fine)."""
    est = estimate_memory(cfg, n_classes, device)
    if est.bytes_available is None:
        return ""
    fits = max(1, int((est.bytes_available * WARN_SHARE - est.params * 16) // max(1, est.per_image)))
    if est.bytes_needed > est.bytes_available and device.type == "cpu":
        raise SetupError(f"this recipe will not fit in memory: {est.text()}; lower data.batch_size "
                         f"(about {fits} fits) or data.image_size")
    if est.bytes_needed > est.bytes_available * WARN_SHARE:
        return (f"warning: this recipe may not fit in memory: {est.text()}"
                + ("; an out-of-memory error halves the batch size" if device.type == "cuda" else
                   f"; consider data.batch_size {fits} or less"))
    return ""


def preflight(cfg: RunConfig, sink=None, control=None, check_data: bool = True):
    """Check ``cfg`` before anything is written; returns (dataset or None, device, precision,
    warning). Raises SetupError with one sentence."""
    problems = cfg.validate()
    if problems:
        raise SetupError("invalid recipe: " + "; ".join(problems))
    try:
        check_arch(cfg.model.arch)
        device = pick_device(cfg.train.device)
        precision = pick_precision(device, cfg.train.precision)
    except (ModelError, ValueError) as e:
        raise SetupError(str(e)) from None
    check_input_size(cfg)
    check_cache_dir(cfg)
    ds = None
    if check_data:
        try:
            ds = open_dataset(cfg.data, cfg.seed, sink=sink, control=control)
        except DatasetError as e:
            raise SetupError(str(e)) from None
        except OSError as e:
            raise SetupError(f"cannot read the dataset {cfg.data.path}: {e.strerror or e}") from None
        try:
            require_trainable(ds)  # e.g. one class: the same sentence the app shows
        except DatasetError as e:
            raise SetupError(f"{cfg.data.path}: {e}") from None
    notes = [threads_note(cfg.train.threads)] + ((training_problems(ds)[1] + batch_warnings(ds, cfg))
                                                 if ds is not None else [])
    if not os.environ.get("WORKBENCH_SKIP_MEMORY_CHECK"):
        notes.append(check_memory(cfg, len(ds.classes) if ds is not None else 2, device))
    return ds, device, precision, "\n".join(n for n in notes if n)
