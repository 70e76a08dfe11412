"""`workbench runs list [RUNS_DIR]`, `workbench runs rename RUN NEW_NAME`, `workbench runs note RUN [TEXT]`:
the runs of a folder (the best of each dataset marked), renaming a run folder, a note on a run."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("runs", help="list runs, rename a run, keep a note on a run",
                       description="List the runs of a runs folder (newest first; * marks the most accurate "
                                   "run of each dataset among those validated on the same images as its newest run), rename a run folder (refused while a training or "
                                   "resume uses it), or keep a free-text note in a run folder (note.txt).")
    actions = p.add_subparsers(dest="action", metavar="ACTION")   # none: list (`workbench runs`)
    ls = actions.add_parser("list", help="list the runs of a folder")
    ls.add_argument("runs_dir", nargs="?", default=None,
                    help="runs folder (default: ./runs when it exists, else the app's runs folder)")
    rn = actions.add_parser("rename", help="rename a run folder (in the same runs folder)")
    rn.add_argument("run", help="run folder")
    rn.add_argument("name", help="new folder name")
    nt = actions.add_parser("note", help="show, set or clear (\"\") the note of a run")
    nt.add_argument("run", help="run folder")
    nt.add_argument("text", nargs="?", help="the note (omitted: print the note; \"\": remove it)")
    p.set_defaults(func=run, action="list", runs_dir=None)


def default_runs_dir() -> Path:
    """./runs (where ``workbench train`` writes by default) when it exists, else the app's runs folder."""
    from ..runtime.paths import data_home
    return Path("runs") if Path("runs").is_dir() else data_home() / "runs"


def run(args: argparse.Namespace) -> int:
    from ..run.runs import (RunError, best_runs, list_runs, read_note, rename_run, run_accuracy, run_epochs, set_note,
                            status_words)
    try:
        if args.action == "rename":
            new = rename_run(args.run, args.name)
            print(f"renamed {Path(args.run)} to {new}")
        elif args.action == "note" and args.text is None:
            if not Path(args.run).is_dir():
                raise RunError(f"run folder not found: {args.run}")
            print(read_note(args.run), end="")
        elif args.action == "note":
            set_note(args.run, args.text)
            print(f"note {'kept in' if args.text.strip() else 'removed from'} {Path(args.run)}", file=sys.stderr)
        else:
            folder = Path(args.runs_dir) if args.runs_dir else default_runs_dir()
            if not folder.is_dir():
                raise RunError(f"runs folder not found: {folder}")
            if not args.runs_dir:
                print(f"runs in {folder}:", file=sys.stderr)
            infos = list_runs(folder)
            best = set(best_runs(infos).values())
            for info in infos:
                acc = run_accuracy(info)
                note = info.note.splitlines()[0] if info.note else ""
                done, planned = run_epochs(info)
                print(f"{'*' if info.run_dir in best else ' '} {info.name}\t{status_words(info.status) if info.status else '-'}\t"
                      f"{done}/{planned}\t{f'{acc:.1%}' if acc is not None else '-'}\t{info.config.model.arch}\t"
                      f"{Path(info.config.data.path).name if info.config.data.path else '-'}\t{note}")
    except RunError as e:
        raise UsageError(str(e)) from e
    return 0
