"""Words and pictures that agree: a time-budget run compares with the epochs it planned last (not
config.toml's first plan); the LR finder draws the divergence its status names and labels the current
rate; the Train log says how a run ended once; the schedule caption of a budget recipe is a sentence."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from workbench.config import RunConfig
from workbench.runtime.events import FitFinished
from workbench.train.lr_find import LRFindResult, plot_window, suggest


def _run(name, epochs, budget=0.0, metrics=None):
    cfg = RunConfig().set("data.path", "/data/ants").set("train.epochs", epochs).set("train.budget_minutes", budget)
    return SimpleNamespace(run_dir=Path("/tmp") / name, name=name, config=cfg, classes=("a", "b"), history=[],
                           metrics={"status": "completed", **(metrics or {})}, status="completed",
                           created=1_700_000_000.0, note="")


def test_runs_compare_the_epochs_a_budget_run_planned_last(qtbot, session):
    from workbench.gui.views.runs_view import RunsView
    view = RunsView(session)
    qtbot.addWidget(view)
    view.set_runs([_run("budget", 17, 1.0, {"epochs": 9, "epochs_done": 9, "planned_epochs": 8.333}),
                   _run("fixed", 17)])
    view.select_names(["budget", "fixed"])
    rows = view.diff_rows()
    # in whole epochs, as the Train page and the Runs table count them (the partial 9th is one)
    assert rows["train.epochs"] == {"budget": "9 (time plan; 17 at the start)", "fixed": "17"}
    # a budget run from before planned_epochs was kept: its metrics' re-planned whole epochs
    view.set_runs([_run("older", 17, 1.0, {"epochs": 9}), _run("fixed", 17)])
    view.select_names(["older", "fixed"])
    assert view.diff_rows()["train.epochs"] == {"older": "9 (time plan; 17 at the start)", "fixed": "17"}


def test_one_budget_run_has_one_whole_epoch_count_in_the_runs_table_and_the_comparison(qtbot, session):
    """Planned 17 at the start (16.31), re-planned to 10.27, all 11 trained: the table says 11/11 and the
    comparison 11 (the partial 11th counts, as on the Train page), never 10.27."""
    from workbench.gui.views.runs_view import RunsView
    view = RunsView(session)
    qtbot.addWidget(view)
    view.set_runs([_run("budget", 17, 1.0, {"epochs": 11, "epochs_done": 11, "planned_epochs": 10.27}),
                   _run("fixed", 12, 0.0, {"epochs": 12, "epochs_done": 12})])
    cells = {view.table.item(r, 0).text(): view.table.item(r, 4).text() for r in range(view.table.rowCount())}
    assert cells == {"budget": "11/11", "fixed": "12/12"}
    view.select_names(["budget", "fixed"])
    assert view.diff_rows()["train.epochs"] == {"budget": "11 (time plan; 17 at the start)", "fixed": "12"}
    # a plan that was never re-planned: no "at the start"
    view.set_runs([_run("kept", 16, 1.0, {"epochs": 16, "epochs_done": 16, "planned_epochs": 15.35}),
                   _run("fixed", 12)])
    view.select_names(["kept", "fixed"])
    assert view.diff_rows()["train.epochs"] == {"kept": "16 (time plan)", "fixed": "12"}


def test_the_train_page_counts_a_budget_run_as_the_runs_page_does(qtbot, session):
    """The Train page of the run above: 17 at the start (16.31: the partial 17th counts), re-planned to
    11 (10.27) in epoch 8, finished with all 11, the Runs table's 11/11."""
    from workbench.gui.views.train_view import TrainView
    from workbench.runtime.events import BatchEnd, EpochEnd, FitStarted, Replanned
    tv = TrainView(session)
    qtbot.addWidget(tv)
    tv.handle(FitStarted(run_dir="/tmp/run-b", epochs=17, start_epoch=0, steps_per_epoch=4, n_train=40, n_valid=10,
                         classes=("a", "b"), device="cpu", precision="fp32", batch_size=10))

    def batch(e):
        tv.handle(BatchEnd(epoch=e, batch=1, n_batches=4, step=e * 4 + 1, loss=1.0, smooth_loss=1.0, lr=1e-3,
                           mom=0.9, images_per_sec=50.0, eta_s=20.0))
        tv.flush()

    def epoch(e):
        tv.handle(EpochEnd(epoch=e, train_loss=0.9, valid_loss=0.8, metrics={"accuracy": 0.7}, lr=1e-3, seconds=1.0,
                           images_per_sec=50.0, is_best=False))
    for e in range(7):
        epoch(e)
    batch(7)
    assert tv.epoch_label.text().startswith("Epoch 8/17 ")
    tv.handle(Replanned(epochs=11, after_epoch=7))
    batch(7)
    assert tv.epoch_label.text().startswith("Epoch 8/11 ")
    for e in range(7, 11):
        epoch(e)
    with qtbot.waitSignal(tv.run_finished):
        tv.handle(FitFinished(status="completed", message="", run_dir="/tmp/run-b"))
    assert tv.epoch_label.text() == "Finished: all 11 epochs (run run-b)"


