#!/bin/sh
# tests/t/0600-fetcher-sim.sh: sailsync-fetcher against the simulator, with
# USERS written to a capture: what it sends, failed lists, authorization,
# job errors, cut downloads, run ids, file goals, interruption and resume.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Newsletter", "type": "normal"}, {"name": "VIP"}, {"name": "Empty"}],
 "users": [{"email": "Ann@Example.com", "vars": {"first_name": "Ann"},
            "lists": ["Newsletter", "VIP"]},
           {"email": "bob@example.com", "vars": {"first_name": "Bob, \"B\""},
            "lists": ["Newsletter"]},
           {"email": "carl@example.com", "vars": {"first_name": "Carl\nII"},
            "lists": ["VIP"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 100 || exit 1

# conf FILE SECRET LISTS: a configuration with connections acme (import
# goal over LISTS), other (the same) and off (disabled), and a file goal.
conf() {
	cat >"$SCRATCH/$1" <<EOF
{
  "store": {"path": "store", "properties": {
    "email": {"type": "text", "unique": true},
    "name": {"type": "text"}, "lists": {"type": "text", "multi": true}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0", "ipc://run/lane-1"], "state_dir": "state",
    "batch_rows": 2, "resend_ms": 200},
  "connections": [
    {"name": "acme", "api_key": "$SIM_KEY", "secret": "$2", "timezone": "UTC",
     "base_url": "$SIM_URL", "poll_cap_s": 20,
     "goals": [{"name": "members", "type": "import", "lists": $3,
       "list_property": "lists", "link": {"column": "Email", "property": "email"},
       "mappings": [{"column": "first_name", "property": "name"}]}]},
    {"name": "other", "api_key": "$SIM_KEY", "secret": "$2", "timezone": "UTC",
     "base_url": "$SIM_URL",
     "goals": [{"name": "members", "type": "import", "lists": ["VIP"],
       "link": {"column": "Email", "property": "email"}}]},
    {"name": "off", "enabled": false, "api_key": "$SIM_KEY", "secret": "$2",
     "timezone": "UTC", "base_url": "$SIM_URL",
     "goals": [{"name": "members", "type": "import", "lists": ["VIP"],
       "link": {"column": "Email", "property": "email"}}]},
    {"name": "local", "api_key": "x", "secret": "y", "timezone": "UTC",
     "goals": [{"name": "crm", "type": "file", "path": "people.csv", "format": "csv",
       "link": {"column": "email", "property": "email"},
       "mappings": [{"column": "name", "property": "name"}]}]}]
}
EOF
}
mkdir -p "$SCRATCH/run"
conf sailsync.json "$SIM_SECRET" '["Newsletter", "VIP"]'
conf unknown.json "$SIM_SECRET" '["Newsletter", "Nope", "VIP"]'
conf badsecret.json wrong-secret '["Newsletter"]'
conf onelist.json "$SIM_SECRET" '["Newsletter"]'

sim() {
	curl -s -o /dev/null -w '%{http_code}' -X POST "$SIM_URL/_sim/$1" -d "$2" | grep -q 200
}

test_expect_success 'configuration check' '
	sailsync-fetcher -c sailsync.json -n &&
	sailsync-fetcher -c sailsync.json -n run acme
'

test_expect_failure_exit 'an unknown connection is a configuration error' 78 '
	sailsync-fetcher -c sailsync.json run nobody
'

test_expect_failure_exit 'a disabled connection refuses to run' 78 '
	sailsync-fetcher -c sailsync.json run off 2>err &&
	cat err; grep -q "connection off is disabled" err && exit 78
'

test_expect_failure_exit 'usage errors exit 64' 64 '
	sailsync-fetcher -c sailsync.json walk acme
'

test_expect_success 'a run writes every list member, numbered per lane, to the capture' '
	sailsync-fetcher -c sailsync.json run acme --users file:users.cap \
		--summary-json sum.json >out 2>err &&
	test -f users.cap && ! test -e users.cap.tmp &&
	mkusers dump file:users.cap >dump &&
	grep "^users " dump | sort >batches &&
	test "$(grep -c "^seq=" dump)" = 4 &&
	test "$(jq -r .status sum.json)" = ok &&
	test "$(jq -r ".goals[0].parts | map(.rows) | add" sum.json)" = 4 &&
	test "$(jq -r ".goals[0].parts[0].list" sum.json)" = Newsletter &&
	grep -q "^run $(jq -r .run sum.json) connection acme: ok" out &&
	grep -q "^end run=$(jq -r .run sum.json) lane=0 .* total=" dump &&
	run=$(jq -r .run sum.json) &&
	test -f state/acme/runs/$run.json &&
	test "$(jq -r .run.state state/acme/ledger.json)" = done &&
	test "$(jq -r .status state/acme/runs/$run.json)" = ok &&
	! ls state/acme/spool | grep -q . &&
	! grep -q "$SIM_SECRET" err out state/acme/ledger.json
'

test_expect_success 'the capture carries the exported values, quotes and newlines intact' '
	sailsync-mapper -c sailsync.json --in file:users.cap --out file:patches.cap 2>/dev/null &&
	mkusers dump file:patches.cap >pd &&
	grep -q "email:ann@example.com" pd &&
	grep -q "set name='"'"'Bob, \"B\"'"'"'" pd &&
	grep -q "add lists='"'"'VIP'"'"'" pd &&
	grep -A1 "set name='"'"'Carl$" pd | grep -q "^II'"'"'" &&
	test "$(grep -c "email:ann@example.com" pd)" = 2
'

test_expect_success 'both rows of one email land in the same lane, in order' '
	awk "/^patches/ { l = \$3 } /email:ann@example.com/ { print l }" pd >lanes &&
	test "$(wc -l <lanes)" = 2 && test "$(sort -u lanes | wc -l)" = 1
'

test_expect_success 'run ids are unique across connections' '
	sailsync-fetcher -c sailsync.json run other --users file:o.cap --summary-json o.json 2>/dev/null &&
	sailsync-fetcher -c sailsync.json run acme --users file:a2.cap --summary-json a2.json 2>/dev/null &&
	a=$(jq -r .run sum.json) && o=$(jq -r .run o.json) && a2=$(jq -r .run a2.json) &&
	test "$a" != "$o" && test "$o" != "$a2" && test "$a" != "$a2"
'

test_expect_success 'an unknown list fails alone; the others are imported (exit 1)' '
	test_expect_code 1 sailsync-fetcher -c unknown.json run acme --users file:u.cap \
		--summary-json u.json >out 2>err &&
	cat err &&
	test "$(jq -r .status u.json)" = partial &&
	test "$(jq -r ".goals[0].parts[1].error" u.json)" = "list \"Nope\": unknown list" &&
	test "$(jq -r ".goals[0].parts[1].status" u.json)" = failed &&
	test "$(jq -r ".goals[0].parts[2].rows" u.json)" = 2 &&
	test "$(mkusers dump file:u.cap | grep -c "^seq=")" = 4 &&
	grep -q "list \"Nope\": failed: list \"Nope\": unknown list" out
'

test_expect_failure_exit 'a wrong secret exits 77 and names the endpoint' 77 '
	sailsync-fetcher -c badsecret.json run acme --users file:b.cap 2>err
	rc=$?
	cat err
	grep -q "authorization failed for list" err || exit 1
	! grep -q wrong-secret err || exit 1
	! test -e b.cap || exit 1
	exit $rc
'

test_expect_success 'a job that ends in error fails its only list (exit 2) with the job message' '
	sim fault "{\"kind\":\"job_error\",\"count\":4}" &&
	test_expect_code 2 sailsync-fetcher -c onelist.json run acme --users file:j.cap \
		--summary-json j.json 2>err &&
	cat err &&
	test "$(jq -r .status j.json)" = failed &&
	jq -r ".goals[0].parts[0].error" j.json | grep -q "export job failed: .* (4 jobs)$" &&
	test "$(grep -c "export job failed, starting another" err)" = 3
'

test_expect_success 'a job that fails once is retried inside the run; the list is imported' '
	sim fault "{\"kind\":\"job_error\"}" &&
	sailsync-fetcher -c onelist.json run acme --users file:jr.cap --summary-json jr.json 2>err &&
	test "$(grep -c "export job failed, starting another .*attempt=1" err)" = 1 &&
	test "$(jq -r .status jr.json)" = ok &&
	test "$(jq -r ".goals[0].parts[0].rows" jr.json)" = 2
'

test_expect_success 'a cut download is resumed and the rows are all there' '
	sim fault "{\"endpoint\":\"download\",\"kind\":\"cut\",\"fraction\":0.5}" &&
	sailsync-fetcher -c onelist.json run acme --users file:c.cap --summary-json c.json 2>err &&
	test "$(jq -r .status c.json)" = ok &&
	test "$(jq -r ".goals[0].parts[0].rows" c.json)" = 2 &&
	test "$(mkusers dump file:c.cap | grep -c "^seq=")" = 2
'

printf '\357\273\277email,name,name\r\na@x.org,"A, a",dup\r\nb@x.org,B\r\n"c@x.org","C\r\nc",z\r\n\r\n' \
	>"$SCRATCH/people.csv"

test_expect_success 'a file goal: quirks parsed, the ragged row skipped and counted' '
	sailsync-fetcher -c sailsync.json run local --users file:f.cap --summary-json f.json 2>err &&
	test "$(jq -r ".goals[0].parts[0].rows" f.json)" = 2 &&
	test "$(jq -r ".goals[0].reasons.ragged_row" f.json)" = 1 &&
	test "$(jq -r ".goals[0].skipped" f.json)" = 1 &&
	grep -q "row skipped .* row=3 reason=ragged_row fields=2 expected=3" err &&
	mkusers dump file:f.cap | grep "^seq=" | sed "s/^seq=[0-9]* //" | sort >rows &&
	printf "line=2 vals=2\nline=4 vals=2\n" >want && cmp rows want
'

test_expect_failure_exit 'SIGTERM while waiting for acks: checkpoint, exit 75' 75 '
	rm -f run/users run/acks
	sailsync-fetcher -c sailsync.json run local --no-progress 2>err &
	pid=$!
	wait_for 10 grep -q "all parts read" err
	kill -TERM $pid
	wait $pid
	rc=$?
	cat err
	grep -q "interrupted; rerun to resume" err || exit 1
	test "$(jq -r .run.state state/local/ledger.json)" = streaming || exit 1
	exit $rc
'

test_expect_success 'a rerun resumes the same run' '
	before=$(jq -r .run.id state/local/ledger.json) &&
	sailsync-fetcher -c sailsync.json run local --users file:r.cap --summary-json r.json 2>err &&
	cat err &&
	test "$(jq -r .run r.json)" = "$before" &&
	grep -q "run resumed run=$before" err
'

test_expect_failure_exit 'a file changed under an interrupted run fails it (65)' 65 '
	sailsync-fetcher -c sailsync.json run local --no-progress 2>err &
	pid=$!
	wait_for 10 grep -q "all parts read" err
	kill -TERM $pid; wait $pid
	echo "d@x.org,D,d" >>people.csv
	sailsync-fetcher -c sailsync.json run local --users file:x.cap 2>err2
	rc=$?
	cat err2
	grep -q "file changed since run" err2 || exit 1
	test "$(jq -r .run.state state/local/ledger.json)" = failed || exit 1
	exit $rc
'

test_expect_success 'after a failed run the next one starts afresh' '
	sailsync-fetcher -c sailsync.json run local --users file:y.cap --summary-json y.json 2>err &&
	test "$(jq -r ".goals[0].parts[0].rows" y.json)" = 3
'

test_done
