"""`workbench demo-data PATH`: write the built-in demo dataset (offline, procedurally drawn)."""
from __future__ import annotations

import argparse

from ..config import DataConfig
from ..data import generate_demo, open_dataset
from .common import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("demo-data", help="write the built-in demo dataset to a folder",
                       description="Draw the demo dataset (8 classes of shapes and textures with distractors, "
                                   "train/ and valid/, 64 px JPEGs) into PATH. Offline and deterministic: "
                                   "the same seed gives the same files. PATH must be new, empty, or an "
                                   "earlier demo dataset.")
    p.add_argument("path", help="folder to write (created if missing)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    try:
        path = generate_demo(args.path, seed=args.seed)
    except (FileExistsError, OSError) as e:
        raise UsageError(str(e)) from e
    ds = open_dataset(DataConfig(path=str(path)), check_health=False)
    counts = ", ".join(f"{s} {len(ds.split(s))}" for s in ("train", "valid"))
    print(f"Demo dataset written to {path}: {len(ds.classes)} classes ({', '.join(ds.classes)}), {counts} images")
    return 0
