"""The result views alone with made-up data: confusion matrix, gallery, results summary, runs comparison."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np


from workbench.config import RunConfig  # noqa: E402
from workbench.analysis.interpret import Predictions, confusion_matrix, indices_for_cell, most_confused  # noqa: E402


def fake_predictions(shapes_dir: Path) -> Predictions:
    """Valid images of the shapes fixture with made-up probabilities (a few deliberate mistakes)."""
    classes = ("circle", "square", "triangle")
    paths, targets = [], []
    for t, c in enumerate(classes):
        for f in sorted((shapes_dir / "valid" / c).glob("*.png")):
            paths.append(str(f))
            targets.append(t)
    n = len(paths)
    rng = np.random.default_rng(0)
    preds = np.array(targets)
    preds[[0, 1, 9]] = [1, 2, 2]        # circle->square, circle->triangle, square->triangle
    probs = rng.uniform(0.0, 0.2, size=(n, 3)).astype(np.float32)
    probs[np.arange(n), preds] += 0.8
    probs /= probs.sum(1, keepdims=True)
    return Predictions.from_probs(paths, targets, probs, classes)


def test_confusion_cell_opens_gallery_of_exactly_those_images(qtbot, shapes_dir):
    from workbench.gui.views.confusion_view import ConfusionView
    from workbench.gui.views.gallery_view import GalleryItem, GalleryView
    p = fake_predictions(shapes_dir)
    cm = confusion_matrix(p)
    view, gallery = ConfusionView(), GalleryView("cell", p.classes)
    qtbot.addWidget(view)
    qtbot.addWidget(gallery)
    view.set_data(cm, p.classes, most_confused(p))
    assert view.cell_text(0, 1) == "1" and view.cell_text(1, 1) == str(int(cm[1, 1]))

    def show(i, j):
        gallery.set_items([GalleryItem(p.paths[k], f"{p.probs[k, j]:.2f}", index=int(k))
                           for k in indices_for_cell(p, i, j)])
    view.cellChosen.connect(show)
    with qtbot.waitSignal(view.cellChosen):
        view.choose(1, 2)
    assert gallery.paths() == [p.paths[9]]
    view.pairs.itemClicked.emit(view.pairs.item(0))   # most-confused list works the same way
    assert len(gallery.paths()) == 1
    view.choose(0, 0)
    assert sorted(gallery.paths()) == sorted(p.paths[k] for k in range(2, 8))
    # thumbnails load lazily in the pool when the grid paints
    gallery.resize(600, 400)
    gallery.show()
    qtbot.waitUntil(lambda: all(gallery.model.thumbnail_loaded(x) for x in gallery.paths()[:2]), timeout=5000)


def test_gallery_actions_and_filter(qtbot, shapes_dir, monkeypatch):
    from workbench.gui.views.gallery_view import GalleryItem, GalleryView
    p = fake_predictions(shapes_dir)
    g = GalleryView("top losses", p.classes, with_filter=True, with_overlay=True)
    qtbot.addWidget(g)
    g.set_items([GalleryItem(x, "c", index=i, true_class=p.classes[p.targets[i]]) for i, x in enumerate(p.paths[:4])])
    got = []
    g.actionRequested.connect(lambda a, paths, c: got.append((a, paths, c)))
    assert not g.buttons["quarantine"].isEnabled()
    g.select_rows([1, 2])
    assert g.buttons["quarantine"].isEnabled()
    g.buttons["quarantine"].click()
    monkeypatch.setattr("workbench.gui.views.relabel.QInputDialog.getItem",
                        lambda *a, **k: ("triangle", True))
    g.request("relabel")
    assert got == [("quarantine", p.paths[1:3], ""), ("relabel", p.paths[1:3], "triangle")]
    with qtbot.waitSignal(g.filterChanged) as sig:
        g.filter.setCurrentIndex(2)
    assert sig.args == ["square"]
    g.model.set_overlay(p.paths[0], np.zeros((8, 8, 3), np.uint8))
    g.overlay_box.setChecked(True)
    assert g.model.data(g.model.index(0), 1) is not None   # DecorationRole shows the overlay


def test_results_view_summary_table_and_curves(qtbot):
    from workbench.gui.views.results_view import ResultsView
    v = ResultsView()
    qtbot.addWidget(v)
    v.set_summary({"accuracy": 0.875, "balanced_accuracy": 0.8, "valid_loss": 0.31, "top5": None, "n": 24})
    assert v.values["accuracy"].text() == "87.5%" and v.values["n"].text() == "24"
    v.set_report([{"class": "a", "precision": 0.5, "recall": 1.0, "f1": 0.66, "support": 3},
                  {"class": "b", "precision": 0.9, "recall": 0.2, "f1": 0.33, "support": 10}])
    v.table.sortItems(2)
    assert v.column_values(0) == ["b", "a"]
    hist = [{"epoch": e, "train_loss": 1.0 / (e + 1), "valid_loss": 1.2 / (e + 1), "accuracy": 0.5 + e / 10} for e in range(3)]
    v.set_history([("run", hist)])
    names = [it.name() for it in v.loss_plot.getPlotItem().listDataItems()]
    assert names == ["valid", "train"]


def fake_run(tmp: Path, name: str, cfg: RunConfig, accs: list[float]):
    d = tmp / name
    d.mkdir()
    (d / "metrics.json").write_text("{}")
    hist = [{"epoch": e, "train_loss": 1 - a / 2, "valid_loss": 1 - a, "accuracy": a} for e, a in enumerate(accs)]
    return SimpleNamespace(run_dir=str(d), name=name, config=cfg, classes=("a", "b"), history=hist,
                           metrics={"accuracy": accs[-1]}, status="completed", created=1.7e9)


def test_runs_compare_shows_both_curves_and_config_differences(qtbot, session, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    from workbench.gui.views.runs_view import RunsView
    base = RunConfig()
    r1 = fake_run(tmp_path, "run-a", base, [0.5, 0.7])
    r2 = fake_run(tmp_path, "run-b", base.set("train.lr", 0.01).set("model.arch", "resnet34"), [0.4, 0.6, 0.8])
    v = RunsView(session)
    qtbot.addWidget(v)
    v.set_runs([r1, r2])
    rows = {v.table.item(r, 0).text(): v.table.item(r, 5).text() for r in range(v.table.rowCount())}
    assert rows == {"run-a": "70.0%", "run-b": "80.0%"}
    v.select_names(["run-a", "run-b"])
    acc_curves = v.acc_plot.getPlotItem().listDataItems()
    assert sorted(c.name() for c in acc_curves) == ["run-a", "run-b"]
    assert sorted(len(c.getData()[0]) for c in acc_curves) == [2, 3]
    assert v.diff_rows() == {"model.arch": {"run-a": "resnet18", "run-b": "resnet34"},
                             "train.lr": {"run-a": "0.002", "run-b": "0.01"}}
    # delete: refused answer keeps the folder, confirmed answer removes only that folder
    v.select_names(["run-a"])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    assert not v.delete_selected() and Path(r1.run_dir).is_dir()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(session.run_deleted, timeout=10_000) as deleted:
        assert v.delete_selected()
    assert deleted.args == [r1.run_dir, ""]
    assert not Path(r1.run_dir).exists() and Path(r2.run_dir).is_dir() and tmp_path.is_dir()
    assert [i.name for i in v.infos] == ["run-b"]


def test_a_refreshed_run_list_keeps_the_compared_runs_selected(qtbot, session, tmp_path):
    """The list arrives asynchronously (after a run finishes, or Refresh): the comparison stays."""
    from workbench.gui.views.runs_view import RunsView
    base = RunConfig()
    r1 = fake_run(tmp_path, "run-a", base, [0.5, 0.7])
    r2 = fake_run(tmp_path, "run-b", base.set("train.lr", 0.01), [0.4, 0.6])
    r3 = fake_run(tmp_path, "run-c", base, [0.3])
    v = RunsView(session)
    qtbot.addWidget(v)
    v.set_runs([r1, r2])
    v.select_names(["run-a", "run-b"])
    v.set_runs([r1, r2, r3])                        # a new run finished: the list comes again
    assert sorted(i.name for i in v.selected_infos()) == ["run-a", "run-b"]
    assert sorted(c.name() for c in v.acc_plot.getPlotItem().listDataItems()) == ["run-a", "run-b"]
    v.set_runs([r2, r3])                            # run-a deleted elsewhere: only run-b stays selected
    assert [i.name for i in v.selected_infos()] == ["run-b"]
