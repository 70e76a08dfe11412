"""Text is not cut where there is room: at the default window size (1280x800, the app's look) the
Results per-class table shows whole class names of nette-mini's length."""
from __future__ import annotations

from gui_helpers import window_on_page

NAMES = ["cassette_player", "chain_saw", "church", "english_springer", "french_horn", "garbage_truck", "gas_pump",
         "golf_ball", "parachute", "tench"]


def test_per_class_names_whole_at_the_default_size(qtbot, app_look):
    win = window_on_page(qtbot, "results")
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


def _whole_in(qtbot, win, label):
    """The label shows its whole text: wrapped within its width, its height holds every line, and it
    ends inside the window."""
    from PySide6.QtCore import QRect, Qt
    def fits() -> bool:
        w = label.contentsRect().width()
        need = label.fontMetrics().boundingRect(QRect(0, 0, w, 10_000), Qt.TextFlag.TextWordWrap, label.text())
        right = label.mapTo(win, label.rect().topRight()).x()
        return label.isVisible() and need.height() <= label.contentsRect().height() and right <= win.width()
    qtbot.waitUntil(fits)


def test_quarantine_notice_and_audit_cost_are_whole(qtbot, app_look):
    from workbench.gui.views.result_texts import action_notice
    win = window_on_page(qtbot, "results")
    page = win.page("results")
    text = action_notice("quarantine", ["/d/valid/tench/n01440764_10026.JPEG"], "", {"/d/valid/tench/n01440764_10026.JPEG"})
    page.notice.setText(text)
    assert page.notice.wordWrap() and "the next run validates on a different set" in text
    _whole_in(qtbot, win, page.notice)
    win.show_page("data")
    audit = win.data_view.audit
    win.data_view.tabs.setCurrentWidget(audit)
    audit._estimated(324.0)
    assert "\n(a time budget does not apply to folds)" in audit.eta.text()
    _whole_in(qtbot, win, audit.eta)
    assert win.width() <= 1280
