"""Runs and results are readable: run names that share a long prefix stay distinguishable in the
sidebar, a long value in the compare table never pushes the other run off screen, the Results page
says which loss each number is, train / valid have the same colours on every page, and legends sit
outside the curves' area."""
from __future__ import annotations

from types import SimpleNamespace

from gui_helpers import main_window


def test_sidebar_run_names_keep_their_distinct_part(qtbot, tmp_path):
    win = main_window(qtbot)
    win.resize(1280, 800)
    win.show()
    qtbot.waitExposed(win)
    names = ["hymenoptera-20261206-053012", "hymenoptera-20261206-061544", "hymenoptera-20261206-064210"]
    win.runs.fill([SimpleNamespace(name=n, run_dir=tmp_path / n, status="completed") for n in names])
    width = win.runs.viewport().width() - 12
    fm = win.runs.fontMetrics()
    assert fm.horizontalAdvance(names[0]) > width          # too long for the sidebar: they are cut ...
    shown = [fm.elidedText(n, win.runs.textElideMode(), width) for n in names]
    assert len(set(shown)) == 3 and all("…" in s for s in shown)    # ... but stay distinct
    # the items are as wide as the list (so the view cuts the text in the middle instead of clipping its end)
    assert win.runs.visualItemRect(win.runs.item(0)).width() <= win.runs.viewport().width()
    assert names[1] in win.runs.item(1).toolTip()


def _run(name, reasons, weights=""):
    from workbench.config import RunConfig
    cfg = RunConfig().set("reasons", reasons).set("train.epochs", 3 if name == "a" else 8).set("model.weights", weights)
    return SimpleNamespace(run_dir=f"/tmp/{name}", name=name, config=cfg, classes=("x", "y"), history=[],
                           metrics={}, status="completed", created=0.0)


def test_a_long_value_does_not_hide_the_other_runs_column(qtbot, session):
    from workbench.gui.views.runs_view import RunsView
    view = RunsView(session)
    qtbot.addWidget(view)
    view.resize(1280, 800)
    view.show()
    qtbot.waitExposed(view)
    long = tuple(f"train.epochs: beats training from scratch on {n} images per class, reason {n}" for n in range(8))
    path = "/".join(f"a-rather-long-folder-{n}" for n in range(8)) + "/weights-reason-7.safetensors"
    view.set_runs([_run("a", long, path), _run("b", ())])
    view.select_names(["a", "b"])
    d = view.diff
    assert d.columnCount() == 3
    qtbot.waitUntil(lambda: d.columnViewportPosition(2) >= 0)
    assert d.columnViewportPosition(2) < d.viewport().width()           # the second run's column is on screen
    keys = [d.item(r, 0).text() for r in range(d.rowCount())]
    assert "reasons" not in keys                     # they explain values; the values' own rows differ
    row = keys.index("model.weights")
    rows_hist = [{"epoch": e, "train_loss": 1.0, "valid_loss": 1.2, "accuracy": 0.5} for e in range(3)]
    from workbench.gui.views.results_view import draw_history
    draw_history(view.loss_plot, view.acc_plot, [("a-very-long-run-name-20261206-053012", rows_hist),
                                                 ("a-very-long-run-name-20261206-061544", rows_hist)])
    qtbot.wait(10)
    for plot in (view.loss_plot, view.acc_plot):     # long run names in the legend never widen the plot
        assert plot.getPlotItem().sceneBoundingRect().width() <= plot.viewport().width() * 1.03
    col = [d.horizontalHeaderItem(c).text() for c in range(d.columnCount())].index("a")
    assert d.item(row, col).toolTip() == path                           # the whole value in the tooltip


