"""Distributed data-parallel training (torchrun + gloo on 2 CPU processes).

The Trainer-level test runs this file as a torchrun worker (``python -m torch.distributed.run
--nproc_per_node 2 tests/core/test_distributed.py worker OUT``) over a small in-memory loader with
BatchLoader's sharding (rank r takes perm[r::2] of one global permutation). The model has no
BatchNorm and no dropout (a tiny CNN), so one DDP step over 2 x B images must equal one
single-process step over the same 2B images: with BatchNorm every rank would normalise with its own
half-batch statistics (SyncBatchNorm does not run on the CPU), and dropout masks differ per rank.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from workbench.config import RunConfig
from workbench.models.build import ClassifierHead
from workbench.train import distributed
from workbench.train.callback import Callback
from workbench.train.trainer import Trainer, TrainingError

N_TRAIN, N_VALID, PER_RANK_BATCH, EPOCHS, SEED = 48, 18, 8, 2, 3
ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------- shared by the test and the workers
class ShardedTensorLoader:
    """Stand-in for BatchLoader over in-memory tensors, with the same sharding and epoch order."""

    def __init__(self, x, y, batch_size, train, rank=0, world_size=1, seed=0):
        self.x, self.y, self.batch_size, self.train = x, y, batch_size, train
        self.rank, self.world_size, self.seed, self.epoch = rank, world_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def n_samples(self) -> int:
        return math.ceil(len(self.x) / self.world_size)

    def _order(self) -> np.ndarray:
        n = len(self.x)
        idx = np.random.default_rng(self.seed + self.epoch).permutation(n) if self.train else np.arange(n)
        total = self.n_samples * self.world_size
        if total > n:
            idx = np.concatenate([idx, np.resize(idx, total - n)])
        return idx[self.rank:total:self.world_size]

    def __len__(self) -> int:
        return math.ceil(self.n_samples / self.batch_size)

    def __iter__(self):
        order = self._order()
        for i in range(0, len(order), self.batch_size):
            rows = torch.from_numpy(order[i:i + self.batch_size])
            yield self.x[rows], self.y[rows]


def tiny_cnn(n_classes: int = 3) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), ClassifierHead(nn.Dropout(0.0), nn.Linear(16, n_classes)))


def make_trainer(batch_size: int, rank: int = 0, world_size: int = 1, callbacks=(), run_dir=None) -> Trainer:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N_TRAIN + N_VALID, 3, 16, 16, generator=g)
    y = torch.randint(0, 3, (N_TRAIN + N_VALID,), generator=g)
    x[torch.arange(len(y)), y] += 1.5  # learnable: the class brightens one channel
    cfg = (RunConfig().set("train.epochs", EPOCHS).set("train.lr", 1e-2).set("model.channels_last", False)
           .set("train.device", "cpu").set("train.precision", "fp32"))
    train = ShardedTensorLoader(x[:N_TRAIN], y[:N_TRAIN], batch_size, True, rank, world_size, SEED)
    valid = ShardedTensorLoader(x[N_TRAIN:], y[N_TRAIN:], 6, False, rank, world_size, SEED)
    torch.manual_seed(SEED)
    return Trainer(tiny_cnn(), train, valid, cfg, callbacks=list(callbacks), run_dir=run_dir)


class StopAt(Callback):
    """Requests a user stop on one rank only, at a given batch of the first epoch."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def after_batch(self, trainer) -> None:
        if trainer.epoch == 0 and trainer.iter == self.batch:
            trainer.control.inner.request_stop() if hasattr(trainer.control, "inner") else trainer.control.request_stop()


class NanAt(Callback):
    """Makes the loss NaN on one rank only."""

    def after_pred(self, trainer) -> None:
        if trainer.epoch == 0 and trainer.iter == 1:
            trainer.pred = trainer.pred * float("nan")


def worker(out: Path) -> None:
    """Runs under torchrun: three fits in one process group; each rank writes what it saw."""
    info = distributed.start("cpu")
    res: dict = {"rank": info.rank, "world_size": info.world_size, "backend": info.backend}
    tr = make_trainer(PER_RANK_BATCH, info.rank, info.world_size, distributed.callbacks())
    res["status"] = tr.fit(EPOCHS)
    res["history"] = tr.history
    res["n_iter"] = tr.n_iter
    torch.save(tr.model.state_dict(), out / f"ddp_rank{info.rank}.pt")
    # a stop requested on rank 1 only stops both ranks at the same batch
    extra = [StopAt(1)] if info.rank == 1 else []
    tr = make_trainer(PER_RANK_BATCH, info.rank, info.world_size, [*distributed.callbacks(), *extra])
    res["stop_status"], res["stop_step"] = tr.fit(EPOCHS), tr.step
    # a NaN loss on rank 1 only fails both ranks (nobody waits forever in a collective)
    extra = [NanAt()] if info.rank == 1 else []
    tr = make_trainer(PER_RANK_BATCH, info.rank, info.world_size, [*distributed.callbacks(), *extra])
    try:
        tr.fit(EPOCHS)
        res["nan"] = "no error"
    except TrainingError as e:
        res["nan"] = str(e)
    (out / f"rank{info.rank}.json").write_text(json.dumps(res))
    distributed.cleanup()


