"""The recipe's options form, generated from RunConfig field metadata (workbench.config.iter_fields).

Every option gets a label, a tooltip (what it does, its default, its range) and an editor checked
against the range: spin boxes with min/max, a combo for choices, a check box for bools. Options are
grouped by section; "advanced" options sit in a collapsed box per section.
"""
from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Signal
from PySide6.QtGui import QKeySequence, QValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget)

from ...config import RunConfig, iter_fields
from ..widgets.common import Collapsible

SECTIONS = ("data", "augment", "model", "train", "tricks", "tta", "lr_find", "export")
SECTION_TITLES = {"": "Run", "data": "Data", "augment": "Augmentation", "model": "Model", "train": "Training",
                  "tricks": "Tricks", "tta": "Test-time augmentation", "lr_find": "LR finder",
                  "export": "Export"}
HIDDEN = {"schema_version", "data.path", "reasons"}
INT_MAX = 2**31 - 1


class _RangeNote:
    """Spin box part: typed text outside the range is reported (``outOfRange(text)``) before Qt
    reverts it to the last valid value, so the form can say why the value did not change."""

    def fixup(self, text: str) -> str:  # called by Qt with text that is not acceptable
        t = text.strip()
        try:
            v = float(t)
        except ValueError:
            return text
        if not self.minimum() <= v <= self.maximum():
            self.outOfRange.emit(t)
        return text


class IntSpinBox(_RangeNote, QSpinBox):
    outOfRange = Signal(str)


class SciSpinBox(_RangeNote, QDoubleSpinBox):
    """Float spin box showing compact values (2e-3, 1e+05); log-scale steps for wide ranges."""
    outOfRange = Signal(str)

    def __init__(self, lo: float, hi: float, parent=None) -> None:
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(lo, hi)
        self.log_steps = lo > 0 and hi / lo >= 1e3
        self.setSingleStep(0.05 if hi <= 1 else (1.0 if hi <= 1000 else 10.0))

    def textFromValue(self, value: float) -> str:
        return f"{value:.4g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        t = text.strip()
        if not t:
            return QValidator.State.Intermediate, text, pos
        try:
            v = float(t)
        except ValueError:
            partial = t.endswith(("e", "e-", "e+", "-", ".", "+"))
            return (QValidator.State.Intermediate if partial else QValidator.State.Invalid), text, pos
        ok = self.minimum() <= v <= self.maximum()
        return (QValidator.State.Acceptable if ok else QValidator.State.Intermediate), text, pos

    def stepBy(self, steps: int) -> None:
        if self.log_steps:
            v = self.value() * (10 ** (0.1 * steps))
            self.setValue(min(self.maximum(), max(self.minimum(), float(f"{v:.3g}"))))
        else:
            super().stepBy(steps)


