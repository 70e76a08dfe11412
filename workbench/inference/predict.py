"""Prediction with a trained or exported model, preprocessing exactly as validation does:
decode (EXIF, RGB) -> resize short side to presize + centre crop (the cache's decoding) ->
resize short side to image_size + centre crop (the validation transform) -> normalize.

A Predictor wraps a logits function (in-app torch model, safetensors rebuild, TorchScript, ONNX)
plus the metadata of model.json. Loading never unpickles arbitrary objects.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..errors import BadInput, Failure
from .. import __version__
from ..runtime.atomic import atomic_write_text
from ..data.augment import center_crop
from ..data.health import one_colour_file
from ..analysis.calibration import T_MAX, T_MIN, abstain_labels, run_temperature
from ..config import ConfigError, RunConfig, field_meta, norm_stats
from ..runtime.control import RunControl
from ..data.cache import decode_presized, presize_image
from ..data.scan import walk_images
from ..data.types import Problem
from ..runtime.events import Progress
from ..models.build import create_model
from ..run.runs import load_model
from ..run.folder import RunFolder
from .tta import tta_batch, tta_sizes

META_FILE = "model.json"
FILE_NAMES = {"safetensors": "model.safetensors", "torchscript": "model.pt", "onnx": "model.onnx"}
ONNX_META_KEY = "workbench_model_json"
META_FORMAT = "workbench-model"
RESIZE_POLICY = ("decode with EXIF orientation to RGB; resize the short side to presize (bilinear) and "
                 "centre-crop a presize square; resize the short side to image_size / valid_crop (bilinear, "
                 "antialiased) and centre-crop image_size; scale to [0, 1]; normalize with mean/std; "
                 "NCHW float32")


class ExportError(BadInput, RuntimeError):
    """A model file, model.json or export format that cannot be used; names the file. ``format`` is the
    export format it is about ("" when it is not about one format)."""

    def __init__(self, message: str, format: str = "") -> None:
        super().__init__(message)
        self.format = format


class ExportFailed(Failure):
    """An export that could not be written or does not predict like the in-app model (its parity check);
    ``format`` names the format that failed."""

    def __init__(self, message: str, format: str = "") -> None:
        super().__init__(message)
        self.format = format


# ------------------------------------------------------------------ preprocessing
def presize_array(img: np.ndarray, presize: int) -> np.ndarray:
    """An H x W x 3 uint8 array resized like the cache does (short side, centre square)."""
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 image, got shape {arr.shape}")
    if arr.shape[:2] == (presize, presize):
        return arr
    return presize_image(Image.fromarray(arr, "RGB"), presize)


def decode_paths(paths: Sequence[str], presize: int) -> tuple[np.ndarray, list[int], dict[str, str]]:
    """Decode files to (M, presize, presize, 3) uint8; returns (images, indices decoded, {path: error})."""
    arrays, ok, errors = [], [], {}
    for i, p in enumerate(paths):
        try:
            arrays.append(decode_presized(str(p), presize))
            ok.append(i)
        except Exception as e:  # any decoder error: report the file and go on
            errors[str(p)] = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    imgs = np.stack(arrays) if arrays else np.zeros((0, presize, presize, 3), np.uint8)
    return imgs, ok, errors


# ------------------------------------------------------------------ metadata
def build_meta(cfg: RunConfig, classes: Sequence[str], files: dict | None = None,
               temperature: float = 1.0) -> dict:
    """The model.json content for a run's config and classes (``temperature``: see calibration.py)."""
    mean, std = norm_stats(cfg)
    return {
        "format": META_FORMAT, "format_version": 1, "workbench_version": __version__,
        "arch": cfg.model.arch, "num_classes": len(classes), "classes": list(classes),
        "dropout": cfg.model.dropout, "pretrained": cfg.model.pretrained,
        "input": {"image_size": cfg.data.image_size, "presize": cfg.effective_presize,
                  "valid_crop": cfg.data.valid_crop, "channels": 3,
                  "layout": "NCHW", "dtype": "float32", "value_range": [0, 1],
                  "mean": list(mean), "std": list(std), "resize": RESIZE_POLICY},
        "output": "logits (N, num_classes); softmax(logits / temperature) gives probabilities",
        "temperature": float(temperature),
        "files": dict(files or {}),
        "recipe": cfg.to_dict(),
    }


