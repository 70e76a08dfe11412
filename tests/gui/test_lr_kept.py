"""The LR finder page follows the open dataset: another dataset clears the previous one's curve and
suggestions; the dataset's last range test comes back when it opens again, also after a restart, shown
but never applied by itself, and says which options of the recipe changed since it ran."""
from __future__ import annotations

import shutil

import pytest


def _window(qtbot):
    from workbench.gui.main_window import MainWindow
    from workbench.gui.session import Session
    s = Session(autosave=True)           # the app's session: it keeps the working recipe and the range test
    s.jobs_in_child_process = False
    win = MainWindow(s)
    qtbot.addWidget(win)
    return win


def _open(qtbot, s, folder):
    qtbot.waitUntil(lambda: not s.busy, timeout=60_000)     # a job that just delivered its result ends first
    s.open_dataset(str(folder))
    qtbot.waitUntil(lambda: not s.busy and s.dataset is not None and s.dataset.root == str(folder), timeout=60_000)


def test_the_range_test_follows_its_dataset_and_comes_back(qtbot, shapes_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    from workbench.runtime.paths import project_dir
    from workbench.train.lr_find import KEPT_FILE
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(shapes_dir, a)
    shutil.copytree(shapes_dir, b)
    win = _window(qtbot)
    s, lv = win.session, win.lr_view
    _open(qtbot, s, a)
    s.set_config(s.config.set("lr_find.num_it", 12).set("data.batch_size", 16).set("data.image_size", 32))
    with qtbot.waitSignal(s.lr_found, timeout=120_000):
        assert s.run_lr_find()
    qtbot.waitUntil(lambda: (project_dir(a) / KEPT_FILE).is_file(), timeout=10_000)
    assert lv.has_curve() and lv.suggestions.count() >= 1
    n = lv.plot.points("smoothed loss")
    s.set_option("data.image_size", 48)          # the recipe changes after the test
    lr = s.config.train.lr
    _open(qtbot, s, b)                           # another dataset: nothing of a's test to pick from
    assert not lv.has_curve() and lv.suggestions.count() == 0 and "Range test of" not in lv.status.text()
    (x0, x1), (y0, y1) = lv.plot.getPlotItem().viewRange()   # the empty chart: the test's rates, not a's ranges
    assert x0 <= -6.9 and x1 >= 0.9 and y0 <= 0.0 and 0.9 <= y1 <= 1.2
    lv.auto_apply.setChecked(True)               # even so, a kept test is only shown
    _open(qtbot, s, a)
    qtbot.waitUntil(lambda: lv.has_curve(), timeout=10_000)
    assert lv.plot.points("smoothed loss") == n and lv.suggestions.count() >= 1
    assert lv.status.text().startswith("Range test of ") and "changed since (Image size (px))" in lv.status.text()
    assert s.config.train.lr == lr
    win.close()
    again = _window(qtbot)                       # a restart
    _open(qtbot, again.session, a)
    qtbot.waitUntil(lambda: again.lr_view.has_curve(), timeout=10_000)
    assert again.lr_view.status.text().startswith("Range test of ")


def test_changed_since_names_only_the_options_a_range_test_depends_on():
    from workbench.config import RunConfig
    from workbench.train.lr_find import changed_since, recipe_facts
    cfg = RunConfig().set("data.image_size", 224)
    kept = recipe_facts(cfg)
    assert changed_since(kept, cfg) == []
    assert changed_since(kept, cfg.set("train.epochs", 30).set("augment.max_rotate", 5.0)) == []
    assert changed_since(kept, cfg.set("data.batch_size", 16).set("model.arch", "resnet34")) == [
        "model.arch", "data.batch_size"]
    assert changed_since({**kept, "data.image_size": 224.0}, cfg) == []      # as read back from JSON
    assert changed_since({"data.image_size": "big"}, cfg) == ["data.image_size"]   # unreadable: not the same
