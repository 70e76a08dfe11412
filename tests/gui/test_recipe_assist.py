"""Recipe page: Suggest a recipe (reasons under the fields it set, dropped when the user edits one)
and Plan the run (the plan shown before the start)."""
from __future__ import annotations

import math

import pytest

from test_train_lr_recipe_data_views import fake_dataset
from workbench.recipe import suggest as suggest_mod
from workbench.recipe.reasons import parse_reasons


@pytest.fixture
def recipe_view(qtbot, session, shapes_dir, monkeypatch):
    from workbench.gui.views.recipe_view import RecipeView
    monkeypatch.setattr(suggest_mod, "measure_speed", lambda arch, size, batch, n=10, **kw: 400.0 * (32 / size) ** 2)
    monkeypatch.setattr(suggest_mod, "cached_layouts",  # every precision / layout alike: the recipe's own stays
                        lambda arch, size, batch, candidates, n=10: {c: 400.0 * (32 / size) ** 2 for c in candidates})
    session.jobs_in_child_process = False  # the plan job in a thread: quicker to start in a test
    session.set_config(session.config.set("data.path", str(shapes_dir)).set("train.budget_minutes", 0.5))
    from workbench.data.stats import compute_stats
    session.dataset = fake_dataset(shapes_dir)
    session.stats = compute_stats(session.dataset)
    session.dataset_changed.emit(session.dataset)
    view = RecipeView(session)
    qtbot.addWidget(view)
    view.resize(1300, 900)
    return view


def test_suggest_sets_options_and_shows_each_reason_under_its_field(qtbot, session, recipe_view, tmp_path):
    assist = recipe_view.assistant
    with qtbot.waitSignal(assist.suggested, timeout=20_000):
        assert assist.request_suggestion()
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    cfg = session.config
    reasons = parse_reasons(cfg.reasons)
    assert cfg.train.budget_minutes == 0.5 and cfg.data.image_size <= 32 and cfg.data.path
    assert {"data.image_size", "tricks.mixup", "tricks.ema", "data.batch_size"} <= set(reasons)
    label = assist.reason_labels["data.image_size"]
    assert reasons["data.image_size"] in label.text()
    layout, row = assist_row(assist, label)
    _, editor_row = assist_row(assist, recipe_view.form.editors["data.image_size"])
    assert row == editor_row + 1   # right under its field
    recipe_view.grab().save(str(tmp_path / "recipe_suggested.png"))
    # the user overrides a suggested option: its reason goes, the others stay
    recipe_view.form.editors["data.image_size"].setValue(24)
    assert session.config.data.image_size == 24
    assert "data.image_size" not in parse_reasons(session.config.reasons)
    assert "data.image_size" not in assist.reason_labels and "tricks.ema" in assist.reason_labels


def assist_row(assist, widget):
    from workbench.gui.views.recipe_assist import _form_row
    return _form_row(assist.form, widget)


