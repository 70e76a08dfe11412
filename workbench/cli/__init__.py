"""Command line: ``workbench <command>``. Each command lives in its own module with
``add_parser(subparsers)`` that registers itself and sets ``func``; ``func(args)`` returns the exit code."""
from __future__ import annotations

import argparse
import importlib
import sys
import time

from .. import __version__
from ..runtime.atomic import DiskFullError
from ..errors import BadInput, Failure
from .common import UsageError

COMMANDS = ["gui", "demo", "demo_data", "inspect", "suggest", "train", "lr_find", "resume", "evaluate", "export", "predict", "crossval", "audit", "launch", "weights", "runs"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Train image classifiers from a folder of images. Run with no command to open the desktop app.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f".{name}_cmd", __name__)
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}_cmd":
                continue  # command not available in this build
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    entered = time.time()  # a time budget counts from the command's start (train_cmd)
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.entered = entered
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BadInput as e:  # every bad-input error of the core, mapped here once: one sentence, exit 2
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (Failure, DiskFullError) as e:  # work that could not finish (a full disk says what space is needed)
        print(f"failed: {e}" if isinstance(e, Failure) else f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
