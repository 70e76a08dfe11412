"""Training speed: our trainer vs a plain PyTorch loop vs the compute ceiling, measured in one run.

Same model (resnet18 by default), data, recipe (AdamW one-cycle; random resized crop + flip) and seed for:
  ours      workbench: presized uint8 cache + batch augmentation on the device + Trainer
            (precision chosen by auto, channels_last)
  plain     torchvision ImageFolder + DataLoader(2 workers, per-image RandomResizedCrop / flip /
            ToTensor / Normalize), fp32, AdamW + OneCycleLR
  ceiling   the same model and optimizer stepping on synthetic in-memory input (ours' precision,
            and fp32)
Prints the CPU kind, the precision auto picks, training images/s of the last epoch, ratios, and the
final validation accuracy of ours and plain.

    python bench/train_speed.py [--data DIR] [--sizes 64 128] [--epochs 2] [--batch-size 32]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.common import plain_accuracy  # noqa: E402
from workbench.config import RunConfig  # noqa: E402
from workbench.runtime.device import (autocast, cpu_kind, describe, pick_device, pick_precision,  # noqa: E402
                              set_threads)
from workbench.models.build import create_model  # noqa: E402
from workbench.train.optim import make_optimizer  # noqa: E402


def ours(cfg: RunConfig) -> dict:
    from workbench.data import open_dataset
    from workbench.data.pipeline import build_loaders
    from workbench.train.run import build_trainer, seed_everything
    device = pick_device(cfg.train.device)
    seed_everything(cfg.seed)
    t0 = time.perf_counter()
    ds = open_dataset(cfg.data, cfg.seed)
    bundle = build_loaders(ds, cfg, device)
    prep = time.perf_counter() - t0
    trainer = build_trainer(cfg, bundle, device=device)
    trainer.fit()
    last = trainer.history[-1]
    return {"img_s": last["images_per_sec"], "epoch_s": last["seconds"], "acc": last["accuracy"],
            "prep_s": prep, "precision": trainer.precision, "n_train": len(bundle.train_items)}


def plain(cfg: RunConfig, workers: int) -> dict:
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms as T
    size, bs = cfg.data.image_size, cfg.data.batch_size
    norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    root = Path(cfg.data.path)
    train_ds = datasets.ImageFolder(root / "train", T.Compose([
        T.RandomResizedCrop(size, scale=(cfg.augment.min_scale, 1.0)), T.RandomHorizontalFlip(),
        T.ToTensor(), norm]))
    valid_ds = datasets.ImageFolder(root / "valid", T.Compose([
        T.Resize(int(size * 1.14)), T.CenterCrop(size), T.ToTensor(), norm]))
    torch.manual_seed(cfg.seed)
    tl = DataLoader(train_ds, bs, shuffle=True, num_workers=workers, drop_last=True, persistent_workers=workers > 0)
    vl = DataLoader(valid_ds, bs, num_workers=workers)
    model = create_model(cfg.model.arch, len(train_ds.classes), cfg.model.dropout)
    tc = cfg.train
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, betas=(0.95, 0.99))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, tc.lr, total_steps=tc.epochs * len(tl), pct_start=tc.pct_start,
                                                div_factor=tc.div, final_div_factor=tc.final_div)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(tc.epochs):
        model.train()
        t0, n = time.perf_counter(), 0
        for x, y in tl:
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            n += len(y)
        secs = time.perf_counter() - t0
    return {"img_s": n / secs, "epoch_s": secs, "acc": plain_accuracy(model, vl)}


def ceiling(cfg: RunConfig, precision: str, n_classes: int, steps: int) -> dict:
    size, bs = cfg.data.image_size, cfg.data.batch_size
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model.arch, n_classes, cfg.model.dropout).to(memory_format=torch.channels_last)
    opt = make_optimizer(cfg.train.optimizer, [model.parameters()], 1e-4, cfg.train.weight_decay)  # ours' optimizer
    x = torch.randn(bs, 3, size, size).to(memory_format=torch.channels_last)
    y = torch.randint(0, n_classes, (bs,))

    def step() -> None:
        with autocast("cpu", precision):
            loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return {"img_s": steps * bs / (time.perf_counter() - t0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "nette-mini"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8, help="steps timed for the synthetic ceiling")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--skip-plain", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config override for ours (repeatable), e.g. data.presize=128")
    args = ap.parse_args(argv)
    if not Path(args.data, "train").is_dir():
        print(f"error: no train/ folder in {args.data}", file=sys.stderr)
        return 2
    set_threads(args.threads)
    device = torch.device("cpu")
    auto = pick_precision(device, "auto")
    print(f"device: {describe(device)}; cpu kind: {cpu_kind()}; precision auto -> {auto}")
    print(f"data: {args.data}; model {args.arch}; batch {args.batch_size}; epochs {args.epochs} "
          f"(rates from the last epoch)")
    rows = []
    for size in args.sizes:
        cfg = RunConfig().with_overrides([
            f"data.path='{args.data}'", f"data.image_size={size}", f"data.batch_size={args.batch_size}",
            f"train.epochs={args.epochs}", f"train.lr={args.lr}", f"model.arch='{args.arch}'",
            "train.device='cpu'", f"train.threads={args.threads}",
            # the plain loop's augmentation (random resized crop + flip): the same recipe on both sides
            "augment.p_affine=0.0", "augment.p_lighting=0.0", *args.set])
        o = ours(cfg)
        p = plain(cfg, args.workers) if not args.skip_plain else {"img_s": float("nan"), "acc": float("nan")}
        n_classes = len([d for d in Path(args.data, "train").iterdir() if d.is_dir()])
        c = ceiling(cfg, o["precision"], n_classes, args.steps)
        c32 = ceiling(cfg, "fp32", n_classes, args.steps) if o["precision"] != "fp32" else c
        rows.append((size, o, p, c, c32))
        print(f"  {size} px: ours {o['img_s']:.1f} img/s ({o['precision']}, cache+scan {o['prep_s']:.1f} s), "
              f"plain {p['img_s']:.1f}, ceiling {c['img_s']:.1f} ({o['precision']}) / {c32['img_s']:.1f} (fp32)",
              flush=True)
    print()
    print(f"{'size':>5} {'ours img/s':>11} {'plain img/s':>12} {'ceiling':>9} {'ceil fp32':>10} "
          f"{'ours/plain':>11} {'ours/ceil':>10} {'acc ours':>9} {'acc plain':>10}")
    for size, o, p, c, c32 in rows:
        print(f"{size:>5} {o['img_s']:>11.1f} {p['img_s']:>12.1f} {c['img_s']:>9.1f} {c32['img_s']:>10.1f} "
              f"{o['img_s'] / p['img_s']:>11.2f} {o['img_s'] / c['img_s']:>10.2f} {o['acc']:>9.3f} {p['acc']:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
