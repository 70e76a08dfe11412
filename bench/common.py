"""Shared helpers for the benchmarks: CPU kind, timing, memory readings, table printing."""
from __future__ import annotations

import os
import platform
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parents[1]


def ensure_repo_on_path() -> None:
    """Let ``python bench/<name>.py`` import the workbench package from this checkout."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_kind() -> str:
    """'native bf16 (...)' where the CPU has AVX512-BF16 or AMX, else 'AVX2' / 'AVX512' / the machine name."""
    flags = cpu_flags()
    native = sorted(f for f in flags if f == "avx512_bf16" or f.startswith("amx"))
    if native:
        return f"native bf16 ({', '.join(native)})"
    if "avx512f" in flags:
        return "AVX512 (no native bf16)"
    if "avx2" in flags:
        return "AVX2 (no native bf16)"
    return platform.machine() or "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_header(title: str) -> None:
    import torch
    print(f"== {title}")
    print(f"cpu: {cpu_model()} | {os.cpu_count()} cores | kind: {cpu_kind()}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, python {platform.python_version()}")
    try:
        print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    except OSError:
        pass


@contextmanager
def timer() -> Iterator[dict]:
    """``with timer() as t: ...`` then ``t["s"]`` holds the elapsed seconds."""
    out = {"s": 0.0}
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        out["s"] = time.perf_counter() - t0


def best_of(fn: Callable[[], float], repeat: int) -> float:
    """Run ``fn`` (returning a rate) ``repeat`` times and keep the best (least disturbed) rate."""
    return max(fn() for _ in range(max(1, repeat)))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MiB)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def rss_breakdown_mb() -> dict[str, float]:
    """Current RSS split into anonymous (heap) and file-backed (e.g. memmap pages) memory, MiB."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            for key in ("VmRSS", "RssAnon", "RssFile"):
                if line.startswith(key + ":"):
                    out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def print_table(headers: list[str], rows: list[list]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for k, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def data_or_demo(data: str, tmp: Path) -> str:
    """``data``, or the built-in demo set written into ``tmp`` when it is empty."""
    if data:
        return data
    import subprocess
    out = Path(tmp) / "demo"
    subprocess.run([sys.executable, "-m", "workbench", "demo-data", str(out)], cwd=Path(__file__).resolve().parents[1],
                   check=True, stdout=subprocess.DEVNULL)
    return str(out)


def plain_accuracy(model, loader) -> float:
    """Top-1 accuracy of a plain PyTorch model over a loader of (x, y) batches (eval mode, no grad)."""
    import torch
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return correct / max(1, total)
