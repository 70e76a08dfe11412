"""Batch augmentation as tensor ops on whatever device the batch is on (no PIL).

A training batch of presized uint8 images (N, H, W, 3) becomes float32 (N, 3, S, S) in [0, 1] through
ONE sampling grid + ``grid_sample`` that combines random resized crop, flips, rotation, zoom and a
perspective warp, then lighting (brightness / contrast) and random erasing. On the CPU, images drawn
without the affine part (probability 1 - p_affine) take a cheaper exact route for the same geometry:
their crop box is resized as uint8 (antialiased) and flipped. Random parameters are
drawn on the CPU from the given ``torch.Generator`` (small tensors) and then moved to the device, so a
generator state gives the same batch on any device.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..config import IMAGENET_MEAN, IMAGENET_STD, AugmentConfig


# columns of the per-image random draw (a fixed layout: enabling an option never shifts the others)
(_SCALE, _RATIO, _CX, _CY, _FLIP, _VFLIP, _P_AFF, _ROT, _ZOOM, _WX, _WY, _P_LIGHT, _BRIGHT, _CONTRAST,
 _P_ERASE, _E_AREA, _E_RATIO, _E_X, _E_Y, _E_R, _E_G, _E_B) = range(22)
_N_DRAWS = 22


def to_float_nchw(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1]; float NCHW input is passed through."""
    if x.dtype == torch.uint8:
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"expected a uint8 batch of shape (N, H, W, 3), got {tuple(x.shape)}")
        return x.permute(0, 3, 1, 2).float().div_(255.0)
    return x.float()


def _resize_crop(x: torch.Tensor, out_size: int, crop: float = 1.0) -> torch.Tensor:
    """NCHW (uint8 or float) -> short side resized to out_size / crop (antialiased), centre-cropped
    to an out_size square."""
    h, w = x.shape[-2:]
    if (h, w) == (out_size, out_size) and crop == 1.0:
        return x
    scale = out_size / crop / min(h, w)
    nh, nw = max(out_size, round(h * scale)), max(out_size, round(w * scale))
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False,
                          antialias=(nh < h or nw < w))
    top, left = (nh - out_size) // 2, (nw - out_size) // 2
    return x[:, :, top:top + out_size, left:left + out_size]


def center_crop(x: torch.Tensor, out_size: int, mean=None, std=None, channels_last: bool = False,
                crop: float = 1.0) -> torch.Tensor:
    """Validation transform: resize the short side to ``out_size / crop`` (antialiased), centre-crop an
    ``out_size`` square (``crop`` = the share of the side kept, RunConfig ``data.valid_crop``).

    Accepts uint8 NHWC or float NCHW; returns float32 (N, 3, out_size, out_size) in [0, 1], or already
    normalized with ``mean`` / ``std`` when given (one fused pass).
    """
    if x.dtype == torch.uint8 and x.device.type == "cpu" and x.ndim == 4 and x.shape[-1] == 3:
        y = _resize_crop(x.permute(0, 3, 1, 2), out_size, crop)  # uint8 resampling: fast on the CPU
        return _affine_out(y, 1 / 255.0, 0.0, mean, std, channels_last)
    y = _resize_crop(to_float_nchw(x), out_size, crop).clamp(0.0, 1.0)
    return _affine_out(y, 1.0, 0.0, mean, std, channels_last)


def _affine_out(x: torch.Tensor, a, b, mean, std, channels_last: bool, clamp: bool = False) -> torch.Tensor:
    """float32 ``x * a + b`` (a, b scalars or per-image tensors), optionally clamped to [0, 1], then
    normalized with mean / std: one fused multiply-add straight from uint8 or float input, written in
    the requested memory format (plus an in-place clamp whose bounds are the normalized 0 and 1).

    The per-channel coefficients are laid out to match the memory order: for channels-last they are
    tiled into a short repeating row (c0 c1 c2 c0 c1 c2 ...) that the flat pixel data is viewed
    against, so every broadcast runs along a long contiguous axis (broadcasting over an innermost
    axis of 3 channels is several times slower on the CPU)."""
    n, c, h, w = x.shape
    a, b = _coef(a, c, x.device), _coef(b, c, x.device)  # (1 or n, c)
    lo, hi = torch.zeros(1, c, device=x.device), torch.ones(1, c, device=x.device)
    if mean is not None:
        m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, -1)
        s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, -1)
        a, b = a / s, (b - m) / s
        lo, hi = (lo - m) / s, (hi - m) / s
    if channels_last:
        k = math.gcd(h * w, 128)  # pixels per repeating row
        src = x.permute(0, 2, 3, 1).contiguous().view(n, -1, c * k)
        out = torch.empty((n, h, w, c), dtype=torch.float32, device=x.device)
        flat = out.view(n, -1, c * k)

        def lay(v: torch.Tensor) -> torch.Tensor:
            return v.repeat(1, k).unsqueeze(1)  # (1 or n, 1, c * k)
        result = out.permute(0, 3, 1, 2)  # NCHW shape, channels-last strides
    else:
        src = x.contiguous().view(n, c, h * w)
        out = torch.empty((n, c, h, w), dtype=torch.float32, device=x.device)
        flat = out.view(n, c, h * w)

        def lay(v: torch.Tensor) -> torch.Tensor:
            return v.unsqueeze(-1)  # (1 or n, c, 1)
        result = out
    torch.addcmul(lay(b), src, lay(a), out=flat)
    if clamp:
        torch.clamp_(flat, lay(lo), lay(hi))
    return result


