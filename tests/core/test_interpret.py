"""Interpretation computed from Predictions: hand-checked tiny cases, then a real trained run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.analysis import interpret as it

CLASSES = ("a", "b", "c")


def tiny() -> it.Predictions:
    # true:  a a a b b c
    # pred:  a b a b c c
    probs = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.5, 0.4, 0.1],
                      [0.1, 0.7, 0.2], [0.1, 0.2, 0.7], [0.05, 0.05, 0.9]], dtype=np.float32)
    return it.Predictions.from_probs([f"img{i}.png" for i in range(6)], [0, 0, 0, 1, 1, 2], probs, CLASSES)


def test_confusion_matrix_by_hand():
    p = tiny()
    cm = it.confusion_matrix(p)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert cm.sum() == len(p)
    norm = it.confusion_matrix(p, normalize=True)
    np.testing.assert_allclose(norm.sum(1), 1.0)
    np.testing.assert_allclose(norm[0], [2 / 3, 1 / 3, 0])


def test_most_confused_and_report():
    p = tiny()
    assert it.most_confused(p) == [("a", "b", 1), ("b", "c", 1)]
    assert it.most_confused(p, min_count=2) == []
    rep = {r["class"]: r for r in it.per_class_report(p)}
    assert rep["a"]["precision"] == 1.0 and rep["a"]["recall"] == pytest.approx(2 / 3)
    assert rep["b"]["precision"] == 0.5 and rep["b"]["recall"] == 0.5
    assert rep["c"]["precision"] == 0.5 and rep["c"]["recall"] == 1.0
    assert rep["c"]["f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert [r["support"] for r in it.per_class_report(p)] == [3, 2, 1]
    s = it.summary(p)
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert "top5" not in s


def test_top5_only_with_more_than_five_classes():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(6), size=20).astype(np.float32)
    p = it.Predictions.from_probs([str(i) for i in range(20)], rng.integers(0, 6, 20), probs, tuple("abcdef"))
    s = it.summary(p)
    assert "top5" in s and s["accuracy"] <= s["top5"] <= 1.0
    five = rng.dirichlet(np.ones(5), size=20).astype(np.float32)   # every class is in the top 5: always 100 %
    p5 = it.Predictions.from_probs([str(i) for i in range(20)], rng.integers(0, 5, 20), five, tuple("abcde"))
    assert "top5" not in it.summary(p5)


def test_rankings():
    p = tiny()
    tl = it.top_losses(p)
    assert np.all(np.diff(p.losses[tl]) <= 0)
    assert set(tl.tolist()) == set(range(6))
    assert tl[0] == 4  # b predicted as c with p(b) = 0.2: the worst
    assert it.top_losses(p, 2).tolist() == tl[:2].tolist()
    assert set(it.top_losses(p, cls="a").tolist()) == {0, 1, 2}
    lcc = it.least_confident_correct(p, 2)
    assert lcc.tolist() == [2, 3]  # correct with p = 0.5, then 0.7
    mu = it.most_uncertain(p, 1)
    assert mu.tolist() == [2]      # margin 0.1
    assert it.indices_for_cell(p, "b", "c").tolist() == [4]
    assert it.indices_for_cell(p, 0, 0).tolist() == [2, 0]
    with pytest.raises(ValueError, match="unknown class"):
        it.indices_for_cell(p, "zebra", "a")


def test_ensemble_and_roundtrip(tmp_path):
    p = tiny()
    q = it.Predictions.from_probs(p.paths, p.targets, np.roll(p.probs, 1, axis=1), p.classes)
    e = it.ensemble_predictions([p, q])
    np.testing.assert_allclose(e.probs, (p.probs + q.probs) / 2, rtol=1e-6)
    np.testing.assert_allclose(e.losses, -np.log(e.probs[np.arange(6), e.targets]), rtol=1e-5)
    with pytest.raises(ValueError):
        it.ensemble_predictions([p, it.Predictions.from_probs(p.paths[::-1], p.targets, p.probs, p.classes)])
    f = tmp_path / "p.npz"
    p.save(f)
    r = it.Predictions.load(f)
    assert r.paths == p.paths and r.classes == p.classes
    np.testing.assert_array_equal(r.probs, p.probs)


def test_predict_loader_restores_row_order():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3))
    x = torch.randn(10, 3, 4, 4)
    y = torch.arange(10) % 3

    class Shuffled:
        def __len__(self):
            return 2

        def iter_with_rows(self):
            order = torch.tensor([9, 3, 5, 0, 1, 2, 4, 6, 7, 8])
            for chunk in order.split(5):
                yield x[chunk], y[chunk], chunk

    items = [f"p{i}" for i in range(10)]
    p = it.predict_loader(model, Shuffled(), items, classes=("a", "b", "c"))
    with torch.no_grad():
        ref = torch.softmax(model(x), 1).numpy()
    np.testing.assert_allclose(p.probs, ref, rtol=1e-5, atol=1e-6)
    assert p.paths == items and p.targets.tolist() == y.tolist()
    assert it.confusion_matrix(p).sum() == 10


# ------------------------------------------------------------------ end to end on a trained run
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from trained_run import trained_run
    return trained_run(tmp_path_factory)


def test_interpret_run_and_cache(run_dir):
    import json
    for cached in run_dir.glob("predictions*.npz"):  # the shared run may have been interpreted by another test
        cached.unlink()
    res = it.interpret_run(run_dir)
    p = res.predictions
    assert not res.from_cache and len(p) == 24 and p.classes == ("circle", "square", "triangle")
    assert it.confusion_matrix(p).sum() == 24
    assert all("/valid/" in q for q in p.paths)
    m = json.loads((run_dir / "metrics.json").read_text())
    assert it.accuracy(p) == pytest.approx(m["valid_accuracy"], abs=1e-6)
    assert (run_dir / "predictions.npz").is_file()
    again = it.interpret_run(run_dir)
    assert again.from_cache
    np.testing.assert_array_equal(again.predictions.probs, p.probs)
    assert again.report.summary["n"] == 24


def test_tta_on_run_matches_plain_predictions(run_dir):
    from workbench.inference.tta import tta_run
    p = it.interpret_run(run_dir).predictions
    res = tta_run(run_dir)
    assert res.paths == p.paths
    np.testing.assert_allclose(res.plain_probs, p.probs, atol=1e-5)
    np.testing.assert_allclose(res.final(1.0), p.probs, atol=1e-5)
    assert res.n_passes == 2


def test_stratified_folds():
    from workbench.train.crossval import stratified_folds
    labels = np.array([0] * 10 + [1] * 7 + [2] * 5)
    f = stratified_folds(labels, 3, seed=1)
    assert set(f.tolist()) == {0, 1, 2}
    sizes = np.bincount(f)
    assert sizes.max() - sizes.min() <= 1
    for c in range(3):
        per = np.bincount(f[labels == c], minlength=3)
        assert per.max() - per.min() <= 1
    np.testing.assert_array_equal(f, stratified_folds(labels, 3, seed=1))
    with pytest.raises(ValueError):
        stratified_folds(labels, 1)


def test_run_folds_writes_fold_splits_and_summary(shapes_flat_dir, tmp_path, monkeypatch):
    """run_folds hands each fold to train() as a labels CSV; train is replaced by a recorder here
    (real training per fold is covered by the trained-run tests)."""
    import json
    import workbench.train.run as run_mod
    from workbench.config import RunConfig
    from workbench.train.crossval import run_folds
    from workbench.data import open_dataset
    seen = []

    def fake_train(cfg, sink=None, control=None, run_dir=None):
        ds = open_dataset(cfg.data, cfg.seed)
        seen.append((cfg.name, sorted(it.path for it in ds.valid), len(ds.train)))
        acc = 0.5 + 0.1 * len(seen)
        return run_mod.RunResult(tmp_path / cfg.name, "completed", {"valid_accuracy": acc, "valid_loss": 1.0 / len(seen)})
    monkeypatch.setattr(run_mod, "train", fake_train)
    cfg = RunConfig().with_overrides([f"runs_dir={tmp_path}", "name=cv"]).set("data.path", str(shapes_flat_dir))
    summary = run_folds(cfg, 3)
    assert [s[0] for s in seen] == ["cv-fold0", "cv-fold1", "cv-fold2"]
    valids = [set(v) for _, v, _ in seen]
    assert all(len(v) == 20 for v in valids) and all(n == 40 for _, _, n in seen)
    assert not (valids[0] & valids[1]) and not (valids[1] & valids[2]) and len(set.union(*valids)) == 60
    assert summary["accuracy"]["mean"] == pytest.approx(0.7)
    assert summary["accuracy"]["std"] == pytest.approx(0.1)
    on_disk = json.loads((tmp_path / "cv-cv" / "summary.json").read_text())
    assert on_disk["k"] == 3 and len(on_disk["folds"]) == 3
    with pytest.raises(ValueError, match="images per class"):
        run_folds(cfg, 50)


def test_run_and_checkpoint_ensembles(run_dir, tmp_path):
    import shutil
    p = it.interpret_run(run_dir).predictions
    both = it.runs_ensemble([run_dir, run_dir])
    np.testing.assert_allclose(both.probs, p.probs, atol=1e-6)
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "predictions.npz").unlink()
    last = it.interpret_run(copy, which="last").predictions
    ens = it.ensemble_predictions([p, last])
    np.testing.assert_allclose(ens.probs, (p.probs + last.probs) / 2, atol=1e-5)
    assert (copy / "predictions-last.npz").is_file()
