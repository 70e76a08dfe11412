"""LR finder page: fastai-like plot (no diverged tail, y from the smoothed curve and the lowest raw loss,
decade ticks), the
suggestions wait for the user, an unusable curve is named, and clicks on an empty plot do nothing."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from gui_helpers import wait_checked
from workbench.runtime.events import LRFindStep
from workbench.train.lr_find import LRFindResult, curve_problem, plot_window, suggest


def _result(lrs, smooth, raw=None, best="valley") -> LRFindResult:
    lrs, smooth = np.asarray(lrs, float), np.asarray(smooth, float)
    return LRFindResult(lrs, np.asarray(raw if raw is not None else smooth, float), smooth,
                        suggest(lrs, smooth), best, stopped_early=True)


def _diverging():
    """100 steps, 1e-7 .. 10: flat, a valley, then divergence to 4x the best; one raw spike to 220
    and one easy batch far below the smoothed curve."""
    lrs = 1e-7 * (1e8) ** (np.arange(100) / 99)
    x = np.log10(lrs)
    smooth = 0.70 - 0.25 / (1 + np.exp(-(x + 3.5) * 3)) + np.where(x > -1.5, (x + 1.5) ** 2 * 1.2, 0)
    raw = smooth + 0.02 * np.sin(np.arange(100))
    raw[60] = 220.0
    raw[40] = 0.05
    return lrs, smooth, raw


@pytest.fixture
def view(qtbot, session):
    from workbench.gui.views.lr_find_view import LRFindView
    v = LRFindView(session)
    qtbot.addWidget(v)
    v.resize(900, 500)
    v.show()
    qtbot.waitExposed(v)
    return v


def test_result_drops_the_tail_scales_to_the_smoothed_curve_and_waits_for_a_pick(view, session, qtbot):
    lrs, smooth, raw = _diverging()
    res = _result(lrs, smooth, raw)
    before = session.config.train.lr
    view.show_result(res)
    first, end = plot_window(len(lrs), smooth_losses=smooth)
    assert first == 10 and np.log10(lrs[end - 1]) < -1.0  # the climb to 4x the best (past 1e-1) is dropped
    assert view.plot.points("smoothed loss") == end - first
    lo, hi = view.plot.getPlotItem().vb.viewRange()[1]
    assert lo <= raw[first:end].min() and hi >= smooth[first:end].max()   # the easy batch is not cut off
    assert hi < 2 * smooth[first:end].max()              # the raw spike to 220 does not fill the plot
    assert session.config.train.lr == before              # not overwritten by itself
    assert view.suggestions.count() == 4 and "Pick a suggestion" in view.status.text()
    # keyboard: the default suggestion is selected; Enter applies it
    assert view.suggestions.currentItem().text().startswith("valley")
    view.suggestions.setFocus()
    qtbot.keyClick(view.suggestions, Qt.Key.Key_Return)
    assert session.config.train.lr == pytest.approx(float(f"{res.suggestions['valley']:.3g}"))


def test_apply_automatically_setting(view, session):
    lrs, smooth, raw = _diverging()
    res = _result(lrs, smooth, raw)
    view.auto_apply.setChecked(True)
    view.show_result(res)
    assert session.config.train.lr == pytest.approx(float(f"{res.suggestions['valley']:.3g}"))


def test_decade_tick_labels(view):
    from workbench.gui.views.lr_find_view import decade_ticks
    major, minor = decade_ticks(-5, -1)
    assert [t for _, t in major] == ["1e-5", "1e-4", "1e-3", "1e-2", "1e-1"]
    assert all(t == "" for _, t in minor)
    axis = view.plot.getPlotItem().getAxis("bottom")
    assert not view.plot.getPlotItem().ctrl.logXCheck.isChecked()   # no pyqtgraph log mode ("10^2 (x1e-09)")
    assert axis._tickLevels is not None and ("-3.0" not in str(axis._tickLevels[0][:1]))


def test_flat_curve_is_called_unusable(view, session):
    lrs = 1e-7 * (1e8) ** (np.arange(100) / 99)
    smooth = 0.6931 + 0.0005 * np.log10(lrs / 1e-7) ** 2      # never falls: lowest point at the start
    res = _result(lrs, smooth)
    assert res.suggestions["minimum"] < lrs[0]
    assert "no usable rate" in curve_problem(res)
    view.auto_apply.setChecked(True)
    before = session.config.train.lr
    view.show_result(res)
    assert "no usable rate" in view.status.text() and session.config.train.lr == before
    lrs, smooth, raw = _diverging()
    assert curve_problem(_result(lrs, smooth, raw)) == ""


def test_click_on_the_empty_plot_sets_nothing(view, session, qtbot):
    before = session.config.train.lr
    vb = view.plot.getPlotItem().vb
    qtbot.wait(1)
    pt = view.plot.mapFromScene(vb.mapViewToScene(vb.viewRect().center()))
    qtbot.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, pos=pt)
    assert session.config.train.lr == before
    for i, lr in enumerate(np.logspace(-6, 0, 30)):
        view.add_step(LRFindStep(i, 30, float(lr), 2.0 - i / 30, 2.0 - i / 30))
    view.plot.redraw()
    vb.setRange(xRange=(-6, 0), yRange=(1, 2), padding=0)
    qtbot.wait(1)
    pt = view.plot.mapFromScene(vb.mapViewToScene(QPointF(-4.0, 1.5)))
    qtbot.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, pos=pt)
    assert session.config.train.lr == pytest.approx(1e-4, rel=0.05)


def test_recipe_warns_for_an_lr_outside_the_usual_range(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    assert any("train.lr" in w for w in session.config.set("train.lr", 2.99).warnings())
    assert not any("train.lr" in w for w in session.config.warnings())
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_option("train.lr", 2.99)
    wait_checked(qtbot, session)
    assert "train.lr" in view.problems_label.text() and view.problems_label.isVisibleTo(view)
    session.set_option("train.lr", 1e-3)
    wait_checked(qtbot, session)
    assert "train.lr" not in view.problems_label.text()
    assert math.isclose(session.config.train.lr, 1e-3)


def test_live_curve_stays_inside_the_y_range(view):
    lo_seen = []
    for i, lr in enumerate(np.logspace(-7, -5, 12)):
        y = 2.0 - 0.01 * i * i                     # keeps falling below the first points' range
        view.add_step(LRFindStep(i, 100, float(lr), y, y))
        lo_seen.append(y)
    lo, hi = view.plot.getPlotItem().vb.viewRange()[1]
    assert lo <= min(lo_seen) and hi >= max(lo_seen)


def test_the_suggestion_selected_is_the_rate_the_recipe_took_from_it(view, session):
    """A test shown again (another dataset and back) selects the suggestion the recipe's rate was picked
    from, not the default one."""
    lrs, smooth, raw = _diverging()
    res = _result(lrs, smooth, raw)
    session.set_option("train.lr", float(f"{res.suggestions['steep']:.3g}"))
    view.show_result(res, apply=False)
    assert view.suggestions.currentItem().text().startswith("steep")
    session.set_option("train.lr", 0.123)                  # a rate of no suggestion: the default
    view.show_result(res, apply=False)
    assert view.suggestions.currentItem().text().startswith("valley")
