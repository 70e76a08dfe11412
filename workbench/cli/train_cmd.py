"""``workbench train [DATASET] [--config FILE] [--set KEY=VALUE ...] [--out RUN_DIR] [--plan-only] [--from-scratch]``.

Without a recipe that names its model, a dataset of photos is fine-tuned from the ImageNet weights on
disk (``workbench.recipe.first_run``; one line on stderr says so and why); ``--from-scratch`` trains from
random weights instead.

With ``train.budget_minutes`` the run is planned to end within the budget, counted from this
command's start; ``--plan-only`` prints the plan (epochs, sizes, measured speed, predicted end) and
trains nothing.

Progress bar (epoch, batch, loss, images/s, ETA) and one line per epoch on stderr; the run folder and
the result on stdout. Ctrl-C (or SIGTERM) once stops cleanly after the current batch (checkpoint kept,
the run is "cancelled" and resumable), twice aborts.
Exit code: 0 completed / early-stopped, 1 failed, 2 bad input (nothing started), 130 cancelled.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

from ..config import tomllib
from ..runtime.control import RunControl
from ..data import DatasetError
from ..runtime.locks import BusyError
from .common import TrainProgress, UsageError, add_config_args, ctrl_c_stops, load_config, require_dataset
from .crossval_cmd import run as crossval
from .weights_cmd import download_weights

EXIT_CODES = {"completed": 0, "early_stopped": 0, "failed": 1, "cancelled": 130}


def run_with_progress(job: Callable[[Callable, RunControl], object], out: TextIO | None = None) -> int:
    """Run a train / resume job with a terminal sink and Ctrl-C handling; return the exit code."""
    from ..train.preflight import SetupError
    from ..train.run import reported_line
    out = out or sys.stdout
    control = RunControl()
    sink = TrainProgress()
    with ctrl_c_stops(control, sink):
        try:
            result = job(sink, control)
        except (BusyError, FileExistsError, SetupError) as e:  # nothing started: bad input, folder in use
            raise UsageError(str(e)) from None
    print(f"run folder: {result.run_dir}", file=out)
    m = result.metrics or {}
    print(f"status: {result.status} ({result.message})", file=out)
    if m.get("valid_accuracy") is not None:
        print(f"accuracy {m['valid_accuracy']:.4f}  valid loss {m['valid_loss']:.4f}  "
              f"reported model: {reported_line(m) or 'epoch %d' % (m.get('best_epoch', -1) + 1)}", file=out)
    return EXIT_CODES.get(result.status, 1)


def cmd(args: argparse.Namespace) -> int:
    from ..train.planner import command_start
    from ..train.preflight import SetupError, preflight
    from ..train.run import check_out_folder, plan_run, train
    started = command_start(getattr(args, "entered", time.time()))
    if args.folds:
        if args.out:
            raise UsageError("--out cannot be used with --folds (each fold gets its own run folder)")
        return crossval(args)
    cfg = load_config(args, args.dataset)
    explicit = explicit_keys(args)
    if args.from_scratch:
        cfg = cfg.set("model.pretrained", "none").set("model.weights", "")
        explicit |= {"model.pretrained", "model.weights"}
    cfg, notes = first_run_or_defaults(cfg, explicit)
    for note in notes:
        print(f"pretrained recipe: {note}", file=sys.stderr)
    check_weights(cfg, args.download_weights)
    require_dataset(cfg)
    if not Path(cfg.data.path).expanduser().exists():
        raise UsageError(f"dataset folder not found: {cfg.data.path}")
    from ..run.folder import name_taken
    if not args.out and name_taken(cfg):
        raise UsageError(name_taken(cfg).removeprefix("name: "))
    if args.check:
        return _check_only(cfg)
    if args.plan_only:
        try:
            preflight(cfg, check_data=False)  # recipe, architecture, device, precision, memory
            plan = plan_run(cfg, sink=TrainProgress(), started=started)
        except (DatasetError, SetupError) as e:
            raise UsageError(str(e)) from e
        print("\n".join(plan.lines(if_started=time.time())))
        return 0
    out = Path(args.out) if args.out else None
    if out is not None:
        try:
            check_out_folder(out)
        except (FileExistsError, BusyError) as e:
            raise UsageError(str(e)) from None
    print(f"run folder: {out}" if out else "starting run", file=sys.stderr)
    return run_with_progress(lambda sink, control: train(cfg, sink=sink, control=control, run_dir=out,
                                                           started=started))


def first_run_or_defaults(cfg, explicit: set[str]) -> tuple:
    """(recipe, pretrained-default notes): the first-run fine-tune when the dataset holds photos, the
    recipe names no model and ImageNet weights are on disk (saying so on stderr in one line), else
    the recipe with the pretrained defaults its own weights call for."""
    from ..recipe.first_run import first_run, median_short_side, names_model, plain_model
    from ..recipe.pretrained import pretrained_defaults
    root = Path(cfg.data.path).expanduser() if cfg.data.path else None
    if root is not None and root.is_dir() and not names_model(explicit) and plain_model(cfg):
        fr = first_run(cfg, median_short_side(root), explicit,
                       switch="train from scratch with --from-scratch (or --set model.pretrained=none)",
                       n_train=_train_images(cfg))
        if fr.applied:
            print(fr.line, file=sys.stderr)
            return fr.config, list(fr.notes)
    return pretrained_defaults(cfg, explicit)


def _train_images(cfg) -> int:
    """How many training images the dataset holds (a listing, no image decoded); 0 when it cannot be
    read (the run's own checks then say why)."""
    from ..data import DatasetError, open_dataset
    try:
        return len(open_dataset(cfg.data, cfg.seed, check_health=False).train)
    except (DatasetError, OSError, ValueError):
        return 0


def explicit_keys(args: argparse.Namespace) -> set[str]:
    """Config keys the user gave: in --config FILE or as --set KEY=VALUE."""
    keys = {a.split("=", 1)[0].strip() for a in getattr(args, "overrides", []) or []}
    if getattr(args, "config", None):
        def walk(d: dict, prefix: str = "") -> None:
            for k, v in d.items():
                walk(v, f"{prefix}{k}.") if isinstance(v, dict) else keys.add(prefix + k)
        with open(args.config, "rb") as f:
            walk(tomllib.load(f))
    return keys


def check_weights(cfg, download: bool) -> None:
    """model.pretrained's file must be on this machine before any run folder exists: downloaded only
    with --download-weights, else exit 2 saying where to get it."""
    from ..models.weights import WeightsError, local_weights
    m = cfg.model
    if m.weights or m.pretrained.lower() == "none":
        return
    try:
        local_weights(m.arch, m.pretrained)
    except WeightsError as e:
        if not download or "not on this machine" not in str(e):
            raise UsageError(str(e)) from e
        code = download_weights(m.arch, m.pretrained)
        if code:
            raise UsageError("the weights download was cancelled") from e


def _check_only(cfg) -> int:
    """``train --check``: every check a run does before it writes anything, then exit."""
    from ..train.preflight import SetupError, estimate_memory, preflight
    try:
        ds, device, precision, warning = preflight(cfg.set("data.path", str(Path(cfg.data.path).expanduser().resolve())))
    except SetupError as e:
        raise UsageError(str(e)) from None
    if warning:
        print(warning, file=sys.stderr)
    est = estimate_memory(cfg, len(ds.classes), device)
    t = cfg.train
    length = (f"a {t.budget_minutes:g}-minute budget (the epochs are planned at the start; --plan-only shows them)"
              if t.budget_minutes > 0 else f"{t.epochs} epochs")
    print(f"recipe OK: {len(ds.items)} images in {len(ds.classes)} classes; {cfg.model.arch}"
          f"{'' if cfg.model.pretrained.lower() == 'none' else ':' + cfg.model.pretrained} at {cfg.data.image_size} px, "
          f"{length}, lr {t.lr:g} ({t.schedule}{', fine-tune' if t.fine_tune else ''}), batch {cfg.data.batch_size}; "
          f"{device} {precision}, memory {est.text()}; no run folder was written")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model on a dataset folder",
                       description="Train an image classifier. Writes a run folder with the config, "
                                   "history, metrics, log and checkpoints.")
    p.add_argument("dataset", nargs="?", help="dataset folder (overrides data.path)")
    add_config_args(p)
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs_dir/<name or dataset-time>)")
    p.add_argument("--check", action="store_true",
                   help="only check the recipe, dataset, device and memory (exit 0 or 2); no run folder is written")
    p.add_argument("--folds", type=int, default=0, metavar="K",
                   help="k-fold cross-validation: K stratified folds, one run each, plus summary.json "
                        "(same as 'workbench crossval')")
    p.add_argument("--from-scratch", action="store_true",
                   help="train from random weights (model.pretrained = none) even when ImageNet weights are "
                        "on disk: without a recipe that names its model, a dataset of photos is otherwise "
                        "fine-tuned from them (the first line printed says so)")
    p.add_argument("--download-weights", action="store_true",
                   help="download model.pretrained's weights first when they are not cached (otherwise a "
                        "missing file stops with a message saying where to get it)")
    p.add_argument("--plan-only", action="store_true",
                   help="measure this machine on the recipe and print the plan (epochs, image sizes, images/s, "
                        "predicted end; with train.budget_minutes the epochs that fit the budget), then exit")
    p.set_defaults(func=cmd)
