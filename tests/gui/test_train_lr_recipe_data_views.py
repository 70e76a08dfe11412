"""The Train, LR finder, Recipe and Data views alone, driven with made-up events and a made-up dataset (no training)."""
from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from gui_helpers import wait_checked
from workbench.gui.jobs import JobKind
from workbench.data.types import Dataset, Item, Problem
from workbench.runtime.events import (BatchEnd, EpochEnd, FitFinished, FitStarted, LogMessage,
                              LRFindStep, Paused)


def fake_dataset(root: Path) -> Dataset:
    classes = tuple(sorted(p.name for p in (root / "train").iterdir()))
    items = []
    for split in ("train", "valid"):
        for label, c in enumerate(classes):
            for f in sorted((root / split / c).iterdir()):
                items.append(Item(str(f), label, split))
    problems = (Problem(str(root / "broken.png"), "truncated", "broken.png: image file is truncated"),
                Problem(str(items[0].path), "grayscale", "converted to RGB", skipped=False))
    return Dataset(str(root), classes, tuple(items), problems[:1], problems[1:], "folders", "split_folders")


# ----------------------------------------------------------------------------- train view
def test_train_view_plots_and_buttons(qtbot, session, monkeypatch):
    from workbench.gui.views.train_view import TrainView
    import workbench.gui.session as session_mod
    gate = threading.Event()

    def fake_train(cfg, sink, control):
        sink(FitStarted("/tmp/run-x", 2, 0, 10, 100, 20, ("a", "b"), "cpu", "fp32", 10))
        for e in range(2):
            for b in range(10):
                control.check()
                sink(BatchEnd(e, b, 10, e * 10 + b, 1.0 / (1 + b), 1.0 / (1 + b), 1e-3, 0.9, 500.0, 3.0))
            sink(EpochEnd(e, 0.5, 0.4 - 0.1 * e, {"accuracy": 0.6 + 0.1 * e}, 1e-3, 1.0, 500.0, True))
            gate.wait(5)
        sink(FitFinished("completed", run_dir="/tmp/run-x"))
        return None
    monkeypatch.setattr(session_mod, "train", fake_train)
    session.jobs_in_child_process = False  # the made-up training lives in this process
    view = TrainView(session)
    qtbot.addWidget(view)
    session.set_option("data.path", "/somewhere")
    assert view.start_btn.isEnabled() and not view.stop_btn.isEnabled() and not view.pause_btn.isEnabled()
    with qtbot.waitSignal(view.run_finished, timeout=10_000) as blocker:
        view.start()
        assert not view.start_btn.isEnabled() and view.stop_btn.isEnabled() and view.pause_btn.isEnabled()
        gate.set()
    assert blocker.args == ["/tmp/run-x", "completed"]
    qtbot.waitUntil(lambda: view.state == "idle", timeout=5000)
    view.loss_plot.redraw()
    assert view.loss_plot.points("valid") == 2
    assert 1 <= view.loss_plot.points("train (smoothed)") <= 20
    assert view.metric_plot.points("accuracy") == 2
    assert view.progress.value() == 1000
    assert view.start_btn.isEnabled() and not view.stop_btn.isEnabled()
    assert "epoch 2" in view.log.toPlainText()


def test_train_view_many_points_stay_buffered(qtbot, session):
    from workbench.gui.views.train_view import TrainView
    view = TrainView(session)
    qtbot.addWidget(view)
    session.run_state.begin(JobKind.TRAIN, True)  # as when a training job has started
    view._on_job_started(JobKind.TRAIN)  # the refresh timer runs while a run is in progress
    view.handle(FitStarted("r", 1, 0, 200_000, 1, 1, ("a",), "cpu", "fp32", 1))
    for i in range(120_000):
        view.loss_plot.append("train (smoothed)", i / 120_000, math.sin(i / 500))
    with qtbot.waitSignal(view.loss_plot.redrawn, timeout=2000):
        pass
    assert view.loss_plot.points("train (smoothed)") == 120_000
    assert view.loss_plot.getPlotItem().viewRange()[0] == pytest.approx([-0.02, 1.02])  # fixed to the epochs
    session._on_event(JobKind.TRAIN, Paused())   # the job's event: the session's RunState follows
    assert view.state == "paused" and view.pause_btn.text() == "Continue" and "paused" in view.log.toPlainText()
    view.handle(LogMessage("disk almost full", "warning"))
    assert "disk almost full" in view.log.toPlainText()
    session.run_state.end()


