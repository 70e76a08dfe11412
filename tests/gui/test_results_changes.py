"""Hard-example actions on the Results page: sidecar writes, undo, re-scan applies, files untouched."""
from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from synth import make_shapes_dataset
from workbench.config import RunConfig
from workbench.analysis.interpret import Predictions
from workbench.runtime.events import FitStarted


def digest(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.png"))}


def page_with_fake_run(session, qtbot, root: Path):
    """A ResultsPage showing made-up predictions of the valid images of ``root``."""
    from workbench.gui.views.results_page import ResultsPage
    classes = ("circle", "square", "triangle")
    paths = [str(p) for c in classes for p in sorted((root / "valid" / c).glob("*.png"))]
    targets = np.repeat(np.arange(3), len(paths) // 3)
    probs = np.full((len(paths), 3), 0.1, np.float32)
    probs[np.arange(len(paths)), (targets + 1) % 3] = 0.8     # every image wrong: all are hard examples
    p = Predictions.from_probs(paths, targets, probs, classes)
    cfg = RunConfig().set("data.path", str(root))
    info = SimpleNamespace(name="fake", config=cfg, classes=classes, history=[], metrics={}, status="completed")
    page = ResultsPage(session)
    qtbot.addWidget(page)
    page.run_dir = str(root / "run")
    page.show_interpretation(p, info)
    return page, p


def test_relabel_quarantine_undo_and_rescan(session, qtbot, tmp_path, monkeypatch):
    from workbench.data import ChangeSet, open_dataset
    root = make_shapes_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    before = digest(root)
    page, p = page_with_fake_run(session, qtbot, root)
    g = page.losses
    assert len(g.paths()) == len(p)
    page.tabs.setCurrentWidget(g)
    page.show()
    # quarantine with the button, relabel with the keyboard (R) and a chosen class
    g.select_rows([0])
    quarantined = g.selected_items()[0].path
    g.buttons["quarantine"].click()
    g.select_rows([1])
    relabelled = g.selected_items()[0]
    new_class = next(c for c in p.classes if c != relabelled.true_class)
    monkeypatch.setattr("workbench.gui.views.relabel.QInputDialog.getItem", lambda *a, **k: (new_class, True))
    g.list.setFocus()
    qtbot.keyClick(g.list, Qt.Key.Key_R)
    cs = ChangeSet.load(root)
    assert {e["path"]: (e["action"], e["new_class"]) for e in cs.entries} == {
        str(Path(quarantined).resolve()): ("quarantine", None),
        str(Path(relabelled.path).resolve()): ("relabel", new_class)}
    assert page.changes.table.rowCount() == 2
    assert g.model.marks == {quarantined: "quarantined", relabelled.path: f"→ {new_class}"}
    # undo (Ctrl+Z) drops the relabel, K on a quarantined image clears it, undo brings it back
    qtbot.keyClick(g.list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [e["action"] for e in ChangeSet.load(root).entries] == ["quarantine"]
    g.select_rows([0])
    qtbot.keyClick(g.list, Qt.Key.Key_K)
    assert [e["action"] for e in ChangeSet.load(root).entries] == ["keep"]
    page.changes.undo_btn.click()
    g.select_rows([1])
    qtbot.keyClick(g.list, Qt.Key.Key_R)
    assert len(ChangeSet.load(root).entries) == 2
    # the next scan applies the changes; the image files are byte-for-byte unchanged
    ds = open_dataset(RunConfig().set("data.path", str(root)).data, 42)
    by_path = {str(Path(it.path).resolve()): it for it in ds.items}
    assert str(Path(quarantined).resolve()) not in by_path
    assert ds.classes[by_path[str(Path(relabelled.path).resolve())].label] == new_class
    assert digest(root) == before
    # retrain asks the session for a new run with the run's recipe
    started = []
    monkeypatch.setattr(session, "start_training", lambda cfg=None: started.append(cfg.data.path) or True)
    page.changes.retrain_btn.click()
    assert started == [str(root)]


def test_viewer_opens_with_top5_and_folder_action(session, qtbot, tmp_path, monkeypatch):
    root = make_shapes_dataset(tmp_path / "ds", n_train=2, n_valid=1)
    page, p = page_with_fake_run(session, qtbot, root)
    opened = []
    monkeypatch.setattr("workbench.gui.views.image_viewer.QDesktopServices.openUrl",
                        lambda url: opened.append(url.toLocalFile()) or True)
    monkeypatch.setattr("workbench.gui.views.results_page.request_cam", lambda *a, **k: None)  # no model here
    item = page.losses.items()[0]
    page.open_viewer(item)
    v = page.viewer
    assert v.isVisible() and v.path == item.path and v.top5.rowCount() == 3
    assert v.top5.item(0, 1).text() == "80.0%"
    v.open_btn.click()
    assert opened == [str(Path(item.path).parent)]
    # its actions say what they did here, Ctrl+Z in the viewer undoes, and it has a Close button
    from workbench.data import ChangeSet
    assert v.mark.text() == ""
    v.action_btns[1].click()                                  # Quarantine
    assert ChangeSet.load(root).get(item.path)["action"] == "quarantine"
    assert "Changed:</b> quarantined" in v.mark.text()
    v.activateWindow()
    qtbot.waitUntil(v.isActiveWindow)
    qtbot.keyClick(v, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ChangeSet.load(root).get(item.path) is None and v.mark.text() == ""
    v.action_btns[2].click()                                  # Keep, then the viewer opens again on it
    v.close()
    page.open_viewer(item)
    assert "Changed:" in v.mark.text()
    close = next(b for b in v.findChildren(QPushButton) if b.text() == "Close")
    close.click()
    assert not v.isVisible()


def test_undo_after_keep_undoes_the_keep_not_another_images_fix(session, qtbot, tmp_path, monkeypatch):
    """R on A, K on B, Ctrl+Z: the keep of B is undone, A keeps its relabel; K marks its thumbnail;
    the "Ctrl+Z undoes" line says what the undo did; one Ctrl+Z undoes a whole multi-image action."""
    from workbench.data import ChangeSet
    root = make_shapes_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    page, p = page_with_fake_run(session, qtbot, root)
    g = page.losses
    page.tabs.setCurrentWidget(g)
    page.show()
    g.list.setFocus()
    g.select_rows([0])
    a = g.selected_items()[0]
    new_class = next(c for c in p.classes if c != a.true_class)
    monkeypatch.setattr("workbench.gui.views.relabel.QInputDialog.getItem", lambda *a, **k: (new_class, True))
    qtbot.keyClick(g.list, Qt.Key.Key_R)
    g.select_rows([1])
    b = g.selected_items()[0]
    qtbot.keyClick(g.list, Qt.Key.Key_K)
    actions = {e["path"]: e["action"] for e in ChangeSet.load(root).entries}
    assert actions == {str(Path(a.path).resolve()): "relabel", str(Path(b.path).resolve()): "keep"}
    assert "kept" in g.model.marks[b.path]
    assert "kept" in g.model.data(g.model.index(1), Qt.ItemDataRole.ToolTipRole)   # and on the picture
    assert "Ctrl+Z undoes" in page.notice.text()
    qtbot.keyClick(g.list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    cs = ChangeSet.load(root)
    assert {e["path"]: (e["action"], e["new_class"]) for e in cs.entries} == {
        str(Path(a.path).resolve()): ("relabel", new_class)}
    assert b.path not in g.model.marks and g.model.marks[a.path] == f"→ {new_class}"
    assert "Ctrl+Z undoes" not in page.notice.text() and "Undone" in page.notice.text()
    # quarantine two images at once: one Ctrl+Z brings both back, the relabel of A stays
    g.select_rows([2, 3])
    qtbot.keyClick(g.list, Qt.Key.Key_Q)
    assert len(ChangeSet.load(root).entries) == 3
    qtbot.keyClick(g.list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [e["action"] for e in ChangeSet.load(root).entries] == ["relabel"]
    assert "2 images" in page.notice.text()


def fit_started(run_dir) -> FitStarted:
    return FitStarted(run_dir=str(run_dir), epochs=1, start_epoch=0, steps_per_epoch=1, n_train=1, n_valid=1,
                      classes=(), device="cpu", precision="fp32", batch_size=1)


def test_retrain_with_changes_starts_visibly_and_ends_on_a_before_after(session, qtbot, tmp_path, monkeypatch):
    from gui_helpers import main_window
    from workbench.gui.jobs import JobKind
    root = make_shapes_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    page, p = page_with_fake_run(session, qtbot, root)
    page.run_dir = str(tmp_path / "runs" / "before")
    page.apply_action("quarantine", [p.paths[0]], "")
    monkeypatch.setattr(session, "start_training", lambda cfg=None: True)
    with qtbot.waitSignal(page.retrainStarted):
        page.changes.retrain_btn.click()
    assert "Retraining" in page.notice.text() and page.compare.isHidden()
    session.job_event.emit(JobKind.TRAIN, fit_started(tmp_path / "runs" / "after"))   # the retrain's folder
    # the new run, better: its results open with the before / after on top of the Summary
    probs = p.probs.copy()
    probs[:] = 0.1
    probs[np.arange(len(p)), p.targets] = 0.8
    better = Predictions.from_probs(list(p.paths), p.targets, probs, p.classes)
    page.tabs.setCurrentIndex(2)
    page.run_dir = str(tmp_path / "runs" / "after")
    page.show_interpretation(better, SimpleNamespace(name="after", config=page.info.config, classes=p.classes,
                                                     history=[], metrics={}, status="completed"))
    text = page.compare.text()
    assert not page.compare.isHidden() and "Before / after the 1 change(s)" in text
    assert "fake → after" in text and "accuracy 0.0% → 100.0% (+100.0%)" in text
    assert page.tabs.currentWidget() is page.summary
    # the window shows the Train page when a training run starts (Retrain, Ctrl+R, the Start button)
    win = main_window(qtbot)
    win.show_page("results")
    win.session.job_started.emit(JobKind.TRAIN)
    assert win.current_page() == "train"


def test_before_after_only_on_the_retrain_it_started(session, qtbot, tmp_path, monkeypatch):
    """A run that is not the retrain (another dataset's, started later) never gets the banner; opening
    another dataset forgets the retrain; the banner names which validation loss it compares."""
    from workbench.gui.jobs import JobKind
    root = make_shapes_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    page, p = page_with_fake_run(session, qtbot, root)
    page.run_dir = str(tmp_path / "runs" / "before")
    page.apply_action("quarantine", [p.paths[0]], "")
    monkeypatch.setattr(session, "start_training", lambda cfg=None: True)
    page.changes.retrain_btn.click()
    retrain = tmp_path / "runs" / "retrain"
    session.job_event.emit(JobKind.TRAIN, fit_started(retrain))
    other_cfg = page.info.config.set("data.path", str(tmp_path / "broken"))

    def show(run_dir, cfg, name):
        page.run_dir = str(run_dir)
        page.show_interpretation(p, SimpleNamespace(name=name, config=cfg, classes=p.classes, history=[],
                                                    metrics={}, status="completed"))
    # an unrelated run (another dataset, started after the retrain was stopped) opens: no banner
    session.job_event.emit(JobKind.TRAIN, fit_started(tmp_path / "runs" / "broken-run"))
    show(tmp_path / "runs" / "broken-run", other_cfg, "broken-run")
    assert page.compare.isHidden()
    # the retrain itself opens: its before / after, the loss named
    show(retrain, page.info.config, "retrain")
    assert not page.compare.isHidden() and "fake → retrain" in page.compare.text()
    assert "validation loss (plain cross-entropy)" in page.compare.text()
    data_now = session.config.data.path
    session.set_config(session.config.set("data.path", str(tmp_path / "third")))   # another dataset opens:
                                                                               # the banner shown goes with it
    session.dataset_changed.emit(None)
    assert page.compare.isHidden()
    session.set_config(session.config.set("data.path", data_now))
    # another run opens: the banner goes
    show(tmp_path / "runs" / "broken-run", other_cfg, "broken-run")
    assert page.compare.isHidden()
    # a retrain whose dataset is left before its results open: forgotten
    show(tmp_path / "runs" / "before", page.info.config.set("data.path", str(root)), "fake")
    page.changes.retrain_btn.click()
    session.job_event.emit(JobKind.TRAIN, fit_started(tmp_path / "runs" / "retrain2"))
    session.set_config(other_cfg)
    session.dataset_changed.emit(None)
    show(tmp_path / "runs" / "retrain2", page.info.config, "retrain2")
    assert page.compare.isHidden()


def test_before_after_names_the_headlines_loss_with_label_smoothing():
    from workbench.gui.views.result_texts import before_after
    text = before_after({"name": "a", "accuracy": 0.9, "valid_loss": 0.46, "trained_loss": 0.77, "smoothing": 0.1},
                        {"name": "b", "accuracy": 0.92, "valid_loss": 0.44, "trained_loss": 0.75, "smoothing": 0.1})
    assert "label-smoothed" in text and "0.7700 → 0.7500" in text and "0.4600" not in text


def test_accepting_several_audit_suggestions_is_one_undo(session, qtbot, tmp_path):
    from workbench.data import ChangeSet
    from workbench.gui.views.audit_view import AuditView, issue_item
    root = make_shapes_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    view = AuditView(session)
    qtbot.addWidget(view)
    view.changes.open_root(str(root))
    view.classes = ("circle", "square", "triangle")
    files = sorted((root / "train" / "circle").glob("*.png"))[:2]
    issues = [{"path": str(f), "rank": i + 1, "given": "circle", "suggested": s, "self_confidence": 0.1,
               "suggested_prob": 0.8} for i, (f, s) in enumerate(zip(files, ("square", "triangle")))]
    view.gallery.set_items([issue_item(r) for r in issues])
    view.gallery.select_rows([0, 1])
    assert view.accept_selected()
    got = {Path(e["path"]).name: e["new_class"] for e in ChangeSet.load(root).entries}
    assert got == {files[0].name: "square", files[1].name: "triangle"}
    assert view.changes.undo() and ChangeSet.load(root).entries == []      # one Ctrl+Z takes back both
    assert "2 images" in view.status.text()


def test_retrain_with_changes_leaves_the_working_recipe_and_its_undo_alone(session, qtbot, tmp_path, monkeypatch):
    from workbench.gui.views.recipe_view import RecipeView
    root = make_shapes_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_option("data.path", str(root))
    session.set_option("train.epochs", 2)                         # the user's working recipe
    page, p = page_with_fake_run(session, qtbot, root)
    page.info.config = page.info.config.set("train.epochs", 12).set("model.mean", (0.5, 0.5, 0.5)) \
        .set("model.std", (0.5, 0.5, 0.5)).set("name", "fake")
    page.apply_action("quarantine", [p.paths[0]], "")
    working, history = session.config, list(view.undo_stack)
    trained = []
    monkeypatch.setattr(session, "start_training", lambda cfg=None: trained.append(cfg) or True)
    with qtbot.waitSignal(page.retrainStarted):
        page.changes.retrain_btn.click()
    run = trained[0]                                              # the run's own recipe, for that run only
    assert run.train.epochs == 12 and run.model.mean == (0.5, 0.5, 0.5) and run.name == ""
    assert session.config == working and session.config.train.epochs == 2 and session.config.model.mean == ()
    assert view.undo_stack == history and view.form.editors["train.epochs"].value() == 2
    assert view.undo() and session.config.train.epochs != 2      # Undo takes back the user's own last edit


def test_every_view_of_a_change_list_reloads_when_it_is_written_anywhere(session, qtbot, tmp_path):
    """Audit's K, the Results galleries, Try it's send-to-labelling and an undo: the other views of the
    dataset's change list (Results > Changes, Data > Audit) show the list as it is now, marks too."""
    from workbench.gui.views.audit_view import AuditView
    root = make_shapes_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    page, p = page_with_fake_run(session, qtbot, root)
    audit = AuditView(session)
    qtbot.addWidget(audit)
    audit.changes.open_root(str(root))
    assert page.apply_action("quarantine", [p.paths[0]], "")
    assert audit.changes.table.rowCount() == 1 and "1 change(s)" in audit.changes.info.text()
    # K in Data > Audit: Results > Changes says 2 change(s) and the gallery marks the kept image
    assert page.notice.text().startswith("Quarantined")
    assert audit.apply_action("keep", [p.paths[1]], "")
    assert page.notice.text() == ""                   # Results' line about its own last action is old now
    assert page.changes.table.rowCount() == 2 and "2 change(s)" in page.changes.info.text()
    assert "kept" in page.losses.model.marks.get(p.paths[1], "")
    # Try it sends an image of the dataset to labelling: both lists have it
    train = sorted((root / "train" / "circle").glob("*.png"))[0]
    session.send_to_labelling(str(root), [(str(train), "square", 0.4)], False)
    assert page.changes.table.rowCount() == 3 and audit.changes.table.rowCount() == 3
    # an undo in one view is seen in the other
    assert page.changes.undo()
    assert audit.changes.table.rowCount() == 2
    # a list of another dataset is left alone
    other = make_shapes_dataset(tmp_path / "other", n_train=4, n_valid=2)
    session.changes_written(str(other))
    assert page.changes.table.rowCount() == 2


def test_changes_tab_removes_the_selected_row_not_the_last_action(session, qtbot, tmp_path):
    """With the quarantine row selected, "Remove selected" (or Del) takes off that one; the relabel, the
    last action, stays; Undo (of the last action, so named) brings the removed one back."""
    from workbench.data import ChangeSet
    root = make_shapes_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    page, p = page_with_fake_run(session, qtbot, root)
    assert page.apply_action("quarantine", [p.paths[0]], "")
    assert page.apply_action("relabel", [p.paths[1]], p.classes[2])
    ch = page.changes
    assert "last action" in ch.undo_btn.text() and not ch.remove_btn.isEnabled()
    row = next(r for r in range(ch.table.rowCount()) if ch.table.item(r, 1).text() == "quarantine")
    ch.table.selectRow(row)
    assert ch.remove_btn.isEnabled()
    ch.remove_btn.click()
    assert [e["action"] for e in ChangeSet.load(root).entries] == ["relabel"]
    assert ch.table.rowCount() == 1 and p.paths[0] not in page.losses.model.marks
    assert "Removed" in page.notice.text()
    assert ch.undo() and sorted(e["action"] for e in ChangeSet.load(root).entries) == ["quarantine", "relabel"]
    assert page.notice.text() == f"Undone: the removal from the list; the change of {Path(p.paths[0]).name} is back."
    # the Delete key on the table does the same
    page.show()
    assert not ch.selected_paths()          # the list was rebuilt: nothing selected
    ch.table.selectRow(next(r for r in range(ch.table.rowCount()) if ch.table.item(r, 1).text() == "relabel"))
    page.tabs.setCurrentWidget(ch)
    ch.table.setFocus()
    qtbot.waitUntil(ch.table.hasFocus)
    qtbot.keyClick(ch.table, Qt.Key.Key_Delete)
    assert [e["action"] for e in ChangeSet.load(root).entries] == ["quarantine"]


def test_undo_with_nothing_to_undo_is_off_and_tells_no_page_the_list_changed(session, qtbot, tmp_path):
    from workbench.gui.views.changes_view import ChangesView
    root = make_shapes_dataset(tmp_path / "ds", n_train=4, n_valid=2)
    view = ChangesView(session)
    qtbot.addWidget(view)
    view.open_root(str(root))
    assert not view.undo_btn.isEnabled()                 # a fresh list: nothing to undo
    told = []
    session.changes_edited.connect(told.append)
    assert not view.undo() and told == []                 # Ctrl+Z anyway: said, and nothing is "changed"
    assert view.apply("quarantine", [str(sorted(root.rglob("*.png"))[0])], "", None)
    assert view.undo_btn.isEnabled() and len(told) == 1


def test_the_changes_table_shows_three_rows_at_least(qtbot, session):
    from workbench.gui.views.changes_view import ChangesView
    view = ChangesView(session)
    qtbot.addWidget(view)
    t = view.table
    assert t.minimumHeight() >= t.horizontalHeader().sizeHint().height() + 3 * t.verticalHeader().defaultSectionSize()
