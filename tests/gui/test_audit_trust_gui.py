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


def test_the_last_finished_audit_comes_back_when_its_dataset_opens(qtbot, session, tmp_path):
    """A finished audit is shown again after a restart or a dataset switch (its report.json), with its
    date; the audit of another dataset of the same folder name, or a stopped one, is not."""
    from types import SimpleNamespace
    from workbench.audit.labels import audit_dir, saved_report
    from workbench.gui.views.audit_view import AuditView
    from workbench.runtime.atomic import atomic_write_json
    root = tmp_path / "a" / "photos"
    result = audit_result(root, 0.95)
    result.data_path = str(root)
    session.set_config(session.config.set("data.path", str(root)).set("runs_dir", str(tmp_path / "runs")))
    report = audit_dir(session.config) / "report.json"
    report.parent.mkdir(parents=True)
    atomic_write_json(report, result.to_dict())
    view = AuditView(session)
    qtbot.addWidget(view)
    session.dataset_changed.emit(SimpleNamespace(root=str(root), items=[]))
    qtbot.waitUntil(lambda: bool(view.issues))
    assert len(view.issues) == len(result.label_issues) == view.gallery.model.rowCount()
    acc = result.to_dict()["oof_accuracy"]
    assert view.status.text().startswith("Audit of ") and f"out-of-fold accuracy {acc:.1%}" in view.status.text()
    assert view.tabs.tabText(0) == f"Label issues ({len(result.label_issues)})"
    # another dataset of the same folder name shares the audit folder: its report is not this one's
    other = tmp_path / "b" / "photos"
    other.mkdir(parents=True)
    session.set_config(session.config.set("data.path", str(other)))
    assert saved_report(session.config) is None
    session.dataset_changed.emit(SimpleNamespace(root=str(other), items=[]))
    got = []
    session.saved_audit(got.append)
    qtbot.waitUntil(lambda: bool(got))
    assert got == [None] and view.issues == [] and view.gallery.model.rowCount() == 0
    # a report without its dataset (written before reports named it) or of a stopped audit is not shown
    for d in ({**result.to_dict(), "data_path": ""}, {**result.to_dict(), "status": "cancelled"}):
        atomic_write_json(report, d)
        assert saved_report(session.config.set("data.path", str(root))) is None


def test_an_audit_that_finds_nothing_says_what_that_means(qtbot, session, tmp_path):
    from workbench.gui.views.audit_view import AuditView
    view = AuditView(session)
    qtbot.addWidget(view)
    clean = audit_result(tmp_path / "clean", 1.0)
    assert clean.label_issues == []
    view.show_result(clean)
    assert "0 suspected label issues" in view.status.text() and "nothing to fix here" in view.status.text()


def test_the_audit_folder_is_the_datasets_not_the_run_names(tmp_path):
    from workbench.audit.labels import audit_dir
    from workbench.config import RunConfig
    cfg = RunConfig().set("runs_dir", str(tmp_path / "runs")).set("data.path", str(tmp_path / "photos"))
    assert audit_dir(cfg) == audit_dir(cfg.set("name", "long-run")) == tmp_path / "runs" / "photos-audit"


def test_a_new_action_takes_the_last_undos_note_off_the_audit_line(qtbot, session, tmp_path):
    from workbench.gui.views.audit_view import AuditView
    view = AuditView(session)
    qtbot.addWidget(view)
    root = tmp_path / "data"
    view.changes.open_root(str(root))
    view.show_result(audit_result(root, 0.95))
    done = view.status.text()
    assert view.apply_action("relabel", [view.issues[0]["path"]], view.issues[0]["suggested"])
    assert view.changes.undo() and "Undone:" in view.status.text()
    assert view.apply_action("quarantine", [view.issues[1]["path"]], "")
    assert view.status.text() == done                      # not the undo's note any more
