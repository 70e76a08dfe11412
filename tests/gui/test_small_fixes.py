"""Smaller fixes of the app: one status text at a time, sensible Save / Load folders with feedback,
a wrapped schedule caption, readable gallery captions, the TTA numbers with their count and
uncertainty, a clear missing-image message, a visible focus ring."""
from __future__ import annotations

from gui_helpers import main_window


def test_a_note_at_start_replaces_the_state_instead_of_being_drawn_over_it(qtbot):
    win = main_window(qtbot)
    win.flash("Opened the built-in demo dataset.", 60_000)      # as create_window does, before show()
    win.show()
    qtbot.waitExposed(win)
    assert win.statusBar().currentMessage() == ""               # no second text over the state label
    assert win.state_label.isVisible() and win.state_label.text() == "Opened the built-in demo dataset."
    win.flash("")
    assert win.state_label.text().startswith("ready")


def test_save_and_load_start_beside_the_dataset_and_say_saved(qtbot, session, tmp_path, monkeypatch):
    from workbench.config import RunConfig
    from workbench.gui.views.recipe_view import RecipeView
    data = tmp_path / "photos" / "ants-bees"
    data.mkdir(parents=True)
    session.set_option("data.path", str(data))
    view = RecipeView(session)
    qtbot.addWidget(view)
    asked = []
    target = tmp_path / "photos" / "mine.toml"
    monkeypatch.setattr("workbench.gui.views.recipe_files.QFileDialog.getSaveFileName",
                        lambda parent, title, start, filt: asked.append(start) or (str(target), filt))
    notes = []
    view.notice.connect(notes.append)
    view.save_dialog()
    assert asked == [str(tmp_path / "photos" / "ants-bees-recipe.toml")]       # beside the dataset, not in it
    assert RunConfig.load(target).data.path == str(data)
    assert notes and "Saved" in notes[0] and str(target) in view.mom_plot_note.text()
    monkeypatch.setattr("workbench.gui.views.recipe_files.QFileDialog.getOpenFileName",
                        lambda parent, title, start, filt: asked.append(start) or ("", filt))
    view.load_dialog()
    assert asked[-1] == str(tmp_path / "photos")                               # the last recipe's folder


def test_the_schedule_caption_wraps_instead_of_being_cut(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_option("train.budget_minutes", 3.0)
    view.redraw_schedule()
    cap = view.schedule_caption
    assert cap.wordWrap() and "dashed: momentum (right axis)" in cap.text()
    assert "until Plan the run measures the 3-minute budget" in cap.text()
