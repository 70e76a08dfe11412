"""The Audit view says when the out-of-fold ranking is too weak to mean anything, before the suspects,
and disables Accept suggestion (button and A) for that audit."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from oof_data import audit_result

pytest.importorskip("cleanlab")


def test_low_accuracy_audit_warns_and_disables_accept(qtbot, session, tmp_path):
    from workbench.data import ChangeSet
    from workbench.gui.views.audit_view import AuditView
    view = AuditView(session)
    qtbot.addWidget(view)
    view.show()
    root = tmp_path / "data"
    weak = audit_result(root, 0.40)                       # 3 classes: chance 33 %, needs 67 %
    view.changes.open_root(str(root))
    view.show_result(weak)
    assert view.issues and view.warning.isVisible() and "too low for the ranking" in view.warning.text()
    assert view.layout().indexOf(view.warning) < view.layout().indexOf(view.tabs)   # said before the suspects
    assert not view.accept_btn.isEnabled() and "Disabled" in view.accept_btn.toolTip()
    g = view.gallery
    g.select_rows([0])
    g.list.setFocus()
    qtbot.keyClick(g.list, Qt.Key.Key_A)
    assert not view.accept_selected() and ChangeSet.load(root).entries == []
    view.show_result(audit_result(tmp_path / "data2", 0.95))   # a trustworthy audit enables it again
    assert not view.warning.isVisible() and not view.accept_btn.isEnabled()   # until a suspect is selected
    view.gallery.select_rows([0])
    assert view.accept_btn.isEnabled()
    view.gallery.list.clearSelection()
    assert not view.accept_btn.isEnabled()
