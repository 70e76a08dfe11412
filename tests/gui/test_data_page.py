"""Data page charts, augmentation preview names, keyboard use (focus visible, confusion cells)."""
from __future__ import annotations

import numpy as np


def test_size_histogram_of_one_size_has_whole_pixel_axis():
    from workbench.gui.views.plots import size_bars
    x0, x1, counts, (lo, hi) = size_bars(np.full(50, 160.0))
    assert list(counts) == [50] and x0[0] < 160 < x1[0]
    assert lo <= 155 and hi >= 165                      # not 159.6 .. 160.4
    x0, x1, counts, _ = size_bars(np.arange(100, 500, dtype=float))
    assert len(counts) == 30 and counts.sum() == 400


def test_class_names_get_one_row_each(qtbot, session, shapes_dir):
    from workbench.gui.views.data_view import DataView
    from workbench.gui.views.plots import class_ticks
    names = [f"class-with-a-long-name-{i}" for i in range(12)]
    ticks = class_ticks(names)
    assert len(ticks) == 12 and len({round(v) for v, _ in ticks}) == 12     # one row per class
    assert len(class_ticks([f"c{i}" for i in range(200)])) <= 40            # never a wall of text
    view = DataView(session)
    qtbot.addWidget(view)
    with qtbot.waitSignal(session.dataset_changed, timeout=60_000):
        session.open_dataset(shapes_dir)
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    axis = view.counts_plot.getPlotItem().getAxis("left")
    shown = [t for _, t in axis._tickLevels[0]]
    assert sorted(shown) == sorted(session.dataset.classes)


def test_augmentation_preview_names_the_class_of_each_row(qtbot, session, shapes_dir):
    from workbench.gui.views.augment_preview import AugmentPreview
    view = AugmentPreview(session)
    qtbot.addWidget(view)
    with qtbot.waitSignal(session.dataset_changed, timeout=60_000):
        session.open_dataset(shapes_dir)
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    shown = [lab.text() for lab in view.class_labels if lab.text()]
    assert shown and set(shown) <= set(session.dataset.classes) and len(set(shown)) == min(len(shown), 3)


def test_keyboard_focus_is_visible(qtbot):
    from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget
    from workbench.gui.app import make_app
    make_app()
    w = QWidget()
    lay = QVBoxLayout(w)
    a, b = QPushButton("first"), QPushButton("second")
    lay.addWidget(a)
    lay.addWidget(b)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    b.setFocus()
    qtbot.waitUntil(b.hasFocus)
    unfocused = a.grab().toImage()
    a.setFocus()
    qtbot.waitUntil(a.hasFocus)
    assert a.grab().toImage() != unfocused


def test_confusion_cell_by_keyboard(qtbot):
    from PySide6.QtCore import Qt
    from workbench.gui.views.confusion_view import ConfusionView
    v = ConfusionView()
    qtbot.addWidget(v)
    v.set_data(np.array([[3, 1], [2, 4]]), ("a", "b"), [("b", "a", 2)])
    v.show()
    qtbot.waitExposed(v)
    v.table.setFocus()
    v.table.setCurrentCell(1, 0)
    with qtbot.waitSignal(v.cellChosen, timeout=2000) as got:
        qtbot.keyClick(v.table, Qt.Key.Key_Return)
    assert got.args == [1, 0]
