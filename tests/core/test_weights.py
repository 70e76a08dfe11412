"""The weights store against a loopback HTTP server (tests never touch the network)."""
from __future__ import annotations

import hashlib
import io
import socket
from pathlib import Path

import pytest
import torch

from loopback import serve
from workbench.models import weights
from workbench.config import ModelConfig, RunConfig
from workbench.runtime.control import Cancelled, RunControl
from workbench.models.build import create_model

ARCH = "squeezenet1_1"  # small torchvision model (~5 MB of weights)


def _state_bytes(seed: int = 0) -> bytes:
    torch.manual_seed(seed)
    model = create_model(ARCH, 1000)
    buf = io.BytesIO()
    torch.save({k: v for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def payload() -> bytes:
    return _state_bytes(0)


@pytest.fixture
def server(payload):
    """Serves /good.pth (the payload) and /bad.pth (other bytes); counts requests."""
    with serve({"/good.pth": payload, "/bad.pth": _state_bytes(1)}) as srv:
        yield srv


@pytest.fixture
def test_spec(server, payload, tmp_path, monkeypatch):
    """A test entry squeezenet1_1:TEST served by the loopback server, in an empty cache folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url, _ = server
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    s = weights.WeightsSpec(ARCH, "TEST", f"{url}/good.pth", f"{ARCH}-{prefix}.pth", prefix, len(payload))
    weights.register(s)
    yield s
    weights.unregister(ARCH, "TEST")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_download_with_progress_then_offline_use(test_spec, server, payload, monkeypatch):
    _, hits = server
    assert weights.status(ARCH, "TEST").state == "downloadable"
    assert weights.cached_path(ARCH, "TEST") is None and not weights.usable_offline(ARCH, "TEST")
    events = []
    path = weights.fetch(ARCH, "TEST", progress=events.append)
    assert path == test_spec.dest and path.read_bytes() == payload
    assert len(events) > 3 and events[-1].done == events[-1].total == len(payload)
    assert all(e.rate > 0 for e in events) and events[-1].eta == 0
    assert _leftovers(path.parent) == [path.name]
    assert hits == ["/good.pth"]

    def no_network(*a, **k):
        raise OSError("network blocked in this test")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert weights.usable_offline(ARCH, "TEST")
    assert weights.fetch(ARCH, "TEST") == path  # already cached: no request
    cfg = RunConfig().set("model.arch", ARCH).set("model.pretrained", "TEST")
    assert cfg.validate() == []
    model = create_model(ARCH, 3, weights=weights.weights_file_for(cfg.model))
    ref = torch.load(io.BytesIO(payload), weights_only=True)
    assert torch.equal(model.state_dict()["features.0.weight"], ref["features.0.weight"])
    assert hits == ["/good.pth"]


def test_cancel_mid_way_leaves_no_file(test_spec):
    control = RunControl()
    seen = []

    def progress(p):
        seen.append(p.done)
        if len(seen) == 2:
            control.request_stop()
    with pytest.raises(Cancelled):
        weights.fetch(ARCH, "TEST", progress=progress, control=control)
    assert 0 < seen[-1] < test_spec.size_bytes
    assert _leftovers(test_spec.dest.parent) == []
    assert weights.status(ARCH, "TEST").state == "downloadable"


def test_hash_mismatch_is_an_error_and_leaves_no_file(test_spec, server):
    url, _ = server
    weights.register(weights.WeightsSpec(ARCH, "TEST", f"{url}/bad.pth", test_spec.filename,
                                         test_spec.sha256_prefix))
    with pytest.raises(weights.WeightsError, match="sha256"):
        weights.fetch(ARCH, "TEST")
    assert _leftovers(test_spec.dest.parent) == []


def test_unreachable_server_names_file_hash_folder_and_url(test_spec, server):
    url, _ = server
    weights.register(weights.WeightsSpec(ARCH, "TEST", f"{url}/missing.pth", test_spec.filename,
                                         test_spec.sha256_prefix))
    with pytest.raises(weights.WeightsError) as e:
        weights.fetch(ARCH, "TEST")
    msg = str(e.value)
    assert test_spec.filename in msg and test_spec.sha256_prefix in msg
    assert str(weights.checkpoints_dir()) in msg and f"{url}/missing.pth" in msg and "weights import" in msg
    with pytest.raises(weights.WeightsError, match="not on this machine"):
        weights.local_weights(ARCH, "TEST")


def test_cached_file_found_without_any_request(test_spec, server, payload):
    _, hits = server
    test_spec.dest.parent.mkdir(parents=True)
    test_spec.dest.write_bytes(payload)
    st = weights.status(ARCH, "TEST")
    assert st.state == "cached" and st.path == test_spec.dest and st.size_bytes == len(payload)
    assert weights.cached_path(ARCH, "TEST") == test_spec.dest
    assert hits == []


def test_corrupt_cached_file_is_refused_and_checked_once(test_spec, payload, monkeypatch):
    test_spec.dest.parent.mkdir(parents=True)
    test_spec.dest.write_bytes(payload[:-10])  # a truncated copy under the published name
    calls = []
    real = weights.sha256_file
    monkeypatch.setattr(weights, "sha256_file", lambda p: calls.append(p) or real(p))
    with pytest.raises(weights.WeightsError) as e:
        weights.local_weights(ARCH, "TEST")
    assert str(test_spec.dest) in str(e.value) and "delete it" in str(e.value)
    assert weights.cached_path(ARCH, "TEST") is None
    assert weights.status(ARCH, "TEST").state == "corrupt"
    assert len(calls) == 1  # remembered by size and mtime
    test_spec.dest.write_bytes(payload)  # fixed: checked again
    assert weights.cached_path(ARCH, "TEST") == test_spec.dest and len(calls) == 2


def test_import_checks_arch_and_hash(test_spec, payload, tmp_path):
    src = tmp_path / "downloaded.pth"
    src.write_bytes(payload)
    assert weights.import_file(src, ARCH, "TEST") == test_spec.dest
    assert test_spec.dest.read_bytes() == payload and src.is_file()
    other = tmp_path / "other.pth"
    other.write_bytes(_state_bytes(1))
    with pytest.raises(weights.WeightsError, match="sha256"):
        weights.import_file(other, ARCH, "TEST")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a weights file")
    weights.unregister(ARCH, "TEST")
    weights.register(weights.WeightsSpec(ARCH, "TEST", "http://127.0.0.1:9/x.pth", "x.pth"))
    with pytest.raises(weights.WeightsError, match="cannot read weights file"):
        weights.import_file(garbage, ARCH, "TEST")
    resnet = tmp_path / "resnet.pth"
    torch.save(create_model("resnet18", 10).state_dict(), resnet)
    with pytest.raises(weights.WeightsError, match="does not match squeezenet1_1"):
        weights.import_file(resnet, ARCH, "TEST")
    with pytest.raises(weights.WeightsError, match="cannot tell which model"):
        weights.import_file(resnet)


def test_torchvision_catalogue_without_network():
    s = weights.spec("resnet18", "DEFAULT")
    assert s.tag == "IMAGENET1K_V1" and s.filename == "resnet18-f37072fd.pth" and s.sha256_prefix == "f37072fd"
    assert 40e6 < s.size_bytes < 50e6 and s.input_size == 224 and s.mean == pytest.approx((0.485, 0.456, 0.406))
    assert weights.tags("resnet50") == ["DEFAULT", "IMAGENET1K_V1", "IMAGENET1K_V2"]
    assert weights.guess_ref(Path("/x/resnet18-f37072fd.pth")) == ("resnet18", "IMAGENET1K_V1")
    assert weights.status("resnet18").state == "downloadable"  # the test cache is empty
    msg = weights.missing_message(s)
    assert "resnet18-f37072fd.pth" in msg and s.url in msg


def test_config_checks_tags_and_weights_files(tmp_path):
    cfg = RunConfig()
    assert "is not a weights tag" in " ".join(cfg.set("model.pretrained", "IMAGENET1K_V9").validate())
    assert "did you mean resnet18" in " ".join(cfg.set("model.arch", "resnt18").validate())
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    assert "cannot read weights file" in " ".join(cfg.set("model.weights", str(bad)).validate())
    other = tmp_path / "other.pth"
    torch.save(create_model("squeezenet1_1", 4).state_dict(), other)
    assert "does not match resnet18" in " ".join(cfg.set("model.weights", str(other)).validate())
    good = tmp_path / "good.pth"
    torch.save(create_model("resnet18", 4).state_dict(), good)
    assert cfg.set("model.weights", str(good)).validate() == []
    assert ModelConfig().pretrained == "none" and weights.weights_file_for(ModelConfig()) == ""


def test_a_download_removes_the_leftovers_of_a_killed_one_and_keeps_normal_modes(test_spec):
    import os
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    folder = test_spec.dest.parent
    folder.mkdir(parents=True)
    left = [folder / f".{test_spec.filename}.part-k1ll3d", folder / f".{test_spec.filename}.{dead}-k1ll3d.tmp"]
    for p in left:
        p.write_bytes(b"x" * 1000)
    path = weights.fetch(ARCH, "TEST")
    assert _leftovers(folder) == [path.name]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
