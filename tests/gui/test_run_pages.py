"""The run pages end to end on a real (tiny) trained run: results, confusion -> gallery, Grad-CAM,
TTA, runs list, export with parity, single-image and folder prediction."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from gui_helpers import open_run_pages


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    try:
        from trained_run import trained_run   # shared fixture of the interpret engineer (trains once)
    except ImportError:
        trained_run = None
    if trained_run is not None:
        return Path(trained_run(tmp_path_factory))
    from synth import make_shapes_dataset
    from workbench.config import RunConfig
    from workbench.train.run import train
    data = make_shapes_dataset(tmp_path_factory.mktemp("p2shapes"), n_train=12, n_valid=4)
    cfg = (RunConfig().set("data.path", str(data)).set("runs_dir", str(tmp_path_factory.mktemp("p2runs")))
           .set("data.image_size", 32).set("data.batch_size", 16).set("train.epochs", 1).set("tta.n", 1))
    res = train(cfg)
    assert res.status == "completed", res.message
    return Path(res.run_dir)


@pytest.fixture
def pages(session, qtbot, run_dir):
    return open_run_pages(session, qtbot, run_dir)


def test_results_confusion_gradcam_and_tta(pages, session, qtbot, run_dir):
    from workbench.analysis.interpret import confusion_matrix, indices_for_cell
    from workbench.inference.tta import accuracy_vs_beta
    page = pages["Results"]
    p = page.preds
    assert page.summary.table.rowCount() == len(p.classes)
    cm = confusion_matrix(p)
    n = len(p.classes)
    shown = np.array([[int(page.confusion.cell_text(i, j)) for j in range(n)] for i in range(n)])
    assert (shown == cm).all() and shown.sum() == len(p)
    i, j = np.unravel_index(np.argmax(cm), cm.shape)
    page.confusion.choose(int(i), int(j))
    assert page.cell_gallery.paths() == [p.paths[k] for k in indices_for_cell(p, int(i), int(j))]
    # Grad-CAM overlay of the top-loss gallery, computed in the pool with the run's cached model
    first = page.losses.paths()[0]
    page.losses.overlay_box.setChecked(True)
    qtbot.waitUntil(lambda: first in page.cams, timeout=30_000)
    assert page.cams[first].dtype == np.uint8 and page.cams[first].ndim == 3
    page.open_viewer(page.losses.items()[0])          # large viewer: heatmap + top-5 + path
    qtbot.waitUntil(page.viewer.has_cam, timeout=30_000)
    assert page.viewer.top5.rowCount() == min(5, len(p.classes)) and page.viewer.path_label.text() == first
    page.viewer.close()
    # TTA: compute, then the slider reads accuracy_vs_beta of the core
    with qtbot.waitSignal(session.job_finished, timeout=60_000):
        assert page.compute_tta()
    r = page.tta.result
    assert r is not None and list(r.paths) == list(p.paths)
    page.tta.slider.setValue(50)
    assert page.tta.shown_accuracy() == float(accuracy_vs_beta(r, [0.5])[0])
    # the runs page lists this run
    names = [pages["Runs"].table.item(k, 0).text() for k in range(pages["Runs"].table.rowCount())]
    assert run_dir.name in names


def test_export_and_predict(pages, session, qtbot, run_dir, tmp_path):
    v = pages["Export"]
    assert v.run_dir == str(run_dir)
    v.boxes["onnx"].setChecked(False)
    v.dest.setText(str(tmp_path / "exp"))
    with qtbot.waitSignal(session.job_finished, timeout=60_000) as sig:
        assert v.start_export()
    assert sig.args[1] == "completed", v.status.text()
    assert v.parity_texts() == {"safetensors": "OK", "torchscript": "OK"}
    assert (tmp_path / "exp" / "model.json").is_file()
    img = pages["Results"].preds.paths[0]
    v.predict_image(img)
    qtbot.waitUntil(lambda: v.predict_result is not None, timeout=30_000)
    assert v.top5.rowCount() == min(5, len(pages["Results"].preds.classes))
    folder = Path(img).parent
    out = tmp_path / "preds.csv"
    with qtbot.waitSignal(session.job_finished, timeout=60_000):
        assert v.predict_folder(str(folder), str(out))
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(list(folder.glob("*.png"))) and "Wrote" in v.folder_status.text()
