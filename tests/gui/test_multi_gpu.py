"""The app offers a local multi-GPU (torchrun / DDP) run only when the machine has more than one GPU."""
from __future__ import annotations

import threading

from workbench.runtime.events import EpochEnd, FitFinished, FitStarted


def _window(qtbot, monkeypatch, gpus: int):
    import workbench.train.torchrun_job as tj
    monkeypatch.setattr(tj, "gpu_count", lambda: gpus)
    from workbench.gui.main_window import MainWindow
    win = MainWindow()
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.device_label.text() != "device: ...", timeout=10000)  # detected off the GUI thread
    return win


def test_multi_gpu_action_needs_two_gpus(qtbot, monkeypatch, shapes_dir):
    win = _window(qtbot, monkeypatch, 1)
    win.session.set_option("data.path", str(shapes_dir))
    win._update_state()
    assert not win.act_multi.isEnabled() and "more than one GPU" in win.act_multi.toolTip()


def test_multi_gpu_run_goes_through_torchrun_and_cannot_pause(qtbot, monkeypatch, shapes_dir, tmp_path):
    import workbench.train.torchrun_job as tj
    win = _window(qtbot, monkeypatch, 2)
    win.session.set_option("data.path", str(shapes_dir))
    win.session.set_option("runs_dir", str(tmp_path / "runs"))
    win._update_state()
    assert win.act_multi.isEnabled() and "2 GPUs" in win.act_multi.toolTip()

    calls, release = [], threading.Event()

    def fake_run_torchrun(recipe, dataset, nproc, sink=None, control=None):
        """Stands in for the torchrun subprocess: same arguments, same events."""
        from workbench.config import RunConfig
        calls.append((RunConfig.load(recipe).data.path, dataset, nproc))
        sink(FitStarted("r", 1, 0, 2, 72, 24, ("a", "b", "c"), "2 x cuda", "bf16", 64))
        sink(EpochEnd(0, 1.0, 0.9, {"accuracy": 0.5}, 1e-3, 1.0, 100.0, True))
        release.wait(10)
        sink(FitFinished("completed", "training completed"))
        return None
    monkeypatch.setattr("workbench.gui.session.run_torchrun", fake_run_torchrun)

    with qtbot.waitSignal(win.session.job_started, timeout=5000):
        win.act_multi.trigger()
    qtbot.waitUntil(lambda: win.train_view.state == "running", timeout=5000)
    assert not win.train_view.pause_btn.isEnabled() and not win.act_pause.isEnabled()
    assert "cannot pause" in win.train_view.pause_btn.toolTip()
    assert win.train_view.stop_btn.isEnabled()
    with qtbot.waitSignal(win.session.job_finished, timeout=10000):
        release.set()
    assert calls == [(str(shapes_dir), str(shapes_dir), 2)]
    assert win.train_view.state == "idle"
    assert win.session.run_state.kind is None and not win.act_pause.isEnabled()