def tooltip(key: str, meta: dict, default: Any) -> str:
    parts = [f"<b>{meta.get('label', key)}</b> <code>{key}</code><br>{meta.get('help', '')}",
             f"Default: <code>{_fmt(default)}</code>"]
    if meta.get("min") is not None or meta.get("max") is not None:
        parts.append(f"Range: {_fmt(meta.get('min'))} .. {_fmt(meta.get('max'))}")
    if meta.get("choices"):
        parts.append("Choices: " + ", ".join(map(str, meta["choices"])))
    return "<br>".join(parts)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, tuple):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class OptionsForm(QWidget):
    """Editors for every option; emits ``changed(key, value)`` when the user edits one."""

    changed = Signal(str, object)
    rejected = Signal(str, str)   # key, one sentence: a typed value outside the option's range

    def __init__(self, config: RunConfig | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editors: dict[str, QWidget] = {}
        self.labels: dict[str, str] = {}      # key -> the label the form shows beside its editor
        self.kinds: dict[str, type] = {}
        self.advanced: dict[str, Collapsible] = {}
        self.groups: dict[str, QGroupBox] = {}
        defaults = RunConfig()
        lay = QVBoxLayout(self)
        lay.setSpacing(10)
        forms: dict[str, tuple[QFormLayout, QFormLayout, QWidget]] = {}
        for key, f, value in iter_fields(defaults):
            if key in HIDDEN:
                continue
            section = key.split(".")[0] if "." in key else ""
            if section not in forms:
                box = QGroupBox(SECTION_TITLES.get(section, section))
                self.groups[section] = box
                v = QVBoxLayout(box)
                main, adv_body = QFormLayout(), QWidget()
                adv = QFormLayout(adv_body)
                for fl in (main, adv):
                    fl.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
                v.addLayout(main)
                coll = Collapsible("Advanced", adv_body, expanded=False)
                self.advanced[section] = coll
                v.addWidget(coll)
                forms[section] = (main, adv, coll)
                lay.addWidget(box)
            main, adv, _ = forms[section]
            meta = dict(f.metadata)
            editor = self._make_editor(key, meta, value)
            tip = tooltip(key, meta, value)
            editor.setToolTip(tip)
            label = QLabel(meta.get("label", key))
            self.labels[key] = label.text()
            label.setToolTip(tip)
            label.setBuddy(editor)
            (adv if meta.get("advanced") else main).addRow(label, editor)
            self.editors[key] = editor
            self.kinds[key] = type(value)
        for section, (_, adv, coll) in forms.items():
            coll.setVisible(adv.rowCount() > 0)
        lay.addStretch(1)
        if config is not None:
            self.set_config(config)

    def label_of(self, key: str) -> str:
        """What the form calls option ``key`` (its section added where another option has the same
        label); the key itself for an option the form does not show."""
        text = self.labels.get(key)
        if text is None:
            return key
        if sum(t == text for t in self.labels.values()) > 1:
            section = key.split(".")[0] if "." in key else ""
            text += f" ({SECTION_TITLES.get(section, section)})"
        return text

    def _make_editor(self, key: str, meta: dict, value: Any) -> QWidget:
        lo, hi = meta.get("min"), meta.get("max")
        if isinstance(value, bool):
            w = QCheckBox()
            w.toggled.connect(lambda on, k=key: self.changed.emit(k, bool(on)))
        elif meta.get("choices"):
            w = QComboBox()
            w.addItems([str(c) for c in meta["choices"]])
            w.currentTextChanged.connect(lambda t, k=key: self.changed.emit(k, t))
        elif isinstance(value, int):
            w = IntSpinBox()
            w.setRange(int(lo) if lo is not None else 0, int(min(hi, INT_MAX)) if hi is not None else INT_MAX)
            w.setKeyboardTracking(False)
            w.setGroupSeparatorShown(value >= 10_000)
            w.valueChanged.connect(lambda v, k=key: self.changed.emit(k, int(v)))
        elif isinstance(value, float):
            w = SciSpinBox(lo if lo is not None else -1e12, hi if hi is not None else 1e12)
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda v, k=key: self.changed.emit(k, float(v)))
        else:  # str and tuples: free text, checked when applied
            w = QLineEdit()
            w.setClearButtonEnabled(True)
            if isinstance(value, tuple):
                w.setPlaceholderText("comma-separated values")
            w.editingFinished.connect(lambda k=key, e=w: self._text_done(k, e))
        if hasattr(w, "outOfRange"):
            w.outOfRange.connect(lambda text, k=key, e=w, m=meta: self.rejected.emit(
                k, f"{m.get('label', k)} ({k}): {text} is outside {_fmt(m.get('min'))} .. {_fmt(m.get('max'))}; "
                   f"kept {e.textFromValue(e.value())}"))
        w.setObjectName(key)
        if isinstance(w, (QLineEdit, QSpinBox, QDoubleSpinBox)):
            w.installEventFilter(self)   # a spin box takes the focus and the keys of its line edit
        return w

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        """Ctrl+Z in a field with no typing of its own to undo passes on (to the page's Undo of the last
        recipe change) instead of doing nothing: after a value was typed and Tab pressed, the next field
        has focus and an empty undo history of its own."""
        text = obj.lineEdit() if isinstance(obj, (QSpinBox, QDoubleSpinBox)) else obj
        if ev.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and isinstance(text, QLineEdit) \
                and ev.matches(QKeySequence.StandardKey.Undo) and not text.isUndoAvailable():
            ev.ignore()   # not the field's: the shortcut fires, or the key goes on to the page
            return True
        return super().eventFilter(obj, ev)

    def _text_done(self, key: str, editor: QLineEdit) -> None:
        text = editor.text().strip()
        if self.kinds[key] is tuple:
            self.changed.emit(key, tuple(t.strip() for t in text.split(",") if t.strip()))
        else:
            self.changed.emit(key, text)

    def set_config(self, cfg: RunConfig) -> None:
        """Show ``cfg`` without emitting ``changed`` (no loops)."""
        for key, _, value in iter_fields(cfg):
            w = self.editors.get(key)
            if w is None:
                continue
            blocker = QSignalBlocker(w)
            if isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QComboBox):
                w.setCurrentText(str(value))
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                if isinstance(value, float) and not math.isfinite(value):
                    continue
                w.setValue(value)
            elif isinstance(w, QLineEdit):
                text = ", ".join(_fmt(v) for v in value) if isinstance(value, tuple) else str(value)
                if w.text() != text:
                    w.setText(text)
            del blocker

    def mark_problems(self, problems: list[str]) -> None:
        """Highlight editors whose key a validate() problem names."""
        bad = {}
        for p in problems:
            bad.setdefault(p.split(" ", 1)[0].rstrip(":"), p)
        for key, w in self.editors.items():
            w.setProperty("invalid", key in bad)
            base = w.property("base_tip")
            if base is None:
                base = w.toolTip()
                w.setProperty("base_tip", base)
            w.setToolTip(f"{bad[key]}\n\n{base}" if key in bad else base)  # the sentence at the field
            w.style().unpolish(w)
            w.style().polish(w)
