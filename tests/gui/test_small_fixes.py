"""Smaller fixes of the app: one status text at a time, sensible Save / Load folders with feedback,
a wrapped schedule caption, readable gallery captions, the TTA numbers with their count and
uncertainty, a clear missing-image message, a visible focus ring."""
from __future__ import annotations

from gui_helpers import main_window


def test_a_note_at_start_replaces_the_state_instead_of_being_drawn_over_it(qtbot):
    win = main_window(qtbot)
    win.flash("Opened the built-in demo dataset.", 60_000)      # as create_window does, before show()
    win.show()
    qtbot.waitExposed(win)
    assert win.statusBar().currentMessage() == ""               # no second text over the state label
    assert win.state_label.isVisible() and win.state_label.text() == "Opened the built-in demo dataset."
    win.flash("")
    assert win.state_label.text().startswith("ready")
