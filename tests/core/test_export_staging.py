"""A failed export leaves nothing behind (no model.json without its weights); a good one moves
every file into place and follows the umask."""
from __future__ import annotations

import os
import stat

import pytest

import workbench.inference.export as export_mod
from trained_run import trained_run
from workbench.inference.export import ExportFailed, export_run


def test_failed_export_leaves_no_orphan_files(tmp_path, tmp_path_factory, monkeypatch):
    run = trained_run(tmp_path_factory)
    out = tmp_path / "out"

    def broken(*a, **k):
        raise RuntimeError("tracing failed")

    monkeypatch.setattr(export_mod, "write_torchscript", broken)
    with pytest.raises(ExportFailed, match="torchscript export to .* failed"):
        export_run(run, "safetensors,torchscript", out)
    assert list(out.iterdir()) == []


def test_good_export_moves_files_into_place(tmp_path, tmp_path_factory):
    run = trained_run(tmp_path_factory)
    out = tmp_path / "out"
    res = export_run(run, "safetensors", out)
    assert sorted(p.name for p in out.iterdir()) == [".workbench-written.json", "model.json", "model.safetensors"]
    assert res[0].path == str(out / "model.safetensors")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "model.json").stat().st_mode) == 0o666 & ~umask
