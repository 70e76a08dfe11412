"""The relabel question of the galleries and the large viewer: which class, starting at the class the
model predicts (the fold models' suggestion for an audit item), so Enter takes the likely answer."""
from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget


def class_choices(classes, current: str = "", suggested: str = "") -> tuple[list[str], int]:
    """The classes to offer (the image's own class left out) and the row to start at: ``suggested``
    when it is one of them, else the first."""
    choices = [c for c in classes if c != current] or list(classes)
    return choices, choices.index(suggested) if suggested in choices else 0


def shared_classes(items) -> tuple[str, str]:
    """(own class, suggested class) of the images to relabel, each "" unless all the images share it:
    images of several classes are offered every class (each can go to any other) and no suggestion."""
    def one(attr: str) -> str:
        values = {getattr(it, attr, "") for it in items}
        return values.pop() if len(values) == 1 else ""
    return one("true_class"), one("suggested")


def ask_class(parent: QWidget, classes, n: int, current: str = "", suggested: str = "") -> str:
    """Ask for the new class of ``n`` image(s); "" when cancelled."""
    choices, row = class_choices(classes, current, suggested)
    if not choices:
        return ""
    new_class, ok = QInputDialog.getItem(parent, "Relabel", f"New class for {n} image(s) (type to find one):",
                                         choices, row, True)
    new_class = new_class.strip() if ok else ""
    match = next((c for c in choices if c.lower() == new_class.lower()), "")
    if new_class and not match:   # typed, not picked: said, never replaced by the preselected class
        QMessageBox.information(parent, "Relabel", f"'{new_class}' is not a class of this dataset, so nothing was "
                                "changed. A relabel picks one of its classes; a new class needs its own folder of "
                                "images (then rescan).")
    return match