def _coef(v, c: int, dev: torch.device) -> torch.Tensor:
    """A scalar, a per-image (n, 1, 1, 1) or per-image-and-channel (n, c, 1, 1) coefficient as
    a float32 (1 or n, c) tensor."""
    t = torch.as_tensor(v, dtype=torch.float32, device=dev)
    return t.reshape(t.shape[0] if t.ndim else 1, -1).expand(-1, c)


def normalize(x: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """(x - mean) / std per channel for a float NCHW batch."""
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def _uniform(u: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * u


class BatchAugment:
    """Random batch augmentation configured by an ``AugmentConfig``.

    ``p_flip`` (probability of each enabled flip) is an extra knob, 0.5 by default.
    """

    def __init__(self, cfg: AugmentConfig | None = None, p_flip: float = 0.5) -> None:
        self.cfg = cfg or AugmentConfig()
        self.p_flip = p_flip

    # ----------------------------------------------------------------------- parameters (CPU)
    def _matrices(self, r: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """(N, 3, 3) float64 maps from output coords to input coords (normalized, align_corners=False),
        and the plain crop parameters (cx, cy, w, h, fx, fy, affine) they were made from."""
        c = self.cfg
        n = r.shape[0]
        # random resized crop: area share s in [min_scale, 1], aspect ratio r log-uniform within
        # [3/4, 4/3] and within what fits the (square) image, centre anywhere the crop fits
        s = _uniform(r[:, _SCALE], min(c.min_scale, 1.0), 1.0)
        lo = torch.clamp(torch.log(s), min=math.log(3 / 4))
        hi = torch.clamp(-torch.log(s), max=math.log(4 / 3))
        ratio = torch.exp(_uniform(r[:, _RATIO], 0.0, 1.0) * (hi - lo) + lo)
        w = torch.sqrt(s * ratio).clamp(max=1.0)
        h = torch.sqrt(s / ratio).clamp(max=1.0)
        cx = (2 * r[:, _CX] - 1) * (1 - w)
        cy = (2 * r[:, _CY] - 1) * (1 - h)
        fx = torch.where((r[:, _FLIP] < self.p_flip) & c.flip, -1.0, 1.0)
        fy = torch.where((r[:, _VFLIP] < self.p_flip) & c.vflip, -1.0, 1.0)
        aff = r[:, _P_AFF] < c.p_affine
        ang = torch.where(aff, _uniform(r[:, _ROT], -c.max_rotate, c.max_rotate), 0.0) * (math.pi / 180)
        zoom = torch.where(aff, _uniform(r[:, _ZOOM], 1.0, max(c.max_zoom, 1.0)), 1.0)
        wx = torch.where(aff, _uniform(r[:, _WX], -c.max_warp, c.max_warp) * 0.5, 0.0)
        wy = torch.where(aff, _uniform(r[:, _WY], -c.max_warp, c.max_warp) * 0.5, 0.0)
        shrink = (0.9 / (wx.abs() + wy.abs()).clamp(min=0.9))  # keeps the perspective divisor >= 0.1
        wx, wy = wx * shrink, wy * shrink
        # M = T(c) . R . S(w, h) . Flip . Zoom^-1 . Warp   (applied to output coordinates)
        eye = torch.eye(3, dtype=torch.float64).expand(n, 3, 3)
        warp = eye.clone()
        warp[:, 2, 0], warp[:, 2, 1] = wx, wy
        lin = eye.clone()
        lin[:, 0, 0] = w * fx / zoom
        lin[:, 1, 1] = h * fy / zoom
        rot = eye.clone()
        cos, sin = torch.cos(ang), torch.sin(ang)
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = cos, -sin, sin, cos
        rot[:, 0, 2], rot[:, 1, 2] = cx, cy
        return rot @ lin @ warp, (cx, cy, w, h, fx, fy, aff)

    # ----------------------------------------------------------------------- the transform
    def __call__(self, x: torch.Tensor, out_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (N, H, W, 3) on the device -> float32 (N, 3, out_size, out_size) in [0, 1]."""
        return self.transform(x, out_size, generator)

    def transform(self, x: torch.Tensor, out_size: int, generator: torch.Generator | None = None,
                  mean=None, std=None, channels_last: bool = False) -> torch.Tensor:
        """Like ``__call__``, optionally normalized with mean / std and in channels_last, fused."""
        c = self.cfg
        if not c.enabled:
            return center_crop(x, out_size, mean, std, channels_last)
        dev = x.device
        if x.dtype == torch.uint8:
            if x.ndim != 4 or x.shape[-1] != 3:
                raise ValueError(f"expected a uint8 batch of shape (N, H, W, 3), got {tuple(x.shape)}")
            target = int(math.ceil(out_size * 1.25))
            if min(x.shape[1:3]) > target * 1.5:  # much larger input: shrink first (antialiased)
                x = _resize_crop(x.permute(0, 3, 1, 2), target).permute(0, 2, 3, 1)
            xp, unit = x.permute(0, 3, 1, 2), 1 / 255.0  # values 0..255, rescaled at the end
        else:
            xp, unit = x.float(), 1.0
        n = xp.shape[0]
        if n == 0:
            return torch.zeros((0, 3, out_size, out_size), device=dev)
        r = torch.rand(n, _N_DRAWS, generator=generator, dtype=torch.float64)
        m, crop = self._matrices(r)
        plain = ~crop[6]
        if xp.dtype == torch.uint8 and dev.type == "cpu" and bool(plain.any()):
            # images with only crop + flip: a separable uint8 resize of the crop box is the same
            # geometry at a fraction of the cost of grid sampling on the CPU
            idx_p = torch.nonzero(plain).flatten()
            idx_a = torch.nonzero(~plain).flatten()
            if not len(idx_a):  # uint8 straight into the final fused rescale
                out = self._plain_crops(xp, idx_p, crop, out_size)
            else:
                out = torch.empty((n, 3, out_size, out_size), dtype=torch.float32)
                out[idx_p] = self._plain_crops(xp, idx_p, crop, out_size).float()
                grid = self._grid(m[idx_a], out_size, dev)
                src = x.index_select(0, idx_a).float().permute(0, 3, 1, 2)  # channels-last: faster sampling
                out[idx_a] = F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        else:
            grid = self._grid(m, out_size, dev)
            src = x.float().permute(0, 3, 1, 2) if x.dtype == torch.uint8 else xp
            out = F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        a, b = self._lighting(out, r, unit)
        out = self._erase(out, r, out_size, a, b)
        # values stay within [0, 1] unless the lighting change (or float input) can leave it:
        # bilinear sampling and resizing average, erasing fills with colours from [0, 1]
        clamp = isinstance(a, torch.Tensor) or unit == 1.0
        return _affine_out(out, a, b, mean, std, channels_last, clamp=clamp)

    @staticmethod
    def _plain_crops(xp: torch.Tensor, idx: torch.Tensor, crop: tuple, size: int) -> torch.Tensor:
        """uint8 (len(idx), 3, size, size): the crop box of each chosen image resized (antialiased
        when shrinking), then flipped as drawn. The boxes are computed for all images at once and
        the per-image Python work is a slice, a resize and a flip (the prefetch threads share the
        interpreter lock)."""
        cx, cy, w, h, fx, fy, _ = (t[idx] for t in crop)
        hh, ww = xp.shape[-2:]
        x0 = ((cx - w + 1) * ww / 2).round().clamp(0, ww - 1)
        x1 = torch.maximum(((cx + w + 1) * ww / 2).round(), x0 + 1).clamp(max=ww)
        y0 = ((cy - h + 1) * hh / 2).round().clamp(0, hh - 1)
        y1 = torch.maximum(((cy + h + 1) * hh / 2).round(), y0 + 1).clamp(max=hh)
        boxes = torch.stack([x0, x1, y0, y1], 1).long().tolist()
        flips = torch.stack([fx < 0, fy < 0], 1).tolist()
        outs = []
        for i, (a, b, c, d), (hflip, vflip) in zip(idx.tolist(), boxes, flips):
            box = xp[i:i + 1, :, c:d, a:b]
            if (d - c, b - a) != (size, size):
                box = F.interpolate(box, size=(size, size), mode="bilinear", align_corners=False,
                                    antialias=(d - c > size or b - a > size))
            if hflip or vflip:
                box = box.flip([dim for dim, f in ((3, hflip), (2, vflip)) if f])
            outs.append(box)
        # one concatenation (channels-last like its parts); writing into a preallocated batch
        # image by image is several times slower
        return torch.cat(outs).contiguous(memory_format=torch.channels_last)

    @staticmethod
    def _grid(m: torch.Tensor, size: int, dev: torch.device) -> torch.Tensor:
        """Sampling grid (N, S, S, 2) of the maps ``m`` (N, 3, 3): each full-size value in one pass."""
        n = m.shape[0]
        warped = bool((m[:, 2, :2] != 0).any())  # decided on the CPU copy: no device sync
        m = m.to(dev, torch.float32)
        g = (torch.arange(size, device=dev, dtype=torch.float32) * 2 + 1) / size - 1
        gx, gy = g.view(1, 1, size), g.view(1, size, 1)

        def plane(row: int) -> torch.Tensor:  # m[row,0] * x + (m[row,1] * y + m[row,2]), one full pass
            return torch.addcmul(m[:, row, 1].view(n, 1, 1) * gy + m[:, row, 2].view(n, 1, 1),
                                 m[:, row, 0].view(n, 1, 1), gx)

        grid = torch.empty((n, size, size, 2), device=dev, dtype=torch.float32)
        if warped:
            den = plane(2)  # >= 0.1 everywhere: the warp strength is bounded in _matrices
            torch.div(plane(0), den, out=grid[..., 0])
            torch.div(plane(1), den, out=grid[..., 1])
        else:
            grid[..., 0] = plane(0)
            grid[..., 1] = plane(1)
        return grid

    def _lighting(self, x: torch.Tensor, r: torch.Tensor, unit: float):
        """Per-image (scale, offset) that map sampled values to [0, 1] units with brightness / contrast."""
        c = self.cfg
        if c.max_lighting <= 0 or c.p_lighting <= 0:
            return unit, 0.0
        on = (r[:, _P_LIGHT] < c.p_lighting).double()
        bright = 1 + on * _uniform(r[:, _BRIGHT], -c.max_lighting, c.max_lighting)
        contrast = 1 + on * _uniform(r[:, _CONTRAST], -c.max_lighting, c.max_lighting)
        b, k = bright.float().to(x.device).view(-1, 1, 1, 1), contrast.float().to(x.device).view(-1, 1, 1, 1)
        step = max(1, x.shape[-1] // 32)  # the mean of a subsample is precise enough here
        mean = x[:, :, ::step, ::step].float().mean(dim=(1, 2, 3), keepdim=True) * unit
        # ((x * unit - mean) * k + mean) * b  ==  x * (unit * k * b) + mean * (1 - k) * b
        return unit * k * b, mean * (1 - k) * b

    def _erase(self, x: torch.Tensor, r: torch.Tensor, size: int, a, b) -> torch.Tensor:
        """Fill a random box per chosen image; the fill is stored as (colour - b) / a so that the
        final rescale ``x * a + b`` turns it into the drawn colour in [0, 1]."""
        c = self.cfg
        if c.erase_p <= 0:
            return x
        on = r[:, _P_ERASE] < c.erase_p
        if not bool(on.any()):
            return x
        area = _uniform(r[:, _E_AREA], 0.02, 0.33)
        ratio = torch.exp(_uniform(r[:, _E_RATIO], math.log(0.3), math.log(3.3)))
        eh = torch.sqrt(area * ratio).clamp(max=1.0) * size
        ew = torch.sqrt(area / ratio).clamp(max=1.0) * size
        x0 = r[:, _E_X] * (size - ew)
        y0 = r[:, _E_Y] * (size - eh)
        x1 = torch.where(on, x0 + ew, x0)  # empty box where erasing is off
        box = torch.stack([x0, y0, x1, y0 + eh], 1).to(x.device, torch.float32)
        color = r[:, _E_R:_E_B + 1].to(x.device, torch.float32).view(-1, 3, 1, 1)
        color = (color - _coef(b, 3, x.device).view(-1, 3, 1, 1)) / _coef(a, 3, x.device).view(-1, 3, 1, 1)
        pos = torch.arange(size, device=x.device, dtype=torch.float32) + 0.5
        inx = (pos >= box[:, 0:1]) & (pos < box[:, 2:3])   # (N, S)
        iny = (pos >= box[:, 1:2]) & (pos < box[:, 3:4])
        mask = (iny[:, :, None] & inx[:, None, :]).unsqueeze(1)
        return torch.where(mask, color, x)