MAX_CLASSES = 100_000


def _number_list(v: Any, n: int) -> bool:
    return (isinstance(v, (list, tuple)) and len(v) == n
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v))


def _number_in(v: Any, lo: float, hi: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi


def _int_in(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def check_meta(meta: Any, source: str) -> dict:
    """Validate a model.json dict like a recipe, with the recipe's bounds (so a file can neither
    crash prediction nor make it allocate without limit); raise ExportError naming ``source``."""
    def bad(what: str) -> ExportError:
        return ExportError(f"{source}: model.json {what}")

    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise ExportError(f"{source}: not a workbench model.json (missing \"format\": \"{META_FORMAT}\")")
    for key in ("arch", "classes", "num_classes", "input"):
        if key not in meta:
            raise bad(f"lacks '{key}'")
    if not isinstance(meta["arch"], str) or not meta["arch"]:
        raise bad("'arch' must be an architecture name")
    classes, n = meta["classes"], meta["num_classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise bad("'classes' must be a list of class names")
    if not _int_in(n, 1, MAX_CLASSES):
        raise bad(f"'num_classes' must be a whole number from 1 to {MAX_CLASSES}, not {n!r}")
    if len(classes) != n:
        raise bad(f"lists {len(classes)} classes but num_classes is {n}")
    inp = meta["input"]
    if not isinstance(inp, dict):
        raise bad("'input' must be a table")
    for key in ("image_size", "presize", "mean", "std"):
        if key not in inp:
            raise bad(f"input section lacks '{key}'")
    lo, hi = int(field_meta("data.image_size")["min"]), int(field_meta("data.image_size")["max"])
    if not _int_in(inp["image_size"], lo, hi):
        raise bad(f"input.image_size must be a whole number from {lo} to {hi}, not {inp['image_size']!r}")
    top = int(field_meta("data.presize")["max"])
    if not _int_in(inp["presize"], inp["image_size"], top):
        raise bad(f"input.presize must be a whole number from image_size ({inp['image_size']}) to {top}, "
                  f"not {inp['presize']!r}")
    for key in ("mean", "std"):
        if not _number_list(inp[key], 3):
            raise bad(f"input.{key} must be three finite numbers (one per RGB channel), not {inp[key]!r}")
    if min(inp["std"]) <= 0:
        raise bad(f"input.std must be above 0, not {inp['std']!r}")
    crop = inp.get("valid_crop", 1.0)
    c_lo, c_hi = field_meta("data.valid_crop")["min"], field_meta("data.valid_crop")["max"]
    if (isinstance(crop, bool) or not isinstance(crop, (int, float)) or not math.isfinite(crop)
            or not c_lo <= crop <= c_hi):
        raise bad(f"input.valid_crop must be a number from {c_lo} to {c_hi}, not {crop!r}")
    temp = meta.get("temperature", 1.0)
    if not _number_in(temp, T_MIN, T_MAX):
        raise bad(f"'temperature' must be a finite number above 0, from {T_MIN:g} to {T_MAX:g} (1 = "
                  f"uncalibrated), not {temp!r}")
    d_lo, d_hi = field_meta("model.dropout")["min"], field_meta("model.dropout")["max"]
    if not _number_in(meta.get("dropout", 0.0), d_lo, d_hi):
        raise bad(f"'dropout' must be a number from {d_lo} to {d_hi}, not {meta.get('dropout')!r}")
    if not isinstance(meta.get("recipe", {}), dict) or not isinstance(meta.get("files", {}), dict):
        raise bad("'recipe' and 'files' must be tables")
    for fmt, name in meta.get("files", {}).items():
        if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
            raise bad(f"files.{fmt} must be a file name next to model.json, not {name!r}")
    return meta


def parse_meta(raw: str | bytes, source: str) -> dict:
    """model.json text -> checked dict; ExportError for anything else (incl. absurdly deep nesting)."""
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ExportError(f"{source}: not readable JSON ({type(e).__name__}: {str(e)[:200]})") from None
    return check_meta(meta, source)


def read_meta(path: str | os.PathLike) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ExportError(f"{p}: model.json not found (it holds the classes and preprocessing; "
                          "export the run again to write it)")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ExportError(f"{p}: cannot read ({e.strerror or e})") from e
    if len(raw) > 64 * 1024 * 1024:
        raise ExportError(f"{p}: {len(raw)} bytes is far too large for a model.json")
    return parse_meta(raw, str(p))


# ------------------------------------------------------------------ predictor
class Predictor:
    """Probabilities for images, with the preprocessing of model.json; see the module docstring."""

    def __init__(self, logits_fn: Callable[[torch.Tensor], Any], meta: dict, source: str,
                 fixed_size: bool = False) -> None:
        self.meta = check_meta(meta, source)
        self._logits_fn = logits_fn
        self.source = source
        self.fixed_size = fixed_size
        inp = meta["input"]
        self.classes = tuple(meta["classes"])
        self.image_size, self.presize = int(inp["image_size"]), int(inp["presize"])
        self.mean, self.std = tuple(inp["mean"]), tuple(inp["std"])
        self.valid_crop = float(inp.get("valid_crop", 1.0))  # exports before data.valid_crop: whole square
        self.temperature = float(meta.get("temperature", 1.0))  # older model.json: uncalibrated

    @property
    def recipe(self) -> RunConfig:
        try:
            return RunConfig.from_dict(self.meta.get("recipe", {}))
        except ConfigError:
            return RunConfig()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The model's logits divided by the calibration temperature."""
        with torch.no_grad():
            out = self._logits_fn(x.float().contiguous())
        out = torch.as_tensor(np.asarray(out) if not torch.is_tensor(out) else out).float()
        return out / self.temperature if self.temperature != 1.0 else out

    def preprocess(self, u8: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Presized uint8 (N, S, S, 3) -> normalized float (N, 3, image_size, image_size)."""
        x = torch.as_tensor(np.asarray(u8)) if not torch.is_tensor(u8) else u8
        return center_crop(x, self.image_size, self.mean, self.std, crop=self.valid_crop)

    def probs_tensor(self, x: torch.Tensor) -> np.ndarray:
        """Probabilities for an already preprocessed float batch."""
        return torch.softmax(self.logits(x), 1).numpy().astype(np.float32)

    def probs_presized(self, u8: np.ndarray, tta: bool = False, seed: int = 0,
                       batch_size: int = 64) -> np.ndarray:
        """Probabilities for presized uint8 images; ``tta`` blends the recipe's TTA passes (seeded)."""
        out = []
        gen = torch.Generator().manual_seed(seed)
        cfg = self.recipe
        for b in range(0, len(u8), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(u8[b:b + batch_size]))
            if tta and cfg.tta.n > 0:
                sizes = [self.image_size] if self.fixed_size else tta_sizes(self.image_size, cfg.tta)
                plain, aug = tta_batch(self.logits, chunk, self.image_size, cfg.tta, cfg.augment, gen,
                                       self.mean, self.std, sizes, crop=self.valid_crop)
                out.append((1 - cfg.tta.beta) * aug + cfg.tta.beta * plain)
            else:
                out.append(self.probs_tensor(self.preprocess(chunk)))
        n_cls = len(self.classes)
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, n_cls), np.float32)

    def predict(self, inputs: Sequence[str] | np.ndarray | Sequence[np.ndarray], tta: bool = False,
                batch_size: int = 64) -> np.ndarray:
        """Probabilities (N, C) for image paths or uint8 H x W x 3 images; an unreadable file raises."""
        if isinstance(inputs, np.ndarray) and inputs.ndim == 4:
            u8 = np.stack([presize_array(a, self.presize) for a in inputs]) if len(inputs) else inputs
        elif len(inputs) and not isinstance(inputs[0], (str, os.PathLike)):
            u8 = np.stack([presize_array(a, self.presize) for a in inputs])
        else:
            u8, _, errors = decode_paths([str(p) for p in inputs], self.presize)
            if errors:
                path, msg = next(iter(errors.items()))
                raise ValueError(f"{path}: cannot read image ({msg})")
        return self.probs_presized(u8, tta=tta, batch_size=batch_size)

    def predict_paths(self, paths: Sequence[str], tta: bool = False, batch_size: int = 64,
                      sink: Callable | None = None, control: RunControl | None = None
                      ) -> tuple[list[str], np.ndarray, dict[str, str]]:
        """Predict files in batches, skipping unreadable ones: (paths predicted, probs, {path: error})."""
        done_paths, probs, errors = [], [], {}
        total = len(paths)
        for b in range(0, total, batch_size):
            if control is not None:
                control.check()
            chunk = [str(p) for p in paths[b:b + batch_size]]
            u8, ok, errs = decode_paths(chunk, self.presize)
            errors.update(errs)
            if len(ok):
                probs.append(self.probs_presized(u8, tta=tta, seed=b, batch_size=batch_size))
                done_paths.extend(chunk[i] for i in ok)
            if sink is not None:
                sink(Progress("predict", min(b + batch_size, total), total, f"{len(errors)} unreadable"))
        out = np.concatenate(probs) if probs else np.zeros((0, len(self.classes)), np.float32)
        return done_paths, out, errors


def torch_predictor(model: torch.nn.Module, meta: dict, source: str) -> Predictor:
    model = model.float().eval().to(memory_format=torch.contiguous_format)
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    return Predictor(lambda x: model(x.to(dev)).cpu(), meta, source)


def predictor_from_run(run_dir: str | os.PathLike, which: str = "best") -> Predictor:
    """The in-app model of a run folder (checkpoint ``which``) as a Predictor."""
    model, info = load_model(run_dir, which=which, device="cpu")
    meta = build_meta(info.config, info.classes, temperature=run_temperature(run_dir, which))
    return torch_predictor(model, meta, str(run_dir))


# ------------------------------------------------------------------ loaders (one per export format)
def load_safetensors(path: Path, meta: dict) -> Predictor:
    if not Path(path).is_file():
        raise ExportError(f"{path}: weights file not found (model.json points to it)")
    try:
        sd = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise ExportError(f"{path}: not a readable safetensors file ({e})") from e
    try:
        model = create_model(meta["arch"], int(meta["num_classes"]), dropout=float(meta.get("dropout", 0.0)))
    except Exception as e:
        raise ExportError(f"{path}: cannot build '{meta['arch']}' from model.json ({e})") from e
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise ExportError(f"{path}: weights do not match model.json (arch {meta['arch']}, "
                          f"{meta['num_classes']} classes): {' '.join(first[:3])[:400]}") from e
    return torch_predictor(model, meta, str(path))


def load_torchscript(path: Path) -> Predictor:
    extra = {META_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated, still supported
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as e:
        raise ExportError(f"{path}: not a loadable TorchScript file ({e})") from e
    raw = extra[META_FILE]
    if raw:
        meta = parse_meta(raw, f"{path} (embedded model.json)")
    else:
        meta = read_meta(Path(path).parent / META_FILE)
    module.eval()
    return check_outputs(Predictor(lambda x: module(x), meta, str(path)))


def load_onnx(path: Path) -> Predictor:
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ExportError("loading ONNX needs 'onnxruntime' (pip install 'workbench[export]')") from e
    try:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, torch.get_num_threads())
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ExportError(f"{path}: not a loadable ONNX model ({e})") from e
    raw = sess.get_modelmeta().custom_metadata_map.get(ONNX_META_KEY, "")
    if raw:
        meta = parse_meta(raw, f"{path} (embedded model.json)")
    else:
        meta = read_meta(Path(path).parent / META_FILE)
    name = sess.get_inputs()[0].name
    return check_outputs(Predictor(lambda x: sess.run(None, {name: x.cpu().numpy()})[0], meta, str(path),
                                   fixed_size=True))


def check_outputs(pred: Predictor) -> Predictor:
    """Run one blank image through a loaded file and check it gives one logit per class of its
    model.json (an ONNX or TorchScript file with other outputs would predict nonsense); ExportError."""
    n = len(pred.classes)
    try:
        out = pred.logits(torch.zeros(1, 3, pred.image_size, pred.image_size))
    except Exception as e:  # noqa: BLE001 - any failure of the file's own graph
        raise ExportError(f"{pred.source}: the model fails on a {pred.image_size} px image as its model.json "
                          f"describes ({type(e).__name__}: {str(e).strip()[:200]})") from None
    if tuple(out.shape) != (1, n):
        raise ExportError(f"{pred.source}: the model gives outputs of shape {tuple(out.shape)} for one image, but "
                          f"its model.json lists {n} classes (expected (1, {n})); export the run again")
    return pred


def load_exported(path: str | os.PathLike) -> Predictor:
    """Load model.json / .safetensors / .pt (TorchScript) / .onnx, or a run folder, as a Predictor."""
    p = Path(path)
    if p.is_dir():
        if (p / META_FILE).is_file():
            return load_exported(p / META_FILE)
        if RunFolder.is_run(p):
            return predictor_from_run(p)
        raise ExportError(f"{p}: neither a run folder ({RunFolder.CONFIG}) nor an export folder ({META_FILE})")
    if not p.is_file():
        raise ExportError(f"{p}: file not found")
    suffix = p.suffix.lower()
    if suffix == ".json":
        meta = read_meta(p)
        weights = p.parent / meta.get("files", {}).get("safetensors", FILE_NAMES["safetensors"])
        return load_safetensors(weights, meta)
    if suffix == ".safetensors":
        return load_safetensors(p, read_meta(_sibling_meta(p)))
    if suffix in (".pt", ".pth", ".ts", ".torchscript"):
        return load_torchscript(p)
    if suffix == ".onnx":
        return load_onnx(p)
    raise ExportError(f"{p}: unknown model file type '{suffix}' (expected a run folder, model.json, "
                      ".safetensors, .pt or .onnx)")


def _sibling_meta(p: Path) -> Path:
    own = p.with_suffix(".json")
    return own if own.is_file() else p.parent / META_FILE


# --------------------------------------------------------------------- folder prediction to CSV
def list_images(path: str | os.PathLike, skipped: list | None = None) -> list[str]:
    """The file itself, or every regular image file under a folder (recursive, sorted, hidden files
    skipped). Linked folders are never entered (no loop, no image twice); they and anything named like
    an image that is no regular file (a pipe would block for ever) go to ``skipped`` as Problems."""
    path = Path(path)
    if path.is_file():
        return [str(path)]
    found: list = []
    out = []
    for p in walk_images(path, found):
        if os.path.isfile(p):
            out.append(p)
        else:
            found.append(Problem(p, "unreadable", f"{p}: not a regular file (a pipe, device, broken link or "
                                 f"link loop); skipped"))
    if skipped is not None:
        skipped.extend(found)
    return out


def list_inputs(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """Image files named by ``inputs`` (files, and the images under folders: recursive, never entering
    a linked folder), each once, in the order given."""
    seen, out = set(), []
    for item in inputs:
        for p in list_images(item) if Path(item).is_dir() else [str(item)]:
            key = os.path.abspath(p)
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out


@dataclass
class ImagePrediction:
    """One image's prediction: the top class, its (calibrated) probability, the top-k classes."""
    path: str
    label: str
    probability: float
    topk: list[tuple[str, float]]
    blank: bool = False      # almost all one colour: whatever the model says, it has nothing to go on


@dataclass
class ImagePredictions:
    """The predictions of a set of images, most confident first; ``errors``: {unreadable file: why}."""
    rows: list[ImagePrediction]
    errors: dict[str, str]
    classes: tuple
    temperature: float
    dataset: str            # the dataset folder of the model's recipe ("" when it has none)
    changes_beside_data: bool = False


def predict_images(model_path: str | os.PathLike, inputs: Sequence[str | os.PathLike], topk: int = 5,
                   batch_size: int = 16, sink=None, control: RunControl | None = None) -> ImagePredictions:
    """Predict image files and folders with a run or an export (the model and probabilities
    ``workbench predict`` uses: calibrated where the run has a temperature); unreadable files are
    skipped and named in ``errors``. Rows are sorted by probability, highest first."""
    predictor = load_exported(model_path)
    paths = list_inputs(inputs)
    if not paths:
        raise ValueError("no image files among the dropped files and folders")
    done, probs, errors = predictor.predict_paths(paths, batch_size=batch_size, sink=sink, control=control)
    classes = predictor.classes
    rows = []
    for path, p in zip(done, probs):
        order = np.asarray(p).argsort()[::-1][:max(1, topk)]
        rows.append(ImagePrediction(path, classes[order[0]], float(p[order[0]]),
                                    [(classes[i], float(p[i])) for i in order], one_colour_file(path)))
    rows.sort(key=lambda r: -r.probability)
    recipe = predictor.recipe
    return ImagePredictions(rows, errors, classes, predictor.temperature, recipe.data.path or "",
                            bool(recipe.data.changes_beside_data))


def prediction_rows(paths: Sequence[str], probs, classes: Sequence[str], topk: int,
                    min_confidence: float = 0.0) -> list[list[str]]:
    """CSV rows: path, label, probability, top_k ("cat:0.91;dog:0.05"); the label is ``unsure`` where
    the top probability is below ``min_confidence``."""
    rows = []
    labels = abstain_labels(np.asarray(probs), classes, min_confidence) if len(paths) else []
    for path, p, label in zip(paths, probs, labels):
        order = np.asarray(p).argsort()[::-1][:max(1, topk)]
        rows.append([path, label, f"{p[order[0]]:.4f}",
                     ";".join(f"{classes[i]}:{p[i]:.4f}" for i in order)])
    return rows


def predictions_csv(paths: Sequence[str], probs, classes: Sequence[str], topk: int,
                    min_confidence: float = 0.0) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "label", "probability", "top_k"])
    w.writerows(prediction_rows(paths, probs, classes, topk, min_confidence))
    return buf.getvalue()


def predict_folder_to_csv(model_path: str | os.PathLike, folder: str | os.PathLike, out_csv: str | os.PathLike,
                          topk: int = 5, tta: bool = False, batch_size: int = 64, sink=None,
                          control: RunControl | None = None) -> dict:
    """Predict every image under ``folder`` and write the CSV atomically; unreadable files are skipped
    and returned in ``errors``. Used by the GUI's folder prediction (the CLI writes the same CSV)."""
    predictor = load_exported(model_path)
    skipped: list = []
    paths = list_images(folder, skipped)
    if not paths:
        raise ValueError(f"no image files found in {folder}")
    done, probs, errors = predictor.predict_paths(paths, tta=tta, batch_size=batch_size, sink=sink, control=control)
    atomic_write_text(out_csv, predictions_csv(done, probs, predictor.classes, topk))
    errors = {**{p.path: p.message for p in skipped}, **errors}
    return {"out_csv": str(out_csv), "n_predicted": len(done), "errors": dict(errors)}
