"""What a run tells the user about its data: files dropped at the cache build, a changed
validation set on resume."""
from __future__ import annotations

import json
import os

import workbench.train.run as run_mod
from synth import make_shapes_dataset
from test_best_consistency import _cfg, tiny_model  # noqa: F401 - fixture
from workbench.data import open_dataset
from workbench.runtime.events import LogMessage
from workbench.train.run import resume, train


def _corrupt_keeping_size_and_mtime(path):
    st = os.stat(path)
    data = bytearray(path.read_bytes())
    data[8:] = bytes(len(data) - 8)  # PNG signature kept, every chunk gone
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size


def test_a_file_dropped_at_the_cache_build_is_reported(tmp_path, tiny_model):  # noqa: F811
    data = make_shapes_dataset(tmp_path / "data", n_train=4, n_valid=2, size=16)
    cfg = _cfg(data, tmp_path / "runs").set("train.epochs", 1)
    open_dataset(cfg.data, cfg.seed)  # the scan (cached) sees a good file ...
    bad = sorted((data / "train").rglob("*.png"))[0]
    _corrupt_keeping_size_and_mtime(bad)  # ... that then changes without a new size or time
    events = []
    res = train(cfg, sink=events.append, run_dir=tmp_path / "run")
    assert res.status == "completed"
    warnings = [e.text for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    assert any(str(bad) in w for w in warnings), warnings
    assert str(bad) in (tmp_path / "run" / "log.txt").read_text()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_skipped"] == 1


def test_resume_warns_when_the_validation_set_changed(tmp_path, tiny_model, monkeypatch):  # noqa: F811
    data = make_shapes_dataset(tmp_path / "data", n_train=4, n_valid=3, size=16)
    cfg = _cfg(data, tmp_path / "runs").set("train.epochs", 2)

    class StopAfterEpoch1(run_mod.Callback):
        def after_epoch(self, tr):
            tr.control.request_stop()

    monkeypatch.setattr(run_mod.distributed, "callbacks", lambda: [StopAfterEpoch1()])
    run = tmp_path / "run"
    assert train(cfg, run_dir=run).status == "cancelled"
    first = json.loads((run / "metrics.json").read_text())["valid_fingerprint"]
    monkeypatch.setattr(run_mod.distributed, "callbacks", lambda: [])
    for p in sorted((data / "valid").rglob("*.png"))[:2]:
        p.unlink()
    events = []
    assert resume(run, sink=events.append).status == "completed"
    assert any("validation set changed" in e.text for e in events if isinstance(e, LogMessage))
    m = json.loads((run / "metrics.json").read_text())
    assert m["valid_fingerprint"] != first and m["valid_changed_at_epoch"] == 1
    assert "validation set changed" in (run / "log.txt").read_text()
