"""Build everything from a RunConfig and run it: ``train`` a new run, ``resume`` a stopped one.

Both open the dataset, build the loaders, the model, the trick callbacks and the Trainer, write the
run folder (config.toml, classes.json, history.csv, metrics.json, log.txt, checkpoints/), send
FitStarted / FitFinished, and never raise for a training failure: the run is marked "failed" with
the message, a FitFinished(status="failed", traceback=...) is sent and the last checkpoint stays.
"""
from __future__ import annotations

import random
import time
import traceback as tb
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import RunConfig
from ..control import Cancelled, RunControl
from ..device import describe, pick_device, pick_precision, set_threads
from ..atomic import atomic_write_json
from ..events import FitFinished, FitStarted, LogMessage, null_sink
from ..models import create_model
from .callback import Callback
from . import distributed
from .budget import BudgetKeeper
from .checkpoint import RunFolder, load_checkpoint
from .planner import PLAN_FILE, Plan, make_plan, probe, whole
from .trainer import Trainer


@dataclass
class RunResult:
    run_dir: Path
    status: str                 # completed | early_stopped | cancelled | failed
    metrics: dict = field(default_factory=dict)
    message: str = ""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def new_run_dir(cfg: RunConfig, dataset_name: str = "") -> Path:
    """cfg.runs_dir / (cfg.name or '<dataset>-<YYYYmmdd-HHMMSS>'), made unique if it exists."""
    base = Path(cfg.runs_dir).expanduser()
    name = cfg.name or f"{dataset_name or Path(cfg.data.path).name or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base / name, 2
    while not cfg.name and path.exists():
        path, k = base / f"{name}-{k}", k + 1
    return path


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _tricks(cfg: RunConfig, n_classes: int, counts: list[int]) -> tuple[list[Callback], Callable | None]:
    """Trick callbacks and the configured loss, when the tricks package is installed."""
    try:
        from . import tricks
    except ImportError:
        return [], torch.nn.CrossEntropyLoss(label_smoothing=cfg.tricks.label_smoothing)
    try:
        cbs = tricks.build_callbacks(cfg, n_classes, class_counts=counts)
    except TypeError:
        cbs = tricks.build_callbacks(cfg, n_classes)
    make_loss = getattr(tricks, "make_loss", None)
    return list(cbs), (make_loss(cfg, counts) if make_loss else None)


def _open(cfg: RunConfig, device: torch.device, sink, control, rank: int = 0, world_size: int = 1):
    from ..data import open_dataset
    from ..data.pipeline import build_loaders
    ds = open_dataset(cfg.data, cfg.seed, sink=sink, control=control)
    return build_loaders(ds, cfg, device, sink=sink, control=control, rank=rank, world_size=world_size)


def build_trainer(cfg: RunConfig, ds_or_bundle: Any, sink=None, control: RunControl | None = None,
                  device: torch.device | None = None, precision: str | None = None, run_dir=None,
                  callbacks: list[Callback] | None = None, tricks: bool = True) -> Trainer:
    """A ready Trainer (model, loaders, tricks, loss) for a Dataset or a DataBundle (LR finder, GUI)."""
    device = device or pick_device(cfg.train.device)
    precision = precision or pick_precision(device, cfg.train.precision)
    from ..data.pipeline import DataBundle, build_loaders
    bundle = ds_or_bundle
    if not isinstance(bundle, DataBundle):  # a Dataset (which also has a .train property)
        bundle = build_loaders(ds_or_bundle, cfg, device, sink=sink, control=control)
    n_classes = len(bundle.classes)
    counts = [0] * n_classes
    for it in bundle.train_items:
        counts[it.label] += 1
    seed_everything(cfg.seed)
    model = create_model(cfg.model.arch, n_classes, cfg.model.dropout, cfg.model.weights)
    cbs, loss = _tricks(cfg, n_classes, counts) if tricks else ([], None)
    trainer = Trainer(model, bundle.train, bundle.valid, cfg, callbacks=[*cbs, *(callbacks or [])],
                      sink=sink, control=control, device=device, precision=precision, run_dir=run_dir,
                      loss_func=loss)
    trainer.bundle = bundle
    return trainer


def _final_metrics(trainer: Trainer, status: str, base: dict, wall: float) -> dict:
    hist = trainer.history
    best = trainer.recorder.best_epoch
    use_best = trainer.cfg.tricks.keep_best and best >= 0
    row = next((r for r in hist if r["epoch"] == best), None) if use_best else (hist[-1] if hist else None)
    return {**base, "status": status,
            "valid_accuracy": row["accuracy"] if row else None,
            "valid_loss": row["valid_loss"] if row else None,
            "best_epoch": best, "epochs_done": len(hist), "epochs": trainer.n_epochs,
            "wall_seconds": round(wall, 3), "batch_size": int(trainer.train_loader.batch_size),
            "finished": _now() if status != "running" else None}


