"""What a new user found cut, covered or missing at the default window size (1400 x 900): the
calibration legend and counts, the Runs comparison's title and last epoch, file and class names cut
twice, the most-confused count, the model table's weights column, top-5 for three classes, page-local
keys missing from Help > Keyboard shortcuts, and an undo note that named a config key."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QImage, QKeySequence, QPainter, QShortcut

from gui_helpers import main_window, wait_checked

LONG = ("cassette_player", "chain_saw", "english_springer", "garbage_truck")
PHOTO = "n01440764_10043.JPEG"


def shown(qtbot, widget, w: int, h: int):
    qtbot.addWidget(widget)
    widget.resize(w, h)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def axis_texts(axis) -> list[str]:
    """The tick labels an axis draws now (pyqtgraph leaves out a label that would be cut)."""
    img = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(img)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [t[2] for t in specs[2]] if specs else []


# ----------------------------------------------------------------------------- 1 calibration
def test_calibration_legend_covers_nothing_and_every_count_is_whole(qtbot, app_look):
    from workbench.gui.views.calibration_view import CalibrationView
    view = shown(qtbot, CalibrationView(), 1180, 640)
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 300)
    logits = rng.normal(0, 1, (300, 3))
    logits[np.arange(300), targets] += 7            # confident and right: almost every image in the top bin
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    with qtbot.waitSignal(view.calibrated, timeout=30_000):   # the fit runs off the GUI thread
        view.set_predictions(probs.astype(np.float32), targets)
    item = view.reliability.getPlotItem()
    vb = item.getViewBox()
    qtbot.waitUntil(lambda: vb.height() > 150 and item.legend.pos().y() > 0)   # laid out
    box = vb.sceneBoundingRect()
    assert not item.legend.sceneBoundingRect().intersects(box)          # the legend is outside the curves
    assert item.sceneBoundingRect().right() <= view.reliability.width() + 1   # and never widens the plot
    assert max(int(t.toPlainText()) for t in view.count_labels) > 0.8 * 300
    for label in view.count_labels:                                       # the top bin's count too
        assert box.contains(label.sceneBoundingRect()), label.toPlainText()
    words = [label.text for _, label in item.legend.items]
    bars = next(w for w in words if "bar" in w)
    assert "share" in bars and "count" in bars                            # height: share; number: count


# ----------------------------------------------------------------------------- 2 runs comparison
def _run(name: str, epochs: int):
    from workbench.config import RunConfig
    hist = [{"epoch": e, "train_loss": 1.0 / (e + 1), "valid_loss": 1.1 / (e + 1), "accuracy": 0.5 + e / 40}
            for e in range(epochs)]
    return SimpleNamespace(run_dir=f"/tmp/{name}", name=name, config=RunConfig().set("train.epochs", epochs),
                           classes=("x", "y"), history=hist, metrics={}, status="completed", created=0.0)


def test_runs_comparison_shows_its_titles_and_last_epoch_whole(qtbot, session, app_look):
    from workbench.gui.views.runs_view import RunsView
    view = shown(qtbot, RunsView(session), 1180, 860)     # the page's size in a 1400 x 900 window
    names = ["hymenoptera-20261206-071233", "hymenoptera-20261206-074410"]
    view.set_runs([_run(names[0], 10), _run(names[1], 10)])
    view.select_names(names)
    for plot in (view.loss_plot, view.acc_plot):
        qtbot.waitUntil(lambda p=plot: "10" in axis_texts(p.getAxis("bottom")))   # the last epoch is labelled
        title = plot.getPlotItem().titleLabel
        text = title.item.mapRectToScene(title.item.boundingRect())
        assert text.left() >= 0 and text.right() <= plot.width(), title.text   # the title is whole
    legend = [label.text for _, label in view.loss_plot.getPlotItem().legend.items]
    assert "dashed: training" in legend and set(names) <= set(legend)
    header = view.diff.horizontalHeader()
    fm = header.fontMetrics()
    titles = {view.diff.horizontalHeaderItem(c).text() for c in (1, 2)}
    assert titles == {"hymenoptera\n20261206-071233", "hymenoptera\n20261206-074410"}   # dataset / date-time
    for c in range(view.diff.columnCount()):                    # every run's title whole, all on screen
        widest = max(fm.horizontalAdvance(t) for t in view.diff.horizontalHeaderItem(c).text().split("\n"))
        assert header.sectionSize(c) >= widest + 8
        assert header.sectionViewportPosition(c) + header.sectionSize(c) <= view.diff.viewport().width()
    assert {view.diff.horizontalHeaderItem(c).data(Qt.ItemDataRole.UserRole) for c in (1, 2)} == set(names)


# ----------------------------------------------------------------------------- 3 names cut once, if at all
def test_try_it_captions_name_the_file_once_and_whole(qtbot, app_look):
    from workbench.gui.views.gallery_view import GalleryItem, GalleryModel
    from workbench.gui.views.try_view import _grid, caption
    row = SimpleNamespace(label="garbage_truck", probability=0.93, path=f"/photos/{PHOTO}", topk=[])
    model = GalleryModel()
    model.set_items([GalleryItem(row.path, caption(row))])
    text = model.data(model.index(0))
    assert text.count("n01440764") == 1 and text.splitlines() == ["garbage_truck", "93.0%", PHOTO]
    view = shown(qtbot, _grid(model), 600, 400)
    hint = model.data(model.index(0), Qt.ItemDataRole.SizeHintRole)
    assert view.gridSize().width() >= hint.width() and view.gridSize().height() >= hint.height()
    assert view.fontMetrics().horizontalAdvance(PHOTO) <= hint.width() - 8


def test_data_page_thumbnails_show_a_photos_name_whole_on_one_line(qtbot, app_look, tmp_path):
    from workbench.gui.widgets.thumbs import ThumbModel, ThumbView
    long = "a_photo_with_a_very_long_name_from_a_phone_camera_20261206_071233.jpg"
    model = ThumbModel([str(tmp_path / PHOTO), str(tmp_path / long)])
    view = ThumbView()
    view.setModel(model)
    shown(qtbot, view, 800, 400)
    room = view.gridSize().width() - 10
    texts = [model.data(model.index(i)) for i in range(2)]
    assert texts[0] == PHOTO and view.fontMetrics().horizontalAdvance(PHOTO) <= room
    assert texts[1].count("…") == 1 and view.fontMetrics().horizontalAdvance(texts[1]) <= room   # cut once
    assert model.data(model.index(1), Qt.ItemDataRole.ToolTipRole).endswith(long)


def test_per_class_table_filled_before_it_is_shown_fits_its_columns(qtbot, app_look):
    from workbench.gui.views.results_view import ResultsView
    view = ResultsView()     # the Results page fills its table while it is hidden behind another page
    view.set_report([{"class": c, "precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 8} for c in LONG])
    shown(qtbot, view, 1180, 700)
    t = view.table
    fm = t.fontMetrics()
    for j in range(1, 5):
        assert t.columnWidth(j) >= fm.horizontalAdvance(t.horizontalHeaderItem(j).text()) + 8
    assert t.columnWidth(0) >= fm.horizontalAdvance("english_springer") + 8
    assert all(t.item(r, 0).toolTip() == t.item(r, 0).text() for r in range(t.rowCount()))


def test_most_confused_pairs_show_their_count_first_and_whole(qtbot, app_look):
    from workbench.gui.views.confusion_view import ConfusionView
    view = shown(qtbot, ConfusionView(), 1180, 700)
    counts = np.eye(4, dtype=np.int64) * 5
    counts[0, 3], counts[2, 1] = 2, 1
    view.set_data(counts, LONG, [("cassette_player", "garbage_truck", 2), ("english_springer", "chain_saw", 1)])
    lst = view.pairs
    fm = lst.fontMetrics()
    texts = [lst.item(i).text() for i in range(lst.count())]
    assert texts[0].startswith("2 × cassette_player") and texts[1].startswith("1 × ")   # the count first
    qtbot.waitUntil(lambda: all(fm.horizontalAdvance(t) + 8 <= lst.viewport().width() for t in texts))
    assert lst.horizontalScrollBar().maximum() == 0


def test_model_table_needs_no_horizontal_scroll_and_shows_the_weights_whole(qtbot, app_look):
    from workbench.gui.views.model_status import state_text
    win = main_window(qtbot)
    win.resize(1400, 900)
    win.show()
    win.show_page("recipe")
    t = win.recipe_view.model_picker.table
    qtbot.waitUntil(lambda: t.rowCount() > 0, timeout=20_000)
    qtbot.waitUntil(lambda: t.viewport().width() > 100)
    fm = t.fontMetrics()
    assert t.horizontalScrollBar().maximum() == 0
    need = max(fm.horizontalAdvance(state_text(s, 45_000_000)) for s in ("bundled", "cached", "downloadable"))
    assert t.columnWidth(1) >= need + 8
    for j in (2, 3):
        assert t.columnWidth(j) >= fm.horizontalAdvance(t.horizontalHeaderItem(j).text()) + 8


# ----------------------------------------------------------------------------- 4 batch size
def test_recipe_page_says_when_the_batch_size_leaves_one_step_per_epoch(qtbot, session, shapes_dir):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    with qtbot.waitSignal(session.job_finished, timeout=60_000):
        session.open_dataset(str(shapes_dir))                      # 72 training images
    session.set_option("data.batch_size", 16)
    wait_checked(qtbot, session)                                   # the check runs off the GUI thread
    assert "data.batch_size" not in view.problems_label.text()
    session.set_option("data.batch_size", 128)
    wait_checked(qtbot, session)
    text = view.problems_label.text()
    assert "data.batch_size: 128 is at least the 72 training images" in text and "batch size of 16" in text


# ----------------------------------------------------------------------------- 5 top-5
def test_top5_is_hidden_where_the_run_has_five_classes_or_fewer(qtbot):
    from workbench.gui.views.results_view import ResultsView
    v = ResultsView()
    qtbot.addWidget(v)
    v.show()
    v.set_summary({"accuracy": 0.9, "balanced_accuracy": 0.9, "valid_loss": 0.3, "n": 30})   # 3 classes: no top5
    assert not v.names["top5"].isVisible() and not v.values["top5"].isVisible()
    v.set_summary({"accuracy": 0.7, "balanced_accuracy": 0.7, "valid_loss": 0.9, "top5": 0.95, "n": 100})
    assert v.names["top5"].isVisible() and v.values["top5"].text() == "95.0%"


# ----------------------------------------------------------------------------- 6 shortcuts list
def test_every_shortcut_of_the_window_and_its_pages_is_listed(qtbot):
    from workbench.gui.help import ShortcutsDialog
    win = main_window(qtbot)
    dlg = ShortcutsDialog(win)
    qtbot.addWidget(dlg)
    rows = dlg.rows()
    listed = {(where, keys) for where, keys, _ in rows}
    # the page-local keys the list missed
    assert ("Recipe page", "Ctrl+Z") in listed
    assert ("LR finder page", "Return, Enter") in listed                  # Enter in the suggestion list
    galleries = "Results page, Confusion matrix, Top losses, TTA tabs"      # one row per key, naming its tabs
    assert {(galleries, k) for k in ("R", "Q", "K")} <= listed and ("Results page", "Ctrl+Z") in listed
    assert ("Results page, Confusion matrix tab", "Return, Enter") in listed
    assert {("Data page, Audit tab", k) for k in ("Ctrl+Z", "A", "R", "Q", "K")} <= listed   # the audit's keys
    assert not any(where == "Data page" for where, _ in listed)   # not the Images tab, which has none
    # every QShortcut and QAction registered under the window is there, with its keys and words
    native = QKeySequence.SequenceFormat.NativeText
    for sc in win.findChildren(QShortcut):
        if sc.property("refusal"):   # a disabled action's key saying why (refused_keys): the action is listed
            continue
        keys = ", ".join(k.toString(native) for k in sc.keys())
        assert any(k == keys and what == sc.whatsThis() for _, k, what in rows), (keys, sc.whatsThis())
        assert sc.whatsThis(), keys                                      # each says what it does


def test_the_listed_recipe_undo_key_is_the_one_that_undoes(qtbot):
    win = main_window(qtbot)
    win.show()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    win.show_page("recipe")
    view = win.recipe_view
    undo = next(sc for sc in view.findChildren(QShortcut) if sc.parent() is view)
    epochs = win.session.config.train.epochs
    win.session.set_option("train.epochs", epochs + 4)
    view.undo_btn.setFocus()
    with qtbot.waitSignal(undo.activated, timeout=3000):
        qtbot.keyClick(view.undo_btn, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.session.config.train.epochs == epochs


# ----------------------------------------------------------------------------- 7 undo note
def test_the_undo_note_names_the_field_as_the_form_shows_it(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_option("train.lr", 0.01)
    assert view.undo()
    assert view.mom_plot_note.text() == "Undone: Learning rate."
    session.set_option("train.epochs", 9)
    session.set_option("lr_find.num_it", 50)
    assert view.undo() and "lr_find" not in view.mom_plot_note.text()


def test_image_count_axes_tick_only_whole_numbers(qtbot):
    """A dataset of 3 images: the sizes histogram's count axis reads 0 1 2 3, never 0.5 or 1.5 images."""
    import pyqtgraph as pg
    from workbench.gui.views.plots import CountAxis
    w = pg.PlotWidget(axisItems={"left": CountAxis("left")})
    qtbot.addWidget(w)
    w.resize(400, 300)
    w.show()
    w.getPlotItem().addItem(pg.BarGraphItem(x0=[0, 1], x1=[1, 2], height=[3, 1]))
    w.setYRange(0, 3, padding=0)
    qtbot.waitExposed(w)
    labels = axis_texts(w.getPlotItem().getAxis("left"))
    assert labels and all(float(t) == int(float(t)) for t in labels), labels
