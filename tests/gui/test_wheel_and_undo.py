"""Recipe form: the mouse wheel never edits a value in the scrolling form, focus or not (it scrolls the
form), and every change of the recipe, by any means, is undoable."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea


def wheel(widget, steps: int = -3) -> None:
    """A mouse-wheel turn over the middle of ``widget`` (negative: towards the user)."""
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    glob = QPointF(widget.mapToGlobal(pos.toPoint()))
    ev = QWheelEvent(pos, glob, QPoint(0, 0), QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


def test_wheel_without_focus_scrolls_the_form_and_never_edits(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    view.resize(1100, 500)
    view.show()
    qtbot.waitExposed(view)
    spin = view.form.editors["data.valid_pct"]
    combo = view.form.editors["train.schedule"]
    scroll = next(w for w in view.findChildren(QScrollArea) if view.form.isAncestorOf(w.widget()) or
                  w.widget().isAncestorOf(view.form))
    bar = scroll.verticalScrollBar()
    assert bar.maximum() > 0
    view.setFocus()
    before_combo = combo.currentText()
    for _ in range(3):
        wheel(spin)
        wheel(combo)
    assert session.config.data.valid_pct == 0.2 and combo.currentText() == before_combo
    assert bar.value() > 0                              # the wheel went to the scroll area instead
    assert spin.focusPolicy() == Qt.FocusPolicy.StrongFocus
    # a field with focus (tabbed onto, as after typing in the one above) still lets the form scroll
    start = bar.value()
    for w in (spin, combo):
        w.setFocus()
        qtbot.waitUntil(w.hasFocus)
        wheel(w, 1)
    assert session.config.data.valid_pct == 0.2 and combo.currentText() == before_combo
    assert bar.value() < start
    # the arrow keys edit, and Undo brings the value back
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert session.config.data.valid_pct != 0.2
    assert view.undo_btn.isEnabled()
    assert view.undo() and session.config.data.valid_pct == 0.2
    assert view.mom_plot_note.text() == "Undone: Validation fraction."   # the field's label, not its key


def test_every_recipe_change_is_undoable_in_order(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    view.show()
    view.activateWindow()
    qtbot.waitActive(view)
    session.set_option("data.path", "/some/data")
    assert not view.undo_btn.isEnabled()                # opening a dataset is not a recipe edit
    view.form.editors["train.epochs"].setValue(9)       # an editor
    session.set_option("augment.max_rotate", 30.0)      # any other means (Suggest, LR finder ...)
    assert session.config.train.epochs == 9 and view.undo_btn.isEnabled()
    view.undo_btn.setFocus()
    qtbot.keyClick(view.undo_btn, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert session.config.augment.max_rotate != 30.0 and session.config.train.epochs == 9
    assert view.undo()
    assert session.config.train.epochs == 5 and not view.undo_btn.isEnabled()
    assert session.config.data.path == "/some/data"
    session.set_option("data.path", "/other/data")      # another dataset: its own history
    session.set_option("train.epochs", 3)
    assert view.undo() and not view.undo() and session.config.data.path == "/other/data"


def test_another_dataset_clears_the_note_about_the_last_one(qtbot, session):
    """'Copied: workbench train /first/data ...' must not stay under the second dataset's recipe."""
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_option("data.path", "/first/data")
    view.copy_command()
    assert "/first/data" in view.mom_plot_note.text()
    session.set_option("data.path", "/second/data")
    assert view.mom_plot_note.text() == ""


