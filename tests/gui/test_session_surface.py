"""The views' one surface: typed jobs started through the Session, one RunState driving every button,
menu action and the status bar, no runner in any view, run deletion off the GUI thread, and the
export format of a failed export reaching the view through ExportFailed."""
from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

from workbench.gui.jobs import JobKind
from workbench.gui.run_state import Phase

GUI = Path(__file__).resolve().parents[2] / "workbench" / "gui"


def _window(qtbot):
    from workbench.gui.main_window import MainWindow
    win = MainWindow()
    win.confirm_close = lambda: True   # a failed test must not leave a question open
    qtbot.addWidget(win)
    return win


def test_run_state_transitions_drive_buttons_menus_and_status(qtbot, tmp_path):
    """start -> running -> paused -> running -> stopping -> idle: the Train page's buttons, the Run
    menu's actions, the other pages' start buttons and the status bar all follow the one RunState."""
    win = _window(qtbot)
    s, tv, rs = win.session, win.train_view, win.session.run_state
    s.set_option("data.path", str(tmp_path))
    win._update_state()
    started, paused_seen = threading.Event(), threading.Event()

    def long_job(sink, control):
        started.set()
        while not control.stop_requested:
            control.check(on_pause=paused_seen.set)
            threading.Event().wait(0.005)

    def buttons():
        return dict(start=tv.start_btn.isEnabled(), pause=tv.pause_btn.isEnabled(), stop=tv.stop_btn.isEnabled(),
                    act_train=win.act_train.isEnabled(), act_pause=win.act_pause.isEnabled(),
                    act_stop=win.act_stop.isEnabled(), act_lr=win.act_lr.isEnabled(),
                    lr_run=win.lr_view.run_btn.isEnabled(), open=win.data_view.open_btn.isEnabled())

    idle = dict(start=True, pause=False, stop=False, act_train=True, act_pause=False, act_stop=False,
                act_lr=True, lr_run=True, open=True)
    assert rs.phase is Phase.IDLE and buttons() == idle and win.state_label.text().startswith("ready")

    phases = []
    rs.changed.connect(lambda: phases.append(rs.phase))
    assert s._start(JobKind.TRAIN, long_job, pausable=True)
    started.wait(5)
    running = dict(start=False, pause=True, stop=True, act_train=False, act_pause=True, act_stop=True,
                   act_lr=False, lr_run=False, open=False)
    assert rs.phase is Phase.RUNNING and rs.kind is JobKind.TRAIN and tv.state == "running"
    assert buttons() == running and win.state_label.text().startswith("training")
    assert tv.pause_btn.text() == "Pause"

    win.act_pause.trigger()                                  # the menu action pauses ...
    assert rs.phase is Phase.PAUSED and tv.pause_btn.text() == "Continue"
    assert buttons() == running and win.state_label.text().startswith("training (paused)")
    qtbot.waitUntil(paused_seen.is_set, timeout=5000)
    tv.pause_btn.click()                                     # ... and the button resumes
    assert rs.phase is Phase.RUNNING and tv.pause_btn.text() == "Pause"

    with qtbot.waitSignal(s.job_finished, timeout=10_000) as done:
        win.act_stop.trigger()
        assert rs.phase is Phase.STOPPING and tv.state == "stopping"
        assert not tv.stop_btn.isEnabled() and not tv.pause_btn.isEnabled() and not tv.start_btn.isEnabled()
        assert win.act_stop.isEnabled()                      # the job has not ended yet
    assert done.args == [JobKind.TRAIN, "cancelled"]
    assert rs.phase is Phase.IDLE and rs.kind is None and buttons() == idle
    assert win.state_label.text().startswith("ready")
    assert phases == [Phase.RUNNING, Phase.PAUSED, Phase.RUNNING, Phase.STOPPING, Phase.IDLE]


def test_a_job_that_cannot_pause_leaves_pause_off(qtbot, session):
    gate = threading.Event()
    assert session._start(JobKind.TRAIN, lambda sink, control: gate.wait(10), pausable=False)  # as multi-GPU runs
    rs = session.run_state
    assert rs.busy and not rs.can_pause and rs.can_stop
    session.pause()
    assert rs.phase is Phase.RUNNING
    with qtbot.waitSignal(session.job_finished, timeout=10_000):
        gate.set()


def test_a_job_kind_typo_fails_loudly(session):
    with pytest.raises(AttributeError):
        JobKind.LR_FINDER  # noqa: B018
    with pytest.raises(TypeError, match="JobKind"):
        session._start("lr_find", lambda sink, control: None)     # a plain string is refused
    assert not session.busy
    # every kind has exactly one result signal on the session
    assert set(session.RESULT_SIGNALS) == set(JobKind)
    for name in session.RESULT_SIGNALS.values():
        assert hasattr(session, name)


def _names(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.alias):
            out.add(node.name.rsplit(".", 1)[-1])
    return out


def test_views_and_widgets_hold_no_runner():
    """Views reach jobs only through the Session: no JobRunner, no `runner` attribute or name."""
    offenders = {}
    for folder in ("views", "widgets"):
        for path in sorted((GUI / folder).glob("*.py")):
            names = {n for n in _names(ast.parse(path.read_text())) if "runner" in n.lower()}
            if names:
                offenders[path.name] = sorted(names)
    assert offenders == {}