def _make_plan(cfg: RunConfig, bundle, control, device, precision, started: float, save_dir=None) -> Plan:
    """Probe this machine on this recipe (a throw-away trainer, silent) and plan the run."""
    startup_s = time.time() - started
    measured = probe(lambda: build_trainer(cfg, bundle, None, control, device, precision),
                     cfg, cfg.train.budget_minutes * 60.0, save_dir)
    return make_plan(cfg, measured, startup_s, started)


def plan_run(cfg: RunConfig, sink=None, control: RunControl | None = None, started: float | None = None,
             gui_attached: bool = False) -> Plan:
    """What ``train`` would do with this recipe on this machine (``--plan-only``): open the dataset,
    build the cache, probe and plan; nothing is trained and no run folder is written."""
    started = time.time() if started is None else started
    set_threads(gui_attached, cfg.train.threads)
    device = pick_device(cfg.train.device)
    precision = pick_precision(device, cfg.train.precision)
    bundle = _open(cfg, device, sink or null_sink, control or RunControl())
    return _make_plan(cfg, bundle, control, device, precision, started)


def _budget(cfg: RunConfig, folder: RunFolder, bundle, sink, control, device, precision, started: float,
            resume_state: dict | None, world_size: int) -> tuple[RunConfig, BudgetKeeper | None]:
    """With train.budget_minutes: plan a new run (epochs into config.toml, plan.json) and return the
    callback that keeps it on time; a resumed run keeps its plan."""
    if cfg.train.budget_minutes <= 0:
        return cfg, None
    if world_size > 1:
        sink(LogMessage("the time budget is not planned under torchrun: train.epochs is used", "warning"))
        return cfg, None
    if resume_state is not None:
        return cfg, BudgetKeeper(cfg, int(resume_state.get("n_epochs", cfg.train.epochs)))
    plan = _make_plan(cfg, bundle, control, device, precision, started, folder.checkpoints)
    cfg = cfg.set("train.epochs", whole(plan.epochs))
    cfg.save(folder.config)
    atomic_write_json(folder.path / PLAN_FILE, plan.to_dict())
    for line in plan.lines():
        folder.append_log(line)
        sink(LogMessage(line))
    return cfg, BudgetKeeper(cfg, plan.epochs, plan, deadline=started + plan.budget_s,
                             plan_path=folder.path / PLAN_FILE)


def _execute(cfg: RunConfig, folder: RunFolder, sink, control, gui_attached: bool,
             resume_state: dict | None, prior: dict, started: float | None = None) -> RunResult:
    sink = sink or null_sink
    control = control or RunControl()
    t0 = time.perf_counter()
    started = time.time() if started is None else started
    prior_wall = float(prior.get("wall_seconds") or 0.0)
    base = {k: prior[k] for k in ("started",) if k in prior}
    base.setdefault("started", _now())
    trainer = None
    try:
        cfg = distributed.rank_config(cfg)  # DDP (torchrun): this rank's device and share of the CPU cores
        dinfo = distributed.current()
        set_threads(gui_attached, cfg.train.threads)
        device = pick_device(cfg.train.device)
        precision = pick_precision(device, cfg.train.precision)
        folder.append_log(f"{'resume' if resume_state else 'train'}: device {describe(device)}, precision {precision}")
        with distributed.rank0_first():  # DDP: one process per machine builds the image cache first
            bundle = _open(cfg, device, sink, control, dinfo.rank, dinfo.world_size)
        classes = list(bundle.classes)
        if resume_state is None:
            folder.write_classes(classes)
        elif folder.read_classes() != classes:
            raise RuntimeError(f"the classes of {cfg.data.path} changed since the run started "
                               f"({folder.classes} lists {folder.read_classes()}, the folder has {classes})")
        cfg, keeper = _budget(cfg, folder, bundle, sink, control, device, precision, started, resume_state,
                              dinfo.world_size)
        trainer = build_trainer(cfg, bundle, sink, control, device, precision,
                                run_dir=folder.path if dinfo.is_main else None,  # DDP: only rank 0 writes
                                callbacks=[*distributed.callbacks(), *([keeper] if keeper else [])])
        start = trainer.load_state(resume_state) if resume_state else 0
        base.update({"device": describe(device), "precision": precision, "arch": cfg.model.arch,
                     "image_size": cfg.data.image_size, "n_train": len(bundle.train_items),
                     "n_valid": len(bundle.valid_items)})
        if keeper is not None and keeper.plan is not None:
            base.update({"budget_seconds": keeper.plan.budget_s,
                         "planned_seconds": round(keeper.plan.predicted_s, 3)})
        trainer.on_epoch_saved = lambda tr: folder.write_metrics(
            _final_metrics(tr, "running", base, prior_wall + time.perf_counter() - t0))
        folder.write_metrics(_final_metrics(trainer, "running", base, prior_wall))
        sink(FitStarted(run_dir=str(folder.path), epochs=cfg.train.epochs, start_epoch=start,
                        steps_per_epoch=len(bundle.train), n_train=len(bundle.train_items),
                        n_valid=len(bundle.valid_items), classes=tuple(classes), device=describe(device),
                        precision=precision, batch_size=int(bundle.train.batch_size)))
        n_epochs = int(resume_state.get("n_epochs", cfg.train.epochs)) if resume_state else cfg.train.epochs
        status = trainer.fit(n_epochs, start_epoch=start)
        if cfg.tricks.keep_best and folder.best.is_file() and status in ("completed", "early_stopped"):
            trainer.model.load_state_dict(load_checkpoint(folder.best, trainer.device)["model"])
        metrics = _final_metrics(trainer, status, base, prior_wall + time.perf_counter() - t0)
        folder.write_metrics(metrics)
        message = {"completed": "training completed", "early_stopped": "stopped early (no improvement)",
                   "cancelled": "stopped by the user"}.get(status, status)
        folder.append_log(f"{message}: {metrics.get('valid_accuracy')} accuracy, best epoch {metrics['best_epoch'] + 1}")
        sink(FitFinished(status=status, message=message, best_epoch=metrics["best_epoch"], metrics=metrics,
                         run_dir=str(folder.path)))
        return RunResult(folder.path, status, metrics, message)
    except (Cancelled, KeyboardInterrupt) as e:
        status, message, trace = "cancelled", "stopped by the user", ""
        if isinstance(e, KeyboardInterrupt):
            message = "aborted by the user"
    except Exception as e:  # noqa: BLE001 - every failure is reported, never lost
        status, message, trace = "failed", f"{type(e).__name__}: {e}" if not str(e) else str(e), tb.format_exc()
    wall = prior_wall + time.perf_counter() - t0
    metrics = (_final_metrics(trainer, status, base, wall) if trainer is not None
               else {**base, "status": status, "wall_seconds": round(wall, 3), "finished": _now()})
    metrics["message"] = message
    folder.write_metrics(metrics)
    folder.append_log(f"{status}: {message}")
    sink(FitFinished(status=status, message=message, traceback=trace, metrics=metrics,
                     best_epoch=metrics.get("best_epoch", -1), run_dir=str(folder.path)))
    return RunResult(folder.path, status, metrics, message)


