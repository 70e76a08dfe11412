"""Lazy thumbnail gallery of a set of images with captions and hard-example actions.

Thumbnails decode on demand in a QThreadPool and are cached; an item may carry an overlay (a Grad-CAM blend,
uint8 HxWx3) shown with the overlay toggle. Actions (relabel R, quarantine Q, keep K): ``actionRequested``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractListModel, QEvent, QItemSelectionModel, QModelIndex, QObject, QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QLabel, QListView, QMenu,
                               QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from ..jobs import submit
from ..widgets.common import key_shortcut
from ..widgets.thumbs import marked_pixmap, short_name, square_pixmap
from .image_viewer import THUMB, _safe_thumbnail, load_thumbnail, to_qimage  # noqa: F401 (re-exported)
from .relabel import ask_class, shared_classes

KEYS = {Qt.Key.Key_R: "relabel", Qt.Key.Key_Q: "quarantine", Qt.Key.Key_K: "keep"}
GRID = QSize(THUMB + 92, THUMB + 96)  # a photo's usual file name whole, a caption wrapped on two lines, a mark
NAME_WIDTH = GRID.width() - 26        # the text width under a picture


@dataclass
class GalleryItem:
    """One image of a gallery: file path, caption lines and the class names used by filters/actions."""
    path: str
    caption: str
    tooltip: str = ""
    index: int = -1              # row in the Predictions the item came from (-1: none)
    true_class: str = ""
    suggested: str = ""          # the predicted class (an audit's suggestion): where relabel starts
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- model
class GalleryModel(QAbstractListModel):
    """Items + a thumbnail cache filled lazily from a thread pool."""
    thumbnailReady = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.items: list[GalleryItem] = []
        self.overlays: dict[str, np.ndarray] = {}
        self.show_overlay = False
        self.marks: dict[str, str] = {}
        self._thumbs: dict[str, QPixmap] = {}
        self._overlay_pix: dict[str, QPixmap] = {}
        self._marked: dict[tuple, QPixmap] = {}   # (path, mark, picture) -> the picture with its mark
        self._pending: set[str] = set()
        self._failed: set[str] = set()

    def set_items(self, items: list[GalleryItem]) -> None:
        self.beginResetModel()
        self.items = list(items)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        it = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{it.caption}\n{short_name(it.path, NAME_WIDTH)}"   # a change is marked on the picture
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(GRID.width() - 4, GRID.height() - 4)
        if role == Qt.ItemDataRole.ToolTipRole:
            mark = self.marks.get(it.path)
            return (it.tooltip or it.caption) + f"\n{it.path}" + (f"\nchanged: {mark}" if mark else "")
        if role == Qt.ItemDataRole.DecorationRole:
            pix, mark = self._picture(it), self.marks.get(it.path, "")
            key = (it.path, mark, pix.cacheKey() if pix is not None else 0)
            if mark and key not in self._marked:
                self._marked[key] = marked_pixmap(pix, mark, THUMB)
            return self._marked[key] if mark else pix
        return None

    def _picture(self, it: GalleryItem) -> QPixmap | None:
        if self.show_overlay and it.path in self.overlays:
            pix = self._overlay_pix.get(it.path)
            if pix is None:
                pix = square_pixmap(QPixmap.fromImage(to_qimage(self.overlays[it.path])).scaled(
                    THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation), THUMB)
                self._overlay_pix[it.path] = pix
            return pix
        pix = self._thumbs.get(it.path)
        if pix is None:
            self._request(it.path)
        return pix

    def _request(self, path: str) -> None:
        if path in self._pending or path in self._failed:
            return
        self._pending.add(path)
        submit(lambda p=path: _safe_thumbnail(p), self._loaded)

    def _loaded(self, result: tuple) -> None:
        path, arr = result
        self._pending.discard(path)
        if arr is None:
            self._failed.add(path)
            return
        self._thumbs[path] = square_pixmap(QPixmap.fromImage(to_qimage(arr)).scaled(  # small images grow
            THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation), THUMB)
        self._changed(path)
        self.thumbnailReady.emit(path)

    def _changed(self, path: str) -> None:
        for row, it in enumerate(self.items):
            if it.path == path:
                ix = self.index(row)
                self.dataChanged.emit(ix, ix)

    def set_overlay(self, path: str, image: np.ndarray) -> None:
        self.overlays[path] = image
        self._overlay_pix.pop(path, None)
        if self.show_overlay:
            self._changed(path)

    def set_show_overlay(self, on: bool) -> None:
        self.show_overlay = on
        self._all_changed()

    def set_marks(self, marks: dict[str, str]) -> None:
        self.marks = dict(marks)
        self._marked.clear()
        self._all_changed()

    def _all_changed(self) -> None:
        if self.items:
            self.dataChanged.emit(self.index(0), self.index(len(self.items) - 1))

    def thumbnail_loaded(self, path: str) -> bool:
        return path in self._thumbs


# ----------------------------------------------------------------------------- view
class GalleryView(QWidget):
    """A titled, filterable thumbnail grid with relabel / quarantine / keep actions."""
    itemActivated = Signal(object)            # GalleryItem (double-click / Enter)
    actionRequested = Signal(str, list, str)  # action ("relabel"|"quarantine"|"keep"), paths, new class
    filterChanged = Signal(str)               # class name, "" = all
    overlayToggled = Signal(bool)
    undoRequested = Signal()                  # Ctrl+Z in the grid
    locked = ""   # why the page refuses actions now (another dataset's run): no relabel dialog, buttons off

    def __init__(self, title: str = "", classes: tuple = (), *, with_filter: bool = False,
                 with_overlay: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = tuple(classes)
        self.model = GalleryModel(self)
        self.title = QLabel(f"<b>{title}</b>")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # may be cut, never widens
        self.title.setMinimumWidth(60)
        self.count_label = QLabel("")
        self.filter = QComboBox()
        self.filter.setToolTip("Show only images whose true class is this class")
        self.filter.setVisible(with_filter)
        self.filter.currentIndexChanged.connect(self._filter_changed)
        self.overlay_box = QCheckBox("Grad-CAM")
        self.overlay_box.setToolTip("Overlay a Grad-CAM heatmap of the predicted class (computed in the background)")
        self.overlay_box.setVisible(with_overlay)
        self.overlay_box.toggled.connect(self._overlay_toggled)
        self.list = QListView()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setUniformItemSizes(True)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(GRID)   # caption, file name and mark under every picture
        self.list.setWordWrap(True)
        self.list.setSpacing(2)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setModel(self.model)
        self.list.doubleClicked.connect(lambda ix: self.itemActivated.emit(self.model.items[ix.row()]))
        self.list.activated.connect(lambda ix: self.itemActivated.emit(self.model.items[ix.row()]))
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.buttons, self.shortcuts = {}, {}   # the keys are QShortcuts: Help > Keyboard shortcuts lists them
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        bar.addWidget(self.count_label)
        bar.addWidget(self.filter)
        bar.addWidget(self.overlay_box)
        for action, text, key, tip in (("relabel", "Relabel", "R", "Give the selected images another class"),
                                       ("quarantine", "Quarantine", "Q", "Leave the selected images out of the next run"),
                                       ("keep", "Keep", "K", "Keep the selected images as they are (a keep replaces any relabel or quarantine of them)")):
            b = QPushButton(f"{text} ({key})")
            b.setToolTip(f"{tip} [{key}]. The image files are never touched.")
            b.clicked.connect(lambda _=False, a=action: self.request(a))
            self.shortcuts[action] = key_shortcut(self.list, [key], f"In an image gallery: {tip[0].lower()}{tip[1:]}",
                                                  lambda a=action: self.request(a))
            bar.addWidget(b)
            self.buttons[action] = b
        self.list.installEventFilter(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.list, 1)
        self.set_classes(self.classes)
        self.update_buttons()
        self.list.selectionModel().selectionChanged.connect(self.update_buttons)

    # ------------------------------------------------------------------ content
    def set_classes(self, classes: tuple) -> None:
        self.classes = tuple(classes)
        self.filter.blockSignals(True)
        self.filter.clear()
        self.filter.addItem("All classes", "")
        for c in self.classes:
            self.filter.addItem(c, c)
        self.filter.blockSignals(False)

    def set_title(self, title: str) -> None:
        self.title.setText(f"<b>{title}</b>")

    def set_items(self, items: list[GalleryItem]) -> None:
        self.model.set_items(items)
        self.count_label.setText(f"{len(items)} image{'s' if len(items) != 1 else ''}")
        self.update_buttons()

    def items(self) -> list[GalleryItem]:
        return list(self.model.items)

    def paths(self) -> list[str]:
        return [it.path for it in self.model.items]

    def selected_items(self) -> list[GalleryItem]:
        rows = sorted(ix.row() for ix in self.list.selectionModel().selectedIndexes())
        return [self.model.items[r] for r in rows]

    def select_rows(self, rows: list[int]) -> None:
        sm = self.list.selectionModel()
        sm.clearSelection()
        for r in rows:
            sm.select(self.model.index(r), QItemSelectionModel.SelectionFlag.Select)
        if rows:
            sm.setCurrentIndex(self.model.index(rows[0]), QItemSelectionModel.SelectionFlag.NoUpdate)

    # ------------------------------------------------------------------ actions
    def eventFilter(self, obj, ev) -> bool:  # noqa: N802
        """Keys the shortcut map did not take (inactive window): R, Q, K via their QShortcuts; Ctrl+Z undo."""
        if obj is self.list and ev.type() == QEvent.Type.KeyPress:
            mods = ev.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            if ev.key() == Qt.Key.Key_Z and mods == Qt.KeyboardModifier.ControlModifier:
                self.undoRequested.emit()
                return True
            action = KEYS.get(ev.key()) if mods == Qt.KeyboardModifier.NoModifier else None
            if action:
                self.shortcuts[action].activated.emit()
                return True
        return super().eventFilter(obj, ev)

    def request(self, action: str, new_class: str | None = None) -> bool:
        """Emit ``actionRequested`` for the selection; relabel asks for the class unless given."""
        sel = self.selected_items()
        if not sel:
            return False
        if action == "relabel" and new_class is None and not self.locked:
            new_class = ask_class(self, self.classes, len(sel), *shared_classes(sel))
            if not new_class:
                return False
        self.actionRequested.emit(action, [it.path for it in sel], new_class or "")
        return True

    def _context_menu(self, pos) -> None:
        if not self.selected_items():
            ix = self.list.indexAt(pos)
            if not ix.isValid():
                return
            self.select_rows([ix.row()])
        menu = QMenu(self)
        sel = self.selected_items()
        menu.addAction("Open large view", lambda: self.itemActivated.emit(sel[0]))
        sub = menu.addMenu("Relabel as")
        for c in self.classes:
            sub.addAction(c, lambda c=c: self.request("relabel", c))
        menu.addAction("Quarantine (Q)", lambda: self.request("quarantine"))
        menu.addAction("Keep (K)", lambda: self.request("keep"))
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def update_buttons(self, *_a) -> None:
        has = bool(self.model.items) and self.list.selectionModel().hasSelection() and not self.locked
        for b in self.buttons.values():
            b.setEnabled(has)

    def _filter_changed(self, _i: int) -> None:
        self.filterChanged.emit(self.filter.currentData() or "")

    def _overlay_toggled(self, on: bool) -> None:
        self.model.set_show_overlay(on)
        self.overlayToggled.emit(on)
