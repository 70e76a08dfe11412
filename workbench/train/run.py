"""Build everything from a RunConfig and run it: ``train`` a new run, ``resume`` a stopped one.

Both open the dataset, build the loaders, the model, the trick callbacks and the Trainer, write the
run folder (config.toml, classes.json and plan.json here; while training a ``checkpoint.RunWriter``
writes log.txt, history.csv, metrics.json and checkpoints/), send FitStarted / FitFinished, and
never raise for a training failure: the run is marked "failed" with the message, a
FitFinished(status="failed", traceback=...) is sent and the last checkpoint stays.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import random
import time
import traceback as tb
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..runtime.atomic import DiskFullError, atomic_write_json
from ..config import ConfigError, RunConfig, with_norm
from ..runtime.control import Cancelled, RunControl
from ..data import open_dataset
from ..data.pipeline import DataBundle, build_loaders
from ..runtime.device import describe, pick_device, pick_precision, set_threads
from ..runtime.events import FitFinished, FitStarted, LogMessage, null_sink
from ..runtime.locks import BusyError, busy_message, is_busy, run_folder_lock
from ..models.build import create_model, load_weights as load_model_weights
from .speed_store import recalled_probe, remember_probe
from ..models.weights import weights_file_for
from . import distributed
from .budget import BudgetKeeper, resumed_keeper
from .callback import Callback
from .cpu_threads import AdaptiveThreads
from .checkpoint import RunWriter, saved_history
from ..run.folder import CheckpointError, RunFolder, load_checkpoint, new_run_dir, save_checkpoint
from .planner import PLAN_FILE, Measured, Plan, make_plan, whole
from .probe import probe
from .preflight import SetupError, preflight
from .recovery import check_state_numbers, killed_before_start, number_in, remove_killed_starts, repair_history
from .trainer import Trainer
from .tricks import build_callbacks, make_loss

LAUNCHER_FILES = RunFolder.LAUNCHER_FILES


@dataclass
class RunResult:
    run_dir: Path
    status: str                 # completed | early_stopped | cancelled | failed
    metrics: dict = field(default_factory=dict)
    message: str = ""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _open(cfg: RunConfig, device: torch.device, sink, control, rank: int = 0, world_size: int = 1, ds=None):
    ds = ds if ds is not None else open_dataset(cfg.data, cfg.seed, sink=sink, control=control)
    return build_loaders(ds, cfg, device, sink=sink, control=control, rank=rank, world_size=world_size)


def build_trainer(cfg: RunConfig, ds_or_bundle: Any, sink=None, control: RunControl | None = None,
                  device: torch.device | None = None, precision: str | None = None,
                  callbacks: list[Callback] | None = None, load_weights: bool = True) -> Trainer:
    """A ready Trainer (model, loaders, tricks, loss) for a Dataset or a DataBundle (LR finder, GUI).
    The loss is made here, once (``tricks.make_loss``: label smoothing, class weights); no callback
    replaces it.
    ``load_weights`` = False skips the starting weights (a resume loads its checkpoint instead)."""
    device = device or pick_device(cfg.train.device)
    precision = precision or pick_precision(device, cfg.train.precision)
    bundle = ds_or_bundle
    if not isinstance(bundle, DataBundle):  # a Dataset (which also has a .train property)
        bundle = build_loaders(ds_or_bundle, cfg, device, sink=sink, control=control)
    n_classes = len(bundle.classes)
    counts = [0] * n_classes
    for it in bundle.train_items:
        counts[it.label] += 1
    seed_everything(cfg.seed)
    start_from = weights_file_for(cfg.model) if load_weights else ""
    model = create_model(cfg.model.arch, n_classes, cfg.model.dropout)
    fit = load_model_weights(model, start_from, cfg.model.arch, cfg.model.allow_partial_weights) if start_from else None
    cbs = build_callbacks(cfg, n_classes)
    trainer = Trainer(model, bundle.train, bundle.valid, cfg, callbacks=[*cbs, *(callbacks or [])],
                      sink=sink, control=control, device=device, precision=precision,
                      loss_func=make_loss(cfg, counts))
    if fit is not None and fit.left_random:  # allowed by model.allow_partial_weights: the log names them all
        trainer.log(f"model.allow_partial_weights: {len(fit.left_random)} of {fit.n_body} body tensors do not fit "
                    f"{start_from} and start random: {fit.names(len(fit.left_random))}", "warning")
    return trainer


def _final_metrics(trainer: Trainer, status: str, base: dict, wall: float) -> dict:
    """metrics.json of the run so far; a time-budget run adds ``planned_epochs``, the length of its
    latest plan (fractional when the last epoch trains part of its batches; config.toml keeps the
    plan made before the start)."""
    m = _metrics(trainer.history, trainer.recorder.best_epoch, trainer.cfg.tricks.keep_best, status, base,
                 wall, trainer.n_epochs, int(trainer.train_loader.batch_size), trainer.cfg.tricks.monitor)
    keeper = next((cb for cb in trainer.callbacks if isinstance(cb, BudgetKeeper) and cb.active), None)
    if keeper is not None:
        m["planned_epochs"] = round(float(keeper.map.epochs), 3)
    return m


def reported_why(monitor: str, keep_best: bool) -> str:
    """Why the reported model is the epoch it is (metrics.json ``reported_why``, the summaries)."""
    if not keep_best:
        return "the last epoch (tricks.keep_best is off)"
    if monitor == "accuracy":
        return "the highest validation accuracy, ties broken by the lower validation loss"
    return "the lowest validation loss (tricks.monitor = valid_loss)"


def reported_line(m: dict) -> str:
    """'epoch 5 of 5: the highest validation accuracy, ...' from a metrics.json ('' without epochs)."""
    epoch, done = m.get("reported_epoch"), m.get("epochs_done")
    if not isinstance(epoch, int) or epoch < 0 or not done:
        return ""
    planned, why = m.get("epochs"), m.get("reported_why", "")
    if isinstance(planned, int) and planned > done and m.get("status") not in ("completed", "early_stopped"):
        where = f"the last of {done} trained" if epoch + 1 == done else f"of {done} trained"   # a stopped run
        return f"epoch {epoch + 1} ({where}; {planned} were planned): {why}".rstrip(": ")
    last = " (the last)" if epoch + 1 == done else ""
    return f"epoch {epoch + 1} of {done}{last}: {why}".rstrip(": ")


def _metrics(hist: list[dict], best: int, keep_best: bool, status: str, base: dict, wall: float,
             epochs: int, batch_size: int, monitor: str = "accuracy") -> dict:
    use_best = keep_best and best >= 0
    row = next((r for r in hist if r["epoch"] == best), None) if use_best else (hist[-1] if hist else None)
    return {**base, "status": status,
            "valid_accuracy": row["accuracy"] if row else None,
            "valid_loss": row["valid_loss"] if row else None,
            "best_epoch": best, "monitor": monitor, "reported_epoch": row["epoch"] if row else -1,
            "reported_why": reported_why(monitor, keep_best),
            "epochs_done": len(hist), "epochs": epochs,
            "wall_seconds": round(wall, 3), "batch_size": batch_size,
            "finished": _now() if status != "running" else None}


def _make_plan(cfg: RunConfig, bundle, control, device, precision, started: float, save_dir=None,
               reuse: bool = True) -> Plan:
    """Probe this machine on this recipe (a throw-away trainer, silent) and plan the run. With
    ``reuse``, a recent probe of the same recipe on this machine and data (``workbench suggest``,
    ``--plan-only``) is taken instead of a new one; every new probe is kept for that."""
    startup_s = time.time() - started
    measured = _recalled(cfg, bundle) if reuse else None
    if measured is None:
        measured = probe(lambda: build_trainer(cfg, bundle, None, control, device, precision),
                         cfg, cfg.train.budget_minutes * 60.0, save_dir)
        remember_probe(cfg, measured.to_dict())
    return make_plan(cfg, measured, startup_s, started)


def _recalled(cfg: RunConfig, bundle) -> Measured | None:
    """A recent probe of this recipe, if it was made on the same number of images and batches."""
    found = recalled_probe(cfg)
    if found is None:
        return None
    try:
        m = Measured.from_dict(found[0])
    except (TypeError, ValueError, KeyError):
        return None
    if (m.steps_per_epoch, m.batch_size, m.n_train) != (len(bundle.train), int(bundle.train.batch_size),
                                                        int(getattr(bundle.train, "n_samples", m.n_train))):
        return None
    m.reused_s, m.probe_s = found[1], 0.0
    return m


def plan_run(cfg: RunConfig, sink=None, control: RunControl | None = None, started: float | None = None) -> Plan:
    """What ``train`` would do with this recipe on this machine (``--plan-only``, ``suggest``): open the
    dataset, build the cache, probe and plan; nothing is trained and no run folder is written. The
    probe is kept, so ``train`` of the same recipe soon after plans from it without probing again."""
    started = time.time() if started is None else started
    set_threads(cfg.train.threads)
    device = pick_device(cfg.train.device)
    precision = pick_precision(device, cfg.train.precision)
    bundle = _open(cfg, device, sink or null_sink, control or RunControl())
    return _make_plan(cfg, bundle, control, device, precision, started, reuse=False)


def _budget(cfg: RunConfig, folder: RunFolder, bundle, sink, control, device, precision, started: float,
            resume_state: dict | None, world_size: int) -> tuple[RunConfig, BudgetKeeper | None]:
    """With train.budget_minutes: plan a new run (epochs into config.toml, plan.json) and return the
    callback that keeps it on time; a resumed run keeps its plan and goes on with the budget its
    checkpoint had left (the time between the stop and this command is not spent)."""
    if cfg.train.budget_minutes <= 0:
        return cfg, None
    if world_size > 1:
        sink(LogMessage("the time budget is not planned under torchrun: train.epochs is used", "warning"))
        return cfg, None
    if resume_state is not None:
        plan = None
        try:
            plan = Plan.from_dict(json.loads((folder.path / PLAN_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            sink(LogMessage(f"{PLAN_FILE} is missing or unreadable: the resumed run keeps its epochs and is "
                            f"not re-planned", "warning"))
        keeper = resumed_keeper(cfg, resume_state, plan, started, folder.path / PLAN_FILE)
        if keeper.active:
            left = keeper.deadline - started
            line = (f"time budget: {plan.budget_s - left:.0f} s of {plan.budget_s:.0f} s used before the stop, "
                    f"{left:.0f} s left")
            folder.append_log(line)
            sink(LogMessage(line))
        return cfg, keeper
    plan = _make_plan(cfg, bundle, control, device, precision, started, folder.checkpoints)
    cfg = cfg.set("train.epochs", whole(plan.epochs))
    cfg.save(folder.config)
    atomic_write_json(folder.path / PLAN_FILE, plan.to_dict())
    for line in plan.lines():
        folder.append_log(line)
        sink(LogMessage(line))
    return cfg, BudgetKeeper(cfg, plan.epochs, plan, deadline=started + plan.budget_s,
                             plan_path=folder.path / PLAN_FILE)


def recorded_best(state: dict) -> int:
    """The best epoch a last.pt state records (-1: none yet)."""
    return int(state.get("callbacks", {}).get("Recorder", {}).get("best_epoch", -1))


def repair_best(folder: RunFolder, state: dict) -> str:
    """Make best.pt hold the epoch that last.pt records as best. The trainer writes last.pt before
    best.pt, so after a crash between the two the recorded best's weights are in last.pt (its own
    model, or ``best_model`` when the best epoch is an earlier one) and best.pt is re-saved from them.
    Returns what was done ('' when best.pt was right)."""
    best = recorded_best(state)
    if best < 0:
        return ""
    try:
        have = int(load_checkpoint(folder.best)["epoch"]) if folder.best.is_file() else None
    except (CheckpointError, KeyError, TypeError, ValueError):
        have = None
    if have == best:
        return ""
    kept = state.get("best_model") or {}
    if best == int(state["epoch"]):
        kept = {"epoch": best, "model": state["model"], "metrics": dict(state.get("metrics", {}))}
    elif kept.get("epoch") != best:
        return (f"warning: best.pt holds epoch {have if have is None else have + 1} but the run records epoch "
                f"{best + 1} as best, and its weights are gone; best.pt is left as it is")
    save_checkpoint(folder.best, kept)
    return (f"best.pt held epoch {'none' if have is None else have + 1}, the recorded best is epoch {best + 1}: "
            f"re-saved best.pt from last.pt")


def valid_fingerprint(items) -> str:
    """A hash of the validation set (files and labels): resume warns when it has changed."""
    h = hashlib.sha1()
    for it in sorted(items, key=lambda it: it.path):
        h.update(f"{it.path}\0{it.label}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


def _report_skipped(skipped: list, folder: RunFolder, sink, shown: int = 20) -> None:
    """Files the image cache could not decode (e.g. changed since the scan): every one in log.txt,
    the first ``shown`` (and a count) as warnings to the terminal / the app."""
    if not skipped:
        return
    folder.append_log(f"skipped {len(skipped)} file(s) that cannot be decoded:\n"
                      + "\n".join(f"  {p.message}" for p in skipped))
    for p in skipped[:shown]:
        sink(LogMessage(f"skipped: {p.message}", "warning"))
    if len(skipped) > shown:
        sink(LogMessage(f"... and {len(skipped) - shown} more skipped file(s), all listed in "
                        f"{folder.log}", "warning"))


def adaptive_threads(cfg: RunConfig, device: torch.device, world_size: int) -> list[Callback]:
    """CPU training on all cores (train.threads = 0), one process: follow the cores other programs
    leave free (``cpu_threads``). A fixed train.threads keeps its count, and the run repeatable."""
    return [AdaptiveThreads()] if device.type == "cpu" and cfg.train.threads == 0 and world_size == 1 else []


def _execute(cfg: RunConfig, folder: RunFolder, sink, control,
             resume_state: dict | None, prior: dict, ds=None, warning: str = "",
             started: float | None = None) -> RunResult:
    sink = sink or null_sink
    control = control or RunControl()
    t0 = time.perf_counter()
    started = time.time() if started is None else started
    prior_wall = float(prior.get("wall_seconds") or 0.0)
    # a resumed run keeps what its start recorded (a resumed budget run has no plan of its own)
    base = {k: prior[k] for k in ("started", "valid_changed_at_epoch", "budget_seconds", "planned_seconds")
            if k in prior}
    base.setdefault("started", _now())
    base["data_scanned"] = _now()   # this start's (or resume's) scan: the validation set its metrics are on
    trainer = None
    try:
        cfg = distributed.rank_config(cfg)  # DDP (torchrun): this rank's device and share of the CPU cores
        dinfo = distributed.current()
        set_threads(cfg.train.threads)
        device = pick_device(cfg.train.device)
        precision = pick_precision(device, cfg.train.precision)
        folder.append_log(f"{'resume' if resume_state else 'train'}: device {describe(device)}, precision {precision}")
        if warning:
            folder.append_log(warning)
            sink(LogMessage(warning, "warning"))
        with distributed.rank0_first():  # DDP: one process per machine builds the image cache first
            bundle = _open(cfg, device, sink, control, dinfo.rank, dinfo.world_size, ds)
        _report_skipped(bundle.skipped, folder, sink)
        classes = list(bundle.classes)
        if resume_state is None:
            folder.write_classes(classes)
        elif folder.read_classes() != classes:
            raise RuntimeError(f"the classes of {cfg.data.path} changed since the run started "
                               f"({folder.classes} lists {folder.read_classes()}, the folder has {classes})")
        cfg, keeper = _budget(cfg, folder, bundle, sink, control, device, precision, started, resume_state,
                              dinfo.world_size)
        # the run folder's one writer while training (DDP: rank 0 only); log lines go into log.txt
        writers = [RunWriter(folder, cfg.train.checkpoint_share, metrics=lambda tr: _final_metrics(
            tr, "running", base, prior_wall + time.perf_counter() - t0))] if dinfo.is_main else []
        trainer = build_trainer(cfg, bundle, folder.logged(sink) if dinfo.is_main else sink, control, device,
                                precision, callbacks=[*distributed.callbacks(), *([keeper] if keeper else []),
                                                      *adaptive_threads(cfg, device, dinfo.world_size), *writers],
                                load_weights=resume_state is None)
        start = trainer.load_state(resume_state) if resume_state else 0
        fingerprint = valid_fingerprint(bundle.valid_items)
        if resume_state is not None and prior.get("valid_fingerprint") not in (None, fingerprint):
            text = (f"warning: the validation set changed since this run started ({prior.get('n_valid')} images "
                    f"then, {len(bundle.valid_items)} now): 'best' now compares epochs measured on different "
                    f"validation sets")
            folder.append_log(text)
            sink(LogMessage(text, "warning"))
            base["valid_changed_at_epoch"] = start
        base.update({"device": describe(device), "precision": precision, "arch": cfg.model.arch,
                     "image_size": cfg.data.image_size, "n_train": len(bundle.train_items),
                     "n_valid": len(bundle.valid_items), "n_skipped": len(bundle.skipped),
                     "valid_fingerprint": fingerprint})
        if keeper is not None and keeper.plan is not None:
            base.update({"budget_seconds": keeper.plan.budget_s,
                         "planned_seconds": round(keeper.plan.predicted_s, 3)})
        folder.write_metrics(_final_metrics(trainer, "running", base, prior_wall))
        # a resumed time-budget run may have re-planned its epochs: the checkpoint knows how many
        n_epochs = int(resume_state.get("n_epochs", cfg.train.epochs)) if resume_state else cfg.train.epochs
        sink(FitStarted(run_dir=str(folder.path), epochs=n_epochs, start_epoch=start,
                        steps_per_epoch=len(bundle.train), n_train=len(bundle.train_items),
                        n_valid=len(bundle.valid_items), classes=tuple(classes), device=describe(device),
                        precision=precision, batch_size=int(bundle.train.batch_size),
                        history=tuple(dict(r) for r in trainer.history if int(r.get("epoch", 0)) < start),
                        batches=tuple(p for p in trainer.recorder.trace if p[0] <= start + 1e-9),
                        label_smoothing=float(cfg.tricks.label_smoothing)))
        status = trainer.fit(n_epochs, start_epoch=start)
        if cfg.tricks.keep_best and folder.best.is_file() and status in ("completed", "early_stopped"):
            trainer.model.load_state_dict(load_checkpoint(folder.best, trainer.device)["model"])
        metrics = _final_metrics(trainer, status, base, prior_wall + time.perf_counter() - t0)
        folder.write_metrics(metrics)
        message = {"completed": "training completed", "early_stopped": "stopped early (no improvement)",
                   "cancelled": "stopped by the user"}.get(status, status)
        acc = metrics.get("valid_accuracy")
        folder.append_log(f"{message}: validation accuracy {f'{acc:.2%}' if isinstance(acc, (int, float)) else 'none'}, "
                          f"reported model: {reported_line(metrics) or 'none'}")
        sink(FitFinished(status=status, message=message, best_epoch=metrics["best_epoch"], metrics=metrics,
                         run_dir=str(folder.path)))
        return RunResult(folder.path, status, metrics, message)
    except (Cancelled, KeyboardInterrupt) as e:
        status, message, trace = "cancelled", "stopped by the user", ""
        if isinstance(e, KeyboardInterrupt):
            message = "aborted by the user"
    except DiskFullError as e:  # its message says what is needed and what to do: no traceback before it
        status, message, trace = "failed", str(e), ""
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


def check_out_folder(path: str | Path) -> None:
    """A new run may go into a missing or empty folder only: ``FileExistsError`` for a run (resume it)
    or any other non-empty folder (its files are never overwritten)."""
    p = Path(path)
    if not p.exists():
        return
    if not p.is_dir():
        raise FileExistsError(f"{p} exists and is not a folder: choose a new or empty run folder")
    if is_busy(p):
        raise BusyError(busy_message(p))
    if killed_before_start(p):
        return  # a run killed before its config.toml: nothing in it to keep, trained again here
    if RunFolder.is_run(p) or RunFolder(p).checkpoints.is_dir():
        raise FileExistsError(f"{p} already holds a run: resume it ('workbench resume {p}') or choose another folder")
    if any(f.name not in LAUNCHER_FILES for f in p.iterdir()):  # the torchrun launcher's own files are fine
        raise FileExistsError(f"{p} is not empty and is not a run folder: choose a new or empty folder "
                              f"(its files are never overwritten)")


def _locked(folder: RunFolder):
    """The run folder's lock on rank 0 (the rank that writes it); no lock on the other DDP ranks."""
    return run_folder_lock(folder.path) if distributed.current().is_main else contextlib.nullcontext()


