"""Small things a new user met in a real window: menu names in the status bar without "&", Escape
closes the shortcuts dialog (and its keys read whole), Ctrl+Q hides the window at once."""
from __future__ import annotations

import threading

from PySide6.QtCore import QEvent, QObject, Qt

from gui_helpers import main_window, open_shortcuts_with_f1


def test_menu_status_tips_have_no_mnemonic_ampersand(qtbot):
    win = main_window(qtbot)
    tips = {a.statusTip() for a in win.findChildren(type(win.act_quit)) if a.statusTip()}
    assert "Keyboard shortcuts" in tips and "Quit" in tips
    assert not [t for t in tips if "&" in t]
    assert win.act_open.toolTip() == "Open dataset..."


def test_escape_closes_the_shortcuts_dialog_and_the_stop_keys_read_whole(qtbot):
    win, dlg = open_shortcuts_with_f1(qtbot)
    qtbot.waitUntil(dlg.isActiveWindow)                  # the dialog has the keyboard, not the window
    stop = [k for _, k, what in dlg.rows() if what == "Stop"]
    assert stop == ["Shift+F5, Ctrl+. (full stop)"]     # "Ctrl+." read as cut off
    qtbot.keyClick(dlg.table, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dlg.isVisible())


class _HideSeen(QObject):
    def __init__(self):
        super().__init__()
        self.hidden = threading.Event()

    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Hide:
            self.hidden.set()
        return False


def test_quit_hides_the_window_at_once_while_a_side_task_still_runs(qtbot):
    """Ctrl+Q with no job running waited for side tasks (an audit estimate of a few seconds) with the
    window still on screen."""
    from workbench.gui.jobs import submit, wait_side_tasks
    win = main_window(qtbot)
    win.show()
    qtbot.waitExposed(win)
    seen = _HideSeen()
    win.installEventFilter(seen)
    started, result = threading.Event(), []

    def side_task():
        started.set()
        return seen.hidden.wait(5.0)   # ends once the window is hidden (at most 5 s)

    submit(side_task, result.append)
    assert started.wait(5.0)
    assert win.close()
    assert seen.hidden.is_set() and not win.isVisible()
    wait_side_tasks()
    qtbot.waitUntil(lambda: result == [True])


def test_the_undone_note_goes_when_the_recipe_changes_again(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    size = session.config.data.image_size
    session.set_option("data.image_size", size + 32)
    assert view.undo()
    assert view.mom_plot_note.text() == "Undone: Image size (px)."
    session.set_option("data.image_size", size + 64)            # edited again: the note is stale
    assert not view.mom_plot_note.text().startswith("Undone")


def test_try_it_pickers_open_beside_the_dataset_then_at_the_last_folder(qtbot, session, tmp_path, monkeypatch):
    from workbench.gui.views.try_view import TryView
    data = tmp_path / "photos" / "nette"
    data.mkdir(parents=True)
    session.set_option("data.path", str(data))
    view = TryView(session)
    qtbot.addWidget(view)
    asked = []
    picked = tmp_path / "phone" / "today"
    monkeypatch.setattr("workbench.gui.views.try_view.QFileDialog.getExistingDirectory",
                        lambda parent, title, start="": asked.append(start) or str(picked))
    view._pick_folder()   # as the Add folder… button does (enabled once a run is open)
    view._pick_folder()   # as the Add folder… button does (enabled once a run is open)
    assert asked == [str(tmp_path / "photos"), str(tmp_path / "phone")]   # not the app's working folder


def test_the_reliability_diagram_says_how_many_images_each_bin_holds(qtbot):
    import numpy as np
    from workbench.analysis.calibration import reliability, scale
    from workbench.gui.views.calibration_view import CalibrationView
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(90, 4)) * 2.0
    targets = np.where(rng.random(90) < 0.7, logits.argmax(1), rng.integers(0, 4, 90))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    view = CalibrationView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.calibrated, timeout=30_000):
        view.set_predictions(probs, targets)
    counts = [c for c in reliability(scale(probs, view.result.temperature), targets).count if c]
    assert [int(t.toPlainText()) for t in view.count_labels] == counts and sum(counts) == 90


def test_a_typed_class_that_is_not_one_is_said_not_replaced(qtbot, monkeypatch):
    """The relabel dialog takes typing (to find a class); a typed name that is no class changes nothing
    and says so, instead of relabelling to the preselected class."""
    from workbench.gui.views import relabel
    said = []
    monkeypatch.setattr(relabel.QMessageBox, "information", lambda *a: said.append(a[2]))
    for typed, want in (("skydiver", ""), ("CHURCH", "church"), ("golf_ball", "golf_ball")):
        monkeypatch.setattr(relabel.QInputDialog, "getItem", lambda *a, t=typed: (t, True))
        assert relabel.ask_class(None, ("church", "golf_ball", "tench"), 1, "tench", "church") == want
    assert len(said) == 1 and said[0].startswith("'skydiver' is not a class of this dataset")
