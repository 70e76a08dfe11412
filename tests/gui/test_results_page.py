"""Results page on real (tiny) runs: nothing of the previous run stays on screen when another loads."""
from __future__ import annotations

import shutil

from results_fixtures import page, run_dir  # noqa: F401


def test_loading_another_run_resets_tta_and_the_cell_caption(page, session, qtbot, run_dir, tmp_path):
    with qtbot.waitSignal(session.job_finished, timeout=60_000):
        assert page.compute_tta()
    assert page.tta.result is not None and page.tta.fixed.paths() is not None
    page.confusion.choose(0, 0)
    assert page.cell_gallery.title.text() != "<b>Pick a cell of the matrix</b>"
    other = tmp_path / "runs" / "run-b"
    shutil.copytree(run_dir, other)
    with qtbot.waitSignal(page.runLoaded, timeout=60_000):
        session.open_run(str(other))
    assert page.tta.result is None
    assert page.tta.plain_label.text() == "–" and page.tta.tta_label.text() == "–"
    assert not page.tta.slider.isEnabled() and page.tta.fixed.paths() == [] and page.tta.broken.paths() == []
    assert page.cell_gallery.title.text() == "<b>Pick a cell of the matrix</b>"
    assert page.cell_gallery.paths() == []
    assert "run-b" in page.summary.heading.text()


def test_headline_says_when_the_model_is_not_of_the_last_epoch():
    from workbench.gui.views.result_texts import epoch_note
    assert "epoch 2 of 4" in epoch_note({"best_epoch": 1, "epochs_done": 4})
    assert "validation loss" in epoch_note({"best_epoch": 1, "epochs_done": 4})
    assert "accuracy" in epoch_note({"best_epoch": 0, "epochs_done": 3}, "accuracy")
    assert epoch_note({"best_epoch": 3, "epochs_done": 4}) == ""
    assert epoch_note({}) == ""


def test_top_loss_captions_name_prediction_actual_loss_probability(page):
    from workbench.gui.views.result_texts import caption
    p = page.preds
    import numpy as np
    cap, tip = caption(p, 0)
    assert "the model's own probabilities; Try it and predict show them calibrated" in tip
    pred, true = p.classes[int(np.argmax(p.probs[0]))], p.classes[int(p.targets[0])]
    assert cap.split("\n") == [f"{pred} / {true}", f"{p.losses[0]:.2f} / {p.probs[0].max():.2f}"]
    assert "prediction / actual, loss / probability" in page.losses.title.text()


def test_quarantining_validation_images_is_said_and_k_gives_feedback(page, qtbot):
    from workbench.data.sidecar import ChangeSet
    valid = page.preds.paths[0]
    assert page.apply_action("quarantine", [valid], "")
    assert "validation" in page.notice.text() and "not directly comparable" in page.notice.text()
    assert page.apply_action("keep", [valid], "")
    assert page.notice.text().startswith("Kept ")
    cs = ChangeSet.load(page.changes.root)
    assert cs.get(valid)["action"] == "keep"              # recorded (and undoable), the quarantine gone
    assert ".workbench" not in str(cs.location)          # per-user by default, not in the dataset


def test_runs_validated_on_different_images_are_marked_when_compared(qtbot, session, run_dir, tmp_path):
    import json
    from workbench.gui.views.run_compare import VALID_ROW
    from workbench.gui.views.runs_view import RunsView
    from workbench.run.runs import list_runs
    runs = tmp_path / "runs"
    a, b = runs / "a", runs / "b"
    shutil.copytree(run_dir, a)
    shutil.copytree(run_dir, b)
    m = json.loads((a / "metrics.json").read_text())
    assert m.get("valid_fingerprint") and m.get("n_valid")
    m["valid_fingerprint"], m["n_valid"] = "0123456789ab", m["n_valid"] - 1
    (b / "metrics.json").write_text(json.dumps(m))
    view = RunsView(session)
    qtbot.addWidget(view)
    view.set_runs(list_runs(runs))
    view.select_names(["a", "b"])
    rows = view.diff_rows()
    assert VALID_ROW in rows and len(set(rows[VALID_ROW].values())) == 2
    assert "not directly comparable" in view.diff_title.text()


