#!/bin/sh
# tests/t/0902-coord-history.sh: every run leaves a record: failed (the key
# is refused), refused (a disabled connection, by run and by run-now),
# abandoned (the goals changed under an interrupted run), ok; the history
# is bounded by pipeline.history; one run shows its last profiles readably.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Newsletter", "type": "normal"}, {"name": "VIP", "type": "normal"}],
 "users": [{"email": "ann@example.com", "vars": {"first_name": "Ann"}, "lists": ["Newsletter"]},
           {"email": "bob@example.com", "vars": {"first_name": "Bob"}, "lists": ["Newsletter", "VIP"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 2000 || exit 1

# conf LISTS HISTORY
conf() {
	cat >"$SCRATCH/sailsync.json" <<JSON
{
  "store": {"path": "store", "properties": {
    "email": {"type": "text", "unique": true}, "first_name": {"type": "text"},
    "lists": {"type": "text", "multi": true}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state", "resend_ms": 500,
    "history": $2},
  "connections": [
    {"name": "acme", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
     "base_url": "$SIM_URL", "timezone": "Australia/Sydney",
     "goals": [{"name": "members", "type": "import", "lists": $1, "create_profiles": true,
       "list_property": "lists", "link": {"column": "Email", "property": "email"},
       "mappings": [{"column": "first_name", "property": "first_name"}]}]},
    {"name": "bad", "api_key": "$SIM_KEY", "secret": "not-the-secret",
     "base_url": "$SIM_URL",
     "goals": [{"name": "members", "type": "import", "lists": ["VIP"],
       "link": {"column": "Email", "property": "email"}}]},
    {"name": "off", "enabled": false, "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
     "base_url": "$SIM_URL",
     "goals": [{"name": "members", "type": "import", "lists": ["VIP"],
       "link": {"column": "Email", "property": "email"}}]}]
}
JSON
}
mkdir -p "$SCRATCH/run"
conf '["Newsletter"]' 100

test_expect_failure_exit 'a run whose key is refused exits 77' 77 '
	sailsync-fetcher -c sailsync.json run bad --users file:bad.cap
'

test_expect_success '... and is recorded as failed, with the reason' '
	f=$(ls state/bad/runs/*.json) && test $(echo "$f" | wc -l) -eq 1 &&
	cat $f &&
	jq -e ".status == \"failed\" and .trigger == \"manual\" and
	    (.error | test(\"authorization failed\")) and (.duration_ms >= 0)" $f &&
	jq -e ".run.state == \"failed\"" state/bad/ledger.json
'

test_expect_failure_exit 'a disabled connection refuses to run (78)' 78 '
	sailsync-fetcher -c sailsync.json run off
'

test_expect_success 'run-now of the disabled connection: the coordinator records it refused' '
	background coord sailsync-fetcher -c sailsync.json coordinator &&
	sailsync-fetcher -c sailsync.json run-now off &&
	wait_for 30 sh -c "ls state/off/runs/*.json | wc -l | grep -qx 2" &&
	kill -TERM $(cat coord.pid) && wait_for 30 sh -c "! kill -0 $(cat coord.pid)" &&
	jq -s -e "length == 2 and all(.status == \"refused\" and
	    .error == \"the connection is disabled\" and .goals == [])" state/off/runs/*.json &&
	sailsync-fetcher -c sailsync.json runs off >off.txt && cat off.txt &&
	grep -q "^disabled: runs are refused" off.txt &&
	test $(grep -c " refused .*the connection is disabled" off.txt) -eq 2
'

test_expect_success 'an interrupted run whose lists changed is recorded abandoned' '
	background r1 sailsync-fetcher -c sailsync.json run acme --users file:a.cap &&
	wait_for 20 grep -q "export job started" r1.log &&
	kill -TERM $(cat r1.pid) && wait_for 20 sh -c "! kill -0 $(cat r1.pid)" &&
	grep -q "interrupted; rerun to resume" r1.log &&
	old=$(jq .last_run state/acme/ledger.json) &&
	conf "[\"Newsletter\", \"VIP\"]" 100 &&
	sailsync-fetcher -c sailsync.json run acme --users file:b.cap >r2.out 2>r2.log &&
	grep -q "run $old abandoned" r2.log &&
	jq -e ".status == \"abandoned\" and .run == $old and
	    (.error | test(\"goals, lists or lanes changed\"))" state/acme/runs/$old.json &&
	new=$(jq .last_run state/acme/ledger.json) && test $new -gt $old &&
	jq -e ".status == \"ok\"" state/acme/runs/$new.json
'

test_expect_success 'runs --json lists failed, refused and abandoned with their errors' '
	sailsync-fetcher -c sailsync.json runs acme --json >acme.json &&
	jq -e "[.runs[].status] == [\"ok\", \"abandoned\"]" acme.json &&
	jq -e ".runs[1].error | test(\"changed\")" acme.json &&
	sailsync-fetcher -c sailsync.json runs bad --json | jq -e ".runs[0].status == \"failed\""
'

test_expect_success 'the history is bounded by pipeline.history' '
	conf "[\"Newsletter\", \"VIP\"]" 2 &&
	sailsync-fetcher -c sailsync.json run acme --users file:c.cap >/dev/null 2>&1 &&
	sailsync-fetcher -c sailsync.json run acme --users file:d.cap >/dev/null 2>&1 &&
	last=$(jq .last_run state/acme/ledger.json) &&
	ls state/acme/runs && test $(ls state/acme/runs/*.json | wc -l) -eq 2 &&
	test -e state/acme/runs/$last.json && test -e state/acme/runs/$((last - 1)).json
'

test_expect_success 'one run shows its last profiles: identifier and the properties it changed' '
	stages sailsync.json start --mappers 1 --no-coordinator &&
	sailsync-fetcher -c sailsync.json run acme --no-progress >full.out 2>full.err &&
	id=$(jq .last_run state/acme/ledger.json) &&
	sailsync-fetcher -c sailsync.json runs acme $id >one.txt && cat one.txt &&
	grep -q "^run $id of connection acme: ok (trigger manual)" one.txt &&
	grep -q "^  goal members: created 2, updated 1" one.txt &&
	grep -q "^  last 2 created or updated profiles of goal members:" one.txt &&
	grep -q "^    [0-9a-f]\{16\}  email \"ann@example.com\", sailthru_profile_id \"[0-9a-f]\{24\}\"$" one.txt &&
	grep -q "^    [0-9a-f]\{16\}  email \"bob@example.com\", sailthru_profile_id \"[0-9a-f]\{24\}\"$" one.txt &&
	: created: every property it set &&
	grep -q "^      first_name: \"Ann\"$" one.txt &&
	grep -q "^      email: \"ann@example.com\"$" one.txt &&
	: bob, created from Newsletter, then VIP added: the last change is the list &&
	grep -q "^      lists: \\[\"Newsletter\",\"VIP\"\\]$" one.txt &&
	test $(grep -c "^      first_name:" one.txt) -eq 1
'

test_expect_success 'the next run shows only what it changed, with the new values' '
	test "$(api POST user "{\"id\":\"ann@example.com\",\"vars\":{\"first_name\":\"Annie\"}}")" = 200 &&
	sailsync-fetcher -c sailsync.json run acme --no-progress >full2.out 2>full2.err &&
	id=$(jq .last_run state/acme/ledger.json) &&
	sailsync-fetcher -c sailsync.json runs acme $id >two.txt && cat two.txt &&
	grep -q "^  goal members: created 0, updated 1, unchanged 2" two.txt &&
	grep -q "^  last 1 created or updated profiles of goal members:" two.txt &&
	grep -q "^    [0-9a-f]\{16\}  email \"ann@example.com\", sailthru_profile_id" two.txt &&
	grep -q "^      first_name: \"Annie\"$" two.txt &&
	test $(grep -c "^      " two.txt) -eq 1 &&
	: the same as JSON, and the earlier run still says what it did &&
	sailsync-fetcher -c sailsync.json runs acme $id --json >two.json &&
	jq -e "(.goals[0].last_changes | length) == 1 and
	    .goals[0].last_changes[0].id == .goals[0].last[0] and
	    .goals[0].last_changes[0].identifier.email == \"ann@example.com\" and
	    .goals[0].last_changes[0].changed == {\"first_name\": \"Annie\"}" two.json &&
	sailsync-fetcher -c sailsync.json runs acme $((id - 1)) >one-again.txt &&
	grep -q "^      first_name: \"Ann\"$" one-again.txt
'

test_expect_failure_exit 'runs of an unknown run id' 65 '
	sailsync-fetcher -c sailsync.json runs acme 999999
'

test_done