# --------------------------------------------------------------------- tests
def test_detect_reads_torchrun_environment():
    assert distributed.detect({}) == distributed.DistInfo()
    info = distributed.detect({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (info.rank, info.world_size, info.local_rank, info.enabled, info.is_main) == (1, 4, 1, True, False)
    assert not distributed.detect({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}).enabled
    with pytest.raises(distributed.DistributedError, match="LOCAL_RANK"):
        distributed.detect({"RANK": "0", "WORLD_SIZE": "2"})
    with pytest.raises(distributed.DistributedError, match="inconsistent"):
        distributed.detect({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def test_single_process_helpers_are_no_ops():
    assert distributed.callbacks() == []
    assert distributed.all_reduce_sum([1.0, 2.0]) == [1.0, 2.0]
    assert distributed.any_rank(True) and not distributed.any_rank(False)
    assert distributed.broadcast_object("x") == "x"
    with distributed.rank0_first():
        pass


def _torchrun(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_ddp_matches_single_process_with_double_batch(tmp_path):
    proc = _torchrun([__file__, "worker", str(tmp_path)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["backend"] for r in ranks] == ["gloo", "gloo"]
    assert all(r["status"] == "completed" and r["n_iter"] == 3 for r in ranks)

    torch.set_num_threads(1)
    single = make_trainer(2 * PER_RANK_BATCH)
    assert single.fit(EPOCHS) == "completed"
    ref = single.model.state_dict()
    for r in (0, 1):
        got = torch.load(tmp_path / f"ddp_rank{r}.pt", weights_only=True)
        for k, v in ref.items():
            torch.testing.assert_close(got[k], v, rtol=1e-4, atol=1e-5, msg=f"rank {r} {k}")
    # history: train loss summed over ranks = the single run's mean over the same images; full validation
    for row_d, row_s in zip(ranks[0]["history"], single.history):
        assert row_d["train_loss"] == pytest.approx(row_s["train_loss"], rel=1e-4)
        assert row_d["valid_loss"] == pytest.approx(row_s["valid_loss"], rel=1e-4)
        assert row_d["accuracy"] == pytest.approx(row_s["accuracy"])

    # stop on one rank -> both cancelled after the same number of steps
    assert [r["stop_status"] for r in ranks] == ["cancelled", "cancelled"]
    assert ranks[0]["stop_step"] == ranks[1]["stop_step"] == 2
    # NaN on one rank -> both fail with the trainer's message
    assert all("loss became nan" in r["nan"] for r in ranks), [r["nan"] for r in ranks]


# --------------------------------------------------------------------- torchrun_job (no torch in the child)
FAKE_RUN = r"""
import signal, sys, threading
from workbench.runtime.events import BatchEnd, EpochEnd, FitFinished, FitStarted
from workbench.train.torchrun_job import ProgressFile
run_dir = sys.argv[1]
pf = ProgressFile(run_dir)
stop = threading.Event()
signal.signal(signal.SIGINT, lambda *a: stop.set())
pf(FitStarted(run_dir, 3, 0, 4, 32, 8, ("a", "b"), "CPU", "fp32", 8))
pf(BatchEnd(0, 3, 4, 4, 1.0, 1.1, 0.01, 0.9, 100.0, 5.0))
pf(EpochEnd(0, 1.0, 0.9, {"accuracy": 0.5}, 0.01, 1.0, 100.0, True))
if sys.argv[2] == "wait":
    stop.wait(60)
    pf(FitFinished("cancelled", "stopped by the user", best_epoch=0, metrics={"best_epoch": 0}, run_dir=run_dir))
    sys.exit(130)
sys.exit(3)
"""


def test_torchrun_job_follows_progress_and_stops_cleanly(tmp_path):
    from workbench.runtime.control import RunControl
    from workbench.runtime.events import BatchEnd, EpochEnd, FitFinished, FitStarted
    from workbench.train import torchrun_job as tj
    control, events = RunControl(), []

    def sink(ev):
        events.append(ev)
        if isinstance(ev, EpochEnd):
            control.request_stop()  # like the GUI's Stop button

    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env_path) if p)
    try:
        res = tj._run([sys.executable, "-c", FAKE_RUN, str(tmp_path), "wait"], tmp_path, sink, control, 30, 0.05)
        events[:] = [e for e in events if type(e).__name__ != "LogMessage"]
        assert [type(e) for e in events] == [FitStarted, BatchEnd, EpochEnd, FitFinished]
        assert (res.status, res.returncode, events[-1].status, events[-1].best_epoch) == ("cancelled", 130, "cancelled", 0)
        assert events[0].classes == ("a", "b") and events[2].metrics == {"accuracy": 0.5}
        # a process that dies without a result is reported as failed, with the log's tail
        events.clear()
        res = tj._run([sys.executable, "-c", FAKE_RUN, str(tmp_path), "die"], tmp_path, sink, RunControl(), 30, 0.05)
        assert res.status == "failed" and res.returncode == 3 and "exit code 3" in res.message
    finally:
        os.environ["PYTHONPATH"] = env_path


def test_launch_command_arguments():
    import argparse
    from workbench.cli.common import UsageError
    from workbench.cli.launch_cmd import torchrun_args
    ns = argparse.Namespace(nproc=2, nnodes="1", node_rank=0, rdzv_endpoint="", rdzv_id="wb",
                            rest=["--", "train", "data", "--set", "train.epochs=1"])
    args = torchrun_args(ns)
    assert args[:3] == ["--nproc_per_node=2", "--nnodes=1", "--standalone"]
    assert args[-5:] == ["workbench", "train", "data", "--set", "train.epochs=1"] and "--no-python" in args
    ns.nnodes, ns.rdzv_endpoint = "2", "host0:29400"
    assert "--rdzv_endpoint=host0:29400" in torchrun_args(ns)
    ns.rest = ["--", "export", "x"]
    with pytest.raises(UsageError):
        torchrun_args(ns)




# --------------------------------------------------------------------- the real command under torchrun
def _workbench_torchrun(args: list[str], log: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "workbench", *args]
    with open(log, "w") as fh:  # a file, not a pipe: a full pipe would stall the run
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, **kw)


def test_torchrun_train_writes_one_run_folder_and_resumes_after_kill(shapes_dir, tmp_path):
    import time
    from workbench.run.folder import RunFolder
    from workbench.train.torchrun_job import kill_tree
    runs, out = tmp_path / "runs", tmp_path / "runs" / "ddp"
    recipe = ["--set", "train.epochs=3", "--set", "data.image_size=32", "--set", "data.batch_size=12",
              "--set", f"runs_dir={runs}", "--set", "train.precision=fp32", "--set", "augment.enabled=false"]
    log = tmp_path / "torchrun.log"
    proc = _workbench_torchrun(["train", str(shapes_dir), *recipe, "--out", str(out)], log, start_new_session=True)
    progress = out / "progress.json"
    deadline = time.monotonic() + 120
    try:
        # a different process: wait on it with a short timeout and look at the run folder in between
        while True:
            try:
                proc.wait(timeout=0.2)
                pytest.fail(f"the run ended before it was killed:\n{log.read_text()[-3000:]}")
            except subprocess.TimeoutExpired:
                pass
            state = json.loads(progress.read_text()) if progress.is_file() else {}
            if len(state.get("epochs", [])) >= 2:  # epoch 1 ended, so epoch 0's checkpoint is on disk
                break
            assert time.monotonic() < deadline, f"no second epoch within 120 s:\n{log.read_text()[-3000:]}"
    finally:
        kill_tree(proc.pid)  # torchrun and its ranks (they run in sessions of their own), like a crash
        proc.wait()
    folder = RunFolder(out)
    assert [p.name for p in runs.iterdir()] == ["ddp"], "only rank 0 creates a run folder"
    assert folder.last.is_file() and folder.read_metrics()["status"] == "running", log.read_text()[-3000:]

    res = _workbench_torchrun(["resume", str(out)], log)
    assert res.wait(timeout=180) == 0, log.read_text()[-3000:]
    metrics = folder.read_metrics()
    assert metrics["status"] == "completed" and metrics["epochs_done"] == 3, (metrics, log.read_text()[-3000:])
    assert [r["epoch"] for r in folder.read_history()] == [0, 1, 2]
    assert [p.name for p in runs.iterdir()] == ["ddp"]
    names = {p.name for p in folder.checkpoints.iterdir()}
    # besides the checkpoints only a temp file of a write the kill interrupted may be left
    assert {"best.pt", "last.pt"} <= names and all(n.endswith(".tmp") for n in names - {"best.pt", "last.pt"}), names
    # both ranks validated with the same weights and BatchNorm statistics: same final result line
    status = [ln for ln in log.read_text().splitlines() if ln.startswith("status:")]
    assert len(status) == 2 and status[0] == status[1], status


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "worker":
    worker(Path(sys.argv[2]))
