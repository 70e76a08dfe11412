"""The ``workbench train`` command line that trains a recipe exactly (the app's *Copy CLI command*)."""
from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from ..config import ConfigError, RunConfig, iter_fields
from .pretrained import pretrained_defaults


def cli_program() -> str:
    """How a shell calls this install's command line: ``workbench`` when that name on PATH is this
    install's, else the script beside this Python (a virtual environment that is not activated, as
    ``./run`` makes), else ``python -m workbench`` with this Python."""
    own = Path(sys.executable).parent / ("workbench.exe" if os.name == "nt" else "workbench")
    found = shutil.which("workbench")
    if found and (not own.is_file() or Path(found).resolve() == own.resolve()):
        return "workbench"
    if own.is_file():
        return shlex.quote(str(own))
    return f"{shlex.quote(sys.executable)} -m workbench"


def train_command(cfg: RunConfig, program: str = "workbench") -> str:
    """The ``workbench train`` command that trains this exact recipe: the keys that differ from the
    defaults, and the keys the CLI would otherwise change itself (the pretrained recipe defaults,
    e.g. augment.min_scale). The reasons of a suggestion stay out (they only explain choices)."""
    defaults = {k: v for k, _, v in iter_fields(RunConfig())}
    skip = ("data.path", "schema_version", "reasons")
    keys = [k for k, _, v in iter_fields(cfg) if k not in skip and v != defaults[k]]
    try:  # what the CLI makes of those keys: anything it changes on its own is set explicitly too
        as_cli, _ = pretrained_defaults(RunConfig().with_overrides([f"{k}={_fmt(cfg.get(k))}" for k in keys]),
                                        keys)
        keys += [k for k, _, v in iter_fields(as_cli) if k not in skip and k not in keys and v != cfg.get(k)]
    except ConfigError:
        pass
    parts = [program, "train", shlex.quote(cfg.data.path or "DATASET")]
    for key, _, value in iter_fields(cfg):
        if key in keys:
            parts += ["--set", shlex.quote(f"{key}={_fmt(value)}")]
    return " ".join(parts)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(_fmt(v) for v in value)
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)   # exact: the command rebuilds the recipe
    return str(value)
