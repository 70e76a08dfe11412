"""The Results page after a start with runs on disk: it names the latest finished run of the open dataset
with a button that opens it, instead of "No run loaded"; with no finished run of that dataset it says how
to get one."""
from __future__ import annotations

import json
import os

from run_folders import make_run


def _page(qtbot, session, runs, data):
    from workbench.gui.views.results_page import ResultsPage
    session.set_config(session.config.set("runs_dir", str(runs)).set("data.path", str(data)))
    page = ResultsPage(session)
    qtbot.addWidget(page)
    return page


def test_results_offers_the_latest_finished_run_of_the_open_dataset(qtbot, session, tmp_path):
    data, elsewhere, runs = tmp_path / "ants", tmp_path / "birds", tmp_path / "runs"
    data.mkdir()
    old = make_run(runs, "ants-old", 0.71, str(data))
    new = make_run(runs, "ants-new", 0.83, str(data))
    stopped = make_run(runs, "ants-stopped", 0.5, str(data))
    (stopped / "metrics.json").write_text(json.dumps({"status": "cancelled", "valid_accuracy": 0.5}))
    make_run(runs, "birds-1", 0.9, str(elsewhere))
    for n, run in enumerate((old, new, stopped)):          # config.toml times: old, new, then the stopped one
        os.utime(run / "config.toml", (1_700_000_000 + n, 1_700_000_000 + n))
    page = _page(qtbot, session, runs, data)
    session.refresh_runs()
    qtbot.waitUntil(lambda: "ants-new" in page.latest.label.text(), timeout=10_000)
    assert not page.latest.isHidden() and not page.latest.open_btn.isHidden()
    assert "83.0%" in page.latest.label.text() and "No run is open" in page.latest.label.text()
    with qtbot.waitSignal(session.run_opened, timeout=3000) as opened:
        page.latest.open_btn.click()
    assert opened.args == [str(new)] and page.latest.isHidden()


def test_results_says_how_to_get_a_run_when_the_dataset_has_none(qtbot, session, tmp_path):
    data, runs = tmp_path / "wasps", tmp_path / "runs"
    data.mkdir()
    make_run(runs, "other-1", 0.9, str(tmp_path / "other"))
    page = _page(qtbot, session, runs, data)
    session.refresh_runs()
    qtbot.waitUntil(lambda: "wasps" in page.latest.label.text(), timeout=10_000)
    text = page.latest.label.text()
    assert "no run of <b>wasps</b> has finished yet" in text and "Train page" in text and "Runs page" in text
    assert page.latest.open_btn.isHidden() and page.open_btn.text().startswith("Open run folder")
