"""Time budget as working time: a pause and the time between a stop and a resume are not spent; the
keeper re-plans inside an epoch, so a one-epoch plan stretches or shrinks; the probe times what the run
trains (a fine-tune's frozen phase apart) and discounts the CPU share other programs took."""
from __future__ import annotations

import json

import pytest
import torch

from test_planner import Lrs, _dataset, _kept_trainer
from test_trainer import TinyNet, random_loaders, tiny_cfg
from workbench.config import RunConfig
from workbench.runtime.control import RunControl
from workbench.runtime.events import Paused, Resumed
from workbench.train.budget import resumed_keeper
from workbench.train.callback import Callback
from workbench.train.planner import THREAD_GAIN, WARMUP_STEPS, Measured, Plan, make_plan, run_costs, whole
from workbench.train.probe import free_machine_threads, probe
from workbench.train.run import build_trainer
from workbench.train.schedules import lr_at
from workbench.train.trainer import Trainer


class PauseAt(Callback):
    """Pauses the run after batch ``it`` of epoch ``epoch`` (the control is checked before the next)."""

    def __init__(self, control, epoch, it):
        self.control, self.epoch, self.it = control, epoch, it

    def after_batch(self, tr):
        if tr.training and (tr.epoch, tr.iter) == (self.epoch, self.it):
            self.control.pause()


def test_a_pause_longer_than_an_epoch_spends_no_budget_and_keeps_the_curve():
    quiet, quiet_keeper, quiet_lrs, quiet_clock = _kept_trainer(lambda e: 1.0)
    quiet.fit()
    control, events = RunControl(), []
    holder = {}

    def sink(ev):            # the user leaves the run paused for 3 s (three epochs' time), then resumes
        events.append(ev)
        if isinstance(ev, Paused):
            holder["clock"].t += 3.0
            control.resume()
    tr, keeper, lrs, clock = _kept_trainer(lambda e: 1.0, control=control, sink=sink,
                                           callbacks=[PauseAt(control, 2, 1)])
    holder["clock"] = clock
    assert tr.fit() == "completed"
    assert [type(e) for e in events if isinstance(e, (Paused, Resumed))] == [Paused, Resumed]
    assert keeper.paused_s == pytest.approx(3.0)
    assert keeper.replans == [] and not [e for e in events if type(e).__name__ == "Replanned"]
    assert len(tr.history) == 6 == whole(keeper.map.epochs)           # the planned epochs stay
    assert lrs.lrs == pytest.approx(quiet_lrs.lrs)                    # the LR curve did not move
    assert clock.t == pytest.approx(quiet_clock.t + 3.0)              # the pause came on top of the budget


def test_a_pause_mid_epoch_is_not_training_time_for_the_plan_the_budget_or_the_speed_shown(monkeypatch):
    """A 56-s plan of 16 epochs (40 steps of 3.5 s / 40 each, measured inside epochs too), paused for 15 s in
    the middle of epoch 7: the plan and its curve stay, the run ends 15 s later (the budget is training
    time), the images/s and the epoch's seconds after the pause count training only, and the log says so."""
    from types import SimpleNamespace
    from workbench.runtime.events import BatchEnd, EpochEnd, LogMessage
    from workbench.train import recorder
    holder = {}
    monkeypatch.setattr(recorder, "time", SimpleNamespace(perf_counter=lambda: holder["clock"].t))
    quiet_events = []
    quiet, _, quiet_lrs, quiet_clock = _kept_trainer(lambda e: 3.5, plan_epochs=16, epoch_cost=3.5, n=320,
                                                     sink=quiet_events.append)
    holder["clock"] = quiet_clock
    quiet.fit()
    control, events = RunControl(), []

    def sink(ev):            # the user pauses in epoch 7 and continues 15 s later
        events.append(ev)
        if isinstance(ev, Paused):
            holder["clock"].t += 15.0
            control.resume()
    tr, keeper, lrs, clock = _kept_trainer(lambda e: 3.5, plan_epochs=16, epoch_cost=3.5, n=320, control=control,
                                           sink=sink, callbacks=[PauseAt(control, 6, 19)])
    holder["clock"] = clock
    assert tr.fit() == "completed"
    assert keeper.paused_s == pytest.approx(15.0)
    assert keeper.replans == [] and len(tr.history) == 16 == whole(keeper.map.epochs)   # the plan stays
    assert lrs.lrs == pytest.approx(quiet_lrs.lrs)                                      # and its curve
    assert clock.t == pytest.approx(quiet_clock.t + 15.0)                # the budget's end moved by the pause
    resumed = events.index(next(e for e in events if isinstance(e, Resumed)))
    after = [e for e in events[resumed:] if isinstance(e, BatchEnd) and e.epoch == 6]
    quiet_speed = [e.images_per_sec for e in quiet_events if isinstance(e, BatchEnd) and e.epoch == 6]
    assert after and all(e.images_per_sec == pytest.approx(quiet_speed[e.batch]) for e in after)
    seconds = [e.seconds for e in events if isinstance(e, EpochEnd)]
    assert seconds[6] == pytest.approx(3.5) and max(seconds) == pytest.approx(3.5)
    said = [e.text for e in events if isinstance(e, LogMessage) and "paused" in e.text]
    assert said and "paused 15 s, not counted as training" in said[0] and "16 epochs" in said[0]


