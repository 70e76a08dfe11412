"""Label audit benchmark, ratios in one run.

1. Label noise: a copy of the dataset (symlinks) with a seeded share of the training labels flipped.
   precision@k and recall@k (k = number flipped) of
     (a) the audit's out-of-fold ranking (cleanlab, self-confidence),
     (b) training images ranked by the final model's in-sample loss (one ordinary run),
     (c) validation top losses (the flips are all in train/, so these cannot find any: reported as such);
   and the audit's wall time relative to that one training run, plus its own ETA.
2. Near-duplicates: copies of training images planted in valid/ (resized, re-encoded, cropped,
   colour-shifted); recall and precision of the planted pairs for pHash alone and pHash + embeddings
   (the trained run's layer before the head), over a sweep of thresholds.
3. Calibration: ECE (15 bins) of the run's validation predictions before / after temperature scaling.

    python bench/label_audit.py [--data /work/shared/data/nette-mini] [--size 64] [--epochs 3] [--folds 3]

4. ``--compare-recipes``: only the label-noise ranking, for the default audit recipe (``audit_recipe``:
   photos start every fold from the ImageNet weights on disk, bundled first, at their native size) beside
   the same audit with folds from scratch (``--from-scratch``: --arch at --size); precision@k, out-of-fold
   accuracy, whether the report trusts the ranking, wall time.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_header  # noqa: E402
from workbench.audit import near_dups as nd  # noqa: E402
from workbench.audit.labels import estimate_seconds, run_audit  # noqa: E402
from workbench.analysis.calibration import calibrate_run  # noqa: E402
from workbench.config import RunConfig  # noqa: E402
from workbench.data import open_dataset  # noqa: E402
from workbench.analysis.interpret import Predictions, interpret_run, predict_loader, top_losses  # noqa: E402
from workbench.audit.leaks import embed_paths, run_embedder  # noqa: E402


def noisy_copy(src: Path, dst: Path, share: float, seed: int) -> set[str]:
    """Symlink src into dst; ``share`` of train/ images go under another class. Returns their paths."""
    rng = random.Random(seed)
    classes = sorted(p.name for p in (src / "train").iterdir() if p.is_dir())
    train = sorted(p for p in (src / "train").rglob("*") if p.is_file())
    flip = set(rng.sample(range(len(train)), int(round(share * len(train)))))
    flipped = set()
    for split in ("train", "valid"):
        for i, f in enumerate(sorted(p for p in (src / split).rglob("*") if p.is_file())):
            cls = f.parent.name
            if split == "train" and i in flip:
                cls = rng.choice([c for c in classes if c != cls])
            out = dst / split / cls / f.name
            out.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f.resolve(), out)
            if split == "train" and i in flip:
                flipped.add(str(out))
    return flipped


def plant(src: Path, dst: Path, n: int, seed: int) -> list[tuple[str, str]]:
    """Symlink src into dst and write ``n`` edited copies of training images into valid/ (same class)."""
    rng = random.Random(seed)
    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        out = dst / f.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(f.resolve(), out)
    train = sorted(p for p in (dst / "train").rglob("*") if p.is_file())
    edits = ["resized", "reencoded", "cropped", "colour"]
    pairs = []
    for k, f in enumerate(rng.sample(train, n)):
        im = Image.open(f).convert("RGB")
        kind = edits[k % len(edits)]
        w, h = im.size
        if kind == "resized":
            im = im.resize((int(w * 0.6), int(h * 0.6)), Image.BILINEAR)
        elif kind == "cropped":
            im = im.crop((int(w * 0.06), int(h * 0.06), int(w * 0.94), int(h * 0.94)))
        elif kind == "colour":
            a = np.asarray(im).astype(int) + np.array([20, -12, 8])
            im = Image.fromarray(np.clip(a * 1.08, 0, 255).astype(np.uint8))
        out = dst / "valid" / f.parent.name / f"planted_{kind}_{f.stem}.jpg"
        im.save(out, quality=60 if kind == "reencoded" else 90)
        pairs.append((str(f), str(out)))
    return pairs


def pr_at_k(ranked: list[str], truth: set[str], k: int) -> tuple[float, float]:
    hits = sum(p in truth for p in ranked[:k])
    return hits / max(1, k), hits / max(1, len(truth))


def pair_scores(groups_pairs: set, planted: set) -> tuple[float, float]:
    found = len(groups_pairs & planted)
    return found / max(1, len(planted)), (found / len(groups_pairs) if groups_pairs else 1.0)


def reported_pairs(paths: list[str], pairs: list[tuple[int, int]]) -> set:
    return {frozenset((os.path.realpath(paths[i]) if "planted_" not in paths[i] else paths[i],
                       os.path.realpath(paths[j]) if "planted_" not in paths[j] else paths[j]))
            for g in nd.components(len(paths), pairs) for i in g for j in g if i < j}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data/nette-mini")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--noise", type=float, default=0.10)
    ap.add_argument("--planted", type=int, default=20)
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--skip-audit", action="store_true", help="only the baseline run, calibration and near-duplicates")
    ap.add_argument("--compare-recipes", action="store_true",
                    help="only the ranking: the default audit recipe (weights on disk) beside folds from scratch")
    args = ap.parse_args()
    if args.compare_recipes:
        return compare_recipes(args)
    print_header("label audit")
    src = Path(args.data)
    with noisy_workspace(src, args.noise) as (work, data, flipped):
        k = len(flipped)
        cfg = RunConfig().with_overrides([f"data.image_size={args.size}", f"train.epochs={args.epochs}",
                                          f"model.arch={args.arch}", "data.batch_size=32", f"runs_dir={work / 'runs'}",
                                          f"data.cache_dir={work / 'cache'}"]).set("data.path", str(data))
        print(f"recipe: {args.arch} {args.size} px, {args.epochs} epochs, batch 32; {k} of "
              f"{sum(1 for p in (data / 'train').rglob('*') if p.is_file())} training labels flipped; {args.folds} folds")
        from workbench.train.run import train
        t0 = time.perf_counter()
        res = train(cfg.set("name", "baseline"))
        t_train = time.perf_counter() - t0
        print(f"one training run: {t_train:.1f} s, valid accuracy {res.metrics.get('valid_accuracy')}")
        # (b) in-sample loss of the final model on the training images
        from workbench.analysis.interpret import open_valid
        model, info, bundle, dev, prec = open_valid(res.run_dir)
        tr = predict_loader(model, _plain(bundle), bundle.cache.paths, dev, prec, info.classes)
        ranked_b = [tr.paths[i] for i in top_losses(tr)]
        # (c) validation top losses
        val = interpret_run(res.run_dir).predictions
        ranked_c = [val.paths[i] for i in top_losses(val)]
        if not args.skip_audit:
            noise_part(args, cfg, res, t_train, tr, flipped, k, ranked_b, ranked_c)
        calib_and_near_dups(args, cfg, res, src, work)
        print("\n(machine shared with other jobs; compare ratios within this run)")


def noise_part(args, cfg, res, t_train, tr, flipped, k, ranked_b, ranked_c) -> None:
    """(a) the audit's ranking against (b) and (c), and its wall time against one training run."""
    eta = estimate_seconds(cfg, args.folds, len(open_dataset(cfg.data).items))
    t0 = time.perf_counter()
    aud = run_audit(cfg.set("name", "audit"), args.folds)
    t_audit = time.perf_counter() - t0
    ranked_a = [r["path"] for r in aud.label_issues]
    n_issues = len(ranked_a)
    # rank every image by self-confidence too, so precision@k is defined when cleanlab flags fewer than k
    sc = aud.oof.probs[np.arange(len(aud.oof)), aud.oof.targets]
    ranked_sc = [aud.oof.paths[i] for i in np.argsort(sc, kind="stable")]
    print(f"\nlabel noise ({k} flipped; k = {k}); noise rate {k / len(aud.oof):.3f} of all images")
    print(f"{'method':<48} {'precision@k':>11} {'recall@k':>9}")
    for name, ranked in ((f"(a) audit, cleanlab issues ({n_issues} flagged)", ranked_a),
                         ("(a') audit, all images by OOF self-confidence", ranked_sc),
                         ("(b) final model in-sample loss (train images)", ranked_b),
                         ("(c) validation top losses", ranked_c)):
        p, r = pr_at_k(ranked, flipped, k)
        print(f"{name:<48} {p:11.3f} {r:9.3f}")
    print(f"audit OOF accuracy {aud.to_dict()['oof_accuracy']:.3f}; final-model valid accuracy "
          f"{res.metrics.get('valid_accuracy')}")
    print(f"audit wall time {t_audit:.1f} s = {t_audit / t_train:.2f} x one training run "
          f"({args.folds} folds); ETA shown before it started {eta:.1f} s")


