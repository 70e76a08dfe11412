"""The pretrained-weights store: finds, checks, downloads (only when asked) and imports weights files.

Files live in the libraries' own caches, so weights another tool already fetched are found:
torchvision's in ``$TORCH_HOME/hub/checkpoints`` (file names such as ``resnet18-f37072fd.pth``, whose
suffix is the start of the file's sha256), timm's in the Hugging Face cache (``$HF_HOME``) or, when
this store fetched them, in the same checkpoints folder as ``<repo>.safetensors``.

Weights bundled with the install (``workbench.models.bundled``: a package holding the file, converted once
into a safetensors file in this folder) have the state "bundled" and are used like cached ones.

Nothing here touches the network except :func:`fetch`, which runs only on an explicit request (the
app's Download button, ``workbench weights get``, ``workbench train --download-weights``).
A cached file whose sha256 does not match the prefix in its name is refused; a file's check is done
once and remembered by path, size and mtime (``<cache>/weights-verified.json``).

Stable API for the rest of the program: :func:`cached_path`, :func:`usable_offline`, :func:`status`,
:func:`local_weights`, :func:`fetch`, :func:`import_file`, :func:`spec`, :func:`tags`.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torchvision
from safetensors.torch import save_file

from ..errors import BadInput
from ..runtime.atomic import atomic_path, atomic_write_json, remove_stale_temps
from .bundled import BundledError, BundledSource, find as find_bundled, installed as installed_bundled, stored_file
from ..runtime.control import RunControl
from ..runtime.download import DownloadError, DownloadProgress, download, sha256_file
from .build import (TIMM_PREFIX, ModelError, WeightsFit, arch_problem, check_weights_file, create_model, fit_problem,
                     fit_weights, is_timm, load_weights, load_weights_file)
from ..runtime.paths import cache_root
from .layouts import adapt

DEFAULT_TAG = "DEFAULT"
NONE = "none"
ON_DISK = ("bundled", "cached")  # states whose file is on this machine, checked and usable offline
_HASH_RE = re.compile(r"-([a-f0-9]{6,})\.")
_REGISTRY: dict[tuple[str, str], "WeightsSpec"] = {}


class WeightsError(BadInput):
    """Weights that are unknown, missing, corrupted or of another model; the message says what to do."""


@dataclass(frozen=True)
class WeightsSpec:
    arch: str                 # workbench name: resnet18, timm/convnext_nano
    tag: str                  # resolved tag: IMAGENET1K_V1, in12k_ft_in1k
    url: str
    filename: str             # name in the checkpoints folder
    sha256_prefix: str = ""   # from the file name (torchvision); "" = unknown
    size_bytes: int = 0       # 0 = unknown
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"
    input_size: int = 224
    hf_repo: str = ""         # timm: Hugging Face repo id, also looked up in the HF cache

    @property
    def dest(self) -> Path:
        return checkpoints_dir() / self.filename

    @property
    def key(self) -> str:
        return f"{self.arch}:{self.tag}"


@dataclass(frozen=True)
class WeightsStatus:
    spec: WeightsSpec
    state: str                # bundled | cached | downloadable | corrupt
    path: Path | None = None
    size_bytes: int = 0       # of the cached file, else the expected size (0 = unknown)
    problem: str = ""


def checkpoints_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def register(s: WeightsSpec) -> None:
    """Add or replace the entry for (s.arch, s.tag), e.g. a company mirror (tests use a loopback URL)."""
    _REGISTRY[(s.arch, s.tag)] = s


def unregister(arch: str, tag: str) -> None:
    _REGISTRY.pop((arch, tag), None)


# ------------------------------------------------------------------ catalogue
def tags(arch: str) -> list[str]:
    """Weights tags of ``arch``: DEFAULT first, then the named ones ([] when it has none)."""
    extra = [t for (a, t) in _REGISTRY if a == arch]
    if arch_problem(arch):
        return extra
    if is_timm(arch):
        found = list(_timm_tags().get(arch.removeprefix(TIMM_PREFIX), ()))
    else:
        try:
            found = [w.name for w in torchvision.models.get_model_weights(arch)]
        except (ValueError, KeyError):
            found = []
    return ([DEFAULT_TAG] if found else []) + found + [t for t in extra if t not in found]


@functools.lru_cache(maxsize=1)
def _timm_tags() -> dict[str, tuple[str, ...]]:
    """timm model name -> its pretrained tags, default first (built once)."""
    import timm
    out: dict[str, list[str]] = {}
    for n in timm.list_pretrained():
        name, _, tag = n.partition(".")
        out.setdefault(name, []).append(tag)
    return {k: tuple(v) for k, v in out.items()}


def spec(arch: str, tag: str = DEFAULT_TAG) -> WeightsSpec:
    """Where the weights ``arch:tag`` come from and the preprocessing they were trained with."""
    if (arch, tag) in _REGISTRY:
        return _REGISTRY[(arch, tag)]
    problem = arch_problem(arch)
    if problem:
        raise WeightsError(problem)
    known = tags(arch)
    if tag not in known:
        hint = f"choose one of {', '.join(known)}" if known else "it has no pretrained weights"
        raise WeightsError(f"{arch} has no weights '{tag}': {hint}")
    s = _timm_spec(arch, tag) if is_timm(arch) else _torchvision_spec(arch, tag)
    s = _REGISTRY.get((arch, s.tag), s)
    src = find_bundled(arch, s.tag)
    if src is not None:  # the bundled source's own record of its preprocessing
        s = dataclasses.replace(s, mean=tuple(src.mean), std=tuple(src.std), input_size=src.input_size,
                                interpolation=src.interpolation)
    return s


def _torchvision_spec(arch: str, tag: str) -> WeightsSpec:
    enum = torchvision.models.get_model_weights(arch)
    w = enum.DEFAULT if tag == DEFAULT_TAG else enum[tag]
    t = w.transforms()
    name = w.url.rsplit("/", 1)[-1]
    m = _HASH_RE.search(name)
    return WeightsSpec(arch, w.name, w.url, name, m.group(1) if m else "",
                       int(float(w.meta.get("_file_size", 0)) * 1024 * 1024),
                       tuple(t.mean), tuple(t.std), t.interpolation.value, int(t.crop_size[0]))


def _timm_spec(arch: str, tag: str) -> WeightsSpec:
    import timm
    name = arch.removeprefix(TIMM_PREFIX)
    cfg = timm.models.get_pretrained_cfg(name if tag == DEFAULT_TAG else f"{name}.{tag}")
    if cfg.hf_hub_id:
        endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        url, fname = f"{endpoint}/{cfg.hf_hub_id}/resolve/main/model.safetensors", ""
        fname = cfg.hf_hub_id.replace("/", "--") + ".safetensors"
    else:
        url = cfg.url
        fname = url.rsplit("/", 1)[-1]
    m = _HASH_RE.search(fname)
    return WeightsSpec(arch, cfg.tag or tag, url, fname, m.group(1) if m else "", 0,
                       tuple(cfg.mean), tuple(cfg.std), cfg.interpolation or "bilinear",
                       int(cfg.input_size[-1]), cfg.hf_hub_id or "")


# ------------------------------------------------------------------ cache
def _candidates(s: WeightsSpec) -> list[Path]:
    out = [s.dest]
    if s.hf_repo:
        try:
            from huggingface_hub import try_to_load_from_cache
            for fname in ("model.safetensors", "pytorch_model.bin"):
                hit = try_to_load_from_cache(s.hf_repo, fname)
                if isinstance(hit, str):
                    out.append(Path(hit))
        except ImportError:
            pass
    return [p for p in out if p.is_file()]


def _memo_path() -> Path:
    return cache_root() / "weights-verified.json"


def _read_memo() -> dict:
    try:
        return json.loads(_memo_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def verify_file(path: Path, prefix: str) -> str:
    """'' when ``path``'s sha256 starts with ``prefix`` (or no prefix is known), else the problem."""
    if not prefix:
        return ""
    st = path.stat()
    key = str(path.resolve())
    memo = _read_memo()
    entry = memo.get(key)
    if entry and entry[:2] == [st.st_size, st.st_mtime_ns]:
        digest = entry[2]
    else:
        digest = sha256_file(path)
        memo[key] = [st.st_size, st.st_mtime_ns, digest]
        try:
            atomic_write_json(_memo_path(), memo)
        except OSError:
            pass  # the check still holds for this call
    if digest.startswith(prefix):
        return ""
    return (f"{path} is damaged or not the published file: its sha256 starts with {digest[:len(prefix)]}, "
            f"its name says {prefix}; delete it and download it again (or import a good copy)")


