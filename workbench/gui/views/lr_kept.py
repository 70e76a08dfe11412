"""The LR finder page follows the open dataset: another dataset clears the previous one's curve and
suggestions (a pick from them would set a rate measured on other images), and the range test kept for
the dataset (its last one, ``lr_find.keep_result``) comes back, also after a restart. A kept test is
shown, never applied by itself, with its date, and says which recipe options changed since it ran."""
from __future__ import annotations

import functools
import time

from ...config import ConfigError, field_meta
from ..jobs import JobKind
from ..session_helpers import changed_since, same_dataset
from .lr_find_view import IDLE_TEXT


def option_words(keys: list[str]) -> str:
    def label(key: str) -> str:
        try:
            return field_meta(key).get("label") or key
        except ConfigError:
            return key
    return ", ".join(label(k) for k in keys)


class KeptRangeTest:
    """Attached to an LRFindView; holds only the folder of the dataset whose test the page shows."""

    def __init__(self, session, view) -> None:
        self.session, self.view = session, view
        self.root = ""
        session.dataset_changed.connect(self._on_dataset)

    def _on_dataset(self, ds) -> None:
        if ds is None or (self.root and same_dataset(str(ds.root), self.root)):
            return
        self.root = str(ds.root)
        if self.session.run_state.running(JobKind.LR_FIND):
            return
        self.view.reset()
        self.view.status.setText(IDLE_TEXT)
        self.session.kept_lr_find(functools.partial(self._show, self.root))

    def _show(self, root: str, kept) -> None:
        v = self.view
        if (not isinstance(kept, tuple) or root != self.root or v.has_curve()
                or self.session.run_state.running(JobKind.LR_FIND)):
            return
        result, facts = kept
        v.show_result(result, apply=False)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(facts.get("saved_at", 0)))
        changed = changed_since(facts.get("recipe", {}), self.session.config)
        since = (f" The recipe has changed since ({option_words(changed)}): run it again for this recipe's curve."
                 if changed else "")
        v.status.setText(f"Range test of {when}, kept for this dataset.{since} {v.status.text()}")
