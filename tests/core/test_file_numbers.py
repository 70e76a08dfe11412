"""Every number read back from a file is range-checked like a recipe value: a damaged last.pt or
metrics.json makes `resume` exit 2 with one sentence (model.json: tests/core/test_model_json.py)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from synth import make_shapes_dataset
from test_best_consistency import _cfg, tiny_model  # noqa: F401 - the fixture
from workbench.cli import main
from workbench.run.folder import RunFolder, load_checkpoint, save_checkpoint
from workbench.train.run import train


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("nums") / "data", n_train=6, n_valid=3, size=16)


@pytest.mark.parametrize("key,value", [("n_epochs", -3), ("n_epochs", 10**9), ("next_epoch", -1),
                                       ("batch_size", 0), ("batch_size", 10**12), ("lr_scale", math.nan),
                                       ("lr_scale", -1.0), ("step", 2.5), ("epoch", "1")])
def test_resume_refuses_a_checkpoint_number_out_of_range(tmp_path, data, tiny_model, capsys, key, value):
    run_dir = tmp_path / "run"
    cfg = _cfg(data, tmp_path).set("train.epochs", 2)
    assert train(cfg, run_dir=run_dir).status == "completed"
    f = RunFolder(run_dir)
    state = load_checkpoint(f.last)
    state[key] = value
    save_checkpoint(f.last, state)
    f.write_metrics({**f.read_metrics(), "status": "cancelled"})
    before = f.history.read_text()
    assert main(["resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: cannot resume")
    assert key in err and f.history.read_text() == before


def test_resume_refuses_a_metrics_wall_time_that_is_no_number(tmp_path, data, tiny_model, capsys):
    run_dir = tmp_path / "run"
    cfg = _cfg(data, tmp_path).set("train.epochs", 2)
    assert train(cfg, run_dir=run_dir).status == "completed"
    f = RunFolder(run_dir)
    f.write_metrics({**f.read_metrics(), "status": "cancelled", "wall_seconds": "abc"})
    assert main(["resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "wall_seconds" in err


@pytest.mark.parametrize("bad", [-1.0, 0.0, "2", 1e300])
def test_a_calibration_temperature_out_of_range_is_fitted_again(tmp_path, tmp_path_factory, bad):
    import shutil

    from trained_run import trained_run
    from workbench.analysis.calibration import T_MAX, T_MIN, run_temperature
    run = tmp_path / "run"
    shutil.copytree(trained_run(tmp_path_factory), run)
    (run / "calibration.json").write_text(json.dumps({"temperature": bad}))
    t = run_temperature(run)
    stored = json.loads((run / "calibration.json").read_text())["temperature"]
    assert T_MIN <= t <= T_MAX and stored == t and "ece_after" in json.loads((run / "calibration.json").read_text())
