"""GUI test fixtures: Qt warnings fail the test; a fresh Session per test; side tasks drained."""
from __future__ import annotations

import gc

import pytest
from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QFont

# Harmless messages of the offscreen platform plugin.
IGNORED = ("This plugin does not support", "propagateSizeHints", "QFont::setPointSize",
           "Populating font family aliases")


@pytest.fixture(autouse=True)
def collect_widgets_in_gui_thread(qapp):
    """After each test, delete closed widgets and collect reference cycles HERE, in the GUI thread.

    Otherwise Python's cyclic GC may run later inside a worker or pool thread and destroy a dead
    window there, leaving its timers registered with the GUI thread (a crash in activateTimers)."""
    yield
    from PySide6.QtCore import QCoreApplication, QEvent
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture(autouse=True)
def qt_warnings_fail():
    """Collect Qt warnings / criticals during the test and fail it if any appeared."""
    seen: list[str] = []

    def handler(kind, context, message):
        if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            if not any(s in message for s in IGNORED):
                seen.append(f"{kind.name}: {message}")

    old = qInstallMessageHandler(handler)
    yield seen
    qInstallMessageHandler(old)
    assert not seen, "Qt warnings:\n" + "\n".join(seen)


@pytest.fixture
def session(qapp):
    from workbench.gui.jobs import wait_side_tasks
    from workbench.gui.session import Session
    s = Session()
    yield s
    s.stop_all()
    wait_side_tasks()
    qapp.processEvents()
    s.deleteLater()


@pytest.fixture
def app_look(qapp):
    """The app's style sheet (``make_app``) on an application whose default font is 9 pt, as on a Linux
    desktop, where the style sheet draws 10 pt: text measured with the application font must fit."""
    from workbench.gui.app import make_app
    font, sheet = QFont(qapp.font()), qapp.styleSheet()
    nine = QFont(font)
    nine.setPointSize(9)
    qapp.setFont(nine)
    make_app()
    yield qapp
    qapp.setStyleSheet(sheet)
    qapp.setFont(font)