def train(cfg: RunConfig, sink=None, control: RunControl | None = None, run_dir=None,
          started: float | None = None) -> RunResult:
    """Train a new run into ``run_dir`` (default: a new folder under cfg.runs_dir), which must be
    missing or empty (``FileExistsError``); ``BusyError`` when another process is using it.
    ``SetupError`` (nothing written) when the recipe, dataset, device or memory rule the run out.
    ``started`` (time.time()) is when the command started, from which a time budget counts (default: now)."""
    started = time.time() if started is None else started
    if cfg.data.path:
        cfg = cfg.set("data.path", str(Path(cfg.data.path).expanduser().resolve()))
    # DDP: rank 0 checks the dataset (the other ranks open it after rank 0 has built the caches)
    ds, _device, _precision, warning = preflight(cfg, sink, control, check_data=distributed.detect().rank == 0)
    dinfo = distributed.start(cfg.train.device)  # DDP: joins torchrun's process group, if any
    folder = distributed.rank_folder(distributed.broadcast_object(str(run_dir or new_run_dir(cfg))))
    cfg = with_norm(cfg)  # the run's config records the normalization it trains with
    if dinfo.is_main:
        check_out_folder(folder.path)
        if run_dir is None:
            remove_killed_starts(Path(cfg.runs_dir).expanduser())
    try:
        folder.create()
    except OSError as e:
        raise SetupError(f"cannot make the run folder {folder.path}: {e.strerror or e}") from None
    with _locked(folder):
        if dinfo.is_main:
            if folder.config.is_file():  # another process started a run here meanwhile
                raise FileExistsError(f"{folder.path} already holds a run: resume it or choose another folder")
            cfg.save(folder.config)
        return _execute(cfg, folder, distributed.rank_sink(sink, folder.path), control, None, {},
                        ds, warning, started)


