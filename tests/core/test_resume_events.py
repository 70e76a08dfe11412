"""A resumed run tells the app its whole length and what it did before: FitStarted of a resume carries
the epochs the checkpoint plans (a time-budget run's re-planned count, not config.toml's) and the
history of the epochs done."""
from __future__ import annotations

from synth import make_shapes_dataset
from workbench.config import RunConfig
from workbench.runtime.control import RunControl
from workbench.runtime.events import EpochEnd, FitStarted
from workbench.run.folder import RunFolder, load_checkpoint, save_checkpoint
from workbench.train.run import resume, train


def fit_started_of_resume(run_dir) -> FitStarted:
    """Resume ``run_dir``, stop it as soon as it starts, and return its FitStarted event."""
    seen, again = [], RunControl()

    def stop_at_once(ev):
        seen.append(ev)
        if isinstance(ev, FitStarted):
            again.request_stop()
    resume(run_dir, sink=stop_at_once, control=again)
    return next(ev for ev in seen if isinstance(ev, FitStarted))


def test_resume_reports_the_planned_epochs_and_the_earlier_history(tmp_path):
    data = make_shapes_dataset(tmp_path / "shapes", n_train=8, n_valid=4)
    cfg = (RunConfig().set("data.path", str(data)).set("runs_dir", str(tmp_path / "runs"))
           .set("data.image_size", 32).set("data.batch_size", 16).set("train.epochs", 2)
           .set("train.threads", 1).set("data.cache_dir", str(tmp_path / "cache")))
    control = RunControl()

    def stop_after_first_epoch(ev):
        if isinstance(ev, EpochEnd):
            control.request_stop()
    first = train(cfg, sink=stop_after_first_epoch, control=control)
    assert first.status == "cancelled"
    folder = RunFolder(first.run_dir)
    state = load_checkpoint(folder.last)
    assert state["next_epoch"] == 1
    state["n_epochs"] = 4                      # as a time-budget run re-plans its length
    save_checkpoint(folder.last, state)

    fit = fit_started_of_resume(first.run_dir)
    assert (fit.start_epoch, fit.epochs) == (1, 4)           # config.toml says 2
    assert [int(r["epoch"]) for r in fit.history] == [0]
    assert fit.history[0]["valid_loss"] > 0


def test_a_resumed_run_gets_the_batch_curve_and_top5_of_its_earlier_epochs(tmp_path):
    """last.pt keeps the batch curve the live view drew (at most TRACE_PER_EPOCH points an epoch) and the
    history rows keep top-5 (more than 5 classes): FitStarted of the resume carries both, so the app draws
    the earlier epochs as a fresh run did."""
    from workbench.runtime.events import BatchEnd
    classes = ("circle", "square", "triangle", "cross", "ring", "star")
    data = make_shapes_dataset(tmp_path / "shapes6", classes=classes, n_train=8, n_valid=2)
    cfg = (RunConfig().set("data.path", str(data)).set("runs_dir", str(tmp_path / "runs"))
           .set("data.image_size", 32).set("data.batch_size", 8).set("train.epochs", 3)
           .set("train.threads", 1).set("data.cache_dir", str(tmp_path / "cache")))
    control, sent = RunControl(), []

    def stop_after_first_epoch(ev):
        if isinstance(ev, BatchEnd):
            sent.append((ev.epoch + (ev.batch + 1) / ev.n_batches, ev.smooth_loss, ev.lr))
        if isinstance(ev, EpochEnd):
            control.request_stop()
    first = train(cfg, sink=stop_after_first_epoch, control=control)
    assert first.status == "cancelled"
    assert "top5" in RunFolder(first.run_dir).read_history()[0]
    fit = fit_started_of_resume(first.run_dir)
    assert fit.start_epoch == 1 and "top5" in fit.history[0]
    assert [tuple(p) for p in fit.batches] == [p for p in sent if p[0] <= 1]   # what the first run's view drew
    assert fit.batches[-1][0] == 1.0
