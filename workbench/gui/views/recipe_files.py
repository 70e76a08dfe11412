"""The Recipe page's file actions: Load / Save as the CLI's TOML (dialogs that start in the folder
the user last used for recipes, else the app's own recipes folder, never in or beside the dataset;
"saved" feedback), a loaded file applied to the open dataset, and the question on quit about the
open dataset's recipe file when it changed since it was loaded or saved."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from ...config import ConfigError, RunConfig
from ..session_helpers import data_home, for_dataset, same_dataset


class RecipeFiles:
    """Mixin of RecipeView (needs ``session``, ``mom_plot_note``, ``notice``, ``_replace``)."""

    def load(self, path: str) -> str:
        """Load a recipe file into the OPEN dataset's recipe (its folder and other data-location keys
        stay; one undoable change); returns the one line said about it. A file made for another
        dataset is only applied (quitting never writes this dataset's recipe into it). With no
        dataset open, the file's dataset opens with it."""
        s = self.session
        cfg = RunConfig.load(path)
        made_for, open_now = cfg.data.path, s.config.data.path
        s.recipe_dir = str(Path(path).expanduser().parent)
        if not open_now:
            return self._load_with_its_dataset(path, cfg)
        other = bool(made_for) and not same_dataset(made_for, open_now)
        line = (f"Loaded {path}: made for dataset {Path(made_for).name} ({made_for}), applied to the open dataset "
                f"{Path(open_now).name}." if other else f"Loaded {path}.")
        cfg = for_dataset(cfg, s.config)
        changed = cfg != s.config
        self._replace(cfg, line, f"Load of {Path(path).name}")
        if not changed:
            self.mom_plot_note.setText(line + " The recipe is the same.")
        if not other:
            s.set_recipe_file(path)
        return line

    def _load_with_its_dataset(self, path: str, cfg: RunConfig) -> str:
        """No dataset open: the recipe file's dataset opens with the file's recipe."""
        s, folder = self.session, cfg.data.path
        here = bool(folder) and Path(folder).expanduser().is_dir()
        if here and s.open_dataset(folder, recipe=cfg):
            s.set_recipe_file(path)
            line = f"Loaded {path} and opened its dataset {Path(folder).name} ({folder})."
        else:
            self._replace(cfg, "")
            line = (f"Loaded {path}; a job is running: open its dataset {folder} when it has finished." if here else
                    f"Loaded {path}; its dataset {folder} is not a folder here: open a dataset to train it."
                    if folder else f"Loaded {path}; open a dataset to train it.")
        self.mom_plot_note.setText(line)
        return line

    def save(self, path: str) -> None:
        self.session.config.save(path)
        self.session.set_recipe_file(path)

    def confirm_quit(self) -> bool:
        """Before quitting: the working recipe is autosaved, but a recipe file the user loaded or
        saved and has changed since is offered to be saved (Save / Discard / Cancel)."""
        s = self.session
        if not s.recipe_file_outdated():
            return True
        name = Path(s.config.data.path).name if s.config.data.path else "(no dataset)"
        box = QMessageBox.question(self, "Unsaved recipe changes",
                                   f"The recipe of the dataset {name} was changed after it was loaded from or "
                                   f"saved to {s.recipe_file}. Save the changes to that file?",
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
        """Where Save / Load start: the folder the user last loaded or saved a recipe in, else the
        app's own recipes folder (WORKBENCH_HOME/recipes): never the dataset folder or its parent
        (a shared data folder), where Enter would write a recipe."""
        last = self.session.recipe_dir
        if last and Path(last).is_dir():
            return last
        own = data_home() / "recipes"
        try:
            own.mkdir(parents=True, exist_ok=True)
        except OSError:
            return str(Path.home())
        return str(own)

    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load recipe", self.recipe_folder(),
                                              "Recipe (*.toml);;All files (*)")
        if path:
            try:
                line = self.load(path)
            except (ConfigError, OSError) as e:
                QMessageBox.warning(self, "Cannot load recipe", str(e))
                return
            self.notice.emit(line)

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
            self.mom_plot_note.setText(f"Saved the recipe to {Path(path).name} (train it with: workbench train "
                                       f"--config {path})")
            self.mom_plot_note.setToolTip(path)
            self.notice.emit(f"Saved the recipe to {path}")

