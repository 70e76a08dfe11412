"""`workbench lr-find DATASET`: LR range test in the terminal; prints suggestions, writes lr_find.csv.

The recipe is the one `workbench train DATASET` would use: the first-run fine-tune of the weights on
disk for a folder of photos when the recipe names no model (``--from-scratch`` to test training from
scratch instead), so the rate found is the rate for that training."""
from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from pathlib import Path
from typing import TextIO

import numpy as np

from ..runtime.atomic import atomic_write_text
from ..data import DatasetError
from ..runtime.events import Event, LRFindStep
from ..runtime.outputs import ForeignFileError, claim, record
from .common import TerminalProgress, UsageError, add_config_args, load_config, require_dataset
from .train_cmd import check_weights, explicit_keys, first_run_or_defaults


CSV_NAME = "lr_find.csv"


def add_parser(sub) -> None:
    p = sub.add_parser("lr-find", help="find a learning rate with an LR range test",
                       description="Train briefly with an exponentially growing learning rate (lr_find.start_lr "
                                   "to lr_find.end_lr over lr_find.num_it steps), print the suggested rates and "
                                   "write the curve to lr_find.csv. The model is not saved.")
    p.add_argument("dataset", metavar="DATASET", nargs="?", help="dataset folder (or set data.path in the config)")
    add_config_args(p)
    p.add_argument("--out", metavar="DIR", default=".", help="folder for lr_find.csv (default: current folder)")
    p.add_argument("--no-plot", action="store_true", help="do not draw the curve in the terminal")
    p.add_argument("--force", action="store_true",
                   help="replace an lr_find.csv in --out that workbench did not write (never done otherwise)")
    p.add_argument("--from-scratch", action="store_true",
                   help="test training from scratch (model.pretrained = none) instead of the first-run "
                        "fine-tune a folder of photos gets when the recipe names no model")
    p.add_argument("--unfrozen", action="store_true",
                   help="fine-tune: test the phase after unfreezing (whole model, discriminative rates) instead "
                        "of the first epoch (frozen body when tricks.freeze_epochs > 0)")
    p.set_defaults(func=run)


class _Sink(TerminalProgress):
    """Progress of the range test on one terminal line, plus the dataset / cache progress."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, LRFindStep):
            self.progress("lr-find", event.step + 1, event.total,
                          f"lr {event.lr:.2e} loss {event.smooth_loss:.4f}")
        else:
            super().__call__(event)


def curve_csv(lrs, losses, smooth) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["lr", "loss", "smooth_loss"])
    for row in zip(lrs, losses, smooth):
        w.writerow([f"{v:.8g}" for v in row])
    return buf.getvalue()


MARKS = {"valley": "V", "steep": "S", "minimum": "M", "slide": "L"}


def ascii_plot(lrs, smooth, marks: dict[str, float] | None = None, width: int = 64, height: int = 14) -> str:
    """The smoothed loss against log10(lr) drawn with characters; marks are vertical ticks on top."""
    lrs, smooth = np.asarray(lrs, dtype=float), np.asarray(smooth, dtype=float)
    ok = np.isfinite(smooth) & (lrs > 0)
    if ok.sum() < 2:
        return ""
    x, y = np.log10(lrs[ok]), smooth[ok]
    lo = float(y.min())
    hi = float(min(y.max(), lo + 2.0 * (max(y[0], y[: max(1, len(y) // 3)].max()) - lo) + 1e-12))
    hi = hi if hi > lo else lo + 1.0
    x0, x1 = float(x.min()), float(x.max())
    span = (x1 - x0) or 1.0
    grid = [[" "] * width for _ in range(height)]
    for xi, yi in zip(x, y):
        c = int(round((xi - x0) / span * (width - 1)))
        r = int(round((min(yi, hi) - lo) / (hi - lo) * (height - 1)))
        grid[height - 1 - r][c] = "*" if yi <= hi else "^"
    top = [" "] * width
    for name, lr in (marks or {}).items():
        if lr and lr > 0 and math.isfinite(lr):
            c = int(round((math.log10(lr) - x0) / span * (width - 1)))
            if 0 <= c < width:
                top[c] = MARKS.get(name, name[0])
    lines = [" " * 10 + "".join(top)]
    for i, row in enumerate(grid):
        label = f"{hi:9.3g} " if i == 0 else (f"{lo:9.3g} " if i == height - 1 else " " * 10)
        lines.append(label + "|" + "".join(row))
    lines.append(" " * 10 + "+" + "-" * width)
    lines.append(" " * 10 + f"{10 ** x0:<.0e}".ljust(width // 2) + f"{10 ** x1:.0e}".rjust(width - width // 2)
                 + "  lr (log)")
    return "\n".join(lines)


def report(result, out: TextIO) -> str:
    """Print the suggestions; returns the sentence of ``curve_problem`` (printed too) when the curve
    gives no usable rate, the same one the app shows, else ''."""
    from ..train.lr_find import curve_problem
    out.write("suggested learning rates:\n")
    for name, lr in result.suggestions.items():
        mark = "   <- recipe default (lr_find.suggestion)" if name == result.best else ""
        out.write(f"  {name:<8} {lr:.3g}{mark}\n")
    if result.stopped_early:
        out.write("(the range test stopped early: the loss diverged)\n")
    problem = curve_problem(result)
    if problem:
        out.write(problem + "\n")
    return problem


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args, args.dataset)
    explicit = explicit_keys(args)
    if args.from_scratch:
        cfg = cfg.set("model.pretrained", "none").set("model.weights", "")
        explicit |= {"model.pretrained", "model.weights"}
    cfg, _ = first_run_or_defaults(cfg, explicit)  # the recipe `workbench train DATASET` would use
    check_weights(cfg, download=False)
    require_dataset(cfg)
    if not Path(cfg.data.path).expanduser().is_dir():
        raise UsageError(f"dataset folder not found: {cfg.data.path}")
    out_dir = Path(args.out).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a folder")
    try:
        claim(out_dir, [CSV_NAME], args.force)  # a user's own lr_find.csv is never replaced
    except ForeignFileError as e:
        raise UsageError(str(e)) from None
    from ..train.lr_find import lr_find
    from ..train.preflight import SetupError, preflight

    sink = _Sink(sys.stderr)
    try:
        preflight(cfg, check_data=False)  # architecture, device, precision, memory: before any work
        result = lr_find(cfg, sink=sink, unfrozen=args.unfrozen)
    except (DatasetError, SetupError) as e:
        raise UsageError(str(e)) from e
    csv_path = out_dir / CSV_NAME
    try:
        claim(out_dir, [CSV_NAME], args.force)  # nothing of the user's appeared meanwhile
        atomic_write_text(csv_path, curve_csv(result.lrs, result.losses, result.smooth_losses))
        record(out_dir, [CSV_NAME])
    except ForeignFileError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot write {csv_path}: {e.strerror or e}") from None
    if not args.no_plot:
        from ..train.lr_find import plot_window
        first, end = plot_window(len(result.lrs), smooth_losses=result.smooth_losses)  # no diverged tail
        plot = ascii_plot(result.lrs[first:end], result.smooth_losses[first:end], result.suggestions)
        if plot:
            print(plot)
            print("           marks: " + ", ".join(f"{MARKS.get(n, n[0])} = {n}" for n in result.suggestions))
    problem = report(result, sys.stdout)
    best = result.suggestions.get(result.best)
    if not problem and best and math.isfinite(best):
        print(f"train with it: --set train.lr={best:.3g}")
    print(f"curve written to {csv_path}")
    return 0