def status(arch: str, tag: str = DEFAULT_TAG) -> WeightsStatus:
    """bundled / cached (path, size) / corrupt (problem) / downloadable (expected size) for ``arch:tag``.
    Bundled weights are converted into the cache on the first call (a fraction of a second)."""
    s = spec(arch, tag)
    bundle_problem = ""
    src = find_bundled(s.arch, s.tag)
    if src is not None:
        try:
            p = stored_file(src, checkpoints_dir())
            return WeightsStatus(s, "bundled", p, p.stat().st_size)
        except BundledError as e:
            bundle_problem = str(e)
    for p in _candidates(s):
        problem = verify_file(p, s.sha256_prefix if p.name == s.filename else "")
        if problem:
            return WeightsStatus(s, "corrupt", p, p.stat().st_size, problem)
        return WeightsStatus(s, "cached", p, p.stat().st_size)
    if bundle_problem:
        return WeightsStatus(s, "corrupt", None, 0, bundle_problem)
    return WeightsStatus(s, "downloadable", None, s.size_bytes)


def cached_path(arch: str, tag: str = DEFAULT_TAG) -> Path | None:
    """The verified local file of ``arch:tag`` (bundled or cached), or None (unknown, missing or
    corrupt). Never downloads."""
    try:
        st = status(arch, tag)
    except WeightsError:
        return None
    return st.path if st.state in ON_DISK else None


