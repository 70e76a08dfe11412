"""Shared small widgets and helpers: icons from workbench/resources, page headers, collapsible boxes,
splitter panes, an image drop area."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPointF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QIcon, QKeySequence, QPainter, QPalette, QShortcut, QWheelEvent
from PySide6.QtWidgets import (QAbstractButton, QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QHBoxLayout,
                               QLabel, QLayout, QSizePolicy, QSplitter, QToolButton, QVBoxLayout, QWidget)

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def counted(n: int, word: str) -> str:
    """"1 note", "2 notes", "0 notes": a count and its noun in the right number."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def resource(name: str) -> Path:
    return RESOURCES / name


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """Icon ``workbench/resources/icons/<name>.svg`` (an empty icon if it does not exist)."""
    path = RESOURCES / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def set_icon(button: QAbstractButton, name: str) -> None:
    button.setIcon(icon(name))


class _WheelGuard(QObject):
    """Event filter: a spin box or combo box in a scrolling form never takes the mouse wheel (the form
    scrolls, also when a field has focus after Tab: tabbing on and then scrolling must not edit the
    field the pointer happens to be over); outside a scrolling form it takes the wheel only with
    keyboard focus."""

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802
        if ev.type() != QEvent.Type.Wheel or not isinstance(obj, QWidget):
            return False
        area = obj.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is None:
            if obj.hasFocus():
                return False
            ev.ignore()          # not accepted: QApplication hands the wheel to the parent widgets
            return True
        vp = area.viewport()     # the enclosing scroll area scrolls, as if the pointer were over it
        pos = QPointF(vp.mapFromGlobal(ev.globalPosition().toPoint()))
        QApplication.sendEvent(vp, QWheelEvent(pos, ev.globalPosition(), ev.pixelDelta(), ev.angleDelta(),
                                               ev.buttons(), ev.modifiers(), ev.phase(), ev.inverted()))
        ev.accept()
        return True              # the editor itself never sees it


def _wheel_guard() -> _WheelGuard:
    app = QApplication.instance()
    guard = app.findChild(_WheelGuard, "wheel_guard") if app is not None else None
    if guard is None:
        guard = _WheelGuard(app)
        guard.setObjectName("wheel_guard")
    return guard


def guard_wheel(root: QWidget) -> None:
    """No spin box or combo box in ``root`` (nor ``root`` itself) edits a value by the mouse wheel inside
    a scrolling form: scrolling over the value column scrolls the form, focus or not (typing, the
    arrow keys and the spin buttons edit). Outside a scrolling form one takes the wheel only when it
    has focus, the common Qt convention. Focus by click or Tab only (Qt.StrongFocus)."""
    guard = _wheel_guard()
    widgets = [root, *root.findChildren(QAbstractSpinBox), *root.findChildren(QComboBox)]
    for w in widgets:
        if isinstance(w, (QAbstractSpinBox, QComboBox)) and not w.property("wheel_guarded"):
            w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            w.installEventFilter(guard)
            w.setProperty("wheel_guarded", True)


def key_shortcut(widget: QWidget, keys, what: str, slot,
                 context: Qt.ShortcutContext = Qt.ShortcutContext.WidgetShortcut) -> QShortcut:
    """A key of a page or list as a QShortcut on ``widget`` (by default only while it has focus) whose
    whatsThis says what it does: Help > Keyboard shortcuts lists these objects, so the list cannot
    drift from the keys. ``keys``: key sequences or QKeySequence.StandardKey values."""
    sc = QShortcut(widget)
    sc.setKeys([QKeySequence(k) for k in keys])
    sc.setContext(context)
    sc.setWhatsThis(what)
    sc.activated.connect(slot)
    return sc


def page_header(title: str, subtitle: str = "") -> QWidget:
    """A bold page title with a dim one-line explanation under it."""
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(0)
    t = QLabel(title)
    t.setObjectName("pageTitle")
    lay.addWidget(t)
    if subtitle:
        s = QLabel(subtitle)
        s.setObjectName("dim")
        s.setWordWrap(True)
        lay.addWidget(s)
    return w


