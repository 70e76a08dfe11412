"""The app's working recipe, kept per dataset like a project: autosaved (atomically) to the per-user
project folder of the dataset on every change, and to ``data_home()/working-recipe.toml`` as the
one to restore on the next start. Qt-free; the app's session calls it."""
from __future__ import annotations

import os
from pathlib import Path

from ..config import ConfigError, RunConfig
from ..runtime.paths import data_home, project_dir

LAST = "working-recipe.toml"


def working_path(dataset_root: str | os.PathLike) -> Path:
    return project_dir(dataset_root) / "recipe.toml"


def last_path() -> Path:
    return data_home() / LAST


def save_working(cfg: RunConfig) -> None:
    """Keep ``cfg`` as the working recipe of its dataset and as the last one; OSError if it cannot."""
    if cfg.data.path:
        cfg.save(working_path(cfg.data.path))
    cfg.save(last_path())


def load_working(dataset_root: str | os.PathLike | None = None) -> RunConfig | None:
    """The working recipe of a dataset (or the last one); None when there is none or it is unreadable
    (an unreadable file must not keep the app from starting)."""
    path = working_path(dataset_root) if dataset_root else last_path()
    if not path.is_file():
        return None
    try:
        return RunConfig.load(path)
    except (ConfigError, OSError, ValueError):
        return None


# the keys that say where a dataset's images and labels are: a recipe file applied to the open dataset
# keeps the open dataset's (the file's other keys are the recipe)
DATA_LOCATION_KEYS = ("data.path", "data.labels_csv", "data.changes_beside_data")


def same_dataset(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two dataset paths name the same folder (either empty: not the same; a path that cannot
    be resolved is compared as written)."""
    if not a or not b:
        return False
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return str(a) == str(b)


def for_dataset(cfg: RunConfig, dataset: RunConfig) -> RunConfig:
    """``cfg`` (a recipe file's) applied to the dataset of ``dataset`` (the open dataset's recipe): its
    data-location keys (``DATA_LOCATION_KEYS``) become the open dataset's, every other key stays."""
    for key in DATA_LOCATION_KEYS:
        cfg = cfg.set(key, dataset.get(key))
    return cfg
