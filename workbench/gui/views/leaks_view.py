"""Near-duplicate groups of an audit: the list (leaks across train/valid and label conflicts first),
the selected group's images side by side with split and label, and "Use group-aware split", which
points the recipe's data.labels_csv at the audit's group-split.csv (no file is moved). The pictures are
decoded in the side pool (``widgets.thumbs.request_thumb``)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from ..widgets.common import splitter
from ..widgets.thumbs import request_thumb

SIDE = 220
MAX_SHOWN = 6


def group_title(g: dict) -> str:
    tags = (["LEAK train/valid"] if len(set(g["splits"])) > 1 else []) + \
           (["labels differ"] if len(set(g["labels"])) > 1 else [])
    names = ", ".join(Path(m).name for m in g["members"][:3]) + (" …" if len(g["members"]) > 3 else "")
    return f"{len(g['members'])} images{' · ' + ' · '.join(tags) if tags else ''} · {names}"


class LeaksView(QWidget):
    useSplitRequested = Signal(str)        # path of the group-aware labels CSV
    actionRequested = Signal(str, list, str)  # like GalleryView: action, paths, new class
    tileLoaded = Signal(str)               # the picture of a shown member arrived (or why it cannot be shown)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.groups: list[dict] = []
        self._tiles: dict[str, QLabel] = {}   # the picture label of each shown member
        self.split_csv = ""
        self.info = QLabel("Run an audit (or near-duplicates only) to find copies across the split.")
        self.info.setWordWrap(True)
        self.list = QListWidget()
        self.list.currentRowChanged.connect(self._show_group)
        self.pairs = QWidget()
        self.pairs_layout = QHBoxLayout(self.pairs)
        self.pairs_layout.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.pairs)
        self.split_btn = QPushButton("Use group-aware split")
        self.split_btn.setToolTip("Train with each group kept on one side of the split (a labels CSV in the "
                                  "audit folder; the images are not moved)")
        self.split_btn.clicked.connect(lambda: self.useSplitRequested.emit(self.split_csv))
        self.quarantine_btn = QPushButton("Quarantine the copies")
        self.quarantine_btn.setToolTip("Leave every member of the selected group but the first training one out "
                                       "of the next run (sidecar; undo with Ctrl+Z)")
        self.quarantine_btn.clicked.connect(self.quarantine_copies)
        bar = QHBoxLayout()
        bar.addWidget(self.info, 1)
        bar.addWidget(self.quarantine_btn)
        bar.addWidget(self.split_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(splitter(Qt.Orientation.Horizontal, self.list, scroll, stretch=(1, 2), sizes=[360, 720]), 1)
        self.set_report({})

    def set_report(self, report: dict) -> None:
        """``report``: the audit's leaks part (duplicates, leaks, label_conflicts, group_split_csv)."""
        groups = list(report.get("duplicates", []))
        groups.sort(key=lambda g: (len(set(g["splits"])) == 1, len(set(g["labels"])) == 1))
        self.groups = groups
        self.split_csv = str(report.get("group_split_csv", ""))
        self.list.clear()
        for g in groups:
            it = QListWidgetItem(group_title(g))
            it.setToolTip("\n".join(g["members"]))
            self.list.addItem(it)
        n_leak = len(report.get("leaks", []))
        n_conf = len(report.get("label_conflicts", []))
        n_exact = len(report.get("exact_duplicates", []))
        self.info.setText(f"{len(groups)} near-duplicate groups: <b>{n_leak} across train/valid</b>, "
                          f"{n_conf} with different labels; {n_exact} exact copies already left out by the scan."
                          if report else "Run an audit (or near-duplicates only) to find copies across the split.")
        self.split_btn.setEnabled(bool(self.split_csv) and n_leak > 0)
        self.quarantine_btn.setEnabled(bool(groups))
        if groups:
            self.list.setCurrentRow(0)
        else:
            self._show_group(-1)

    def _show_group(self, row: int) -> None:
        while self.pairs_layout.count():
            w = self.pairs_layout.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self._tiles = {}
        if not 0 <= row < len(self.groups):
            return
        g = self.groups[row]
        for path, split, label in list(zip(g["members"], g["splits"], g["labels"]))[:MAX_SHOWN]:
            self.pairs_layout.addWidget(self._tile(path, split, label))

    def _tile(self, path: str, split: str, label: str) -> QWidget:
        box = QWidget()
        v = QVBoxLayout(box)
        img = QLabel()
        img.setFixedSize(SIDE, SIDE)
        img.setAlignment(Qt.AlignmentFlag.AlignCenter)
        img.setText("loading…")
        self._tiles[path] = img
        request_thumb(path, SIDE, self._thumb_loaded)
        cap = QLabel(f"<b>{split}</b> · {label}<br><span style='color:#64748b'>{Path(path).name}</span>")
        cap.setToolTip(path)
        cap.setMaximumWidth(SIDE)
        v.addWidget(img)
        v.addWidget(cap)
        return box

    def _thumb_loaded(self, result) -> None:
        path, image = result
        img = self._tiles.get(path)
        if img is None:   # another group is shown now
            return
        if isinstance(image, Exception):  # an unreadable file: say so in its place
            img.setText(f"cannot show:\n{type(image).__name__}")
        else:
            img.setPixmap(QPixmap.fromImage(image))
        self.tileLoaded.emit(path)

    def quarantine_copies(self) -> bool:
        """Quarantine all members of the current group except one to keep (a training one if any)."""
        row = self.list.currentRow()
        if not 0 <= row < len(self.groups):
            return False
        g = self.groups[row]
        keep = next((m for m, s in zip(g["members"], g["splits"]) if s == "train"), g["members"][0])
        self.actionRequested.emit("quarantine", [m for m in g["members"] if m != keep], "")
        return True

    def shown_paths(self) -> list[str]:
        row = self.list.currentRow()
        return list(self.groups[row]["members"][:MAX_SHOWN]) if 0 <= row < len(self.groups) else []