def test_a_one_epoch_plan_stretches_inside_its_epoch_when_the_machine_is_twice_as_fast():
    # planned: 1 epoch of 100 s (40 steps) in a 100-s budget; each step takes half the predicted time
    tr, keeper, lrs, clock = _kept_trainer(lambda e: 50.0, plan_epochs=1, epoch_cost=100.0, n=320)
    assert tr.fit() == "completed"
    assert keeper.replans and keeper.replans[0]["after_epoch"] < 1      # re-planned inside the first epoch
    assert keeper.map.epochs >= 1.8 and len(tr.history) == whole(keeper.map.epochs)
    assert 96.0 <= clock.t <= 100.0 + 1.25                              # on time (within a step)
    diffs = [b - a for a, b in zip(lrs.pcts, lrs.pcts[1:])]
    assert min(diffs) > 0 and max(diffs) < 3 * min(diffs)               # continuous: stretched, not restarted
    assert lrs.lrs == pytest.approx([lr_at(tr.cfg.train, p) for p in lrs.pcts])
    assert lrs.lrs[-1] < tr.cfg.train.lr / 10                           # and run to its end


def test_a_one_epoch_plan_is_cut_inside_its_epoch_when_the_machine_is_half_as_fast():
    tr, keeper, lrs, clock = _kept_trainer(lambda e: 200.0, plan_epochs=1, epoch_cost=100.0, n=320)
    assert tr.fit() == "completed"
    assert keeper.replans and keeper.map.epochs < 0.7 and len(tr.history) == 1
    assert clock.t <= 100.0 + 5.0                                       # a step is 5 s here
    assert lrs.lrs[-1] < tr.cfg.train.lr / 10                           # the schedule still ends


def test_a_resumed_budget_run_goes_on_with_the_time_it_had_left(tmp_path):
    full, full_keeper, full_lrs, _ = _kept_trainer(lambda e: 1.0)
    full.fit()
    control = RunControl()

    class StopInEpoch4(Callback):
        def after_batch(self, tr):
            if tr.epoch == 3 and tr.iter == 1:
                control.request_stop()
    part, keeper, _, clock = _kept_trainer(lambda e: 1.0, run_dir=tmp_path, control=control,
                                           callbacks=[StopInEpoch4()])
    assert part.fit() == "cancelled"
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["callbacks"]["BudgetKeeper"]["used_s"] == pytest.approx(3.0)   # three epochs of 1 s
    clock.t += 3600.0                         # an hour later, the run is resumed
    torch.manual_seed(5)
    cfg = tiny_cfg(**{"train.epochs": 6, "train.budget_minutes": 1, "data.image_size": 16})
    tl, vl = random_loaders(3, n=32, bs=8)
    again_keeper = resumed_keeper(cfg, state, keeper.plan, started=clock.t, clock=clock)
    assert again_keeper.deadline == pytest.approx(clock.t + 3.0)
    lrs = Lrs()

    class Tick(Callback):
        order = -100

        def after_batch(self, tr):
            if tr.training:
                clock.t += 1.0 / len(tl)
    again = Trainer(TinyNet(3), tl, vl, cfg, callbacks=[again_keeper, Tick(), lrs], run_dir=tmp_path)
    start = again.resume_from(tmp_path / "checkpoints" / "last.pt")
    resumed_at = clock.t
    assert again.fit(state["n_epochs"], start_epoch=start) == "completed"
    assert again_keeper.replans == [] and len(again.history) == 6      # the hour was not spent
    assert clock.t - resumed_at == pytest.approx(3.0)
    assert lrs.lrs == pytest.approx(full_lrs.lrs[-len(lrs.lrs):])


