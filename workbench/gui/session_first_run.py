"""The Session's first-run fine-tune (a mixin of ``gui.session.Session``): a new dataset of photos gets
the fine-tune of the ImageNet weights on disk (``workbench.recipe.first_run``, worked out off the GUI
thread), *Train from scratch* switches it off and on, and *Defaults* gives the recipe a new dataset gets.
Needs the Session's ``config``, ``stats``, ``dataset``, ``set_config``, ``first_run_changed`` and the
``_first_run*`` / ``first_run_*`` attributes its ``__init__`` sets."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..config import RunConfig, iter_fields
from ..recipe.first_run import FirstRun, first_run
from ..recipe.working import for_dataset
from ..runtime.paths import data_home
from .jobs import submit


def default_config() -> RunConfig:
    """The app's starting recipe: library defaults, runs kept in the per-user data folder."""
    return RunConfig().set("runs_dir", str(data_home() / "runs"))


class FirstRunMixin:
    def _offer_first_run(self) -> None:
        """After the scan of a new dataset: when it holds photos, the recipe names no model and ImageNet
        weights are on disk, the recipe becomes their fine-tune (workbench.recipe.first_run), said in
        ``first_run_line``; ``set_from_scratch`` is the switch back."""
        if not self._first_run_pending or self.stats is None:
            return
        self._first_run_pending = False
        cfg = self.config
        submit(self._first_run_of(cfg), lambda fr: self._apply_first_run(cfg, fr))

    def _first_run_of(self, cfg: RunConfig) -> Callable[[], FirstRun]:
        """The first-run fine-tune of ``cfg`` on the open dataset (scanned), to run off the GUI thread."""
        w, h = self.stats.widths, self.stats.heights
        side = float(np.median(np.minimum(w, h))) if len(w) else 0.0
        n_train = len(self.dataset.train) if self.dataset is not None else 0
        return lambda: first_run(cfg, side, switch="tick Train from scratch (Data page) to train resnet18 "
                                                   "from random weights instead", n_train=n_train)

    def restore_defaults(self, done: Callable[[RunConfig, str], None]) -> None:
        """Defaults: the recipe a new dataset gets (the dataset's location kept): on a dataset of
        photos with ImageNet weights on disk the first-run fine-tune, with its first-run line, else
        the from-scratch defaults. ``done(cfg, first-run line)`` makes it the recipe (one change, on the GUI thread);
        nothing happens when the recipe changes before the fine-tune is known."""
        cfg = for_dataset(default_config(), self.config)
        if self.stats is None or self.dataset is None:
            self._apply_defaults(self.config, cfg, None, done)
            return
        before = self.config
        submit(self._first_run_of(cfg), lambda fr: self._apply_defaults(before, cfg, fr, done))

    def _apply_defaults(self, before: RunConfig, cfg: RunConfig, fr, done: Callable[[RunConfig, str], None]) -> None:
        if self.config != before:
            return   # edited, another dataset, or another Defaults meanwhile
        applied = isinstance(fr, FirstRun) and fr.applied
        self.first_run_by_defaults = True
        what = fr.line.removeprefix("first run: ") if applied else ""   # not "first run" on a dataset with runs
        done(fr.config if applied else cfg, what)
        self._first_run = (cfg, fr.config) if applied else None
        self._set_first_run_line(f"Defaults: {what}" if what else "")

    def _apply_first_run(self, before: RunConfig, fr) -> None:
        if not isinstance(fr, FirstRun) or not fr.applied or self.config != before:
            return  # nothing to offer, or the recipe changed meanwhile (another dataset, an edit)
        self._first_run = (before, fr.config)
        self.first_run_by_defaults = False
        self.set_config(fr.config)
        self._set_first_run_line(fr.line)

    def _set_first_run_line(self, line: str) -> None:
        if line != self.first_run_line:
            self.first_run_line = line
            self.first_run_changed.emit(line)

    @property
    def from_scratch(self) -> bool:
        """Whether the first-run fine-tune was switched off (the recipe trains from scratch)."""
        return self._first_run is not None and self.config.model.pretrained == self._first_run[0].model.pretrained

    def set_from_scratch(self, on: bool) -> None:
        """Switch the first-run fine-tune off (the keys it set go back to the recipe's own values) or
        on again; other edits stay."""
        if self._first_run is None:
            return
        before, after = self._first_run
        src = before if on else after
        # the batch size it chose is the dataset's (enough steps per epoch), not the model's: it stays
        changed = [k for k, _, v in iter_fields(before) if v != after.get(k) and k != "data.batch_size"]
        cfg = self.config
        for key in changed:
            cfg = cfg.set(key, src.get(key))
        self.set_config(cfg)
