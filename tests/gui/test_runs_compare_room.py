"""The Runs page at the default window size (1280x800, the app's look): comparing two or three runs
shows every run's column of the differences, charts with whole titles and legends over all epochs,
and values that differ only late show where they differ."""
from __future__ import annotations

from types import SimpleNamespace

from gui_helpers import window_on_page

NAMES = ("one-20261206-084618", "two-20261206-090000", "three-20261206-093000")
COMMON = "/data/shared-weights/imagenet-backbones/fine-tuned-on-photos/reason 0/"


def _run(name, epochs, lr, last):
    from workbench.config import RunConfig
    cfg = (RunConfig().set("reasons", (f"train.lr: the learning rate finder suggested this value, {last}",))
           .set("model.weights", COMMON + last).set("train.epochs", epochs).set("train.lr", lr))
    hist = [{"epoch": e, "train_loss": 2 / e, "valid_loss": 2.2 / e + 0.1, "accuracy": 0.5 + e / (2 * epochs)}
            for e in range(1, epochs + 1)]
    return SimpleNamespace(run_dir=f"/tmp/{name}", name=name, config=cfg, classes=("x", "y"), history=hist,
                           metrics={}, status="completed", created=0.0, note="")


def _runs_page(qtbot):
    win = window_on_page(qtbot, "runs")
    view = win.page("runs")
    view.session.runs_listed.disconnect(view.set_runs)   # only these runs, not the runs folder's
    view.set_runs([_run(NAMES[0], 12, 0.001, "mild.safetensors"), _run(NAMES[1], 39, 0.003, "strong.safetensors"),
                   _run(NAMES[2], 20, 0.0003, "none.safetensors")])
    return win, view


def _fits(view, k):
    d = view.diff
    if d.columnCount() != 1 + k:
        return False
    last = d.columnViewportPosition(k)
    return 0 <= last and last + d.columnWidth(k) <= d.viewport().width() + 1


def test_every_run_column_and_whole_charts(qtbot, app_look):
    win, view = _runs_page(qtbot)
    for k in (2, 3):
        view.select_names(list(NAMES[:k]))
        qtbot.waitUntil(lambda: _fits(view, k))     # every selected run's column on screen, no sideways scroll
        d = view.diff
        assert not d.horizontalScrollBar().isVisible()
        for plot in (view.loss_plot, view.acc_plot):
            item = plot.getPlotItem()
            title = item.titleLabel.text
            # the whole title: its text is narrower than the plot
            assert plot.fontMetrics().horizontalAdvance(title) * 1.3 < plot.width()
            qtbot.waitUntil(lambda: item.getViewBox().viewRange()[0][1] >= max((12, 39, 20)[:k]))
            legend = item.legend.sceneBoundingRect()     # legend rows whole, inside the plot
            assert legend.left() >= 0 and legend.right() <= plot.viewport().width()
            assert legend.bottom() <= plot.viewport().height()
            assert plot.width() >= 300


def test_values_that_differ_late_show_where_they_differ(qtbot, app_look):
    win, view = _runs_page(qtbot)
    view.select_names(list(NAMES[:2]))
    qtbot.waitUntil(lambda: _fits(view, 2))
    d = view.diff
    keys = [d.item(r, 0).text() for r in range(d.rowCount())]
    assert "reasons" not in keys                              # they explain values: never a row
    row = keys.index("model.weights")
    shown = []
    for c in (1, 2):
        it = d.item(row, c)
        rect = d.visualItemRect(it)
        shown.append(d.fontMetrics().elidedText(it.text(), d.textElideMode(), rect.width() - 8))
        assert "reason 0" in it.toolTip()                     # the whole value in the tooltip
    assert shown[0] != shown[1]                                # the visible texts differ
    assert {"mild.safetensors", "strong.safetensors"} == {s.split("…")[-1] for s in shown}


def test_a_renamed_run_stays_selected_and_drawn(session, qtbot, tmp_path):
    from run_folders import make_run
    from workbench.gui.views.runs_view import RunsView
    runs = tmp_path / "runs"
    for name in ("a1", "a2"):
        d = make_run(runs, name, 0.6)
        (d / "history.csv").write_text("epoch,train_loss,valid_loss,accuracy\n"
                                       + "".join(f"{e},{1 - e / 10},{1.1 - e / 10},{0.5 + e / 10}\n" for e in range(4)))
    session.set_config(session.config.set("runs_dir", str(runs)))
    view = RunsView(session)
    qtbot.addWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: view.table.rowCount() == 2, timeout=10_000)
    view.select_names(["a1"])
    curves = lambda: [c for c in view.loss_plot.getPlotItem().listDataItems() if c.getData()[0] is not None and len(c.getData()[0])]  # noqa: E731
    assert curves()
    with qtbot.waitSignal(session.runs_listed, timeout=10_000):
        session.edit_run(str(runs / "a1"), "renamed")
    qtbot.waitUntil(lambda: [i.name for i in view.selected_infos()] == ["renamed"], timeout=10_000)
    assert curves()                                   # the renamed run's curves are drawn again


def test_the_reasons_of_a_suggestion_are_never_a_difference():
    """A suggestion's reasons explain the values it set; the values' own rows show what differs."""
    from workbench.config import RunConfig
    from workbench.gui.views.run_compare import config_differences
    a = RunConfig().set("reasons", ("tricks.mixup: too short [as set: tricks.mixup = 0.0; train.epochs = 5]",))
    c = RunConfig().set("reasons", ("tricks.mixup: long enough [as set: tricks.mixup = 0.4; train.epochs = 50]",)
                        ).set("tricks.mixup", 0.4)
    assert dict(config_differences([a, a.set("reasons", ())])) == {}
    assert list(dict(config_differences([a, c]))) == ["tricks.mixup"]
