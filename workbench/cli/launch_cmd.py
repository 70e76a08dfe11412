"""``workbench launch --nproc N [rendezvous options] -- COMMAND ARGS``: torchrun for this installation.

Runs torch.distributed.run in this process and starts N copies of ``workbench COMMAND ARGS`` (the
packaged app relaunches its own executable, a source install ``python -m workbench``), e.g.::

    workbench launch --nproc 4 -- train photos/ --config run.toml
    workbench launch --nproc 8 --nnodes 2 --node-rank 0 --rdzv-endpoint host0:29400 -- train photos/
"""
from __future__ import annotations

import argparse
import sys

from .common import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("launch", help="run a command on several processes / GPUs with torchrun (DDP)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nproc", type=int, default=0,
                   help="processes on this machine; default: one per CUDA GPU, else 2")
    p.add_argument("--nnodes", default="1", help="number of machines (or MIN:MAX), default 1")
    p.add_argument("--node-rank", type=int, default=0, help="index of this machine (static rendezvous)")
    p.add_argument("--rdzv-endpoint", default="", help="HOST:PORT of the rendezvous (multi-machine runs)")
    p.add_argument("--rdzv-id", default="workbench", help="job id shared by all machines of one run")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="-- COMMAND ARGS (train ... or resume RUN_DIR)")
    p.set_defaults(func=run)


def torchrun_args(args: argparse.Namespace) -> list[str]:
    """The torch.distributed.run argument list for ``args`` (separate for testing)."""
    rest = list(args.rest)
    if rest and rest[0] == "--":
        rest = rest[1:]
    if not rest or rest[0] not in ("train", "resume"):
        raise UsageError("launch needs a command after '--': train DATASET [...] or resume RUN_DIR")
    nproc = args.nproc or _default_nproc()
    if nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {nproc}")
    out = [f"--nproc_per_node={nproc}", f"--nnodes={args.nnodes}"]
    if args.rdzv_endpoint:
        out += ["--rdzv_backend=c10d", f"--rdzv_endpoint={args.rdzv_endpoint}", f"--rdzv_id={args.rdzv_id}",
                f"--node_rank={args.node_rank}"]
    elif str(args.nnodes) == "1":
        out.append("--standalone")
    else:
        raise UsageError("--nnodes above 1 needs --rdzv-endpoint HOST:PORT")
    entry = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "workbench"]
    return out + ["--no-python", entry[0], *entry[1:], *rest]


def _default_nproc() -> int:
    import torch
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return n if n > 0 else 2


def run(args: argparse.Namespace) -> int:
    argv = torchrun_args(args)
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    try:
        torchrun.main(argv)
    except ChildFailedError as e:
        codes = [f.exitcode for f in e.failures.values()]
        print(f"error: a training process failed (exit codes {codes}); see the run folder's log.txt",
              file=sys.stderr)
        return 130 if codes and all(c in (130, -2) for c in codes) else 1
    return 0
