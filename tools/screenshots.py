"""Drive the real main window through the step flow and save screenshots a person can look at.

    python tools/screenshots.py [--out docs/screenshots] [--epochs 2]
    xvfb-run -a python tools/screenshots.py      # the same with a real (virtual) window

Opens the demo dataset, then grabs data.png, data_images.png, recipe.png, model_picker.png (the Recipe
page after picking the first architecture of the model picker: the bundled backbone), lr_find.png
(after running the LR finder), train.png (after a short run) and results.png at 1280x800 with
QWidget.grab(). ``--until NAME`` stops after that screenshot.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait(app, cond, timeout: float = 600.0) -> bool:
    """Run the event loop until ``cond()`` holds (the tool's own loop; the app never sleeps)."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        app.processEvents()
        if cond():
            return True
        time.sleep(0.005)
    return False


def settle(app, seconds: float = 0.6) -> None:
    wait(app, lambda: False, seconds)  # let timers redraw plots and thumbnails arrive


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--epochs", type=int, default=0, help="training epochs (0 = the demo recipe's)")
    ap.add_argument("--until", default="", help="stop after this screenshot (e.g. model_picker)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-shots-") as tmp:  # the run and settings are not kept
        return shoot(args, Path(tmp))


def shoot(args: argparse.Namespace, tmp: Path) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WORKBENCH_HOME", str(tmp / "home"))  # fresh UI settings, runs in a temp folder

    from workbench.data import demo_path
    from workbench.gui.app import make_app
    from workbench.gui.main_window import MainWindow
    from workbench.gui.session import Session
    from workbench.recipe.presets import demo_recipe

    app = make_app()
    dataset = demo_path()
    cfg = demo_recipe(dataset, runs_dir=tmp / "runs").with_overrides(["lr_find.num_it=40", "tta.n=0"])
    if args.epochs:
        cfg = cfg.set("train.epochs", args.epochs)
    win = MainWindow(Session(cfg))
    win.confirm_close = lambda: True
    win.resize(1280, 800)
    win.show()
    s = win.session
    shots: list[str] = []

    def grab(name: str) -> None:
        settle(app)
        path = out / f"{name}.png"
        win.grab().save(str(path))
        shots.append(str(path))
        print(f"saved {path}")

    win.data_view.open_folder(str(dataset))
    if not wait(app, lambda: s.dataset is not None and not s.busy):
        print("error: the dataset did not open", file=sys.stderr)
        return 1
    win.show_page("data")
    grab("data")
    win.data_view.tabs.setCurrentIndex(1)
    wait(app, lambda: win.data_view.thumbs.cached >= 12, 20)
    grab("data_images")
    win.data_view.tabs.setCurrentIndex(0)

    win.show_page("recipe")
    preview = win.recipe_view.preview
    done = []
    preview.refreshed.connect(lambda: done.append(1))
    preview.schedule()
    wait(app, lambda: bool(done), 60)
    grab("recipe")

    picker = win.recipe_view.model_picker
    wait(app, lambda: len(picker._rows) > 0, 120)
    demo_cfg = s.config
    picker._pick_row(0)  # as a click on the first row would: the bundled backbone and its weights
    picker.table.selectRow(0)
    picker.table.scrollToTop()
    grab("model_picker")
    s.set_config(demo_cfg)  # the rest of the tour trains the demo recipe
    if args.until in ("recipe", "model_picker"):
        win.close()
        s.discard_spare()
        return 0

    win.show_page("lr_find")
    got = []
    s.lr_found.connect(got.append)
    win.lr_view.run()
    wait(app, lambda: bool(got) and not s.busy)
    win.lr_view.pick(cfg.train.lr)  # as a click would: back to the demo recipe's tuned rate
    grab("lr_find")

    win.show_page("train")
    finished = []
    win.train_view.run_finished.connect(lambda d, st: finished.append(st))
    win.train_view.start()
    wait(app, lambda: bool(finished) and not s.busy)
    win.show_page("train")
    grab("train")
    win.show_page("results")
    wait(app, lambda: not s.busy, 300)
    grab("results")
    win.close()
    s.discard_spare()
    print(f"{len(shots)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
