"""Export a run: safetensors weights + model.json, TorchScript (trace) and ONNX (dynamic batch).

Every export is reloaded right after writing and compared with the in-app model on real validation
images (max abs difference of probabilities, identical top-1); a mismatch over
``cfg.export.parity_atol`` raises ExportFailed. model.json travels inside the TorchScript archive
(extra file) and the ONNX model (metadata) too, so each file is usable on its own.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from safetensors.torch import save

from ..runtime.atomic import atomic_write_bytes, atomic_write_json
from ..analysis.calibration import run_temperature
from ..config import RunConfig
from ..runtime.control import RunControl
from ..data import open_dataset
from ..runtime.events import LogMessage, Progress
from .predict import (FILE_NAMES, META_FILE, ONNX_META_KEY, ExportError, ExportFailed, Predictor, build_meta, decode_paths,
                      load_exported, torch_predictor)
from ..runtime.outputs import ForeignFileError, claim, record, remove_stale_staging, staging_name
from ..run.runs import load_model

__all__ = ["ExportError", "ExportFailed", "ExportResult", "Predictor", "export_run", "export_model", "load_exported",
           "FORMATS", "FILE_NAMES"]

FORMATS = ("safetensors", "torchscript", "onnx")
PARITY_IMAGES = 32


@dataclass(frozen=True)
class ExportResult:
    format: str
    path: str
    max_abs_diff: float
    top1_equal: bool
    ok: bool
    n_images: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def parse_formats(formats: Sequence[str] | str | None, default: Sequence[str] = FORMATS) -> list[str]:
    if formats is None:
        formats = default
    if isinstance(formats, str):
        formats = [f for f in formats.split(",")]
    out = []
    for f in formats:
        f = f.strip().lower()
        if f and f not in FORMATS:
            raise ExportError(f"unknown export format '{f}' (choose from {', '.join(FORMATS)})")
        if f and f not in out:
            out.append(f)
    if not out:
        raise ExportError("no export format given")
    return out


# ------------------------------------------------------------------ writers
def write_safetensors(model: torch.nn.Module, meta: dict, out: Path, example: torch.Tensor) -> Path:
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path = out / FILE_NAMES["safetensors"]
    atomic_write_bytes(path, save(sd, metadata={"format": "pt", "arch": meta["arch"]}))
    return path


def write_torchscript(model: torch.nn.Module, meta: dict, out: Path, example: torch.Tensor) -> Path:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example[:2], check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={META_FILE: json.dumps(meta)})
    path = out / FILE_NAMES["torchscript"]
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_onnx(model: torch.nn.Module, meta: dict, out: Path, example: torch.Tensor, opset: int = 17) -> Path:
    try:
        import onnx
    except ImportError as e:
        raise ExportError("ONNX export needs the 'onnx' package (pip install 'workbench[export]')") from e
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # the TorchScript-based exporter works offline; the dynamo one needs onnxscript
        torch.onnx.export(model, (example[:2],), buf, dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_META_KEY, json.dumps(meta)
    path = out / FILE_NAMES["onnx"]
    atomic_write_bytes(path, proto.SerializeToString())
    return path


# ------------------------------------------------------------------ export + parity
def parity_images(cfg: RunConfig, sink: Callable | None = None, n: int = PARITY_IMAGES) -> tuple[np.ndarray, str]:
    """Up to ``n`` presized validation images of the run's dataset (random images if it is gone)."""
    presize = cfg.effective_presize
    try:
        ds = open_dataset(cfg.data, cfg.seed, check_health=False)
        items = ds.valid or ds.train
        u8, ok, _ = decode_paths([it.path for it in items[:n * 2]], presize)
        if len(ok):
            return u8[:n], "validation images"
    except Exception as e:  # the dataset moved or is unreadable: still check parity
        if sink is not None:
            sink(LogMessage(f"export parity: dataset not available ({e}); using random images", "warning"))
    rng = np.random.default_rng(cfg.seed)
    return rng.integers(0, 256, (8, presize, presize, 3), dtype=np.uint8), "random images"


class OutputFolderError(ExportError):
    """The output folder cannot take the export (a file of the user's there, or not a folder)."""


def export_names(formats) -> list[str]:
    """The files an export of ``formats`` writes into its folder."""
    return [*(FILE_NAMES[f] for f in parse_formats(formats)), META_FILE]


