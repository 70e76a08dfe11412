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