def test_undoing_many_fields_names_three_and_counts_the_rest(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    cfg = session.config
    for key, value in (("train.epochs", 7), ("train.lr", 0.02), ("data.batch_size", 16), ("tricks.mixup", 0.3),
                       ("tricks.label_smoothing", 0.05)):
        cfg = cfg.set(key, value)
    session.set_config(cfg)
    assert view.undo()
    note = view.mom_plot_note.text()
    assert note.startswith("Undone: ") and note.endswith(" and 2 more.") and "..." not in note


def test_the_validation_fraction_is_off_for_a_dataset_split_by_its_folders(qtbot, session, shapes_dir):
    import dataclasses
    from test_train_lr_recipe_data_views import fake_dataset
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    ed = view.form.editors["data.valid_pct"]
    ds = fake_dataset(shapes_dir)
    session.dataset_changed.emit(dataclasses.replace(ds, split_source="folders"))
    assert not ed.isEnabled() and ed.toolTip().startswith("Not used: this dataset's split comes from its train / valid")
    view.form.mark_problems([])                          # a recipe check keeps the note
    assert ed.toolTip().startswith("Not used")
    session.dataset_changed.emit(dataclasses.replace(ds, split_source="random"))
    assert ed.isEnabled() and not ed.toolTip().startswith("Not used")


def test_ctrl_z_with_the_step_list_focused_undoes_on_the_page_shown(qtbot):
    from gui_helpers import main_window
    win = main_window(qtbot)
    win.show()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    win.show_page("recipe")                                   # as a click on "2 Recipe" in the step list
    epochs = win.session.config.train.epochs
    win.session.set_option("train.epochs", epochs + 3)
    win.steps.setFocus()
    qtbot.waitUntil(win.steps.hasFocus)
    qtbot.keyClick(win.steps, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.session.config.train.epochs == epochs
    assert win.recipe_view.mom_plot_note.text() == "Undone: Epochs."


def test_start_training_keys_say_why_they_are_off(qtbot):
    """Ctrl+R while the LR finder runs (the action is off) says why in the status line instead of
    nothing; once the job ends the key starts training again (one owner of the key at a time)."""
    from gui_helpers import main_window
    from workbench.gui.jobs import JobKind
    win = main_window(qtbot)
    win.show()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    win.session.set_option("data.path", "/data/photos")
    win.session.run_state.begin(JobKind.LR_FIND, False)
    assert not win.act_train.isEnabled()
    qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert win.state_label.text() == ("Start training is off: the app is running the LR finder; wait for it or "
                                      "stop it (Shift+F5).")
    win.session.run_state.end()
    assert win.act_train.isEnabled()
    started = []
    win.train_view.start = lambda: started.append(True)
    qtbot.keyClick(win, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert started == [True]
    from workbench.gui.help import shortcut_rows
    assert sum("Ctrl+R" in keys for _w, keys, _what in shortcut_rows(win)) == 1   # the refusal is not listed


def test_redo_puts_back_what_undo_took_until_a_new_change(qtbot, session):
    """Ctrl+Shift+Z (or Ctrl+Y) after Ctrl+Z puts the change back, action and all; a new change of the
    recipe ends what can be redone."""
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    epochs, lr = session.config.train.epochs, session.config.train.lr
    session.set_option("train.epochs", epochs + 2)
    session.set_option("train.lr", 0.0042)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (session.config.train.epochs, session.config.train.lr) == (epochs, lr)
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert session.config.train.epochs == epochs + 2 and view.mom_plot_note.text() == "Redone: Epochs."
    qtbot.keyClick(view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert session.config.train.lr == 0.0042 and not view.redo()          # nothing more to redo
    assert not view.redo_btn.isEnabled()
    view.undo()
    assert view.redo_btn.isEnabled()
    view.redo_btn.click()                                                 # the button redoes too
    assert session.config.train.lr == 0.0042
    assert view.undo() and session.config.train.lr == lr                  # and the redone change undoes again
    session.set_option("data.batch_size", 16)                              # a new change ...
    assert not view.redo() and session.config.train.lr == lr               # ... ends what could be redone


def test_the_epochs_field_is_off_while_a_time_budget_sets_the_epochs(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    ed = view.form.editors["train.epochs"]
    assert ed.isEnabled()
    session.set_option("train.budget_minutes", 2.0)
    assert not ed.isEnabled() and ed.toolTip().startswith("Not used: the time budget (Train for) sets the number")
    session.set_option("train.budget_minutes", 0.0)
    assert ed.isEnabled() and not ed.toolTip().startswith("Not used")


def test_a_finished_run_opens_results_only_from_the_train_page(qtbot):
    """The window shows Results when a run ends while the user watches it; a user who went to another
    page meanwhile stays there and is told where the results are."""
    from gui_helpers import main_window
    win = main_window(qtbot)
    from workbench.gui.jobs import JobKind
    win.show_page("data")
    win.train_view.run_finished.emit("/tmp/runs/photos-20261206-101500", "completed")
    assert win.current_page() == "data" and not win.state_label.text().startswith("Run ")   # not before its job ends
    win.session.job_finished.emit(JobKind.TRAIN, "completed")
    assert win.current_page() == "data"
    assert win.state_label.text().startswith("Run photos-20261206-101500 finished: its results are on the Results page")
    win.show_page("train")
    win.train_view.run_finished.emit("/tmp/runs/photos-20261206-101500", "completed")
    assert win.current_page() == "train"           # the results open when the job has ended (its run loaded)
    win.session.job_finished.emit(JobKind.TRAIN, "completed")
    assert win.current_page() == "results"
