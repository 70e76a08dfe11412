"""The core must import with Qt blocked: no PySide6 / pyqtgraph outside workbench/gui/."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import workbench

CODE = r"""
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6', 'PyQt5', 'PyQt6'):
            raise ImportError('Qt is blocked in the core: ' + name)
sys.meta_path.insert(0, Block())
import workbench
for m in MODULES:
    importlib.import_module(m)
print('ok', len(MODULES))
"""


def core_modules():
    root = Path(workbench.__file__).parent
    mods = []
    for info in pkgutil.walk_packages([str(root)], prefix="workbench."):
        if info.name.startswith("workbench.gui"):
            continue
        mods.append(info.name)
    return mods


def test_core_imports_without_qt():
    mods = core_modules()
    assert "workbench.config" in mods and len(mods) > 5
    out = subprocess.run([sys.executable, "-c", f"MODULES = {mods!r}\n" + CODE],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == f"ok {len(mods)}"


def test_importing_the_cli_and_the_config_loads_no_torch():
    """`import workbench.cli` starts fast: the config checks its architecture / weights lazily, when a
    recipe is validated (torch + torchvision take seconds to import)."""
    code = ("import sys, workbench.cli, workbench.config\n"
            "from workbench.config import RunConfig\n"
            "RunConfig.from_toml('[tricks]\\nema = true\\n').to_toml()\n"
            "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules, 'torch imported'\n"
            "RunConfig().validate()\n"
            "assert 'torch' in sys.modules  # the arch check itself still runs\n"
            "print('ok')")
    _prints_ok(code)


def test_help_of_every_command_loads_no_torch():
    """`workbench --help` and `workbench COMMAND --help` print without importing torch."""
    code = ("import contextlib, io, sys\n"
            "from workbench.cli import COMMANDS, main\n"
            "for argv in ([], *([c.replace('_', '-')] for c in COMMANDS)):\n"
            "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "        try:\n"
            "            main([*argv, '--help'])\n"
            "        except SystemExit as e:\n"
            "            assert e.code == 0, (argv, e.code)\n"
            "    assert 'usage: workbench' in out.getvalue(), argv\n"
            "    assert 'torch' not in sys.modules, f'torch imported by {argv} --help'\n"
            "print('ok')")
    _prints_ok(code)


def _prints_ok(code: str) -> None:
    """Run ``code`` in a fresh interpreter: it must exit 0 and print only 'ok'."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"
