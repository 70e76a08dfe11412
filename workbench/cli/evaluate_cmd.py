"""`workbench evaluate RUN_DIR [--tta] [--json FILE]`: accuracy, per-class table, most-confused pairs,
top losses and the TTA gain of a run on its validation set."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import TerminalProgress, UsageError, require_run, write_json_file


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a run on its validation set (confusion, top losses, TTA)",
                       description="Predict the validation set of a run folder once (kept in "
                                   "predictions.npz) and print accuracy, a per-class table, the most "
                                   "confused pairs and the top losses; --tta adds test-time augmentation "
                                   "and its gain. --json writes everything to a file ('-' = stdout).")
    p.add_argument("run_dir", help="run folder (with config.toml and checkpoints/)")
    p.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint to evaluate")
    p.add_argument("--tta", action="store_true", help="also run test-time augmentation (the run's tta settings)")
    p.add_argument("--top", type=int, default=10, metavar="N", help="number of top losses to list (default 10)")
    p.add_argument("--json", metavar="FILE", help="write the full evaluation as JSON to FILE ('-' = stdout)")
    p.set_defaults(func=run)


def evaluate(run_dir: str, which: str = "best", tta: bool = False, top: int = 10, sink=None) -> dict:
    """The evaluation of a run as a JSON-ready dict (also used by tests and the GUI)."""
    from ..analysis.interpret import build_report, interpret_run
    it = interpret_run(run_dir, sink=sink, which=which)
    p = it.predictions
    out = {"run_dir": str(run_dir), "which": which, "classes": list(p.classes),
           **build_report(p, top).to_dict(),
           "predictions": [{"path": p.paths[i], "true": p.classes[p.targets[i]], "pred": p.classes[p.preds[i]],
                            "prob": float(p.probs[i, p.preds[i]])} for i in range(len(p))]}
    from ..analysis.calibration import calibrate, save_calibration
    cal = calibrate(p.probs, p.targets)
    save_calibration(run_dir, cal, which)  # the temperature predict / export of this checkpoint apply
    out["calibration"] = {k: getattr(cal, k) for k in ("temperature", "ece_before", "ece_after")}
    if tta:
        from ..inference.tta import tta_run
        res = tta_run(run_dir, sink=sink, which=which)
        beta = it.run.config.tta.beta
        out["tta"] = {"n": it.run.config.tta.n, "beta": beta, "scales": list(it.run.config.tta.scales),
                      "plain_accuracy": res.accuracy(), "tta_accuracy": res.accuracy(beta),
                      "gain": res.accuracy(beta) - res.accuracy()}
    return out


def format_text(ev: dict) -> str:
    s = ev["summary"]
    lines = [f"Run {ev['run_dir']} ({ev['which']} checkpoint): {s['n']} validation images",
             f"accuracy {s['accuracy']:.4f}   balanced accuracy {s['balanced_accuracy']:.4f}   "
             f"valid loss {s['valid_loss']:.4f}" + (f"   top-5 {s['top5']:.4f}" if "top5" in s else ""), ""]
    width = max([len(r["class"]) for r in ev["per_class"]] + [5])
    lines.append(f"{'class':<{width}}  precision  recall     f1  support")
    for r in ev["per_class"]:
        lines.append(f"{r['class']:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['f1']:5.3f}  {r['support']:7d}")
    lines += ["", "most confused (true -> predicted: count):"]
    lines += [f"  {m['true']} -> {m['pred']}: {m['count']}" for m in ev["most_confused"][:10]] or ["  none"]
    lines += ["", "top losses:"]
    lines += [f"  {t['loss']:7.3f}  {t['true']} -> {t['pred']} ({t['prob']:.2f})  {t['path']}" for t in ev["top_losses"]]
    if "calibration" in ev:
        c = ev["calibration"]
        lines += ["", f"calibration: ECE (15 bins) {c['ece_before']:.4f} -> {c['ece_after']:.4f} after temperature "
                      f"scaling (T = {c['temperature']:.3f}; predict and export apply it)"]
    if "tta" in ev:
        t = ev["tta"]
        lines += ["", f"TTA (n={t['n']}, beta={t['beta']}): accuracy {t['plain_accuracy']:.4f} -> "
                      f"{t['tta_accuracy']:.4f} (gain {t['gain']:+.4f})"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if args.top < 0:
        raise UsageError(f"--top must be 0 or more (the number of top losses to list), not {args.top}")
    require_run(run_dir)
    try:
        ev = evaluate(str(run_dir), args.which, args.tta, args.top, sink=TerminalProgress(sys.stderr))
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        raise UsageError(str(e)) from e
    if args.json == "-":
        print(json.dumps(ev, indent=2))
        return 0
    print(format_text(ev))
    if args.json:
        write_json_file(args.json, ev)
        print(f"\nEvaluation written to {args.json}")
    return 0
