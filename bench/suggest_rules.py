"""The measurements behind the suggester's rules (workbench/recipe/suggest.py), side by side in one run.

Each variant is `workbench train` in a subprocess on the same data, once per seed (--seeds); accuracy
(of the best epoch, as the run reports it) and wall time are printed per seed, then the mean and range
of each variant (the demo set's accuracy depends on the seed by several points, so one seed decides
nothing).
  long run (the demo recipe, 20 epochs): as is / + weight averaging (EMA) / + MixUp 0.4 + CutMix 1.0
  short run (5 epochs): default augmentation / light (min scale 0.5, warp 0.1)

    python bench/suggest_rules.py [--data DIR (default: the demo set)] [--long 20] [--short 5] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
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


def train(data: str, out: Path, sets: dict) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "workbench", "train", data, "--out", str(out)]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    t0 = time.time()
    p = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-3000:])
    return time.time() - t0, json.loads((out / "metrics.json").read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="")
    ap.add_argument("--long", type=int, default=20)
    ap.add_argument("--short", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = data_or_demo(args.data, tmp)
        print(f"== suggester rules on {data}")
        print(f"cpu: {cpu_model()} | {os.cpu_count()} cores | kind: {cpu_kind()} | load {os.getloadavg()[0]:.1f}")
        base = {**DEMO_OVERRIDES, "train.epochs": args.long}
        variants = [("long, demo recipe", base), ("long, + EMA", {**base, "tricks.ema": "true"}),
                    ("long, + MixUp/CutMix", {**base, "tricks.mixup": 0.4, "tricks.cutmix": 1.0}),
                    ("short, default augmentation", {**base, "train.epochs": args.short, "augment.min_scale": 0.35}),
                    ("short, light augmentation", {**base, "train.epochs": args.short, "augment.min_scale": 0.5,
                                                   "augment.max_warp": 0.1})]
        summary = []
        for i, (name, sets) in enumerate(variants):
            accs = []
            for seed in args.seeds:
                wall, m = train(data, tmp / f"v{i}-{seed}", {**sets, "seed": seed})
                accs.append(m["valid_accuracy"])
                print(f"{name:30} seed {seed}  epochs {m['epochs_done']:3}  accuracy {m['valid_accuracy']:.3f}  "
                      f"wall {wall:6.1f} s  load {os.getloadavg()[0]:.1f}", flush=True)
            summary.append((name, accs))
        print("variant                         mean   min    max    (seeds " + " ".join(map(str, args.seeds)) + ")")
        for name, accs in summary:
            print(f"{name:30}  {sum(accs) / len(accs):.3f}  {min(accs):.3f}  {max(accs):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
