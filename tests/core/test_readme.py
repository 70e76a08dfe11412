"""README.md must stay true: every config key with its current default is listed."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from config_table import fmt  # noqa: E402

from workbench.config import RunConfig, iter_fields  # noqa: E402


def test_readme_lists_every_config_key_with_its_default():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [f"{k} = {fmt(v)}" for k, _, v in iter_fields(RunConfig()) if f"| `{k}` | `{fmt(v)}` |" not in text]
    assert not missing, "README config table is stale; run tools/config_table.py: " + ", ".join(missing)


def test_readme_has_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./run\n" in text and "./run test" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./run test" in ci
