"""Jobs in a child process: events in order, result, errors with the child's traceback, stop and pause
across the process boundary, a child that dies."""
from __future__ import annotations

import os
import threading

import pytest

from workbench.runtime.control import Cancelled, RunControl
from workbench.runtime.events import LogMessage
from workbench.runtime.procjob import ChildJobError, run_in_child_process


def _count(sink, control, n: int = 5):
    for i in range(n):
        sink(LogMessage(f"step {i}"))
    return {"pid": os.getpid(), "n": n}


def _fail(sink, control):
    sink(LogMessage("about to fail"))
    raise ValueError("bad input in the child")


def _until_stopped(sink, control):
    sink(LogMessage("waiting"))
    while True:
        control.check(on_pause=lambda: sink(LogMessage("paused")), on_resume=lambda: sink(LogMessage("resumed")))
        threading.Event().wait(0.01)


def _die(sink, control):
    sink(LogMessage("dying"))
    os._exit(3)


def test_events_arrive_in_order_and_the_result_comes_back():
    seen = []
    result = run_in_child_process(_count, seen.append, RunControl.for_process())
    assert [e.text for e in seen] == [f"step {i}" for i in range(5)]
    assert result["n"] == 5 and result["pid"] != os.getpid()


def test_an_exception_in_the_child_carries_its_message_and_traceback():
    seen = []
    with pytest.raises(ChildJobError) as info:
        run_in_child_process(_fail, seen.append, RunControl.for_process())
    assert info.value.summary == "ValueError: bad input in the child"
    assert "_fail" in info.value.details and "Traceback" in info.value.details
    assert [e.text for e in seen] == ["about to fail"]


def test_pause_resume_and_stop_reach_the_child():
    control, seen = RunControl.for_process(), []
    got = {"waiting": threading.Event(), "paused": threading.Event(), "resumed": threading.Event()}

    def sink(ev):
        seen.append(ev.text)
        got[ev.text].set()

    def drive():
        assert got["waiting"].wait(60)
        control.pause()
        assert got["paused"].wait(60)
        control.resume()
        assert got["resumed"].wait(60)
        control.request_stop()

    driver = threading.Thread(target=drive)
    driver.start()
    with pytest.raises(Cancelled):
        run_in_child_process(_until_stopped, sink, control)
    driver.join()
    assert seen == ["waiting", "paused", "resumed"]


def test_a_child_that_dies_is_reported_not_waited_for():
    with pytest.raises(ChildJobError, match="ended unexpectedly .exit code 3"):
        run_in_child_process(_die, None, RunControl.for_process())


def test_needs_a_process_shared_control():
    with pytest.raises(ValueError, match="for_process"):
        run_in_child_process(_count, None, RunControl())


def _policies(sink, control):
    seen = {"main": (os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0))}

    def worker():
        seen["thread"] = (os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0))
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    return seen


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policy")
def test_job_runs_at_nice_10_by_default_idle_on_request(monkeypatch):
    own = os.getpriority(os.PRIO_PROCESS, 0)
    nice = (os.SCHED_OTHER, min(19, own + 10))
    got = run_in_child_process(_policies, None, RunControl.for_process())
    assert got == {"main": nice, "thread": nice}      # the threads the job starts inherit it
    monkeypatch.setenv("WORKBENCH_JOB_PRIORITY", "idle")
    got = run_in_child_process(_policies, None, RunControl.for_process())
    assert got["main"][0] == os.SCHED_IDLE and got["thread"][0] == os.SCHED_IDLE
    monkeypatch.setenv("WORKBENCH_JOB_PRIORITY", "normal")
    assert run_in_child_process(_policies, None, RunControl.for_process())["main"] == (os.sched_getscheduler(0), own)
    assert run_in_child_process(_policies, None, RunControl.for_process(), background=False)["main"][1] == own


def _burn(seconds: float) -> None:
    import time
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        pass


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs /proc")
def test_cpu_share_says_how_much_of_the_wanted_cpu_a_process_got():
    import multiprocessing
    from workbench.runtime.procjob import CpuShare
    me = CpuShare(os.getpid())
    assert me.sample() is None                      # needs two samples
    _burn(0.3)
    got = me.sample()
    assert got is not None and 0.0 < got <= 1.0
    # two busy processes pinned to one core: each gets about half of what it wants
    if not hasattr(os, "sched_setaffinity"):
        return
    cpu = sorted(os.sched_getaffinity(0))[0]
    rival = multiprocessing.get_context("spawn").Process(target=_burn, args=(3.0,))
    rival.start()
    old = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(rival.pid, {cpu})
        os.sched_setaffinity(0, {cpu})
        _burn(0.2)
        me.sample()
        _burn(1.0)
        shared = me.sample()
    finally:
        os.sched_setaffinity(0, old)
        rival.terminate()
        rival.join()
    assert shared is not None and shared < 0.8


def _imported(sink, control):
    import sys
    return "workbench.runtime.events" in sys.modules and "json" in sys.modules


def test_a_spare_process_starts_warm_and_runs_one_job():
    from workbench.runtime.procjob import JobProcess
    spare = JobProcess(warm_modules=("json", "workbench.runtime.events"))
    assert spare.ready(timeout=60) and spare.alive
    assert spare.run(_imported, None, spare.control) is True
    assert not spare.alive
    with pytest.raises(RuntimeError, match="one job"):
        spare.run(_imported, None)
    idle = JobProcess()
    assert idle.ready(timeout=60)
    idle.close()  # a discarded spare just ends
    assert not idle.alive
    other = JobProcess()
    with pytest.raises(ValueError, match="own control"):
        other.run(_imported, None, RunControl.for_process())
    other.close()


def _bad_input(sink, control):
    from workbench.models.weights import WeightsError
    raise WeightsError("weights file w.pth does not match resnet18")
