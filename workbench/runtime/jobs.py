"""Every job the app runs, declared once: its kind, what the status bar says, the core function it calls,
where it runs, whether it can pause, what it returns, and the command line's way to the same work.

The app builds its ``JobKind`` from this table (``gui/jobs.py``) and its result signals, side jobs and
pausable jobs from it (``gui/session.py``); ``tests/core/test_jobs.py`` checks that every entry is a
core function and every command a command of the CLI. Adding a job: one core function, one row here,
one Session method that starts it (its arguments) with its result signal, one view.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Job:
    name: str                 # the JobKind member (JobKind.TRAIN)
    kind: str                 # its value (what events and logs show)
    label: str                # what the status bar says while it runs
    entry: str                # the core function it calls, "module:function" (inside workbench)
    result: str               # what that function returns; the Session's ``signal`` carries it
    signal: str               # the Session's result signal
    process: bool = False     # takes the machine: runs in the job process at a lower priority
    pausable: bool = False
    side: bool = False        # runs beside the other jobs (one at a time otherwise)
    command: str = ""         # the CLI command that runs the same core function ("" = none)

    def function(self) -> Callable:
        """The core function (imported on demand: the table itself loads nothing heavy)."""
        module, _, name = self.entry.partition(":")
        return getattr(importlib.import_module(f"workbench.{module}"), name)


JOBS: tuple[Job, ...] = (
    Job("SCAN", "scan", "scanning the dataset", "data:open_dataset", "Dataset (+ DatasetStats)", "dataset_changed",
        command="inspect"),
    Job("LR_FIND", "lr_find", "running the LR finder", "train.lr_find:lr_find", "LRFindResult", "lr_found", process=True,
        command="lr-find"),
    Job("TRAIN", "train", "training", "train.run:train", "RunResult (also resume and multi-GPU train)", "trained",
        process=True, pausable=True, command="train"),
    Job("AUDIT", "audit", "auditing the labels", "audit.labels:run_audit", "AuditResult", "audited", process=True,
        command="audit"),
    Job("SUGGEST", "suggest", "suggesting a recipe", "recipe.suggest:suggest", "Suggestion", "suggested", command="suggest"),
    Job("PLAN", "plan", "planning the run", "train.run:plan_run", "Plan", "planned", process=True,
        command="train --plan-only"),
    Job("INTERPRET", "interpret", "interpreting the run", "analysis.interpret:interpret_run", "Interpretation", "interpreted",
        command="evaluate"),
    Job("TTA", "tta", "running test-time augmentation", "inference.tta:tta_run", "TTAResult", "tta_ready",
        command="evaluate --tta"),
    Job("EXPORT", "export", "exporting", "inference.export:export_run", "list[ExportResult]", "exported", command="export"),
    Job("PREDICT", "predict_folder", "predicting a folder", "inference.predict:predict_folder_to_csv", "dict (the CSV written)",
        "predicted", command="predict"),
    Job("TRY", "try_it", "predicting the dropped images", "inference.predict:predict_images", "ImagePredictions", "tried",
        command="predict"),
    Job("DOWNLOAD", "download", "downloading weights", "models.weights:fetch", "Path of the weights file", "downloaded", side=True,
        command="weights get"),
    Job("IMPORT_WEIGHTS", "import_weights", "importing a weights file", "models.weights:import_file",
        "the weights file stored in the cache", "weights_imported", side=True, command="weights import"),
)

BY_KIND: dict[str, Job] = {j.kind: j for j in JOBS}
