"""Undo and redo of the Recipe page (a mixin of RecipeView). Every change of the recipe, by any means
(a field, Defaults, Load, Suggest, the LR finder's pick), goes on the undo stack with the action that
made it; Undo (Ctrl+Z) takes the last one back and Redo (Ctrl+Shift+Z or Ctrl+Y) puts it back, until a
new change clears what was undone. Another dataset starts a new history (its recipe is its own)."""
from __future__ import annotations

from ...config import RunConfig, iter_fields


class RecipeUndo:
    """Mixin of RecipeView (needs session, form, mom_plot_note, undo_btn, redo_btn)."""

    def _init_undo(self, session) -> None:
        self.undo_stack: list[RunConfig] = []   # the recipe before each change (any editor, Defaults, Load, Suggest)
        self.undo_actions: list[str] = []       # ... and the action that made it ("Load of a.toml"; "" for a field)
        self.redo_stack: list[tuple[RunConfig, str]] = []   # what Undo took back, newest last, with its action
        self._action = ""                        # the action whose change comes next
        self._shown = session.config            # the recipe the last change left
        self._undoing = False
        session.suggested.connect(lambda _s: setattr(self, "_action", "Suggest"))   # before the assistant applies it

    def _replace(self, cfg: RunConfig, note: str, action: str = "") -> None:
        if cfg != self.session.config:
            self.mom_plot_note.setText(note + " Undo brings back the previous recipe.")
        self._action = action
        self.session.set_config(cfg)
        self._action = ""

    def _remember(self, cfg: RunConfig) -> None:
        """A change of the recipe goes on the undo stack (and ends what Redo could put back)."""
        before, self._shown = self._shown, cfg
        if self._undoing or cfg == before:
            return
        if self.mom_plot_note.text().startswith(("Undone:", "Redone:", "Saved the recipe", "Copied:")):
            self.mom_plot_note.setText("")   # a later change: stale
        action, self._action = self._action, ""
        if cfg.data.path != before.data.path:  # another dataset: its own history, no note about the last one
            self._forget()
            self.mom_plot_note.setText("")
        else:
            self.undo_stack.append(before)
            self.undo_actions.append(action)
            del self.undo_stack[:-200], self.undo_actions[:-200]
            self.redo_stack.clear()
        self._buttons()

    def _forget(self) -> None:
        self.undo_stack.clear()
        self.undo_actions.clear()
        self.redo_stack.clear()
        self._buttons()

    def _buttons(self) -> None:
        self.undo_btn.setEnabled(bool(self.undo_stack))
        self.redo_btn.setEnabled(bool(self.redo_stack))

    def _go_to(self, cfg: RunConfig) -> str:
        """Make ``cfg`` the recipe (the dataset stays) without recording it; the changed fields' labels."""
        cfg = cfg.set("data.path", self.session.config.data.path)
        changed = [k for k, _, v in iter_fields(cfg) if v != self.session.config.get(k) and k != "reasons"]
        self._undoing = True
        try:
            self.session.set_config(cfg)
        finally:
            self._undoing = False
        self._shown = self.session.config
        self._buttons()
        return ", ".join(map(self.form.label_of, changed[:3])) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")

    def undo(self) -> bool:
        """Bring back the recipe before its last change (the dataset stays); Redo can put it back."""
        if not self.undo_stack:
            return False
        cfg = self.undo_stack.pop()
        action = self.undo_actions.pop() if len(self.undo_actions) > len(self.undo_stack) else ""
        self.redo_stack.append((self.session.config, action))
        what = self._go_to(cfg)
        self.mom_plot_note.setText(f"Undone: {action} ({what or 'nothing changed'})." if action
                                   else f"Undone: {what or 'the last change'}.")
        return True

    def redo(self) -> bool:
        """Put back the change the last Undo took back (until a new change of the recipe)."""
        if not self.redo_stack:
            return False
        cfg, action = self.redo_stack.pop()
        self.undo_stack.append(self.session.config)
        self.undo_actions.append(action)
        what = self._go_to(cfg)
        self.mom_plot_note.setText(f"Redone: {action} ({what or 'nothing changed'})." if action
                                   else f"Redone: {what or 'the change'}.")
        return True