class BusyMeter:
    """CPU samples as if other programs used ``others`` of ``cores`` cores all the time."""

    def __init__(self, others=1.5, cores=2):
        self.cores, self.others, self.t = cores, others, 0.0

    def __call__(self):
        self.t += 1.0
        return self.t, 0.3 * self.t, (0.3 + self.others) * self.t


def test_probe_times_the_frozen_phase_and_discounts_other_programs(shapes_dir):
    cfg = RunConfig().with_overrides([f"data.path={json.dumps(str(shapes_dir))}", "data.image_size=32",
                                      "data.batch_size=16", "train.budget_minutes=1", "tricks.freeze_epochs=1",
                                      "train.fine_tune=true", "train.epochs=4", "model.channels_last=false"])
    from workbench.data.pipeline import build_loaders
    from workbench.runtime.device import pick_device
    bundle = build_loaders(_dataset(cfg), cfg, pick_device(cfg.train.device))
    threads = torch.get_num_threads()
    busy = probe(lambda: build_trainer(cfg, bundle), cfg, 60, meter=BusyMeter(1.5, 2))
    assert list(busy.frozen_step_s) == [32] and busy.frozen_step_s[32] > 0
    assert torch.get_num_threads() == threads                              # the probe restored the count
    full = free_machine_threads(cfg)      # scaled to the threads a run trains on when the machine is free
    assert busy.run_threads == full
    assert busy.threads == 1   # half a core free while the trainer was built: one thread, as the run would
    assert busy.cpu_free == pytest.approx(0.5)
    assert busy.cpu_scale == pytest.approx(max(0.25, 0.5 * (1 / min(full, 2)) ** THREAD_GAIN))
    assert busy.step_s[32] == pytest.approx(busy.raw_step_s[32] * busy.cpu_scale)
    quiet = Measured(**{**busy.__dict__, "step_s": dict(busy.raw_step_s),
                        "frozen_step_s": {32: busy.frozen_step_s[32] / busy.cpu_scale}})
    plan = make_plan(cfg, busy, 0.0, 0.0)
    assert any("other programs used 1.5 of 2 cores" in line for line in plan.lines())
    if busy.cpu_scale < 1:                      # the busy probe does not shrink the plan
        assert plan.epochs > make_plan(cfg, quiet, 0.0, 0.0).epochs
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again.measured.frozen_step_s == pytest.approx(busy.frozen_step_s) and again.measured.cpu_free == pytest.approx(0.5)


def test_a_fine_tune_plan_prices_its_frozen_epochs_at_the_frozen_speed():
    cfg = RunConfig().with_overrides(["data.image_size=64", "train.budget_minutes=1", "tricks.freeze_epochs=2",
                                      "train.fine_tune=true", "train.epochs=6"])
    m = Measured(step_s={64: 0.2}, valid_s=0.5, save_s=0.0, steps_per_epoch=10, batch_size=32, n_train=320,
                 n_valid=80, probe_s=1.0, frozen_step_s={64: 0.05})
    assert run_costs(cfg, m, 4, saves=False) == pytest.approx([1.0, 1.0, 2.5, 2.5])
    assert m.step_at(64, frozen=True) == pytest.approx(0.05) and m.step_at(64) == pytest.approx(0.2)


