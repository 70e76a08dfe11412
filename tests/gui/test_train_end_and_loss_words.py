"""The Train page after a run ends shows its final state (no batch counter, no ETA), quitting while
paused says so, and the validation loss of a label-smoothed run is the same number, in the same words,
on the Results headline and in the Train log."""
from __future__ import annotations

from types import SimpleNamespace

from workbench.gui.jobs import JobKind
from workbench.runtime.events import BatchEnd, EpochEnd, FitFinished, FitStarted


def _started(epochs=12, **smoothing):
    return FitStarted(run_dir="/tmp/run-s", epochs=epochs, start_epoch=0, steps_per_epoch=7, n_train=70, n_valid=20,
                      classes=("a", "b"), device="cpu", precision="fp32", batch_size=10, **smoothing)


def _epoch(e, valid_loss=0.8924):
    return EpochEnd(epoch=e, train_loss=0.9, valid_loss=valid_loss, metrics={"accuracy": 0.7}, lr=1e-3,
                    seconds=1.0, images_per_sec=50.0, is_best=False)


def _batch(e, b):
    return BatchEnd(epoch=e, batch=b, n_batches=7, step=e * 7 + b, loss=1.0, smooth_loss=1.0, lr=1e-3, mom=0.9,
                    images_per_sec=50.0, eta_s=20.0)


def test_stop_shows_the_final_state_not_the_batch_and_eta(qtbot, session):
    from workbench.gui.views.train_view import TrainView
    tv = TrainView(session)
    qtbot.addWidget(tv)
    tv.handle(_started())
    for e in range(5):
        tv.handle(_epoch(e))
    tv.handle(_batch(5, 5))
    tv.flush()
    assert "batch 6/7" in tv.epoch_label.text() and "ETA" in tv.speed_label.text()   # while it runs
    with qtbot.waitSignal(tv.run_finished):
        tv.handle(FitFinished(status="cancelled", message="stopped by the user", run_dir="/tmp/run-s"))
    assert tv.epoch_label.text() == "Stopped after epoch 5 of 12 (run run-s)"   # the run the charts are of
    assert "batch" not in tv.epoch_label.text() and "ETA" not in tv.speed_label.text()
    tv.flush()                                              # a later refresh tick keeps the final state
    assert tv.epoch_label.text() == "Stopped after epoch 5 of 12 (run run-s)"
    # the bar says the epochs kept (5 of 12), not how far the cut-off sixth epoch got (47 %)
    assert tv.progress.value() == int(1000 * 5 / 12) and tv.progress.format() == "5 of 12 epochs"


def test_quitting_while_paused_says_paused(qtbot):
    from workbench.gui.main_window import MainWindow
    from workbench.gui.run_state import Phase
    win = MainWindow()
    qtbot.addWidget(win)
    rs = win.session.run_state
    rs.begin(JobKind.TRAIN, True)
    try:
        assert win.train_view.close_question().startswith("Training is still running")
        rs.set_phase(Phase.PAUSED)
        assert win.train_view.close_question().startswith("A training run is paused")
    finally:
        rs.end()   # nothing runs when the window closes (it would ask)


def test_smoothed_validation_loss_is_one_number_in_the_same_words(qtbot, session):
    from workbench.gui.views.result_texts import SMOOTHED, trained_loss
    from workbench.gui.views.results_view import ResultsView
    from workbench.gui.views.train_view import TrainView
    tv = TrainView(session)
    rv = ResultsView()
    for w in (tv, rv):
        qtbot.addWidget(w)
    tv.handle(_started(epochs=3, label_smoothing=0.1))
    tv.handle(_epoch(2))
    line = tv.log.toPlainText().splitlines()[-1]
    assert f"valid_loss 0.8924 ({SMOOTHED})" in line
    history = [{"epoch": e, "train_loss": 1.0, "valid_loss": 0.8924 + 0.1 * (2 - e), "accuracy": 0.7}
               for e in range(3)]
    info = SimpleNamespace(history=history, metrics={"reported_epoch": 2})
    rv.set_summary({"accuracy": 0.8, "valid_loss": 0.5777, "n": 20})
    rv.set_loss_kind(0.1, trained_loss(info))
    assert rv.values["valid_loss"].text() == "0.8924"               # the Train log's number
    name = rv.names["valid_loss"].text()
    assert SMOOTHED in name and "plain cross-entropy 0.5777" in name
    assert SMOOTHED in rv.loss_plot.getPlotItem().titleLabel.text
    rv.set_loss_kind(0.0, trained_loss(info))                        # no smoothing: the plain value, said so
    assert rv.values["valid_loss"].text() == "0.5777" and "plain cross-entropy" in rv.names["valid_loss"].text()
    tv.handle(_started(epochs=3, label_smoothing=0.0))
    tv.handle(_epoch(0))
    assert SMOOTHED not in tv.log.toPlainText().splitlines()[-1]
