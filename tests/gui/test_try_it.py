"""The Try it page on a tiny trained run: dropped files and folders predicted in a job, sorted by
confidence, split by the unsure slider, the same (calibrated) probabilities as `workbench predict`,
and "send to labelling" writing the sidecar / to-label list without moving a file."""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from gui_helpers import open_run_pages
from synth import make_shapes_dataset
from trained_run import trained_run
from workbench.cli import main as cli_main

TEMPERATURE = 3.0


@pytest.fixture(scope="module")
def run_copy(tmp_path_factory) -> Path:
    """A copy of the shared run with its own copy of the dataset and a stored temperature of 3."""
    from workbench.config import RunConfig
    src = Path(trained_run(tmp_path_factory))
    base = tmp_path_factory.mktemp("try_it")
    data = base / "shapes"
    shutil.copytree(src.parent.parent / "shapes", data)
    run = base / "runs" / "try-run"
    shutil.copytree(src, run, ignore=shutil.ignore_patterns(".lock", "calibration.json"))
    cfg = RunConfig.load(run / "config.toml").set("data.path", str(data))
    cfg.save(run / "config.toml")
    (run / "calibration.json").write_text(json.dumps({"temperature": TEMPERATURE}))
    return run


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """Images outside the dataset: a folder with a broken file and a linked folder (not followed)."""
    root = tmp_path_factory.mktemp("outside")
    make_shapes_dataset(root / "new", n_train=3, n_valid=0, seed=7, split_folders=False)
    (root / "new" / "broken.png").write_bytes(b"not an image")
    (root / "new" / "notes.jpg").write_text("a text file named .jpg")
    linked = make_shapes_dataset(root / "elsewhere", n_train=2, n_valid=0, seed=9, split_folders=False)
    os.symlink(linked, root / "new" / "link", target_is_directory=True)
    return root


def _files(*roots: Path) -> dict[str, tuple]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for r in roots for p in sorted(r.rglob("*"))
            if p.is_file()}


def _drop(view, paths: list[str]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    view.dragEnterEvent(enter)
    assert enter.isAccepted()
    view.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                              Qt.KeyboardModifier.NoModifier))


def _cli(run: Path, src: Path, out: Path, min_conf: float = 0.0) -> dict[str, tuple[str, float]]:
    assert cli_main(["predict", str(run), str(src), "--out", str(out), "--min-confidence", str(min_conf)]) == 0
    with out.open(newline="") as fh:
        return {r["path"]: (r["label"], float(r["probability"])) for r in csv.DictReader(fh)}


