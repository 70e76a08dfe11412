"""Weights import always ends in a usable file: the package's original file, a timm .pth state dict and
a safetensors file without BatchNorm counters each import and train; a partial fit, integer weights and
unreadable files are refused with a sentence (exit 2, no run folder); leftovers of killed imports go."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from workbench.models import bundled

from workbench.models import weights
from workbench.cli import main
from workbench.config import RunConfig
from workbench.models.build import create_model, is_safetensors

LITE0 = "timm/tf_efficientnet_lite0"
SETS = ["--set", "data.image_size=32", "--set", "data.batch_size=24", "--set", "train.epochs=1",
        "--set", "train.threads=1", "--set", "train.device=cpu", "--set", f"model.arch={LITE0}"]


@pytest.fixture(scope="session")
def package_file() -> Path:
    return bundled.source_file(bundled.SOURCES[0])


@pytest.fixture(scope="session")
def timm_sd() -> dict:
    """The bundled Lite0 weights in timm naming (converted once per session)."""
    return load_file(str(weights.local_weights(LITE0, "in1k")))


@pytest.fixture
def no_bundle(tmp_path, monkeypatch):
    """An empty weights cache and no bundled package: what an import stores is what a run uses."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(bundled, "SOURCES", ())
    return weights.spec(LITE0, "in1k").dest


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


@pytest.mark.parametrize("kind", ["package", "timm-pth", "safetensors-no-bn-counters"])
def test_imported_file_is_stored_as_safetensors_and_trains(kind, no_bundle, package_file, timm_sd, shapes_dir,
                                                           tmp_path, capsys):
    if kind == "package":
        src = package_file
    elif kind == "timm-pth":
        src = tmp_path / "lite0_timm.pth"
        torch.save({"state_dict": timm_sd}, src)  # wrapped, as many training scripts save it
    else:
        src = tmp_path / "lite0.safetensors"
        save_file({k: v for k, v in timm_sd.items() if not k.endswith("num_batches_tracked")}, str(src))
    assert main(["weights", "import", str(src), f"{LITE0}:in1k"]) == 0
    out = capsys.readouterr().out
    assert str(no_bundle) in out and ("efficientnet-pytorch layout" in out) == (kind == "package")
    assert no_bundle.name.endswith(".safetensors") and is_safetensors(no_bundle)  # the name tells the truth
    assert (no_bundle.stat().st_mode & 0o777) == 0o666 & ~_umask()
    stored = load_file(str(no_bundle))
    assert torch.equal(stored["conv_stem.weight"], timm_sd["conv_stem.weight"])
    assert weights.status(LITE0, "in1k").state == "cached"
    run = tmp_path / "runs" / "r"
    assert main(["train", str(shapes_dir), *SETS, "--set", "model.pretrained=in1k", "--out", str(run)]) == 0
    assert (run / "metrics.json").is_file() and "mean = [\n    0.5," in (run / "config.toml").read_text()
    assert main(["weights", "list"]) == 0  # an imported timm file is listed
    assert any(line.split()[:2] == [f"{LITE0}:in1k", "cached"] for line in capsys.readouterr().out.splitlines())


def test_partial_fit_is_refused_with_names_unless_asked(no_bundle, timm_sd, shapes_dir, tmp_path, capsys):
    sd = dict(timm_sd)
    del sd["blocks.6.0.conv_pwl.weight"]
    sd["bn2.bias"] = torch.zeros(7)
    src = tmp_path / "partial.pth"
    torch.save(sd, src)
    assert main(["weights", "import", str(src), f"{LITE0}:in1k"]) == 2
    err = capsys.readouterr().err
    assert "2 of the model's 245 body tensors would stay random" in err
    assert "blocks.6.0.conv_pwl.weight (missing)" in err and "bn2.bias (shape (7,) in the file, (1280,) here)" in err
    assert "--allow-partial" in err and "Traceback" not in err and not no_bundle.exists()
    # as a recipe's weights file: exit 2 before any run folder, then explicitly allowed: it trains
    run = tmp_path / "runs" / "r"
    assert main(["train", str(shapes_dir), *SETS, "--set", f"model.weights={src}", "--out", str(run)]) == 2
    assert "blocks.6.0.conv_pwl.weight (missing)" in capsys.readouterr().err and not run.parent.exists()
    assert main(["train", str(shapes_dir), *SETS, "--set", f"model.weights={src}",
                 "--set", "model.allow_partial_weights=true", "--out", str(run)]) == 0
    log = (run / "log.txt").read_text()
    assert "2 of 245 body tensors do not fit" in log and "blocks.6.0.conv_pwl.weight" in log and "bn2.bias" in log
    # an import asked to keep it: stored, and the run that uses it needs the same word
    assert main(["weights", "import", str(src), f"{LITE0}:in1k", "--allow-partial"]) == 0
    assert "2 of 245 body tensors do not fit and stay random" in capsys.readouterr().err
    assert is_safetensors(no_bundle)


