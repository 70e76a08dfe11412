"""``python -m workbench`` / ``workbench``: no arguments opens the desktop app, otherwise the CLI."""
from __future__ import annotations

import sys

from .cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return cli_main(argv if argv else ["gui"])


if __name__ == "__main__":
    sys.exit(main())