def test_live_plot_steady_y_range_moves_in_steps(qtbot):
    from workbench.gui.views.plots import LivePlot
    plot = LivePlot("Loss", fps=0, steady_y=True)
    qtbot.addWidget(plot)

    def y_range():
        return tuple(plot.getPlotItem().viewRange()[1])

    plot.append("loss", 0.0, 2.0)
    plot.append("loss", 0.1, 1.0)
    plot.redraw()
    first = y_range()
    assert first == pytest.approx((0.9, 2.1))          # the data with 10 % headroom on each side
    for i in range(50):                                # within the range: the axis stays put
        plot.append("loss", 0.2 + i / 100, 1.5 + 0.55 * math.sin(i))
        plot.redraw()
    assert y_range() == pytest.approx(first)
    plot.append("loss", 0.8, 0.5)                      # below it: the range follows, with headroom
    plot.redraw()
    hi = 1.5 + 0.55 * max(math.sin(i) for i in range(50))
    assert y_range() == pytest.approx((0.5 - 0.1 * (hi - 0.5), hi + 0.1 * (hi - 0.5)))
    plot.getPlotItem().getViewBox().sigRangeChangedManually.emit([False, True])  # the user zooms
    zoomed = y_range()
    plot.append("loss", 0.9, 0.1)
    plot.redraw()
    assert y_range() == pytest.approx(zoomed)          # and the view stays where the user put it
    plot.clear_data()                                  # until the next run
    plot.append("loss", 0.0, 100.0)
    plot.append("loss", 0.1, 101.0)
    plot.redraw()                                      # a new run re-fits to its own data
    assert 99.0 < y_range()[0] < 100.0 < 101.0 < y_range()[1] < 102.0


# ----------------------------------------------------------------------------- LR finder view
class _Result:
    def __init__(self):
        self.lrs = np.logspace(-6, 0, 50)
        self.losses = np.linspace(2, 1, 50)
        self.smooth_losses = self.losses
        self.suggestions = {"valley": 2e-3, "steep": 5e-4, "minimum": 1e-2, "slide": 3e-3}
        self.best = "valley"
        self.stopped_early = True


def test_lr_view_grows_marks_and_click_sets_lr(qtbot, session):
    from workbench.gui.views.lr_find_view import LRFindView
    view = LRFindView(session)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    qtbot.waitExposed(view)
    for i, lr in enumerate(np.logspace(-6, 0, 50)):
        view.add_step(LRFindStep(i, 50, float(lr), 2.0 - i / 50, 2.0 - i / 50))
    view.plot.redraw()
    assert view.plot.points("smoothed loss") == 50
    view.show_result(_Result())
    assert view.suggestions.count() == 4
    assert view.suggestions.item(2).text().startswith("minimum / 10: ")   # fastai's lr_min, said as it is
    assert session.config.train.lr == pytest.approx(2e-3)          # the recipe's own rate (not a suggestion)
    view.suggestions.itemClicked.emit(view.suggestions.item(1))    # steep
    assert session.config.train.lr == pytest.approx(5e-4)
    # click on the plot at lr = 1e-4
    vb = view.plot.getPlotItem().vb
    vb.setRange(xRange=(-6, 0), yRange=(1, 2), padding=0)
    qtbot.wait(1)  # let the view box apply its range before mapping (one event-loop turn)
    scene_pt = vb.mapViewToScene(QPointF(-4.0, 1.5))
    widget_pt = view.plot.mapFromScene(scene_pt)
    qtbot.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, pos=widget_pt)
    assert session.config.train.lr == pytest.approx(1e-4, rel=0.05)
    assert "1e-04" in view.picked_label.text() or "0.0001" in view.picked_label.text()


