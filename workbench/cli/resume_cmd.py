"""``workbench resume RUN_DIR``: continue a stopped or crashed run from its last checkpoint, exactly."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import require_run
from .train_cmd import run_with_progress


def cmd(args: argparse.Namespace) -> int:
    from ..train.run import resume
    run_dir = Path(args.run_dir)
    require_run(run_dir)
    return run_with_progress(lambda sink, control: resume(run_dir, sink=sink, control=control))


def add_parser(sub) -> None:
    p = sub.add_parser("resume", help="continue a stopped run from its last checkpoint",
                       description="Continue a run with the same optimizer, schedule position and RNG state.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by 'workbench train'")
    p.set_defaults(func=cmd)
