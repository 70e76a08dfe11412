"""Suggested recipe + time budget vs a plain PyTorch loop vs our default recipe, side by side in one run.

On one dataset (nette-mini by default), each as a subprocess timed from spawn to exit:
  (a) plain     torchvision ImageFolder + DataLoader (2 workers) + resnet18 + AdamW one-cycle, fp32,
                5 epochs: its wall time is W
  (b) suggested `workbench suggest DATA --budget-minutes W/60`, then `workbench train` of that recipe
                (the budget counts the train command; the suggest command's own time is reported)
  (c) default   `workbench train DATA --set train.epochs=5` (our defaults at the same image size)
  (d) EMA on / off: the suggested recipe with a fixed number of epochs (those (b) trained), once with
                tricks.ema = true and once false
Prints accuracy and wall time of each, (b) - (a) in points and (b)'s wall time / W. With --seeds, (a), (b)
and (c) run once per seed (the same seed for each) and the means are printed: on nette-mini one validation
image is 1.25 points and one seed's accuracy moves by several points, so compare means.

    python bench/recipe_compare.py [--data DIR] [--size 64] [--epochs 5] [--seeds 0 1 2] [--skip-ema]
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

from bench.common import cpu_kind, cpu_model  # noqa: E402


def run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.time()
    p = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return wall, p.stdout


def plain_child(data: str, size: int, epochs: int, bs: int, seed: int) -> None:
    """The plain loop (runs in its own process so its wall time includes start-up like ours)."""
    import torch
    from bench.train_speed import plain
    from workbench.config import RunConfig
    torch.set_num_threads(os.cpu_count() or 1)
    cfg = RunConfig().with_overrides([f"data.path={json.dumps(data)}", f"data.image_size={size}",
                                      f"data.batch_size={bs}", f"train.epochs={epochs}", f"seed={seed}"])
    print(json.dumps(plain(cfg, workers=2)))


def ours(data: str, out: Path, sets: list[str], config: str | None = None) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "workbench", "train", data, "--out", str(out)]
    if config:
        cmd += ["--config", config]
    for s in sets:
        cmd += ["--set", s]
    wall, _ = run(cmd)
    return wall, json.loads((out / "metrics.json").read_text())


def one_seed(args, tmp: Path, seed: int) -> dict:
    py = sys.executable
    common = [f"data.image_size={args.size}", f"data.batch_size={args.batch_size}", f"seed={seed}"]
    W, out = run([py, str(Path(__file__).resolve()), "--plain-child", "--data", args.data, "--size",
                  str(args.size), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
                  "--seed", str(seed)])
    a = json.loads(out.strip().splitlines()[-1])
    print(f"seed {seed}")
    print(f"(a) plain loop      accuracy {a['acc']:.3f}  wall {W:.1f} s  (W)")
    recipe = tmp / f"suggested-{seed}.toml"
    s_wall, _ = run([py, "-m", "workbench", "suggest", args.data, "--budget-minutes", f"{W / 60:.4f}",
                     "--out", str(recipe)])
    b_wall, b = ours(args.data, tmp / f"b{seed}", [f"seed={seed}"], str(recipe))
    plan = json.loads((tmp / f"b{seed}" / "plan.json").read_text())
    print(f"(b) suggested       accuracy {b['valid_accuracy']:.3f}  wall {b_wall:.1f} s "
          f"({b_wall / W:.3f} W; {b['epochs_done']} epochs at {plan['sizes'][-1]} px, "
          f"{len(plan.get('replans', []))} re-plans; the suggest command took {s_wall:.1f} s)")
    c_wall, c = ours(args.data, tmp / f"c{seed}", [*common, f"train.epochs={args.epochs}"])
    print(f"(c) default {args.epochs:2} ep.  accuracy {c['valid_accuracy']:.3f}  wall {c_wall:.1f} s ({c_wall / W:.3f} W)")
    print(f"(b) - (a): {100 * (b['valid_accuracy'] - a['acc']):+.1f} points; (b) wall / W {b_wall / W:.3f}")
    hist = [float(line.split(",")[5]) for line in (tmp / f"b{seed}" / "history.csv").read_text().splitlines()[1:]]
    print(f"    plan: predicted {plan['predicted_s']:.1f} s (start-up {plan['startup_s']:.1f} s, probe "
          f"{plan['measured']['probe_s']:.1f} s, epochs {sum(plan['epoch_s']) / max(1, len(plan['epoch_s'])):.1f} s "
          f"each predicted, {sum(hist) / max(1, len(hist)):.1f} s measured without checkpoints)")
    print("    suggested recipe: " + "; ".join(
        line[4:] for line in recipe.read_text().splitlines()[1:] if line.startswith("#   ")))
    return {"W": W, "a": a["acc"], "b": b["valid_accuracy"], "b_wall": b_wall, "b_epochs": b["epochs_done"],
            "c": c["valid_accuracy"], "c_wall": c_wall, "recipe": recipe}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data/nette-mini")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seeds", type=int, nargs="+", default=[42])
    ap.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS)
    ap.add_argument("--skip-ema", action="store_true")
    ap.add_argument("--plain-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.plain_child:
        plain_child(args.data, args.size, args.epochs, args.batch_size, args.seed)
        return 0
    print(f"== recipes on {args.data}: {args.size} px, {args.epochs} epochs for the plain loop and the default")
    print(f"cpu: {cpu_model()} | {os.cpu_count()} cores | kind: {cpu_kind()} | load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = [one_seed(args, tmp, seed) for seed in args.seeds]
        mean = lambda k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
        W = mean("W")
        per_seed = ", ".join(f"{100 * (r['b'] - r['a']):+.1f}" for r in rows)
        print(f"== mean of {len(rows)} seed{'s' if len(rows) > 1 else ''} {args.seeds}: W {W:.1f} s")
        print(f"(a) plain {args.epochs} epochs      accuracy {mean('a'):.3f}")
        print(f"(b) suggested, budget W accuracy {mean('b'):.3f}  wall {mean('b_wall') / W:.3f} W, "
              f"{mean('b_epochs'):.1f} epochs  (b) - (a) {100 * (mean('b') - mean('a')):+.1f} points "
              f"(per seed {per_seed})")
        print(f"(c) default {args.epochs} epochs    accuracy {mean('c'):.3f}  wall {mean('c_wall') / W:.3f} W")
        print(f"load at the end {os.getloadavg()[0]:.1f}")
        if not args.skip_ema:
            recipe, e = rows[0]["recipe"], rows[0]["b_epochs"]
            for ema in ("true", "false"):
                wall, m = ours(args.data, tmp / f"ema-{ema}", ["train.budget_minutes=0", f"train.epochs={e}",
                                                              f"tricks.ema={ema}", f"seed={args.seeds[0]}"],
                               str(recipe))
                print(f"(d) suggested, {e} epochs, ema {ema:5}: accuracy {m['valid_accuracy']:.3f}  wall {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
