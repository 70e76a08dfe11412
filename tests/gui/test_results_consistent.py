"""Results page on a real (tiny) run: every tab on the run's own validation set, the TTA tab computes
when it shows, and the before / after only between a run and its retrain with changes."""
from __future__ import annotations

from pathlib import Path

from results_fixtures import page, run_dir  # noqa: F401


def test_tta_tab_computes_when_the_run_is_reopened_on_it(page, session, qtbot, run_dir):
    with qtbot.waitSignal(session.job_finished, timeout=60_000):
        page.tabs.setCurrentWidget(page.tta)          # opening the tab starts TTA
    qtbot.waitUntil(lambda: page.tta.result is not None, timeout=60_000)
    # the same run opened again (the sidebar) while the TTA tab is current: it computes again
    with qtbot.waitSignal(page.runLoaded, timeout=60_000):
        session.open_run(str(run_dir))
    assert page.tabs.currentWidget() is page.tta
    qtbot.waitUntil(lambda: page.tta.result is not None, timeout=60_000)
    assert page.tta.plain_label.text() != "–"


def test_every_tab_evaluates_the_run_as_trained_after_a_quarantine(page, session, qtbot, run_dir, tmp_path):
    """A validation image quarantined after the run: Summary, Calibration and TTA stay on the run's own
    validation set (the change applies to the next run), even when the predictions are computed anew."""
    import json
    import os
    import time
    from workbench.data.sidecar import ChangeSet
    from workbench.run.folder import RunFolder
    n = len(page.preds)
    cfg = RunFolder(run_dir).config
    os.utime(cfg, (time.time() - 120, time.time() - 120))   # the run started well before the change
    metrics = Path(run_dir) / "metrics.json"
    m = json.loads(metrics.read_text())
    m["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(time.time() - 120))
    metrics.write_text(json.dumps(m))
    wrong = [p for p, ok in zip(page.preds.paths, page.preds.correct) if not ok] or list(page.preds.paths)
    assert page.apply_action("quarantine", [wrong[0]], "")
    try:
        for f in Path(run_dir).glob("predictions*.npz"):   # the Summary computed after the change too
            f.unlink()
        with qtbot.waitSignal(page.runLoaded, timeout=60_000):
            page.run_dir = ""
            session.open_run(str(run_dir))
        assert len(page.preds) == n and wrong[0] in page.preds.paths
        qtbot.waitUntil(lambda: not session.busy, timeout=60_000)
        with qtbot.waitSignal(session.tta_ready, timeout=60_000):
            assert page.compute_tta()
        qtbot.waitUntil(lambda: page.tta.result is not None, timeout=60_000)
        assert len(page.tta.paths) == n
        acc = float(page.preds.correct.mean())
        assert page.tta.plain_label.text() == f"{acc:.1%}"
        assert f"{n} validation images" in page.tta.info.text()
    finally:
        cs = ChangeSet.load(page.changes.root)
        cs.undo()
        cs.save()


def test_tta_tab_opened_while_another_job_runs_computes_when_it_ends(page, session, qtbot):
    import threading
    from workbench.gui.jobs import JobKind
    qtbot.waitUntil(lambda: not session.busy, timeout=60_000)
    go = threading.Event()
    assert session._start(JobKind.SUGGEST, lambda sink, control: go.wait(30))   # holds the machine
    page.tabs.setCurrentWidget(page.tta)          # TTA is refused while it runs ...
    assert page.tta.result is None and not session.running(JobKind.TTA)
    go.set()                                      # ... and starts when it has ended
    qtbot.waitUntil(lambda: page.tta.result is not None, timeout=60_000)