def test_a_stopped_budget_run_resumes_with_its_plan_and_the_budget_it_had_left(shapes_dir, tmp_path):
    from workbench.runtime.events import EpochEnd
    from workbench.train.run import resume, train
    cfg = RunConfig().with_overrides([f"data.path={json.dumps(str(shapes_dir))}", "data.image_size=32",
                                      "data.batch_size=16", "train.budget_minutes=0.2", "model.arch=resnet18",
                                      "train.threads=1"])
    control = RunControl()

    def stop_after_first_epoch(ev):
        if isinstance(ev, EpochEnd):
            control.request_stop()
    run = tmp_path / "run"
    assert train(cfg, sink=stop_after_first_epoch, control=control, run_dir=run).status == "cancelled"
    first = json.loads((run / "metrics.json").read_text())
    assert first["budget_seconds"] == 12.0
    res = resume(run)
    assert res.status == "completed"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["budget_seconds"] == 12.0 and metrics["planned_seconds"] == first["planned_seconds"]
    log = (run / "log.txt").read_text()
    assert "s of 12 s used before the stop" in log
    plan = json.loads((run / "plan.json").read_text())
    assert plan["trained"]["training"]["trained_img_s"] > 0 and plan["trained"]["training"]["predicted_img_s"] > 0


def test_a_kept_probe_serves_the_same_recipe_only(tmp_path):
    from workbench.train.speed_store import recalled_probe, remember_probe
    cfg = RunConfig().with_overrides([f"data.path={json.dumps(str(tmp_path))}", "data.image_size=64",
                                      "train.budget_minutes=2"])
    m = Measured(step_s={64: 0.2}, valid_s=0.5, save_s=0.1, steps_per_epoch=10, batch_size=32, n_train=320,
                 n_valid=80, probe_s=1.5)
    assert recalled_probe(cfg) is None
    remember_probe(cfg, m.to_dict())
    # the seed, the budget, the rates and the run-length tricks the suggester sets afterwards do not matter
    same = cfg.with_overrides(["seed=3", "train.budget_minutes=5", "train.lr=0.01", "tricks.ema=true",
                               "augment.min_scale=0.5", "tricks.mixup=0.4"])
    found = recalled_probe(same)
    assert found is not None and Measured.from_dict(found[0]) == m and 0 <= found[1] < 60
    for other in ("data.image_size=96", "data.batch_size=16", "model.arch=resnet34", "train.precision=fp32",
                  "model.channels_last=false", "tricks.freeze_epochs=1"):
        assert recalled_probe(cfg.with_overrides([other])) is None, other
    assert recalled_probe(cfg, max_age=-1.0) is None          # too old


def test_slow_first_steps_of_a_fit_do_not_cut_the_plan():
    # a one-epoch plan of 100 s (40 steps) on a machine as fast as planned, whose first two steps (model
    # warm-up, on a busy machine) take 8 s each: they are not measured, so the epoch is not cut short
    holder = {}

    class SlowStart(Callback):
        order = -100

        def after_batch(self, tr):
            if tr.training and tr.epoch == 0 and tr.iter < 2:
                holder["clock"].t += 8.0
    tr, keeper, lrs, clock = _kept_trainer(lambda e: 100.0, plan_epochs=1, epoch_cost=100.0, n=320,
                                           deadline=116.0, callbacks=[SlowStart()])
    holder["clock"] = clock
    assert tr.fit() == "completed"
    assert all(r["epochs"] >= 1.0 for r in keeper.replans) and len(tr.history) == 1
    assert tr.iter + 1 == len(tr.train_loader) == 40          # the whole epoch was trained


def test_a_measurement_runs_on_the_threads_a_run_would_choose_now():
    from workbench.train.cpu_threads import threads_now
    assert threads_now(0.0, BusyMeter(1.5, 2), limit=2) == 1      # half a core free: one thread
    assert threads_now(0.0, BusyMeter(0.0, 2), limit=2) == 2      # a free machine: all


