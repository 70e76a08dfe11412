"""Calibration of a classifier's confidence: reliability bins, expected calibration error (ECE, 15
equal-width confidence bins), temperature scaling fitted on the validation predictions, and accuracy
against coverage for abstaining below a confidence threshold.

A run's fitted temperature is kept in ``<run>/calibration.json``; export writes it into model.json
(``"temperature"``), and every Predictor divides the logits by it before the softmax.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..runtime.atomic import atomic_write_json
from .interpret import checkpoint_file, interpret_run
from ..run.folder import RunFolder

N_BINS = 15
CALIBRATION_FILE = RunFolder.CALIBRATION
UNSURE = "unsure"


@dataclass
class Reliability:
    """Per confidence bin: mean confidence, accuracy and count (empty bins have count 0)."""
    edges: list
    confidence: list
    accuracy: list
    count: list
    ece: float


def reliability(probs: np.ndarray, targets: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """Reliability diagram data and ECE = sum over bins of |accuracy - confidence| x share of images."""
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    conf = probs.max(1) if len(probs) else np.zeros(0)
    correct = (probs.argmax(1) == targets) if len(probs) else np.zeros(0, bool)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    csum = np.bincount(idx, weights=conf, minlength=n_bins)
    asum = np.bincount(idx, weights=correct.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mc = np.where(count > 0, csum / np.maximum(count, 1), 0.0)
        ma = np.where(count > 0, asum / np.maximum(count, 1), 0.0)
    n = max(1, len(conf))
    ece = float(np.sum(np.abs(ma - mc) * count) / n)
    return Reliability(edges.tolist(), mc.tolist(), ma.tolist(), count.astype(int).tolist(), ece)


def ece(probs: np.ndarray, targets: np.ndarray, n_bins: int = N_BINS) -> float:
    return reliability(probs, targets, n_bins).ece


T_MIN, T_MAX = 1e-2, 1e2  # the temperatures a fit may return (else 1.0); model.json is held to them too


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities after temperature scaling: softmax(log p / T) (= softmax(logits / T))."""
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)) / float(temperature)
    logp -= logp.max(1, keepdims=True)
    e = np.exp(logp)
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def fit_temperature(probs: np.ndarray, targets: np.ndarray, steps: int = 100) -> float:
    """The T > 0 that minimises the negative log-likelihood of softmax(log p / T) (LBFGS on log T); for a
    validation set without an error, ``_temperature_for_confidence``."""
    if len(targets) == 0:
        return 1.0
    if (np.asarray(probs).argmax(1) == np.asarray(targets)).all():   # no minimum: see below
        return _temperature_for_confidence(probs, targets)
    logp = torch.log(torch.as_tensor(np.asarray(probs), dtype=torch.float64).clamp_min(1e-12))
    y = torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logp / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    if np.isfinite(t) and T_MIN <= t <= T_MAX:
        return t
    return _temperature_for_confidence(probs, targets)


def _temperature_for_confidence(probs: np.ndarray, targets: np.ndarray) -> float:
    """When the likelihood has no minimum in T_MIN .. T_MAX (a validation set without an error: the
    sharper, the likelier, down to T = 0), the temperature whose mean confidence equals the accuracy the
    rule of succession expects, (correct + 1) / (n + 2): 12 of 12 right gives 13/14 = 0.93, not 1.0, so a
    small perfect validation set neither leaves the raw probabilities as they are nor makes every
    prediction certain. Bisection on log T (the mean top probability falls as T grows); 1.0 when even
    T_MIN / T_MAX cannot reach it."""
    p = np.asarray(probs, dtype=np.float64)
    correct = float((p.argmax(1) == np.asarray(targets)).sum())
    target = (correct + 1.0) / (len(p) + 2.0)

    def mean_conf(log_t: float) -> float:
        return float(scale(p, float(np.exp(log_t))).max(1).mean())
    lo, hi = np.log(T_MIN), np.log(T_MAX)
    if not mean_conf(hi) <= target <= mean_conf(lo):
        return 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if mean_conf(mid) > target:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


def coverage_curve(probs: np.ndarray, targets: np.ndarray, thresholds=None) -> dict:
    """For each threshold P: share of images with confidence >= P (coverage) and their accuracy."""
    probs = np.asarray(probs)
    targets = np.asarray(targets)
    ts = np.linspace(0.0, 1.0, 101) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    conf = probs.max(1) if len(probs) else np.zeros(0)
    correct = probs.argmax(1) == targets if len(probs) else np.zeros(0, bool)
    cov, acc = [], []
    for t in ts:
        keep = conf >= t
        cov.append(float(keep.mean()) if len(conf) else 0.0)
        acc.append(float(correct[keep].mean()) if keep.any() else float("nan"))
    return {"thresholds": ts.tolist(), "coverage": cov, "accuracy": acc}