def test_integer_weights_are_refused_not_cast(no_bundle, timm_sd, tmp_path):
    sd = dict(timm_sd)
    sd["conv_head.weight"] = sd["conv_head.weight"].to(torch.int8)
    src = tmp_path / "int8.safetensors"
    save_file(sd, str(src))
    with pytest.raises(weights.WeightsError, match=r"conv_head.weight \(int8 in the file, float32 here\)"):
        weights.import_file(src, LITE0, "in1k")
    assert not no_bundle.exists()
    problems = " ".join(RunConfig().set("model.arch", LITE0).set("model.weights", str(src)).validate())
    assert "int8 in the file" in problems
    half = tmp_path / "half.safetensors"  # a half-precision copy is the same weights: accepted
    save_file({k: (v.half() if v.is_floating_point() else v) for k, v in timm_sd.items()}, str(half))
    assert weights.import_file(half, LITE0, "in1k") == no_bundle


def test_a_pth_name_gets_a_pytorch_file_and_wrapped_dicts_unwrap(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights.register(weights.WeightsSpec("squeezenet1_1", "TEST", "http://127.0.0.1:9/x.pth", "sq-test.pth"))
    try:
        sd = create_model("squeezenet1_1", 1000).state_dict()
        src = tmp_path / "sq.safetensors"
        save_file(sd, str(src))
        dest = weights.import_file(src, "squeezenet1_1", "TEST")
        assert dest.name == "sq-test.pth" and zipfile.is_zipfile(dest) and not is_safetensors(dest)
        wrapped = tmp_path / "wrapped.bin"
        torch.save({"model": sd, "epoch": 3}, wrapped)
        assert weights.import_file(wrapped, "squeezenet1_1", "TEST") == dest
        assert torch.equal(torch.load(dest, weights_only=True)["features.0.weight"], sd["features.0.weight"])
    finally:
        weights.unregister("squeezenet1_1", "TEST")


def test_leftovers_of_a_killed_import_are_removed_by_the_next(no_bundle, timm_sd, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    no_bundle.parent.mkdir(parents=True)
    stale = [no_bundle.parent / f".{no_bundle.name}.{dead}-abc123.tmp", no_bundle.parent / f".{no_bundle.name}.part-x1"]
    for p in stale:
        p.write_bytes(b"half a file")
    other = no_bundle.parent / f".other.safetensors.{dead}-abc123.tmp"
    other.write_bytes(b"not ours")
    src = tmp_path / "w.safetensors"
    save_file(timm_sd, str(src))
    weights.import_file(src, LITE0, "in1k")
    assert not any(p.exists() for p in stale) and other.exists()


@pytest.mark.parametrize("content", ["garbage", "other-arch"])
def test_unusable_cached_weights_stop_training_before_the_run_folder(content, no_bundle, shapes_dir, tmp_path,
                                                                     capsys):
    no_bundle.parent.mkdir(parents=True)
    if content == "garbage":
        no_bundle.write_bytes(b"\x00" * 64)
        said = "cannot read weights file"
    else:
        save_file(create_model("squeezenet1_1", 10).state_dict(), str(no_bundle))
        said = f"does not match {LITE0}"
    run = tmp_path / "runs" / "r"
    assert main(["train", str(shapes_dir), *SETS, "--set", "model.pretrained=in1k", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "model.pretrained" in err and said in err and str(no_bundle) in err
    assert "Traceback" not in err and not run.parent.exists()
    assert main(["train", str(shapes_dir), *SETS, "--set", "model.pretrained=in1k", "--check"]) == 2
    assert said in capsys.readouterr().err
