"""`workbench inspect DATASET`: scan and health-check a dataset, print a summary, write the JSON report."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..runtime.atomic import atomic_write_json
from ..data import DatasetError, compute_stats, dataset_report, open_dataset, summary_text
from .common import TerminalProgress, UsageError, add_config_args, load_config


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="check a dataset folder: classes, counts, image sizes, broken files",
                       description="Scan a dataset folder (class folders, train/valid folders, or images + a "
                                   "labels CSV), fully decode every image, and report classes, counts per "
                                   "split, image sizes and every problem found. Files are never changed. "
                                   "Exit code 0 when usable images remain, 2 otherwise.")
    p.add_argument("dataset", help="dataset folder")
    p.add_argument("--labels", metavar="CSV", help="labels CSV (columns file,label[,is_valid])")
    p.add_argument("--json", metavar="FILE", help="write the full report as JSON to FILE ('-' = stdout)")
    p.add_argument("--no-stats", action="store_true", help="skip image size and colour statistics")
    add_config_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    cfg = load_config(args, args.dataset)
    if args.labels:
        cfg = cfg.set("data.labels_csv", args.labels)
    progress = TerminalProgress(sys.stderr)
    try:
        ds = open_dataset(cfg.data, seed=cfg.seed, sink=progress)
    except DatasetError as e:
        raise UsageError(str(e)) from e
    stats = None if args.no_stats else compute_stats(ds, sink=progress)
    report = dataset_report(ds, stats)
    if args.json == "-":
        print(json.dumps(report, indent=2))
        return 0
    print(summary_text(report))
    if args.json:
        out = Path(args.json)
        try:
            atomic_write_json(out, report)
        except OSError as e:
            raise UsageError(f"cannot write the report {out}: {e.strerror or e}") from e
        print(f"Report written to {out}")
    return 0
