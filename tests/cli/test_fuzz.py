"""Fuzz-style: random bytes and random recipe values through inspect, train --check (everything a
run checks before it writes), predict and model loading. Each call either works or exits 2 with a
one-line 'error:' message; never a traceback, never a run folder. Seeded, so a failure reproduces."""
from __future__ import annotations

import math
import random
import shutil

import pytest

from synth import make_shapes_dataset
from trained_run import trained_run
from workbench.cli import main
from workbench.config import RunConfig, iter_fields
from workbench.inference.export import ExportError, load_exported

SEED = 20261201
KEYS = [k for k, _f, _v in iter_fields(RunConfig()) if k not in ("schema_version", "data.path", "runs_dir")]
ODD_TEXT = ["", "..", "../../x", "/etc/passwd", "nan", "inf", "-inf", "1e400", "[5,-3,99]", "[]", "{a=1}",
            "\"\"", "true", "yes", "-0", "0x10", "☃", "a,b", "[[[[1]]]]", "1_000", "'", "\"unterminated",
            "resnet1800", "cuda:99", "fp16", "tpu"]


def _random_value(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.choice([0, 1, -1, 2**31, 2**63, -2**70, rng.randint(-10**6, 10**6)]))
    if kind == 1:
        return repr(rng.choice([math.nan, math.inf, -math.inf, 1e-320, 1e308, -0.0, rng.uniform(-10, 10)]))
    if kind == 2:
        return rng.choice(ODD_TEXT)
    if kind == 3:
        return "[" + ",".join(str(rng.uniform(-5, 5)) for _ in range(rng.randrange(5))) + "]"
    if kind == 4:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 12)))
    return rng.choice(["true", "false", "0", "1"])


def _check_clean(rc: int, err: str, allowed=(0, 2)):
    assert "Traceback" not in err, err
    assert rc in allowed, (rc, err)
    if rc == 2:
        assert any(ln.startswith("error: ") for ln in err.splitlines()), err


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths the fuzzer makes up (data.cache_dir = "nan") land here


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("fuzz") / "data", n_train=4, n_valid=2, size=32)


def test_random_recipe_values_never_crash_train_check(data, tmp_path, capsys):
    rng = random.Random(SEED)
    runs = tmp_path / "runs"
    outcomes = {0: 0, 2: 0}
    for _ in range(40):
        sets = []
        for _ in range(rng.randrange(1, 4)):
            key = rng.choice(KEYS) if rng.random() > 0.05 else "no.such.key"
            sets += ["--set", f"{key}={_random_value(rng)}"]
        rc = main(["train", str(data), "--check", "--set", f"runs_dir={runs}", "--set", "model.arch=resnet18",
                   "--set", "train.device=cpu", *sets])
        _check_clean(rc, capsys.readouterr().err)
        outcomes[rc] += 1
    assert not runs.exists()
    assert outcomes[2] > 10  # the fuzzer does reach the checks


def test_random_bytes_as_images_csv_and_recipe(data, tmp_path, capsys):
    rng = random.Random(SEED + 1)
    root = tmp_path / "ds"
    shutil.copytree(data, root)
    for i in range(12):
        ext = rng.choice([".png", ".jpg", ".tif", ".webp", ".gif", ".bmp"])
        n = rng.choice([0, 1, 7, 64, 4096])
        (root / "train" / rng.choice(["circle", "square"]) / f"junk{i}{ext}").write_bytes(rng.randbytes(n))
    rc = main(["inspect", str(root), "--no-stats"])
    _check_clean(rc, capsys.readouterr().err, allowed=(0,))
    for i in range(6):
        junk = tmp_path / f"junk{i}"
        junk.write_bytes(rng.randbytes(rng.choice([0, 10, 300])))
        rc = main(["inspect", str(root), "--labels", str(junk), "--no-stats"])
        _check_clean(rc, capsys.readouterr().err, allowed=(2,))
        rc = main(["train", str(root), "--check", "--config", str(junk)])  # an empty file: the defaults
        _check_clean(rc, capsys.readouterr().err, allowed=(2,) if junk.stat().st_size else (0,))


def test_random_bytes_as_model_files(data, tmp_path, tmp_path_factory, capsys):
    rng = random.Random(SEED + 2)
    img = next(data.rglob("*.png"))
    real_run = trained_run(tmp_path_factory)
    for i in range(16):
        name = rng.choice(["model.json", "model.safetensors", "model.pt", "model.onnx"])
        d = tmp_path / f"m{i}"
        d.mkdir()
        body = rng.randbytes(rng.choice([0, 8, 200, 5000]))
        if name != "model.json" and rng.random() < 0.5:  # a real model.json next to junk weights
            shutil.copy(real_run / "checkpoints" / "best.pt", d / "ignored.pt")
            (d / "model.json").write_text('{"format": "workbench-model"}')
        (d / name).write_bytes(body)
        with pytest.raises(ExportError):
            load_exported(d / name)
        rc = main(["predict", str(d / name), str(img)])
        _check_clean(rc, capsys.readouterr().err, allowed=(2,))
    # a run folder whose checkpoint is random bytes
    run = tmp_path / "run"
    shutil.copytree(real_run, run)
    (run / "checkpoints" / "best.pt").write_bytes(rng.randbytes(1000))
    rc = main(["predict", str(run), str(img)])
    _check_clean(rc, capsys.readouterr().err, allowed=(2,))
