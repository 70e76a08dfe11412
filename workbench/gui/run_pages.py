"""The pages of one run: Results, Export and Runs, wired to the session.

``make_pages(session)`` returns {"Results": ..., "Export": ..., "Runs": ...}; the main window adds them
to its step flow. Opening a run (``session.run_opened``) loads it in Results and Export.
"""
from __future__ import annotations

from PySide6.QtWidgets import QWidget

from .views.export_view import ExportView
from .views.results_page import ResultsPage
from .views.runs_view import RunsView


def make_pages(session) -> dict[str, QWidget]:
    results = ResultsPage(session)
    export = ExportView(session)
    runs = RunsView(session)

    def opened(run_dir: str) -> None:
        results.load_run(run_dir)
        export.set_run(run_dir)
    session.run_opened.connect(opened)
    runs.openRequested.connect(session.open_run)
    return {"Results": results, "Export": export, "Runs": runs}
