"""The time-budget keeper on a fake clock: how often it re-plans, and how close to the deadline it ends,
for epochs of 1 s with seeded noise and an optional slowdown (the tests' tiny model and fake clock, so it
runs in seconds of CPU per 100 epochs and measures the keeper's logic, not this machine).

    python bench/keeper_sim.py [--epochs 1200] [--noise 0.08] [--slow 200 260 0.6] [--seeds 0 1]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "core")]

from test_planner import _jitter, _kept_trainer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=1200, help="planned epochs of 1 s (the budget in seconds)")
    ap.add_argument("--noise", type=float, default=0.08, help="each epoch takes 1 s x uniform(1 - n, 1 + n)")
    ap.add_argument("--slow", type=float, nargs=3, metavar=("FROM", "TO", "SPEED"), default=None,
                    help="epochs FROM..TO run at SPEED x")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args(argv)
    for seed in args.seeds:
        noise = _jitter(seed, 1 - args.noise, 1 + args.noise)

        def per_epoch(e: int) -> float:
            slow = args.slow and args.slow[0] <= e < args.slow[1]
            return noise(e) / (args.slow[2] if slow else 1.0)
        tr, keeper, _, clock = _kept_trainer(per_epoch, plan_epochs=args.epochs)
        tr.fit()
        after = [r["after_epoch"] for r in keeper.replans]
        print(f"seed {seed}: {len(after)} re-plans (after epochs {after}); ended at {clock.t:.1f} s of "
              f"{args.epochs} ({clock.t / args.epochs - 1:+.1%}), {len(tr.history)} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