def test_no_job_name_string_routes_in_the_gui():
    """Job kinds are compared as JobKind members, never as strings (``job == "train"``)."""
    kinds = {k.value for k in JobKind}
    job_words = {"job", "kind", "name", "job_name"}
    routes = []
    for path in sorted(GUI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            sides = [node.left, *node.comparators] if isinstance(node, ast.Compare) else []
            about_a_job = any((isinstance(c, ast.Name) and c.id in job_words)
                              or (isinstance(c, ast.Attribute) and c.attr in job_words) for c in sides)
            if about_a_job:
                consts = [c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                consts += [e.value for c in node.comparators if isinstance(c, (ast.Tuple, ast.List, ast.Set))
                           for e in c.elts if isinstance(e, ast.Constant)]
                if any(isinstance(v, str) and v in kinds for v in consts):
                    routes.append(f"{path.relative_to(GUI)}:{node.lineno}")
    assert routes == []


def test_a_job_in_a_thread_of_the_app_runs_at_lower_priority(qtbot, session, monkeypatch):
    """The Session's job wrapper lowers the job thread's priority before the core call (the core
    has no gui_attached flag); a job process is left as it is (it runs at idle priority already)."""
    import os
    import workbench.gui.session as session_mod
    seen = {}
    main_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def fake_lr_find(cfg, sink=None, control=None):
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return None
    monkeypatch.setattr(session_mod, "lr_find", fake_lr_find)
    session.jobs_in_child_process = False
    with qtbot.waitSignal(session.job_finished, timeout=10_000) as done:
        assert session.run_lr_find()
    assert done.args == [JobKind.LR_FIND, "completed"]
    assert seen["nice"] > main_nice


def test_runs_are_deleted_off_the_gui_thread_by_the_core_function(qtbot, session, tmp_path, monkeypatch):
    import workbench.gui.session_runs as session_mod   # where the Session's run folders are handled
    from workbench.run import runs
    run = tmp_path / "run-a"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    (run / "checkpoints").mkdir()
    threads = []

    def spy(run_dir):
        threads.append(threading.current_thread())
        return runs.delete_run(run_dir)
    monkeypatch.setattr(session_mod, "delete_run", spy)
    with qtbot.waitSignal(session.run_deleted, timeout=10_000) as done:
        session.delete_run(run)
    assert done.args == [str(run), ""] and not run.exists() and tmp_path.is_dir()
    assert threads and threads[0] is not threading.main_thread()
    # a folder that is not a run is refused by the core, with one sentence, and kept
    other = tmp_path / "photos"
    other.mkdir()
    with qtbot.waitSignal(session.run_deleted, timeout=10_000) as done:
        session.delete_run(other)
    assert other.is_dir() and "does not look like a run folder" in done.args[1]


def test_runs_view_deletes_through_the_session(qtbot, session, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    from workbench.config import RunConfig
    from workbench.gui.views.runs_view import RunsView
    from types import SimpleNamespace
    run = tmp_path / "run-a"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    info = SimpleNamespace(run_dir=str(run), name="run-a", config=RunConfig(), classes=(), history=[],
                           metrics={}, status="completed", created=1.7e9)
    calls = []
    monkeypatch.setattr(session, "delete_run", lambda d: calls.append(str(d)))
    v = RunsView(session)
    qtbot.addWidget(v)
    v.set_runs([info])
    v.select_names(["run-a"])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert v.delete_selected()
    assert calls == [str(run)] and run.is_dir()      # the view asks; the session deletes


def test_export_error_carries_its_format_to_the_view(qtbot, session, tmp_path, monkeypatch):
    """A failed format is named by the ExportFailed itself (not parsed out of the message)."""
    import workbench.gui.session as session_mod
    from workbench.inference.export import ExportFailed
    from workbench.gui.views.export_view import ExportView

    def failing_export(run_dir, formats, out_dir=None, sink=None, control=None):
        raise ExportFailed("the exported model does not match (max difference 1.0e-01)", "onnx")
    monkeypatch.setattr(session_mod, "export_run", failing_export)
    v = ExportView(session)
    qtbot.addWidget(v)
    v.set_run(str(tmp_path))
    with qtbot.waitSignal(session.job_failed, timeout=10_000) as failed:
        assert v.start_export()
    assert isinstance(failed.args[0].error, ExportFailed) and failed.args[0].job is JobKind.EXPORT
    qtbot.waitUntil(lambda: not session.busy, timeout=5000)
    assert v.parity_texts() == {"onnx": "FAILED"}
    assert "does not match" in v.status.text()


def test_the_session_reads_the_job_table():
    """JobKind, the result signals, the side jobs and the status-bar labels all come from workbench.runtime.jobs."""
    from workbench.gui.jobs import JobKind
    from workbench.gui.session import Session
    from workbench.runtime.jobs import JOBS
    assert [k.value for k in JobKind] == [j.kind for j in JOBS]
    for job in JOBS:
        kind = JobKind[job.name]
        assert kind.label == job.label and Session.RESULT_SIGNALS[kind] == job.signal
        assert hasattr(Session, job.signal)
        assert (kind in Session.SIDE_JOBS) == job.side
