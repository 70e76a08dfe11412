"""Helpers shared by GUI tests."""
from __future__ import annotations


def wait_checked(qtbot, session, timeout: int = 30_000) -> None:
    """Wait for the session's check of the current recipe and dataset (made off the GUI thread after
    each change; the Recipe page shows its problems and warnings when it arrives)."""
    def done() -> bool:
        c = session.checked
        return c is not None and c.config == session.config and c.dataset is session.dataset
    qtbot.waitUntil(done, timeout=timeout)


def open_run_pages(session, qtbot, run_dir):
    """The run pages (make_pages) with ``run_dir`` opened and its Results loaded."""
    from workbench.gui.run_pages import make_pages
    session.set_config(session.config.set("runs_dir", str(run_dir.parent)))
    pages = make_pages(session)
    for w in pages.values():
        qtbot.addWidget(w)
    with qtbot.waitSignal(pages["Results"].runLoaded, timeout=60_000):
        session.open_run(str(run_dir))
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    return pages


def main_window(qtbot):
    """A MainWindow, closed with the test."""
    from workbench.gui.main_window import MainWindow
    win = MainWindow()
    qtbot.addWidget(win)
    return win


def window_on_page(qtbot, page: str, size=(1280, 800)):
    """A MainWindow shown at ``size`` (the default window) on ``page``, exposed."""
    win = main_window(qtbot)
    win.resize(*size)
    win.show()
    win.show_page(page)
    qtbot.waitExposed(win)
    return win


def open_shortcuts_with_f1(qtbot):
    """A shown, active MainWindow and the shortcuts dialog its F1 opened: (window, dialog)."""
    from PySide6.QtCore import Qt
    from workbench.gui.help import ShortcutsDialog
    win = main_window(qtbot)
    win.show()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    qtbot.keyClick(win, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: isinstance(getattr(win, "help_dialog", None), ShortcutsDialog)
                    and win.help_dialog.isVisible())
    return win, win.help_dialog
