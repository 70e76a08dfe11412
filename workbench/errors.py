"""The two kinds of error, mapped once for the command line (``cli.main``) and once for the app
(``gui.jobs`` / the main window's error dialog).

``BadInput``: what the user gave cannot be used (a file, a folder, a recipe value, a model file, a run
folder in use). The message is one sentence that names the thing and the problem; the command line
exits 2 with it, the app shows it without a traceback, and no run folder is made.

``Failure``: work that started could not finish (training diverged, an export does not predict like its
model, a download broke off, a job process died). The command line exits 1 with the message; the app
shows it with the details.

Every error class of the core derives from one of them, so a bug (any other exception) is never taken
for bad input: it keeps its traceback.
"""
from __future__ import annotations


class BadInput(ValueError):
    """Input that cannot be used: exit 2 with one sentence, no run folder."""


class Failure(RuntimeError):
    """Work that started and could not finish: exit 1 with the message."""