@contextlib.contextmanager
def noisy_workspace(src: Path, noise: float):
    """(work folder, a copy of ``src`` with ``noise`` of its training labels flipped, the flipped paths);
    the work folder is removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="label_audit_"))
    try:
        data = work / "noisy"
        yield work, data, noisy_copy(src, data, noise, seed=0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compare_recipes(args) -> None:
    """precision@k of the default audit (folds from the weights on disk) and of folds from scratch."""
    from workbench.audit.labels import audit_recipe, describe_recipe
    from workbench.recipe.first_run import median_short_side
    print_header("label audit: default recipe vs from scratch")
    src = Path(args.data)
    with noisy_workspace(src, args.noise) as (work, data, flipped):
        k = len(flipped)
        base = RunConfig().with_overrides([f"runs_dir={work / 'runs'}", f"data.cache_dir={work / 'cache'}",
                                           f"train.epochs={args.epochs}"]).set("data.path", str(data))
        side = median_short_side(data)
        scratch = base.with_overrides([f"model.arch={args.arch}", f"data.image_size={args.size}", "data.batch_size=32"])
        print(f"{k} of {sum(1 for p in (data / 'train').rglob('*') if p.is_file())} training labels flipped; "
              f"{args.folds} folds; median short side {side:.0f} px")
        print(f"{'folds':<58} {'p@k':>5} {'p@k all':>7} {'OOF acc':>7} {'trusted':>7} {'wall s':>7}")
        for name, cfg in (("default", audit_recipe(base, True, side)),
                          ("from scratch", audit_recipe(scratch, True, side, from_scratch=True))):
            t0 = time.perf_counter()
            aud = run_audit(cfg.set("name", name.replace(" ", "-")), args.folds)
            wall = time.perf_counter() - t0
            d = aud.to_dict()
            sc = aud.oof.probs[np.arange(len(aud.oof)), aud.oof.targets]
            ranked_sc = [aud.oof.paths[i] for i in np.argsort(sc, kind="stable")]
            p, _ = pr_at_k([r["path"] for r in aud.label_issues], flipped, k)
            p_all, _ = pr_at_k(ranked_sc, flipped, k)
            print(f"{name + ': ' + describe_recipe(cfg):<58} {p:5.3f} {p_all:7.3f} {d['oof_accuracy']:7.3f} "
                  f"{str(d['ranking_reliable']):>7} {wall:7.1f}", flush=True)
        print("\n(machine shared with other jobs)")


def calib_and_near_dups(args, cfg, res, src, work) -> None:
    """ECE before / after temperature scaling; recall / precision of planted near-copies."""
    c = calibrate_run(res.run_dir)
    print(f"\ncalibration (baseline run, {c.n} validation images): ECE {c.ece_before:.3f} -> {c.ece_after:.3f} "
          f"with T = {c.temperature:.3f}; accuracy {c.accuracy:.3f} unchanged")
    # near-duplicates
    pdata = work / "planted"
    planted = plant(src, pdata, args.planted, seed=1)
    truth = {frozenset((os.path.realpath(a), b)) for a, b in planted}
    ds = open_dataset(cfg.set("data.path", str(pdata)).data)
    paths = sorted(it.path for it in ds.items)
    bits, ok = nd.phashes(paths)
    vec, eok = embed_paths(run_embedder(res.run_dir), paths, str(work / "cache"))
    print(f"\nnear-duplicates: {len(planted)} planted copies in valid/ of {len(paths)} images "
          "(resized 0.6, JPEG q60, 6 % crop each side, colour shift)")
    print(f"{'detector':<36} {'recall':>7} {'precision':>9} {'pairs':>6}")
    for d in (6, 8, 10, 12, 14):
        rp = reported_pairs(paths, nd.hash_pairs(bits, ok, d))
        r, p = pair_scores(rp, truth)
        print(f"{f'pHash distance <= {d}':<36} {r:7.3f} {p:9.3f} {len(rp):6d}")
    for cmin in (0.90, 0.95, 0.98, 0.99):
        ep = nd.embedding_pairs(vec, cmin, valid=eok)
        rp = reported_pairs(paths, ep)
        r, p = pair_scores(rp, truth)
        print(f"{f'embeddings cosine >= {cmin}':<36} {r:7.3f} {p:9.3f} {len(rp):6d}")
        rp = reported_pairs(paths, nd.hash_pairs(bits, ok, nd.PHASH_MAX_DISTANCE) + ep)
        r, p = pair_scores(rp, truth)
        print(f"{f'pHash <= {nd.PHASH_MAX_DISTANCE} + cosine >= {cmin}':<36} {r:7.3f} {p:9.3f} {len(rp):6d}")


def _plain(bundle):
    """The training rows with the validation transform (no augmentation, fixed order)."""
    from workbench.data.loader import BatchLoader
    t = bundle.train
    return BatchLoader(bundle.cache, t.rows, t.labels, t.batch_size, train=False, image_size=t.image_size,
                       device=t.device, valid_crop=bundle.valid.valid_crop)


if __name__ == "__main__":
    main()
