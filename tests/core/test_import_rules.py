"""The layer rules of pyproject.toml's [tool.importlinter] hold, and the package has no import cycles."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CYCLE_TOOL = Path("/work/shared/tools/import_cycles.py")


def _lint_imports() -> list[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    return [str(exe)] if exe.is_file() else [shutil.which("lint-imports") or "lint-imports"]


def test_import_contracts_are_kept():
    r = subprocess.run([*_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "5 kept, 0 broken" in r.stdout


def test_no_import_cycles_counting_function_local_imports():
    """Stricter than acyclic_siblings: every module-level edge, function-local imports included."""
    pkg = ROOT / "workbench"
    mods = {}
    for f in pkg.rglob("*.py"):
        rel = f.relative_to(ROOT).with_suffix("")
        mods[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = f
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        is_pkg = f.name == "__init__.py"
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = m.split(".")
                if node.level:
                    base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m and t.startswith("workbench") and not m.startswith(t + "."):
                    edges[m].add(t)
    # a cycle exists iff some module reaches itself
    cycles = []
    for start in mods:
        seen, todo = set(), list(edges[start])
        while todo:
            n = todo.pop()
            if n == start:
                cycles.append(start)
                break
            if n not in seen:
                seen.add(n)
                todo.extend(edges[n])
    assert cycles == [], f"modules on an import cycle: {sorted(cycles)}"
    if CYCLE_TOOL.is_file():  # the shared tool, where this checkout has it, agrees
        r = subprocess.run([sys.executable, str(CYCLE_TOOL), str(pkg)], capture_output=True, text=True, timeout=120)
        assert r.stdout.strip().endswith("0 import cycles among %d modules" % len(mods)), r.stdout


def _lint_with(tmp_path, module: str, line: str) -> subprocess.CompletedProcess:
    """lint-imports on a copy of the package where ``module`` (a path under workbench/) gets ``line``."""
    shutil.copytree(ROOT / "workbench", tmp_path / "workbench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = tmp_path / "workbench" / module
    bad.write_text(bad.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    return subprocess.run([*_lint_imports(), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(tmp_path)})


def test_the_contract_catches_a_core_module_importing_the_gui(tmp_path):
    """The same contracts on a copy of the package where a core module imports the GUI: broken."""
    r = _lint_with(tmp_path, "runtime/atomic.py", "from ..gui import app")
    assert r.returncode != 0 and "workbench.runtime.atomic -> workbench.gui" in r.stdout, r.stdout[-3000:]


def test_the_contract_catches_a_view_importing_the_core(tmp_path):
    """Views reach the core through the Session: a view that imports a core module itself (not through
    gui.session and its modules, as the kept contracts above show they do) breaks the contract."""
    r = _lint_with(tmp_path, "gui/views/tta_view.py", "from ...data.cache import thumbnail")
    assert r.returncode != 0, r.stdout[-3000:]
    assert "Views reach the core through the Session" in r.stdout and "BROKEN" in r.stdout
    assert "workbench.gui.views.tta_view -> workbench.data.cache" in r.stdout, r.stdout[-3000:]


def test_the_package_root_is_a_map_of_concepts():
    """workbench/ holds packages named after concepts; at most five plain modules beside them."""
    pkg = ROOT / "workbench"
    modules = sorted(p.name for p in pkg.glob("*.py") if p.name not in {"__init__.py", "__main__.py"})
    assert len(modules) <= 5, modules
    concepts = {"runtime", "models", "data", "train", "recipe", "run", "analysis", "inference", "audit"}
    assert concepts <= {p.name for p in pkg.iterdir() if (p / "__init__.py").is_file()}
