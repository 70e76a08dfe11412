"""workbench suggest: prints a loadable recipe with reasons; bad input exits 2; --set drops a reason."""
from __future__ import annotations

import argparse

import pytest

from workbench import suggest as suggest_mod
from workbench.cli import main
from workbench.cli.common import load_config
from workbench.config import RunConfig
from workbench.suggest import parse_reasons


@pytest.fixture
def fast_machine(monkeypatch):
    calls = []

    def fake(arch, size, batch, n_classes=10, **kw):
        calls.append(size)
        return 500.0 * (64 / size) ** 2
    monkeypatch.setattr(suggest_mod, "measure_speed", fake)
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
