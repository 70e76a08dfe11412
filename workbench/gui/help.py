"""The Help menu's dialogs: the keyboard shortcuts (read from the window's own QActions and QShortcuts,
pages' and lists' keys included, so the list cannot drift from what the keys do), and the accepted folder
layouts with a snippet that loads an export (model.json + safetensors) in plain PyTorch."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QMenu, QTabWidget, QTableWidget,
                               QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget)


def _key_text(seq: QKeySequence) -> str:
    text = seq.toString(QKeySequence.SequenceFormat.NativeText)
    return text + " (full stop)" if text.endswith("+.") else text  # "Ctrl+." alone reads as cut off


def _keys(seqs) -> str:
    return ", ".join(_key_text(s) for s in seqs if not s.isEmpty())


def _group(obj) -> str:
    """Where a shortcut works: its menu, the group it names (``setProperty("group", ...)``), or the page."""
    if obj.property("group"):
        return str(obj.property("group"))
    if isinstance(obj, QAction):
        menus = [m for m in obj.associatedObjects() if isinstance(m, QMenu) and m.title()]
        if menus:
            return menus[0].title().replace("&", "")
    w, chain = obj.parent(), []
    while w is not None and not (isinstance(w, QWidget) and w.property("page_title")):
        chain.append(w)
        w = w.parent()
    if w is None:
        return "Window"
    tabs = [t.tabText(t.indexOf(page)) for t, page in zip(chain[2:], chain)   # page < its stack < the tabs
            if isinstance(t, QTabWidget) and t.indexOf(page) >= 0]
    return str(w.property("page_title")) + (f", {tabs[-1]} tab" if tabs else "")


def shortcut_rows(window: QWidget) -> list[tuple[str, str, str]]:
    """(where, keys, what) of every shortcut under ``window``: QActions with a shortcut and QShortcuts
    (their whatsThis says what they do; ``widgets.common.key_shortcut`` makes the pages' and lists' keys)."""
    rows: list[tuple[str, str, str]] = []
    for a in window.findChildren(QAction):
        keys = _keys(a.shortcuts())
        if keys:
            rows.append((_group(a), keys, a.text().replace("&", "").replace("…", "...")))
    for sc in window.findChildren(QShortcut):
        keys = _keys(sc.keys())
        if keys and not sc.property("refusal"):
            rows.append((_group(sc), keys, sc.whatsThis() or "(no description)"))
    tabs: dict[tuple[str, str, str], list[str]] = {}   # one row per page and key, naming each tab it works on
    for where, keys, what in rows:
        page, _, tab = where.partition(", ")
        if not tab.endswith(" tab"):
            page, tab = where, ""
        names = tabs.setdefault((page, keys, what), [])
        if tab and tab[:-4] not in names:
            names.append(tab[:-4])
    order = [t.tabText(i) for t in window.findChildren(QTabWidget) for i in range(t.count())]
    for names in tabs.values():
        names.sort(key=lambda n: order.index(n) if n in order else len(order))   # the tabs' own order
    out = [(f"{page}, {', '.join(names)} tab{'s' if len(names) > 1 else ''}" if names else page, keys, what)
           for (page, keys, what), names in tabs.items()]
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()] if hasattr(window, "menuBar") else []
    return sorted(out, key=lambda r: menus.index(r[0]) if r[0] in menus else len(menus))  # menu order first


class _HelpDialog(QDialog):
    """A non-modal help window that takes the keyboard when shown, so Escape closes it at once."""

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.raise_()
        self.activateWindow()


class ShortcutsDialog(_HelpDialog):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "Does"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)   # a long description wraps onto a second line, never cut
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        _dialog_layout(self, self.table)
        self.resize(960, 640)

    def rows(self) -> list[tuple[str, str, str]]:
        t = self.table
        return [tuple(t.item(r, c).text() for c in range(3)) for r in range(t.rowCount())]


LAYOUTS = """\
1. One folder per class (a seeded, stratified split makes the validation set:
   data.valid_pct of each class)

    pets/
      cat/  img001.jpg  img002.png ...
      dog/  a.jpg  b.jpg ...

2. A train / valid split (optional test/), with class folders inside each

    pets/
      train/  cat/ ...  dog/ ...
      valid/  cat/ ...  dog/ ...

3. Images plus a labels CSV (data.labels_csv = labels.csv; paths relative to the
   dataset folder; is_valid optional: without it the split is seeded and stratified)

    pets/
      labels.csv
      images/  0001.jpg  0002.jpg ...

    labels.csv:
      file,label,is_valid
      images/0001.jpg,cat,0
      images/0002.jpg,dog,1
"""

LOAD_SNIPPET = '''\
# An export folder (workbench export RUN --format safetensors) in plain PyTorch:
# model.json holds the architecture, classes, preprocessing and calibration temperature.
import json
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image, ImageOps
from safetensors.torch import load_file

folder = "export"
meta = json.load(open(f"{folder}/model.json"))
inp = meta["input"]

# torchvision architecture with a new head: Dropout + Linear (timm: timm.create_model(name,
# num_classes=...) and replace model.get_classifier() the same way)
model = torchvision.models.get_model(meta["arch"], weights=None)
name, old = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)][-1]
parent, _, attr = name.rpartition(".")
setattr(model.get_submodule(parent) if parent else model, attr, torch.nn.Sequential(
    torch.nn.Dropout(meta["dropout"]), torch.nn.Linear(old.in_features, meta["num_classes"])))
model.load_state_dict(load_file(f"{folder}/{meta['files']['safetensors']}"))
model.eval()


def preprocess(path):
    """The validation transform: centre square -> presize, short side -> image_size / valid_crop,
    centre crop image_size, normalize."""
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    w, h = img.size
    s, p = min(w, h), inp["presize"]
    img = img.resize((p, p), Image.BILINEAR, box=((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2))
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255
    size = max(inp["image_size"], round(inp["image_size"] / inp["valid_crop"]))
    if size != p:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < p)
    top = (size - inp["image_size"]) // 2
    x = x[:, :, top:top + inp["image_size"], top:top + inp["image_size"]]
    mean, std = torch.tensor(inp["mean"])[:, None, None], torch.tensor(inp["std"])[:, None, None]
    return (x - mean) / std


with torch.no_grad():
    probs = torch.softmax(model(preprocess("photo.jpg")) / meta["temperature"], dim=1)[0]
best = int(probs.argmax())
print(meta["classes"][best], round(float(probs[best]), 4))
'''


class LayoutsDialog(_HelpDialog):
    """The accepted dataset layouts and the export-loading snippet, as selectable text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Folder layouts and loading an export")
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        self.text.setHtml("<h3>Dataset folders the app opens</h3>"
                          f"<pre>{html.escape(LAYOUTS)}</pre>"
                          "<p>Hidden files, unreadable images and duplicates are skipped and listed in the "
                          "health report; no file in the dataset folder is ever changed.</p>"
                          "<h3>Loading an export in plain PyTorch</h3>"
                          f"<pre>{html.escape(LOAD_SNIPPET)}</pre>"
                          "<p>Or with workbench installed: <tt>workbench.inference.predict.load_exported(\"export/model.json\")"
                          ".predict([\"photo.jpg\"])</tt>.</p>")
        _dialog_layout(self, self.text)
        self.resize(860, 700)


def _dialog_layout(dialog: QDialog, body: QWidget) -> None:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    lay = QVBoxLayout(dialog)
    lay.addWidget(body, 1)
    lay.addWidget(buttons)
    dialog.setWindowModality(Qt.WindowModality.NonModal)
