"""`workbench predict MODEL_PATH INPUT [--out preds.csv] [--tta] [--topk 5]`: predict image files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runtime.atomic import atomic_write_text
from .common import TerminalProgress, UsageError



def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict the class of image files with a run or an exported model",
                       description="MODEL_PATH is a run folder or an exported model.json / .safetensors / .pt / "
                                   ".onnx; INPUT an image file or a folder (searched recursively). Writes CSV "
                                   "columns path,label,probability,top_k. Unreadable files are reported and "
                                   "skipped; exit code 0 when at least one image was predicted.")
    p.add_argument("model", help="run folder or exported model file")
    p.add_argument("input", help="image file or folder")
    p.add_argument("--out", metavar="CSV", help="output CSV (default: print to stdout)")
    p.add_argument("--tta", action="store_true", help="test-time augmentation with the recipe's tta settings")
    p.add_argument("--topk", type=int, default=5, metavar="K", help="classes listed in the top_k column (default 5)")
    p.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                   help="label 'unsure' where the (calibrated) top probability is below P (0-1, default 0)")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per batch (default 64)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..inference.export import ExportError, load_exported
    from ..inference.predict import list_images, predictions_csv
    src = Path(args.input)
    if not src.exists():
        raise UsageError(f"input not found: {src}")
    if args.topk < 1 or args.batch_size < 1:
        raise UsageError("--topk and --batch-size must be at least 1")
    if not 0.0 <= args.min_confidence <= 1.0:
        raise UsageError(f"--min-confidence must be between 0 and 1, got {args.min_confidence}")
    try:
        predictor = load_exported(args.model)
    except (ExportError, FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from e
    skipped: list = []
    paths = list_images(src, skipped)
    for problem in skipped:
        print(f"skipped {problem.message}", file=sys.stderr)
    if not paths:
        raise UsageError(f"no image files found in {src}")
    done, probs, errors = predictor.predict_paths(paths, tta=args.tta, batch_size=args.batch_size,
                                                  sink=TerminalProgress(sys.stderr))
    for path, msg in errors.items():
        print(f"skipped unreadable file {path}: {msg}", file=sys.stderr)
    text = predictions_csv(done, probs, predictor.classes, args.topk, args.min_confidence)
    if args.out:
        try:
            atomic_write_text(args.out, text)
        except OSError as e:
            raise UsageError(f"cannot write {args.out}: {e.strerror or e}") from e
    else:
        sys.stdout.write(text)
    print(f"predicted {len(done)} image(s), {len(errors)} unreadable skipped"
          + (f"; written to {args.out}" if args.out else ""), file=sys.stderr)
    return 0 if done else 1