# ----------------------------------------------------------------------------- recipe + options form
def test_options_form_changes_config_and_validation(qtbot, session, tmp_path):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    form = view.form
    form.editors["train.epochs"].setValue(3)
    assert session.config.train.epochs == 3
    form.editors["train.schedule"].setCurrentText("cosine")
    assert session.config.train.schedule == "cosine"
    form.editors["augment.flip"].setChecked(False)
    assert session.config.augment.flip is False
    lr = form.editors["train.lr"]
    assert lr.minimum() == pytest.approx(1e-8) and lr.maximum() == 10.0
    assert "Default" in lr.toolTip() and "2e-03" not in lr.toolTip()
    assert not form.advanced["train"].expanded                          # advanced options collapsed
    # the session changes the form (e.g. the LR finder sets the lr)
    session.set_option("train.lr", 0.0123)
    assert lr.value() == pytest.approx(0.0123)
    # an invalid value shows inline
    weights = form.editors["model.weights"]
    weights.setText(str(tmp_path / "missing.pth"))
    weights.editingFinished.emit()
    wait_checked(qtbot, session)
    assert not view.problems_label.isHidden()
    assert "model.weights" in view.problems_label.text() and "not found" in view.problems_label.text()
    assert weights.property("invalid") is True
    weights.setText("")
    weights.editingFinished.emit()
    wait_checked(qtbot, session)
    assert view.problems_label.isHidden()
    # CLI command and TOML round trip
    session.set_option("data.path", "/data/my set")
    cmd = view.copy_command()
    from workbench.recipe.command import cli_program
    assert cmd.startswith(f"{cli_program()} train '/data/my set'") and "--set train.epochs=3" in cmd
    assert "train.schedule=cosine" in cmd and "augment.flip=false" in cmd and "data.image_size" not in cmd
    path = tmp_path / "r.toml"
    view.save(str(path))
    session.set_option("train.epochs", 9)
    view.load(str(path))
    assert session.config.train.epochs == 3 and form.editors["train.epochs"].value() == 3


def test_schedule_preview_redraws(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.schedule_redrawn, timeout=3000):
        session.set_option("train.epochs", 2)
    n = view.schedule_plot.points("lr")
    xs = view.schedule_plot.buffers["lr"].x[:n]
    assert xs.max() == pytest.approx(2.0)                      # the curve spans the run's 2 epochs
    with qtbot.waitSignal(view.schedule_redrawn, timeout=3000):
        session.set_option("train.epochs", 4)
    n = view.schedule_plot.points("lr")
    assert view.schedule_plot.buffers["lr"].x[:n].max() == pytest.approx(4.0)   # redrawn over 4
    ys = view.schedule_plot.buffers["lr"].y[:n]
    assert ys.max() == pytest.approx(session.config.train.lr, rel=1e-3)


def test_augment_preview_refreshes(qtbot, session, shapes_dir):
    from workbench.gui.views.augment_preview import AugmentPreview
    view = AugmentPreview(session)
    qtbot.addWidget(view)
    session.set_option("data.image_size", 32)
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        session.dataset = fake_dataset(shapes_dir)
        session.dataset_changed.emit(session.dataset)
    assert len(view.paths) == 4 and view.cells[0][1].pixmap() is not None
    first = view.cells[0][1].pixmap().toImage()
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        view.reshuffle()
    assert view.cells[0][1].pixmap().toImage() != first
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        session.set_option("augment.max_rotate", 45.0)
    plain = view.cells[0][0].pixmap().toImage()           # the validation view of the image...
    with qtbot.waitSignal(view.refreshed, timeout=10_000):
        session.set_option("data.valid_crop", 0.5)
    assert view.cells[0][0].pixmap().toImage() != plain   # ...follows the validation crop


