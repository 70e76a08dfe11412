"""`workbench gui [DATASET] [--demo] [--recipe FILE]`: open the desktop app."""
from __future__ import annotations

import argparse
import os
import sys
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


HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")


def display_problem(env=None, platform: str = sys.platform) -> str:
    """Why Qt would find no display here ('' when it should): on Linux and the BSDs without $DISPLAY
    (X11) or $WAYLAND_DISPLAY, unless $QT_QPA_PLATFORM names a platform that needs none."""
    env = os.environ if env is None else env
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return ""
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if qpa in HEADLESS_PLATFORMS:
        return ""
    if qpa.startswith("wayland"):
        return "" if env.get("WAYLAND_DISPLAY") else "QT_QPA_PLATFORM is wayland but $WAYLAND_DISPLAY is not set"
    if qpa == "xcb":
        return "" if env.get("DISPLAY") else "QT_QPA_PLATFORM is xcb but $DISPLAY is not set"
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return ""
    return "no display: neither $DISPLAY nor $WAYLAND_DISPLAY is set"


def run(args: argparse.Namespace) -> int:
    why = display_problem()
    if why:
        raise UsageError(f"the desktop app needs a screen ({why}). Run it in a desktop session, or headless "
                         f"with 'xvfb-run -a workbench gui', or use the command line: workbench train, "
                         f"resume, predict, export (see workbench --help)")
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
