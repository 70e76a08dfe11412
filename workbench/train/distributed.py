"""Distributed data-parallel training (PyTorch DDP) for runs started by ``torchrun``.

``torchrun --nproc_per_node N -m workbench train DATASET ...`` starts N copies of the program with
RANK / WORLD_SIZE / LOCAL_RANK (and MASTER_ADDR / MASTER_PORT) in the environment. ``setup`` sees them,
joins the process group (NCCL on CUDA, gloo on CPU) and picks the device of this rank. Then:

- every rank builds the same model, optimizer and schedule; the data loaders shard each epoch
  (``BatchLoader(rank=, world_size=)``: rank r takes ``perm[r::world_size]`` of one global permutation);
- ``DistributedCallback`` wraps the model in ``DistributedDataParallel`` for the training forward pass,
  so gradients are averaged across ranks during backward; the trainer's own ``model`` stays the bare
  module, so checkpoints have the same keys as single-process runs;
- validation runs on the FULL validation set on every rank without DDP, with rank 0's BatchNorm
  statistics (simple and exact); every rank then takes rank 0's metrics, so best-epoch and
  early-stopping decisions agree;
- the epoch's train loss and image count are summed over ranks (the history shows global numbers);
- stop requests and non-finite losses are agreed on by all ranks at each batch (one small all-reduce),
  so no rank waits forever for a peer that already left;
- only rank 0 writes the run folder, checkpoints, logs and progress (``is_main``).

Out-of-memory halving and pause are per process and not coordinated across ranks: in a distributed run
pick a batch size that fits, and stop instead of pausing.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ..errors import Failure
from ..runtime.control import Cancelled, RunControl
from ..runtime.device import available_cores
from ..runtime.events import fan_out, null_sink
from .callback import Callback
from ..run.folder import RunFolder
from .torchrun_job import ProgressFile, progress_file_wanted

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class DistributedError(Failure):
    """The distributed environment is incomplete or cannot be joined; the message says why."""


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""          # "nccl" | "gloo" once joined; "" for a single process

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect(env: Mapping[str, str] | None = None) -> DistInfo:
    """Read torchrun's variables; a single process (no or partial variables, WORLD_SIZE 1) -> DistInfo()."""
    env = os.environ if env is None else env
    present = [k for k in ENV_KEYS if k in env]
    if not present:
        return DistInfo()
    if len(present) != len(ENV_KEYS):
        missing = ", ".join(k for k in ENV_KEYS if k not in env)
        raise DistributedError(f"incomplete torchrun environment: {missing} not set (start with torchrun)")
    try:
        rank, world, local = (int(env[k]) for k in ENV_KEYS)
    except ValueError as e:
        raise DistributedError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers: {e}") from e
    if world < 1 or not 0 <= rank < world or local < 0:
        raise DistributedError(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local}")
    return DistInfo(rank, world, local)


def current() -> DistInfo:
    """The DistInfo of this process after ``setup`` (single process when no group is joined)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    info = detect()
    return DistInfo(dist.get_rank(), dist.get_world_size(), info.local_rank, dist.get_backend())


def setup(device_name: str = "auto", timeout_s: float = 1800.0) -> tuple[DistInfo, torch.device | None]:
    """Join the process group when started by torchrun; returns (info, device of this rank).

    The device is None for a single process (the caller picks it as usual). On CUDA each rank uses
    GPU LOCAL_RANK (NCCL); otherwise the CPU (gloo). ``device_name`` "cpu" forces gloo on the CPU.
    """
    info = detect()
    if not info.enabled:
        return info, None
    if not dist.is_available():
        raise DistributedError("this torch build has no torch.distributed support")
    name = (device_name or "auto").lower()
    use_cuda = name != "cpu" and not name.startswith("mps") and torch.cuda.is_available()
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DistributedError(f"train.device is '{device_name}' but no CUDA GPU is available")
    if use_cuda:
        if info.local_rank >= torch.cuda.device_count():
            raise DistributedError(f"LOCAL_RANK {info.local_rank} has no GPU: only {torch.cuda.device_count()} "
                                   f"visible; use --nproc_per_node {torch.cuda.device_count()} or fewer")
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"backend": backend, "timeout": datetime.timedelta(seconds=timeout_s)}
        if backend == "nccl":
            kwargs["device_id"] = device
        dist.init_process_group(**kwargs)
    return DistInfo(info.rank, info.world_size, info.local_rank, backend), device


def start(device_name: str = "auto") -> DistInfo:
    """Join torchrun's process group once per process (no-op for a single process); left at exit."""
    if current().enabled:
        return current()
    info, device = setup(device_name)
    if info.enabled:
        global _DEVICE
        _DEVICE = device
        atexit.register(cleanup)
    return info


