"""Weights files on disk as a model source: the weights cache (``$TORCH_HOME/hub/checkpoints``), where
downloads and imports are stored under the name each source gives its files. A file there is found
without the network; the store checks its sha256 against the prefix in its published name."""
from __future__ import annotations

from .source import Located, Source, WeightsSpec, checkpoints_dir, registered


class DiskSource(Source):
    name = "files"
    label = "weights files in the local weights cache ($TORCH_HOME/hub/checkpoints: downloaded or imported)"
    offline = "files already in the weights cache (torchvision's checkpoints folder)"

    def locate(self, spec: WeightsSpec) -> Located | None:
        p = spec.dest
        return Located("cached", p, check=spec.sha256_prefix) if p.is_file() else None

    def listed(self, everything: bool) -> list[str]:
        """Files in the cache that a source recognises as its stored weights (e.g. an imported timm
        file), as arch:tag."""
        folder = checkpoints_dir()
        out = []
        for p in sorted(folder.iterdir()) if folder.is_dir() else []:
            for src in registered():
                ref = src.stored_ref(p.name) if p.is_file() else None
                if ref:
                    out.append(f"{ref[0]}:{ref[1]}")
                    break
        return out


SOURCE = DiskSource()
