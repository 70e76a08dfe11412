"""`workbench gui` without a display says so (exit 2) instead of Qt aborting the process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workbench.cli.gui_cmd import display_problem

REPO = Path(__file__).resolve().parents[2]


def test_display_rules():
    assert display_problem({}, "linux").startswith("no display")
    assert display_problem({"DISPLAY": ":0"}, "linux") == ""
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") == ""
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") == ""
    assert "DISPLAY" in display_problem({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w"}, "linux")
    assert display_problem({}, "darwin") == "" and display_problem({}, "win32") == ""


def test_gui_without_display_exits_2_with_a_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(REPO)
    res = subprocess.run([sys.executable, "-m", "workbench", "gui"], capture_output=True, text=True, env=env,
                         timeout=120, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "xvfb-run" in res.stderr and "Traceback" not in res.stderr and "Aborted" not in res.stderr