def test_the_eta_of_a_budget_run_is_the_time_its_plan_has_left():
    """BatchEnd.eta_s (the Train page's ETA) comes from the keeper: the rest of the latest plan at the
    measured speed, on the budget's clock, so it keeps to the budget; metrics.json names the latest plan."""
    from workbench.runtime.events import BatchEnd
    from workbench.train.run import _final_metrics
    seen = []
    holder = {}
    tr, keeper, _, clock = _kept_trainer(lambda e: 2.0, sink=lambda ev: isinstance(ev, BatchEnd) and seen.append(
        (ev.eta_s, holder["keeper"].deadline - holder["clock"].t)))
    holder.update(keeper=keeper, clock=clock)
    assert tr.fit() == "completed"
    assert keeper.replans and keeper.map.epochs < 6               # twice as slow: re-planned shorter
    assert seen and all(abs(eta - left) <= 0.6 for eta, left in seen)   # within a step or two of the time left
    assert all(eta <= left + 0.6 for eta, left in seen)         # never beyond the budget
    assert _final_metrics(tr, "completed", {}, 6.0)["planned_epochs"] == round(keeper.map.epochs, 3)


class LoadArrives:
    """CPU samples, one second apart, of a machine that other programs leave free until the
    ``at``-th sample and then keep ``others`` of its ``cores`` cores busy."""

    def __init__(self, at: int, others=1.5, cores=2):
        self.cores, self.at, self.others = cores, at, others
        self.n, self.t, self.busy = 0, 0.0, 0.0

    def __call__(self):
        if self.n > 0:
            self.t += 1.0
            self.busy += 0.3 + (self.others if self.n >= self.at else 0.0)
        self.n += 1
        return self.t, 0.3 * self.t, self.busy


def test_a_load_that_comes_during_the_timed_steps_has_them_timed_again_on_fewer_threads(shapes_dir):
    """Two threads on the one core others leave free step several times slower than one thread: a
    probe whose timed steps found fewer free cores than threads times them again on fewer threads,
    and scales each phase by its own share to the threads of a free machine."""
    cfg = RunConfig().with_overrides([f"data.path={json.dumps(str(shapes_dir))}", "data.image_size=32",
                                      "data.batch_size=16", "train.budget_minutes=1", "model.channels_last=false"])
    if free_machine_threads(cfg) < 2:
        pytest.skip("needs 2 cores")
    from workbench.data.pipeline import build_loaders
    from workbench.runtime.device import pick_device
    bundle = build_loaders(_dataset(cfg), cfg, pick_device(cfg.train.device))
    threads0 = torch.get_num_threads()
    seen = []

    class Threads(Callback):   # the thread count each timed fit trained on
        def before_fit(self, tr):
            seen.append([])

        def after_batch(self, tr):
            seen[-1].append(torch.get_num_threads())

    def make():
        tr = build_trainer(cfg, bundle)
        tr.add_callback(Threads())
        return tr
    # samples: before / after the build, then per fit: first warm-up step, end of the warm-up (the
    # thread choice, then the timed steps' first sample), end of the timed steps. The load comes
    # after the warm-up of the first fit: its timed steps ran on 2 starved threads
    torch.set_num_threads(2)
    try:
        # a 600-s budget: a step may take up to 12 s (a busy test machine) and the warm-up still has its
        # WARMUP_STEPS (a first step over 2 x max_s would be the only one)
        m = probe(make, cfg, 600, meter=LoadArrives(at=5, others=1.5, cores=2))
    finally:
        torch.set_num_threads(threads0)
    assert len(seen) == 2 and seen[0][-1] == 2 and set(seen[1][WARMUP_STEPS:]) == {1}   # timed again, on 1
    assert m.threads == 1 and m.cpu_free == pytest.approx(0.5) and m.run_threads == 2
    assert m.cpu_scale == pytest.approx(0.5 * 0.5 ** THREAD_GAIN)
    assert m.step_s[32] == pytest.approx(m.raw_step_s[32] * m.cpu_scale)
    # a load already there in the warm-up: the timed steps run on one thread from the start, no repeat
    seen.clear()
    torch.set_num_threads(2)
    try:
        m = probe(make, cfg, 600, meter=LoadArrives(at=2, others=1.5, cores=2))
    finally:
        torch.set_num_threads(threads0)
    assert len(seen) == 1 and seen[0][:WARMUP_STEPS] == [2] * WARMUP_STEPS and set(seen[0][WARMUP_STEPS:]) == {1}
    assert m.threads == 1 and m.cpu_free == pytest.approx(0.5)
