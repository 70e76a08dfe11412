"""The pretrained-weights store: finds, checks, downloads (only when asked) and imports weights files.

Where weights come from is the business of the model sources (``workbench.models.sources``): each
says which tags an architecture has, where its files are published and with which preprocessing, and
where it keeps them on this machine. The store asks them in their registered order, so weights on this
machine are found first: the weights bundled with the install (``workbench.models.bundled``: a package
holding the file, converted once into a safetensors file in the cache; state "bundled"), then files in
the weights cache (torchvision's ``$TORCH_HOME/hub/checkpoints``: names such as
``resnet18-f37072fd.pth``, whose suffix is the start of the file's sha256, and timm files this store
fetched as ``<repo>.safetensors``), then the libraries' own caches (timm's Hugging Face cache).

Nothing here touches the network except :func:`fetch`, which runs only on an explicit request (the
app's Download button, ``workbench weights get``, ``workbench train --download-weights``).
A cached file whose sha256 does not match the prefix in its name is refused; a file's check is done
once and remembered by path, size and mtime (``<cache>/weights-verified.json``).

Stable API for the rest of the program: :func:`cached_path`, :func:`usable_offline`, :func:`status`,
:func:`local_weights`, :func:`fetch`, :func:`import_file`, :func:`spec`, :func:`tags`.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import save_file

from ..errors import BadInput
from ..runtime.atomic import atomic_path, atomic_write_json, remove_stale_temps
from .bundled import BundledSource, find as find_bundled, installed as installed_bundled
from ..runtime.control import RunControl
from ..runtime.download import DownloadError, DownloadProgress, download, sha256_file
from .build import (ModelError, WeightsFit, arch_problem, check_weights_file, create_model, fit_problem,
                    fit_weights, load_weights, load_weights_file)
from ..runtime.paths import cache_root
from .layouts import adapt
from .source import DEFAULT_TAG, WeightsSpec, checkpoints_dir
from .sources import source_of, sources

NONE = "none"
ON_DISK = ("bundled", "cached")  # states whose file is on this machine, checked and usable offline
_REGISTRY: dict[tuple[str, str], "WeightsSpec"] = {}


class WeightsError(BadInput):
    """Weights that are unknown, missing, corrupted or of another model; the message says what to do."""


@dataclass(frozen=True)
class WeightsStatus:
    spec: WeightsSpec
    state: str                # bundled | cached | downloadable | corrupt
    path: Path | None = None
    size_bytes: int = 0       # of the cached file, else the expected size (0 = unknown)
    problem: str = ""
    origin: str = ""          # where an on-disk file came from, in words (the bundling package), '' = the cache


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
    found = list(source_of(arch).tags(arch))
    return ([DEFAULT_TAG] if found else []) + found + [t for t in extra if t not in found]


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
    s = source_of(arch).spec(arch, tag)
    s = _REGISTRY.get((arch, s.tag), s)
    for src in sources():  # e.g. the bundled package's own record of its preprocessing
        s = src.refine(s)
    return s


# ------------------------------------------------------------------ cache
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
    """bundled / cached (path, size) / corrupt (problem) / downloadable (expected size) for ``arch:tag``:
    the first source that has the file on this machine says where (bundled weights are converted into
    the cache on the first call, a fraction of a second); a file with a known sha256 prefix is checked."""
    s = spec(arch, tag)
    unusable = None  # a source that holds the weights but cannot give them: said when no other has them
    for src in sources():
        found = src.locate(s)
        if found is None:
            continue
        if found.path is None:
            unusable = unusable or found
            continue
        problem = found.problem or verify_file(found.path, found.check)
        return WeightsStatus(s, "corrupt" if problem else found.state, found.path, found.path.stat().st_size,
                             problem, found.origin)
    if unusable is not None:
        return WeightsStatus(s, "corrupt", None, 0, unusable.problem, unusable.origin)
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
    """The arch:tag whose published file name is ``path``'s name (a torchvision file), if a source knows it."""
    for src in sources():
        ref = src.guess(Path(path))
        if ref is not None:
            return ref
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
