"""Batch augmentation: shapes, ranges, determinism, flips, lighting, erasing, validation transform."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from workbench.data.augment import IMAGENET_MEAN, IMAGENET_STD, BatchAugment, center_crop, normalize
from workbench.config import AugmentConfig

PLAIN = AugmentConfig(min_scale=1.0, flip=False, vflip=False, p_affine=0.0, p_lighting=0.0, erase_p=0.0)


@pytest.fixture()
def batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (6, 40, 40, 3), dtype=torch.uint8, generator=g)


def gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shape_dtype_range(batch):
    cfg = AugmentConfig(erase_p=0.5, vflip=True, max_lighting=0.5)
    for size in (16, 32, 48):
        out = BatchAugment(cfg)(batch, size, gen())
        assert out.shape == (6, 3, size, size) and out.dtype == torch.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert out.std() > 0.05  # not a blank image


def test_deterministic_for_a_generator_state(batch):
    aug = BatchAugment(AugmentConfig(erase_p=0.5))
    a, b = aug(batch, 32, gen(5)), aug(batch, 32, gen(5))
    assert torch.equal(a, b)
    assert not torch.allclose(a, aug(batch, 32, gen(6)))
    # each image of a batch gets its own parameters
    same = batch[:1].expand(6, -1, -1, -1).contiguous()
    out = aug(same, 32, gen(5))
    assert not torch.allclose(out[0], out[1])


def test_disabled_is_center_crop(batch):
    cfg = replace(AugmentConfig(), enabled=False)
    assert torch.equal(BatchAugment(cfg)(batch, 24, gen()), center_crop(batch, 24))


def test_identity_settings_equal_center_crop(batch):
    out = BatchAugment(PLAIN)(batch, 40, gen())
    assert torch.allclose(out, center_crop(batch, 40), atol=1e-5)


def test_flip_really_flips(batch):
    ref = center_crop(batch, 40)
    h = BatchAugment(replace(PLAIN, flip=True), p_flip=1.0)(batch, 40, gen())
    assert torch.allclose(h, torch.flip(ref, dims=[3]), atol=1e-5)
    v = BatchAugment(replace(PLAIN, vflip=True), p_flip=1.0)(batch, 40, gen())
    assert torch.allclose(v, torch.flip(ref, dims=[2]), atol=1e-5)
    none = BatchAugment(replace(PLAIN, flip=True), p_flip=0.0)(batch, 40, gen())
    assert torch.allclose(none, ref, atol=1e-5)


def test_crop_zooms_in():
    # a centred white square on black: random crops of at most a quarter of the area show more white
    x = torch.zeros(8, 48, 48, 3, dtype=torch.uint8)
    x[:, 16:32, 16:32] = 255
    cfg = replace(PLAIN, min_scale=0.05)
    cropped = BatchAugment(replace(cfg, min_scale=0.2))(x, 48, gen())
    full = center_crop(x, 48)
    assert cropped.shape == full.shape
    assert not torch.allclose(cropped, full)


def test_affine_changes_geometry_but_keeps_range(batch):
    cfg = replace(PLAIN, p_affine=1.0, max_rotate=30.0, max_zoom=1.5, max_warp=0.4)
    out = BatchAugment(cfg)(batch, 40, gen())
    assert not torch.allclose(out, center_crop(batch, 40), atol=1e-3)
    assert out.min() >= 0 and out.max() <= 1
    wild = BatchAugment(replace(cfg, max_warp=5.0))(batch, 40, gen())  # beyond the GUI range: still sane
    assert torch.isfinite(wild).all() and wild.min() >= 0 and wild.max() <= 1


def test_lighting_changes_brightness_or_contrast():
    x = torch.full((4, 32, 32, 3), 100, dtype=torch.uint8)
    x[:, :, :16] = 60
    out = BatchAugment(replace(PLAIN, p_lighting=1.0, max_lighting=0.5))(x, 32, gen())
    ref = center_crop(x, 32)
    assert not torch.allclose(out, ref, atol=1e-3)
    assert out.min() >= 0 and out.max() <= 1


def test_erasing_paints_a_box():
    x = torch.full((4, 32, 32, 3), 128, dtype=torch.uint8)
    out = BatchAugment(replace(PLAIN, erase_p=1.0))(x, 32, gen())
    changed = (out - 128 / 255).abs().amax(dim=1) > 1e-3   # (N, H, W)
    for i in range(4):
        ys, xs = torch.nonzero(changed[i], as_tuple=True)
        assert len(ys) > 0
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        assert box == len(ys)  # one filled rectangle


@pytest.mark.parametrize("size", [32, 30])  # 30 x 30 pixels is not a multiple of the 128-pixel row
@pytest.mark.parametrize("channels_last", [True, False])
def test_fused_transform_matches_normalize(batch, size, channels_last):
    aug = BatchAugment(AugmentConfig(erase_p=0.5))  # per-image lighting coefficients and erase colours
    fused = aug.transform(batch, size, gen(3), IMAGENET_MEAN, IMAGENET_STD, channels_last=channels_last)
    plain = normalize(aug(batch, size, gen(3)))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    assert fused.is_contiguous(memory_format=fmt)
    assert torch.allclose(fused, plain, atol=1e-5)
    v = center_crop(batch, size, IMAGENET_MEAN, IMAGENET_STD, channels_last=channels_last)
    assert v.is_contiguous(memory_format=fmt)
    assert torch.allclose(v, normalize(center_crop(batch, size)), atol=1e-5)


def test_center_crop_non_square_float():
    x = torch.rand(2, 3, 20, 40)
    out = center_crop(x, 10)
    assert out.shape == (2, 3, 10, 10)
    big = center_crop(x, 20)
    assert torch.allclose(big, x[:, :, :, 10:30])


def test_large_input_is_shrunk_first():
    x = torch.randint(0, 256, (2, 200, 200, 3), dtype=torch.uint8)
    out = BatchAugment(AugmentConfig())(x, 32, gen())
    assert out.shape == (2, 3, 32, 32)


def test_cpu_plain_crop_route_matches_grid_sampling():
    # a smooth batch: the uint8 crop route (CPU, no affine) and grid sampling (float input) agree
    g = torch.Generator().manual_seed(0)
    small = torch.rand(4, 3, 6, 6, generator=g)
    x01 = torch.nn.functional.interpolate(small, size=(48, 48), mode="bicubic", align_corners=False).clamp(0, 1)
    u8 = (x01 * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    aug = BatchAugment(replace(PLAIN, min_scale=0.4, flip=True))
    a = aug(u8, 32, gen(4))
    b = aug(u8.permute(0, 3, 1, 2).float() / 255, 32, gen(4))
    assert (a - b).abs().mean() < 0.02
    mixed = BatchAugment(replace(PLAIN, min_scale=0.4, flip=True, p_affine=0.5))
    assert torch.equal(mixed(u8, 32, gen(4)), mixed(u8, 32, gen(4)))


def test_validation_crop_keeps_the_central_share_of_the_side():
    x = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    half = center_crop(x, 32, crop=0.5)  # 32 / 0.5 = 64: no resize, the central half of each side
    assert torch.allclose(half, x[:, 16:48, 16:48].permute(0, 3, 1, 2).float() / 255)
    whole = center_crop(x, 32)  # crop 1.0: the whole square, resized
    assert whole.shape == half.shape and not torch.allclose(whole, half)
    # the loader's batches that are not augmented use it (RunConfig data.valid_crop)
    import numpy as np

    from workbench.data.loader import BatchLoader

    class Cache:
        images = x.numpy()

        def __len__(self) -> int:
            return 2
    loader = BatchLoader(Cache(), np.arange(2), np.zeros(2, np.int64), 2, train=False, image_size=32,
                         device=torch.device("cpu"), channels_last=False, valid_crop=0.5)
    xb, _ = next(iter(loader))
    assert torch.allclose(xb, normalize(half), atol=1e-5)
