"""The Results page on the shared tiny trained run (``trained_run``), for test modules that import
these fixtures: ``from results_fixtures import page, run_dir  # noqa: F401``."""
from __future__ import annotations

from pathlib import Path

import pytest

from gui_helpers import open_run_pages


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from trained_run import trained_run
    return Path(trained_run(tmp_path_factory))


@pytest.fixture
def page(session, qtbot, run_dir):
    return open_run_pages(session, qtbot, run_dir)["Results"]
