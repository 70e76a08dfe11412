"""QApplication setup (high-DPI, style sheet, icons) and ``run()``, the app's entry point."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from ..config import ConfigError, RunConfig
from .widgets.common import icon, resource

WARM_MODULES = ("workbench.train.run", "workbench.train.lr_find")  # what the app's job processes run


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once): fractional high-DPI scaling, Fusion style, our style sheet."""
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv or [sys.argv[0]])
    # Jobs in threads (scans, interpretation, export) and the event relay of the job process run
    # Python; a short GIL switch interval lets the GUI thread take the GIL sooner, which keeps the
    # event loop responsive (see bench/ui_latency.py).
    sys.setswitchinterval(0.001)
    app.setApplicationName("Workbench")
    app.setOrganizationName("workbench")
    app.setWindowIcon(icon("app"))
    app.setStyle("Fusion")
    qss = resource("style.qss")
    if qss.is_file():
        text = qss.read_text(encoding="utf-8")
        size = re.search(r"QWidget\s*\{[^}]*font-size:\s*([\d.]+)pt", text)
        if size:   # the application font = the size the widgets draw with, so text measured with it
            font = app.font()                                    # (names cut to fit, column widths) fits
            font.setPointSizeF(float(size.group(1)))
            app.setFont(font)
        app.setStyleSheet(text)
    import pyqtgraph as pg
    pg.setConfigOptions(antialias=True, foreground="#334155", background=None)
    return app


def create_window(dataset: str | None = None, demo: bool = False, recipe: str | None = None):
    """Build the main window; open ``dataset`` (or the demo dataset on ``demo`` / first start)."""
    from .main_window import MainWindow
    from .session import Session, default_config
    from ..recipe.working import for_dataset, load_working, same_dataset
    cfg, made_for = default_config(), ""
    if recipe:
        cfg = RunConfig.load(recipe)
        made_for = cfg.data.path
        if dataset and not same_dataset(made_for, dataset):  # the file applies to the dataset opened
            cfg = for_dataset(cfg, RunConfig().set("data.path", str(Path(dataset).expanduser())))
    elif not dataset and not demo:
        cfg = load_working() or cfg   # the working recipe of the last session (autosaved)
    session = Session(cfg, autosave=True)
    if recipe:  # the recipe given becomes the working one of its dataset
        from ..runtime.paths import data_home
        own = not made_for or same_dataset(made_for, cfg.data.path)   # another dataset's file: only applied
        if own and not Path(recipe).resolve().is_relative_to(data_home().resolve()):  # not the demo's own file
            session.set_recipe_file(recipe)
        session.autosave_now()
    win = MainWindow(session)
    session.setParent(win)
    restored = bool(cfg.data.path) and not recipe and Path(cfg.data.path).is_dir()
    target = dataset or (cfg.data.path if recipe or restored else None)
    if target is None and (demo or not win.recent_folders()):
        from ..data import demo_path
        target = str(demo_path())
        if not recipe:
            from ..recipe.presets import demo_recipe
            session.set_config(demo_recipe(target, runs_dir=cfg.runs_dir))
        win.flash("Opened the built-in demo dataset. Use File > Open dataset for your own.", 8000)
    if target:
        win.data_view.open_folder(str(Path(target).expanduser()))
    return win


def run(dataset: str | None = None, demo: bool = False, recipe: str | None = None) -> int:
    """Open the app and run the event loop; returns the exit code."""
    app = make_app()
    try:
        win = create_window(dataset, demo, recipe)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    win.show()
    # a job process kept started with the training modules imported: Train and LR finder start at once
    session = win.session
    QTimer.singleShot(2000, lambda: session.keep_spare_process(WARM_MODULES))
    app.aboutToQuit.connect(session.discard_spare)
    return app.exec()
