"""Data-parallel scaling: training images/s with 1 and N processes (DDP, launched by torchrun).

With more than one CUDA GPU it compares 1 GPU with N GPUs (NCCL). Otherwise it compares 1 CPU process
using all cores with N CPU processes sharing them (gloo), and says so: on a CPU, DDP only pays when
one process cannot use the cores well (small models / images), so expect a ratio near or below 1.

    python bench/ddp_scaling.py [--data PATH] [--nproc N] [--epochs 2] [--size 64] [--batch 32]
                                [--arch resnet18]

Images/s is the global training throughput of the last epoch (all ranks' images / epoch time),
measured inside one run of this script; the first epoch is a warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def worker(args: argparse.Namespace) -> None:
    """One rank: the real data path, model and Trainer with the DistributedCallback."""
    from workbench.config import RunConfig
    from workbench.data import open_dataset
    from workbench.data.pipeline import build_loaders
    from workbench.runtime.device import pick_device, pick_precision, set_threads
    from workbench.train import distributed
    from workbench.train.run import build_trainer
    import torch

    info = distributed.start(args.device)
    cfg = (RunConfig().set("data.path", args.data).set("train.epochs", args.epochs)
           .set("data.image_size", args.size).set("data.batch_size", args.batch).set("model.arch", args.arch)
           .set("train.device", args.device).set("train.precision", args.precision)
           .set("train.threads", args.threads if info.world_size == 1 else 0))
    cfg = distributed.rank_config(cfg)
    set_threads(cfg.train.threads)
    device = pick_device(cfg.train.device)
    precision = pick_precision(device, cfg.train.precision)
    ds = open_dataset(cfg.data, cfg.seed)
    with distributed.rank0_first():
        bundle = build_loaders(ds, cfg, device, rank=info.rank, world_size=info.world_size)
    trainer = build_trainer(cfg, bundle, device=device, precision=precision, callbacks=distributed.callbacks())
    t0 = time.perf_counter()
    trainer.fit(args.epochs)
    wall = time.perf_counter() - t0
    if info.is_main:
        last = trainer.history[-1]
        out = {"world_size": info.world_size, "images_per_sec": last["images_per_sec"], "wall_s": wall,
               "device": str(device), "precision": precision, "threads": torch.get_num_threads(),
               "accuracy": last["accuracy"], "per_rank_batch": args.batch}
        Path(args.out).write_text(json.dumps(out))
    distributed.cleanup()


def launch(args: argparse.Namespace, nproc: int, out: Path) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           __file__, "--worker", "--out", str(out), "--data", args.data, "--epochs", str(args.epochs),
           "--size", str(args.size), "--batch", str(args.batch), "--arch", args.arch,
           "--device", args.device, "--precision", args.precision, "--threads", str(args.threads)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{nproc} process(es) failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    res = json.loads(out.read_text())
    res["launch_s"] = time.perf_counter() - t0
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str((ROOT / ".." / "shared" / "data" / "nette-mini").resolve()))
    p.add_argument("--nproc", type=int, default=0, help="N: default = number of GPUs, else 2")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32, help="per-process batch size (global = N x this)")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--threads", type=int, default=0, help="CPU threads of the 1-process run (0 = all cores); "
                   "the N processes share the cores equally")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    import torch
    n_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpu = n_gpu > 1 and args.device in ("auto", "cuda")
    if not gpu:
        args.device = "cpu"
    nproc = args.nproc or (n_gpu if gpu else 2)
    kind = f"{nproc} CUDA GPUs (NCCL)" if gpu else f"{nproc} CPU processes (gloo) on {os.cpu_count()} cores"
    print(f"DDP scaling: 1 vs {kind}; {args.arch} {args.size} px, per-process batch {args.batch}, "
          f"{args.epochs} epochs, data {args.data}")
    if not gpu:
        print("no multi-GPU machine here: this measures CPU processes, not GPUs")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("WORKBENCH_CACHE_DIR", str(Path(tmp) / "cache"))
        rows = [launch(args, n, Path(tmp) / f"res{n}.json") for n in (1, nproc)]
    print(f"{'processes':>9} {'device':>8} {'threads':>7} {'precision':>9} {'img/s':>8} {'epochs s':>8} {'acc':>6}")
    for r in rows:
        print(f"{r['world_size']:>9} {r['device']:>8} {r['threads']:>7} {r['precision']:>9} "
              f"{r['images_per_sec']:>8.1f} {r['wall_s']:>8.1f} {r['accuracy']:>6.3f}")
    print(f"speed-up {nproc} vs 1: {rows[1]['images_per_sec'] / rows[0]['images_per_sec']:.2f}x "
          f"(global batch {args.batch} vs {args.batch * nproc})")


if __name__ == "__main__":
    main()
