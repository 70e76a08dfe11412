"""Live augmentation preview: a few training images decoded once (presized like the cache), then
BatchAugment run on them in a side thread whenever the augmentation options change (debounced 250 ms;
both through ``gui.session_images``, never on the GUI thread).
Rows are images; the first column is the plain centre crop (what validation sees), then variants."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..session_images import request_augment
from ..widgets.common import ElidedLabel, set_icon

N_IMAGES, N_VARIANTS, CELL = 4, 4, 72
NAME_MAX = 150  # px: the widest class-name column; longer names are cut in the middle (whole in the tooltip)


def to_qimage(a: np.ndarray) -> QImage:
    a = np.ascontiguousarray(a)
    h, w, _ = a.shape
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class AugmentPreview(QWidget):
    refreshed = Signal()

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.seed = session.config.seed
        self.paths: list[str] = []
        self._decoded: tuple | None = None  # (paths, presize, array)
        self._busy = self._dirty = False
        self._last_key = None
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(250)
        self.debounce.timeout.connect(self.refresh_now)

        self.reshuffle_btn = QPushButton("Reshuffle")
        set_icon(self.reshuffle_btn, "shuffle")
        self.reshuffle_btn.setToolTip("Draw new random augmentations")
        self.reshuffle_btn.clicked.connect(self.reshuffle)
        self.status = QLabel("Open a dataset to preview augmentations.")
        self.status.setObjectName("dim")
        self.status.setWordWrap(True)
        grid = QGridLayout()
        grid.setSpacing(4)
        self.cells: list[list[QLabel]] = []
        self.class_labels: list[QLabel] = []   # the class of each row's image
        for c, span, title in ((0, 1, "class"), (1, 1, "plain"), (2, N_VARIANTS, f"augmented ({N_VARIANTS} random draws)")):
            head = QLabel(title)
            head.setObjectName("dim")
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(head, 0, c, 1, span)
        for r in range(N_IMAGES):
            name = ElidedLabel()   # a long class name is cut in the middle, whole in its tooltip
            name.setFixedWidth(64)  # widened to the names shown (at most NAME_MAX)
            name.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(name, r + 1, 0)
            self.class_labels.append(name)
            row = []
            for c in range(1 + N_VARIANTS):
                cell = QLabel()
                cell.setFixedSize(CELL, CELL)
                cell.setObjectName("thumb")
                cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
                grid.addWidget(cell, r + 1, c + 1)
                row.append(cell)
            self.cells.append(row)
        head = QHBoxLayout()
        title = QLabel("<b>Augmentation preview</b>")
        head.addWidget(title, 1)
        head.addWidget(self.reshuffle_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addLayout(grid)
        lay.addWidget(self.status)
        lay.addStretch(1)

        session.dataset_changed.connect(self.set_dataset)
        session.config_changed.connect(self._on_config)
        if session.dataset is not None:
            self.set_dataset(session.dataset)

    # ----------------------------------------------------------------- inputs
    @Slot(object)
    def set_dataset(self, ds) -> None:
        """Pick up to N_IMAGES training images, one per class first."""
        self.paths, names = [], []
        if ds is not None:
            items = list(ds.train) or list(ds.items)
            by_class: dict[int, list] = {}
            for it in items:
                by_class.setdefault(it.label, []).append(it.path)
            while len(self.paths) < N_IMAGES and any(by_class.values()):
                for label, lst in by_class.items():
                    if lst and len(self.paths) < N_IMAGES:
                        self.paths.append(lst.pop(0))
                        names.append(ds.classes[label])
        widest = max((self.fontMetrics().horizontalAdvance(n) for n in names), default=0)
        for r, lab in enumerate(self.class_labels):
            lab.setFixedWidth(max(64, min(NAME_MAX, widest + 6)))  # the names whole up to NAME_MAX px
            lab.setText(names[r] if r < len(names) else "")
            lab.setToolTip(f"{names[r]}: {self.paths[r]}" if r < len(names) else "")
        self._last_key = None
        self.schedule()

    @staticmethod
    def _key(cfg) -> tuple:
        """The options the preview depends on."""
        return cfg.augment, cfg.data.image_size, cfg.effective_presize, cfg.data.valid_crop

    def _on_config(self, cfg) -> None:
        if self._key(cfg) != self._last_key:
            self.schedule()

    def schedule(self) -> None:
        """Refresh after 250 ms without further changes."""
        self.debounce.start()

    @Slot()
    def reshuffle(self) -> None:
        self.seed += 1
        self.refresh_now()

    # ----------------------------------------------------------------- work
    @Slot()
    def refresh_now(self) -> None:
        if not self.paths:
            for row in self.cells:       # nothing of a previous dataset stays in the grid
                for cell in row:
                    cell.clear()
            self.status.setText("Open a dataset to preview augmentations.")
            return
        if self._busy:
            self._dirty = True
            return
        cfg = self.session.config
        self._last_key = self._key(cfg)
        self._busy = True
        self.status.setText("Augmenting...")
        request_augment(self.paths, cfg.effective_presize, self._decoded, cfg.augment, cfg.data.image_size, self.seed,
                        cfg.data.valid_crop, N_VARIANTS, self._on_result)

    def _on_result(self, result) -> None:
        self._busy = False
        if isinstance(result, Exception):
            self.status.setText(f"Preview failed: {type(result).__name__}: {result}")
        else:
            self._decoded, grid = result
            self.show_grid(grid)
            cfg = self.session.config
            self.status.setText(f"{cfg.data.image_size} px from a {cfg.effective_presize} px presized image; "
                                f"seed {self.seed}." + ("" if cfg.augment.enabled else " Augmentation is off."))
        if self._dirty:
            self._dirty = False
            self.refresh_now()
        else:
            self.refreshed.emit()

    def show_grid(self, grid: np.ndarray) -> None:
        for r, row in enumerate(self.cells):
            for c, cell in enumerate(row):
                if r < grid.shape[0] and c < grid.shape[1]:
                    pm = QPixmap.fromImage(to_qimage(grid[r, c]))
                    cell.setPixmap(pm.scaled(CELL, CELL, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation))
                else:
                    cell.clear()
