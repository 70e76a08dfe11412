#!/usr/bin/env bash
# Install (or remove) the Workbench desktop entry, AppStream metainfo and icon for the current user,
# under ${XDG_DATA_HOME:-~/.local/share}. Nothing outside that folder is touched; no root needed.
#
#   packaging/install_desktop.sh [--exec PATH] [--uninstall]
#
# --exec: the program the menu entry starts. Default: dist/workbench/workbench (the packaged app) when it
# exists, else `workbench` on PATH, else the repository's .venv/bin/workbench.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RES="$ROOT/workbench/resources"
APP_ID="io.workbench.Workbench"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
EXEC=""
UNINSTALL=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --exec) EXEC="$2"; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install_desktop.sh: unknown argument '$1' (use --exec PATH or --uninstall)" >&2; exit 2 ;;
  esac
done

SIZES=(16 24 32 48 64 128 256 512)
targets=("$DATA/applications/$APP_ID.desktop" "$DATA/metainfo/$APP_ID.metainfo.xml"
         "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg")
for s in "${SIZES[@]}"; do targets+=("$DATA/icons/hicolor/${s}x${s}/apps/$APP_ID.png"); done

refresh() {
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA/applications" || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" 2>/dev/null || true
}

if [[ $UNINSTALL == 1 ]]; then
  for t in "${targets[@]}"; do rm -f -- "$t"; done
  refresh
  echo "removed the Workbench desktop entry, metainfo and icons from $DATA"
  exit 0
fi

if [[ -z "$EXEC" ]]; then
  if [[ -x "$ROOT/dist/workbench/workbench" ]]; then EXEC="$ROOT/dist/workbench/workbench"
  elif command -v workbench >/dev/null; then EXEC="$(command -v workbench)"
  elif [[ -x "$ROOT/.venv/bin/workbench" ]]; then EXEC="$ROOT/.venv/bin/workbench"
  else echo "no workbench program found: build it (packaging/build.sh), pip install the project, or pass --exec PATH" >&2; exit 1
  fi
fi
[[ -x "$EXEC" ]] || { echo "--exec: '$EXEC' is not an executable file" >&2; exit 1; }
EXEC="$(cd "$(dirname "$EXEC")" && pwd)/$(basename "$EXEC")"

ICON_SVG=""
for cand in "$RES/icons/workbench.svg" "$RES/icons/app.svg" "$RES/workbench.svg"; do
  [[ -f "$cand" ]] && { ICON_SVG="$cand"; break; }
done
[[ -n "$ICON_SVG" ]] || { echo "app icon not found in $RES/icons (workbench.svg)" >&2; exit 1; }

install -d "$DATA/applications" "$DATA/metainfo" "$DATA/icons/hicolor/scalable/apps"
# Exec/TryExec point at the absolute program path; quote it per the desktop entry spec if it has spaces.
quoted="$EXEC"
[[ "$EXEC" == *" "* ]] && quoted="\"$EXEC\""
sed -e "s|^Exec=workbench |Exec=$quoted |" -e "s|^TryExec=.*|TryExec=$EXEC|" \
  "$RES/workbench.desktop" > "$DATA/applications/.$APP_ID.desktop.tmp"
mv -f "$DATA/applications/.$APP_ID.desktop.tmp" "$DATA/applications/$APP_ID.desktop"
install -m 644 "$RES/$APP_ID.metainfo.xml" "$DATA/metainfo/$APP_ID.metainfo.xml"
install -m 644 "$ICON_SVG" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
for s in "${SIZES[@]}"; do
  png="$RES/icons/workbench-$s.png"
  [[ -f "$png" ]] || continue
  install -d "$DATA/icons/hicolor/${s}x${s}/apps"
  install -m 644 "$png" "$DATA/icons/hicolor/${s}x${s}/apps/$APP_ID.png"
done
refresh
echo "installed Workbench for ${USER:-$(id -un)}: $DATA/applications/$APP_ID.desktop -> $EXEC"
