"""The first recipe of a new dataset of photos is the fine-tune of the weights on disk; a recipe that
names its model, tiny images, the demo and a machine without weights keep the recipe as it is."""
from __future__ import annotations

from disk_weights import bundled_weights  # noqa: F401
from synth import make_shapes_dataset
from workbench.recipe import first_run as fr_mod
from workbench.config import RunConfig
from workbench.data import generate_demo
from workbench.recipe.first_run import (FIRST_RUN_EPOCHS, NO_COST_SIZE, PHOTO_MIN_SIDE, fine_tune_size, first_run,
                                 median_short_side)
from workbench.recipe.presets import demo_recipe


def test_photos_get_the_fine_tune_of_the_bundled_weights(bundled_weights, tmp_path):  # noqa: F811
    arch, tag, native = bundled_weights
    cfg = RunConfig().set("data.path", str(tmp_path))
    fr = first_run(cfg, 300.0, switch="use --from-scratch")
    c = fr.config
    assert fr.applied and (c.model.arch, c.model.pretrained) == (arch, tag)
    assert c.data.image_size == native and c.train.epochs == FIRST_RUN_EPOCHS
    assert c.tricks.freeze_epochs == 1 and c.train.fine_tune and c.train.lr == 2e-3   # pretrained defaults
    assert "\n" not in fr.line and fr.line.startswith("first run: fine-tuning")
    for part in (f"{arch}:{tag}", "bundled with the install", f"{native} px", "median short side 300 px",
                 "use --from-scratch"):
        assert part in fr.line, part
    assert any("freeze_epochs" in n for n in fr.notes)


def test_photos_smaller_than_the_weights_size_keep_the_measured_no_cost_size(bundled_weights):  # noqa: F811
    _, _, native = bundled_weights
    assert fine_tune_size(native, 160.0) == fine_tune_size(native, 200.0) == NO_COST_SIZE == 160
    assert fine_tune_size(native, 120.0) == fine_tune_size(native, 500.0) == native
    fr = first_run(RunConfig(), 160.0)
    assert fr.config.data.image_size == 160 and f"the weights' {native} px costs more time" in fr.line


def test_keys_the_user_set_stay_and_a_budget_keeps_its_epochs(bundled_weights):  # noqa: F811
    cfg = RunConfig().set("data.image_size", 96).set("train.budget_minutes", 3.0)
    fr = first_run(cfg, 500.0, explicit={"data.image_size", "train.budget_minutes"})
    assert fr.applied and fr.config.data.image_size == 96 and fr.config.train.epochs == RunConfig().train.epochs
    assert "3-minute budget" in fr.line


def test_a_recipe_that_names_its_model_is_left_alone(bundled_weights):  # noqa: F811
    cfg = RunConfig()
    for explicit in ({"model.arch"}, {"model.pretrained"}, {"model.dropout"}):
        assert first_run(cfg, 500.0, explicit) == fr_mod.FirstRun(cfg)
    named = RunConfig().set("model.arch", "mobilenet_v3_small")
    assert not first_run(named, 500.0).applied


def test_tiny_images_the_demo_and_no_weights_keep_the_recipe(bundled_weights, tmp_path, monkeypatch):  # noqa: F811
    assert not first_run(RunConfig(), PHOTO_MIN_SIDE - 1).applied
    demo = generate_demo(tmp_path / "demo")
    cfg = demo_recipe(demo)
    assert not first_run(cfg, 500.0).applied                 # the demo keeps its own recipe
    assert median_short_side(demo) == 64
    monkeypatch.setattr(fr_mod, "weights_on_disk", lambda prefer=(): None)
    assert not first_run(RunConfig(), 500.0).applied


def test_cached_weights_say_so(bundled_weights):  # noqa: F811
    arch, tag, _ = bundled_weights
    fr = first_run(RunConfig(), 300.0, found=(arch, tag, "cached"))
    assert fr.applied and "in the local weights cache" in fr.line


def test_median_short_side_reads_a_sample(tmp_path):
    root = make_shapes_dataset(tmp_path / "d", n_train=3, n_valid=1, size=100)
    assert median_short_side(root) == 100
    assert median_short_side(tmp_path / "empty") == 0


def test_a_small_photo_set_gets_a_batch_size_with_enough_steps(bundled_weights):  # noqa: F811
    from workbench.data.pipeline import batch_warning
    plain = RunConfig().data.batch_size
    assert batch_warning(48, plain)                          # the default batch is one step per epoch
    fr = first_run(RunConfig(), 300.0, n_train=48)
    assert fr.config.data.batch_size == 8 and not batch_warning(48, fr.config.data.batch_size)
    assert "in batches of 8 (6 steps per epoch for 48 training images)" in fr.line
    assert first_run(RunConfig(), 300.0, n_train=5000).config.data.batch_size == plain   # enough steps
    kept = first_run(RunConfig().set("data.batch_size", 64), 300.0, {"data.batch_size"}, n_train=48)
    assert kept.config.data.batch_size == 64                 # the user's own batch size stays


def test_the_size_note_agrees_with_the_no_cost_size(bundled_weights):  # noqa: F811
    from workbench.recipe.pretrained import pretrained_defaults
    arch, tag, native = bundled_weights
    cfg = RunConfig().set("model.arch", arch).set("model.pretrained", tag)
    _, notes = pretrained_defaults(cfg.set("data.image_size", NO_COST_SIZE))
    assert any(f"{native} px costs more time, not accuracy" in n for n in notes)
    _, notes = pretrained_defaults(cfg.set("data.image_size", 96))
    assert any(f"set it to {native} for the best accuracy" in n for n in notes)
