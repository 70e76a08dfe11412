"""Presized memmap cache: decoding, reuse, invalidation, bad files, cancel."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.runtime.control import Cancelled, RunControl
from workbench.data import cache as cache_mod
from workbench.data.cache import PresizeCache, decode_presized
from workbench.runtime.events import Progress


def _direct(path: Path, presize: int) -> np.ndarray:
    """Reference: plain PIL decode, resize the short side, centre-crop."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    k = presize / min(w, h)
    nw, nh = max(presize, round(w * k)), max(presize, round(h * k))
    im = im.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - presize) // 2, (nh - presize) // 2
    return np.asarray(im.crop((left, top, left + presize, top + presize)))


def _photo(w: int, h: int, seed: int) -> Image.Image:
    """Smooth random image (so resampling differences stay small)."""
    a = np.random.default_rng(seed).integers(0, 256, (h // 12 + 2, w // 12 + 2, 3), dtype=np.uint8)
    return Image.fromarray(a).resize((w, h), Image.BICUBIC)


@pytest.fixture()
def files(tmp_path) -> list[Path]:
    d = tmp_path / "imgs"
    d.mkdir()
    out = []
    for i, (w, h) in enumerate([(48, 32), (32, 56), (40, 40), (64, 48)]):
        p = d / f"img {i}.png"  # a space in the name on purpose
        _photo(w, h, i).save(p)
        out.append(p)
    for k, (w, h) in enumerate([(72, 48), (192, 144)]):  # the larger one goes through JPEG draft mode
        j = d / f"photo{k}.jpg"
        _photo(w, h, 9 + k).save(j, quality=95)
        out.append(j)
    return out


def test_rows_match_direct_decode(files, tmp_path):
    events = []
    c = PresizeCache.build([str(p) for p in files], 24, tmp_path / "cache", sink=events.append, workers=2)
    assert len(c) == len(files) and c.images.shape == (len(files), 24, 24, 3) and c.images.dtype == np.uint8
    assert c.ok.all() and c.decoded == len(files)
    assert isinstance(c.images, np.memmap)
    for i, p in enumerate(files):
        diff = np.abs(c.images[i].astype(int) - _direct(p, 24).astype(int))
        assert diff.mean() < 4, (p, diff.mean())
    prog = [e for e in events if isinstance(e, Progress)]
    assert prog and all(e.task == "cache" for e in prog)
    assert prog[-1].done == prog[-1].total == len(files)
    assert list((tmp_path / "cache" / "presize").glob("*.tmp")) == []


def test_reopen_does_not_decode(files, tmp_path, monkeypatch):
    paths = [str(p) for p in files]
    first = PresizeCache.build(paths, 24, tmp_path / "cache")
    ref = np.array(first.images)

    def boom(*a, **k):
        raise AssertionError("decoded again")
    monkeypatch.setattr(cache_mod, "decode_presized", boom)
    again = PresizeCache.build(paths, 24, tmp_path / "cache")
    assert again.decoded == 0 and again.ok.all()
    np.testing.assert_array_equal(np.asarray(again.images), ref)


def test_edit_invalidates_and_reuses_unchanged_rows(files, tmp_path, monkeypatch):
    paths = [str(p) for p in files]
    first = PresizeCache.build(paths, 24, tmp_path / "cache")
    ref = np.array(first.images)
    # edit one file: new content, new size and mtime
    Image.new("RGB", (50, 30), (255, 0, 0)).save(files[1])
    st = os.stat(files[1])
    os.utime(files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    calls = []
    real = cache_mod.decode_presized
    monkeypatch.setattr(cache_mod, "decode_presized", lambda p, s: calls.append(p) or real(p, s))
    second = PresizeCache.build(paths, 24, tmp_path / "cache")
    assert calls == [str(files[1])]          # only the edited file was decoded again
    assert second.reused == len(files) - 1
    assert (np.asarray(second.images[1]) == [255, 0, 0]).all()
    keep = [0, 2, 3, 4, 5]
    np.testing.assert_array_equal(np.asarray(second.images)[keep], ref[keep])
    # the old cache was fully superseded and pruned: one cache of this presize remains
    assert len(list((tmp_path / "cache" / "presize").glob("p24-*.json"))) == 1


def test_mtime_change_alone_invalidates(files, tmp_path):
    paths = [str(p) for p in files]
    a = PresizeCache.build(paths, 24, tmp_path / "cache")
    st = os.stat(files[0])
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    b = PresizeCache.build(paths, 24, tmp_path / "cache")
    assert b.file != a.file and b.decoded == 1


def test_bad_files_are_flagged(files, tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.png").write_bytes(b"")
    (d / "text.jpg").write_text("not an image")
    trunc = d / "trunc.jpg"
    data = (files[5]).read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    paths = [str(files[0]), str(d / "empty.png"), str(d / "text.jpg"), str(trunc), str(d / "missing.png")]
    c = PresizeCache.build(paths, 24, tmp_path / "cache")
    assert c.ok.tolist() == [True, False, False, False, False]
    for i in range(1, 5):
        assert paths[i] in c.errors[i]
        assert not np.asarray(c.images[i]).any()   # row left black
    # the flags survive a reopen
    again = PresizeCache.build(paths, 24, tmp_path / "cache")
    assert again.decoded == 0 and again.ok.tolist() == c.ok.tolist() and again.errors == c.errors


def test_modes_are_converted(tmp_path):
    d = tmp_path
    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    pal.info["transparency"] = 0
    pal.save(d / "pal.png", transparency=0)
    Image.new("LA", (20, 20), (90, 0)).save(d / "la.png")
    a16 = np.full((20, 20), 65535 // 2, np.uint16)
    Image.fromarray(a16).save(d / "g16.png")
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(d / "cmyk.jpg")
    rot = Image.new("RGB", (40, 20), (0, 0, 0))
    rot.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    rot.save(d / "exif.jpg", exif=exif, quality=95)
    assert np.abs(decode_presized(str(d / "pal.png"), 8).astype(int) - 255).max() == 0   # transparent -> white
    assert np.abs(decode_presized(str(d / "la.png"), 8).astype(int) - 255).max() == 0
    g = decode_presized(str(d / "g16.png"), 8)
    assert abs(int(g.mean()) - 127) <= 2                                                # 16-bit rescaled
    red = decode_presized(str(d / "cmyk.jpg"), 8).astype(int)
    assert red[..., 0].mean() > 200 and red[..., 1].mean() < 60
    e = Image.open(d / "exif.jpg")
    assert e.size == (40, 20)
    c = PresizeCache.build([str(d / "exif.jpg")], 20, d / "cache")
    img = np.asarray(c.images[0]).astype(int)
    # after transposing, the white half is on top (portrait 20x40 -> centre crop shows its middle)
    full = np.asarray(Image.open(d / "exif.jpg").transpose(Image.Transpose.ROTATE_270)).astype(int)
    assert full.shape[:2] == (40, 20) and full[:20].mean() > full[20:].mean()
    assert img[:5].mean() > 200 and img[-5:].mean() < 60


def test_cancel_leaves_no_cache(files, tmp_path):
    ctl = RunControl()
    ctl.request_stop()
    with pytest.raises(Cancelled):
        PresizeCache.build([str(p) for p in files], 24, tmp_path / "cache", control=ctl)
    assert list((tmp_path / "cache" / "presize").iterdir()) == []
    c = PresizeCache.build([str(p) for p in files], 24, tmp_path / "cache")
    assert c.ok.all() and c.decoded == len(files)


def test_half_written_cache_is_not_used(files, tmp_path):
    paths = [str(p) for p in files]
    c = PresizeCache.build(paths, 24, tmp_path / "cache")
    with open(c.file, "r+b") as fh:   # simulate a data file cut short
        fh.truncate(100)
    again = PresizeCache.build(paths, 24, tmp_path / "cache")
    assert again.decoded == len(files) and again.ok.all()


def test_empty_and_no_write_to_sources(files, tmp_path):
    assert len(PresizeCache.build([], 16, tmp_path / "cache")) == 0
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    PresizeCache.build([str(p) for p in files], 16, tmp_path / "cache")
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before
    shutil.rmtree(tmp_path / "cache")


def test_full_disk_is_a_clear_error_before_anything_is_decoded(files, tmp_path, monkeypatch):
    import collections
    import errno

    from workbench.runtime import atomic
    from workbench.runtime.atomic import DiskFullError
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 5000, 5000))
    decoded = []
    monkeypatch.setattr(cache_mod, "decode_presized", lambda *a: decoded.append(a))
    with pytest.raises(DiskFullError) as err:
        PresizeCache.build([str(p) for p in files], 24, tmp_path / "cache")
    msg = str(err.value)
    need = len(files) * 24 * 24 * 3
    assert err.value.errno == errno.ENOSPC and "image cache" in msg and "5.0 KB free" in msg
    assert f"{need / 1000:.1f} KB" in msg and "WORKBENCH_CACHE_DIR" in msg
    assert not decoded and list((tmp_path / "cache" / "presize").iterdir()) == []  # no temp file left


def test_space_is_reserved_up_front(tmp_path, monkeypatch):
    """The memory-mapped file gets its blocks before any page is written (a full disk mid-way would
    end the process with SIGBUS), and a file system without fallocate still gets the right size."""
    import errno

    from workbench.runtime.atomic import reserve_space
    f = tmp_path / "f.u8"
    f.write_bytes(b"")
    reserve_space(f, 1 << 20, "a test file")
    assert f.stat().st_size == 1 << 20 and f.stat().st_blocks * 512 >= 1 << 20  # allocated, not sparse

    def unsupported(fd, offset, length):
        raise OSError(errno.EOPNOTSUPP, "not supported")
    monkeypatch.setattr(os, "posix_fallocate", unsupported, raising=False)
    g = tmp_path / "g.u8"
    g.write_bytes(b"")
    reserve_space(g, 4096, "a test file")
    assert g.stat().st_size == 4096


def test_least_recently_used_caches_are_evicted_beyond_the_budget(files, tmp_path, monkeypatch):
    paths = [str(p) for p in files]
    one_cache = 2 * 16 * 16 * 3
    monkeypatch.setenv("WORKBENCH_CACHE_GB", str(2.5 * one_cache / 1e9))  # room for two caches
    root = tmp_path / "cache"
    a = PresizeCache.build(paths[:2], 16, root)
    b = PresizeCache.build(paths[2:4], 16, root)
    os.utime(a.file.with_suffix(".json"), (1, 1))            # a was used long ago...
    os.utime(b.file.with_suffix(".json"), (2, 2))
    PresizeCache.build(paths[:2], 16, root)                  # ...until now: reopening marks it used
    c = PresizeCache.build(paths[4:6], 16, root)             # a third cache: over the budget
    left = sorted(p.name for p in (root / "presize").glob("*.u8"))
    assert left == sorted([a.file.name, c.file.name])        # b, the least recently used, went
    assert not b.file.with_suffix(".json").exists()
    again = PresizeCache.build(paths[2:4], 16, root)         # and is simply rebuilt when needed
    assert again.decoded == 2 and np.array_equal(np.asarray(again.images), np.asarray(b.images))
