"""Trainer: hook order, stop / pause, learning, out-of-memory halving, NaN stop, checkpoints.

Uses a small private loader over in-memory tensors with the BatchLoader interface, so these tests do
not depend on the data pipeline.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from workbench.config import RunConfig
from workbench.runtime.control import RunControl
from workbench.runtime.events import BatchEnd, CheckpointSaved, EpochEnd, LogMessage, Paused, Resumed
from workbench.train.callback import HOOKS, Callback
from workbench.run.folder import load_checkpoint
from workbench.train.trainer import Trainer, TrainingError
from synth import TensorLoader


class TinyNet(nn.Sequential):
    def __init__(self, n_classes: int = 3):
        super().__init__(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(16, n_classes))


class SmallCNN(nn.Sequential):
    def __init__(self, n_classes: int = 3):
        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
        super().__init__(*block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2), *block(32, 64),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, n_classes))


def tiny_cfg(**over) -> RunConfig:
    cfg = RunConfig().with_overrides(["train.epochs=2", "train.lr=0.01", "data.batch_size=8",
                                      "model.channels_last=false"])
    return cfg.with_overrides([f"{k}={v}" for k, v in over.items()])


def random_loaders(n_classes: int = 3, n: int = 32, size: int = 16, seed: int = 0, bs: int = 8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g)
    y = torch.arange(n) % n_classes
    x[:, 0] += y[:, None, None].float()  # learnable signal
    return TensorLoader(x, y, bs, True, seed), TensorLoader(x[:16], y[:16], bs, False)


def make_trainer(cfg=None, callbacks=(), n_classes=3, **kw) -> Trainer:
    torch.manual_seed(0)
    tl, vl = random_loaders(n_classes)
    return Trainer(TinyNet(n_classes), tl, vl, cfg or tiny_cfg(), callbacks=list(callbacks), **kw)


class Recording(Callback):
    def __init__(self):
        self.calls: list[str] = []


for _h in HOOKS:
    setattr(Recording, _h, (lambda name: lambda self, tr: self.calls.append(name))(_h))


def test_hook_order():
    rec = Recording()
    tr = make_trainer(callbacks=[rec])
    assert tr.fit(2) == "completed"
    n = len(tr.train_loader)
    batch = ["before_batch", "after_pred", "after_loss", "before_step", "after_step", "after_batch"]
    epoch = ["before_epoch", "before_train", *batch * n, "after_train", "before_validate",
             "after_validate", "after_epoch", "after_epoch_kept"]
    assert rec.calls == ["before_fit", *epoch * 2, "after_fit"]
    assert tr.step == 2 * n and len(tr.history) == 2
    assert set(tr.metrics) == {"valid_loss", "accuracy"}


def test_stop_mid_epoch_runs_cancel_hooks():
    control = RunControl()

    class StopAt(Recording):
        def after_batch(self, tr):
            super().after_batch(tr)  # records
            if tr.epoch == 1 and tr.iter == 1:
                control.request_stop()

    rec = StopAt()
    tr = make_trainer(callbacks=[rec], control=control)
    assert tr.fit(3) == "cancelled"
    assert tr.stop_reason == "cancelled"
    assert rec.calls[-2:] == ["after_cancel_fit", "after_fit"]
    assert rec.calls.count("after_epoch") == 1 and rec.calls.count("before_epoch") == 2
    assert len(tr.history) == 1


def test_pause_and_resume_from_another_thread():
    control = RunControl()
    paused, resumed = threading.Event(), threading.Event()

    def sink(ev):
        if isinstance(ev, Paused):
            paused.set()
        elif isinstance(ev, Resumed):
            resumed.set()

    class PauseOnce(Callback):
        def after_batch(self, tr):
            if tr.epoch == 0 and tr.iter == 0:
                control.pause()

    tr = make_trainer(callbacks=[PauseOnce()], control=control, sink=sink)
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("status", tr.fit(1)))
    th.start()
    assert paused.wait(30)
    step_while_paused = tr.step
    assert th.is_alive() and control.paused and step_while_paused == 1
    control.resume()
    assert resumed.wait(30)
    th.join(60)
    assert result["status"] == "completed" and tr.step == len(tr.train_loader)


def _load_images(root: Path, split: str, classes) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for i, c in enumerate(classes):
        for f in sorted((root / split / c).glob("*.png")):
            xs.append(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255.0)
            ys.append(i)
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2)
    x = (x - 0.45) / 0.25
    return x.contiguous(), torch.tensor(ys)


def test_learns_shapes_well_above_chance(shapes_dir):
    classes = sorted(p.name for p in (shapes_dir / "train").iterdir())
    xt, yt = _load_images(shapes_dir, "train", classes)
    xv, yv = _load_images(shapes_dir, "valid", classes)
    cfg = tiny_cfg(**{"train.epochs": 15, "train.lr": 0.02})
    torch.manual_seed(0)
    tr = Trainer(SmallCNN(len(classes)), TensorLoader(xt, yt, 8, True), TensorLoader(xv, yv, 32, False), cfg,
                 precision="fp32")
    tr.fit()
    accs = [r["accuracy"] for r in tr.history]
    assert accs[-1] >= 0.55 and max(accs) >= 0.65, accs  # chance is 1/3
    assert tr.history[-1]["train_loss"] < 0.8 * tr.history[0]["train_loss"]


def test_out_of_memory_halves_batch_and_retries_epoch():
    seen = []

    class OOMOnce(Callback):
        fired = False

        def before_epoch(self, tr):
            seen.append([p.detach().clone() for p in tr.model.parameters()])

        def before_batch(self, tr):
            if tr.epoch == 0 and tr.iter == 2 and not self.fired:
                self.fired = True
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")

    events = []
    tr = make_trainer(callbacks=[OOMOnce()], sink=events.append)
    assert tr.fit(2) == "completed"
    assert tr.train_loader.batch_size == 4 and tr.lr_scale == 0.5
    assert len(tr.history) == 2 and [r["epoch"] for r in tr.history] == [0, 1]
    # the retry started from the weights at the start of the epoch
    assert len(seen) == 3 and all(torch.equal(a, b) for a, b in zip(seen[0], seen[1]))
    assert tr.step == 8 + 8  # the 2 steps before the failure were rolled back; 32 / 4 = 8 per epoch
    assert any(isinstance(e, LogMessage) and "out of memory" in e.text and "8 -> 4" in e.text for e in events)
    lrs = [g["lr"] for g in tr.opt.param_groups]
    from workbench.train.schedules import lr_at
    assert np.isclose(lrs[-1], lr_at(tr.cfg.train, tr.pct_train) * 0.5)


def test_nan_loss_stops_with_clear_message_and_keeps_checkpoint(tmp_path):
    class NaNAt(Recording):
        def after_loss(self, tr):
            if tr.epoch == 1 and tr.iter == 1:
                tr.loss = tr.loss * float("nan")

    rec = NaNAt()
    tr = make_trainer(callbacks=[rec], run_dir=tmp_path)
    with pytest.raises(TrainingError, match=r"epoch 2, batch 2"):
        tr.fit(3)
    assert tr.stop_reason == "failed"
    assert rec.calls[-2:] == ["after_cancel_fit", "after_fit"]
    ck = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert ck["epoch"] == 0 and ck["next_epoch"] == 1


def test_top5_is_measured_only_with_more_than_five_classes():
    """With 5 classes or fewer every image's class is among the top 5: top-5 accuracy is always 100 %
    and says nothing, so no chart or table shows it (it was drawn for such datasets)."""
    for n_classes, measured in ((3, False), (5, False), (6, True)):
        events = []
        tr = make_trainer(n_classes=n_classes, sink=events.append)
        assert tr.fit(1) == "completed"
        ends = [e for e in events if isinstance(e, EpochEnd)]   # what the live Train chart draws
        assert ("top5" in tr.metrics) is measured and ends and all(("top5" in e.metrics) is measured for e in ends)


def test_checkpoints_and_events(tmp_path):
    events = []
    tr = make_trainer(run_dir=tmp_path, sink=events.append, n_classes=6,
                      cfg=tiny_cfg(**{"train.grad_accum": 2}))
    tr.fit(2)
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert {"model", "opt", "scaler", "rng", "callbacks", "batch_size", "lr_scale", "step"} <= set(last)
    assert last["next_epoch"] == 2 and "Recorder" in last["callbacks"]
    assert (tmp_path / "checkpoints" / "best.pt").is_file()
    assert (tmp_path / "history.csv").read_text().splitlines()[0].startswith("epoch,train_loss,valid_loss")
    assert tr.step == len(tr.train_loader)  # grad_accum 2: one step per two batches, x 2 epochs
    assert "top5" in tr.metrics
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert len(ends) == 2 and ends[0].is_best
    assert sum(isinstance(e, CheckpointSaved) for e in events) == 2
    batch_events = [e for e in events if isinstance(e, BatchEnd)]
    assert batch_events and batch_events[-1].batch == batch_events[-1].n_batches - 1


def test_bf16_autocast_runs_on_cpu():
    """precision bf16 really runs the forward pass under bf16 autocast (and fp32 does not)."""
    class Dtypes(Callback):
        def __init__(self):
            self.seen = set()

        def after_pred(self, trainer):
            self.seen.add(trainer.pred.dtype)

    for precision, want in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        probe = Dtypes()
        tr = make_trainer(precision=precision, callbacks=[probe])
        tr.fit(1)
        assert np.isfinite(tr.history[0]["train_loss"])
        assert probe.seen == {want}, (precision, probe.seen)



def test_undo_point_puts_the_trainer_back_exactly():
    """Trainer.undo_point() / undo(): weights, optimizer, counters, history, RNG and attributes added by a fit."""
    import random
    tr = make_trainer()
    weights = {k: v.clone() for k, v in tr.model.state_dict().items()}
    point = tr.undo_point()
    draws = (random.random(), float(np.random.rand()), torch.rand(3))
    tr.fit(1)
    tr.extra_attribute = 1
    assert tr.step > 0 and tr.history and tr.opt.state_dict()["state"]
    tr.undo(point)
    assert tr.step == 0 and tr.history == [] and not hasattr(tr, "extra_attribute")
    assert all(torch.equal(v, tr.model.state_dict()[k]) for k, v in weights.items())
    assert tr.opt.state_dict()["state"] == {}
    again = (random.random(), float(np.random.rand()), torch.rand(3))  # the same draws as after the snapshot
    assert again[:2] == draws[:2] and torch.equal(again[2], draws[2])


def test_misspelt_hook_raises_when_defined_and_when_attached():
    """A method named like a hook that the loop never calls is an error, not a silent no-op."""
    with pytest.raises(TypeError, match="before_epoc is not a trainer hook.*did you mean before_epoch"):
        class Typo(Callback):
            def before_epoc(self, trainer):
                pass

    class Duck:  # not a Callback subclass: checked when it is attached
        order = 0

        def after_bach(self, trainer):
            pass

    from workbench.train.callback import check_hooks
    with pytest.raises(TypeError, match="after_bach is not a trainer hook.*did you mean after_batch"):
        check_hooks(Duck())

    class Fine(Callback):
        def after_batch(self, trainer):
            pass
    check_hooks(Fine())  # a real hook passes


def test_no_code_outside_the_trainer_touches_its_private_attributes():
    """Callbacks and jobs use the documented surface (set_forward, forward_module, ...), never
    ``trainer._something``: a rename inside the loop cannot silently break them."""
    import ast
    from pathlib import Path
    import workbench
    root = Path(workbench.__file__).parent
    found = []
    for f in root.rglob("*.py"):
        if f.name == "trainer.py" and f.parent.name == "train":
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in {"trainer", "tr", "learner"}):
                found.append(f"{f.relative_to(root)}:{node.lineno} {node.value.id}.{node.attr}")
    assert found == []


def test_set_forward_wraps_the_forward_pass_and_none_restores_it():
    calls = []
    tr = make_trainer()
    own = tr.forward_module
    tr.set_forward(lambda x: calls.append(x.shape[0]) or own(x))
    tr.fit(1)
    assert calls and sum(calls) > 0
    tr.set_forward(None)
    assert tr.forward_module is own


def test_borrowed_puts_callbacks_loaders_and_sink_back_also_after_an_exception():
    """``with trainer.borrowed(...)``: the block runs with the lent callbacks, loaders and sink; on the
    way out (here: an error inside the fit) the trainer's own are back, the same objects in the same order."""
    class Boom(Callback):
        def __init__(self):
            self.batches = 0

        def after_batch(self, tr):
            self.batches += 1
            if self.batches == 2:
                raise RuntimeError("boom")

    events = []
    tr = make_trainer(sink=events.append)
    cbs, tl, vl, sink = list(tr.callbacks), tr.train_loader, tr.valid_loader, tr.sink
    other_tl, other_vl = random_loaders(3, n=16, seed=1)
    boom, lent = Boom(), []
    with pytest.raises(RuntimeError, match="boom"):
        with tr.borrowed(callbacks=[boom, tr.recorder], train_loader=other_tl, valid_loader=other_vl,
                         sink=lent.append):
            assert tr.callbacks == [boom, tr.recorder] and tr.train_loader is other_tl and tr.valid_loader is other_vl
            tr.fit(1)
    assert boom.batches == 2 and tr.step == 2 and lent and not events   # the lent ones ran
    assert tr.callbacks == cbs and tr.train_loader is tl and tr.valid_loader is vl and tr.sink is sink

    class Duck:  # a misspelt hook is refused when lent, as when attached; nothing changes
        order = 0

        def after_bach(self, trainer):
            pass
    with pytest.raises(TypeError, match="after_bach is not a trainer hook"):
        with tr.borrowed(callbacks=[Duck()]):
            pass
    assert tr.callbacks == cbs

    weights = {k: v.clone() for k, v in tr.model.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        with tr.borrowed(callbacks=[Boom(), *cbs], leave_no_trace=True):
            tr.fit(1)
    assert tr.step == 2 and tr.callbacks == cbs      # leave_no_trace: the steps of the failed fit are undone
    assert all(torch.equal(v, tr.model.state_dict()[k]) for k, v in weights.items())


def test_set_progress_places_the_schedule_and_none_gives_back_the_trainers_own():
    from workbench.train.schedules import lr_at
    seen = []

    class Lr(Callback):
        order = 0  # after the ParamScheduler

        def before_batch(self, tr):
            seen.append((tr.pct_train, tr.sched_lr))

    tr = make_trainer(callbacks=[Lr()])
    tr.set_progress(lambda t: 0.5)
    tr.fit(1)
    assert {p for p, _ in seen} == {0.5}
    assert [lr for _, lr in seen] == pytest.approx([lr_at(tr.cfg.train, 0.5)] * len(seen))
    seen.clear()
    tr.set_progress(None)
    tr.fit(2)
    n = len(tr.train_loader)
    assert [p for p, _ in seen] == pytest.approx([i / (2 * n) for i in range(2 * n)])


def test_the_trainer_writes_no_file_its_run_writer_does(tmp_path):
    """Log lines reach log.txt through the run folder's sink; an early stop still saves its epoch after
    every after_epoch hook (the EarlyStopping state in last.pt is the one after its decision)."""
    from workbench.train.checkpoint import RunWriter
    from workbench.run.folder import RunFolder
    from workbench.train.tricks import EarlyStopping

    class Worse(Callback):
        order = 50

        def after_validate(self, tr):
            tr.metrics["valid_loss"] = 1.0 + tr.epoch   # never improves after the first epoch

    tr = make_trainer(callbacks=[EarlyStopping("valid_loss", patience=1), Worse()])
    tr.log("no folder, no file")
    assert tr.fit(3) == "early_stopped" and list(tmp_path.iterdir()) == []
    tr = make_trainer(callbacks=[EarlyStopping("valid_loss", patience=1), Worse()], run_dir=tmp_path)
    assert sum(isinstance(c, RunWriter) for c in tr.callbacks) == 1
    tr.log("a line for the run log")
    assert tr.fit(3) == "early_stopped"
    f = RunFolder(tmp_path)
    last = load_checkpoint(f.last)
    assert last["next_epoch"] == 2 and last["callbacks"]["EarlyStopping"]["wait"] == 1
    assert [r["epoch"] for r in f.read_history()] == [0, 1]
    log = f.log.read_text()
    assert "a line for the run log" in log and "early stopping: valid_loss has not improved" in log
    assert "epoch 2/3" in log


def test_nan_validation_loss_from_epoch_1_stops_like_a_nan_training_loss(tmp_path):
    class NaNWhenEvaluating(TinyNet):
        def forward(self, x):
            out = super().forward(x)
            return out if self.training else out * float("nan")

    torch.manual_seed(0)
    tl, vl = random_loaders(3)
    tr = Trainer(NaNWhenEvaluating(3), tl, vl, tiny_cfg(), run_dir=tmp_path)
    with pytest.raises(TrainingError, match=r"validation loss became nan at epoch 1"):
        tr.fit(2)
    assert tr.stop_reason == "failed" and tr.history == []
    assert not (tmp_path / "checkpoints" / "best.pt").exists()


def test_metrics_json_is_strict_json(tmp_path):
    import json
    import math

    from workbench.run.folder import RunFolder
    f = RunFolder(tmp_path)
    f.write_metrics({"valid_accuracy": math.nan, "valid_loss": math.inf, "rows": [1.5, -math.inf], "ok": 0.5})

    def refuse(name):
        raise ValueError(f"bare {name} in metrics.json")
    m = json.loads(f.metrics.read_text(), parse_constant=refuse)
    assert m == {"valid_accuracy": None, "valid_loss": None, "rows": [1.5, None], "ok": 0.5}


def test_stop_after_the_last_batch_keeps_the_epoch_validated_and_saved(tmp_path):
    """Stop pressed while an epoch's last batch runs: the epoch is validated and checkpointed, and the
    run stops before the next one (it was thrown away, with a checkpoint of the epoch before)."""
    control = RunControl()

    class StopAtLastBatch(Callback):
        def after_batch(self, tr):
            if tr.epoch == 1 and tr.iter == tr.n_iter - 1:
                control.request_stop()

    events = []
    tr = make_trainer(callbacks=[StopAtLastBatch()], control=control, run_dir=tmp_path, sink=events.append)
    assert tr.fit(4) == "cancelled"
    assert [r["epoch"] for r in tr.history] == [0, 1]
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["next_epoch"] == 2
    assert [e.epoch for e in events if isinstance(e, CheckpointSaved)][-1] == 1


def test_live_smoothed_loss_ends_each_epoch_near_its_train_loss():
    """With few batches per epoch a smoothed loss carried over from earlier epochs lagged far behind
    (1.11 shown beside a train_loss of 0.40); it starts again each epoch."""
    events = []
    torch.manual_seed(0)
    tl, vl = random_loaders(3, n=24, bs=8)  # 3 batches per epoch
    tr = Trainer(TinyNet(3), tl, vl, tiny_cfg(**{"train.lr": 0.05}), sink=events.append)
    tr.recorder.min_interval = 0.0
    tr.fit(8)
    last = {e.epoch: e.smooth_loss for e in events if isinstance(e, BatchEnd)}
    for row in tr.history[1:]:
        assert last[row["epoch"]] == pytest.approx(row["train_loss"], rel=0.15)
