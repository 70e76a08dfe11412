"""`workbench export RUN_DIR --format safetensors,torchscript,onnx [--out DIR]`: export and check parity."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import TerminalProgress, UsageError, require_run


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a run's model (safetensors + model.json, TorchScript, ONNX)",
                       description="Write the model of a run folder in the given formats, reload each file "
                                   "and compare its predictions with the in-app model on validation images. "
                                   "Exit code 1 when an export does not match (tolerance export.parity_atol).")
    p.add_argument("run_dir", help="run folder (with config.toml and checkpoints/)")
    p.add_argument("--format", dest="formats", default=None, metavar="LIST",
                   help="comma-separated formats: safetensors,torchscript,onnx (default: the run's export.formats)")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN_DIR/export)")
    p.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint to export")
    p.add_argument("--force", action="store_true",
                   help="replace files of the same names in --out that workbench did not write (never done "
                        "otherwise)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..inference.export import ExportError, ExportFailed, OutputFolderError, export_run, parse_formats
    from ..run.runs import RunError
    run_dir = Path(args.run_dir)
    require_run(run_dir)
    try:
        if args.formats is not None:
            parse_formats(args.formats)
    except ExportError as e:
        raise UsageError(str(e)) from e
    try:
        results = export_run(run_dir, args.formats, args.out, sink=TerminalProgress(sys.stderr), which=args.which,
                             force=args.force)
    except (RunError, OutputFolderError) as e:  # not a readable run, a user's file in --out: nothing written
        raise UsageError(str(e)) from None
    except ExportFailed as e:  # written but not usable (or not like the in-app model); a bad input is exit 2
        print(f"export failed: {e}", file=sys.stderr)
        return 1
    print(f"{'format':<12} {'max |dp|':>9}  top-1  file")
    for r in results:
        print(f"{r.format:<12} {r.max_abs_diff:9.2e}  {'same' if r.top1_equal else 'DIFF':<5}  {r.path}")
    print(f"all {len(results)} export(s) match the in-app model on {results[0].n_images if results else 0} images")
    return 0