def resume(run_dir, sink=None, control: RunControl | None = None) -> RunResult:
    """Continue a run from checkpoints/last.pt with the same optimizer, schedule and RNG state.

    A folder that is not a readable run raises ``SetupError`` (config, metrics or checkpoint unreadable,
    dataset gone, device missing): the run stays as it was and can be resumed once that is fixed."""
    folder = RunFolder(run_dir)
    if not folder.config.is_file():
        raise SetupError(f"{folder.path} is not a run folder (no {RunFolder.CONFIG})")
    try:
        cfg = RunConfig.load(folder.config)
    except ConfigError as e:
        raise SetupError(f"cannot resume {folder.path}: {e}") from None
    distributed.start(cfg.train.device)  # DDP: joins torchrun's process group, if any
    folder, sink = distributed.rank_folder(run_dir), distributed.rank_sink(sink, run_dir)
    with _locked(folder):
        return _resume_locked(cfg, folder, sink, control)


def _read_run(folder: RunFolder) -> tuple[dict, dict | None]:
    """metrics.json and last.pt (None when there is none yet), or SetupError naming the broken file."""
    try:
        prior = folder.read_metrics()
    except (ValueError, OSError) as e:
        raise SetupError(f"cannot resume {folder.path}: {folder.metrics.name} is not readable ({e})") from None
    if not isinstance(prior, dict):
        raise SetupError(f"cannot resume {folder.path}: {folder.metrics.name} does not hold an object")
    if not folder.last.is_file():
        return prior, None
    wall = prior.get("wall_seconds", 0.0)
    if wall is not None and not number_in(wall, 0.0, float("inf")):
        raise SetupError(f"cannot resume {folder.path}: {folder.metrics.name} holds wall_seconds {wall!r}, "
                         f"not a number of seconds")
    try:
        state = load_checkpoint(folder.last)
        int(state["next_epoch"]), int(state["epoch"])
    except CheckpointError as e:
        raise SetupError(f"cannot resume: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        raise SetupError(f"cannot resume: {folder.last} is not a training checkpoint ({e})") from None
    check_state_numbers(state, folder.last)
    return prior, state


def _resume_locked(cfg: RunConfig, folder: RunFolder, sink, control) -> RunResult:
    prior, state = _read_run(folder)
    # a time-budget run may have re-planned its number of epochs: the checkpoint knows
    n_epochs = int(state.get("n_epochs", cfg.train.epochs)) if state is not None else cfg.train.epochs
    finished = state is not None and (prior.get("status") in ("completed", "early_stopped")
                                      or int(state["next_epoch"]) >= n_epochs)
    ds, warning = None, ""
    if not finished:
        ds, _device, _precision, warning = preflight(cfg, sink, control, check_data=distributed.current().is_main)
    if state is None:
        folder.create()
        return _execute(cfg, folder, sink, control, None, prior, ds, warning)  # died before epoch 1
    repaired = repair_best(folder, state) if distributed.current().is_main else ""
    if repaired:
        folder.append_log(repaired)
    recovered = repair_history(folder, state) if distributed.current().is_main else ""
    if recovered:
        folder.append_log(recovered)
    if finished:
        if prior.get("status") not in ("completed", "early_stopped") or repaired:
            status = prior.get("status") if prior.get("status") in ("completed", "early_stopped") else "completed"
            base = {k: prior[k] for k in prior if k not in ("message",)}
            prior = {**_metrics(saved_history(state), recorded_best(state), cfg.tricks.keep_best, status,
                                base, float(prior.get("wall_seconds") or 0.0), n_epochs,
                                int(state.get("batch_size", cfg.data.batch_size)), cfg.tricks.monitor),
                     "finished": prior.get("finished") or _now()}
            folder.write_metrics(prior)
        return RunResult(folder.path, prior["status"], prior, "the run is already finished")
    return _execute(cfg, folder, sink, control, state, prior, ds, warning)