def named_tags(arch: str) -> list[str]:
    """Weights tags of ``arch`` as pickers and lists show them: one name per set of weights (DEFAULT,
    an alias of one of them, is left out; it is still accepted as input)."""
    return [t for t in tags(arch) if t != DEFAULT_TAG]


def cached_tag(arch: str) -> str:
    """The first named weights tag of ``arch`` (the default weights first) whose file is on this
    machine (bundled or cached), or ''. Never downloads."""
    try:
        found = named_tags(arch)
        first = spec(arch, DEFAULT_TAG).tag if found else ""
    except WeightsError:
        return ""
    ordered = [first, *[t for t in found if t != first]] if first in found else found
    return next((t for t in ordered if cached_path(arch, t) is not None), "")


def bundled() -> list[tuple[str, str]]:
    """(arch, tag) of the ImageNet weights that ship with the install (a package on the index), best first.
    Only those whose package is installed are listed. Never touches the network."""
    return [(s.arch, s.tag) for s in installed_bundled()]


def imported_refs() -> list[tuple[str, str]]:
    """(arch, tag) of the timm weights files in the checkpoints folder (imported or fetched by this
    store: ``timm--<model>.<tag>.safetensors``), for listing. Never touches the network."""
    out = []
    folder = checkpoints_dir()
    for p in sorted(folder.glob("timm--*.safetensors")) if folder.is_dir() else []:
        name, _, tag = p.name.removeprefix("timm--").removesuffix(".safetensors").partition(".")
        if name and tag and not arch_problem(TIMM_PREFIX + name):
            out.append((TIMM_PREFIX + name, tag))
    return out


def bundled_source(arch: str, tag: str = DEFAULT_TAG) -> BundledSource | None:
    """The installed package that bundles ``arch:tag`` (DEFAULT resolved), if any."""
    try:
        return find_bundled(arch, spec(arch, tag).tag)
    except WeightsError:
        return None


def usable_offline(arch: str, pretrained: str) -> bool:
    """Whether ``model.pretrained`` = ``pretrained`` for ``arch`` can be used without the network."""
    return pretrained.lower() == NONE or cached_path(arch, pretrained) is not None


def missing_message(s: WeightsSpec) -> str:
    """What to do when ``s`` is not on this machine (offline or behind a proxy)."""
    hash_part = f" (its sha256 starts with {s.sha256_prefix})" if s.sha256_prefix else ""
    return (f"pretrained weights {s.key} are not on this machine: the file {s.filename}{hash_part} belongs in "
            f"{checkpoints_dir()}; download it with `workbench weights get {s.arch}:{s.tag}` (or train with "
            f"--download-weights), or fetch {s.url} on another machine and run "
            f"`workbench weights import FILE {s.arch}:{s.tag}`")


def local_weights(arch: str, tag: str = DEFAULT_TAG) -> Path:
    """The verified local file of ``arch:tag``; WeightsError says how to get it when it is missing."""
    st = status(arch, tag)
    if st.state == "corrupt":
        raise WeightsError(st.problem)
    if st.path is None:
        raise WeightsError(missing_message(st.spec))
    return st.path


def weights_file_for(model_cfg) -> str:
    """The file a ModelConfig trains from: model.weights, else the pretrained tag's cached file, else ''."""
    if model_cfg.weights:
        return model_cfg.weights
    if model_cfg.pretrained.lower() == NONE:
        return ""
    return str(local_weights(model_cfg.arch, model_cfg.pretrained))


# ------------------------------------------------------------------ fetch / import
def fetch(arch: str, tag: str = DEFAULT_TAG, progress: Callable[[DownloadProgress], None] | None = None,
          control: RunControl | None = None) -> Path:
    """Download ``arch:tag`` into the cache (no-op when already cached). Only call on a user's request."""
    st = status(arch, tag)
    if st.state in ON_DISK:
        return st.path
    s = st.spec
    remove_partial_files(s.dest)
    try:
        path = download(s.url, s.dest, s.sha256_prefix, progress, control)
    except DownloadError as e:
        raise WeightsError(f"{e}. {missing_message(s)}") from e
    if not s.sha256_prefix:
        _check_or_delete(s.arch, path)
    return path