def check_out_dir(out_dir, formats, force: bool = False) -> None:
    """ExportError when ``out_dir`` holds a file of the export's names that this program did not
    write there (a user's own model.json is never replaced; ``force`` allows it)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"{out} exists and is not a folder: choose an output folder")
    try:
        claim(out, export_names(formats), force)
    except ForeignFileError as e:
        raise OutputFolderError(str(e)) from None


def export_model(model: torch.nn.Module, cfg: RunConfig, classes: Sequence[str], formats, out_dir,
                 sink: Callable | None = None, control: RunControl | None = None,
                 temperature: float = 1.0, force: bool = False) -> list[ExportResult]:
    """Write ``formats`` for an in-memory model to ``out_dir`` and check each one's parity
    (``temperature`` goes into model.json; every loaded export divides its logits by it). A file of
    the same name that this program did not write there is never replaced (ExportError) unless
    ``force``; staging folders of killed exports are removed."""
    formats = parse_formats(formats)
    out = Path(out_dir)
    check_out_dir(out, formats, force)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out, "export")
    model = model.float().eval().to(memory_format=torch.contiguous_format)
    meta = build_meta(cfg, classes, files={f: FILE_NAMES[f] for f in formats}, temperature=temperature)
    # everything is written and checked in a staging folder first, then moved into ``out``: a failed
    # export leaves no model.json without its weights (nor half the formats)
    stage = Path(tempfile.mkdtemp(prefix=staging_name("export"), dir=out))
    try:
        results = _export_checked(model, cfg, meta, formats, stage, out, sink, control)
        check_out_dir(out, formats, force)  # nothing of the user's appeared meanwhile
        names = [*(Path(r.path).name for r in results), META_FILE]
        for name in names:  # model.json last
            os.replace(stage / name, out / name)
        record(out, names)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [dataclasses.replace(r, path=str(out / Path(r.path).name)) for r in results]


def _export_checked(model, cfg: RunConfig, meta: dict, formats: list[str], out: Path, shown: Path, sink,
                    control) -> list[ExportResult]:
    """Write and check each format in ``out`` (messages name the files as in ``shown``)."""
    emit = sink or (lambda e: None)
    atomic_write_json(out / META_FILE, meta)
    ref_pred = torch_predictor(model, meta, "in-app model")
    u8, source = parity_images(cfg, sink)
    x = ref_pred.preprocess(u8)
    ref = ref_pred.probs_tensor(x)
    results = []
    for i, fmt in enumerate(formats):
        if control is not None:
            control.check()
        emit(Progress("export", i, len(formats), f"writing {fmt}"))
        try:
            if fmt == "safetensors":
                path = write_safetensors(model, meta, out, x)
            elif fmt == "torchscript":
                path = write_torchscript(model, meta, out, x)
            else:
                path = write_onnx(model, meta, out, x, cfg.export.opset)
            probs = load_exported(path).probs_tensor(x)
        except ExportError as e:  # the file just written does not load back: the export failed
            raise ExportFailed(str(e), e.format or fmt) from e
        except Exception as e:
            raise ExportFailed(f"{fmt} export to {shown} failed: {type(e).__name__}: {e}", fmt) from e
        diff = float(np.abs(probs - ref).max()) if len(ref) else 0.0
        top1 = bool(np.array_equal(probs.argmax(1), ref.argmax(1)))
        ok = diff <= cfg.export.parity_atol and top1
        res = ExportResult(fmt, str(path), diff, top1, ok, len(x))
        emit(LogMessage(f"{fmt}: {shown / path.name} max |dp| {diff:.2e} top-1 {'same' if top1 else 'DIFFERENT'} "
                        f"on {len(x)} {source}", "info" if ok else "error"))
        if not ok:
            raise ExportFailed(f"{fmt} export {shown / path.name} does not match the in-app model on {len(x)} {source}: "
                              f"max probability difference {diff:.2e} (tolerance {cfg.export.parity_atol:g}), "
                              f"top-1 {'identical' if top1 else 'different'}", fmt)
        results.append(res)
    emit(Progress("export", len(formats), len(formats), "done"))
    return results


def export_run(run_dir: str | os.PathLike, formats: Sequence[str] | str | None = None,
               out_dir: str | os.PathLike | None = None, sink: Callable | None = None,
               control: RunControl | None = None, which: str = "best", force: bool = False) -> list[ExportResult]:
    """Export a run folder's model (checkpoint ``which``) to ``out_dir`` (default run_dir/export), with
    the temperature fitted on its validation set (calibration.json; 1.0 when there is none). In a
    folder of the user's choice a file this program did not write is never replaced unless ``force``
    (the run's own export folder holds only the program's files)."""
    model, info = load_model(run_dir, which=which, device="cpu")
    cfg = info.config
    fmts = parse_formats(formats, cfg.export.formats)
    own = Path(run_dir) / "export"
    out = Path(out_dir) if out_dir else own
    force = force or out.resolve() == own.resolve()
    check_out_dir(out, fmts, force)  # before the calibration fit: refused at once
    temperature = run_temperature(run_dir, which, sink, control)
    return export_model(model, cfg, info.classes, fmts, out, sink, control, temperature, force=force)