@dataclass
class Calibration:
    """Temperature fitted on a run's validation predictions, ECE before / after, reliability bins."""
    temperature: float
    ece_before: float
    ece_after: float
    accuracy: float
    n: int
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def calibrate(probs: np.ndarray, targets: np.ndarray, n_bins: int = N_BINS) -> Calibration:
    t = fit_temperature(probs, targets)
    before, after = reliability(probs, targets, n_bins), reliability(scale(probs, t), targets, n_bins)
    acc = float((np.asarray(probs).argmax(1) == np.asarray(targets)).mean()) if len(targets) else 0.0
    return Calibration(t, before.ece, after.ece, acc, len(targets), asdict(before), asdict(after))


def calibration_file(run_dir: str | os.PathLike, which: str = "best") -> Path:
    """Where the temperature of checkpoint ``which`` is kept (calibration.json for best)."""
    return RunFolder(run_dir).calibration(which)


def _checkpoint_stamp(run_dir: str | os.PathLike, which: str) -> list:
    """[size, mtime_ns] of the checkpoint ``which`` loads ([] when it does not exist)."""
    try:
        st = checkpoint_file(run_dir, which).stat()
    except OSError:
        return []
    return [st.st_size, st.st_mtime_ns]


def save_calibration(run_dir: str | os.PathLike, cal: Calibration, which: str = "best") -> Path:
    """Write ``cal`` as the calibration of checkpoint ``which``, stamped with that checkpoint's size and
    mtime so a later checkpoint (a resumed run) makes it stale. The only writer of calibration files."""
    path = calibration_file(run_dir, which)
    atomic_write_json(path, {**cal.to_dict(), "which": which, "checkpoint": _checkpoint_stamp(run_dir, which)})
    return path


def _read(run_dir: str | os.PathLike, which: str) -> dict | None:
    try:
        data = json.loads(calibration_file(run_dir, which).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _valid_temperature(value) -> float | None:
    """``value`` as a temperature when it is a number (not a string or a bool) in T_MIN .. T_MAX."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    t = float(value)
    return t if np.isfinite(t) and T_MIN <= t <= T_MAX else None


def read_temperature(run_dir: str | os.PathLike, which: str = "best") -> float:
    """The temperature stored for checkpoint ``which`` (1.0 when it was never calibrated or the file is
    unreadable or holds no temperature in T_MIN .. T_MAX)."""
    data = _read(run_dir, which)
    t = _valid_temperature(data.get("temperature")) if data else None
    return t if t is not None else 1.0


def _fresh_temperature(run_dir: str | os.PathLike, which: str) -> float | None:
    """The stored temperature of ``which`` when it was fitted on the checkpoint there now, else None."""
    data = _read(run_dir, which)
    t = _valid_temperature(data.get("temperature")) if data else None
    if t is None:
        return None
    if "checkpoint" in data:
        return t if data["checkpoint"] == _checkpoint_stamp(run_dir, which) else None
    f, ck = calibration_file(run_dir, which), checkpoint_file(run_dir, which)  # older files: by mtime
    return t if not ck.is_file() or f.stat().st_mtime >= ck.stat().st_mtime else None


def calibrate_run(run_dir: str | os.PathLike, sink=None, control=None, which: str = "best") -> Calibration:
    """Fit the temperature on checkpoint ``which``'s validation predictions and keep it for ``which``."""
    p = interpret_run(run_dir, sink=sink, control=control, which=which).predictions
    if not len(p):
        raise ValueError(f"{run_dir}: no validation predictions to calibrate on")
    cal = calibrate(p.probs, p.targets)
    save_calibration(run_dir, cal, which)
    return cal


def run_temperature(run_dir: str | os.PathLike, which: str = "best", sink=None, control=None) -> float:
    """The temperature of checkpoint ``which``: its stored calibration while it matches that checkpoint,
    else fitted now (and stored); 1.0 when the run has no usable validation set (the dataset moved)."""
    t = _fresh_temperature(run_dir, which)
    if t is not None:
        return t
    try:
        return calibrate_run(run_dir, sink=sink, control=control, which=which).temperature
    except (ValueError, OSError, RuntimeError):
        return 1.0


def abstain_labels(probs: np.ndarray, classes, min_confidence: float) -> list[str]:
    """Top-1 class name per row, or ``unsure`` where its probability is below ``min_confidence``."""
    probs = np.asarray(probs)
    top = probs.argmax(1) if len(probs) else np.zeros(0, np.int64)
    return [UNSURE if probs[i, c] < min_confidence else classes[c] for i, c in enumerate(top)]
