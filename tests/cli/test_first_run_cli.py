"""`workbench train PHOTOS` without a recipe fine-tunes the weights on disk and says so in one line;
a recipe or --set that names the model, --from-scratch and the demo's recipe are left alone."""
from __future__ import annotations

import pytest

from disk_weights import bundled_weights  # noqa: F401
from synth import make_shapes_dataset
from workbench.cli import main
from workbench.config import RunConfig

QUICK = ["--set", "data.image_size=32", "--set", "train.epochs=2", "--set", "train.threads=1",
         "--set", "data.batch_size=16"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("photos"), n_train=6, n_valid=2, size=100)


def test_train_without_recipe_fine_tunes_the_weights_on_disk(bundled_weights, photos, tmp_path, capsys):  # noqa: F811
    arch, tag, _ = bundled_weights
    assert main(["train", str(photos), *QUICK, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("first run:")]
    assert len(lines) == 1
    assert f"fine-tuning ImageNet-pretrained {arch}:{tag}" in lines[0] and "photos" in lines[0]
    assert "--from-scratch" in lines[0] and "--set model.pretrained=none" in lines[0]
    cfg = RunConfig.load(tmp_path / "run" / "config.toml")
    assert (cfg.model.arch, cfg.model.pretrained) == (arch, tag)
    assert cfg.tricks.freeze_epochs == 1 and cfg.train.fine_tune and cfg.model.mean == (0.5, 0.5, 0.5)
    assert cfg.data.image_size == 32                   # a size the user set stays


@pytest.mark.parametrize("scratch", [False, True])
def test_lr_find_tests_the_recipe_train_would_use(bundled_weights, photos, tmp_path, capsys, monkeypatch,
                                                  scratch):  # noqa: F811
    """The rate is found for the first-run fine-tune `train` runs (not for resnet18 from scratch)."""
    import numpy as np
    import workbench.train.lr_find as lf
    arch, tag, _ = bundled_weights
    seen = []
    lrs = np.logspace(-7, 1, 30)
    loss = 2.0 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 3) * 3))

    def fake(cfg, sink=None, unfrozen=False):
        seen.append(cfg)
        return lf.LRFindResult(lrs, loss, loss, lf.suggest(lrs, loss), "valley")
    monkeypatch.setattr(lf, "lr_find", fake)
    extra = ["--from-scratch"] if scratch else []
    assert main(["lr-find", str(photos), *QUICK, *extra, "--out", str(tmp_path), "--no-plot"]) == 0
    err = capsys.readouterr().err
    cfg = seen[0]
    if scratch:
        assert "first run:" not in err and (cfg.model.arch, cfg.model.pretrained) == ("resnet18", "none")
    else:
        assert sum(ln.startswith("first run:") for ln in err.splitlines()) == 1
        assert (cfg.model.arch, cfg.model.pretrained) == (arch, tag)
        assert cfg.tricks.freeze_epochs == 1 and cfg.data.image_size == 32


@pytest.mark.parametrize("how", ["set", "recipe", "from_scratch"])
def test_a_named_model_or_from_scratch_is_left_alone(bundled_weights, photos, tmp_path, capsys, how):  # noqa: F811
    extra = {"set": ["--set", "model.arch=resnet18"], "from_scratch": ["--from-scratch"]}.get(how, [])
    if how == "recipe":
        recipe = tmp_path / "recipe.toml"
        recipe.write_text('[model]\narch = "resnet18"\n', encoding="utf-8")
        extra = ["--config", str(recipe)]
    assert main(["train", str(photos), *QUICK, *extra, "--out", str(tmp_path / "run")]) == 0
    assert "first run:" not in capsys.readouterr().err
    cfg = RunConfig.load(tmp_path / "run" / "config.toml")
    assert (cfg.model.arch, cfg.model.pretrained, cfg.tricks.freeze_epochs) == ("resnet18", "none", 0)


def test_the_demo_recipe_is_left_alone(bundled_weights, tmp_path, capsys, monkeypatch):  # noqa: F811
    from workbench.cli import demo_cmd
    from workbench.data import generate_demo
    demo = generate_demo(tmp_path / "demo")
    monkeypatch.setattr(demo_cmd, "demo_path", lambda: demo)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    assert main(["demo", "--headless", "--epochs", "1"]) == 0
    assert "first run:" not in capsys.readouterr().err
    run = next((tmp_path / "home").rglob("config.toml"))
    cfg = RunConfig.load(run)
    assert (cfg.model.arch, cfg.model.pretrained, cfg.data.image_size) == ("resnet18", "none", 64)


def test_a_small_photo_set_gets_a_batch_size_with_enough_steps(bundled_weights, photos, capsys):  # noqa: F811
    from workbench.data.pipeline import batch_warning
    n_train = sum(1 for p in (photos / "train").rglob("*") if p.is_file())
    assert batch_warning(n_train, RunConfig().data.batch_size)    # the default batch: one step per epoch
    assert main(["train", str(photos), "--check"]) == 0
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if ln.startswith("first run:"))
    bs = int(line.split("in batches of ")[1].split()[0])
    assert not batch_warning(n_train, bs) and f"for {n_train} training images" in line
    assert "data.batch_size" not in err                       # the check has nothing to say about it
    # 6 validation images: the accuracy moves by 17 points per image, and the check says so
    assert "data: only 6 validation images: one image moves the accuracy by 17%" in err