def train(cfg: RunConfig, sink=None, control: RunControl | None = None, run_dir=None,
          gui_attached: bool = False, started: float | None = None) -> RunResult:
    """Train a new run into ``run_dir`` (default: a new folder under cfg.runs_dir). ``started``
    (time.time()) is when the command started, from which a time budget counts (default: now)."""
    started = time.time() if started is None else started
    if cfg.data.path:
        cfg = cfg.set("data.path", str(Path(cfg.data.path).expanduser().resolve()))
    dinfo = distributed.start(cfg.train.device)  # DDP: joins torchrun's process group, if any
    folder = distributed.rank_folder(distributed.broadcast_object(str(run_dir or new_run_dir(cfg))))
    if folder.last.is_file():
        raise FileExistsError(f"{folder.path} already holds a run: resume it or choose another folder")
    folder.create()
    if dinfo.is_main:
        cfg.save(folder.config)
    return _execute(cfg, folder, distributed.rank_sink(sink, folder.path), control, gui_attached, None, {},
                    started)


def resume(run_dir, sink=None, control: RunControl | None = None, gui_attached: bool = False) -> RunResult:
    """Continue a run from checkpoints/last.pt with the same optimizer, schedule and RNG state."""
    folder = RunFolder(run_dir)
    if not folder.config.is_file():
        raise FileNotFoundError(f"{folder.path} is not a run folder (no config.toml)")
    cfg = RunConfig.load(folder.config)
    distributed.start(cfg.train.device)  # DDP: joins torchrun's process group, if any
    folder, sink = distributed.rank_folder(run_dir), distributed.rank_sink(sink, run_dir)
    prior = folder.read_metrics()
    if not folder.last.is_file():
        folder.create()
        return _execute(cfg, folder, sink, control, gui_attached, None, prior)  # died before epoch 1
    state = load_checkpoint(folder.last)
    n_epochs = int(state.get("n_epochs", cfg.train.epochs))  # a time-budget run may have re-planned
    if prior.get("status") in ("completed", "early_stopped") or int(state["next_epoch"]) >= n_epochs:
        if prior.get("status") not in ("completed", "early_stopped"):
            prior = {**prior, "status": "completed", "finished": prior.get("finished") or _now()}
            folder.write_metrics(prior)
        return RunResult(folder.path, prior["status"], prior, "the run is already finished")
    return _execute(cfg, folder, sink, control, gui_attached, state, prior)
