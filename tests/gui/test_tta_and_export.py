"""TTA inspector (beta slider vs the core's numbers) and the Export page (files + parity)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.config import RunConfig
from workbench.inference.tta import TTAResult, accuracy_vs_beta, fixed_and_broken
from workbench.gui.jobs import JobKind


def made_up_tta(shapes_dir: Path) -> TTAResult:
    rng = np.random.default_rng(1)
    paths = [str(p) for p in sorted((shapes_dir / "valid").rglob("*.png"))]
    n = len(paths)
    targets = np.repeat(np.arange(3), n // 3)
    plain = rng.dirichlet(np.ones(3), size=n).astype(np.float32)
    aug = rng.dirichlet(np.ones(3), size=n).astype(np.float32)
    aug[np.arange(n)[: n // 2], targets[: n // 2]] += 1.0       # TTA helps the first half
    aug /= aug.sum(1, keepdims=True)
    return TTAResult(plain, aug, targets, ("circle", "square", "triangle"), paths, 4)


def test_beta_slider_shows_core_accuracy_and_fixed_broken(qtbot, shapes_dir):
    from workbench.gui.views.tta_view import TTAView
    r = made_up_tta(shapes_dir)
    v = TTAView()
    qtbot.addWidget(v)
    v.set_result(r, r.paths, beta=0.25)
    assert v.plain_label.text() == f"{r.accuracy():.1%}"
    for pos in (0, 25, 60, 100):
        with qtbot.waitSignal(v.betaChanged):
            v.slider.setValue(pos)
        want = float(accuracy_vs_beta(r, [pos / 100])[0])
        assert v.shown_accuracy() == want
        assert v.tta_label.text() == f"{want:.1%}"
        fixed, broken = fixed_and_broken(r, pos / 100)
        assert v.fixed.paths() == [r.paths[i] for i in fixed]
        assert v.broken.paths() == [r.paths[i] for i in broken]
    v.slider.setValue(0)
    assert v.fixed.paths(), "the made-up result has images TTA fixes at beta 0"
    assert v.tta_label.text() == f"{r.accuracy(0.0):.1%}"


def test_export_page_writes_files_and_reports_parity(session, qtbot, tmp_path, shapes_dir, monkeypatch):
    """Export through the session's export job; the run's model is a small untrained net here."""
    import torch
    import workbench.inference.export as export
    from workbench.gui.views.export_view import ExportView
    from workbench.models.build import create_model
    cfg = RunConfig().set("data.path", str(shapes_dir)).set("data.image_size", 32)

    def fake_export_run(run_dir, formats=None, out_dir=None, sink=None, control=None):
        torch.manual_seed(0)
        model = create_model("resnet18", 3)
        return export.export_model(model, cfg, ("circle", "square", "triangle"), formats,
                                   out_dir or Path(run_dir) / "export", sink, control)
    monkeypatch.setattr("workbench.gui.session.export_run", fake_export_run)
    v = ExportView(session)
    qtbot.addWidget(v)
    assert not v.export_btn.isEnabled()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    v.set_run(str(run_dir))
    v.boxes["onnx"].setChecked(False)
    v.boxes["torchscript"].setChecked(False)       # the real-run test covers TorchScript; keep this one fast
    assert v.formats() == ["safetensors"]
    with qtbot.waitSignal(session.job_finished, timeout=60_000) as sig:
        assert v.start_export()
        assert not v.export_btn.isEnabled()
    assert sig.args == [JobKind.EXPORT, "completed"]
    assert v.parity_texts() == {"safetensors": "OK"}
    files = sorted(p.name for p in (run_dir / "export").iterdir())
    assert "model.json" in files and any(f.endswith(".safetensors") for f in files)
    assert float(v.table.item(0, 2).text()) <= cfg.export.parity_atol
    assert v.export_btn.isEnabled() and "parity OK" in v.status.text()


def test_export_parity_failure_is_shown_as_failed(session, qtbot, tmp_path, monkeypatch):
    import workbench.inference.export as export
    from workbench.gui.views.export_view import ExportView

    def failing_export_run(run_dir, formats=None, out_dir=None, sink=None, control=None):
        raise export.ExportFailed(f"onnx export {run_dir}/export/model.onnx does not match the in-app model",
                                 "onnx")
    monkeypatch.setattr("workbench.gui.session.export_run", failing_export_run)
    v = ExportView(session)
    qtbot.addWidget(v)
    v.set_run(str(tmp_path))
    with qtbot.waitSignal(session.job_finished, timeout=10_000) as sig:
        assert v.start_export()
    assert sig.args == [JobKind.EXPORT, "failed"]
    assert v.parity_texts() == {"onnx": "FAILED"} and "does not match" in v.status.text()


def test_export_page_single_image_is_calibrated_like_the_folder_csv(session, qtbot, tmp_path_factory, tmp_path):
    """The one-image prediction on the Export page applies the run's temperature, as the folder CSV does."""
    import csv
    from trained_run import trained_run
    from workbench.analysis.calibration import run_temperature
    from workbench.gui.views.export_view import ExportView
    run = trained_run(tmp_path_factory)
    cfg = RunConfig.load(run / "config.toml")
    image = sorted((Path(cfg.data.path) / "valid" / "square").glob("*.png"))[0]
    assert run_temperature(run) != 1.0  # otherwise calibrated and plain would agree anyway
    v = ExportView(session)
    qtbot.addWidget(v)
    v.set_run(str(run))
    assert v.predict_image(str(image))
    qtbot.waitUntil(lambda: v.predict_result is not None, timeout=60_000)
    shown = np.asarray(v.predict_result.probs)
    out = tmp_path / "one.csv"
    with qtbot.waitSignal(session.job_finished, timeout=60_000):
        assert v.predict_folder(str(image.parent), str(out))
    with open(out, newline="", encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if Path(r["path"]).name == image.name)
    top = dict(item.split(":") for item in row["top_k"].split(";"))
    classes = v.predict_result.classes
    assert float(row["probability"]) == pytest.approx(float(shown.max()), abs=1e-3)
    for name, p in top.items():
        assert float(p) == pytest.approx(float(shown[classes.index(name)]), abs=1e-3)
