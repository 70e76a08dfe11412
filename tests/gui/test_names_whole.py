"""Names a new user saw cut although there was room (nette-mini's class and file names): the model
table's columns, the augmentation preview's rows, the per-class table, the confusion matrix titles,
gallery file names and TTA captions."""
from __future__ import annotations

import json
import struct

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication

from workbench.data.types import Dataset, Item

LONG = ("cassette_player", "chain_saw", "english_springer", "garbage_truck")


def test_params_of_weights_on_disk_come_from_the_file_header(tmp_path):
    from workbench.recipe.pretrained import params_in_file
    header = {"conv.weight": {"dtype": "F32", "shape": [8, 3, 3, 3], "data_offsets": [0, 864]},
              "bn.weight": {"dtype": "F32", "shape": [8], "data_offsets": [864, 896]},
              "bn.running_mean": {"dtype": "F32", "shape": [8], "data_offsets": [896, 928]},
              "__metadata__": {"format": "pt"}}
    raw = json.dumps(header).encode()
    f = tmp_path / "w.safetensors"
    f.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(928))
    assert params_in_file(f) == 8 * 27 + 8          # batch-norm statistics are not parameters
    assert params_in_file(tmp_path / "missing.safetensors") == 0


def test_model_table_columns_fit_their_content_and_titles(qtbot, session):
    from workbench.gui.views.model_picker import ModelPicker
    from workbench.recipe.pretrained import ArchInfo
    w = ModelPicker(session)
    qtbot.addWidget(w)
    rows = [ArchInfo("timm/tf_efficientnet_lite0", "timm", 4.65, 224, "bundled", 19_000_000, "in1k"),
            ArchInfo("convnext_large", "torchvision", 197.77, 224, "downloadable", 791_000_000, "IMAGENET1K_V1")]
    w._fill(rows)
    t = w.table
    assert t.item(0, 2).text() == "4.7 M"
    bold = t.item(0, 0).font()
    assert t.columnWidth(0) > QFontMetrics(bold).horizontalAdvance("timm/tf_efficientnet_lite0")
    fm = t.fontMetrics()
    for j in (1, 2, 3):
        need = max([fm.horizontalAdvance(t.item(i, j).text()) for i in range(2)]
                   + [fm.horizontalAdvance(t.horizontalHeaderItem(j).text())])
        assert t.columnWidth(j) > need, (j, t.horizontalHeaderItem(j).text())


def test_augmentation_preview_rows_show_whole_class_names(qtbot, session, tmp_path):
    from workbench.gui.views.augment_preview import AugmentPreview
    view = AugmentPreview(session)
    qtbot.addWidget(view)
    items = tuple(Item(str(tmp_path / f"{c}.jpg"), i, "train") for i, c in enumerate(LONG))
    view.set_dataset(Dataset(str(tmp_path), LONG, items))
    for lab in view.class_labels:
        assert lab.text() in LONG and lab.shown_text() == lab.text()


def test_per_class_table_shows_whole_class_names(qtbot):
    from workbench.gui.views.results_view import ResultsView
    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    view.set_report([{"class": c, "precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 8} for c in LONG])
    t = view.table
    qtbot.waitUntil(lambda: t.columnWidth(0) > t.fontMetrics().horizontalAdvance("english_springer") + 8)
    fm = t.fontMetrics()
    for j in range(1, 5):
        assert t.columnWidth(j) > fm.horizontalAdvance(t.horizontalHeaderItem(j).text())


def test_confusion_matrix_titles_are_written_upwards_whole(qtbot):
    from workbench.gui.views.confusion_view import ConfusionView, RotatedHeader
    view = ConfusionView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    view.set_data(np.eye(4, dtype=np.int64) * 3, LONG, [])
    header = view.table.horizontalHeader()
    assert isinstance(header, RotatedHeader)
    qtbot.waitUntil(lambda: header.height() > header.fontMetrics().horizontalAdvance("english_springer"))
    assert [header.shown_text(j) for j in range(4)] == list(LONG)
    assert view.table.horizontalHeaderItem(3).toolTip() == "predicted garbage_truck"


def test_gallery_file_names_are_whole_and_the_caption_fits_its_cell(qtbot, tmp_path):
    from workbench.gui.views.gallery_view import GRID, GalleryItem, GalleryView
    g = GalleryView("top losses")
    qtbot.addWidget(g)
    path = str(tmp_path / "n01440764_10043.JPEG")
    g.set_items([GalleryItem(path, "garbage_truck / english_springer\n4.84 / 0.37")])
    text = g.model.data(g.model.index(0))
    assert text.endswith("\nn01440764_10043.JPEG")
    hint = g.model.data(g.model.index(0), Qt.ItemDataRole.SizeHintRole)
    fm = QFontMetrics(QApplication.font())
    lines = fm.boundingRect(QRect(0, 0, hint.width() - 8, 10_000), int(Qt.TextFlag.TextWordWrap), text)
    assert lines.width() <= hint.width() - 8 and lines.height() + 112 <= GRID.height()
    assert fm.horizontalAdvance("n01440764_10043.JPEG") <= hint.width() - 8


def test_tta_captions_put_the_numbers_before_the_class_names(qtbot, shapes_dir):
    from test_tta_and_export import made_up_tta
    from workbench.gui.views.tta_view import TTAView
    v = TTAView()
    qtbot.addWidget(v)
    r = made_up_tta(shapes_dir)
    v.set_result(r, r.paths, beta=0.0)
    items = v.fixed.model.items + v.broken.model.items
    assert items
    for it in items:
        _true, plain, tta = it.caption.split("\n")
        assert plain.split()[0] == "plain" and float(plain.split()[1]) <= 1.0
        assert tta.split()[0] == "TTA" and float(tta.split()[1]) <= 1.0
