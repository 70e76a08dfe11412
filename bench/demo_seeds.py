"""The demo recipe's accuracy over seeds: each seed one full `workbench train` of the demo recipe.

    python bench/demo_seeds.py [--seeds 0,1,2,3,4] [--set tricks.ema=true ...] [--data DIR]

Runs are one at a time (a subprocess each, at this process's priority) on the built-in demo dataset
(written to a temporary folder, the same seeded images as `workbench demo`). ``--set`` changes the
recipe for a variant (e.g. ``--set train.lr=2e-3``). Prints per seed the accuracy of the last epoch,
of the best-validation-loss epoch (what the run reports, with ``tricks.keep_best``), that epoch, the
peak validation loss and the wall time; then mean, spread (max - min) and the CPU kind.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import cpu_kind, cpu_model, data_or_demo  # noqa: E402
from workbench.recipe.presets import DEMO_OVERRIDES  # noqa: E402


def train(data: str, out: Path, sets: dict) -> dict:
    from workbench.run.folder import RunFolder
    cmd = [sys.executable, "-m", "workbench", "train", data, "--out", str(out)]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    t0 = time.time()
    p = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        raise SystemExit(p.stderr[-3000:])
    folder = RunFolder(out)
    hist, m = folder.read_history(), folder.read_metrics()
    return {"last": float(hist[-1]["accuracy"]), "best": float(m["valid_accuracy"]), "best_epoch": int(m["best_epoch"]) + 1,
            "peak_loss": max(float(r["valid_loss"]) for r in hist), "epochs": len(hist), "wall": wall}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="", help="dataset folder (default: the demo set, written to a temporary folder)")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change the demo recipe")
    args = ap.parse_args(argv)
    sets = dict(DEMO_OVERRIDES)
    for kv in args.set:
        k, _, v = kv.partition("=")
        sets[k] = v
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = data_or_demo(args.data, tmp)
        print(f"== demo recipe over seeds on {data}")
        print(f"cpu: {cpu_model()} | {os.cpu_count()} cores | kind: {cpu_kind()} | load {os.getloadavg()[0]:.1f}")
        print("recipe: " + ", ".join(f"{k}={v}" for k, v in sets.items()))
        print(f"{'seed':>4}  {'last':>6}  {'best':>6}  {'best ep':>7}  {'peak vloss':>10}  {'wall s':>6}  load")
        rows = []
        for seed in seeds:
            r = train(data, tmp / f"seed{seed}", {**sets, "seed": seed})
            rows.append(r)
            print(f"{seed:4d}  {r['last']:6.1%}  {r['best']:6.1%}  {r['best_epoch']:7d}  {r['peak_loss']:10.2f}  "
                  f"{r['wall']:6.1f}  {os.getloadavg()[0]:.1f}", flush=True)
        for key in ("last", "best"):
            v = [r[key] for r in rows]
            print(f"{key}: mean {sum(v) / len(v):.1%}, min {min(v):.1%}, max {max(v):.1%}, "
                  f"spread {max(v) - min(v):.1%} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
