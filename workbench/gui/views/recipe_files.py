"""The Recipe page's file actions: Load / Save as the CLI's TOML (dialogs that start in the folder
of the last recipe or beside the dataset, never in it; "saved" feedback) and the question on quit
about a loaded or saved recipe file that changed since."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from ...config import ConfigError, RunConfig


class RecipeFiles:
    """Mixin of RecipeView (needs ``session``, ``mom_plot_note``, ``notice``, ``_replace``)."""

    def load(self, path: str) -> None:
        cfg = RunConfig.load(path)
        if not cfg.data.path and self.session.config.data.path:
            cfg = cfg.set("data.path", self.session.config.data.path)
        self._replace(cfg, f"Loaded {path}.")
        self.session.set_recipe_file(path)

    def save(self, path: str) -> None:
        self.session.config.save(path)
        self.session.set_recipe_file(path)

    def confirm_quit(self) -> bool:
        """Before quitting: the working recipe is autosaved, but a recipe file the user loaded or
        saved and has changed since is offered to be saved (Save / Discard / Cancel)."""
        s = self.session
        if not s.recipe_file_outdated():
            return True
        box = QMessageBox.question(self, "Unsaved recipe changes",
                                   f"The recipe was changed after it was loaded from or saved to {s.recipe_file}. "
                                   "Save the changes to that file?",
                                   QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                                   | QMessageBox.StandardButton.Cancel)
        if box == QMessageBox.StandardButton.Save:
            try:
                self.save(s.recipe_file)
            except OSError as e:
                QMessageBox.warning(self, "Cannot save recipe", f"{s.recipe_file}: {e}")
                return False
        return box != QMessageBox.StandardButton.Cancel

    def recipe_folder(self) -> str:
        """Where Save / Load start: the folder of the recipe last loaded or saved, else the dataset's
        parent folder (recipes are never written into the dataset), else the home folder."""
        s = self.session
        if s.recipe_file and Path(s.recipe_file).parent.is_dir():
            return str(Path(s.recipe_file).parent)
        data = s.config.data.path
        if data and Path(data).expanduser().parent.is_dir():
            return str(Path(data).expanduser().resolve().parent)
        return str(Path.home())

    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load recipe", self.recipe_folder(),
                                              "Recipe (*.toml);;All files (*)")
        if path:
            try:
                self.load(path)
            except ConfigError as e:
                QMessageBox.warning(self, "Cannot load recipe", str(e))
                return
            self.notice.emit(f"Loaded the recipe {path}")

    def save_dialog(self) -> None:
        data = self.session.config.data.path
        name = f"{Path(data).name}-recipe.toml" if data else "recipe.toml"
        path, _ = QFileDialog.getSaveFileName(self, "Save recipe", str(Path(self.recipe_folder()) / name),
                                              "Recipe (*.toml)")
        if path:
            try:
                self.save(path)
            except OSError as e:
                QMessageBox.warning(self, "Cannot save recipe", f"{path}: {e}")
                return
            text = f"Saved the recipe to {path} (train it with: workbench train --config {path})"
            self.mom_plot_note.setText(text)
            self.notice.emit(text)

