"""Device and precision choice.

Precision is chosen per machine, never assumed (see DESIGN.md section 3): bf16 autocast on a CPU
is only used where the CPU has native bf16 instructions (AVX512-BF16 or AMX); on AVX2-only CPUs it was
measured ~30x slower than fp32. On CUDA, AMP uses bf16 where supported, else fp16 with a grad scaler.
``measure_precision`` can time a few steps of each candidate instead of trusting the flags.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
import time
from functools import lru_cache
from typing import Callable

import torch

PRECISIONS = ("fp32", "bf16", "fp16")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda, then mps, then cpu; otherwise the named device, checked to exist."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"unknown device '{name}': use auto, cpu, cuda, cuda:N or mps") from e
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device '{name}' is not available: this torch build or machine has no CUDA GPU")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device '{name}' is not available: only {torch.cuda.device_count()} CUDA GPU(s)")
    elif dev.type == "mps" and not _mps_available():
        raise ValueError(f"device '{name}' is not available: MPS (Apple GPU) is not available here")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device '{name}': use auto, cpu, cuda, cuda:N or mps")
    return dev


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_kind(flags: frozenset | None = None) -> str:
    """'native-bf16' (avx512_bf16 / amx_bf16 / amx_tile), 'avx2' or 'other'."""
    flags = _cpu_flags() if flags is None else flags
    if flags & {"avx512_bf16", "amx_bf16", "amx_tile"}:
        return "native-bf16"
    if "avx2" in flags:
        return "avx2"
    return "other"


def pick_precision(device: torch.device, requested: str = "auto") -> str:
    """'fp32' | 'bf16' | 'fp16'. auto: CPU -> bf16 only with native bf16; CUDA -> bf16 or fp16; MPS -> fp32."""
    requested = (requested or "auto").lower()
    device = torch.device(device)
    if requested != "auto":
        if requested not in PRECISIONS:
            raise ValueError(f"unknown precision '{requested}': use auto, fp32, bf16 or fp16")
        if requested == "fp16" and device.type == "cpu":
            raise ValueError("precision fp16 is not supported on the CPU: use fp32 or bf16")
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu":
        return "bf16" if cpu_kind() == "native-bf16" else "fp32"
    return "fp32"


def autocast_dtype(device: torch.device | str, precision: str) -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device`` (None: plain fp32), one rule for training,
    inference, TTA, the label audit and speed probes: bf16 on every device, fp16 on CUDA and MPS
    (the CPU has no fp16 autocast worth running; ``pick_precision`` refuses it there too)."""
    dev = torch.device(device)
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if dev.type == "cpu":
            raise ValueError("precision fp16 is not supported on the CPU: use fp32 or bf16")
        return torch.float16
    raise ValueError(f"unknown precision '{precision}': use fp32, bf16 or fp16 (auto is resolved by pick_precision)")


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """Context manager that runs the enclosed forward passes in ``precision`` on ``device``."""
    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def describe(device: torch.device) -> str:
    """Short human description, e.g. 'CPU (native bf16, 2 threads)' or 'NVIDIA H100 80GB'."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    kind = {"native-bf16": "native bf16", "avx2": "AVX2", "other": "generic"}[cpu_kind()]
    n = torch.get_num_threads()
    return f"CPU ({kind}, {n} thread{'s' if n != 1 else ''})"


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_note(requested: int) -> str:
    """The note that a ``train.threads`` above this machine's cores is capped ('' when it is not)."""
    cores = available_cores()
    if requested <= cores:
        return ""
    return (f"note: train.threads = {requested} is more than the {cores} core(s) this process may use; "
            f"using {cores} (more threads than cores only wait on each other)")


def set_threads(requested: int = 0) -> int:
    """Set torch CPU threads (requested, else all cores), at most the cores this process may use (a
    thousand threads on two cores spin against each other and never finish a batch; ``threads_note``
    says so). An app that runs a job in a thread of its own process lowers that thread's priority
    first (``lower_thread_priority``) instead of giving up a core."""
    cores = available_cores()
    n = max(1, min(requested, cores) if requested > 0 else cores)
    torch.set_num_threads(n)
    keep_freed_memory()
    return n


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_allocator_tuned: bool | None = None


def keep_freed_memory() -> bool:
    """Let glibc keep freed batch-sized buffers for reuse instead of handing them back to the OS.

    Batches are tens of MB; by default glibc serves such blocks with mmap and trims freed heap
    memory, so every augmentation step first page-faults freshly zeroed memory, which doubled the
    time of a batch transform. Raising the mmap threshold to its maximum (32 MiB) and the trim
    threshold to 1 GiB keeps those buffers in the heap, where the next batch reuses them (the
    footprint stays at the peak of one step). Done once per process; a no-op outside glibc.
    Returns whether it applies."""
    global _allocator_tuned
    if _allocator_tuned is None:
        _allocator_tuned = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL("libc.so.6")
                _allocator_tuned = bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)) and bool(
                    libc.mallopt(_M_TRIM_THRESHOLD, 2**30))  # C int: at most 2**31 - 1
            except (OSError, AttributeError):
                pass
    return _allocator_tuned


def lower_thread_priority(step: int = 10) -> bool:
    """Raise the nice value of the calling thread by ``step`` (Linux: nice is per thread, and the
    threads it starts afterwards - loader prefetch threads, the OpenMP pool of its torch calls - inherit
    it). Training then uses every core while the scheduler still runs the UI thread first whenever it
    has work, which keeps the app responsive on small machines. Returns False where not supported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        target = min(19, max(current, 0) + step)
        if current < target:
            os.setpriority(os.PRIO_PROCESS, tid, target)
        return True
    except (OSError, AttributeError):
        return False


def measure_precision(step: Callable[[str], None], candidates: tuple = ("fp32", "bf16"),
                      repeats: int = 2) -> dict[str, float]:
    """Seconds per step for each precision: ``step(precision)`` runs one training step.

    The first call of each candidate is a warm-up; the rest are timed. Returns {precision: seconds}.
    """
    out = {}
    for p in candidates:
        step(p)
        t0 = time.perf_counter()
        for _ in range(repeats):
            step(p)
        out[p] = (time.perf_counter() - t0) / repeats
    return out
