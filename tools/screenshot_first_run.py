"""Screenshots of a new dataset of photos in the app: the Data page's first-run line with its *Train from
scratch* switch, and the Recipe page with the fine-tune of the weights on disk.

    python tools/screenshot_first_run.py [PHOTOS] [--out docs/screenshots]

PHOTOS defaults to ../shared/data/nette-mini. Uses a fresh settings folder (no working recipe), the
weights this machine has (the bundled backbone when its package is installed); nothing is trained.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from screenshots import settle, wait  # noqa: E402  (tools/screenshots.py)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photos", nargs="?", default=str(ROOT.parent / "shared" / "data" / "nette-mini"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wb-shots-") as tmp:
        os.environ["WORKBENCH_HOME"] = str(Path(tmp) / "home")
        from workbench.gui.app import make_app
        from workbench.gui.main_window import MainWindow
        from workbench.gui.session import Session, default_config
        app = make_app()
        win = MainWindow(Session(default_config()))
        win.confirm_close = lambda: True
        win.resize(1280, 800)
        win.show()
        s = win.session
        win.data_view.open_folder(args.photos)
        if not wait(app, lambda: s.dataset is not None and bool(s.first_run_line), 300):
            print("error: no first-run fine-tune (no photos, or no weights on disk)", file=sys.stderr)
            return 1
        print(s.first_run_line)
        for page, name in (("data", "first_run_data"), ("recipe", "first_run_recipe")):
            win.show_page(page)
            settle(app, 1.0)
            win.grab().save(str(out / f"{name}.png"))
            print(f"saved {out / name}.png")
        from workbench.gui.jobs import wait_side_tasks
        wait_side_tasks(300_000)   # e.g. the audit tab's cost estimate
        win.close()
        s.discard_spare()
    return 0


if __name__ == "__main__":
    sys.exit(main())
