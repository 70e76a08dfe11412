"""Weight averaging (tricks.ema): equal to a hand computation, used by validation and checkpoints,
exact across a stop and resume."""
from __future__ import annotations

import pytest
import torch

from test_trainer import TinyNet, random_loaders, tiny_cfg
from workbench.runtime.control import RunControl
from workbench.train.callback import Callback
from workbench.run.folder import load_checkpoint
from workbench.train.trainer import Trainer
from workbench.train.tricks import WeightAverage, auto_decay, build_callbacks


class RawAfterStep(Callback):
    """Records the raw model weights after every optimizer step (after the EMA update)."""
    order = 95

    def __init__(self):
        self.steps = []

    def after_step(self, tr):
        self.steps.append({k: v.detach().clone() for k, v in tr.model.state_dict().items()})


def _trainer(decay=0.8, epochs=2, **kw):
    torch.manual_seed(0)
    tl, vl = random_loaders(3, n=32, bs=8)
    cbs = [WeightAverage(decay), *kw.pop("callbacks", [])]
    return Trainer(TinyNet(3), tl, vl, tiny_cfg(**{"train.epochs": epochs}), callbacks=cbs, **kw)


def test_ema_equals_a_hand_computation():
    raw = RawAfterStep()
    tr = _trainer(0.8, callbacks=[raw])
    init = {k: v.detach().clone() for k, v in tr.model.state_dict().items()}
    params = {n for n, _ in tr.model.named_parameters()}
    assert tr.fit() == "completed"
    assert len(raw.steps) == 2 * len(tr.train_loader) == 8
    expect = {k: v.clone() for k, v in init.items()}
    for w in raw.steps:
        for k in expect:
            if k in params:
                expect[k] = 0.8 * expect[k] + 0.2 * w[k]
            else:
                expect[k] = w[k].clone()   # BatchNorm buffers are copied
    final = tr.model.state_dict()   # after the fit the model holds the average
    for k in expect:
        assert torch.allclose(final[k].float(), expect[k].float(), atol=1e-6), k
    # ... and it differs from the raw weights of the last step
    assert not torch.allclose(final["8.weight"], raw.steps[-1]["8.weight"])
    assert "running_mean" in "".join(k for k in expect if k not in params)


def test_validation_and_best_checkpoint_use_the_average(tmp_path):
    seen = []

    class AtValidate(Callback):
        order = 95

        def after_validate(self, tr):
            seen.append({k: v.detach().clone() for k, v in tr.model.state_dict().items()})
    ema = WeightAverage(0.5)
    torch.manual_seed(0)
    tl, vl = random_loaders(3, n=32, bs=8)
    tr = Trainer(TinyNet(3), tl, vl, tiny_cfg(), callbacks=[ema, AtValidate()], run_dir=tmp_path)
    tr.fit()
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    # validation of the last epoch saw the average, and last.pt holds it as the model ...
    assert torch.equal(seen[-1]["8.weight"], tr.model.state_dict()["8.weight"])
    assert torch.equal(last["model"]["8.weight"], seen[-1]["8.weight"])
    # ... with the raw training weights in the EMA entry of the callback states
    st = last["callbacks"]["WeightAverage"]
    assert st["swapped"] is True and not torch.equal(st["shadow"]["8.weight"], seen[-1]["8.weight"])
    assert torch.equal(best["model"]["8.weight"], seen[tr.recorder.best_epoch]["8.weight"])


def test_resume_with_ema_matches_uninterrupted(tmp_path):
    full = _trainer(0.7, epochs=3)
    full.fit()
    control = RunControl()

    class StopInEpoch2(Callback):
        def after_batch(self, tr):
            if tr.epoch == 1 and tr.iter == 1:
                control.request_stop()
    part = _trainer(0.7, epochs=3, run_dir=tmp_path, control=control, callbacks=[StopInEpoch2()])
    assert part.fit() == "cancelled"
    torch.manual_seed(99)
    again = _trainer(0.7, epochs=3, run_dir=tmp_path)
    start = again.resume_from(tmp_path / "checkpoints" / "last.pt")
    assert start == 1 and again.fit(3, start_epoch=start) == "completed"
    for a, b in zip(full.history, again.history):
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-5)
    for (k, p), q in zip(full.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.allclose(p.float(), q.float(), atol=1e-6), k
    ema_full = full.callbacks[[c.name for c in full.callbacks].index("WeightAverage")]
    ema_again = again.callbacks[[c.name for c in again.callbacks].index("WeightAverage")]
    assert ema_full.updates == ema_again.updates == 3 * len(full.train_loader)


def test_auto_decay_matches_the_run_length():
    cfg = tiny_cfg(**{"tricks.ema": "true"})
    (cb,) = [c for c in build_callbacks(cfg, 3) if isinstance(c, WeightAverage)]
    assert cb.requested == 0.0
    assert 1 / (1 - auto_decay(10_000)) == pytest.approx(300)
    assert auto_decay(10) == 0.0  # a window of one step: the average is the weights
    tr = _trainer(0.0, epochs=4)
    tr.fit()
    ema = next(c for c in tr.callbacks if isinstance(c, WeightAverage))
    assert ema.decay == auto_decay(4 * len(tr.train_loader))
    with pytest.raises(ValueError):
        WeightAverage(1.0)
