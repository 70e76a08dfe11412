"""Charts show what they hold now: another dataset leaves none of the previous one's axis ranges (the
Recipe page's schedule, the Train page's emptied charts); a resumed run's live charts look like a fresh
run's (the batch curve of the earlier epochs, top-5 among the metrics); the schedule chart keeps its
height and whole axis labels when the plan appears above it."""
from __future__ import annotations

import shutil

import pytest

from gui_helpers import main_window
from workbench.runtime.events import BatchEnd, EpochEnd, FitStarted


def _fit(epochs: int, start: int = 0, history=(), batches=()):
    return FitStarted(run_dir="/tmp/run-c", epochs=epochs, start_epoch=start, steps_per_epoch=4, n_train=40,
                      n_valid=10, classes=tuple("abcdef"), device="cpu", precision="fp32", batch_size=10,
                      history=tuple(history), **({"batches": tuple(batches)} if batches else {}))


def _open(qtbot, s, folder):
    s.open_dataset(folder)
    qtbot.waitUntil(lambda: not s.busy and s.dataset is not None and s.dataset.root == str(folder), timeout=60_000)


def test_another_dataset_leaves_no_axis_range_of_the_previous_one(qtbot, shapes_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    other = tmp_path / "other"
    shutil.copytree(shapes_dir, other)
    win = main_window(qtbot)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    s, recipe, tv = win.session, win.recipe_view, win.train_view
    _open(qtbot, s, shapes_dir)
    win.show_page("recipe")
    with qtbot.waitSignal(recipe.schedule_redrawn, timeout=5000):
        s.set_config(s.config.set("train.epochs", 40).set("train.lr", 0.05))
    item = recipe.schedule_plot.getPlotItem()
    qtbot.waitUntil(lambda: item.viewRange()[0][1] > 35)
    item.getViewBox().scaleBy((0.5, 0.5))     # as a turn of the mouse wheel over the chart zooms it
    # a run of this dataset on the Train page, with its own ranges
    win.show_page("train")
    win.train_notes.dataset = str(shapes_dir)
    tv.handle(_fit(12))
    for e in range(3):
        for b in range(4):
            tv.handle(BatchEnd(epoch=e, batch=b, n_batches=4, step=4 * e + b, loss=5.0, smooth_loss=5.0 - e,
                               lr=0.3, mom=0.9, images_per_sec=10.0, eta_s=9.0))
        tv.handle(EpochEnd(epoch=e, train_loss=4.0, valid_loss=6.0, metrics={"accuracy": 0.3, "top5": 0.9},
                           lr=0.3, seconds=1.0, images_per_sec=10.0, is_best=True))
    tv.flush()
    assert tv.loss_plot.getPlotItem().viewRange()[0][1] > 11 and tv.loss_plot.getPlotItem().viewRange()[1][1] > 5

    win.show_page("data")                     # the other dataset opens from the Data page (Ctrl+O)
    _open(qtbot, s, other)
    epochs, lr = s.config.train.epochs, s.config.train.lr
    assert (epochs, lr) != (40, 0.05)
    qtbot.waitUntil(lambda: recipe.schedule_plot.buffers["lr"].x[-1] == pytest.approx(epochs), timeout=5000)
    win.show_page("recipe")
    qtbot.waitUntil(lambda: item.viewRange()[0][1] == pytest.approx(epochs, rel=0.05), timeout=3000)
    lo, hi = item.viewRange()[1]
    assert lo <= 0.05 * lr and lr <= hi <= 1.2 * lr          # the new recipe's peak, not 0.05
    win.show_page("train")
    for plot in (tv.loss_plot, tv.metric_plot, tv.lr_plot):    # emptied, and no range of the last run
        (x0, x1), (y0, y1) = plot.getPlotItem().viewRange()
        assert x1 <= 1.05 and y1 <= 1.05, plot
    assert tv.metric_plot.curves == {} and tv.metric_plot.getPlotItem().legend.items == []   # no top5 row left
    qtbot.waitUntil(lambda: tv.epoch_label.text() == "No run yet on other: Start training (Ctrl+R) trains the recipe",
                    timeout=10_000)                           # once its (no) runs are listed


def test_a_resumed_run_draws_like_a_fresh_one(qtbot, session):
    from workbench.gui.views.train_view import TrainView
    tv = TrainView(session)
    qtbot.addWidget(tv)
    rows = [{"epoch": e, "train_loss": 1.0 - 0.1 * e, "valid_loss": 1.1 - 0.1 * e, "accuracy": 0.5 + 0.05 * e,
             "top5": 0.8 + 0.02 * e, "lr": 1e-3, "seconds": 2.0, "images_per_sec": 50.0} for e in range(3)]
    batches = [(e + (b + 1) / 4, 1.2 - 0.1 * e - 0.01 * b, 1e-3 * (b + 1)) for e in range(3) for b in range(4)]
    tv.handle(_fit(6, 3, rows, batches))
    tv.flush()
    train = tv.loss_plot.buffers["train (smoothed)"]
    assert list(train.x) == pytest.approx([b[0] for b in batches])          # per batch, not per epoch
    assert list(tv.lr_plot.buffers["lr"].y) == pytest.approx([b[2] for b in batches])
    assert tv.metric_plot.points("top5") == 3 and tv.metric_plot.points("accuracy") == 3
    assert set(tv.metric_plot.curves) == {"accuracy", "top5"}
    # then live, as a fresh run goes on
    tv.handle(BatchEnd(epoch=3, batch=0, n_batches=4, step=12, loss=0.7, smooth_loss=0.7, lr=1e-3, mom=0.9,
                       images_per_sec=10.0, eta_s=9.0))
    tv.handle(EpochEnd(epoch=3, train_loss=0.6, valid_loss=0.7, metrics={"accuracy": 0.7, "top5": 0.9},
                       lr=1e-3, seconds=1.0, images_per_sec=10.0, is_best=True))
    tv.flush()
    assert train.x[-1] == pytest.approx(3.25) and tv.metric_plot.points("top5") == 4


def test_the_schedule_chart_keeps_its_height_and_labels_when_the_plan_shows(qtbot, session, app_look):
    from workbench.gui.views.recipe_view import RecipeView
    from workbench.train.planner import Measured, make_plan
    view = RecipeView(session)
    qtbot.addWidget(view)
    view.resize(1100, 640)
    view.show()
    qtbot.waitExposed(view)
    session.set_option("train.budget_minutes", 1.0)
    m = Measured(step_s={session.config.data.image_size: 0.05}, valid_s=0.1, save_s=0.05, steps_per_epoch=4,
                 batch_size=16, n_train=64, n_valid=16, probe_s=1.0)
    view.assistant._planned_cfg = session.config
    with qtbot.waitSignal(view.schedule_redrawn, timeout=3000):
        view.assistant.show_plan(make_plan(session.config, m, startup_s=2.0, started=0.0))
    qtbot.waitUntil(view.assistant.plan_label.isVisible)
    plot = view.schedule_plot
    qtbot.waitUntil(lambda: plot.height() >= 200)
    axis = plot.getPlotItem().getAxis("left")
    assert axis.label.toPlainText().strip() == "learning rate"
    assert axis.label.boundingRect().width() <= axis.boundingRect().height()   # the turned label fits whole
