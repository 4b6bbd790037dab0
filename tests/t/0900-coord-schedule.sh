#!/bin/sh
# tests/t/0900-coord-schedule.sh: the coordinator runs a connection on its
# schedule (the clock compressed: an hour a second), records each run with
# trigger "schedule", never overlaps two runs of one connection, lists the
# history and the next runs, and after being stopped past a run time runs
# the missed run once, not once per missed slot; a disabled connection's
# schedule does not fire; one coordinator per state directory.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Newsletter", "type": "normal"}],
 "users": [{"email": "ann@example.com", "vars": {"first_name": "Ann"}, "lists": ["Newsletter"]},
           {"email": "bob@example.com", "vars": {"first_name": "Bob"}, "lists": ["Newsletter"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

# conf SCHEDULE: connection "hourly" with that schedule, in New York time.
conf() {
	cat >"$SCRATCH/sailsync.json" <<JSON
{
  "store": {"path": "store", "properties": {
    "email": {"type": "text", "unique": true}, "first_name": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state", "resend_ms": 500},
  "connections": [
    {"name": "hourly", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
     "base_url": "$SIM_URL", "timezone": "America/New_York", "schedule": "$1",
     "goals": [{"name": "members", "type": "import", "lists": ["Newsletter"],
       "create_profiles": true, "link": {"column": "Email", "property": "email"},
       "mappings": [{"column": "first_name", "property": "first_name"}]}]},
    {"name": "off", "enabled": false, "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
     "base_url": "$SIM_URL", "schedule": "24 times daily from 00:00",
     "goals": [{"name": "members", "type": "import", "lists": ["Newsletter"],
       "link": {"column": "Email", "property": "email"}}]}]
}
JSON
}
mkdir -p "$SCRATCH/run"
conf "24 times daily from 00:00"

test_expect_success 'stages start without their coordinator' '
	stages sailsync.json start --mappers 1 --no-coordinator &&
	! test -e sup-sailsync/coordinator.pid
'

test_expect_success 'a schedule clocked at 1800x runs the connection every 2 s' '
	background coord sailsync-fetcher -c sailsync.json coordinator --clock-scale 1800 &&
	wait_for 60 sh -c "ls state/hourly/runs/*.json 2>/dev/null | wc -l | grep -qx [3-9]" &&
	: one coordinator per state directory &&
	test_expect_code 69 sailsync-fetcher -c sailsync.json coordinator 2>second.err &&
	grep -q "another coordinator is running" second.err &&
	: a disabled connection: its schedule does not fire &&
	! ls state/off/runs/*.json 2>/dev/null &&
	kill -TERM $(cat coord.pid) && wait_for 30 sh -c "! kill -0 $(cat coord.pid)" &&
	grep -q "coordinator stopped" coord.log &&
	for f in state/hourly/runs/*.json; do
		jq -e ".trigger == \"schedule\" and .status == \"ok\" and .error == null and
		    .goals[0].created + .goals[0].unchanged + .goals[0].updated == 2" "$f" \
		    >/dev/null || { cat "$f"; exit 1; }
	done
'

test_expect_success 'runs of one connection never overlap' '
	jq -s "sort_by(.started) | [.[] | [.started, .started + .duration_ms]]" \
	    state/hourly/runs/*.json >iv.json &&
	jq -e "length >= 3" iv.json >/dev/null &&
	jq -e "[range(1; length) as \$i | .[\$i][0] >= .[\$i - 1][1]] | all" iv.json
'

test_expect_success 'runs lists the history newest first, and the next runs' '
	sailsync-fetcher -c sailsync.json runs hourly >list.txt &&
	cat list.txt &&
	grep -q "^connection hourly (America/New_York), schedule: 24 times daily from 00:00" list.txt &&
	grep -q "^next runs: 20[0-9-]* [0-9:]* -0[45]:00" list.txt &&
	grep -E "^[0-9]+ +schedule " list.txt | awk "{print \$1}" >ids &&
	sort -rn ids | cmp - ids &&
	test $(wc -l <ids) -eq $(ls state/hourly/runs/*.json | wc -l)
'

test_expect_success 'runs --json: the same records, newest first, and next runs' '
	stages sailsync.json runs hourly --json >list.json &&
	jq -e ".connection == \"hourly\" and (.next | length) == 3" list.json &&
	jq -e "[.runs[].run] == ([.runs[].run] | sort | reverse)" list.json &&
	jq -e "(.runs | length) == $(ls state/hourly/runs/*.json | wc -l)" list.json &&
	jq -e "[.next[] | test(\"^20..-..-..T..:00:00.000Z$\")] | all" list.json
'

test_expect_success 'a run missed while stopped runs once at start, not once per slot' '
	conf "daily at 03:00" &&
	background coord2 sailsync-fetcher -c sailsync.json coordinator &&
	wait_for 20 grep -q "next run connection=hourly" coord2.log &&
	# What the 1800x coordinator left queued (the run it was stopped in,
	# and on a slow machine one more behind it) runs first: then nothing
	# stands for the missed slots but what the next start queues.
	wait_for 90 sh -c "! ls state/hourly/queue | grep -q \"\\.json\$\"" &&
	kill -TERM $(cat coord2.pid) && wait_for 30 sh -c "! kill -0 $(cat coord2.pid)" &&
	! grep -q "missed run\|run queued" coord2.log &&
	n0=$(ls state/hourly/runs/*.json | wc -l) &&
	later=$(( $(date +%s) + 3 * 86400 )) &&
	background coord3 sailsync-fetcher -c sailsync.json coordinator --clock-start $later &&
	wait_for 30 grep -q "missed run connection=hourly" coord3.log &&
	wait_for 60 sh -c "ls state/hourly/runs/*.json | wc -l | grep -qx $((n0 + 1))" &&
	sleep 2 &&
	kill -TERM $(cat coord3.pid) && wait_for 30 sh -c "! kill -0 $(cat coord3.pid)" &&
	test $(ls state/hourly/runs/*.json | wc -l) -eq $((n0 + 1)) &&
	test $(grep -c "run queued\|missed run" coord3.log) -eq 1
'

test_expect_failure_exit 'a bad schedule is a configuration error at file:line:col' 78 '
	conf "monthly first,fifth mon at 08:00" &&
	sailsync-fetcher -c sailsync.json -n 2>err; rc=$?
	cat err
	grep -q "^.*sailsync.json:[0-9]*:[0-9]*: connections\[0\].schedule: unknown ordinal \"fifth\"" err || exit 2
	exit $rc
'

test_done
