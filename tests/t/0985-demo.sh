#!/bin/sh
# tests/t/0985-demo.sh: `make demo`'s script (deploy/demo.sh, with a small
# seed in a scratch directory) imports and exports, then leaves the stages,
# the coordinator, the status page and the simulator running, prints the
# page's URL and a stop script, and that script stops them all; with
# DEMO_KEEP=0 it stops everything itself and says so.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

D=$SCRATCH/demo

# What the demo leaves running is killed at exit even when a test fails.
remember() {
	sed -n 's/^kill \([0-9]*\) .*/\1/p' "$D/stop.sh" >>"$SCRATCH/.spawned" 2>/dev/null
	cat "$D"/sup/*.pid >>"$SCRATCH/.spawned" 2>/dev/null
	return 0
}

test_expect_success 'the demo runs and leaves the service up with its URL and a stop script' '
	{ DEMO_DIR=$D DEMO_USERS=60 sh "$SAILSYNC_TOP/deploy/demo.sh" >out 2>err ||
		{ remember; tail -n 20 out err; false; }; } &&
	remember &&
	grep -q "^demo done; files in $D$" out &&
	grep -q "^still running: the stages, the simulator and the status page$" out &&
	url=$(sed -n "s/^  status page: *\(http:\/\/127.0.0.1:[0-9]*\/\)$/\1/p" out) &&
	test -n "$url" &&
	grep -q "^  sign in to run now: ${url}login?token=[0-9a-f]\{32\}$" out &&
	grep -q "^  stop everything: *$D/stop.sh$" out &&
	: the second run says what it changed &&
	grep -q "^  last [1-5] created or updated profiles of goal members:" out &&
	curl -sf "$url" | grep -q "<section id=\"conn-demo\">" &&
	curl -sf "${url}api/status" | jq -e ".connections[0].runs | length == 2" &&
	for s in writer-0 writer-1 mapper-1 mapper-2 coordinator status; do
		kill -0 $(cat $D/sup/$s.child) || { echo "$s is not running"; exit 1; }
	done
'

test_expect_success 'its stop script stops everything it left' '
	url=$(sed -n "s/^  status page: *\(http:\/\/[^ ]*\)$/\1/p" out) &&
	sim=$(sed -n "s/^kill \([0-9]*\) .*/\1/p" $D/stop.sh) &&
	children=$(cat $D/sup/*.child) &&
	$D/stop.sh >stop.out &&
	grep -q "^demo stopped$" stop.out &&
	! ls $D/sup/*.pid 2>/dev/null &&
	for p in $sim $children; do
		wait_for 10 sh -c "! kill -0 $p" || { echo "$p still runs"; exit 1; }
	done &&
	! curl -s -o /dev/null "$url"
'

test_expect_success 'DEMO_KEEP=0 stops everything and says so' '
	{ DEMO_DIR=$D DEMO_USERS=30 DEMO_KEEP=0 sh "$SAILSYNC_TOP/deploy/demo.sh" >out0 2>err0 ||
		{ remember; tail -n 20 out0 err0; false; }; } &&
	grep -q "^demo done; stopped the stages, the status page and the simulator; files in $D$" out0 &&
	! test -e $D/stop.sh &&
	! ls $D/sup/*.pid 2>/dev/null
'

test_done
