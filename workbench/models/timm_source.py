"""timm as a model source (the optional ``timm`` extra): every timm model as ``timm/<name>``, its
pretrained tags and their preprocessing, weights found in the Hugging Face cache, and timm's own
stem / stage grouping of the parameters for discriminative learning rates."""
from __future__ import annotations

import functools
import os
from pathlib import Path

from .source import DEFAULT_TAG, Located, ModelError, Source, WeightsSpec, hash_prefix

PREFIX = "timm/"
STORED = "timm--"   # a timm file this store downloads or imports: timm--<model>.<tag>.safetensors


def available() -> bool:
    """Whether timm is installed."""
    try:
        import timm  # noqa: F401
    except ImportError:
        return False
    return True


def timm_name(arch: str) -> str:
    """timm's own name of the workbench architecture ``timm/<name>``."""
    return arch.removeprefix(PREFIX)


@functools.lru_cache(maxsize=1)
def _pretrained() -> dict[str, tuple[str, ...]]:
    """timm model name -> its pretrained tags, default first (built once)."""
    import timm
    out: dict[str, list[str]] = {}
    for n in timm.list_pretrained():
        name, _, tag = n.partition(".")
        out.setdefault(name, []).append(tag)
    return {k: tuple(v) for k, v in out.items()}


class TimmSource(Source):
    name = "timm"
    label = "timm's models as timm/<name> (pip install 'workbench[timm]') and their pretrained weights"
    prefix = PREFIX
    builds = True
    examples = ("timm/efficientnet",)
    suggested = ("timm/convnext_nano", "timm/efficientnet_b0")
    offline = "timm's Hugging Face cache"
    arch_help = "with the timm extra installed, timm/<name> (timm/convnext_nano, timm/efficientnet_b0, ...)"
    tag_help = "the timm pretrained tag"

    def missing(self) -> str:
        return "" if available() else "timm is not installed (pip install 'workbench[timm]')"

    def archs(self) -> list[str]:
        if not available():
            return []
        import timm
        return [PREFIX + n for n in timm.list_models()]

    def knows(self, arch: str) -> bool:
        if not arch.startswith(PREFIX) or not available():
            return False
        import timm
        return timm.is_model(timm_name(arch))

    def build(self, arch: str, num_classes: int):
        import timm
        return timm.create_model(timm_name(arch), pretrained=False, num_classes=num_classes)

    def classifier(self, arch: str, model):
        from torch import nn
        cls = model.get_classifier()
        name = next((n for n, m in model.named_modules() if m is cls), None)
        if name is None or not isinstance(cls, (nn.Linear, nn.Conv2d)):
            raise ModelError(f"cannot find the classifier of {arch}")
        return name, cls

    def layer_chunks(self, model, skip: set):
        if not (hasattr(model, "group_matcher") and hasattr(model, "pretrained_cfg")):
            return None  # not a timm model
        from timm.models import group_parameters
        by_name = dict(model.named_parameters())
        groups = group_parameters(model, model.group_matcher(coarse=True))
        chunks = [[by_name[n] for n in names if id(by_name[n]) not in skip] for names in groups.values()]
        return [c for c in chunks if c]

    def tags(self, arch: str) -> list[str]:
        return list(_pretrained().get(timm_name(arch), ())) if available() else []

    def spec(self, arch: str, tag: str) -> WeightsSpec:
        import timm
        name = timm_name(arch)
        cfg = timm.models.get_pretrained_cfg(name if tag == DEFAULT_TAG else f"{name}.{tag}")
        if cfg.hf_hub_id:
            endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
            url = f"{endpoint}/{cfg.hf_hub_id}/resolve/main/model.safetensors"
            fname = cfg.hf_hub_id.replace("/", "--") + ".safetensors"
        else:
            url = cfg.url
            fname = url.rsplit("/", 1)[-1]
        return WeightsSpec(arch, cfg.tag or tag, url, fname, hash_prefix(fname), 0,
                           tuple(cfg.mean), tuple(cfg.std), cfg.interpolation or "bilinear",
                           int(cfg.input_size[-1]), cfg.hf_hub_id or "")

    def locate(self, spec: WeightsSpec) -> Located | None:
        """The file in the Hugging Face cache, where timm itself (or another tool) fetched it."""
        if not spec.hf_repo:
            return None
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        for fname in ("model.safetensors", "pytorch_model.bin"):
            hit = try_to_load_from_cache(spec.hf_repo, fname)
            if isinstance(hit, str) and Path(hit).is_file():
                return Located("cached", Path(hit))
        return None

    def listed(self, everything: bool) -> list[str]:
        if not available():
            return []
        if not everything:
            return list(self.suggested)
        return [*self.suggested, *sorted({PREFIX + n for n in _pretrained()} - set(self.suggested))]

    def stored_ref(self, filename: str) -> tuple[str, str] | None:
        if not (filename.startswith(STORED) and filename.endswith(".safetensors")):
            return None
        name, _, tag = filename.removeprefix(STORED).removesuffix(".safetensors").partition(".")
        return (PREFIX + name, tag) if name and tag and self.knows(PREFIX + name) else None


SOURCE = TimmSource()
