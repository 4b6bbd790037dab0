#!/bin/sh
# tests/t/0960-logs.sh: log lines people can use: a UTC timestamp and a
# level on every line of every stage, --log-format json (one object per
# line), and the supervisor's log files rotated by size.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

mkdir -p "$SCRATCH/run"
printf 'email,name\nann@example.com,Ann\nbob@example.com,"Bob ""B"""\nragged\n' \
	>"$SCRATCH/people.csv"
cat >"$SCRATCH/sailsync.json" <<'EOF'
{
  "store": {"path": "store", "properties": {"email": {"type": "text", "unique": true},
    "name": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state", "resend_ms": 200},
  "connections": [{"name": "local", "api_key": "x", "secret": "y",
    "goals": [{"name": "crm", "type": "file", "path": "people.csv",
      "create_profiles": true, "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "name", "property": "name"}]}]}]
}
EOF

TS='[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]\{3\}Z'

# every_line_text FILE: each line starts with a timestamp and a level.
every_line_text() {
	test -s "$1" &&
	! grep -v "^$TS \(debug\|info\|warn\|error\) [a-z-]*: " "$1"
}
# every_line_json FILE: each line is an object with ts, level, stage, msg.
every_line_json() {
	test -s "$1" &&
	jq -e -s 'all(.[]; (.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$"))
		and (.level | IN("debug","info","warn","error")) and (.stage | type == "string")
		and (.msg | type == "string"))' "$1" >/dev/null
}

test_expect_success 'text: every line of a run has a timestamp and a level' '
	sailsync-fetcher -c sailsync.json run local --users file:u1.cap --no-progress \
		>out 2>err &&
	every_line_text err &&
	grep -q "^$TS info fetcher: run started run=1 connection=local" err &&
	grep -q "^$TS warn fetcher: .*ragged" err &&
	{ sailsync-fetcher -c nothere.json -n 2>err2 || :; } &&
	every_line_text err2 &&
	grep -q "^$TS error fetcher: nothere.json: cannot open" err2
'

test_expect_success '--log-format json: one object per line, fields split out' '
	sailsync-fetcher -c sailsync.json --log-format json run local --users file:u2.cap \
		--no-progress >out 2>err &&
	every_line_json err &&
	jq -e -s "any(.[]; .msg == \"run started\" and .run == \"2\" and
		.connection == \"local\" and .stage == \"fetcher\" and .level == \"info\")" err &&
	sailsync-mapper -c sailsync.json --log-format json --in file:u2.cap \
		--out file:p2.cap 2>merr &&
	every_line_json merr &&
	{ SAILSYNC_LOG_FORMAT=json sailsync-writer -c nothere.json --lane 0 2>werr || :; } &&
	every_line_json werr && test "$(jq -r .level werr)" = error
'

test_expect_failure_exit 'an unknown log format is a usage error' 64 '
	sailsync-writer -c sailsync.json --lane 0 --log-format xml
'

test_expect_success 'supervised stages log in JSON with start --log-format json' '
	SAILSYNC_LOG_MAX=100000000 stages sailsync.json start --mappers 1 --log-format json &&
	wait_for 10 test -s sup-sailsync/writer-0.log &&
	wait_for 10 test -s sup-sailsync/mapper-1.log &&
	pid=$(stage_pid sailsync.json mapper-1) &&
	stages sailsync.json kill mapper-1 &&
	wait_for 10 grep -q "mapper-1 exited" sup-sailsync/mapper-1.log &&
	wait_for 10 sh -c "test \"\$(cat sup-sailsync/mapper-1.child)\" != $pid" &&
	every_line_json sup-sailsync/writer-0.log &&
	every_line_json sup-sailsync/mapper-1.log &&
	stages sailsync.json stop
'

test_expect_success 'the supervisor rotates a log past SAILSYNC_LOG_MAX, keeping SAILSYNC_LOG_KEEP' '
	cp sailsync.json rot.json &&
	SAILSYNC_LOG_MAX=400 SAILSYNC_LOG_KEEP=2 SAILSYNC_LOG_CHECK_S=1 \
		stages rot.json start --mappers 1 &&
	stages rot.json status | grep -q "^logs running" &&
	for i in 1 2 3 4 5 6; do
		pid=$(stage_pid rot.json mapper-1) &&
		stages rot.json kill mapper-1 &&
		wait_for 10 sh -c "test -s sup-rot/mapper-1.child &&
			test \"\$(cat sup-rot/mapper-1.child)\" != $pid" || exit 1
		sleep 0.3
	done &&
	wait_for 10 test -s sup-rot/mapper-1.log.2 &&
	! test -e sup-rot/mapper-1.log.3 &&
	every_line_text sup-rot/mapper-1.log.1 &&
	grep -q "mapper-1 exited 137; restarting" sup-rot/mapper-1.log.* &&
	: the stage goes on writing into the emptied file &&
	stages rot.json kill mapper-1 &&
	wait_for 10 grep -q "exited 137" sup-rot/mapper-1.log &&
	every_line_text sup-rot/mapper-1.log &&
	stages rot.json stop &&
	stages rot.json status | grep -qx "no stage running"
'

test_done