def _check_or_delete(arch: str, path: Path) -> None:
    try:
        check_weights_file(arch, path)
    except ModelError as e:
        path.unlink(missing_ok=True)
        raise WeightsError(f"{e}; the file was not kept") from e


def parse_ref(ref: str) -> tuple[str, str]:
    """'resnet18:IMAGENET1K_V1' -> ('resnet18', 'IMAGENET1K_V1'); no tag -> DEFAULT."""
    arch, _, tag = ref.partition(":")
    return arch.strip(), (tag.strip() or DEFAULT_TAG)


def guess_ref(path: Path) -> tuple[str, str] | None:
    """The torchvision arch:tag whose published file name is ``path``'s name, if any."""
    for arch in torchvision.models.list_models(module=torchvision.models):
        try:
            enum = torchvision.models.get_model_weights(arch)
        except (ValueError, KeyError):
            continue
        for w in enum:
            if w.url.rsplit("/", 1)[-1] == path.name:
                return arch, w.name
    return None


@dataclass(frozen=True)
class Imported:
    path: Path                # the file in the cache
    fit: WeightsFit           # how it fits the model (fit.left_random: tensors that stay random)
    converted: bool           # False: the published file, copied byte for byte


def remove_partial_files(dest: Path) -> list[Path]:
    """Temp files of an import or download of ``dest`` that was killed mid-way (their process is
    gone), and ``.NAME.part-*`` files of earlier versions; returns what was removed."""
    removed = remove_stale_temps(dest.parent, f".{dest.name}.*.tmp") if dest.parent.is_dir() else []
    for p in dest.parent.glob(f".{dest.name}.part-*") if dest.parent.is_dir() else []:
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def import_weights(src: str | os.PathLike, arch: str = "", tag: str = DEFAULT_TAG,
                   allow_partial: bool = False) -> Imported:
    """Check that ``src`` holds weights of ``arch`` and store them in the cache under the name the
    libraries look for, in the format that name says. ``arch`` = '' guesses from the file name.

    A published file (its sha256 matches the prefix in the name) is copied as it is. Anything else (a
    state dict in a .pth / .bin / .safetensors file, or one wrapped as {"state_dict": ...} /
    {"model": ...}; a known layout of another implementation renamed) is written anew: safetensors for a
    .safetensors name, a PyTorch file for a .pth one. The stored file is loaded into the model before it
    is kept. A file that fits only partly is refused, naming what does not fit, unless ``allow_partial``."""
    src = Path(src).expanduser()
    if not src.is_file():
        raise WeightsError(f"weights file not found: {src}")
    if not arch:
        guess = guess_ref(src)
        if guess is None:
            raise WeightsError(f"cannot tell which model {src.name} belongs to: give it, e.g. "
                               f"`workbench weights import {src} resnet18:IMAGENET1K_V1`")
        arch, tag = guess
    s = spec(arch, tag)
    dest = s.dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_partial_files(dest)
    if s.sha256_prefix:
        digest = sha256_file(src)
        if not digest.startswith(s.sha256_prefix):
            raise WeightsError(f"{src} is not the published {s.key} file: its sha256 starts with "
                               f"{digest[:len(s.sha256_prefix)]}, expected {s.sha256_prefix}")
    try:
        sd = load_weights_file(src)
        model = create_model(arch, 10)
        fit = fit_weights(model, sd)
        problem = fit_problem(fit, src, arch, allow_partial)
        if problem:
            raise ModelError(problem)
        with atomic_path(dest) as tmp:
            if s.sha256_prefix:
                shutil.copyfile(src, tmp)
            else:
                tensors = {k: v.detach().clone().contiguous() for k, v in adapt(sd, model)[0].items()}
                if dest.suffix == ".safetensors":
                    name = src.name.encode("utf-8", "backslashreplace").decode("utf-8")  # any file name
                    save_file(tensors, str(tmp), metadata={"format": "pt", "imported_from": name})
                else:
                    torch.save(tensors, tmp)
            load_weights(create_model(arch, 10), tmp, arch, allow_partial)  # what is kept loads
    except ModelError as e:
        raise WeightsError(f"{e}; nothing was stored") from e
    except OSError as e:  # e.g. a full disk: atomic_path left nothing behind
        raise WeightsError(f"cannot store the weights in {dest.parent}: {e.strerror or e}") from e
    return Imported(dest, fit, not s.sha256_prefix)


def import_file(src: str | os.PathLike, arch: str = "", tag: str = DEFAULT_TAG, allow_partial: bool = False) -> Path:
    """:func:`import_weights`, returning the stored file."""
    return import_weights(src, arch, tag, allow_partial).path