def test_suggest_without_a_dataset_says_so(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    assert not view.assistant.request_suggestion() and "Open a dataset" in view.assistant.status.text()
    assert not view.assistant.request_plan()


def test_plan_the_run_shows_the_plan_before_the_start(qtbot, session, recipe_view):
    session.set_config(session.config.set("data.image_size", 32).set("data.batch_size", 16)
                       .set("train.threads", 1))
    assist = recipe_view.assistant
    with qtbot.waitSignal(assist.planned, timeout=120_000) as blocker:
        assert assist.request_plan()
    plan = blocker.args[0]
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    assert plan.budget_s == 30 and plan.epochs >= 1
    text = assist.plan_label.text()
    assert "plan: time budget 0.5 min" in text and "img/s" in text and "after the start: ending at about" in text
    session.set_option("data.image_size", 24)
    assert "plan again" in assist.status.text()


def test_schedule_preview_draws_the_planned_epochs(qtbot, session, recipe_view):
    from workbench.train.planner import Measured, make_plan
    from workbench.gui.views.recipe_view import steps_per_epoch
    m = Measured(step_s={session.config.data.image_size: 0.05}, valid_s=0.1, save_s=0.05, steps_per_epoch=4,
                 batch_size=16, n_train=64, n_valid=16, probe_s=1.0)
    plan = make_plan(session.config, m, startup_s=2.0, started=0.0)
    assert plan.epochs != session.config.train.epochs
    spe = steps_per_epoch(session)
    assist = recipe_view.assistant
    assist._planned_cfg = session.config
    with qtbot.waitSignal(recipe_view.schedule_redrawn, timeout=3000):
        assist.show_plan(plan)
    assert recipe_view.schedule_plot.buffers["lr"].x[-1] == pytest.approx(plan.epochs)
    # whole epochs on the page: the caption counts the partial last epoch as one, as the Train page does;
    # the plan says once that the last is partial ("15 epochs and part of a 16th")
    n = math.ceil(plan.epochs - 1e-9)
    assert f"{n} epochs (the time plan)" in recipe_view.schedule_caption.text()
    text = assist.plan_label.text()
    assert plan.epochs < n - 1e-3                          # this plan's last epoch is partial: said once
    assert f"{plan.epochs:.2f}" not in text and f"{plan.epochs:g} epochs" not in text
    assert f"{n - 1} epochs and part of a" in text
    with qtbot.waitSignal(recipe_view.schedule_redrawn, timeout=3000):
        session.set_option("train.lr", 0.0042)           # the plan no longer holds: train.epochs again
    assert recipe_view.schedule_plot.buffers["lr"].x[-1] == pytest.approx(session.config.train.epochs)
    assert f"x {spe} steps" in recipe_view.schedule_caption.text()
    assert "With the 0.5-minute time budget the run sets its number of epochs" in recipe_view.schedule_caption.text()


def test_suggest_shows_what_it_measures_and_can_be_cancelled(qtbot, session, recipe_view, monkeypatch):
    import threading
    gate, calls = threading.Event(), []

    def slow(arch, size, batch, n=10, **kw):   # a measurement that lasts until the test lets it end
        calls.append(size)
        gate.wait(20)
        return 400.0
    monkeypatch.setattr(suggest_mod, "measure_speed", slow)
    assist = recipe_view.assistant
    before = session.config
    assert assist.request_suggestion()
    qtbot.waitUntil(lambda: "measuring this machine's speed" in assist.status.text(), timeout=10_000)
    assert "px" in assist.status.text()
    assert not assist.cancel_btn.isHidden() and not assist.busy.isHidden()
    with qtbot.waitSignal(session.job_finished, timeout=20_000) as finished:
        assist.cancel_btn.click()
        gate.set()
    assert finished.args[1] == "cancelled" and len(calls) == 1
    assert session.config == before and "cancelled" in assist.status.text()
    assert assist.cancel_btn.isHidden() and assist.busy.isHidden()


def test_the_epochs_reason_speaks_to_app_users_too(session):
    from workbench.recipe.suggest import DataFacts, suggest
    facts = DataFacts(n_classes=3, n_train=60, n_valid=12, per_class_min=20, per_class_median=20.0,
                      imbalance=1.0, median_side=64.0)
    reasons = parse_reasons(suggest(facts, session.config, 0.0, speed=lambda *a: 400.0).config.reasons)
    assert "--budget-minutes" not in reasons["train.epochs"] and "Train for" in reasons["train.epochs"]


def test_schedule_preview_counts_steps_as_training_and_reaches_the_peak(qtbot, session, recipe_view):
    """The preview said "4 epochs x 4 steps" where training ran 3 batches per epoch (a short last batch
    is dropped), and drew only those points, so the curve topped out far below the stated peak."""
    from workbench.data.loader import batches_per_epoch
    n = len(session.dataset.train)
    bs = next(b for b in range(5, n) if n % b)  # a short last batch
    with qtbot.waitSignal(recipe_view.schedule_redrawn, timeout=3000):
        session.set_config(session.config.set("train.budget_minutes", 0).set("train.epochs", 4)
                           .set("data.batch_size", bs).set("train.lr", 0.002).set("train.schedule", "one_cycle"))
    assert f"4 epochs x {batches_per_epoch(n, bs)} steps" in recipe_view.schedule_caption.text()
    assert max(recipe_view.schedule_plot.buffers["lr"].y) == pytest.approx(0.002, rel=0.01)
