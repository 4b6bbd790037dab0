#!/bin/sh
# tests/t/0786-private-files.sh: what the stages create is private whatever
# the umask (the profiles are personal data); an error about base_url never
# shows the URL's password; `sailsync stop` during a run makes the waiting
# fetcher exit 75 at once, and so does a run the coordinator started.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

{
	echo "email,name"
	i=0
	while [ $i -lt 300 ]; do echo "u$i@x.org,N$i"; i=$((i + 1)); done
} >"$SCRATCH/people.csv"

# conf NAME [BASE_URL]
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "store-$1",
    "properties": {"email": {"type": "text", "unique": true}, "name": {"type": "text"}}},
  "pipeline": {"users": "ipc://run-$1/users", "acks": "ipc://run-$1/acks",
    "lanes": ["ipc://run-$1/lane-0"], "state_dir": "fetcher-$1", "resend_ms": 200,
    "batch_rows": 10},
  "connections": [{"name": "files", "api_key": "x", "secret": "x",
    "base_url": "${2:-https://api.sailthru.com}",
    "goals": [{"name": "crm", "type": "file", "path": "people.csv", "create_profiles": true,
      "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "name", "property": "name"}]}]}]
}
JSON
}
conf p
conf s
conf c
conf bad "ftp://ops:hunter2pass@example.com/"

# mode PATH: the permission bits, in octal.
mode() {
	stat -c %a "$1"
}

test_expect_success 'under umask 022, the store, state and sockets are private' '
	(umask 022 && stages p.json start --mappers 1 &&
	 stages p.json run files --no-progress >/dev/null 2>err) &&
	test "$(mode store-p)" = 700 &&
	test "$(mode store-p/lane-0)" = 700 &&
	test "$(mode store-p/lane-0/data.mdb)" = 600 &&
	test "$(mode store-p/lane-0/lock.mdb)" = 600 &&
	test "$(mode fetcher-p)" = 700 &&
	test "$(mode fetcher-p/files/ledger.json)" = 600 &&
	test "$(mode fetcher-p/files/runs/1.json)" = 600 &&
	test "$(mode run-p)" = 700 &&
	test "$(mode run-p/lane-0)" = 700 &&
	test "$(mode run-p/users)" = 700 &&
	test "$(mode sup-p)" = 700 &&
	test "$(mode sup-p/writer-0.log)" = 600
'

test_expect_success 'a base_url error does not show the password' '
	test_expect_code 78 sailsync-fetcher -c bad.json -n 2>err &&
	cat err &&
	grep -q "base_url: \"ftp://\*\*\*@example.com/\" is not an http:// or https:// URL" err &&
	! grep -q hunter2pass err
'

test_expect_success 'sailsync stop during a run: the fetcher exits 75 within seconds' '
	stages s.json start --mappers 1 &&
	{ stages s.json run files --no-progress --acks ipc://run-s/nowhere \
		>run.out 2>run.err & pid=$!; } &&
	wait_for 20 grep -q "all parts read" run.err &&
	stages s.json stop &&
	wait_for 10 eval "! kill -0 $pid" &&
	{ wait $pid; rc=$?; } &&
	test "$rc" = 75 &&
	grep -q "interrupted; rerun to resume" run.err
'

test_expect_success 'sailsync stop while a coordinator run waits: it ends 75 and is resumed later' '
	stages c.json start --mappers 1 &&
	wait_for 20 test -s sup-c/coordinator.child &&
	wait_for 20 test -s sup-c/mapper-1.child &&
	mp=$(stage_pid c.json mapper-1) &&
	kill -STOP "$mp" &&
	stages c.json run-now files &&
	wait_for 30 grep -q "resend lane=0 .*reason=stalled" sup-c/coordinator.log &&
	{ stages c.json stop >stop.out 2>&1 & sp=$!; } &&
	wait_for 10 grep -q "run interrupted connection=files" sup-c/coordinator.log &&
	grep -q "interrupted; rerun to resume" sup-c/coordinator.log &&
	kill -CONT "$mp" &&
	wait $sp &&
	! ls fetcher-c/files/runs/*.json 2>/dev/null &&
	test -e fetcher-c/files/queue/*.json &&
	stages c.json start --mappers 1 &&
	wait_for 60 sh -c "ls fetcher-c/files/runs/*.json" &&
	jq -e ".status == \"ok\" and .rows == 300" fetcher-c/files/runs/*.json &&
	test "$(sailsync-writer -c c.json dump --no-ids | grep -c "@x.org")" = 300
'

test_done
