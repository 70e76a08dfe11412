"""Which torch / NVIDIA libraries a CPU-only bundle keeps (imported by workbench.spec and the tests).

The torch wheel installed here is a CUDA build. Its core libraries are linked against CUDA at build
time: libtorch_cpu.so needs libcudart + libcupti, and libtorch.so / libtorch_python.so need
libtorch_cuda.so, which needs cuBLAS, cuDNN, cuFFT, cuSPARSE, cuSOLVER, cuRAND, NCCL, nvrtc, nvJitLink,
cuFile and nvshmem. Without them ``import torch`` fails, so a CPU-only bundle cannot drop those.
What it can drop is everything that is only opened at run time on a GPU (cuDNN engine plug-ins, nvrtc
built-ins, NVSHMEM transports, profiler helpers, ...) and triton (only used by torch.compile on GPUs).
``needed_closure`` computes the link-time set from the ELF headers, so it follows the installed build.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


def _needed(path: Path) -> list[str]:
    """DT_NEEDED entries of a shared library (via readelf)."""
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=False).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def needed_closure(site_packages: Path) -> set[str]:
    """File names of all libraries that torch's extension modules need at load time (transitively)."""
    libs: dict[str, Path] = {}
    for pattern in ("nvidia/**/*.so*", "torch/lib/*.so*"):
        for p in site_packages.glob(pattern):
            libs.setdefault(p.name, p)
    for p in site_packages.glob("torch/*.so"):
        libs.setdefault(p.name, p)
    roots = [p.name for p in site_packages.glob("torch/*.so")] + [p.name for p in site_packages.glob("torch/lib/*.so*")]
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen or name not in libs:
            continue
        seen.add(name)
        stack.extend(_needed(libs[name]))
    return seen


def keep_binary(dest: str, src: str, needed: set[str]) -> bool:
    """Filter for PyInstaller's binaries list: drop GPU-only plug-ins, keep link-time dependencies."""
    parts = Path(dest).parts
    name = os.path.basename(dest)
    if parts and parts[0] in ("triton", "triton.libs"):
        return False
    if "nvidia" in parts or "/nvidia/" in src.replace(os.sep, "/"):
        return name in needed
    return True
