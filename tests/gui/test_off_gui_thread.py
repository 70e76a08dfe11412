"""Domain work never runs on the GUI thread: checking the recipe (validation, the weights on disk, the
dataset), decoding images for the views (image viewer, augmentation preview, health report, leak pairs),
Grad-CAM and the calibration fit run in the Session's workers, and the views still show their results.
Files the health check rejected are never decoded by a view. (The weights import: test_model_picker.)"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gui_helpers import wait_checked
from synth import make_shapes_dataset


def spy(monkeypatch, target, name: str, calls: list, arg: bool = False):
    """Replace ``target.name`` with a wrapper recording (the calling thread, its first argument)."""
    real = getattr(target, name)

    def wrapper(*a, **k):
        calls.append((threading.current_thread(), a[0] if arg and a else None))
        return real(*a, **k)
    monkeypatch.setattr(target, name, wrapper)


def off_gui(calls: list) -> bool:
    return bool(calls) and all(t is not threading.main_thread() for t, _ in calls)


@pytest.fixture
def photo(tmp_path) -> str:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_recipe_edits_check_the_recipe_and_the_dataset_off_the_gui_thread(qtbot, session, tmp_path, monkeypatch):
    """Every edit re-checks the recipe: validating (which can build the model), the weights on disk and
    the dataset checks (which walk every image) run in the side pool; the schedule preview counts the
    training images once per scan. The Recipe page still shows the problems and warnings."""
    from workbench.config import RunConfig
    from workbench.data.types import Dataset
    from workbench.gui import session_jobs
    from workbench.gui.views.recipe_view import RecipeView
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=2)
    with qtbot.waitSignal(session.dataset_changed, timeout=60_000):
        session.open_dataset(str(data))
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    view = RecipeView(session)
    qtbot.addWidget(view)
    wait_checked(qtbot, session)
    validated, weights, walked = [], [], []
    spy(monkeypatch, RunConfig, "validate", validated)
    spy(monkeypatch, session_jobs, "usable_offline", weights)
    spy(monkeypatch, Dataset, "split", walked)
    with qtbot.waitSignal(view.schedule_redrawn, timeout=10_000):
        session.set_option("train.lr", 2.99)           # a warning
    wait_checked(qtbot, session)
    assert "train.lr" in view.problems_label.text() and "&#9888;" in view.problems_label.text()
    with qtbot.waitSignal(view.schedule_redrawn, timeout=10_000):
        session.set_option("model.weights", str(tmp_path / "missing.pth"))   # a problem at its field
    wait_checked(qtbot, session)
    assert "not found" in view.problems_label.text() and view.form.editors["model.weights"].property("invalid")
    session.set_option("model.weights", "")
    wait_checked(qtbot, session)
    assert off_gui(validated) and off_gui(weights) and off_gui(walked)
    from workbench.data.pipeline import steps_per_epoch
    assert session.steps_per_epoch() == steps_per_epoch(session.dataset, session.config)   # the scan's count
    assert f"x {session.steps_per_epoch()} steps" in view.schedule_caption.text()


def test_the_image_viewer_decodes_and_asks_for_grad_cam_off_the_gui_thread(qtbot, photo, monkeypatch):
    from types import SimpleNamespace

    from workbench.gui import session_images
    from workbench.gui.views.image_viewer import ImageViewer, request_cam
    decoded, cams = [], []
    spy(monkeypatch, session_images, "thumbnail", decoded)

    def fake_cam(run_dir, path, class_idx=None, calibrated=False):
        cams.append((threading.current_thread(), path))
        return SimpleNamespace(path=path, probs=np.array([0.7, 0.3]), classes=("a", "b"), cam=np.ones((4, 4)),
                               image=np.zeros((60, 80, 3), np.uint8), box=None, photo=None)
    monkeypatch.setattr(session_images, "compute_cam", fake_cam)
    viewer = ImageViewer()
    qtbot.addWidget(viewer)
    viewer.set_item(photo, "a photo")
    assert viewer.picture.pixmap().isNull()            # nothing decoded here: it arrives from the pool
    qtbot.waitUntil(lambda: not viewer.picture.pixmap().isNull(), timeout=10_000)
    request_cam("run", photo, viewer.set_cam)
    qtbot.waitUntil(viewer.has_cam, timeout=10_000)
    assert off_gui(decoded) and off_gui(cams) and viewer.top5.item(0, 0).text() == "a"
    viewer.set_item(str(Path(photo).with_name("missing.png")))
    qtbot.waitUntil(lambda: "cannot read" in viewer.picture.text(), timeout=10_000)


def test_the_augmentation_preview_decodes_and_augments_off_the_gui_thread(qtbot, session, shapes_dir, monkeypatch):
    from workbench.gui import session_images
    from workbench.gui.views.augment_preview import AugmentPreview
    from workbench.data import open_dataset
    decoded, augmented = [], []
    spy(monkeypatch, session_images, "decode_presized", decoded)
    spy(monkeypatch, session_images, "augment_grid", augmented)
    view = AugmentPreview(session)
    qtbot.addWidget(view)
    ds = open_dataset(session.config.set("data.path", str(shapes_dir)).data, 0)
    with qtbot.waitSignal(view.refreshed, timeout=30_000):
        session.dataset = ds
        session.dataset_changed.emit(ds)
    assert view.cells[0][1].pixmap() is not None and not view.cells[0][1].pixmap().isNull()
    assert off_gui(decoded) and off_gui(augmented) and len(decoded) == len(view.paths)


def test_rejected_files_are_never_decoded_and_notes_are_decoded_off_the_gui_thread(qtbot, session, tmp_path,
                                                                                   monkeypatch):
    """The Data page's health report: a file the scan left out shows its problem, never a decode; a note's
    file (a usable image) is decoded in the side pool."""
    from workbench.gui.views.data_view import DataView
    from workbench.gui.widgets import thumbs
    data = make_shapes_dataset(tmp_path / "data", n_train=6, n_valid=2)
    broken = data / "train" / "circle" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)   # a PNG cut off after its signature
    gray = data / "train" / "square" / "gray.png"
    Image.new("L", (40, 40), 128).save(gray)
    decoded = []
    spy(monkeypatch, thumbs, "thumbnail", decoded, arg=True)
    view = DataView(session)
    qtbot.addWidget(view)
    with qtbot.waitSignal(session.dataset_changed, timeout=60_000):
        session.open_dataset(str(data))
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    panel = view.health_panel
    rows = {Path(p).name: r for r, p in enumerate(panel._paths)}
    assert "broken.png" in rows and panel._skipped[rows["broken.png"]]
    panel.table.selectRow(rows["broken.png"])
    assert "Left out by the health check" in panel.image.text() and "broken.png" in panel.path.text()
    notes = [r for r, skipped in enumerate(panel._skipped) if not skipped and Path(panel._paths[r]).is_file()]
    assert notes and Path(panel._paths[notes[0]]).name == "gray.png"   # grayscale: a note, the file is used
    panel.table.selectRow(notes[0])
    qtbot.waitUntil(lambda: panel.image.pixmap() is not None and not panel.image.pixmap().isNull(), timeout=10_000)
    assert any(p == panel._paths[notes[0]] for _, p in decoded)
    from workbench.gui.jobs import wait_side_tasks
    wait_side_tasks()
    qtbot.wait(50)   # the thumbnails the grid asked for have arrived too
    assert "broken.png" not in {Path(p).name for _, p in decoded} and off_gui(decoded)


def test_leak_pairs_are_decoded_off_the_gui_thread(qtbot, tmp_path, photo, monkeypatch):
    from workbench.gui.views.leaks_view import LeaksView
    from workbench.gui.widgets import thumbs
    copy = tmp_path / "copy.png"
    copy.write_bytes(Path(photo).read_bytes())
    decoded = []
    spy(monkeypatch, thumbs, "thumbnail", decoded, arg=True)
    view = LeaksView()
    qtbot.addWidget(view)
    loaded = []
    view.tileLoaded.connect(loaded.append)
    view.set_report({"duplicates": [{"members": [photo, str(copy)], "splits": ["train", "valid"],
                                     "labels": ["a", "a"]}], "leaks": [1]})
    qtbot.waitUntil(lambda: len(loaded) == 2, timeout=10_000)
    assert off_gui(decoded) and {p for _, p in decoded} == {photo, str(copy)}
    assert all(not view._tiles[p].pixmap().isNull() for p in (photo, str(copy)))


def test_the_calibration_fit_runs_off_the_gui_thread(qtbot, monkeypatch):
    from workbench.gui import session_jobs
    from workbench.gui.views.calibration_view import CalibrationView
    fitted = []
    spy(monkeypatch, session_jobs, "calibrate", fitted)
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (200, 3))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    targets = rng.integers(0, 3, 200)
    view = CalibrationView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.calibrated, timeout=30_000):
        view.set_predictions(probs, targets)
        assert view.result is None          # nothing fitted here
    assert off_gui(fitted) and view.result is not None and view.curve["coverage"][0] == 1.0
    assert "after temperature scaling" in view.info.text()
