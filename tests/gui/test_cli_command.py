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
    argv = shlex.split(cmd)
    assert argv[:2] == ["workbench", "train"]
    args = build_parser().parse_args(argv[1:] + ["--check"])
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
