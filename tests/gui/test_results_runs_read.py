"""Results and Runs read right: whole class names, the banner's loss named, the runs table's names whole."""
from __future__ import annotations

from PySide6.QtCore import Qt

NETTE = ["cassette_player", "chain_saw", "church", "english_springer", "french_horn", "garbage_truck", "gas_pump",
         "golf_ball", "parachute", "tench"]


def test_per_class_names_are_whole_in_a_narrow_results_page(qtbot):
    """The page at the width it has beside the sidebar on a 1400 px screen: the splitter gives the per-class
    table the room its longest name needs (measured from the names, not from the stretched column)."""
    from workbench.gui.views.results_view import ResultsView
    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    qtbot.waitExposed(view)
    view.set_report([{"class": c, "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 8} for c in NETTE])
    t = view.table
    fm = t.fontMetrics()
    need = max(fm.horizontalAdvance(c) for c in NETTE) + 8
    qtbot.waitUntil(lambda: t.columnWidth(0) >= need)
    right = t.columnViewportPosition(4) + t.columnWidth(4)
    assert right <= t.viewport().width()     # and the numbers stay whole beside them


def test_metric_curves_have_their_own_colours_not_the_loss_charts(qtbot):
    """Accuracy and top-5 on the Train page's Metrics chart never wear train / valid's blue and orange."""
    from PySide6.QtGui import QColor
    from workbench.gui.views.plots import TRAIN_COLOUR, VALID_COLOUR, LivePlot, append_epoch
    loss, metrics = LivePlot(fps=0), LivePlot(fps=0)
    qtbot.addWidget(loss)
    qtbot.addWidget(metrics)
    append_epoch(loss, metrics, 0, 0.9, {"accuracy": 0.7, "top_5_accuracy": 0.95})
    colours = {name: c.opts["pen"].color().name() for name, c in metrics.curves.items()}
    assert set(colours) == {"accuracy", "top_5_accuracy"}
    taken = {QColor(TRAIN_COLOUR).name(), QColor(VALID_COLOUR).name(), QColor("#10b981").name()}
    assert not set(colours.values()) & taken
    assert len(set(colours.values())) == 2


def fake_run(tmp_path, name, acc, created, fingerprint, n, data="/data/nette-mini", note=""):
    from types import SimpleNamespace
    from workbench.config import RunConfig
    return SimpleNamespace(name=name, run_dir=tmp_path / name, config=RunConfig().set("data.path", data),
                           metrics={"valid_accuracy": acc, "valid_fingerprint": fingerprint, "n_valid": n},
                           history=[], status="completed", created=created, note=note)


def test_best_run_star_compares_only_runs_on_the_newest_runs_validation_images(qtbot, session, tmp_path):
    """93.7 % on 79 images (an older run, one image since quarantined) against 92.5 % on 80 (the newest
    run's set): the star goes to the best run on the newest run's images, and its tooltip says which."""
    from workbench.gui.views.runs_view import RunsView
    from workbench.run.runs import best_runs
    runs = [fake_run(tmp_path, "old-79", 0.937, 100.0, "aaaa1111", 79),
            fake_run(tmp_path, "new-80", 0.925, 300.0, "bbbb2222", 80),
            fake_run(tmp_path, "mid-80", 0.900, 200.0, "bbbb2222", 80),
            fake_run(tmp_path, "other-data", 0.5, 400.0, "cccc3333", 10, data="/data/broken")]
    assert {k: p.name for k, p in best_runs(runs).items()} == {"/data/nette-mini": "new-80",
                                                               "/data/broken": "other-data"}
    view = RunsView(session)
    qtbot.addWidget(view)
    view.set_runs(runs)
    assert sorted(view.best_names()) == ["new-80", "other-data"]
    row = next(r for r in range(view.table.rowCount()) if view.table.item(r, 0).text() == "new-80")
    assert "80 images (bbbb2222)" in view.table.item(row, 0).toolTip()
    assert "80 images" in view.table.item(row, 5).toolTip()
    from workbench.gui.views.runs_view import COLUMNS
    col = COLUMNS.index("Valid")                      # what each accuracy is measured on, in its own column
    cells = {view.table.item(r, 0).text(): view.table.item(r, col).text() for r in range(view.table.rowCount())}
    assert cells == {"old-79": "79", "new-80": "80", "mid-80": "80", "other-data": "10"}
    assert view.table.item(row, col).toolTip() == "validated on 80 images (bbbb2222)"


def test_runs_table_keeps_names_whole_beside_a_note_and_shows_the_newest_run(qtbot, session, tmp_path):
    """A long note never squeezes the names ("nette-..."): the name is whole (up to a cap), the note gets
    the rest and is cut; the table shows eight rows, with the newest run in sight."""
    from workbench.gui.views.runs_view import RunsView
    runs = [fake_run(tmp_path, f"nette-mini-20261206-1{i:02d}314", 0.9, 100.0 + i, "f", 80,
                     note=("a long note about what this run tried " * 6) if i == 3 else "") for i in range(14)]
    view = RunsView(session)
    qtbot.addWidget(view)
    view.resize(1280, 800)
    view.show()
    qtbot.waitExposed(view)
    view.set_runs(runs)
    t = view.table
    need = t.sizeHintForColumn(0)      # Qt's own room for the widest name cell, the starred one included
    assert need > t.fontMetrics().horizontalAdvance(runs[0].name)
    qtbot.waitUntil(lambda: t.columnWidth(0) >= need)
    assert not t.wordWrap()                            # a long note is cut on its one line
    note = t.horizontalHeader().logicalIndex(t.columnCount() - 1)
    assert t.horizontalHeaderItem(note).text() == "Note"
    assert t.columnViewportPosition(note) + t.columnWidth(note) <= t.viewport().width() + 1   # cut, not scrolled
    assert t.viewport().height() >= 8 * t.rowHeight(0)
    def in_sight(name):
        rect = t.visualItemRect(t.item(next(r for r in range(t.rowCount()) if t.item(r, 0).text() == name), 0))
        return rect.top() >= 0 and rect.bottom() <= t.viewport().height()
    assert in_sight(runs[-1].name)                    # the newest, at the top
    view.select_names([runs[0].name])                 # the oldest selected: a refresh keeps it in sight
    t.scrollToTop()
    view.set_runs(runs)
    assert view.selected_infos()[0].name == runs[0].name and in_sight(runs[0].name)


def test_a_run_whose_validation_set_changed_while_it_trained_is_never_the_best(qtbot, session, tmp_path):
    """Resumed after quarantines, an older run ended at 94.9 % on the new set; its first epochs were
    measured on the old one: not starred, and the Valid column says why."""
    from workbench.gui.views.runs_view import COLUMNS, RunsView
    from workbench.run.runs import best_runs
    mixed = fake_run(tmp_path, "long-run", 0.949, 100.0, "bbbb2222", 78)
    mixed.metrics["valid_changed_at_epoch"] = 3
    clean = fake_run(tmp_path, "long-run-3", 0.936, 300.0, "bbbb2222", 78)
    assert {p.name for p in best_runs([mixed, clean]).values()} == {"long-run-3"}
    view = RunsView(session)
    qtbot.addWidget(view)
    view.set_runs([clean, mixed])
    assert view.best_names() == ["long-run-3"]
    row = next(r for r in range(view.table.rowCount()) if view.table.item(r, 0).text() == "long-run")
    cell = view.table.item(row, COLUMNS.index("Valid"))
    assert cell.text() == "78 (changed)" and "changed at epoch 4" in cell.toolTip()
