"""The core's quick helpers the views use, in one place on the GUI side.

Views import the core only for the recipe's dataclass (``workbench.config``), the event types
(``workbench.runtime.events``) and the errors (``workbench.errors``); everything else reaches them through
the Session, through ``session_jobs`` / ``session_images`` (work off the GUI thread) or through this
module. Most of what is here is pure: numbers from results already in memory (a run's predictions, a TTA
result, an LR-finder curve), words for statuses, the recipe's pretrained defaults. The rest is named
for what it touches: the weights store's queries of the model picker (``status`` / ``cached_tag`` read
the store's memo of checked files; ``catalogue`` and ``suggest_fine_tune`` are handed to the side pool
by their views) and ``ChangeSet``, the dataset's small change list the Results page edits. The
import-linter contract "Views reach the core through the Session" (``pyproject.toml``) keeps views
on this side.
"""
from __future__ import annotations

from ..analysis.interpret import (confusion_matrix, indices_for_cell, most_confused, per_class_report, summary,
                                  top_losses)
from ..audit.labels import describe_recipe
from ..data.sidecar import ChangeSet, data_effect, mark_words
from ..inference.export import ExportError, ExportFailed
from ..inference.to_label import labelling_marks
from ..inference.tta import accuracy_vs_beta, fixed_and_broken
from ..models.sources import offline_places, search_examples
from ..models.weights import DEFAULT_TAG, NONE, WeightsError, cached_tag, named_tags, spec, status, tags
from ..recipe.pretrained import catalogue, pretrained_defaults, suggest_fine_tune
from ..recipe.reasons import parse_reasons, split_reason
from ..run.runs import (STATUS_WORDS, best_runs, epochs_words, finish_words, planned_epochs, run_accuracy, run_epochs,
                        run_summary, status_words, whole_epochs)
from ..recipe.working import for_dataset, same_dataset
from ..runtime.paths import data_home, display_text
from ..train.lr_find import changed_since, curve_problem, plot_window, y_range
from ..train.run import reported_line
from ..train.schedules import preview_curve

__all__ = [
    # results in memory (analysis.interpret, inference.tta, train.lr_find, train.run)
    "confusion_matrix", "indices_for_cell", "most_confused", "per_class_report", "summary", "top_losses",
    "accuracy_vs_beta", "fixed_and_broken", "curve_problem", "changed_since", "plot_window", "y_range", "reported_line",
    # the recipe (recipe.pretrained, recipe.suggest, recipe.working, train.schedules, audit.labels)
    "pretrained_defaults", "suggest_fine_tune", "catalogue", "parse_reasons", "split_reason", "preview_curve",
    "describe_recipe", "for_dataset", "same_dataset",
    # the weights store's names and states (models.weights)
    "DEFAULT_TAG", "NONE", "WeightsError", "cached_tag", "named_tags", "spec", "status", "tags",
    # the model sources' wording (models.sources)
    "offline_places", "search_examples",
    # runs, files and their words (run.runs, runtime.paths, data.sidecar), export's errors
    "STATUS_WORDS", "best_runs", "finish_words", "planned_epochs", "run_accuracy", "epochs_words", "whole_epochs",
    "run_epochs", "run_summary", "status_words", "display_text", "data_home", "ChangeSet", "ExportError", "ExportFailed",
    "labelling_marks", "mark_words", "data_effect",
]
