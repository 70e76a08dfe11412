"""Transfer learning on nette-mini: train on 5 classes, export, fine-tune from that file on the other 5
classes vs training those 5 from scratch with the same budget.

    python bench/transfer.py [--data /work/shared/data/nette-mini] [--size 64] [--epochs 8] [--seeds 0 1]

The class subsets are symlink trees in a temporary folder (the dataset is only read). Every run goes
through the CLI (`workbench train`, `workbench export`), so the fine-tune runs get the pretrained recipe
defaults (1 frozen epoch, fastai fine-tune schedule, min crop scale 0.5) exactly as a user would.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import ensure_repo_on_path

ensure_repo_on_path()

from workbench.cli import main as cli  # noqa: E402


def subset(src: Path, classes: list[str], dst: Path) -> Path:
    for split in ("train", "valid"):
        (dst / split).mkdir(parents=True)
        for c in classes:
            (dst / split / c).symlink_to(src / split / c, target_is_directory=True)
    return dst


def run(data: Path, out: Path, sets: list[str]) -> dict:
    t0 = time.perf_counter()
    rc = cli(["train", str(data), "--out", str(out), *sum((["--set", s] for s in sets), [])])
    m = json.loads((out / "metrics.json").read_text())
    return {"rc": rc, "acc": m.get("valid_accuracy"), "loss": m.get("valid_loss"),
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data/nette-mini")
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--source-epochs", type=int, default=16)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args(argv)
    src = Path(args.data)
    classes = sorted(p.name for p in (src / "train").iterdir() if p.is_dir())
    a, b = classes[:5], classes[5:]
    work = Path(tempfile.mkdtemp(prefix="wb-transfer-"))
    da, db = subset(src, a, work / "A"), subset(src, b, work / "B")
    # final weights, not the best epoch: the same budget for every variant, no selection on validation
    base = [f"model.arch={args.arch}", f"data.image_size={args.size}", "data.batch_size=32",
            f"data.cache_dir={work / 'cache'}", "tta.n=0", "tricks.keep_best=false"]
    src_run = run(da, work / "runs" / "A", base + [f"train.epochs={args.source_epochs}", "train.lr=3e-3"])
    print(f"source model on {a}: accuracy {src_run['acc']:.3f} ({src_run['seconds']} s)", file=sys.stderr)
    assert cli(["export", str(work / "runs" / "A"), "--format", "safetensors", "--which", "last"]) == 0
    weights = work / "runs" / "A" / "export" / "model.safetensors"
    variants = {
        "scratch": [],
        "fine-tune from A (pretrained recipe)": [f"model.weights={weights}"],
        "fine-tune from A, min_scale 0.35": [f"model.weights={weights}", "augment.min_scale=0.35"],
    }
    rows = []
    for name, extra in variants.items():
        accs = []
        for seed in args.seeds:
            r = run(db, work / "runs" / f"B-{len(rows)}-{seed}", base + [f"train.epochs={args.epochs}",
                                                                         f"seed={seed}", *extra])
            accs.append(r["acc"])
            print(f"{name} seed {seed}: {r}", file=sys.stderr)
        rows.append((name, accs))
    print(f"\nnette-mini, {args.arch} at {args.size} px, {args.epochs} epochs on the 5 classes {b} "
          f"(source: {args.source_epochs} epochs on {a}, accuracy {src_run['acc']:.3f})")
    print("| start | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean |")
    print("|---|" + "---|" * (len(args.seeds) + 1))
    for name, accs in rows:
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in accs) + f" | {sum(accs) / len(accs):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
