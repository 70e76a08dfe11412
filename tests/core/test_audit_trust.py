"""An audit that can be trusted by default: folds of photos start from the weights on disk at their native
size unless the recipe says otherwise, folds ignore the recipe's time budget, and a ranking from fold
models too weak to mean anything says so (report.json) and is not offered for accepting."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit_data import AUDIT_OVERRIDES, make_noisy_colours
from disk_weights import bundled_weights  # noqa: F401
from workbench.audit.labels import AuditResult, audit_recipe, describe_recipe, ranking_check, run_audit
from workbench.config import RunConfig
from oof_data import make_oof as oof

pytest.importorskip("cleanlab")


def test_a_ranking_from_weak_fold_models_is_flagged():
    # the audit from scratch: 10 classes, 36 % out of fold: not trustworthy
    ok, note, chance = ranking_check(oof(0.36))
    assert not ok and chance == pytest.approx(0.1) and "36.0%" in note and "too low" in note
    assert ranking_check(oof(0.56))[0] and not ranking_check(oof(0.54))[0]      # the line: 55 % for 10 classes
    assert not ranking_check(oof(0.70, n_classes=2))[0] and ranking_check(oof(0.80, n_classes=2))[0]
    res = AuditResult(audit_dir=Path("/x"), status="completed", k=3, folds_done=3, oof=oof(0.36))
    d = res.to_dict()
    assert d["ranking_reliable"] is False and d["chance_accuracy"] == pytest.approx(0.1) and d["ranking_note"]
    assert AuditResult(res.audit_dir, "completed", 3, 3, oof=oof(0.9)).to_dict()["ranking_reliable"] is True


def test_audit_folds_start_from_the_weights_on_disk_at_their_size(bundled_weights):  # noqa: F811
    arch, tag, native = bundled_weights
    cfg = RunConfig().set("train.budget_minutes", 3.0)
    q = audit_recipe(cfg, quick=True, median_side=300.0)
    assert (q.model.arch, q.model.pretrained, q.data.image_size) == (arch, tag, native)
    assert q.train.epochs == 3 and q.train.budget_minutes == 0 and q.tricks.freeze_epochs == 1
    assert describe_recipe(q) == f"{arch} fine-tuned from {tag} at {native} px, 3 epochs"
    full = audit_recipe(cfg.set("train.epochs", 8), quick=False, median_side=300.0)
    assert full.train.epochs == 8 and full.data.image_size == native and full.train.budget_minutes == 0
    # the recipe says otherwise: a named model, from scratch, tiny images
    named = audit_recipe(cfg.set("model.arch", "resnet18"), True, 300.0, explicit={"model.arch"})
    assert named.model.pretrained == "none" and named.data.image_size == 64
    scratch = audit_recipe(cfg, True, 300.0, from_scratch=True)
    assert (scratch.model.arch, scratch.model.pretrained, scratch.data.image_size) == ("resnet18", "none", 64)
    assert audit_recipe(cfg, True, 32.0).model.pretrained == "none"


def test_folds_ignore_the_recipes_time_budget(tmp_path):
    data, _ = make_noisy_colours(tmp_path / "colours", n=12, n_flip=1, seed=3)
    cfg = RunConfig().with_overrides(AUDIT_OVERRIDES + [f"runs_dir={tmp_path / 'runs'}", "train.budget_minutes=0.05",
                                                        "train.epochs=2"]).set("data.path", str(data))
    res = run_audit(cfg, k=2)
    assert res.status == "completed"
    for f in range(2):
        run = res.audit_dir / "folds" / f"fold{f}"
        fold_cfg = RunConfig.load(run / "config.toml")
        assert fold_cfg.train.budget_minutes == 0 and not (run / "plan.json").exists()
        assert json.loads((run / "metrics.json").read_text())["epochs_done"] == 2
