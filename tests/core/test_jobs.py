"""The job table: every row names a real core function and a real command, kinds and signals are unique."""
from __future__ import annotations

import inspect

from workbench.runtime.jobs import BY_KIND, JOBS


def test_every_job_names_a_core_function_and_a_cli_command():
    from workbench.cli import build_parser
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for job in JOBS:
        fn = job.function()
        assert callable(fn) and fn.__module__.startswith("workbench.")
        assert "gui" not in fn.__module__.split(".") and "cli" not in fn.__module__.split(".")
        assert inspect.signature(fn).parameters, job.entry
        if job.command:
            assert job.command.split()[0] in commands, job


def test_kinds_names_and_signals_are_unique():
    assert len(BY_KIND) == len(JOBS)
    assert len({j.name for j in JOBS}) == len(JOBS)
    assert len({j.signal for j in JOBS}) == len(JOBS)
    assert [j.kind for j in JOBS if j.pausable] == ["train"]
