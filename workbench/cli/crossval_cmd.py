"""`workbench crossval DATASET --folds K [--config FILE] [--set KEY=VALUE ...]`: k-fold cross-validation."""
from __future__ import annotations

import argparse

from ..runtime.control import RunControl
from ..runtime.locks import BusyError
from .common import TrainProgress, UsageError, add_config_args, ctrl_c_stops, load_config, require_dataset, require_folds


def add_parser(sub) -> None:
    p = sub.add_parser("crossval", help="k-fold cross-validation of a recipe on a dataset",
                       description="Split all labelled images of DATASET into K stratified folds (the dataset's "
                                   "own train/valid split is ignored), train one run per fold (run names end "
                                   "in -fold<i>) and write <runs_dir>/<name>-cv/summary.json with the mean "
                                   "and standard deviation of accuracy and validation loss. Ctrl-C stops "
                                   "after the current batch; the summary covers the folds done. Run again with "
                                   "the same name (--set name=...), recipe and K, finished folds are kept and "
                                   "a stopped fold resumes. Exit code 0 "
                                   "when every fold completed, 1 when one failed, 130 when stopped.")
    p.add_argument("dataset", nargs="?", help="dataset folder (or data.path in the config)")
    p.add_argument("--folds", type=int, default=5, metavar="K", help="number of folds (default 5)")
    add_config_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..train.crossval import run_folds
    cfg = load_config(args, args.dataset)
    require_dataset(cfg)
    require_folds(args.folds)
    control, sink = RunControl(), TrainProgress()
    try:
        with ctrl_c_stops(control, sink):
            summary = run_folds(cfg, args.folds, sink=sink, control=control)
    except (ValueError, FileExistsError, BusyError) as e:  # incl. a fold folder in use by another process
        raise UsageError(str(e)) from None
    for f in summary["folds"]:
        acc = "-" if f["accuracy"] is None else f"{f['accuracy']:.4f}"
        loss = "-" if f["valid_loss"] is None else f"{f['valid_loss']:.4f}"
        print(f"fold {f['fold']}: {f['status']:<13} accuracy {acc}  valid loss {loss}  {f['run_dir']}")
    a, v = summary["accuracy"], summary["valid_loss"]
    if a["mean"] is not None:
        print(f"accuracy {a['mean']:.4f} +- {a['std']:.4f}   valid loss {v['mean']:.4f} +- {v['std']:.4f}")
    print(f"summary: {summary['summary_path']}")
    statuses = {f["status"] for f in summary["folds"]}
    if "cancelled" in statuses or control.stop_requested:
        return 130
    return 1 if "failed" in statuses else 0
