"""The app: a new dataset of photos gets the fine-tune of the weights on disk, the Data page says so in
one line, and *Train from scratch* switches back (and forth) without losing other edits."""
from __future__ import annotations

import pytest

from disk_weights import bundled_weights  # noqa: F401
from synth import make_shapes_dataset
from workbench.config import RunConfig


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("photos"), n_train=6, n_valid=2, size=100)


def test_new_dataset_of_photos_gets_the_fine_tune_and_a_visible_switch(qtbot, session, photos, bundled_weights):  # noqa: F811
    from workbench.gui.views.data_view import DataView
    arch, tag, native = bundled_weights
    view = DataView(session)
    qtbot.addWidget(view)
    with qtbot.waitSignal(session.first_run_changed, timeout=60_000):
        assert session.open_dataset(str(photos))
    cfg = session.config
    assert (cfg.model.arch, cfg.model.pretrained, cfg.data.image_size) == (arch, tag, native)
    assert cfg.tricks.freeze_epochs == 1 and cfg.train.fine_tune
    tip = view.tip
    assert tip.first_run.isVisibleTo(view) and tip.scratch.isVisibleTo(view) and not tip.scratch.isChecked()
    assert tip.first_run.text().startswith("first run: fine-tuning") and "Train from scratch" in tip.first_run.text()
    assert not view.use_pretrained_btn.isVisibleTo(view)      # the recipe is already the fine-tune

    session.set_option("train.lr", 5e-4)                      # an edit of the user's own
    tip.scratch.setChecked(True)                              # one switch: from scratch
    plain = RunConfig()
    cfg = session.config
    assert (cfg.model.arch, cfg.model.pretrained, cfg.data.image_size) == ("resnet18", "none", plain.data.image_size)
    assert cfg.tricks.freeze_epochs == 0 and not cfg.train.fine_tune and cfg.train.lr == 5e-4
    assert session.from_scratch
    tip.scratch.setChecked(False)                             # and back
    assert (session.config.model.arch, session.config.model.pretrained) == (arch, tag)
    assert session.config.train.lr == 5e-4 and not session.from_scratch


def test_a_small_set_of_photos_gets_a_batch_size_with_enough_steps(qtbot, session, photos, bundled_weights):  # noqa: F811
    from workbench.data.pipeline import batch_warning
    with qtbot.waitSignal(session.first_run_changed, timeout=60_000):
        assert session.open_dataset(str(photos))
    n_train = len(session.dataset.train)
    assert batch_warning(n_train, RunConfig().data.batch_size)        # the default would be one step
    bs = session.config.data.batch_size
    assert not batch_warning(n_train, bs) and f"in batches of {bs}" in session.first_run_line
    qtbot.waitUntil(lambda: not any("batch_size" in w for w in session.warnings()), timeout=10_000)
    session.set_from_scratch(True)                                   # the batch fits the data, not the model
    assert session.config.data.batch_size == bs and session.config.model.pretrained == "none"


def test_another_dataset_decides_anew_after_an_untouched_first_run(qtbot, session, photos, shapes_dir,
                                                                   bundled_weights):  # noqa: F811
    with qtbot.waitSignal(session.first_run_changed, timeout=60_000):
        assert session.open_dataset(str(photos))
    assert session.config.model.pretrained != "none"
    with qtbot.waitSignal(session.dataset_changed, timeout=60_000):
        assert session.open_dataset(str(shapes_dir))            # 32-px images: trained from scratch
    assert (session.config.model.arch, session.config.model.pretrained) == ("resnet18", "none")
    assert session.config.data.image_size == RunConfig().data.image_size and session.first_run_line == ""


def test_a_recipe_with_its_own_model_or_tiny_images_are_left_alone(qtbot, session, photos, shapes_dir,
                                                                   bundled_weights):  # noqa: F811
    session.set_option("model.arch", "mobilenet_v3_small")
    with qtbot.waitSignal(session.dataset_changed, timeout=60_000):
        assert session.open_dataset(str(photos))
    from workbench.gui.jobs import wait_side_tasks
    wait_side_tasks()
    qtbot.wait(50)   # let a (wrong) first-run callback arrive, if one was queued
    assert session.config.model.arch == "mobilenet_v3_small" and session.first_run_line == ""
    session.set_option("model.arch", "resnet18")
    with qtbot.waitSignal(session.dataset_changed, timeout=60_000):
        assert session.open_dataset(str(shapes_dir))          # 32-px images: not photos
    wait_side_tasks()
    qtbot.wait(50)
    assert session.config.model.pretrained == "none" and session.first_run_line == ""


def test_the_first_run_recipe_is_where_undo_starts(qtbot, session, photos, bundled_weights):  # noqa: F811
    """The fine-tune the app set for a new dataset is its starting recipe: Undo has nothing to take back
    (Train from scratch is the way back), and a later edit is undone to the fine-tune."""
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    with qtbot.waitSignal(session.first_run_changed, timeout=60_000):
        assert session.open_dataset(str(photos))
    fine_tune = session.config
    assert fine_tune.model.pretrained != "none" and not view.undo_btn.isEnabled() and not view.undo()
    session.set_option("train.lr", 5e-4)
    assert view.undo_btn.isEnabled() and view.undo()
    assert session.config == fine_tune


def test_defaults_on_photos_give_the_first_run_fine_tune_as_one_undoable_change(qtbot, session, photos, shapes_dir,
                                                                                bundled_weights):  # noqa: F811
    from workbench.gui.views.recipe_view import RecipeView
    arch, tag, native = bundled_weights
    view = RecipeView(session)
    qtbot.addWidget(view)
    with qtbot.waitSignal(session.first_run_changed, timeout=60_000):
        assert session.open_dataset(str(photos))
    new = session.config                                       # what the new dataset got
    session.set_option("model.arch", "resnet18")
    session.set_option("model.pretrained", "none")
    session.set_option("train.epochs", 21)
    edited = session.config
    with qtbot.waitSignal(session.config_changed, timeout=60_000):
        view.reset_defaults()
    cfg = session.config
    assert (cfg.model.arch, cfg.model.pretrained, cfg.data.image_size) == (arch, tag, native)
    assert cfg == new and cfg.train.fine_tune and cfg.data.path == str(photos)
    assert session.first_run_line.startswith("Defaults: fine-tuning") and not session.from_scratch
    assert "Defaults restored (fine-tuning" in view.mom_plot_note.text()
    assert view.undo_btn.isEnabled() and view.undo()             # one step back to the user's own recipe
    assert session.config == edited
    # a dataset that is not photos: Defaults are the from-scratch ones
    with qtbot.waitSignal(session.dataset_changed, timeout=60_000):
        assert session.open_dataset(str(shapes_dir))
    qtbot.waitUntil(lambda: session.dataset is not None, timeout=60_000)
    session.set_option("train.epochs", 21)
    with qtbot.waitSignal(session.config_changed, timeout=60_000):
        view.reset_defaults()
    cfg = session.config
    assert (cfg.model.arch, cfg.model.pretrained, cfg.train.epochs) == ("resnet18", "none", RunConfig().train.epochs)
    assert session.first_run_line == "" and view.undo()
