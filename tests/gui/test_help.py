"""The Help menu: the shortcuts list is read from the window's real actions and shortcuts; the folder
layouts it shows open as datasets; its snippet loads an export in plain PyTorch like the app predicts."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PySide6.QtGui import QAction, QKeySequence

from gui_helpers import main_window, open_shortcuts_with_f1
from synth import draw_shape
from trained_run import trained_run


def test_shortcuts_dialog_lists_the_real_shortcuts(qtbot):
    from workbench.gui.help import ShortcutsDialog
    win = main_window(qtbot)
    dlg = ShortcutsDialog(win)
    qtbot.addWidget(dlg)
    rows = dlg.rows()
    from PySide6.QtWidgets import QHeaderView
    assert dlg.table.wordWrap() and dlg.table.horizontalHeader().sectionResizeMode(2) == QHeaderView.ResizeMode.Stretch
    by_what = {what: (where, keys) for where, keys, what in rows}
    assert by_what["Start training"] == ("Run", "Ctrl+R, F5")
    assert by_what["Open dataset..."] == ("File", "Ctrl+O")
    assert by_what["Keyboard shortcuts"] == ("Help", "F1")
    assert by_what["Rename / note..."][1] == "F2"                      # the run lists' own action
    assert by_what["Undo the last relabel / quarantine / keep"] == ("Results page", "Ctrl+Z")  # a QShortcut
    assert {("Results page, Confusion matrix, Top losses, TTA tabs", k) for k in ("R", "Q", "K")} <= \
        {(w, k) for w, k, _ in rows}                                  # the galleries' keys, where they work
    # every action of the window that has a shortcut is listed with its keys
    for a in win.findChildren(QAction):
        if not a.shortcut().isEmpty():
            keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in a.shortcuts())
            keys = keys.replace("Ctrl+.", "Ctrl+. (full stop)")
            assert (keys, a.text().replace("&", "").replace("…", "...")) in {(k, w) for _, k, w in rows}
    # generated, not a copy: a shortcut added to the window shows up
    extra = QAction("Do something new", win)
    extra.setShortcut(QKeySequence("Ctrl+Alt+N"))
    win.menuBar().actions()[0].menu().addAction(extra)
    assert ("File", "Ctrl+Alt+N", "Do something new") in ShortcutsDialog(win).rows()


def test_f1_opens_the_shortcuts_and_the_layouts_dialog(qtbot):
    from workbench.gui.help import LayoutsDialog
    win, dlg = open_shortcuts_with_f1(qtbot)
    dlg.close()
    win.act_layouts.trigger()
    assert isinstance(win.help_dialog, LayoutsDialog)
    text = win.help_dialog.text.toPlainText()
    assert "labels.csv" in text and "valid/" in text and "load_state_dict" in text
    win.help_dialog.close()


def test_the_folder_layouts_shown_open_as_datasets(tmp_path):
    from workbench.config import RunConfig
    from workbench.data import open_dataset
    from workbench.gui.help import LAYOUTS

    rng = random.Random(0)

    def images(folder: Path, kind: str, n: int = 3) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for i in range(n):
            out.append(folder / f"{kind}_{i}.png")
            draw_shape(kind, 32, rng)[0].save(out[-1])
        return out
    flat, split, csvset = tmp_path / "flat", tmp_path / "split", tmp_path / "csv"
    for c in ("circle", "square"):
        images(flat / c, c)
        images(split / "train" / c, c)
        images(split / "valid" / c, c)
    rows = ["file,label,is_valid"]
    for c in ("circle", "square"):
        for i, p in enumerate(images(csvset / "images", c, 4)):
            rows.append(f"images/{p.name},{c},{int(i == 0)}")
    (csvset / "labels.csv").write_text("\n".join(rows) + "\n")
    assert "file,label,is_valid" in LAYOUTS and "train/" in LAYOUTS
    for root, extra in ((flat, {}), (split, {}), (csvset, {"data.labels_csv": "labels.csv"})):
        cfg = RunConfig().set("data.path", str(root))
        for k, v in extra.items():
            cfg = cfg.set(k, v)
        ds = open_dataset(cfg.data)
        assert ds.classes == ("circle", "square") and len(ds.items) >= 6, root
    assert sum(1 for it in open_dataset(RunConfig().set("data.path", str(csvset))
                                        .set("data.labels_csv", "labels.csv").data).items if it.split == "valid") == 2


def test_load_snippet_predicts_like_the_app(tmp_path_factory, tmp_path):
    from workbench.inference.export import export_run
    from workbench.gui.help import LOAD_SNIPPET
    from workbench.inference.predict import load_exported
    run = Path(trained_run(tmp_path_factory))
    out = tmp_path / "export"
    export_run(str(run), ["safetensors"], out_dir=str(out))
    photo = sorted((run.parent.parent / "shapes" / "valid").rglob("*.png"))[0]
    code = LOAD_SNIPPET.replace('folder = "export"', f"folder = {str(out)!r}").replace('"photo.jpg"', repr(str(photo)))
    ns: dict = {}
    exec(compile(code, "snippet", "exec"), ns)
    app = load_exported(out / "model.json").predict([str(photo)])[0]
    assert ns["meta"]["temperature"] != 1.0               # the calibration is part of what it applies
    assert int(ns["probs"].argmax()) == int(app.argmax())
    assert np.abs(ns["probs"].numpy() - app).max() < 0.02
