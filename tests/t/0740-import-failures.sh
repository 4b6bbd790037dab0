#!/bin/sh
# What goes wrong on the Sailthru side, through the whole pipeline: an
# unknown list, a wrong secret, a job that ends in error, a 429 storm, a
# download cut half-way, and connections that must refuse to run.
. "$(dirname "$0")/../lib.sh"

gen-seed --users 300 --lists "Newsletter,VIP" --seed 3 >"$SCRATCH/seed.json"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 --rate-window-s 2 || exit 1
members=$(jq '[.users[] | select(.lists | index("Newsletter"))] | length' "$SCRATCH/seed.json")

# conf NAME SECRET LISTS [EXTRA]: one import goal over LISTS (a JSON array).
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "store-$1",
    "properties": {"email": {"type": "text", "unique": true}, "first_name": {"type": "text"}}},
  "pipeline": {"users": "ipc://run-$1/users", "acks": "ipc://run-$1/acks",
               "lanes": ["ipc://run-$1/lane-0"], "state_dir": "fetcher-$1", "resend_ms": 1000},
  "connections": [{"name": "st", "api_key": "$SIM_KEY", "secret": "$2", "base_url": "$SIM_URL" ${4:-},
    "goals": [{"name": "members", "type": "import", "lists": $3, "create_profiles": true,
               "link": {"column": "Email", "property": "email"},
               "mappings": [{"column": "first_name", "property": "first_name", "rule": "set"}]}]}]
}
JSON
}

conf unknown "$SIM_SECRET" '["Newsletter", "Nope"]'
conf badkey "not-the-secret" '["Newsletter"]'
conf joberr "$SIM_SECRET" '["Newsletter"]'
conf storm "$SIM_SECRET" '["Newsletter", "VIP"]'
conf cut "$SIM_SECRET" '["Newsletter"]'
conf off "$SIM_SECRET" '["Newsletter"]' ', "enabled": false'

test_expect_success 'an unknown list fails that list; the others are imported' '
	stages unknown.json start --mappers 1 &&
	test_expect_code 1 stages unknown.json run st --no-progress --summary-json unknown.sum \
		>unknown.out 2>unknown.err
'

test_expect_success '... and the summary says which and why' '
	jq -e ".status == \"partial\"" unknown.sum &&
	jq -e "[.goals[0].parts[] | select(.status == \"failed\") | .list] == [\"Nope\"]" unknown.sum &&
	jq -r ".goals[0].parts[] | select(.list == \"Nope\") | .error" unknown.sum | grep -qi "unknown list" &&
	test "$(stages unknown.json dump | wc -l)" -eq "'$members'"
'

test_expect_failure_exit 'a wrong secret is an authorization failure (exit 77)' 77 '
	stages badkey.json start --mappers 1 &&
	stages badkey.json run st --no-progress >badkey.out 2>badkey.err
'

test_expect_success '... that names the endpoint and never the secret' '
	grep -qi "authorization failed for" badkey.err &&
	! grep -q "not-the-secret" badkey.err badkey.out &&
	! grep -rq "not-the-secret" fetcher-badkey sup-badkey
'

test_expect_success 'an export job that ends in error fails its list' '
	sim_fault "{\"kind\": \"job_error\", \"count\": 4}" &&
	stages joberr.json start --mappers 1 &&
	test_expect_code 2 stages joberr.json run st --no-progress --summary-json joberr.sum \
		>/dev/null 2>joberr.err
'

test_expect_success '... with the job error in the summary' '
	jq -e ".goals[0].parts[0].status == \"failed\" and (.goals[0].parts[0].error | length) > 0" joberr.sum
'

test_expect_success 'a 429 storm slows the run down but loses nothing' '
	curl -sf -X POST -d "{\"endpoint\": \"job\", \"method\": \"GET\", \"limit\": 2}" "$SIM_URL/_sim/rate" &&
	curl -sf -X POST -d "{\"endpoint\": \"job\", \"method\": \"POST\", \"limit\": 1}" "$SIM_URL/_sim/rate" &&
	stages storm.json start --mappers 1 &&
	stages storm.json run st --no-progress --summary-json storm.sum >/dev/null 2>storm.err &&
	jq -e ".status == \"ok\"" storm.sum &&
	grep -q "pacing method=POST endpoint=job" storm.err &&
	test "$(stages storm.json dump | wc -l)" -eq "$(jq ".users | length" seed.json)"
'

test_expect_success 'a download cut half-way resumes and imports every row' '
	curl -sf -X POST -d "{\"endpoint\": \"job\", \"method\": \"GET\", \"limit\": 1000}" "$SIM_URL/_sim/rate" &&
	curl -sf -X POST -d "{\"endpoint\": \"job\", \"method\": \"POST\", \"limit\": 1000}" "$SIM_URL/_sim/rate" &&
	sim_fault "{\"endpoint\": \"download\", \"kind\": \"cut\", \"fraction\": 0.5}" &&
	stages cut.json start --mappers 1 &&
	stages cut.json run st --no-progress --summary-json cut.sum >/dev/null 2>cut.err &&
	jq -e ".status == \"ok\" and .goals[0].created == '$members'" cut.sum &&
	grep -q "download interrupted, resuming" cut.err &&
	test "$(stages cut.json dump | wc -l)" -eq "'$members'"
'

test_expect_failure_exit 'a disabled connection refuses to run' 78 '
	sailsync-fetcher -c off.json run st --no-progress 2>off.err
'

test_expect_success '... and says so in one line' '
	grep -qi "disabled" off.err && test "$(wc -l <off.err)" -eq 1
'

test_expect_failure_exit 'a connection with no goal refuses to run' 78 '
	jq ".connections[0].goals = []" cut.json >nogoal.json &&
	sailsync-fetcher -c nogoal.json run st --no-progress 2>nogoal.err
'

test_expect_success '... and says so in one line' '
	grep -q "has no import, file or export goal" nogoal.err && test "$(wc -l <nogoal.err)" -eq 1
'

test_done
