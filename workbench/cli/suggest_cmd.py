"""``workbench suggest DATASET [--budget-minutes N] [--config BASE] [--set ...] [--out recipe.toml]``.

Scans the dataset, measures this machine's training speed and prints the suggested
recipe as TOML, each chosen option with its reason as a comment (the reasons also travel inside the
recipe as ``reasons``, so the run folder keeps them). ``--out`` writes the file instead. With a budget
the recipe is probed as the planner probes a run, and ``train`` of it soon after reuses that probe.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runtime.atomic import atomic_write_text
from ..data import DatasetError, open_dataset
from ..data.stats import compute_stats
from .common import TerminalProgress, UsageError, add_config_args, load_config


def cmd(args: argparse.Namespace) -> int:
    from ..recipe.suggest import DataFacts, suggest
    if args.budget_minutes is not None and not 0 < args.budget_minutes <= 10_000:
        raise UsageError(f"--budget-minutes must be between 0 and 10000, got {args.budget_minutes:g}")
    cfg = load_config(args, args.dataset)
    if not Path(cfg.data.path).expanduser().is_dir():
        raise UsageError(f"dataset folder not found: {cfg.data.path}")
    if args.out and Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a folder: give the recipe file to write, e.g. "
                         f"{Path(args.out) / 'recipe.toml'}")
    sink = TerminalProgress()
    try:
        ds = open_dataset(cfg.data, cfg.seed, sink=sink)
    except DatasetError as e:
        raise UsageError(str(e)) from e
    if not ds.train:
        raise UsageError(f"{cfg.data.path}: no usable training images")
    facts = DataFacts.from_dataset(ds, compute_stats(ds, sink=sink))
    sink.line("measuring this machine's training speed ...")
    probe = None
    if args.budget_minutes:
        from ..train.run import plan_run

        def probe(recipe):  # the planner's probe of the recipe: kept, so `train` of it does not probe again
            sink.line(f"probing the recipe at {recipe.data.image_size} px (train reuses it) ...")
            return plan_run(recipe, sink)
    result = suggest(facts, cfg, args.budget_minutes or 0.0, probe=probe)
    text = result.to_toml()
    if args.out:
        try:
            atomic_write_text(args.out, text)
        except OSError as e:
            raise UsageError(f"cannot write {args.out}: {e.strerror or e}") from None
        print(f"recipe written to {args.out}", file=sys.stderr)
        print(f"train it: workbench train --config {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("suggest", help="suggest a recipe for a dataset (and a time budget)",
                       description="Choose image size, architecture, fine-tuning, augmentation, label "
                                   "smoothing, MixUp / CutMix, weight averaging, batch size and epochs from "
                                   "the dataset, the weights on disk and this machine's measured speed; "
                                   "every choice comes with its reason.")
    p.add_argument("dataset", nargs="?", help="dataset folder (overrides data.path)")
    p.add_argument("--budget-minutes", type=float, default=None, metavar="N",
                   help="train for N minutes (the recipe gets train.budget_minutes = N)")
    p.add_argument("--out", metavar="FILE", help="write the recipe to FILE instead of printing it")
    add_config_args(p)
    p.set_defaults(func=cmd)
