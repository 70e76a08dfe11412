#!/usr/bin/env bash
# Build the standalone folder app: dist/workbench/workbench (CPU-only). Usage: packaging/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${VIRTUAL_ENV:-}" && -f .venv/bin/activate ]]; then
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
if ! python -m PyInstaller --version >/dev/null 2>&1; then
  echo "PyInstaller is missing: pip install pyinstaller" >&2
  exit 2
fi
command -v readelf >/dev/null || { echo "readelf (binutils) is needed to filter CUDA libraries" >&2; exit 2; }
start=$(date +%s)
python -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/workbench.spec
echo "built dist/workbench in $(( $(date +%s) - start )) s, size $(du -sh dist/workbench | cut -f1)"
