#!/bin/sh
# tests/tools/status-shots.sh DIR: screenshots of the status page (the
# index before and after Run now, a run, a profile) into DIR, taken by
# headless Chromium in the browser test.  Needs a build (make) and chromium.
set -eu
[ $# -eq 1 ] || { echo "usage: tests/tools/status-shots.sh DIR" >&2; exit 64; }
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
SAILSYNC_SHOTS=$(cd "$1" && pwd) SAILSYNC_TOP=$top \
	SAILSYNC_BIN=${SAILSYNC_BIN:-$top/build/default/bin} sh "$top/tests/t/0971-status-browser.sh"
ls "$1"/*.png
