"""Results and Runs read right: whole class names, the banner's loss named, the runs table's names whole."""
from __future__ import annotations

NETTE = ["cassette_player", "chain_saw", "church", "english_springer", "french_horn", "garbage_truck", "gas_pump",
         "golf_ball", "parachute", "tench"]


def test_per_class_names_are_whole_in_a_narrow_results_page(qtbot):
    """The page at the width it has beside the sidebar on a 1400 px screen: the splitter gives the per-class
    table the room its longest name needs (measured from the names, not from the stretched column)."""
    from workbench.gui.views.results_view import ResultsView
    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    qtbot.waitExposed(view)
    view.set_report([{"class": c, "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 8} for c in NETTE])
    t = view.table
    fm = t.fontMetrics()
    need = max(fm.horizontalAdvance(c) for c in NETTE) + 8
    qtbot.waitUntil(lambda: t.columnWidth(0) >= need)
    right = t.columnViewportPosition(4) + t.columnWidth(4)
    assert right <= t.viewport().width()     # and the numbers stay whole beside them


def test_metric_curves_have_their_own_colours_not_the_loss_charts(qtbot):
    """Accuracy and top-5 on the Train page's Metrics chart never wear train / valid's blue and orange."""
    from PySide6.QtGui import QColor
    from workbench.gui.views.plots import TRAIN_COLOUR, VALID_COLOUR, LivePlot, append_epoch
    loss, metrics = LivePlot(fps=0), LivePlot(fps=0)
    qtbot.addWidget(loss)
    qtbot.addWidget(metrics)
    append_epoch(loss, metrics, 0, 0.9, {"accuracy": 0.7, "top_5_accuracy": 0.95})
    colours = {name: c.opts["pen"].color().name() for name, c in metrics.curves.items()}
    assert set(colours) == {"accuracy", "top_5_accuracy"}
    taken = {QColor(TRAIN_COLOUR).name(), QColor(VALID_COLOUR).name(), QColor("#10b981").name()}
    assert not set(colours.values()) & taken
    assert len(set(colours.values())) == 2
