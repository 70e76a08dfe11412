#!/usr/bin/env bash
# Smoke test of the packaged app (slow; not part of the test suite):
#   1. build dist/workbench (skip with --no-build when it is already built),
#   2. start the GUI offscreen on the demo dataset for a few seconds (it must still be running, no traceback),
#   3. train one short epoch headless on the demo dataset,
#   4. the same on 2 CPU processes with the bundled torchrun (`workbench launch --nproc 2`).
# Everything the app writes goes to a temp folder. Exit 0 when all steps pass.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=1
GUI_SECONDS=${GUI_SECONDS:-15}
[[ "${1:-}" == "--no-build" ]] && BUILD=0
t_all=$(date +%s)
fail() { echo "SMOKE FAIL: $*" >&2; exit 1; }

if [[ $BUILD == 1 ]]; then
  packaging/build.sh || fail "build failed"
fi
APP=dist/workbench/workbench
[[ -x $APP ]] || fail "$APP not found (run packaging/build.sh)"
echo "bundle size: $(du -sh dist/workbench | cut -f1)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export WORKBENCH_HOME="$TMP/home" WORKBENCH_CACHE_DIR="$TMP/cache" QT_QPA_PLATFORM=offscreen
export XDG_CONFIG_HOME="$TMP/config" XDG_RUNTIME_DIR="$TMP/runtime"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

"$APP" --version || fail "--version"

# 2. GUI offscreen: still alive after GUI_SECONDS (timeout exit 124) and no Python traceback.
t0=$(date +%s)
timeout "$GUI_SECONDS" "$APP" gui --demo > "$TMP/gui.log" 2>&1 &
gui_pid=$!
sleep $(( GUI_SECONDS - 3 ))
# the app keeps a spare job process (multiprocessing spawn) ready for training: in a frozen app it
# must start as a job process, not as a second copy of the app
spare=$(pgrep -f -- "--multiprocessing-fork" | while read -r p; do
  [[ $(ps -o ppid= -p "$p" | tr -d ' ') == $(pgrep -P "$gui_pid" | head -1) ]] && echo "$p"; done)
wait "$gui_pid"
rc=$?
if [[ $rc != 124 ]] || grep -q "Traceback" "$TMP/gui.log"; then
  cat "$TMP/gui.log" >&2; fail "GUI exited with code $rc before $GUI_SECONDS s or printed a traceback"
fi
[[ -n $spare ]] || { cat "$TMP/gui.log" >&2; fail "the GUI did not start its spare job process"; }
echo "gui: ran ${GUI_SECONDS}s offscreen without crashing, spare job process $spare ($(( $(date +%s) - t0 )) s)"

DEMO="$WORKBENCH_HOME/demo"
if [[ ! -d $DEMO ]]; then
  "$APP" demo --headless --epochs 1 > "$TMP/demo.log" 2>&1 || { cat "$TMP/demo.log" >&2; fail "demo --headless"; }
fi
[[ -d $DEMO ]] || fail "demo dataset was not generated at $DEMO"

# 3. One short headless epoch.
t0=$(date +%s)
"$APP" train "$DEMO" --set train.epochs=1 --set data.image_size=32 --set runs_dir="$TMP/runs" \
  --out "$TMP/runs/single" > "$TMP/train.log" 2>&1 || { tail -30 "$TMP/train.log" >&2; fail "train"; }
grep -q '"status": "completed"' "$TMP/runs/single/metrics.json" || fail "train: run not completed"
echo "train: 1 epoch at 32 px completed in $(( $(date +%s) - t0 )) s"

# 4. Two CPU processes with the bundled torchrun.
t0=$(date +%s)
"$APP" launch --nproc 2 -- train "$DEMO" --set train.epochs=1 --set data.image_size=32 \
  --set runs_dir="$TMP/runs" --out "$TMP/runs/ddp" > "$TMP/ddp.log" 2>&1 || { tail -30 "$TMP/ddp.log" >&2; fail "launch --nproc 2"; }
grep -q '"status": "completed"' "$TMP/runs/ddp/metrics.json" || fail "launch: run not completed"
echo "launch --nproc 2: 1 epoch completed in $(( $(date +%s) - t0 )) s"

echo "SMOKE OK in $(( $(date +%s) - t_all )) s"
