"""`workbench gui [DATASET] [--demo] [--recipe FILE]`: open the desktop app."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("gui", help="open the desktop app (the default with no command)",
                       description="Open the desktop app, optionally on a dataset folder. On first start "
                                   "(no recent dataset) it opens the built-in demo dataset.")
    p.add_argument("dataset", nargs="?", help="dataset folder to open")
    p.add_argument("--demo", action="store_true", help="open the built-in demo dataset (generated if missing)")
    p.add_argument("--recipe", metavar="FILE", help="recipe TOML to start with (the file `Save recipe` writes)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.dataset and not Path(args.dataset).expanduser().is_dir():
        raise UsageError(f"dataset folder not found: {args.dataset}")
    if args.recipe and not Path(args.recipe).expanduser().is_file():
        raise UsageError(f"recipe file not found: {args.recipe}")
    try:
        from ..gui.app import run as run_app
    except ImportError as e:
        raise UsageError(f"the desktop app needs PySide6 and pyqtgraph ({e}); "
                         "install them or use the command line (workbench train ...)") from e
    return run_app(args.dataset, demo=args.demo, recipe=args.recipe)