def test_augment_grid_plain_column_is_the_validation_crop():
    import torch

    from workbench.data.augment import center_crop
    from workbench.config import RunConfig
    from workbench.gui.session_images import augment_grid
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 48, 48, 3), dtype=np.uint8)
    grid = augment_grid(images, RunConfig().augment, 32, seed=1, n_variants=2, valid_crop=0.75)
    assert grid.shape == (2, 3, 32, 32, 3)
    want = center_crop(torch.from_numpy(images), 32, crop=0.75).permute(0, 2, 3, 1)
    want = (want.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(grid[:, 0], want)


# ----------------------------------------------------------------------------- data view
def test_data_view_shows_dataset_health_and_thumbs(qtbot, session, shapes_dir):
    from workbench.data import compute_stats
    from workbench.gui.views.data_view import DataView
    view = DataView(session)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    ds = fake_dataset(shapes_dir)
    session.dataset = ds
    session.dataset_changed.emit(ds)
    session.stats_changed.emit(compute_stats(ds))
    assert "3 classes" in view.summary.text() and "train 72" in view.summary.text()
    assert view.summary.text().endswith("1 skipped, 1 note.")      # a count and its noun agree
    assert "split by the train / valid folders" in view.summary.text()
    assert view.class_combo.count() == 3 and view.thumbs.rowCount() == 32
    assert view.health.rowCount() == 2 and "1 skipped" in view.tabs.tabText(2)
    view.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: view.thumbs.cached > 0, timeout=5000)
    view.health.selectRow(1)
    assert view.problem_path.text().startswith(ds.notes[0].path) and ds.notes[0].message in view.problem_path.text()
    qtbot.waitUntil(lambda: not view.problem_image.pixmap().isNull(), timeout=5000)   # decoded in the side pool
    view.health.selectRow(0)
    assert "broken.png" in view.problem_path.text()
    assert "Left out by the health check" in view.problem_image.text()   # a rejected file is never decoded
    # a quarantined file is a note the scan skipped: the summary and the tab count it alike
    from workbench.data import Problem
    import dataclasses
    ds = dataclasses.replace(ds, notes=(*ds.notes, Problem(ds.items[0].path, "quarantined",
                                                           "x.png: quarantined, left out", True)))
    session.dataset = ds
    session.dataset_changed.emit(ds)
    session.stats_changed.emit(compute_stats(ds))
    assert view.summary.text().endswith("2 skipped, 1 note.") and "(2 skipped)" in view.tabs.tabText(2)
    # the change list written (by any page): the counts are said to be the scan's, with a Rescan link
    from workbench.data import ChangeSet
    opened = []
    view.open_folder = opened.append
    lines = view.summary.text().count("<br>")
    cs = ChangeSet.load(ds.root)
    cs.quarantine(ds.items[1].path)
    cs.save()
    session.changes_written(ds.root)
    assert "changed since: these counts are from before it" in view.summary.text() and "href='rescan'" in view.summary.text()
    assert view.summary.text().count("<br>") == lines              # said on the counts' line: nothing moves
    cs.undo()
    cs.save()
    session.changes_written(ds.root)                                # back to the list the scan applied
    assert "changed since" not in view.summary.text()
    cs.relabel(ds.items[1].path, ds.classes[-1])
    cs.save()
    session.changes_written(ds.root)
    view.summary.linkActivated.emit("rescan")
    assert opened == [ds.root]


def test_thumbnail_model_is_lazy_for_50k(qtbot, shapes_dir, tmp_path):
    """50,000 distinct paths: only the rows on screen are loaded, not the whole list."""
    from workbench.gui.jobs import wait_side_tasks
    from workbench.gui.widgets.thumbs import ThumbModel, ThumbView
    files = sorted(str(p) for p in (shapes_dir / "train").rglob("*.png"))
    # the real images first, then distinct paths that do not exist (a load of those fails at once)
    paths = files + [str(tmp_path / f"{i:05d}.png") for i in range(50_000 - len(files))]
    model = ThumbModel(paths)
    view = ThumbView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: model.cached > 0, timeout=5000)
    wait_side_tasks()
    assert model.rowCount() == 50_000
    first = view.indexAt(view.viewport().rect().topLeft()).row()
    last = view.indexAt(view.viewport().rect().bottomRight()).row()
    on_screen = (last if last >= 0 else model.rowCount()) - first + 1
    requested = model.cached + len(model._pending) + len(model._failed)
    assert 0 < requested <= 2 * on_screen + 50, (requested, on_screen)  # what was painted, not 50,000
    view.scrollToBottom()
    qtbot.waitUntil(lambda: not model._pending, timeout=5000)