class Collapsible(QWidget):
    """A header button that shows / hides a body widget (used for "advanced" options)."""

    def __init__(self, title: str, body: QWidget, expanded: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.button = QToolButton()
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setChecked(expanded)
        self.button.setObjectName("collapsible")
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.toggled.connect(self.set_expanded)
        self.body = body
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.button)
        lay.addWidget(body)
        self.set_expanded(expanded)

    def set_expanded(self, on: bool) -> None:
        self.button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)

    @property
    def expanded(self) -> bool:
        return self.button.isChecked()


def pane(*items, horizontal: bool = False) -> QWidget:
    """A margin-less container (a splitter pane) stacking ``items`` top to bottom, or left to right
    with ``horizontal``. An item is a widget, a layout, or (widget, stretch)."""
    w = QWidget()
    lay = QHBoxLayout(w) if horizontal else QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    for item in items:
        widget, stretch = item if isinstance(item, tuple) else (item, 0)
        if isinstance(widget, QLayout):
            lay.addLayout(widget, stretch)
        else:
            lay.addWidget(widget, stretch)
    return w


def splitter(orientation: Qt.Orientation, first: QWidget, second: QWidget, stretch: tuple = (0, 0),
             sizes: list | None = None, name: str = "") -> QSplitter:
    """Two widgets in a splitter with stretch factors, optional initial sizes and an object name
    (a named splitter's state is saved with the window layout)."""
    sp = QSplitter(orientation)
    if name:
        sp.setObjectName(name)
    sp.addWidget(first)
    sp.addWidget(second)
    for i, factor in enumerate(stretch):
        if factor:
            sp.setStretchFactor(i, factor)
    if sizes:
        sp.setSizes(sizes)
    return sp


class DropLabel(QLabel):
    """A picture area that accepts dropped image files."""

    def __init__(self, on_drop, parent: QWidget | None = None) -> None:
        super().__init__("Drop an image here\nor use “Pick image…”", parent)
        self.on_drop = on_drop
        self.setAcceptDrops(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(220, 220)
        self.setStyleSheet("QLabel { border: 2px dashed #9aa4b2; border-radius: 6px; color: #5b6472; }")

    def dragEnterEvent(self, ev) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.on_drop(urls[0])


def fit_columns(table, caps: dict | None = None, pad: int = 16) -> None:
    """Each column of a QTableWidget as wide as its widest cell and its title (measured with the
    font, bold cells in bold: fast over thousands of rows, unlike Qt's per-row ResizeToContents);
    ``caps``: {column: most pixels} (a longer text there is elided as the table says)."""
    table.ensurePolished()   # the style sheet's font, which the table draws with (not the app's default)
    bold = QFont(table.font())
    bold.setBold(True)
    fms = (QFontMetrics(table.font()), QFontMetrics(bold))
    for j in range(table.columnCount()):
        head = table.horizontalHeaderItem(j)
        width = fms[1].horizontalAdvance(head.text() if head else "") + pad + 8  # room for the sort arrow
        for i in range(table.rowCount()):
            item = table.item(i, j)
            if item is not None:
                width = max(width, fms[item.font().bold()].horizontalAdvance(item.text()) + pad)
        table.setColumnWidth(j, min(width, (caps or {}).get(j, width)))


class WrappedLabel(QLabel):
    """A status text that wraps onto more lines instead of being cut or widening the window (plain
    text; the tooltip repeats it)."""

    def __init__(self, text: str = "", parent: QWidget | None = None, placeholder: str = "") -> None:
        super().__init__(parent)
        self.placeholder = placeholder   # drawn greyed and wrapped while there is no text (``text()`` stays "")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, event) -> None:  # noqa: N802
        if self.text() or not self.placeholder:
            return super().paintEvent(event)
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText))
        painter.drawText(self.contentsRect(), int(self.alignment() | Qt.TextFlag.TextWordWrap), self.placeholder)


class ElidedLabel(QLabel):
    """A one-line status text drawn cut with "…" to the width it gets (``text()`` stays whole, and
    the tooltip shows it): its minimum width never depends on the message, so a long message cannot
    widen the window."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self.setToolTip(text if self.fontMetrics().horizontalAdvance(text) > self.width() else "")

    def shown_text(self) -> str:
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle, max(20, self.width()))

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(20, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(100, super().sizeHint().height())

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect = self.contentsRect()
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), self.shown_text())
