"""The recipe defaults that come with pretrained weights, and the small-dataset suggestion."""
from __future__ import annotations

from disk_weights import bundled_weights, no_disk_weights  # noqa: F401
from workbench.config import RunConfig
from workbench.recipe.pretrained import pretrained_defaults, suggest_fine_tune


def test_pretrained_defaults_change_only_untouched_keys_and_say_so():
    plain = RunConfig()
    assert pretrained_defaults(plain) == (plain, [])  # no weights: nothing changes
    cfg, notes = pretrained_defaults(plain.set("model.pretrained", "DEFAULT"))
    assert cfg.tricks.freeze_epochs == 1 and cfg.train.fine_tune and cfg.augment.min_scale == 0.5
    text = " ".join(notes)
    assert "tricks.freeze_epochs = 1" in text and "augment.min_scale = 0.5" in text
    assert "normalization (0.485" in text and "trained at 224 px" in text
    mine = plain.set("model.pretrained", "DEFAULT").set("augment.min_scale", 0.8).set("tricks.freeze_epochs", 0)
    cfg, notes = pretrained_defaults(mine, explicit={"tricks.freeze_epochs"})
    assert cfg.augment.min_scale == 0.8 and cfg.tricks.freeze_epochs == 0 and cfg.train.fine_tune
    assert not any("min_scale" in n or "freeze_epochs" in n for n in notes)


def test_without_weights_on_disk_no_fine_tune_is_suggested(no_disk_weights):  # noqa: F811
    # weights that would have to be downloaded are never proposed (the machine may be offline)
    assert suggest_fine_tune([24, 30, 12], RunConfig()) == ("", "")


def test_small_datasets_get_the_weights_on_disk_suggested(bundled_weights):  # noqa: F811
    arch, tag, _ = bundled_weights
    ref, text = suggest_fine_tune([24, 30, 12], RunConfig())
    assert ref == f"{arch}:{tag}" and "at most 30 images per class" in text and "bundled with the install" in text
    assert "download" not in text
    assert suggest_fine_tune([5000, 30], RunConfig()) == ("", "")
    assert suggest_fine_tune([24], RunConfig().set("model.pretrained", "DEFAULT")) == ("", "")
