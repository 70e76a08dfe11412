"""TTA: n = 0 and beta = 1 give the plain predictions; blends and fixed / broken from stored arrays."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from workbench.data.augment import IMAGENET_MEAN, IMAGENET_STD, center_crop
from workbench.config import RunConfig
from workbench.inference.tta import TTAResult, accuracy_vs_beta, fixed_and_broken, tta_predict, tta_sizes


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)).eval()


@pytest.fixture
def cache():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 40, 40, 3), dtype=np.uint8)
    return SimpleNamespace(images=images, paths=[f"img{i}.png" for i in range(10)])


def cfg_with(n: int, beta: float = 0.25, scales=(1.0,)) -> RunConfig:
    return RunConfig().with_overrides([f"tta.n={n}", f"tta.beta={beta}", "data.image_size=32",
                                       "data.batch_size=4"]).set("tta.scales", scales)


def test_plain_pass_matches_validation_transform(cache):
    model = small_model()
    res = tta_predict(model, cache, np.arange(10), np.arange(10) % 3, cfg_with(0), classes=("a", "b", "c"))
    with torch.no_grad():
        ref = torch.softmax(model(center_crop(torch.from_numpy(cache.images), 32, IMAGENET_MEAN, IMAGENET_STD,
                                              crop=0.875)), 1).numpy()  # data.valid_crop
    np.testing.assert_allclose(res.plain_probs, ref, atol=1e-6)
    np.testing.assert_array_equal(res.aug_probs, res.plain_probs)      # n = 0 -> equals plain
    np.testing.assert_array_equal(res.final(0.25), res.plain_probs)
    assert res.paths == cache.paths and res.classes == ("a", "b", "c")


def test_augmented_passes_seeded_and_beta_one_is_plain(cache):
    model = small_model()
    rows, labels = np.arange(10), np.arange(10) % 3
    a = tta_predict(model, cache, rows, labels, cfg_with(3), seed=7)
    b = tta_predict(model, cache, rows, labels, cfg_with(3), seed=7)
    c = tta_predict(model, cache, rows, labels, cfg_with(3), seed=8)
    np.testing.assert_array_equal(a.aug_probs, b.aug_probs)
    assert not np.allclose(a.aug_probs, c.aug_probs)
    assert not np.allclose(a.aug_probs, a.plain_probs)
    np.testing.assert_allclose(a.final(1.0), a.plain_probs, atol=1e-7)
    np.testing.assert_allclose(a.final(0.0), a.aug_probs, atol=1e-7)
    np.testing.assert_allclose(a.aug_probs.sum(1), 1.0, atol=1e-5)
    assert a.n_passes == 3


def test_multi_scale(cache):
    cfg = cfg_with(2, scales=(1.0, 1.25))
    assert tta_sizes(32, cfg.tta) == [32, 40]
    res = tta_predict(small_model(), cache, np.arange(4), np.zeros(4, np.int64), cfg)
    assert res.n_passes == 4 and res.aug_probs.shape == (4, 3)


def test_blend_accuracy_and_fixed_broken():
    plain = np.array([[0.6, 0.4], [0.4, 0.6], [0.9, 0.1], [0.45, 0.55]], np.float32)
    aug = np.array([[0.2, 0.8], [0.3, 0.7], [0.9, 0.1], [0.8, 0.2]], np.float32)
    res = TTAResult(plain, aug, np.array([0, 1, 0, 0]), ("x", "y"))
    # plain: right, right, right, wrong ; aug: wrong, right, right, right
    assert res.accuracy() == 0.75
    np.testing.assert_allclose(accuracy_vs_beta(res, [0.0, 1.0]), [0.75, 0.75])
    fixed, broken = fixed_and_broken(res, 0.0)
    assert fixed.tolist() == [3] and broken.tolist() == [0]
    fixed, broken = fixed_and_broken(res, 1.0)
    assert fixed.size == 0 and broken.size == 0
