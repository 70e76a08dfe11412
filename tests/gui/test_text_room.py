"""Text is not cut where there is room: at the default window size (1280x800, the app's look) the
Results per-class table shows whole class names of nette-mini's length."""
from __future__ import annotations

from gui_helpers import main_window

NAMES = ["cassette_player", "chain_saw", "church", "english_springer", "french_horn", "garbage_truck", "gas_pump",
         "golf_ball", "parachute", "tench"]


def test_per_class_names_whole_at_the_default_size(qtbot, app_look):
    win = main_window(qtbot)
    win.resize(1280, 800)
    win.show()
    win.show_page("results")
    qtbot.waitExposed(win)
    rv = win.page("results").summary
    rv.set_report([{"class": n, "precision": 0.8, "recall": 0.75, "f1": 0.77, "support": 10} for n in NAMES])
    t = rv.table
    fm = t.fontMetrics()

    def whole() -> bool:
        room = t.columnWidth(0) - 8     # the cell's margins
        return all(fm.elidedText(n, t.textElideMode(), room) == n for n in NAMES)
    qtbot.waitUntil(lambda: t.isVisible() and whole())
    assert not t.wordWrap()
    right = t.columnViewportPosition(4) + t.columnWidth(4)
    assert right <= t.viewport().width()          # and every number column is on screen
