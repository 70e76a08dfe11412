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


def test_save_and_load_start_in_the_apps_recipes_folder_then_the_last_used_and_say_saved(qtbot, session, tmp_path,
                                                                                         monkeypatch):
    from workbench.config import RunConfig
    from workbench.gui.views.recipe_view import RecipeView
    home = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    data = tmp_path / "photos" / "ants-bees"          # photos/ is a shared data folder: never a default
    data.mkdir(parents=True)
    session.set_option("data.path", str(data))
    view = RecipeView(session)
    qtbot.addWidget(view)
    asked = []
    monkeypatch.setattr("workbench.gui.views.recipe_files.QFileDialog.getOpenFileName",
                        lambda parent, title, start, filt: asked.append(start) or ("", filt))
    view.load_dialog()
    assert asked == [str(home / "recipes")] and (home / "recipes").is_dir()      # the app's own folder
    target = tmp_path / "mine" / "r.toml"
    target.parent.mkdir()
    monkeypatch.setattr("workbench.gui.views.recipe_files.QFileDialog.getSaveFileName",
                        lambda parent, title, start, filt: asked.append(start) or (str(target), filt))
    notes = []
    view.notice.connect(notes.append)
    view.save_dialog()
    assert asked[-1] == str(home / "recipes" / "ants-bees-recipe.toml")           # not in or beside the dataset
    assert RunConfig.load(target).data.path == str(data)
    assert notes and "Saved" in notes[0] and str(target) in view.mom_plot_note.text()
    assert view.mom_plot_note.text().startswith("Saved the recipe to r.toml")        # the name first, whole
    session.set_option("train.epochs", session.config.train.epochs + 1)
    assert not view.mom_plot_note.text().startswith("Saved")                         # no longer what is saved
    view.load_dialog()
    assert asked[-1] == str(target.parent)                                        # the folder the user last used
    view.save_dialog()
    assert asked[-1] == str(target.parent / "ants-bees-recipe.toml")
    assert not any(p.suffix == ".toml" for p in (tmp_path / "photos").rglob("*"))


def test_the_schedule_caption_wraps_instead_of_being_cut(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_option("train.budget_minutes", 3.0)
    view.redraw_schedule()
    cap = view.schedule_caption
    assert cap.wordWrap() and "dashed: momentum (right axis)" in cap.text()
    assert "With the 3-minute time budget the run sets its number of epochs itself" in cap.text()


def test_tall_thumbnails_keep_their_file_names_visible(qtbot, tmp_path):
    import numpy as np
    from PIL import Image
    from PySide6.QtCore import Qt
    from workbench.gui.views.gallery_view import GalleryItem, GalleryView
    from workbench.gui.widgets.thumbs import THUMB, ThumbModel, ThumbView
    paths = []
    for name, (w, h) in (("tall_photo.png", (30, 500)), ("wide_photo.png", (500, 30))):
        p = tmp_path / name
        Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(p)
        paths.append(str(p))
    model, view = ThumbModel(paths), ThumbView()
    view.setModel(model)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: model.cached == 2, timeout=10_000)
    for r in range(2):   # every picture takes the same square box: the names sit on one line under them all
        pix = model.data(model.index(r), Qt.ItemDataRole.DecorationRole)
        assert (pix.width(), pix.height()) == (THUMB, THUMB)
    assert view.gridSize().height() >= THUMB + 40 and view.wordWrap()
    g = GalleryView("top losses")
    qtbot.addWidget(g)
    g.set_items([GalleryItem(p, "a / b\n0.50 / 0.90") for p in paths])
    g.show()
    qtbot.waitUntil(lambda: g.model.thumbnail_loaded(paths[0]), timeout=10_000)
    assert "tall_photo.png" in g.model.data(g.model.index(0))
    from workbench.gui.views.gallery_view import THUMB as GALLERY_THUMB
    pix = g.model.data(g.model.index(0), Qt.ItemDataRole.DecorationRole)
    assert (pix.width(), pix.height()) == (GALLERY_THUMB, GALLERY_THUMB)


def test_tta_gain_has_its_count_and_uncertainty_and_the_empty_plot_a_sane_range(qtbot, shapes_dir):
    from test_tta_and_export import made_up_tta
    from workbench.gui.views.tta_view import TTAView, gain_text
    from workbench.inference.tta import fixed_and_broken
    assert gain_text(2, 0, 153) == "+2 of 153 images (+1.3% ± 1.8%)"
    assert gain_text(5, 5, 100).startswith("+0 of 100 images (+0.0% ± ")
    v = TTAView()
    qtbot.addWidget(v)
    (x0, x1), (y0, y1) = v.plot.getPlotItem().viewRange()
    assert -0.1 <= x0 and x1 <= 1.1 and -0.1 <= y0 and y1 <= 1.1          # beta 0..1, accuracy 0..1
    r = made_up_tta(shapes_dir)
    v.set_result(r, r.paths, beta=0.0)
    fixed, broken = fixed_and_broken(r, 0.0)
    assert v.gain_label.text() == gain_text(len(fixed), len(broken), len(r.paths))
    assert f"of {len(r.paths)} images" in v.gain_label.text() and "±" in v.gain_label.text()
    v.reset()
    (x0, x1), (y0, y1) = v.plot.getPlotItem().viewRange()
    assert -0.1 <= x0 and x1 <= 1.1 and -0.1 <= y0 and y1 <= 1.1


def test_keyboard_focus_has_a_visible_two_pixel_ring(qtbot):
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QLineEdit, QPushButton, QVBoxLayout, QWidget
    from workbench.gui.widgets.common import resource
    box = QWidget()
    box.setStyleSheet(resource("style.qss").read_text(encoding="utf-8"))
    lay = QVBoxLayout(box)
    button, edit = QPushButton("Compute TTA"), QLineEdit("text")
    lay.addWidget(button)
    lay.addWidget(edit)
    qtbot.addWidget(box)
    box.show()
    qtbot.waitExposed(box)
    ring = QColor("#2563eb")

    def ring_pixels(w) -> int:
        img = w.grab().toImage()
        return sum(1 for x in range(img.width()) for y in range(img.height())
                   if abs(img.pixelColor(x, y).red() - ring.red()) < 30
                   and abs(img.pixelColor(x, y).green() - ring.green()) < 30
                   and abs(img.pixelColor(x, y).blue() - ring.blue()) < 30)
    for w in (button, edit):
        w.setFocus()
        qtbot.waitUntil(w.hasFocus)
        perimeter = 2 * (w.width() + w.height())
        assert ring_pixels(w) >= 1.6 * perimeter, type(w).__name__   # two pixels wide all round