_DEVICE: torch.device | None = None


def rank_config(cfg):
    """The RunConfig one rank trains with: its own device and, on the CPU, its share of the cores.

    Only the process's copy changes; the run folder keeps the config as the user wrote it.
    """
    info = current()
    if not info.enabled:
        return cfg
    device = _DEVICE or (torch.device("cuda", info.local_rank) if info.backend == "nccl" else torch.device("cpu"))
    cfg = cfg.set("train.device", str(device))
    if device.type == "cpu" and cfg.train.threads == 0:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size))
        cfg = cfg.set("train.threads", max(1, available_cores() // max(1, local)))
    return cfg


def callbacks() -> list:
    """Callbacks run.py adds to the Trainer: DistributedCallback under torchrun, none otherwise."""
    info = current()
    return [DistributedCallback(info)] if info.enabled else []


def cleanup() -> None:
    """Leave the process group (safe to call when none was joined). On gloo the ranks first wait for
    each other (at most 30 s): a rank that destroyed its group while another was still leaving made
    gloo abort that one ("terminate called without an active exception", exit -6) after a good run."""
    if dist.is_available() and dist.is_initialized():
        if dist.get_backend() == "gloo":
            try:
                dist.monitored_barrier(timeout=datetime.timedelta(seconds=30))
            except Exception:  # noqa: BLE001 - a peer that is gone: leave anyway
                pass
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


@contextlib.contextmanager
def rank0_first() -> Iterator[None]:
    """The first process of each machine (LOCAL_RANK 0) runs the block first (e.g. builds the image
    cache); the others wait, then run it (open the cache). A failure of a first process still releases
    the others (they then fail on their own or build what is missing).
    """
    info = current()
    if not info.enabled:
        yield
        return
    if info.local_rank == 0:
        try:
            yield
        finally:
            dist.barrier()
    else:
        dist.barrier()
        yield


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sum of a short list of numbers over all ranks (float64)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on at least one."""
    if not (dist.is_available() and dist.is_initialized()):
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (small picklable objects, e.g. a run folder path)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


class SyncedControl:
    """RunControl seen by the trainer of one rank: a stop on any rank stops all ranks at the same batch.

    Every rank calls ``check`` exactly once per batch (same batch counts on all ranks), so the flag
    all-reduce lines up. Pause is not forwarded (a paused rank would stall the others' collectives).
    """

    def __init__(self, inner: RunControl) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def check(self, on_pause=None, on_resume=None) -> None:
        if any_rank(self.inner.stop_requested):
            self.inner.request_stop()
            raise Cancelled("stopped by the user")


def _trainable_signature(model: nn.Module) -> tuple:
    return tuple(p.requires_grad for p in model.parameters())


class DistributedCallback(Callback):
    """Turns a Trainer into one DDP rank (see the module docstring). Added by run.py under torchrun."""
    order = -100  # before every other callback: the model is wrapped before tricks see a batch

    def __init__(self, info: DistInfo | None = None) -> None:
        self.info = info or current()
        self.ddp: nn.Module | None = None
        self._fwd: Any = None
        self._signature: tuple = ()
        self._saved: dict = {}

    # ------------------------------------------------------------------ wrapping
    def _wrap(self, trainer) -> None:
        dev = trainer.device
        self.ddp = DDP(trainer.model, device_ids=[dev.index] if dev.type == "cuda" else None,
                       output_device=dev.index if dev.type == "cuda" else None)
        self._signature = _trainable_signature(trainer.model)
        self._fwd = torch.compile(self.ddp) if trainer.cfg.train.compile else self.ddp
        trainer.set_forward(self._fwd)

    def _rewrap_if_needed(self, trainer) -> None:
        """Freezing / unfreezing changes which parameters get gradients: DDP must be rebuilt for it."""
        if _trainable_signature(trainer.model) != self._signature:
            self._wrap(trainer)

    # ------------------------------------------------------------------ hooks
    def before_fit(self, trainer) -> None:
        if not self.info.enabled:
            return
        self._saved = {"forward": trainer.forward_module, "control": trainer.control}
        vl = trainer.valid_loader
        if getattr(vl, "world_size", 1) != 1:  # full validation on every rank (exact metrics)
            vl.rank, vl.world_size = 0, 1
        trainer.control = SyncedControl(trainer.control)
        self._wrap(trainer)

    def before_train(self, trainer) -> None:
        if self.ddp is not None:
            self._rewrap_if_needed(trainer)
            trainer.set_forward(self._fwd)

    def before_batch(self, trainer) -> None:
        if self.ddp is not None:
            self._rewrap_if_needed(trainer)
            trainer.set_forward(self._fwd)

    def after_loss(self, trainer) -> None:
        """A non-finite loss on any rank makes the loss non-finite on all, so all stop together."""
        if self.ddp is None or trainer.loss is None:
            return
        bad = not bool(torch.isfinite(trainer.loss.detach()).all())
        if any_rank(bad) and not bad:
            trainer.loss = trainer.loss * float("nan")

    def after_train(self, trainer) -> None:
        """Sum the epoch's train-loss numbers of all ranks into the recorder (global history)."""
        if self.ddp is None:
            return
        rec = getattr(trainer, "recorder", None)
        if rec is None:
            return
        totals = all_reduce_sum([float(v) for v in rec.epoch_totals()])
        rec.set_epoch_totals(totals[0], int(totals[1]), int(totals[2]))

    def before_validate(self, trainer) -> None:
        """Validate without DDP, with rank 0's buffers (BatchNorm running statistics: each rank updated
        its own copy on its last training batch), so every rank computes the same metrics."""
        if self.ddp is None:
            return
        trainer.set_forward(self._saved["forward"])
        for buf in trainer.model.buffers():
            dist.broadcast(buf, src=0)

    def after_validate(self, trainer) -> None:
        """Every rank takes rank 0's metrics, so best-epoch and early-stopping decisions always agree."""
        if self.ddp is not None:
            trainer.metrics = broadcast_object(dict(trainer.metrics))
            trainer.set_forward(self._fwd)

    def after_fit(self, trainer) -> None:
        if self.ddp is None:
            return
        trainer.set_forward(self._saved["forward"])
        trainer.control = self._saved["control"]
        self.ddp = None


# --------------------------------------------------------------------- run folder on other ranks
class ReadOnlyFolder(RunFolder):
    """The run folder as ranks other than 0 see it: they read it (resume) but never write to it."""

    def create(self):
        return self

    def write_classes(self, classes) -> None:
        pass

    def write_history(self, rows) -> None:
        pass

    def write_metrics(self, metrics) -> None:
        pass

    def append_log(self, text: str) -> None:
        pass


def rank_folder(path):
    """RunFolder on rank 0 (and single processes), ReadOnlyFolder on the other ranks."""
    cls = RunFolder if current().is_main else ReadOnlyFolder
    return cls(path)


def rank_sink(sink, run_dir):
    """Events of rank 0 go to ``sink`` (plus progress.json, see torchrun_job); other ranks stay silent."""
    if not current().is_main:
        return null_sink
    if current().enabled or progress_file_wanted():
        return fan_out(sink, ProgressFile(run_dir))
    return sink