def test_results_say_which_loss_and_use_the_train_pages_colours(qtbot, session):
    import pyqtgraph as pg
    from workbench.gui.views.plots import TRAIN_COLOUR, VALID_COLOUR
    from workbench.gui.views.results_view import ResultsView
    from workbench.gui.views.train_view import TrainView
    rv, tv = ResultsView(), TrainView(session)
    for w in (rv, tv):
        qtbot.addWidget(w)
        w.resize(1100, 700)
        w.show()
    rows = [{"epoch": e, "train_loss": 1.0 - 0.1 * e, "valid_loss": 0.9 - 0.05 * e, "accuracy": 0.5 + 0.1 * e}
            for e in range(4)]
    rv.set_history([("run", rows)])
    rv.set_loss_kind(0.1)
    assert "plain cross-entropy" in rv.names["valid_loss"].text()
    assert "label-smoothed, as trained" in rv.loss_plot.getPlotItem().titleLabel.text
    assert "label smoothing 0.1" in rv.loss_plot.toolTip()
    assert "stays above the plain cross-entropy" in rv.loss_plot.toolTip()
    rv.set_loss_kind(0.0)
    assert "as in the headline" in rv.loss_plot.getPlotItem().titleLabel.text

    def colour(plot, name):
        item = next(i for i in plot.getPlotItem().listDataItems() if i.name() == name)
        return item.opts["pen"].color().name()
    assert colour(rv.loss_plot, "valid") == colour(tv.loss_plot, "valid") == VALID_COLOUR
    assert colour(rv.loss_plot, "train") == colour(tv.loss_plot, "train (smoothed)") == TRAIN_COLOUR
    qtbot.wait(10)
    for plot in (rv.loss_plot, rv.acc_plot, tv.loss_plot, tv.metric_plot, tv.lr_plot):
        item = plot.getPlotItem()
        legend = item.legend
        assert isinstance(legend, pg.LegendItem)
        assert not legend.sceneBoundingRect().intersects(item.vb.sceneBoundingRect())


def test_the_open_datasets_runs_come_first_and_the_others_are_greyed(qtbot, tmp_path):
    from types import SimpleNamespace
    from workbench.config import RunConfig
    from workbench.gui.run_list import OTHER
    win = main_window(qtbot)
    mine, other = tmp_path / "birds", tmp_path / "cars"
    mine.mkdir()
    other.mkdir()
    win.session.set_config(win.session.config.set("data.path", str(mine)))
    runs = [SimpleNamespace(name=n, run_dir=tmp_path / n, status="completed", config=RunConfig().set("data.path", str(p)))
            for n, p in (("cars-3", other), ("birds-2", mine), ("cars-1", other), ("birds-0", mine))]   # newest first
    win.runs.fill(runs)
    assert [win.runs.item(i).text() for i in range(4)] == ["birds-2", "birds-0", "cars-3", "cars-1"]
    assert win.runs.item(2).foreground().color() == OTHER and win.runs.item(0).foreground().color() != OTHER
    assert f"dataset: {other} (not the open dataset)" in win.runs.item(2).toolTip()
    assert f"dataset: {mine}\n" in win.runs.item(0).toolTip()


def test_sidebar_runs_show_a_summary_line_under_the_name(qtbot, tmp_path):
    """Runs started the same day share "dataset-YYYYmmdd-": a second, dim line (accuracy, epochs, status)
    tells them apart, drawn inside the row (two lines tall) and cut at the end, never over the next row."""
    import json
    from run_folders import make_run
    from workbench.gui.run_list import SUMMARY_ROLE
    from workbench.run.runs import list_runs
    win = main_window(qtbot)
    a = make_run(tmp_path / "runs", "photos-20261206-101500", 0.913)
    (a / "metrics.json").write_text(json.dumps({"status": "completed", "valid_accuracy": 0.913, "epochs_done": 10,
                                                "epochs": 10}))
    b = make_run(tmp_path / "runs", "photos-20261206-101900", 0.725)
    (b / "metrics.json").write_text(json.dumps({"status": "cancelled", "valid_accuracy": 0.725, "epochs_done": 3,
                                                "epochs": 8}))
    win.runs.fill(list_runs(tmp_path / "runs"))
    rows = {win.runs.item(i).text(): win.runs.item(i) for i in range(win.runs.count())}
    assert rows[a.name].data(SUMMARY_ROLE) == "acc 91.3% · 10/10 epochs"
    assert rows[b.name].data(SUMMARY_ROLE) == "acc 72.5% · 3/8 epochs · stopped"
    fm = win.runs.fontMetrics()
    height = win.runs.visualItemRect(rows[a.name]).height()
    assert height >= 2 * fm.height()        # room for both lines
