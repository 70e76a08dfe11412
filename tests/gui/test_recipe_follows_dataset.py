"""Recipe page: what it says about one dataset's recipe (the Suggest status, the plan, "the recipe
changed since this plan", the undo note) goes when another dataset opens; a suggested field's reason
goes when its value changes by any means; Ctrl+Z in a form field with nothing of its own to undo undoes
the last recipe change."""
from __future__ import annotations

import shutil

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from test_recipe_assist import recipe_view  # noqa: F401  (fixture)
from workbench.recipe.reasons import parse_reasons


def _open(qtbot, session, folder):
    session.open_dataset(folder)
    qtbot.waitUntil(lambda: not session.busy, timeout=60_000)


def _suggest(qtbot, session, assist):
    with qtbot.waitSignal(assist.suggested, timeout=20_000):
        assert assist.request_suggestion()
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)


def _plan(session):
    from workbench.train.planner import Measured, make_plan
    m = Measured(step_s={session.config.data.image_size: 0.05}, valid_s=0.1, save_s=0.05, steps_per_epoch=4,
                 batch_size=16, n_train=64, n_valid=16, probe_s=1.0)
    return make_plan(session.config, m, startup_s=2.0, started=0.0)


def test_suggest_status_plan_and_undo_note_clear_when_another_dataset_opens(qtbot, session, recipe_view,
                                                                          shapes_dir, tmp_path):
    assist = recipe_view.assistant
    _suggest(qtbot, session, assist)
    assert "suggested:" in assist.status.text()
    assert recipe_view.undo_actions[-1] == "Suggest"       # Undo would say "Undone: Suggest (...)"
    assist._planned_cfg = session.config          # a plan of this recipe, then a change: "plan again"
    assist.show_plan(_plan(session))
    assert assist.plan_label.text() and not assist.plan_label.isHidden()
    session.set_option("train.lr", 0.0042)
    assert "plan again" in assist.status.text()
    recipe_view.undo()
    assert recipe_view.mom_plot_note.text().startswith("Undone:")
    assert assist.status.text() == assist.PLANNED              # the planned recipe again: no "plan again"
    other = tmp_path / "other"
    shutil.copytree(shapes_dir, other)
    _open(qtbot, session, other)
    assert session.config.data.path == str(other)
    assert assist.status.text() == "" and assist.plan_label.isHidden() and assist.plan is None
    assert recipe_view.mom_plot_note.text() == "" and assist.reason_labels == {}
    assert assist.planned_epochs(session.config) is None
    session.set_option("train.lr", 0.005)         # no plan of this dataset: nothing to plan again
    assert assist.status.text() == ""


