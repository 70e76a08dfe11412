"""A recipe file belongs to a dataset: loaded, it applies to the open dataset (its folder and labels
CSV stay, one undoable change); with no dataset open, its own dataset opens with it; the question on
quit is only ever about the open dataset's recipe file, never writing another dataset's recipe."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from workbench.config import RunConfig


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def recipe_view(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    return view


def test_a_recipe_file_of_another_dataset_applies_to_the_open_one_and_can_be_undone(qtbot, session, tmp_path):
    nette, broken = tmp_path / "nette-mini", tmp_path / "broken"
    nette.mkdir()
    broken.mkdir()
    session.set_config(session.config.set("data.path", str(nette)).set("data.labels_csv", "labels.csv")
                       .set("train.epochs", 7))
    view = recipe_view(qtbot, session)
    f = tmp_path / "other.toml"
    RunConfig().set("data.path", str(broken)).set("data.labels_csv", "theirs.csv").set("data.batch_size", 2) \
        .set("train.epochs", 3).save(f)
    line = view.load(str(f))
    cfg = session.config
    assert (cfg.data.path, cfg.data.labels_csv) == (str(nette), "labels.csv")      # the open dataset's
    assert (cfg.data.batch_size, cfg.train.epochs) == (2, 3)                        # the file's recipe
    note = view.mom_plot_note.text()
    assert f"made for dataset broken ({broken}), applied to the open dataset nette-mini" in note
    assert note.startswith(line)
    cmd = session.cli_command()
    from workbench.recipe.command import cli_program
    assert cmd.startswith(f"{cli_program()} train {nette} ") and str(broken) not in cmd
    assert session.recipe_file == ""            # quitting never writes this dataset's recipe into that file
    assert view.undo_btn.isEnabled()
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (session.config.train.epochs, session.config.data.batch_size) == (7, 64)
    assert session.config.data.path == str(nette) and not view.undo_btn.isEnabled()
    # the undo note names the action it took back, then the fields
    assert view.mom_plot_note.text() == f"Undone: Load of {f.name} (Runs folder, Batch size, Epochs)."


def test_a_recipe_file_of_the_open_dataset_is_kept_for_the_question_on_quit(qtbot, session, tmp_path):
    data = tmp_path / "ds"
    data.mkdir()
    session.set_option("data.path", str(data))
    view = recipe_view(qtbot, session)
    f = tmp_path / "mine.toml"
    RunConfig().set("data.path", str(data)).set("train.epochs", 3).save(f)
    view.load(str(f))
    assert session.recipe_file == str(f) and session.config.train.epochs == 3 and view.undo_btn.isEnabled()


def test_with_no_dataset_open_load_opens_the_files_dataset_with_its_recipe(qtbot, session, shapes_dir, tmp_path):
    view = recipe_view(qtbot, session)
    assert session.config.data.path == ""
    f = tmp_path / "shapes.toml"
    RunConfig().set("data.path", str(shapes_dir)).set("train.epochs", 3).set("data.image_size", 32).save(f)
    line = view.load(str(f))
    assert "opened its dataset" in line and line in view.mom_plot_note.text()
    qtbot.waitUntil(lambda: session.dataset is not None, timeout=60_000)
    assert session.config.data.path == str(shapes_dir) and session.config.train.epochs == 3
    assert session.recipe_file == str(f)


def test_quitting_never_saves_another_datasets_recipe_into_a_recipe_file(qtbot, home, shapes_dir, tmp_path,
                                                                          monkeypatch):
    from workbench.gui.session import Session
    other = tmp_path / "broken"
    shutil.copytree(shapes_dir, other)
    session = Session(autosave=True)
    view = recipe_view(qtbot, session)
    assert session.open_dataset(shapes_dir)
    qtbot.waitUntil(lambda: session.dataset is not None and not session.busy, timeout=60_000)
    f = tmp_path / "myrecipe.toml"
    view.save(str(f))
    session.set_option("train.epochs", 9)                 # changed after the save
    assert session.open_dataset(other)
    qtbot.waitUntil(lambda: session.dataset is not None and not session.busy, timeout=60_000)
    session.set_option("data.batch_size", 2)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Save)
    assert view.confirm_quit() and asked == []            # the file is the other dataset's: nothing asked
    saved = RunConfig.load(f)
    assert saved.data.path == str(shapes_dir) and saved.data.batch_size == 64 and saved.train.epochs != 9
    # back on the file's dataset: its edit was kept, and the question names that dataset
    assert session.open_dataset(shapes_dir)
    qtbot.waitUntil(lambda: session.dataset is not None and not session.busy, timeout=60_000)
    assert session.config.train.epochs == 9 and session.recipe_file == str(f)
    assert view.confirm_quit() and len(asked) == 1 and f"dataset {shapes_dir.name} was changed" in asked[0]
    saved = RunConfig.load(f)
    assert saved.data.path == str(shapes_dir) and saved.train.epochs == 9 and saved.data.batch_size == 64
    session.stop_all()


def test_gui_with_a_dataset_and_another_datasets_recipe_file_trains_that_recipe_on_the_dataset(qtbot, home,
                                                                                              shapes_dir, tmp_path):
    from workbench.gui.app import create_window
    other = tmp_path / "other"
    shutil.copytree(shapes_dir, other)
    f = tmp_path / "shapes.toml"
    RunConfig().set("data.path", str(shapes_dir)).set("train.epochs", 3).save(f)
    win = create_window(str(other), recipe=str(f))           # workbench gui OTHER --recipe shapes.toml
    qtbot.addWidget(win)
    s = win.session
    qtbot.waitUntil(lambda: s.dataset is not None and not s.busy, timeout=60_000)
    assert Path(s.dataset.root).resolve() == other.resolve() and s.config.data.path == str(other)
    assert s.config.train.epochs == 3 and s.recipe_file == ""
    win.confirm_close = lambda: True
    win.close()
