"""Throughput of a training job process at each CPU priority beside busy programs, and the UI side.

    python bench/job_priority.py [--steps 12] [--compete 1,2] [--size 64] [--modes nice,nice+adapt,idle,normal]

Runs the same work (resnet18 forward + backward + AdamW step on a random batch of 32, the size of
the demo recipe) in a ``workbench.runtime.procjob.JobProcess`` at nice +10 (the default), SCHED_IDLE and
normal priority, and at nice +10 with the trainer's thread-count adaptation
(``workbench.train.cpu_threads.AdaptiveThreads``, ``nice+adapt``), each while ``--compete`` CPU-bound
processes at normal priority run beside it, and reports steps/s, the thread counts the steps ran
with, the job's share of the CPU time it asked for (``CpuShare``) and the p99 lateness of a 10 ms sleep loop in this (normal-priority) process meanwhile: what the app's event loop would see.
A shorter, self-contained check than bench/ui_latency.py, for machines that are busy anyway.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

BURN = "import sys, threading\ndone = threading.Event()\nthreading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()\nwhile not done.is_set():\n    pass\n"


def work(steps: int, size: int, adapt: float = 0.0):
    """The job: ``steps`` timed training steps; with ``adapt`` > 0 the trainer's AdaptiveThreads
    callback (that interval in seconds) runs after each step, as in a real run."""
    def job(sink, control):
        import torch
        import torchvision
        from workbench.train.cpu_threads import AdaptiveThreads
        torch.manual_seed(0)
        model = torchvision.models.resnet18(num_classes=10)
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        x, y = torch.randn(32, 3, size, size), torch.randint(0, 10, (32,))

        class Log:  # the one trainer method the callback uses
            def __init__(self):
                self.lines = []

            def log(self, text, level="info"):
                self.lines.append(text)
        tr, cb = Log(), AdaptiveThreads(interval=adapt) if adapt > 0 else None
        if cb:
            cb.before_fit(tr)
        times, threads = [], []
        for i in range(steps + 2):
            t = time.perf_counter()
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            times.append(time.perf_counter() - t)
            threads.append(torch.get_num_threads())
            if cb:
                cb.after_batch(tr)
        return times[2:], threads[2:], list(tr.lines)  # the first steps warm up
    return job


def _job(steps, size, adapt, sink, control):
    return work(steps, size, adapt)(sink, control)


def measure(mode: str, steps: int, size: int, compete: int, interval: float = 3.0) -> dict:
    """``mode``: nice, idle or normal (the job process's priority), ``+adapt`` for the thread-count
    adaptation (e.g. ``nice+adapt``)."""
    import functools
    from workbench.runtime.procjob import CpuShare, JobProcess
    priority, _, adapt = mode.partition("+")
    rivals = [subprocess.Popen([sys.executable, "-c", BURN], stdin=subprocess.PIPE, text=True) for _ in range(compete)]
    proc = JobProcess(warm_modules=("torch", "torchvision"), background=priority)
    proc.ready(timeout=300)
    share, shares, lates, stop = CpuShare(proc.pid), [], [], threading.Event()

    def watch():
        share.sample()
        while not stop.is_set():
            t = time.perf_counter()
            time.sleep(0.01)
            lates.append((time.perf_counter() - t - 0.01) * 1000)
            if len(lates) % 100 == 0:
                v = share.sample()
                if v is not None:
                    shares.append(v)
    w = threading.Thread(target=watch, daemon=True)
    w.start()
    t0 = time.perf_counter()
    times, threads, lines = proc.run(functools.partial(_job, steps, size, interval if adapt else 0.0), None)
    wall = time.perf_counter() - t0
    stop.set()
    w.join()
    for r in rivals:
        r.communicate("")
    half = len(times) // 2
    return {"mode": mode, "steps_per_s": len(times) / sum(times), "wall": wall,
            "late_steps_per_s": (len(times) - half) / sum(times[half:]), "threads": threads, "lines": lines,
            "share": float(np.mean(shares)) if shares else float("nan"),
            "p99_ms": float(np.percentile(lates, 99)) if lates else float("nan")}


def _threads(seq: list[int]) -> str:
    """'2' or '2 -> 1 (from step 3)': the thread counts the steps ran with."""
    out, last = [], None
    for i, k in enumerate(seq):
        if k != last:
            out.append(f"{k}" if last is None else f"{k} (from step {i + 1})")
            last = k
    return " -> ".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--compete", default="1", help="CPU-bound processes at normal priority beside the job; "
                    "a comma list measures each (e.g. 1,2)")
    ap.add_argument("--modes", default="nice,nice+adapt,idle,normal",
                    help="job priorities (nice, idle, normal); +adapt: with the thread-count adaptation")
    ap.add_argument("--interval", type=float, default=3.0, help="seconds between the adaptation's measurements")
    args = ap.parse_args()
    for compete in [int(c) for c in args.compete.split(",")]:
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before; {compete} busy process(es) "
              f"beside the job; resnet18 batch 32 at {args.size} px, {args.steps} steps", flush=True)
        for mode in args.modes.split(","):
            r = measure(mode, args.steps, args.size, compete, args.interval)
            print(f"{mode:>11}: {r['steps_per_s']:6.2f} steps/s (second half {r['late_steps_per_s']:.2f}; "
                  f"{r['wall']:.1f} s in all), threads {_threads(r['threads'])}, job got {r['share']:.0%} of the "
                  f"CPU time it asked for; a normal-priority 10 ms sleep loop: p99 {r['p99_ms']:.2f} ms late; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
