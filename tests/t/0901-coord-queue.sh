#!/bin/sh
# tests/t/0901-coord-queue.sh: run-now through deploy/sailsync and the
# supervised coordinator; triggers that overlap a run queue behind it, and
# `sailsync run` (run and wait) still works beside the coordinator.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Newsletter", "type": "normal"}],
 "users": [{"email": "ann@example.com", "lists": ["Newsletter"]},
           {"email": "bob@example.com", "lists": ["Newsletter"]},
           {"email": "cid@example.com", "lists": ["Newsletter"]}]}
JSON
# Each export job takes 1.5 s, so every run overlaps the next trigger.
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 1500 || exit 1

cat >"$SCRATCH/sailsync.json" <<JSON
{
  "store": {"path": "store", "properties": {"email": {"type": "text", "unique": true}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state", "resend_ms": 500},
  "connections": [
    {"name": "q", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
     "base_url": "$SIM_URL", "timezone": "Europe/Amsterdam",
     "goals": [{"name": "members", "type": "import", "lists": ["Newsletter"],
       "create_profiles": true, "link": {"column": "Email", "property": "email"}}]}]
}
JSON
mkdir -p "$SCRATCH/run"

test_expect_success 'start supervises the coordinator with the writers and mappers' '
	stages sailsync.json start --mappers 1 &&
	wait_for 20 test -s sup-sailsync/coordinator.child &&
	stages sailsync.json status | grep -q "^coordinator running"
'

test_expect_success 'three run-now and one run while the first runs: four runs, one at a time' '
	stages sailsync.json run-now q >queued.txt &&
	grep -q "^run of q queued (manual)" queued.txt &&
	stages sailsync.json run-now q && stages sailsync.json run-now q &&
	test $(ls state/q/queue/*.json | wc -l) -ge 2 &&
	stages sailsync.json run q --no-progress >direct.out 2>direct.err &&
	grep -q "status=ok" direct.err &&
	wait_for 90 sh -c "ls state/q/runs/*.json 2>/dev/null | wc -l | grep -qx 4" &&
	wait_for 20 sh -c "! ls state/q/queue/*.json 2>/dev/null | grep -q ." &&
	for f in state/q/runs/*.json; do
		jq -e ".trigger == \"manual\" and .status == \"ok\"" "$f" >/dev/null ||
		    { cat "$f"; exit 1; }
	done
'

test_expect_success 'the four runs did not overlap' '
	jq -s "sort_by(.started) | [.[] | [.started, .started + .duration_ms]]" \
	    state/q/runs/*.json >iv.json && cat iv.json &&
	jq -e "length == 4" iv.json >/dev/null &&
	jq -e "[range(1; length) as \$i | .[\$i][0] >= .[\$i - 1][1]] | all" iv.json
'

test_expect_success 'the coordinator started each queued run after the previous one ended' '
	log=sup-sailsync/coordinator.log &&
	test $(grep -c "run started connection=q trigger=manual" $log) -eq 3 &&
	grep "run started connection=q\|run ended connection=q" $log |
	    awk "/started/ { if (busy) exit 1; busy = 1 } /ended/ { busy = 0 }"
'

test_expect_failure_exit 'run-now of an unknown connection is refused' 78 '
	stages sailsync.json run-now nobody 2>err; rc=$?
	grep -q "no connection named \"nobody\"" err || exit 2
	exit $rc
'

test_expect_success 'stop ends the coordinator too' '
	stages sailsync.json stop &&
	! test -e sup-sailsync/coordinator.pid
'

test_done
