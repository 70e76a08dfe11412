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

    seen = []
    again = RunControl()

    def stop_at_once(ev):
        seen.append(ev)
        if isinstance(ev, FitStarted):
            again.request_stop()
    resume(first.run_dir, sink=stop_at_once, control=again)
    fit = next(ev for ev in seen if isinstance(ev, FitStarted))
    assert (fit.start_epoch, fit.epochs) == (1, 4)           # config.toml says 2
    assert [int(r["epoch"]) for r in fit.history] == [0]
    assert fit.history[0]["valid_loss"] > 0
