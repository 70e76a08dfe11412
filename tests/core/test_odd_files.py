"""Odd files: a FIFO named .jpg, a huge non-image, float32 / int32 TIFFs, a corrupt-EXIF warning."""
from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import pytest
from PIL import Image

from workbench.data.cache import decode_presized
from workbench.data.health import check_file, run_health
from workbench.inference.predict import list_images


def test_fifo_named_jpg_is_not_an_image_and_never_opened(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    Image.new("RGB", (16, 16)).save(tmp_path / "real.jpg")
    assert list_images(tmp_path) == [str(tmp_path / "real.jpg")]
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", check_file(str(fifo), 8, 10**8)), daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "check_file blocked on a FIFO"
    assert result["r"].kind == "unreadable" and "not a regular file" in result["r"].message


def test_big_non_image_is_refused_from_its_header(tmp_path, monkeypatch):
    big = tmp_path / "big.jpg"
    with open(big, "wb") as fh:
        fh.write(b"not an image at all" * 10)
        fh.truncate(3 * 10**9)  # sparse: 3 GB without using the disk
    import hashlib
    calls = []
    real = hashlib.sha1
    monkeypatch.setattr(hashlib, "sha1", lambda *a: calls.append(1) or real(*a))
    rec = check_file(str(big), 8, 10**8)
    assert rec.kind == "not_image" and not calls  # never read (nor hashed) past the header


@pytest.mark.parametrize("dtype,mode", [(np.float32, "F"), (np.int32, "I")])
def test_wide_tiffs_are_scaled_by_their_range_and_named(tmp_path, dtype, mode):
    ramp = np.linspace(0, 1, 64 * 64).reshape(64, 64)
    values = (ramp * 4000.0 - 1000.0) if dtype is np.float32 else (ramp * 2**24)
    path = tmp_path / f"wide_{mode}.tif"
    Image.fromarray(values.astype(dtype), mode).save(path)
    out = decode_presized(str(path), 32)
    share_255 = float((out == 255).mean())
    assert share_255 < 0.05 and out.min() < 10 and out.max() > 245  # the whole range, nothing clipped
    rec = check_file(str(path), 8, 10**8)
    assert rec.kind == "" and ("float" if mode == "F" else "32bit") in rec.notes and "16bit" not in rec.notes


def test_pillow_warnings_go_to_the_report_not_stderr(tmp_path, capsys, monkeypatch):
    path = tmp_path / "warn.png"
    Image.new("RGB", (16, 16)).save(path)

    real_open = Image.open

    def warning_open(fp, *a, **k):
        warnings.warn("Corrupt EXIF data.  Expecting to read 12 bytes but only got 2.", UserWarning)
        return real_open(fp, *a, **k)

    records = {}
    monkeypatch.setattr(Image, "open", warning_open)  # what Pillow does on a corrupt EXIF block
    run_health([("a", str(path)), ("b", str(path))], records, 8, 10**8, workers=2)
    assert all("pillow_warning" in r.notes for r in records.values()), records
    assert "Corrupt EXIF" not in capsys.readouterr().err


def test_disk_full_before_the_first_checkpoint_promises_no_resume(tmp_path, monkeypatch):
    import collections

    import torch

    from workbench.runtime import atomic
    from workbench.runtime.atomic import DiskFullError
    from workbench.run.folder import save_checkpoint
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 100, 100))
    with pytest.raises(DiskFullError) as err:
        save_checkpoint(tmp_path / "checkpoints" / "last.pt", {"epoch": 0, "w": torch.ones(1000)})
    assert "no checkpoint of this run has been written yet" in str(err.value)
    assert "resumed from its last checkpoint" not in str(err.value)