def test_predictions_csv_dialog_starts_in_the_run_folder(qtbot, session, run_dir):
    from workbench.gui.views.export_view import ExportView
    v = ExportView(session)
    qtbot.addWidget(v)
    v.set_run(str(run_dir))
    assert v.default_csv() == str(run_dir / "predictions.csv")


def test_large_viewer_shows_the_full_photo_with_a_fine_map_and_an_opacity_slider(page, qtbot, run_dir, tmp_path):
    import numpy as np
    from PIL import Image
    from workbench.analysis.explain import compute_cam
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)).save(photo)
    r = compute_cam(str(run_dir), str(photo))
    assert r.photo.shape == (200, 300, 3)                      # the photo itself, not the 32 px crop
    side = 200 * 0.875
    assert r.box == tuple(int(round(v)) for v in ((300 - side) / 2, (200 - side) / 2, (300 + side) / 2, (200 + side) / 2))
    assert r.grid == (4, 4) and r.coarse        # 32 px input: the finest late stage is 4 x 4 (layer4: 1 x 1)
    v = page.viewer
    v.set_item(str(photo), "a photo")
    v.set_cam(r)
    assert v.has_cam() and "4 x 4 cells" in v.cam_note.text() and "coarse" in v.cam_note.text()
    v.opacity.setValue(0)
    plain = v._overlay.toImage()
    v.opacity.setValue(100)
    assert v._overlay.toImage() != plain and v._overlay.width() == 300
    v.close()


def test_sixteen_bit_thumbnails_are_decoded_like_training(tmp_path):
    import numpy as np
    from PIL import Image
    from workbench.gui.views.image_viewer import load_thumbnail
    from workbench.gui.widgets.thumbs import load_thumb
    a = (np.linspace(0, 40000, 64 * 64).reshape(64, 64)).astype(np.uint16)   # mostly mid-grey in 16 bits
    path = tmp_path / "deep.png"
    Image.fromarray(a).save(path)
    _, arr = load_thumbnail(str(path), 32)
    assert arr.mean() < 120                                  # convert("RGB") clipped it to near white
    q = load_thumb(str(path), 32)
    assert q.pixelColor(q.width() // 2, q.height() // 2).red() < 200


def test_the_tta_tab_computes_when_it_opens(page, session, qtbot):
    """TTA needed a separate Compute click after opening its tab; it now starts when the tab opens
    (once per run: a failed or finished TTA is not started again by switching tabs)."""
    assert page.tta.result is None and not session.busy
    with qtbot.waitSignal(session.tta_ready, timeout=60_000):
        page.tabs.setCurrentWidget(page.tta)
    qtbot.waitUntil(lambda: page.tta.result is not None and not session.busy, timeout=10_000)
    page.tabs.setCurrentIndex(0)
    page.tabs.setCurrentWidget(page.tta)
    assert not session.busy


def test_another_run_opens_on_its_summary_tab(page, session, qtbot, run_dir, tmp_path):
    page.tabs.setCurrentWidget(page.changes)          # the last run was left on its Changes tab
    other = tmp_path / "runs" / "run-c"
    shutil.copytree(run_dir, other)
    with qtbot.waitSignal(page.runLoaded, timeout=60_000):
        session.open_run(str(other))
    assert page.tabs.currentWidget() is page.summary


def test_runs_with_the_same_recipe_say_so_when_compared(qtbot, session, run_dir, tmp_path):
    from workbench.gui.views.runs_view import RunsView
    from workbench.run.runs import list_runs
    runs = tmp_path / "runs"
    for name in ("a", "b"):
        shutil.copytree(run_dir, runs / name)
    view = RunsView(session)
    qtbot.addWidget(view)
    view.set_runs(list_runs(runs))
    view.select_names(["a", "b"])
    assert view.diff_rows() == {}
    assert "none" in view.diff_title.text() and "same recipe" in view.diff_title.text()
