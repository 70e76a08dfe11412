"""Lazy, virtualised thumbnail grid: a QAbstractListModel over file paths whose thumbnails are decoded on
demand in a thread pool and kept in an LRU cache. Only rows the view paints are ever decoded, so a
50k-image folder scrolls smoothly (uniform item sizes, batched layout)."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import shiboken6
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QApplication, QListView

from ..jobs import submit, submit_keyed
from ...data.cache import thumbnail
from ...runtime.paths import display_text

THUMB = 96
NAME_PAD = 66   # a thumbnail cell's text is this much wider than the picture (n01440764_10043.JPEG whole at 10 pt)


def load_thumb(path: str, size: int = THUMB) -> QImage:
    """Decode a small thumbnail with the decoder training uses (16-bit scaled, not clipped to white;
    EXIF orientation; JPEG draft mode). Runs in a pool thread."""
    a = thumbnail(path, size)
    return QImage(a.data, a.shape[1], a.shape[0], 3 * a.shape[1], QImage.Format.Format_RGB888).copy()


def request_thumb(path: str, size: int, callback) -> int:
    """``load_thumb(path, size)`` in the side pool; ``callback`` (GUI thread) gets (path, QImage), or
    (path, the Exception) for a file that cannot be decoded."""
    return submit_keyed(path, lambda: load_thumb(path, size), callback)


def square_pixmap(pix: QPixmap, size: int) -> QPixmap:
    """``pix`` fitted into a ``size`` x ``size`` transparent square, centred: a tall or wide image takes
    the same box as any other, so every caption sits at the same height under its picture."""
    if pix.width() > size or pix.height() > size:
        pix = pix.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    out = QPixmap(size, size)
    out.fill(QColor(0, 0, 0, 0))
    p = QPainter(out)
    p.drawPixmap((size - pix.width()) // 2, (size - pix.height()) // 2, pix)
    p.end()
    return out


class ThumbModel(QAbstractListModel):
    """Rows are image paths; DecorationRole returns a cached pixmap or a placeholder and queues a load."""

    loaded = Signal(int)  # row whose thumbnail arrived

    def __init__(self, paths: list[str] | None = None, labels: list[str] | None = None, size: int = THUMB,
                 cache_size: int = 3000, parent=None) -> None:
        super().__init__(parent)
        self.size = size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: set[str] = set()
        self._failed: set[str] = set()
        self._placeholder = QPixmap(size, size)
        self._placeholder.fill(QColor("#e5e7eb"))
        self.paths: list[str] = []
        self.labels: list[str] = []
        self.set_paths(paths or [], labels)

    def set_paths(self, paths: list[str], labels: list[str] | None = None) -> None:
        self.beginResetModel()
        self.paths = list(paths)
        self.labels = list(labels) if labels else [Path(p).name for p in self.paths]
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.paths)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        path = self.paths[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            pm = self._cache.get(path)
            if pm is not None:
                self._cache.move_to_end(path)
                return pm
            if path not in self._pending and path not in self._failed:
                self._pending.add(path)
                submit(lambda p=path, s=self.size: load_thumb(p, s),
                       lambda img, p=path, r=QPersistentModelIndex(index): self._arrived(p, r, img))
            return self._placeholder
        if role == Qt.ItemDataRole.DisplayRole:   # cut once, in the middle, to the cell (the tooltip is whole)
            return short_name(display_text(self.labels[index.row()]), self.size + NAME_PAD)
        if role == Qt.ItemDataRole.ToolTipRole:
            return display_text(path)
        if role == Qt.ItemDataRole.UserRole:
            return path
        return None

    def _arrived(self, path: str, index: QPersistentModelIndex, img) -> None:
        if not shiboken6.isValid(self):
            return
        self._pending.discard(path)
        if isinstance(img, Exception) or img is None:
            self._failed.add(path)
            return
        self._cache[path] = square_pixmap(QPixmap.fromImage(img), self.size)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if index.isValid() and index.row() < len(self.paths) and self.paths[index.row()] == path:
            idx = self.index(index.row())
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
            self.loaded.emit(index.row())

    @property
    def cached(self) -> int:
        return len(self._cache)


class ThumbView(QListView):
    """Icon-mode list view tuned for very many images."""

    def __init__(self, size: int = THUMB, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setIconSize(QSize(size, size))
        self.setGridSize(QSize(size + NAME_PAD + 26, size + 44))   # a photo's usual file name whole, one line
        self.setSpacing(4)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)


def short_name(path: str, width: int = THUMB + 16) -> str:
    """The file name cut in the middle to ``width`` pixels of the app's font (its start and end tell
    files apart), so the view never has to cut it again."""
    return QFontMetrics(QApplication.font()).elidedText(Path(path).name, Qt.TextElideMode.ElideMiddle, width)


MARK_COLOURS = {"→": "#1d4ed8", "quarantined": "#b42318", "✓": "#15803d", "to label": "#b45309"}


def marked_pixmap(pix: QPixmap | None, mark: str, size: int = THUMB) -> QPixmap | None:
    """``pix`` with a change drawn on it: a coloured band across its foot saying the change ("→ cat",
    "quarantined", "✓ kept", "to label"), cut to the picture's width. Drawn on the picture, it is never
    cut by the caption's lines. No mark: ``pix`` itself."""
    if not mark:
        return pix
    if pix is None:   # the thumbnail still loads: the band on an empty square
        pix = QPixmap(size, size)
        pix.fill(QColor(0, 0, 0, 0))
    out = QPixmap(pix)
    colour = next((c for key, c in MARK_COLOURS.items() if mark.startswith(key)), "#334155")
    p = QPainter(out)
    font = p.font()
    font.setBold(True)
    p.setFont(font)
    fm = p.fontMetrics()
    band = QRect(0, out.height() - fm.height() - 4, out.width(), fm.height() + 4)
    p.fillRect(band, QColor(colour))
    p.setPen(QColor("white"))
    p.drawText(band.adjusted(3, 0, -3, 0), int(Qt.AlignmentFlag.AlignCenter),
               fm.elidedText(mark, Qt.TextElideMode.ElideRight, band.width() - 6))
    p.end()
    return out
