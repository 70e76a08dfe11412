"""Texts of the Results page: gallery captions, the headline's epoch note, action notices; the words of
the validation loss (also the Train log's) and the Train page's line when a run has ended."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..session_helpers import reported_line


def caption(p, i: int) -> tuple[str, str]:
    """Gallery caption + tooltip of row i of Predictions, in fastai's order: prediction / actual,
    then loss / probability of the prediction."""
    t, pr = p.classes[int(p.targets[i])], int(np.argmax(p.probs[i]))
    cap = f"{p.classes[pr]} / {t}\n{p.losses[i]:.2f} / {p.probs[i][pr]:.2f}"
    tip = (f"true: {t}\npredicted: {p.classes[pr]} ({p.probs[i][pr]:.1%})\n"
           f"probability of the true class: {p.probs[i][int(p.targets[i])]:.1%}\nloss: {p.losses[i]:.3f}\n"
           "(the model's own probabilities; Try it and predict show them calibrated)")
    return cap, tip


def epoch_note(metrics: dict, monitor: str = "valid_loss") -> str:
    """Which epoch's model the numbers are of and why (metrics.json's ``reported_epoch`` /
    ``reported_why``); for a run folder written before those keys, the best epoch when it is not the last."""
    if metrics.get("reported_why") and isinstance(metrics.get("reported_epoch"), int):
        line = reported_line(metrics)
        return f"<br>Reported model: {line}." if line else ""
    best, done = metrics.get("best_epoch"), metrics.get("epochs_done")
    if not isinstance(best, int) or not isinstance(done, int) or best < 0 or best + 1 >= done:
        return ""
    by = "validation loss" if monitor == "valid_loss" else monitor
    return f"<br>Model of epoch {best + 1} of {done} (the best by {by}), not of the last epoch."


SMOOTHED = "label-smoothed, as trained"   # the trained validation loss, on the Results headline and in the Train log


def trained_loss(info):
    """The validation loss the run trained with at its reported epoch (metrics.json, else that epoch's
    history row), or None."""
    m = getattr(info, "metrics", None) or {}
    v = m.get("valid_loss")
    if isinstance(v, (int, float)):
        return float(v)
    rows = list(getattr(info, "history", None) or [])
    epoch = m.get("reported_epoch")
    row = next((r for r in rows if r.get("epoch") == epoch), rows[-1] if rows else None)
    v = (row or {}).get("valid_loss")
    return float(v) if isinstance(v, (int, float)) else None


def end_state(status: str, done: int, epochs: int) -> str:
    """The Train page's progress line once a run has ended: its final state, no batch counter."""
    if status == "completed":
        return f"Finished: all {done} epochs" if done >= epochs else f"Finished after epoch {done} of {epochs}"
    words = {"cancelled": "Stopped", "early_stopped": "Stopped early", "failed": "Failed"}.get(status, status)
    return f"{words} after epoch {done} of {epochs}" if done else f"{words} before the first epoch ended"


def monitor_of(info) -> str:
    cfg = getattr(info, "config", None)
    return cfg.tricks.monitor if cfg is not None else "valid_loss"


def action_notice(action: str, paths: list, new_class: str, valid_paths: set) -> str:
    """What a hard-example action did, in one line (also for K, which changes nothing visible)."""
    n = len(paths)
    name = Path(paths[0]).name if n == 1 else f"{n} images"
    text = {"relabel": f"Relabelled {name} as {new_class}.", "quarantine": f"Quarantined {name}.",
            "keep": f"Kept {name} as it is (any relabel or quarantine of it removed)."}.get(action, action)
    n_valid = sum(1 for p in paths if p in valid_paths)
    if action in ("quarantine", "relabel") and n_valid:
        text += (f" {n_valid} of them {'is a validation image' if n_valid == 1 else 'are validation images'}: "
                 "the next run validates on a different set, so its accuracy is not directly comparable.")
    return text + " Ctrl+Z undoes."


def before_after(before: dict, after: dict) -> str:
    """The run "Retrain with changes" started from against the new run: accuracy and validation loss
    (which loss, said), with a word when the validation sets differ (quarantined or relabelled validation images)."""
    acc0, acc1 = before.get("accuracy"), after.get("accuracy")
    lines = [f"<b>Before / after the {before.get('changes', 0)} change(s)</b>: "
             f"{before['name']} → {after['name']}"]
    if acc0 is not None and acc1 is not None:
        lines.append(f"accuracy {acc0:.1%} → {acc1:.1%} ({acc1 - acc0:+.1%})")
    lines.append(_loss_line(before, after))
    n0, n1 = before.get("n"), after.get("n")
    if n0 != n1:
        lines.append(f"validated on {n0} then {n1} images: not directly comparable")
    return " &nbsp;·&nbsp; ".join(x for x in lines if x)


def _loss_line(before: dict, after: dict) -> str:
    """The validation loss of both runs, named: the headline's (label-smoothed, as trained) when both
    trained with the same smoothing, else the plain cross-entropy of both, said so."""
    t0, t1, sm = before.get("trained_loss"), after.get("trained_loss"), before.get("smoothing") or 0.0
    if sm > 0 and sm == after.get("smoothing") and t0 is not None and t1 is not None:
        return f"validation loss ({SMOOTHED}, the headline's) {t0:.4f} → {t1:.4f}"
    l0, l1 = before.get("valid_loss"), after.get("valid_loss")
    if l0 is None or l1 is None:
        return ""
    return f"validation loss (plain cross-entropy) {l0:.4f} → {l1:.4f}"


__all__ = ["SMOOTHED", "action_notice", "before_after", "caption", "end_state", "epoch_note", "monitor_of",
           "trained_loss"]
