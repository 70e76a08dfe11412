"""torchvision as a model source: every classification model by its bare name (resnet18, ...), its
published ImageNet weights (tags such as IMAGENET1K_V1, files named ``<name>-<sha256 prefix>.pth``)."""
from __future__ import annotations

import functools
from pathlib import Path

from .source import DEFAULT_TAG, Source, WeightsSpec, hash_prefix

# Extra constructor arguments: no auxiliary classifiers (they would change the forward output).
_EXTRA_KWARGS = {"googlenet": {"aux_logits": False, "init_weights": True},
                 "inception_v3": {"aux_logits": False, "init_weights": True}}


@functools.lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    import torchvision
    return tuple(sorted(torchvision.models.list_models(module=torchvision.models)))


def _weights(arch: str):
    """torchvision's weights enum of ``arch``, or None."""
    import torchvision
    try:
        return torchvision.models.get_model_weights(arch)
    except (ValueError, KeyError):
        return None


class TorchvisionSource(Source):
    name = "torchvision"
    label = "torchvision's classification models and their published ImageNet weights"
    builds = True
    examples = ("resnet", "convnext")
    suggested = ("resnet18", "resnet34", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny")
    arch_help = ("torchvision classification model name (resnet18, resnet50, mobilenet_v3_small, "
                 "efficientnet_b0, convnext_tiny, ...)")
    tag_help = "DEFAULT, IMAGENET1K_V1, IMAGENET1K_V2 (torchvision)"

    def archs(self) -> list[str]:
        return list(_names())

    def knows(self, arch: str) -> bool:
        return arch in _names()

    def build(self, arch: str, num_classes: int):
        import torchvision
        return torchvision.models.get_model(arch, weights=None, **_EXTRA_KWARGS.get(arch, {}))

    def params_m(self, arch: str) -> float:
        enum = _weights(arch)
        try:
            return enum.DEFAULT.meta.get("num_params", 0) / 1e6 if enum is not None else 0.0
        except (AttributeError, KeyError):
            return 0.0

    def tags(self, arch: str) -> list[str]:
        enum = _weights(arch)
        return [w.name for w in enum] if enum is not None else []

    def spec(self, arch: str, tag: str) -> WeightsSpec:
        enum = _weights(arch)
        w = enum.DEFAULT if tag == DEFAULT_TAG else enum[tag]
        t = w.transforms()
        name = w.url.rsplit("/", 1)[-1]
        return WeightsSpec(arch, w.name, w.url, name, hash_prefix(name),
                           int(float(w.meta.get("_file_size", 0)) * 1024 * 1024),
                           tuple(t.mean), tuple(t.std), t.interpolation.value, int(t.crop_size[0]))

    def listed(self, everything: bool) -> list[str]:
        return self.archs()  # the store lists those that have weights

    def guess(self, path: Path) -> tuple[str, str] | None:
        for arch in _names():
            for w in _weights(arch) or ():
                if w.url.rsplit("/", 1)[-1] == path.name:
                    return arch, w.name
        return None


SOURCE = TorchvisionSource()
