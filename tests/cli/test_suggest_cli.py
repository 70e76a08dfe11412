"""workbench suggest: prints a loadable recipe with reasons; bad input exits 2; --set drops a reason."""
from __future__ import annotations

import argparse

import pytest

from workbench.recipe import suggest as suggest_mod
from workbench.cli import main
from workbench.cli.common import load_config
from workbench.config import RunConfig
from workbench.recipe.reasons import parse_reasons


def _layouts(arch, size, batch, candidates, n_classes=10, **kw):
    return {c: 100.0 + 10 * i for i, c in enumerate(candidates)}


@pytest.fixture
def fast_machine(monkeypatch):
    """Synthetic steps, the precision / layout comparison and the planner's probe, all at fixed speeds."""
    import workbench.train.run as run_mod
    from workbench.train.planner import Measured, make_plan
    calls = []

    def fake(arch, size, batch, n_classes=10, **kw):
        calls.append(size)
        return 500.0 * (64 / size) ** 2

    def plan_run(recipe, sink=None, **kw):
        size = recipe.data.image_size
        m = Measured(step_s={size: 32 / (400.0 * (64 / size) ** 2)}, valid_s=0.1, save_s=0.1, steps_per_epoch=3,
                     batch_size=32, n_train=72, n_valid=24, probe_s=1.0)
        return make_plan(recipe, m, 3.0, 0.0)
    monkeypatch.setattr(suggest_mod, "measure_speed", fake)
    monkeypatch.setattr(suggest_mod, "measure_layouts", _layouts)
    monkeypatch.setattr(run_mod, "plan_run", plan_run)
    return calls


def test_suggest_prints_a_recipe_with_reasons(shapes_dir, tmp_path, capsys, fast_machine):
    rc = main(["suggest", str(shapes_dir), "--budget-minutes", "2"])
    out = capsys.readouterr().out
    assert rc == 0 and fast_machine
    assert out.startswith("# suggested recipe")
    cfg = RunConfig.from_toml(out)
    assert cfg.train.budget_minutes == 2.0 and cfg.data.image_size <= 32
    assert "data.image_size" in parse_reasons(cfg.reasons)
    rc = main(["suggest", str(shapes_dir), "--budget-minutes", "2", "--out", str(tmp_path / "r.toml")])
    assert rc == 0 and RunConfig.load(tmp_path / "r.toml") == cfg


def test_a_budget_suggestion_keeps_its_probe_for_the_run(shapes_dir, tmp_path, monkeypatch):
    # the suggestion probes the recipe it prints as the planner does; `train` of it finds that probe
    from workbench.config import with_norm
    from workbench.train.speed_store import recalled_probe
    monkeypatch.setattr(suggest_mod, "measure_speed", lambda arch, size, batch, n=10, **kw: 500.0 * (64 / size) ** 2)
    monkeypatch.setattr(suggest_mod, "measure_layouts", _layouts)
    rc = main(["suggest", str(shapes_dir), "--budget-minutes", "0.5", "--out", str(tmp_path / "r.toml")])
    recipe = RunConfig.load(tmp_path / "r.toml")
    assert rc == 0 and "planner's probe" in parse_reasons(recipe.reasons)["data.image_size"]
    found = recalled_probe(with_norm(recipe.set("data.path", str(shapes_dir.resolve()))))
    assert found is not None and list(found[0]["step_s"]) == [str(recipe.data.image_size)]


def test_suggest_bad_input_exits_2(tmp_path, capsys):
    assert main(["suggest", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["suggest", str(tmp_path), "--budget-minutes", "-1"]) == 2
    assert main(["suggest", str(tmp_path)]) == 2   # no class folders
    assert "no class sub-folders" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--plan-only"]) == 2


def test_an_override_drops_the_reason_of_its_key(tmp_path):
    cfg = RunConfig().set("reasons", ("data.image_size: measured", "tricks.ema: long run"))
    cfg.save(tmp_path / "r.toml")
    args = argparse.Namespace(config=str(tmp_path / "r.toml"), overrides=["data.image_size=96"])
    got = load_config(args)
    assert got.reasons == ("tricks.ema: long run",) and got.data.image_size == 96


def test_an_override_of_the_run_length_drops_the_reasons_that_speak_of_it(tmp_path):
    """--set train.epochs=12 on a 5-epoch suggestion: MixUp's "too short" no longer holds (it said its
    values); a reason that does not speak of the epochs stays."""
    lines = ('tricks.mixup: MixUp off: ~5 epochs (too short) [as set: tricks.mixup = 0.0; train.epochs = 5]',
             'data.batch_size: small set [as set: data.batch_size = 32]')
    RunConfig().set("train.epochs", 5).set("data.batch_size", 32).set("reasons", lines).save(tmp_path / "r.toml")
    args = argparse.Namespace(config=str(tmp_path / "r.toml"), overrides=["train.epochs=12"])
    got = load_config(args)
    assert got.reasons == (lines[1],) and got.train.epochs == 12


def test_suggest_on_a_small_set_keeps_to_the_batch_size_the_check_accepts(tmp_path, capsys):
    """3 classes x 16 training images: 32 made every epoch 2 steps, which the recipe check warns about."""
    from synth import make_shapes_dataset
    from workbench.data.pipeline import batch_warning
    root = make_shapes_dataset(tmp_path / "small", n_train=16, n_valid=4)
    assert main(["suggest", str(root)]) == 0
    out = capsys.readouterr().out
    cfg = RunConfig.from_toml(out)
    assert cfg.data.batch_size == 8 and batch_warning(48, 8) == ""
    assert "data.batch_size = 8: 48 training images: 6 steps per epoch (batches of 32 would make 2" in out
