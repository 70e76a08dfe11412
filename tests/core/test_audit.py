"""Label audit: injected label noise is found from out-of-fold predictions, OOF probabilities never come
from a model that trained on the image, a stopped audit resumes from its finished folds, accepting
suggestions goes to the sidecar only."""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from audit_data import AUDIT_OVERRIDES, make_noisy_colours
from workbench.audit.labels import accept_suggestions, quick_recipe, run_audit
from workbench.config import RunConfig
from workbench.runtime.control import RunControl
from workbench.data import ChangeSet, open_dataset
from workbench.runtime.events import EpochEnd, FitStarted

pytest.importorskip("cleanlab")


def _cfg(data: Path, runs: Path) -> RunConfig:
    return RunConfig().with_overrides(AUDIT_OVERRIDES + [f"runs_dir={runs}"]).set("data.path", str(data))


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    base = tmp_path_factory.mktemp("audit")
    data, flipped = make_noisy_colours(base / "colours")
    res = run_audit(_cfg(data, base / "runs"), k=3)
    return data, flipped, res


def test_injected_noise_is_found(audited):
    data, flipped, res = audited
    assert res.status == "completed" and res.folds_done == 3
    ranked = [Path(r["path"]).relative_to(data).as_posix() for r in res.label_issues]
    k = len(flipped)
    top = ranked[:k]
    precision = sum(p in flipped for p in top) / k
    noise_rate = k / len(res.oof)
    assert precision >= 0.6 > 5 * noise_rate / 2, (precision, top, flipped)
    assert [r["rank"] for r in res.label_issues] == list(range(1, len(ranked) + 1))
    for r in res.label_issues:
        true = Path(r["path"]).name.split("_")[0]
        if Path(r["path"]).relative_to(data).as_posix() in flipped:
            assert r["suggested"] == true and r["given"] != true
        assert r["suggested"] != r["given"] and 0.0 <= r["self_confidence"] <= 1.0
    # self-confidence ranking: the given label's out-of-fold probability rises with the rank
    sc = [r["self_confidence"] for r in res.label_issues]
    assert sc == sorted(sc)
    report = json.loads((res.audit_dir / "report.json").read_text())
    assert report["label_issues"][0].keys() >= {"path", "given", "suggested", "self_confidence", "rank"}
    assert {"duplicates", "leaks", "label_conflicts"} <= set(report)


def test_oof_probabilities_come_from_models_that_never_saw_the_image(audited):
    data, _, res = audited
    oof, fold_of = res.oof, res.fold_of
    assert len(oof) == 90 and sorted(set(fold_of.tolist())) == [0, 1, 2]
    for f in range(3):
        with open(res.audit_dir / f"fold{f}.csv", newline="", encoding="utf-8") as fh:
            rows = {str(data / r["file"]): r["is_valid"] == "1" for r in csv.DictReader(fh)}
        run_cfg = RunConfig.load(res.audit_dir / "folds" / f"fold{f}" / "config.toml")
        assert Path(run_cfg.data.labels_csv) == (res.audit_dir / f"fold{f}.csv").resolve()
        for path, fold in zip(oof.paths, fold_of):
            # the image was predicted by fold f's model exactly when fold f held it out of training
            assert rows[path] == (fold == f), (path, fold, f)
        with np.load(res.audit_dir / f"oof-fold{f}.npz") as z:
            held = dict(zip([str(p) for p in z["paths"]], z["probs"]))
        assert set(held) == {p for p, v in rows.items() if v}
        for i, path in enumerate(oof.paths):
            if fold_of[i] == f:
                np.testing.assert_allclose(oof.probs[i], held[path], atol=1e-6)


def test_stopped_audit_resumes_from_finished_folds(tmp_path):
    data, _ = make_noisy_colours(tmp_path / "colours", n=12, n_flip=1, seed=5)
    cfg = _cfg(data, tmp_path / "runs")
    control, seen = RunControl(), []

    def stop_in_second_fold(e):
        if isinstance(e, FitStarted):
            seen.append(("start", Path(e.run_dir).name, e.start_epoch))
        if isinstance(e, EpochEnd) and len([s for s in seen if s[0] == "start"]) == 2:
            control.request_stop()   # after fold 1's first epoch: its checkpoint exists
    first = run_audit(cfg, k=2, sink=stop_in_second_fold, control=control)
    assert first.status == "cancelled" and first.folds_done == 1
    oof0 = first.audit_dir / "oof-fold0.npz"
    stamp = oof0.stat().st_mtime_ns
    assert (first.audit_dir / "folds" / "fold1" / "checkpoints" / "last.pt").is_file()
    again: list = []
    second = run_audit(cfg, k=2, sink=lambda e: again.append(e) if isinstance(e, FitStarted) else None)
    assert second.status == "completed" and second.folds_done == 2
    assert [(Path(e.run_dir).name, e.start_epoch) for e in again] == [("fold1", 1)]   # fold 0 kept, fold 1 resumed
    assert oof0.stat().st_mtime_ns == stamp and len(second.oof) == 36


def test_accepting_suggestions_touches_only_the_sidecar(audited, tmp_path):
    data, flipped, res = audited
    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in data.rglob("*.png")}
    top = res.label_issues[:3]
    cs = accept_suggestions(data, top, classes=res.classes)
    assert len(cs) == 3 and cs.location.name == "changes.json"
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in data.rglob("*.png")} == digest
    ds = open_dataset(_cfg(data, tmp_path).data)
    by_path = {it.path: ds.classes[it.label] for it in ds.items}
    for r in top:
        assert by_path[r["path"]] == r["suggested"]
    assert cs.undo() and len(cs) == 2
    cs.save()
    ChangeSet.load(data).location.unlink()   # leave the module's dataset as it was


def test_quick_recipe_is_small():
    q = quick_recipe(RunConfig().with_overrides(["data.image_size=224", "train.epochs=20"]))
    assert q.data.image_size == 64 and q.train.epochs == 3
    assert quick_recipe(RunConfig().set("data.image_size", 32)).data.image_size == 32


@pytest.fixture
def cached_resnet18(tmp_path, monkeypatch):
    """resnet18 weights under the tag TEST, only in the local cache (no URL is reachable)."""
    import torch
    import torchvision
    from workbench.models import weights
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    s = weights.WeightsSpec("resnet18", "TEST", "http://127.0.0.1:9/unreachable", "resnet18-test.pth",
                            mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    weights.register(s)
    s.dest.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), s.dest)
    yield s
    weights.unregister("resnet18", "TEST")


def test_quick_audit_and_leaks_use_a_cached_pretrained_backbone(cached_resnet18, tmp_path):
    from audit_data import plant_copies
    from workbench.audit.labels import leaks_only, pretrained_embedder
    cfg = RunConfig().with_overrides(["data.image_size=32", f"runs_dir={tmp_path / 'runs'}"])
    q = quick_recipe(cfg)
    assert q.model.pretrained == "TEST" and q.tricks.freeze_epochs == 1    # fine-tune defaults came along
    assert quick_recipe(cfg.set("model.pretrained", "none").set("model.arch", "mobilenet_v3_small")
                        ).model.pretrained == "none"                       # nothing cached for that arch
    emb = pretrained_embedder(cfg)
    assert emb is not None and emb.source == "pretrained resnet18:TEST" and emb.mean == (0.5, 0.4, 0.3)
    root = tmp_path / "data"
    plant_copies(root)
    found = leaks_only(cfg.set("data.path", str(root)))
    assert found["near_dup_settings"]["embeddings"] == "pretrained resnet18:TEST"
    assert found["leaks"]
