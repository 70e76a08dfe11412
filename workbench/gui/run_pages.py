"""The pages of one run: Results, Export, Try it and Runs, wired to the session.

``make_pages(session)`` returns {"Results": ..., "Export": ..., "Try it": ..., "Runs": ...}; the main
window adds them to its step flow. Opening a run (``session.run_opened``) loads it in Results, Export
and Try it.
"""
from __future__ import annotations

from PySide6.QtWidgets import QWidget

from .views.export_view import ExportView
from .views.results_page import ResultsPage
from .views.runs_view import RunsView
from .views.try_view import TryView


def make_pages(session) -> dict[str, QWidget]:
    results = ResultsPage(session)
    export = ExportView(session)
    runs = RunsView(session)
    try_it = TryView(session)

    def opened(run_dir: str) -> None:
        results.load_run(run_dir)
        export.set_run(run_dir)
        try_it.set_run(run_dir)
    def edited(old: str, new: str, error: str) -> None:
        """A renamed run that is open follows its folder (the Try it page keeps its images)."""
        if error or old == new:
            return
        if results.run_dir == old:
            results.load_run(new)
        if export.run_dir == old:
            export.set_run(new)
        if try_it.run_dir == old:
            try_it.run_dir = new
            try_it.set_run(new)
    session.run_opened.connect(opened)
    session.run_edited.connect(edited)
    runs.openRequested.connect(session.open_run)
    return {"Results": results, "Export": export, "Try it": try_it, "Runs": runs}
