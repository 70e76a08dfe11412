import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from synth import make_shapes_dataset  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True, scope="session")
def _isolated_dirs(tmp_path_factory):
    """Keep caches and per-user files of the program inside the test's temp folder."""
    base = tmp_path_factory.mktemp("wbhome")
    old = {k: os.environ.get(k) for k in ("WORKBENCH_CACHE_DIR", "WORKBENCH_HOME", "TORCH_HOME", "HF_HOME")}
    os.environ["WORKBENCH_CACHE_DIR"] = str(base / "cache")
    os.environ["WORKBENCH_HOME"] = str(base / "home")
    os.environ["TORCH_HOME"] = str(base / "torch")  # the weights store's caches: empty, never the user's
    os.environ["HF_HOME"] = str(base / "hf")
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory) -> Path:
    """train/ + valid/ split dataset: 3 classes x (24 train + 8 valid), 32 px PNGs. Read-only by convention."""
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="session")
def shapes_flat_dir(tmp_path_factory) -> Path:
    """root/<class>/*.png without split folders: 3 classes x 20 images."""
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes_flat"), n_train=15, n_valid=5, split_folders=False)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests use tiny tensors: one torch thread is faster than contended threads on a shared
    2-core machine (measured up to 15x), and the previous setting is put back afterwards."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
