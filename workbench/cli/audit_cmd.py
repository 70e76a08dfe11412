"""`workbench audit DATASET [--folds K] [--quick] [--leaks-only [--run RUN]] [--json FILE]`: suspected
label issues from out-of-fold predictions, near-duplicates and train/valid leaks."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..runtime.control import RunControl
from .common import (TrainProgress, UsageError, add_config_args, ctrl_c_stops, fmt_time, load_config,
                     require_dataset, require_folds, write_json_file)


def add_parser(sub) -> None:
    p = sub.add_parser("audit", help="find label issues, near-duplicates and train/valid leaks",
                       description="Train K models by stratified cross-fitting (every image is predicted by a "
                                   "model that never saw it), rank suspected label issues by confident "
                                   "learning (cleanlab), and group near-duplicates (perceptual hash + "
                                   "embeddings), flagging groups across train/valid and groups with different "
                                   "labels. Results go to <runs_dir>/<dataset>-audit/ (report.json, "
                                   "group-split.csv: a labels CSV with each group on one side). Running the "
                                   "same command again skips finished folds and resumes a stopped one. "
                                   "Needs the 'audit' extra (pip install 'workbench[audit]'). Exit code 0 "
                                   "when done, 1 when a fold failed, 130 when stopped.")
    p.add_argument("dataset", nargs="?", help="dataset folder (or data.path in the config)")
    p.add_argument("--folds", type=int, default=5, metavar="K", help="number of folds (default 5)")
    p.add_argument("--quick", action="store_true", help="quick audit recipe: at most 3 epochs (and 64 px for a "
                                                         "recipe that trains from scratch)")
    p.add_argument("--from-scratch", action="store_true",
                   help="train the folds from random weights: without a recipe that names its model, the folds "
                        "of a dataset of photos otherwise start from the ImageNet weights on disk at their size")
    p.add_argument("--estimate", action="store_true", help="print the estimated time and exit")
    p.add_argument("--leaks-only", action="store_true", help="only near-duplicates and leaks, no training")
    p.add_argument("--run", metavar="RUN_DIR", help="with --leaks-only: embeddings from this trained run "
                                                     "(default: perceptual hash only)")
    p.add_argument("--ranked-by", choices=("self_confidence", "normalized_margin"), default="self_confidence",
                   help="ranking of label issues (default self_confidence)")
    p.add_argument("--top", type=int, default=20, metavar="N", help="label issues printed (default 20)")
    p.add_argument("--json", metavar="FILE", help="also write the report to FILE ('-' = stdout)")
    add_config_args(p)
    p.set_defaults(func=run)


def _leaks_text(found: dict) -> list[str]:
    lines = [f"near-duplicate groups: {len(found['duplicates'])}, across train/valid: {len(found['leaks'])}, "
             f"with different labels: {len(found['label_conflicts'])}"]
    for g in found["leaks"][:20]:
        lines.append("  leak: " + "  |  ".join(f"{s}:{lab} {m}" for m, s, lab in
                                              zip(g["members"], g["splits"], g["labels"])))
    if found.get("group_split_csv"):
        lines.append(f"group-aware split: --set data.labels_csv={found['group_split_csv']}")
    return lines


def run(args: argparse.Namespace) -> int:
    from ..audit import labels as audit
    from ..audit.near_dups import MissingExtra
    cfg = load_config(args, args.dataset)
    require_dataset(cfg)
    require_folds(args.folds)
    if args.run and not args.leaks_only:
        raise UsageError("--run goes with --leaks-only (the full audit embeds with its own fold models)")
    if not args.leaks_only:
        from ..recipe.first_run import median_short_side
        from .train_cmd import explicit_keys
        root = Path(cfg.data.path).expanduser()
        cfg = audit.audit_recipe(cfg, args.quick, median_short_side(root) if root.is_dir() else 0.0,
                                 args.from_scratch, explicit=explicit_keys(args))
    control, sink = RunControl(), TrainProgress()
    try:
        with ctrl_c_stops(control, sink):
            if args.leaks_only:
                report = audit.leaks_only(cfg, args.run or "", sink=sink, control=control)
                lines, code = _leaks_text(report), 0
            else:
                ds, items = audit.audit_items(cfg, sink, control)
                eta = audit.estimate_seconds(cfg, args.folds, len(items))
                print(f"audit: {args.folds} folds of {audit.describe_recipe(cfg)} (a time budget does not "
                      f"apply to folds), {len(items)} images: about {fmt_time(eta)} on this machine"
                      + ("" if args.quick else " (--quick: at most 3 epochs)"), file=sys.stderr)
                if args.estimate:
                    return 0
                res = audit.run_audit(cfg, args.folds, sink=sink, control=control, ranked_by=args.ranked_by)
                report = res.to_dict()
                code = {"completed": 0, "cancelled": 130}.get(res.status, 1)
                lines = [f"audit {res.status}: {res.folds_done}/{res.k} folds; {res.audit_dir}"]
                if res.message:
                    lines.append(res.message)
                if res.status == "completed":
                    lines.append(f"out-of-fold accuracy {report['oof_accuracy']:.4f}; "
                                 f"{len(res.label_issues)} suspected label issues")
                    if not report["ranking_reliable"]:
                        lines.append(f"WARNING: {report['ranking_note']}")
                    for r in res.label_issues[:args.top]:
                        lines.append(f"  {r['rank']:4d}  {r['given']} -> {r['suggested']}  "
                                     f"(p given {r['self_confidence']:.3f}, suggested {r['suggested_prob']:.3f})  "
                                     f"{r['path']}")
                    lines += _leaks_text(res.leaks)
    except MissingExtra as e:
        raise UsageError(str(e)) from e
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from e
    if args.json == "-":
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(lines))
        if args.json:
            write_json_file(args.json, report)
            print(f"report written to {args.json}")
    return code