def test_a_reason_goes_when_its_value_changes_by_any_means_and_is_not_saved(qtbot, session, recipe_view, tmp_path):
    from workbench.config import RunConfig
    from workbench.gui.views.lr_find_view import LRFindView
    session.set_config(session.config.set("train.budget_minutes", 0).set("train.epochs", 3))
    assist, form = recipe_view.assistant, recipe_view.form
    _suggest(qtbot, session, assist)
    labels = assist.reason_labels
    assert {"train.lr", "train.epochs", "augment.min_scale", "tricks.mixup", "model.arch"} <= set(labels)
    assert "no time budget given, so kept as set (3)" in labels["train.epochs"].text()
    assert "3 epochs as set (give Train for (minutes) to have them planned)" in assist.status.text()
    lr_page = LRFindView(session)                    # the LR finder's pick sets another rate
    qtbot.addWidget(lr_page)
    lr_page.pick(0.00404)
    assert session.config.train.lr == 0.00404 and "train.lr" not in labels
    assert "train.lr" not in parse_reasons(session.config.reasons) and "model.arch" in labels
    budget = form.editors["train.budget_minutes"]    # "Train for 1 minute", typed
    budget.setFocus()
    budget.lineEdit().selectAll()
    qtbot.keyClicks(budget.lineEdit(), "1")
    qtbot.keyClick(budget.lineEdit(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: session.config.train.budget_minutes == 1.0)
    gone = {"train.epochs", "augment.min_scale", "augment.max_warp", "tricks.mixup", "tricks.cutmix", "tricks.ema"}
    assert not gone & set(labels) and not gone & set(parse_reasons(session.config.reasons))
    assert "model.arch" in labels
    path = tmp_path / "recipe.toml"
    recipe_view.save(str(path))
    text = path.read_text()
    assert "no time budget given" not in text and "too short" not in text and "short run" not in text
    assert "lower peak rate" not in text and "softer targets" in text
    # Undo brings the budget back, and with it the reasons that hold for it again
    assert recipe_view.undo() and session.config.train.budget_minutes == 0
    assert "train.epochs" in labels and "train.lr" not in labels
    # a loaded recipe whose values differ from its reasons shows none of those reasons
    path.write_text(session.config.set("train.epochs", 12).to_toml())
    recipe_view.load(str(path))
    assert session.config.train.epochs == 12 and not gone & set(labels)
    assert RunConfig.load(str(path)).reasons != session.config.reasons


def test_ctrl_z_in_a_field_with_nothing_to_undo_undoes_the_last_recipe_change(qtbot, session, recipe_view):
    """A value typed, Tab pressed: the next field has focus, its own typing history is empty, and Ctrl+Z
    did nothing; it undoes the recipe change. A field with typing of its own still undoes that first."""
    recipe_view.show()
    recipe_view.activateWindow()
    qtbot.waitUntil(recipe_view.isActiveWindow)
    form = recipe_view.form
    session.set_option("train.budget_minutes", 0.0)   # the fixture's time budget would switch Epochs off
    epochs = form.editors["train.epochs"]
    before = session.config.train.epochs
    epochs.setFocus()
    qtbot.waitUntil(epochs.hasFocus)
    epochs.selectAll()
    qtbot.keyClicks(epochs, "17")
    qtbot.keyClick(epochs, Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: session.config.train.epochs == 17)
    field = QApplication.focusWidget()   # the next field: a spin box, its typing history empty
    assert field is form.editors["train.budget_minutes"] and not field.lineEdit().isUndoAvailable()
    qtbot.keyClick(field, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: session.config.train.epochs == before)
    assert recipe_view.mom_plot_note.text().startswith("Undone:")
    lr = form.editors["train.lr"]   # typing of its own: Ctrl+Z undoes the typing, not the recipe
    lr.setFocus()
    qtbot.waitUntil(lr.hasFocus)
    shown, kept = lr.lineEdit().text(), session.config
    qtbot.keyClicks(lr, "7")
    assert lr.lineEdit().text() != shown
    qtbot.keyClick(lr, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert lr.lineEdit().text() == shown and session.config == kept


def test_a_suggestion_status_goes_stale_with_an_edit_and_old_reasons_without_values_are_not_shown(
        qtbot, session, recipe_view):
    """"suggested: ..., about N epochs" no longer describes the recipe once an option changes; and a
    restored recipe whose reasons do not say the values they were given for (an older version's) shows
    none of them, since the app cannot tell whether they still hold."""
    assist = recipe_view.assistant
    _suggest(qtbot, session, assist)
    assert "suggested:" in assist.status.text()
    said = assist.status.text()
    session.set_option("train.epochs", 2)
    assert "suggested:" not in assist.status.text() and "changed since the suggestion" in assist.status.text()
    recipe_view.undo()                                   # the suggested recipe again: its line again
    assert assist.status.text() == said
    session.set_option("train.epochs", 2)
    old = session.config.set("reasons", ("augment.min_scale: a short run (~3 epochs) cannot use deep crops",))
    session.set_config(old.set("train.epochs", 12))
    assert session.config.reasons == () and "augment.min_scale" not in assist.reason_labels
