"""Entry point of the packaged app: the same as ``python -m workbench``.

``multiprocessing.freeze_support()`` must run first in a frozen program so that any child process the
standard library starts (spawn / forkserver helpers) runs its task instead of a second copy of the app.
"""
from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()
    from workbench.__main__ import main as workbench_main
    return workbench_main()


if __name__ == "__main__":
    sys.exit(main())
