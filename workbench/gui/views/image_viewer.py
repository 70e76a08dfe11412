"""Large image viewer (image, Grad-CAM heatmap, top-5 probabilities, file path) and thumbnail helpers.

Pictures and heatmaps are decoded and computed off the GUI thread (``gui.session_images``: the file in
the side pool, Grad-CAM by ``workbench.analysis.explain`` with the model cached on the worker side, never
in a view); views ask for heatmaps with ``request_cam(run_dir, path, callback)``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (QCheckBox, QDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy,
                               QSlider, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..widgets.common import key_shortcut
from ..session_images import dim_outside, load_thumbnail, overlay, request_cam, request_image  # noqa: F401 (re-exported)

THUMB = 112


def _safe_thumbnail(path: str) -> tuple[str, np.ndarray | None]:
    """Runs in the side pool (the galleries' loader)."""
    try:  # an unreadable file gives no picture, never an error in the grid
        return load_thumbnail(path, THUMB)
    except Exception:
        return path, None


def to_qimage(arr: np.ndarray) -> QImage:
    """uint8 HxWx3 array -> QImage (owns a copy of the data)."""
    arr = np.ascontiguousarray(arr[..., :3].astype(np.uint8))
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()




def top_k(probs: np.ndarray, classes: tuple, k: int = 5) -> list[tuple[str, float]]:
    order = np.argsort(-np.asarray(probs))[:k]
    return [(classes[i], float(probs[i])) for i in order]


class ImageViewer(QDialog):
    """Big view of one image with its heatmap, top-5 probabilities and path."""
    actionRequested = Signal(str, list, str)   # like GalleryView: action, [path], new class
    undoRequested = Signal()                    # Ctrl+Z in the viewer: the page's undo of the change list

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Image")
        self.resize(820, 560)
        self.path = ""
        self._image: QPixmap | None = None
        self._overlay: QPixmap | None = None
        self.picture = QLabel("loading…")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(320, 320)
        self.picture.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.heat_box = QCheckBox("Show Grad-CAM heatmap")
        self.heat_box.setChecked(True)
        self.heat_box.toggled.connect(self._show)
        self.result = None
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setToolTip("Opacity of the heatmap over the photo")
        self.opacity.valueChanged.connect(self._compose)
        self.cam_note = QLabel("")
        self.cam_note.setWordWrap(True)
        self.cam_note.setObjectName("dim")
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.top5 = QTableWidget(0, 2)
        self.top5.setHorizontalHeaderLabels(["Class", "Probability"])
        self.top5.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.top5.verticalHeader().setVisible(False)
        self.top5.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)   # the model's numbers, read only
        self.top5.setMaximumWidth(300)
        self.path_label = QLabel("")
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_btn = QPushButton("Open containing folder")
        self.open_btn.clicked.connect(self.open_folder)
        side = QVBoxLayout()
        side.addWidget(self.caption)
        side.addWidget(QLabel("<b>Top-5</b>"))
        side.addWidget(self.top5, 1)
        side.addWidget(self.heat_box)
        op = QHBoxLayout()
        op.addWidget(QLabel("Opacity"))
        op.addWidget(self.opacity, 1)
        side.addLayout(op)
        side.addWidget(self.cam_note)
        self.action_btns = []
        for action, text in (("relabel", "Relabel…"), ("quarantine", "Quarantine"), ("keep", "Keep")):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, a=action: self.actionRequested.emit(a, [self.path], ""))
            side.addWidget(b)
            self.action_btns.append(b)
        self.mark = QLabel("")   # what the change list says of this image, after an action here or elsewhere
        self.mark.setWordWrap(True)
        side.addWidget(self.mark)
        key_shortcut(self, [QKeySequence.StandardKey.Undo], "Undo the last relabel / quarantine / keep (image "
                     "viewer)", self.undoRequested.emit, Qt.ShortcutContext.WindowShortcut)
        body = QHBoxLayout()
        body.addWidget(self.picture, 1)
        body.addLayout(side)
        foot = QHBoxLayout()
        foot.addWidget(self.path_label, 1)
        foot.addWidget(self.open_btn)
        close = QPushButton("Close")
        close.setToolTip("Close the viewer (Esc)")
        close.clicked.connect(self.close)
        foot.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addLayout(body, 1)
        lay.addLayout(foot)

    def set_item(self, path: str, caption: str = "", top5: list[tuple[str, float]] | None = None) -> None:
        self.path = path
        self.setWindowTitle(Path(path).name)
        self.caption.setText(caption)
        self.path_label.setText(path)
        self._overlay, self.result, self._image = None, None, None
        self.cam_note.setText("")
        self.picture.setText("loading…")
        request_image(path, 1024, self._image_loaded)   # decoded in the side pool
        self.set_top5(top5 or [])

    def _image_loaded(self, result) -> None:
        path, image = result
        if path != self.path:
            return
        if isinstance(image, Exception):  # unreadable file: say so in place of the picture
            self._image = None
            self.picture.setText(f"cannot read {path}: {image}")
            return
        self._image = QPixmap.fromImage(to_qimage(image))
        self._show()

    def set_mark(self, mark: str) -> None:
        """The image's change ("→ cat", "quarantined", "✓ kept", "to label"; "" for none), said in words."""
        self.mark.setText(f"<b>Changed:</b> {mark}<br><i>Ctrl+Z undoes the last change</i>" if mark else "")

    def lock_actions(self, why: str) -> None:
        """Relabel / Quarantine / Keep off, with the reason as their tooltip ("" turns them on)."""
        for b in self.action_btns:
            b.setEnabled(not why)
            b.setToolTip(why)

    def set_top5(self, top5: list[tuple[str, float]]) -> None:
        self.top5.setRowCount(len(top5))
        for r, (name, p) in enumerate(top5):
            self.top5.setItem(r, 0, QTableWidgetItem(str(name)))
            it = QTableWidgetItem(f"{p:.1%}")
            it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.top5.setItem(r, 1, it)

    def set_cam(self, result) -> None:
        """Take a CamResult (or an Exception from the worker) for the current image."""
        if isinstance(result, Exception):
            self.heat_box.setText(f"Grad-CAM unavailable: {result}")
            self.heat_box.setEnabled(False)
            return
        if result.path != self.path:
            return
        self.heat_box.setEnabled(True)
        self.result = result
        describe = getattr(result, "describe", None)
        note = (describe() if describe else "").strip()
        if getattr(result, "photo", None) is not None and result.box:
            note = (note.rstrip(".") + ". " if note else "") + ("Dimmed: the parts of the photo the model did not "
                                                                "see (validation uses its centre crop).")
        self.cam_note.setText(note)
        if self.top5.rowCount() == 0:
            self.set_top5(top_k(result.probs, result.classes))
        self._compose()

    def _compose(self, *_a) -> None:
        """The heatmap over the full-resolution photo (on the part the model saw), at the slider's opacity."""
        r = self.result
        if r is None:
            return
        alpha = self.opacity.value() / 100
        photo = getattr(r, "photo", None)
        if photo is not None and r.box:   # outside the square the model saw is dimmed, not left as a frame
            img = dim_outside(overlay(photo, r.cam, alpha, r.box), r.box)
        else:
            img = overlay(r.image, r.cam, alpha)
        self._overlay = QPixmap.fromImage(to_qimage(img))
        self._show()

    def has_cam(self) -> bool:
        return self._overlay is not None

    def _show(self, *_a) -> None:
        pix = self._overlay if (self.heat_box.isChecked() and self._overlay is not None) else self._image
        if pix is None:
            return
        target = self.picture.size()
        side = max(64, min(target.width(), target.height()))
        self.picture.setPixmap(pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        self._show()

    def open_folder(self) -> bool:
        if not self.path:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.path).parent)))
