"""Guard against Qt binding builds that corrupt reference counts (fatal in long GUI sessions)."""
import sys

from PySide6 import QtCore, QtGui


def test_painter_calls_keep_none_refcount(qapp):
    """PySide6 6.12.0 decremented None on every void QPainter call; on Python 3.11 the app aborted
    with 'deallocating None' after a few minutes of live plots. pyproject.toml excludes it."""
    img = QtGui.QImage(32, 32, QtGui.QImage.Format.Format_ARGB32)
    p = QtGui.QPainter(img)
    try:
        before = sys.getrefcount(None)
        for _ in range(500):
            p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
            p.save()
            p.restore()
            p.drawLine(QtCore.QPointF(0, 0), QtCore.QPointF(5, 5))
        lost = before - sys.getrefcount(None)
    finally:
        p.end()
    assert lost < 100, f"the Qt binding dropped {lost} references to None in 2000 painter calls"
