"""Time budget: how close a `workbench train` with train.budget_minutes ends to its budget.

For each budget, runs the real command in a subprocess and measures its wall time from the spawn to
the exit (scan, health check, cache, probe, training, validation and checkpoints included, as the
budget counts them), with the plan's prediction and any re-plans from plan.json.

    python bench/budget.py [--data DIR] [--budgets 1 2 3] [--size 64] [--arch resnet18] [--set K=V ...]
                           [--busy 20]

``--busy S`` runs a CPU-bound process (one core) beside the command during its first S seconds (another
program at the start: the probe sees it, the training mostly does not). Each row also prints the plan's
predicted vs trained speed (plan.json ``trained``).
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
from workbench.train.speed_store import forget_probes  # noqa: E402
from workbench.train.planner import Measured  # noqa: E402


BUSY = "import time\nt = time.time()\nwhile time.time() - t < {s}:\n    pass\n"


def timed_train(data: str, out: Path, sets: list[str], busy_s: float = 0.0) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "workbench", "train", data, "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.time()
    hog = subprocess.Popen([sys.executable, "-c", BUSY.format(s=busy_s)]) if busy_s > 0 else None
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.time() - t0
    if hog is not None:
        hog.wait()
    if proc.returncode != 0:
        print(proc.stdout[-3000:])
    return wall, proc.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data/nette-mini")
    ap.add_argument("--budgets", type=float, nargs="+", default=[1.0, 2.0, 3.0], help="minutes")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--busy", type=float, default=0.0, help="a CPU-bound process during the first S seconds")
    ap.add_argument("--reuse-probe", action="store_true", help="let a run reuse a kept probe of its recipe")
    args = ap.parse_args(argv)
    print(f"== time budget: {args.data}, {args.arch} {args.size} px")
    print(f"cpu: {cpu_model()} | {os.cpu_count()} cores | kind: {cpu_kind()} | load {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for b in args.budgets:
            out = Path(tmp) / f"b{b:g}"
            sets = [f"train.budget_minutes={b}", f"data.image_size={args.size}", f"model.arch={args.arch}", *args.sets]
            load0 = os.getloadavg()[0]
            if not args.reuse_probe:
                forget_probes()   # each run probes (and the busy process can meet its probe)
            wall, rc = timed_train(args.data, out, sets, args.busy)
            plan = json.loads((out / "plan.json").read_text()) if (out / "plan.json").is_file() else {}
            m = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else {}
            err = (wall - b * 60) / (b * 60)
            rows.append(err)
            replans = plan.get("replans", [])
            hist = [float(x.split(",")[5]) for x in (out / "history.csv").read_text().splitlines()[1:]] \
                if (out / "history.csv").is_file() else []
            per = sum(plan.get("epoch_s", [0])) / max(1, len(plan.get("epoch_s", [])))
            print(f"budget {b:g} min ({b * 60:.0f} s): wall {wall:.1f} s, error {err:+.1%}; "
                  f"plan {plan.get('epochs')} epochs predicted {plan.get('predicted_s', float('nan')):.1f} s "
                  f"(start-up {plan.get('startup_s', 0):.1f} s, probe {plan.get('measured', {}).get('probe_s', 0):.1f} s); "
                  f"epoch {per:.1f} s predicted, {sum(hist) / max(1, len(hist)):.1f} s measured (no checkpoints); "
                  f"trained {m.get('epochs_done')} epochs, {len(replans)} re-plans "
                  f"{[r['epochs'] for r in replans]}; accuracy {m.get('valid_accuracy')}; rc {rc}; "
                  f"load {load0:.1f} -> {os.getloadavg()[0]:.1f}"
                  + (f"; busy process for the first {args.busy:g} s" if args.busy else ""))
            m_ = plan.get("measured", {})
            if m_.get("cpu_cores"):
                print(f"    probe: other programs used {m_['cpu_cores'] - m_['cpu_free']:.1f} of "
                      f"{m_['cpu_cores']:g} cores, timed on {m_['threads']} thread(s) (times scaled "
                      f"x{Measured.from_dict(m_).cpu_scale:.2f})")
            for phase, row in plan.get("trained", {}).items():
                print(f"    {phase}: predicted {row['predicted_img_s']} img/s, trained {row['trained_img_s']} img/s "
                      f"(trained / predicted speed {row['trained_vs_predicted']})")
    if rows:
        print(f"mean |error| {sum(abs(r) for r in rows) / len(rows):.1%}, worst {max(rows, key=abs):+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
