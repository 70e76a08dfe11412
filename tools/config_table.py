"""Print the Markdown table of every config key with its default (pasted into README.md).

    python tools/config_table.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.config import RunConfig, iter_fields  # noqa: E402


def fmt(v) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def table() -> str:
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, f, value in iter_fields(RunConfig()):
        m = f.metadata
        choices = f" One of: {', '.join(m['choices'])}." if m.get("choices") else ""
        rows.append(f"| `{key}` | `{fmt(value)}` | {m['help']}{choices} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
