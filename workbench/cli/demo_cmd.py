"""`workbench demo`: the built-in demo dataset with the demo recipe, in the app or headless."""
from __future__ import annotations

import argparse
import os
import sys

from ..data import demo_path
from ..runtime.paths import data_home
from ..recipe.presets import demo_recipe


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="open the app on the built-in demo dataset (or train it headless)",
                       description="Generate the demo dataset on first use (offline, procedurally drawn), then "
                                   "open it in the app with the demo recipe. Without a display, or with "
                                   "--headless, train the demo recipe in the terminal instead.")
    p.add_argument("--headless", action="store_true", help="train in the terminal, no window")
    p.add_argument("--epochs", type=int, default=None, help="override the demo recipe's epochs")
    p.set_defaults(func=run)


def display_available() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("win32", "darwin")


def run(args: argparse.Namespace) -> int:
    from . import main as cli_main

    path = demo_path()
    runs = data_home() / "runs"
    cfg = demo_recipe(path, runs_dir=runs)
    if args.epochs:
        cfg = cfg.set("train.epochs", args.epochs)
    recipe = data_home() / "demo-recipe.toml"
    cfg.save(recipe)
    if not args.headless and display_available():
        return cli_main(["gui", str(path), "--recipe", str(recipe)])
    if not args.headless:
        print("No display found: running the demo headless in the terminal "
              "(train the demo recipe on the demo dataset).", file=sys.stderr)
    print(f"demo dataset: {path}\nrecipe: {recipe}", file=sys.stderr)
    return cli_main(["train", str(path), "--config", str(recipe)])