def test_try_it_predicts_sorts_splits_and_matches_cli(session, qtbot, run_copy, outside, tmp_path):
    from workbench.inference.predict import load_exported
    view = open_run_pages(session, qtbot, run_copy)["Try it"]
    data = run_copy.parent.parent / "shapes"
    inside = data / "valid" / "circle" / "valid_circle_000.png"
    with qtbot.waitSignal(session.tried, timeout=60_000):
        _drop(view, [str(outside / "new"), str(inside)])
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    res = view.result
    assert res.temperature == TEMPERATURE
    paths = set(view.rows)
    assert paths == {str(p) for p in (outside / "new").glob("*/*.png")} | {str(inside)}  # no linked folder
    assert sorted(view.errors) == [str(outside / "new" / n) for n in ("broken.png", "notes.jpg")]
    assert "broken.png" in view.status.text() and "notes.jpg" in view.status.text()   # each one named
    # sorted by confidence, every image in exactly one group
    shown = [it.path for it in view.sure_model.items] + [it.path for it in view.unsure_model.items]
    probs = [view.rows[p].probability for p in shown]
    assert sorted(shown) == sorted(paths) and probs == sorted(probs, reverse=True)
    first = view.rows[shown[0]]
    top = (view.sure_model.items or view.unsure_model.items)[0]
    assert top.path == first.path and top.caption == f"{first.label}\n{first.probability:.1%}"
    # the probabilities of `workbench predict` (calibrated: temperature 3), for the folder and the file
    cli = _cli(run_copy, outside / "new", tmp_path / "a.csv") | _cli(run_copy, inside, tmp_path / "b.csv")
    for p, row in view.rows.items():
        assert cli[p][0] == row.label and abs(cli[p][1] - row.probability) < 6e-5, p
    raw = load_exported(run_copy)
    raw.temperature = 1.0
    assert abs(raw.predict([str(inside)]).max() - view.rows[str(inside)].probability) > 1e-3
    # the threshold moves images to Unsure: the same split as `predict --min-confidence`
    cut = sorted(probs)[len(probs) // 2]
    view.slider.setValue(int(cut * 100) + 1)
    unsure = {it.path for it in view.unsure_model.items}
    assert shown[-1] in unsure and unsure == {p for p in paths if view.rows[p].probability < view.threshold}
    cli_unsure = {p for p, (label, _) in _cli(run_copy, outside / "new", tmp_path / "c.csv", view.threshold).items()
                  if label == "unsure" and p in paths}  # the CLI follows the linked folder
    assert cli_unsure == {p for p in unsure if p != str(inside)}
    assert all(view.rows[p].probability >= view.threshold for p in (it.path for it in view.sure_model.items))
    view.slider.setValue(0)
    assert not view.unsure_model.items and len(view.sure_model.items) == len(paths)


def test_send_unsure_writes_sidecar_and_list_never_moves_files(session, qtbot, run_copy, outside):
    from workbench.data.sidecar import ChangeSet
    from workbench.inference.to_label import list_path, read_list
    view = open_run_pages(session, qtbot, run_copy)["Try it"]
    data = run_copy.parent.parent / "shapes"
    inside = data / "train" / "square" / "train_square_001.png"
    before = _files(data, outside)
    with qtbot.waitSignal(session.tried, timeout=60_000):
        assert view.add_paths([str(inside), str(outside / "new" / "square")])
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    view.slider.setValue(99)  # everything is unsure at temperature 3 with three classes
    assert len(view.unsure_model.items) == len(view.rows) == 4   # 1 of the dataset + 3 from outside
    assert view.send_btn.isEnabled()
    assert view.send_unsure()
    change = ChangeSet.load(data).get(inside)
    assert change["action"] == "to_label" and change["predicted"] == view.rows[str(inside)].label
    listed = read_list(data)
    new_imgs = sorted(str(p.resolve()) for p in (outside / "new" / "square").glob("*.png"))
    assert sorted(r["path"] for r in listed) == new_imgs and data not in list_path(data).parents
    assert not (data / ".workbench").exists()   # the dataset folder is never written by default
    assert _files(data, outside) == before       # no image moved, copied or changed
    assert all(it.caption and view.unsure_model.marks.get(it.path) == "to label" for it in view.unsure_model.items)
    assert not view.send_btn.isEnabled()          # sent ones are not sent twice
    from PySide6.QtCore import QUrl                # the per-user list is one click away
    assert f"href='{QUrl.fromLocalFile(str(list_path(data).parent)).toString()}'" in view.status.text()
    assert view.status.openExternalLinks()
    # the scan keeps a to-label image in training with its folder's class
    from workbench.config import RunConfig
    from workbench.data import open_dataset
    ds = open_dataset(RunConfig().set("data.path", str(data)).data)
    assert any(it.path == str(inside) and ds.classes[it.label] == "square" for it in ds.items)
    # Undo send (Ctrl+Z on the page) takes that send back, not an older change of the list
    cs = ChangeSet.load(data)
    cs.quarantine(sorted((data / "train" / "circle").glob("*.png"))[0])   # a change made after the send
    cs.save()
    older = [e for e in ChangeSet.load(data).entries if e["action"] == "quarantine"]
    assert len(older) == 1
    assert view.undo_send_btn.isVisible() or not view.isVisible()
    assert view.undo_send()
    assert ChangeSet.load(data).get(inside) is None and read_list(data) == []
    assert [e for e in ChangeSet.load(data).entries if e["action"] == "quarantine"] == older
    assert view.status.text().startswith("Undone: the send of") and view.send_btn.isEnabled()
    assert not view.undo_send()                   # one send, one undo
    assert view.status.text() == "Nothing to undo: no send made on this page is left to take back."


def test_two_sends_are_taken_back_one_at_a_time_newest_first(session, qtbot, run_copy, outside):
    from workbench.data.sidecar import ChangeSet
    from workbench.inference.to_label import read_list
    view = open_run_pages(session, qtbot, run_copy)["Try it"]
    data = run_copy.parent.parent / "shapes"
    inside = data / "train" / "square" / "train_square_001.png"
    view.slider.setValue(99)                      # everything is unsure at temperature 3 with three classes
    with qtbot.waitSignal(session.tried, timeout=60_000):
        assert view.add_paths([str(inside)])
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    assert view.send_unsure()                     # the first send: the dataset's image
    with qtbot.waitSignal(session.tried, timeout=60_000):
        assert view.add_paths([str(outside / "new" / "square")])
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    assert view.send_unsure()                     # the second: the three outside images
    assert len(read_list(data)) == 3 and ChangeSet.load(data).get(inside)["action"] == "to_label"
    assert view.undo_send()                       # the second send goes first ...
    assert read_list(data) == [] and ChangeSet.load(data).get(inside)["action"] == "to_label"
    assert "1 earlier send(s) can be taken back too" in view.status.text() and not view.undo_send_btn.isHidden()
    assert view.unsure_model.marks.get(str(inside)) == "to label"
    assert view.undo_send()                       # ... then the first
    assert ChangeSet.load(data).get(inside) is None and view.undo_send_btn.isHidden()
    assert not view.undo_send()
    # images sent before (by another page, or in a past session) carry their mark when they are tried again
    assert view.send_unsure() and len(read_list(data)) == 3
    view.clear()
    with qtbot.waitSignal(session.tried, timeout=60_000):
        assert view.add_paths([str(inside), str(outside / "new" / "square")])
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    assert all(view.sent.get(p) == "to label" for p in view.rows) and len(view.rows) == 4
    assert not view.send_btn.isEnabled() and not view.undo_send()
    assert "4 image(s) here were sent to labelling before" in view.status.text()


def test_try_it_cancel(session, qtbot, run_copy, outside):
    view = open_run_pages(session, qtbot, run_copy)["Try it"]
    assert view.progress.isHidden() and view.cancel_btn.isHidden()     # no empty bar while nothing runs
    with qtbot.waitSignal(session.job_finished, timeout=60_000) as sig:
        assert view.add_paths([str(outside / "new")])
        assert view.cancel_btn.isEnabled() and not view.progress.isHidden() and not view.cancel_btn.isHidden()
        view.cancel_btn.click()
    assert sig.args[1] == "cancelled" and view.status.text() == "Cancelled." and not view.rows
    assert view.progress.isHidden() and view.cancel_btn.isHidden()


def test_a_one_colour_picture_is_unsure_whatever_the_model_says(session, qtbot, run_copy, tmp_path):
    from PIL import Image
    from workbench.gui.views.try_view import BLANK
    red = tmp_path / "red.png"
    Image.new("RGB", (120, 90), (220, 30, 30)).save(red)
    shape = run_copy.parent.parent / "shapes" / "valid" / "circle" / "valid_circle_000.png"
    view = open_run_pages(session, qtbot, run_copy)["Try it"]
    with qtbot.waitSignal(session.tried, timeout=60_000):
        _drop(view, [str(red), str(shape)])
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    assert view.rows[str(red)].blank and not view.rows[str(shape)].blank
    view.slider.setValue(0)                                   # nothing is below 0 %, yet the blank one is Unsure
    assert [it.path for it in view.unsure_model.items] == [str(red)]
    assert [it.path for it in view.sure_model.items] == [str(shape)]
    assert view.unsure_model.items[0].caption.endswith(BLANK) and "one-colour" in view.unsure_title.text()


def test_a_send_is_one_action_keeps_a_keep_and_follows_an_undo_made_elsewhere(session, qtbot, run_copy):
    from workbench.data.sidecar import ChangeSet
    view = open_run_pages(session, qtbot, run_copy)["Try it"]
    data = run_copy.parent.parent / "shapes"
    a, b, kept = (data / "train" / "circle" / f"train_circle_00{i}.png" for i in (1, 2, 3))
    cs = ChangeSet.load(data)
    cs.keep(kept)                                            # a decision made on Results
    cs.save()
    with qtbot.waitSignal(session.tried, timeout=60_000):
        assert view.add_paths([str(a), str(b), str(kept)])
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    view.slider.setValue(99)
    assert view.unsure_model.marks.get(str(kept)) == "✓ kept"   # a decision made already shows, as on Results
    assert view.send_unsure()
    cs = ChangeSet.load(data)
    assert cs.get(kept)["action"] == "keep"                  # the keep stays: the image is not sent
    marks = {it.path: view.unsure_model.marks.get(it.path) for it in view.unsure_model.items}
    assert marks[str(kept)] == "✓ kept" and marks[str(a)] == marks[str(b)] == "to label"
    assert [cs.get(p)["action"] for p in (a, b)] == ["to_label", "to_label"]
    undone = cs.undo()                                       # one undo on Results takes the whole send back
    cs.save()
    assert sorted(u["path"] for u in undone) == sorted(str(p) for p in (a, b))
    session.changes_written(str(data))                       # ... as Results says it wrote the list
    assert str(a) not in view.sent and str(b) not in view.sent and view.undo_send_btn.isHidden()
    assert "marks here follow the change list" in view.status.text() and view.sent[str(kept)] == "✓ kept"
