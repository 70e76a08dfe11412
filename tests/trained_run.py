"""A tiny trained run shared by the tests (trained once per test session, then reused).

Usage in a test module::

    from trained_run import trained_run

    @pytest.fixture(scope="session")
    def run_dir(tmp_path_factory):
        return trained_run(tmp_path_factory)
"""
from __future__ import annotations

from pathlib import Path

from synth import make_shapes_dataset

_CACHE: dict[str, Path] = {}

OVERRIDES = ["data.image_size=32", "data.batch_size=16", "train.epochs=2", "train.lr=3e-3",
             "model.arch=resnet18", "train.precision=fp32", "train.device=cpu", "train.threads=1", "tta.n=2", "name=tiny-run"]


def trained_run(tmp_path_factory) -> Path:
    """Run folder of resnet18 trained 2 epochs at 32 px on a synthetic shapes dataset (3 classes,
    24 train + 8 valid images each). Its dataset lives next to it (``<run>/../../shapes``)."""
    run = _CACHE.get("run")
    if run is not None and (run / "checkpoints" / "best.pt").is_file():
        return run
    from workbench.config import RunConfig
    from workbench.train.run import train
    base = tmp_path_factory.mktemp("trained_run")
    data = make_shapes_dataset(base / "shapes")
    cfg = RunConfig().with_overrides(OVERRIDES + [f"runs_dir={base / 'runs'}"]).set("data.path", str(data))
    import torch
    threads = torch.get_num_threads()
    try:
        res = train(cfg)  # one thread: tiny tensors, and immune to a busy shared CPU
    finally:
        torch.set_num_threads(threads)
    if res.status != "completed":
        raise RuntimeError(f"training the shared test run failed ({res.status}): {res.message}")
    _CACHE["run"] = Path(res.run_dir)
    return _CACHE["run"]
