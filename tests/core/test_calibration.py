"""Calibration: ECE over 15 bins, temperature scaling lowers ECE of an over-confident model and keeps
its accuracy, accuracy against coverage, abstaining below a confidence."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.analysis import calibration as cal


def _overconfident(n: int = 3000, c: int = 5, sharpen: float = 4.0, seed: int = 0):
    """Labels drawn from calibrated softmax probabilities, then the logits multiplied by ``sharpen``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, c))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(c, p=row) for row in p])
    sharp = np.exp(logits * sharpen)
    return (sharp / sharp.sum(1, keepdims=True)).astype(np.float32), y, p.astype(np.float32)


def test_temperature_scaling_lowers_ece_and_keeps_accuracy():
    probs, y, calibrated = _overconfident()
    c = cal.calibrate(probs, y)
    assert c.temperature == pytest.approx(4.0, rel=0.15)
    assert c.ece_after < 0.5 * c.ece_before and c.ece_before > 0.1
    scaled = cal.scale(probs, c.temperature)
    assert (scaled.argmax(1) == probs.argmax(1)).all()
    assert c.accuracy == pytest.approx(float((probs.argmax(1) == y).mean()))
    assert cal.ece(calibrated, y) < 0.05      # the true probabilities are (nearly) calibrated
    np.testing.assert_allclose(scaled, calibrated, atol=0.05)


def test_reliability_bins():
    probs = np.array([[0.95, 0.05], [0.9, 0.1], [0.62, 0.38], [0.3, 0.7]], dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    r = cal.reliability(probs, y)
    assert len(r.edges) == 16 and sum(r.count) == 4
    # bins: 0.95 -> bin 14 (right), 0.9 -> bin 13 (wrong), 0.62 -> bin 9 (right), 0.7 -> bin 10 (right)
    assert r.count[14] == r.count[13] == r.count[9] == r.count[10] == 1
    assert r.ece == pytest.approx((0.05 + 0.9 + 0.38 + 0.3) / 4)


def test_coverage_and_abstaining():
    probs = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8]], dtype=np.float32)
    y = np.array([0, 1, 1])
    curve = cal.coverage_curve(probs, y, [0.0, 0.6, 0.95])
    assert curve["coverage"][:2] == pytest.approx([1.0, 2 / 3]) and curve["accuracy"][:2] == pytest.approx([2 / 3, 1.0])
    assert np.isnan(curve["accuracy"][2]) and curve["coverage"][2] == 0.0
    assert cal.abstain_labels(probs, ("a", "b"), 0.6) == ["a", "unsure", "b"]
    assert cal.fit_temperature(np.zeros((0, 2)), np.zeros(0)) == 1.0


def test_a_perfect_validation_set_sharpens_to_the_rule_of_succession_not_to_certainty():
    """12 of 12 right at 52-70 % confidence: the likelihood has no minimum (the sharper the likelier), so
    the fit takes the temperature whose mean confidence is (12 + 1) / (12 + 2): the right answers get
    past a 70 % "unsure" threshold, and no prediction is made certain."""
    rng = np.random.default_rng(0)
    n, k = 12, 3
    targets = np.arange(n) % k
    top = rng.uniform(0.52, 0.70, n)
    probs = np.tile(((1 - top) / (k - 1))[:, None], (1, k))
    probs[np.arange(n), targets] = top
    t = cal.fit_temperature(probs.astype(np.float32), targets)
    sharp = cal.scale(probs, t)
    assert t < 1.0
    assert sharp.max(1).mean() == pytest.approx(13 / 14, abs=1e-3)
    assert (sharp.max(1) >= 0.7).all() and (sharp.max(1) < 0.999).all()
    assert (sharp.argmax(1) == targets).all()                     # the ranking is kept
