"""The working recipe: autosaved per dataset, restored on start, Defaults undoable, quit asks about a
recipe file that changed."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh per-user folder, so autosaved recipes of other tests do not leak in."""
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_working_recipe_is_kept_per_dataset_and_restored_on_start(qtbot, home, shapes_dir, tmp_path):
    import shutil
    from workbench.gui.app import create_window
    from workbench.recipe.working import load_working, working_path
    other = tmp_path / "other"
    shutil.copytree(shapes_dir, other)
    win = create_window(str(shapes_dir))
    qtbot.addWidget(win)
    s = win.session
    qtbot.waitUntil(lambda: s.dataset is not None and not s.busy, timeout=60_000)
    s.set_option("train.epochs", 13)
    s.set_option("augment.max_rotate", 25.0)
    assert working_path(shapes_dir).is_file()
    assert not any(p.name == "recipe.toml" for p in Path(shapes_dir).rglob("*"))   # never in the dataset
    # another dataset starts from the defaults (not this recipe) and gets its own working recipe
    s.open_dataset(other)
    qtbot.waitUntil(lambda: not s.busy, timeout=60_000)
    s.set_option("train.epochs", 4)
    assert load_working(shapes_dir).train.epochs == 13 and load_working(other).train.epochs == 4
    s.open_dataset(shapes_dir)
    qtbot.waitUntil(lambda: not s.busy, timeout=60_000)
    assert s.config.train.epochs == 13 and s.config.augment.max_rotate == 25.0
    win.confirm_close = lambda: True
    win.close()
    # a restart restores the last working recipe and its dataset
    win2 = create_window()
    qtbot.addWidget(win2)
    assert win2.session.config.train.epochs == 13
    assert Path(win2.session.config.data.path).resolve() == Path(shapes_dir).resolve()
    qtbot.waitUntil(lambda: not win2.session.busy, timeout=60_000)
    win2.close()


def test_defaults_can_be_undone(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_option("data.path", "/some/data")
    session.set_option("train.epochs", 21)
    view.reset_defaults()
    assert session.config.train.epochs == 5 and session.config.data.path == "/some/data"
    assert view.undo_btn.isEnabled() and "Undo" in view.mom_plot_note.text()
    assert view.undo()
    assert session.config.train.epochs == 21 and view.undo_btn.isEnabled()   # the edit before is undoable too


def test_quit_asks_when_a_loaded_recipe_file_changed(qtbot, session, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    f = tmp_path / "r.toml"
    view.save(str(f))
    assert view.confirm_quit()                      # nothing changed since: no question
    session.set_option("train.epochs", 9)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Cancel)
    assert not view.confirm_quit() and asked
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Save)
    assert view.confirm_quit()
    from workbench.config import RunConfig
    assert RunConfig.load(f).train.epochs == 9 and not session.recipe_file_outdated()
    assert os.path.isfile(f)
