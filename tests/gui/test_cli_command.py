"""Copy CLI command reproduces the recipe exactly: the copied command, parsed by the CLI's config path
(--config/--set, then the pretrained recipe defaults, as ``train --check`` does), gives the same
RunConfig as the app; the reasons of a suggestion are not embedded."""
from __future__ import annotations

import shlex


def _as_cli(cmd: str):
    from workbench.cli import build_parser
    from workbench.cli.common import load_config
    from workbench.cli.train_cmd import explicit_keys
    from workbench.recipe.pretrained import pretrained_defaults
    from workbench.recipe.command import cli_program
    argv = shlex.split(cmd)
    n = len(shlex.split(cli_program()))           # "workbench", the script of this install, or python -m workbench
    assert argv[:n] == shlex.split(cli_program()) and argv[n] == "train"
    args = build_parser().parse_args(argv[n:] + ["--check"])
    assert args.check
    cfg = load_config(args, args.dataset)
    return pretrained_defaults(cfg, explicit_keys(args))[0]


def test_copied_command_gives_the_apps_recipe(qtbot, session, tmp_path):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    reasons = ("train.epochs: beats training from scratch on 122 images per class",
               "augment.min_scale: keeps most of each photo")
    cfg = (session.config.set("data.path", str(tmp_path / "my data")).set("model.pretrained", "DEFAULT")
           .set("augment.min_scale", 0.35)          # the default, which the CLI would turn into 0.5
           .set("train.lr", 0.0012345678).set("train.epochs", 7).set("train.budget_minutes", 3.0)
           .set("reasons", reasons))
    session.set_config(cfg)
    cmd = view.copy_command()
    assert "reasons" not in cmd and "122 images" not in cmd
    assert "augment.min_scale=0.35" in cmd
    got = _as_cli(cmd)
    assert got == cfg.set("reasons", ())
    # a plain recipe (no pretrained weights) stays a short command
    session.set_config(session.config.set("model.pretrained", "none").set("reasons", ()))
    short = view.copy_command()
    assert "min_scale" not in short and _as_cli(short) == session.config


def test_the_copied_command_runs_in_a_shell_without_the_environment_activated(qtbot, session, shapes_dir, tmp_path):
    """./run makes a virtual environment that the user's shell has not activated: the copied command
    names this install's own script (or python -m workbench), so pasted into a shell whose PATH lacks
    it, it runs (here with --check: every check of a run, nothing written)."""
    import os
    import subprocess
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_config(session.config.set("data.path", str(shapes_dir)).set("runs_dir", str(tmp_path / "runs"))
                       .set("train.epochs", 1))
    cmd = view.copy_command()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)} | {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(cmd + " --check", shell=True, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "recipe OK" in done.stdout and not (tmp_path / "runs").exists()


def test_cli_program_prefers_the_name_on_path_only_when_it_is_this_install(tmp_path, monkeypatch):
    import shutil
    import sys
    from workbench.recipe import command
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "workbench").write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    monkeypatch.setattr(shutil, "which", lambda name: None)                        # not activated
    assert command.cli_program() == str(bindir / "workbench")
    monkeypatch.setattr(shutil, "which", lambda name: str(bindir / "workbench"))   # activated
    assert command.cli_program() == "workbench"
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/local/bin/workbench")  # another install's
    assert command.cli_program() == str(bindir / "workbench")
    (bindir / "workbench").unlink()                                               # no script: python -m
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert command.cli_program() == f"{bindir / 'python'} -m workbench"