def _diverged_result():
    """60 steps of a range test stopped by divergence: the loss falls, flattens, then climbs in the last
    steps, which the plot window (and the centred smoothing) leave out."""
    lrs = 1e-6 * (1e7) ** (np.arange(60) / 99)
    x = np.log10(lrs)
    raw = 2.3 - 1.5 / (1 + np.exp(-(x + 3.0) * 3))
    raw[-5:] = raw[-6] * np.array([1.3, 1.8, 2.6, 3.8, 5.5])
    smooth = raw.copy()
    smooth[-5:] = smooth[-6]                      # flat where the raw loss climbs (as the robust smoothing is)
    return LRFindResult(lrs, raw, smooth, suggest(lrs, smooth), "valley", stopped_early=True)


def test_the_lr_finder_draws_the_divergence_it_reports_and_names_the_current_rate(qtbot, session):
    from workbench.gui.views.lr_find_view import LRFindView
    view = LRFindView(session)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    qtbot.waitExposed(view)
    res = _diverged_result()
    view.show_result(res)
    first, end = plot_window(len(res.lrs), smooth_losses=res.smooth_losses)
    assert end < len(res.lrs)                                      # the window leaves the climb out ...
    assert "stopped early at lr" in view.status.text() and "diverged" in view.status.text()
    tx, ty = view.tail.getData()                                   # ... and the dashed tail draws it
    assert view.tail.isVisible() and tx[-1] == np.log10(res.lrs[-1]) and ty[-1] == res.losses[-1]
    assert ty[-1] > 3 * res.smooth_losses[first:end].min()
    assert view.stop_line.isVisible() and view.stop_line.value() == np.log10(res.lrs[-1])
    assert view.stop_line.label.toPlainText().startswith("diverged at")
    x0, x1 = view.plot.getPlotItem().viewRange()[0]
    assert x1 >= np.log10(res.lrs[-1])                             # the stop is on the chart
    lo, hi = view.plot.getPlotItem().viewRange()[1]
    assert hi > res.smooth_losses[first:end].max() * 1.2           # room above to see the climb start
    # the red line is the recipe's rate, and says so
    session.set_option("train.lr", 0.001)
    assert view.marker.label.toPlainText() == "current lr 0.001" and view.marker.label.isVisible()
    # a new test hides the last one's divergence
    view.reset()
    assert not view.tail.isVisible() and not view.stop_line.isVisible()


def test_the_train_log_says_how_a_run_ended_once(qtbot, session):
    from workbench.gui.views.train_view import TrainView
    from workbench.run.runs import finish_words
    tv = TrainView(session)
    qtbot.addWidget(tv)
    tv.handle(FitFinished(status="cancelled", message="stopped by the user", run_dir="/tmp/r"))
    tv.handle(FitFinished(status="completed", message="training completed", run_dir="/tmp/r"))
    lines = tv.log.toPlainText().splitlines()
    assert lines == ["finished: stopped by the user", "finished: training completed"]
    assert finish_words("early_stopped", "stopped early (no improvement)") == "stopped early (no improvement)"
    assert finish_words("failed", "RuntimeError: boom") == "failed: RuntimeError: boom"
    assert finish_words("cancelled", "") == "stopped"


def test_the_schedule_caption_of_a_budget_recipe_is_a_plain_sentence(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_option("train.budget_minutes", 3.0)
    view.redraw_schedule()
    text = view.schedule_caption.text()
    assert "until Plan the run measures" not in text
    assert ("With the 3-minute time budget the run sets its number of epochs itself when it starts; "
            "Plan the run shows that number here before you start.") in text


def test_the_schedule_caption_explains_a_fine_tunes_two_cycles(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    view.redraw_schedule()
    assert "Fine-tune" not in view.schedule_caption.text()
    session.set_config(session.config.set("train.fine_tune", True).set("tricks.freeze_epochs", 1))
    view.redraw_schedule()
    assert ("Fine-tune: 1 epoch with the backbone frozen (only the new head trains), then a second cycle for all "
            "layers at half the rate.") in view.schedule_caption.text()
