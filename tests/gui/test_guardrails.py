"""Guardrails: a one-class dataset is refused, tiny classes are warned about, out-of-range values are
named at the field, the warning sign renders, the close question tells the truth, the log is per run."""
from __future__ import annotations

import pytest

from workbench.runtime.events import CheckpointSaved, FitStarted
from gui_helpers import wait_checked
from workbench.gui.jobs import JobKind


@pytest.fixture
def one_class(tmp_path):
    from synth import make_shapes_dataset
    return make_shapes_dataset(tmp_path / "one", classes=("circle",), n_train=6, n_valid=2)


def test_one_class_dataset_is_refused_in_the_core(one_class, tmp_path):
    from workbench.config import RunConfig
    from workbench.train.preflight import SetupError
    from workbench.train.run import train
    cfg = (RunConfig().set("data.path", str(one_class)).set("runs_dir", str(tmp_path / "runs"))
           .set("data.image_size", 32).set("train.epochs", 1))
    with pytest.raises(SetupError) as e:
        train(cfg)
    assert "at least two classes" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run folder left


def test_one_class_and_tiny_classes_in_the_app(qtbot, session, one_class, tmp_path):
    from synth import make_shapes_dataset
    from workbench.gui.views.recipe_view import RecipeView
    from workbench.gui.views.train_view import TrainView
    recipe, tv = RecipeView(session), TrainView(session)
    qtbot.addWidget(recipe)
    qtbot.addWidget(tv)
    with qtbot.waitSignal(session.dataset_changed, timeout=60_000):
        session.open_dataset(one_class)
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    assert any("at least two classes" in p for p in session.problems())
    started = []
    session.job_started.connect(started.append)
    tv.start()
    assert not started and "at least two classes" in tv.log.toPlainText()
    wait_checked(qtbot, session)
    assert "at least two classes" in recipe.problems_label.text()
    small = make_shapes_dataset(tmp_path / "small", classes=("circle", "square"), n_train=3, n_valid=1)
    with qtbot.waitSignal(session.dataset_changed, timeout=60_000):
        session.open_dataset(small)
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    assert not any("two classes" in p for p in session.problems())
    assert any("fewer than 5" in w for w in session.warnings())
    wait_checked(qtbot, session)
    assert "fewer than 5" in recipe.problems_label.text()


def test_out_of_range_value_is_named_at_the_field(qtbot, session):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    ed = view.form.editors["augment.max_warp"]
    ed.lineEdit().setText("5")
    ed.interpretText()
    assert session.config.augment.max_warp == pytest.approx(0.2)       # Qt kept the old value ...
    text = view.problems_label.text()
    assert "augment.max_warp" in text and "5" in text and "0.8" in text  # ... and the user is told why
    assert ed.property("invalid") is True
    ied = view.form.editors["train.epochs"]
    ied.lineEdit().setText("0")
    ied.interpretText()
    assert "train.epochs" in view.problems_label.text()


def test_problem_banner_renders_the_warning_sign(qtbot, session):
    from PySide6.QtCore import Qt
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_option("train.lr", 5.0)
    wait_checked(qtbot, session)
    assert view.problems_label.textFormat() == Qt.TextFormat.RichText
    assert "&#9888;" in view.problems_label.text()


def test_close_question_and_log_per_run(qtbot):
    from workbench.gui.main_window import MainWindow
    from workbench.gui.run_state import Phase
    win = MainWindow()
    qtbot.addWidget(win)
    tv = win.train_view
    win.session.run_state.begin(JobKind.TRAIN, True)
    tv._on_job_started(JobKind.TRAIN)
    assert "no epoch has finished" in tv.close_question()
    tv.handle(CheckpointSaved(path="x/last.pt", epoch=2))
    assert "epoch 3" in tv.close_question() and "resumed" in tv.close_question()
    assert "so far: training goes on" in tv.close_question()   # training goes on while the question is open
    win.session.run_state.set_phase(Phase.PAUSED)
    assert "so far)" in tv.close_question() and "goes on" not in tv.close_question()   # not when paused
    win.session.run_state.set_phase(Phase.RUNNING)
    tv._log("a line of run A")
    tv._on_job_started(JobKind.TRAIN)
    assert "run A" not in tv.log.toPlainText() and "no epoch" in tv.close_question()
    tv.handle(FitStarted(run_dir="r", epochs=5, start_epoch=2, steps_per_epoch=1, n_train=1, n_valid=1,
                         classes=("a", "b"), device="cpu", precision="fp32", batch_size=1))
    assert "epoch 2" in tv.close_question()
    win.session.run_state.end()


def test_close_question_reads_the_run_folder_when_no_checkpoint_event_came(qtbot, tmp_path):
    """A run whose last.pt is on disk is never called lost, even if its checkpoint event was missed."""
    from workbench.gui.main_window import MainWindow
    win = MainWindow()
    qtbot.addWidget(win)
    tv = win.train_view
    win.session.run_state.begin(JobKind.TRAIN, True)
    tv._on_job_started(JobKind.TRAIN)
    run = tmp_path / "run"
    tv.handle(FitStarted(run_dir=str(run), epochs=5, start_epoch=0, steps_per_epoch=1, n_train=1, n_valid=1,
                         classes=("a", "b"), device="cpu", precision="fp32", batch_size=1))
    assert "Nothing of this run is kept" in tv.close_question()
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    assert "can be resumed" in tv.close_question() and "Nothing" not in tv.close_question()
    win.session.run_state.end()


def test_cli_refuses_a_one_class_dataset_with_exit_2(one_class, tmp_path, capsys):
    from workbench.cli import main as cli_main
    runs = tmp_path / "cli-runs"
    code = cli_main(["train", str(one_class), "--set", f"runs_dir={runs}", "--set", "data.image_size=32"])
    err = capsys.readouterr().err
    assert code == 2 and "at least two classes" in err and "Traceback" not in err
    assert not runs.exists()                                   # no empty failed run left behind
