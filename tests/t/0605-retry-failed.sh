#!/bin/sh
# tests/t/0605-retry-failed.sh: `run --retry-failed` redoes only the lists
# of the last run that failed, in that run: the lists that were imported
# are not read again, so a `sum` column counts each row once, and the
# run's record ends `ok` under the same run id.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Main", "type": "normal"}, {"name": "Extra", "type": "normal"}],
 "users": [{"email": "ann@x.org", "vars": {"score": 5}, "lists": ["Main", "Extra"]},
           {"email": "bob@x.org", "vars": {"score": 7}, "lists": ["Main"]},
           {"email": "cid@x.org", "vars": {"score": 3}, "lists": ["Extra"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

cat >"$SCRATCH/r.json" <<JSON
{
  "store": {"path": "store", "commit_ms": 20,
    "properties": {"email": {"type": "text", "unique": true}, "score": {"type": "number"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state", "resend_ms": 300},
  "connections": [{"name": "rt", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
    "base_url": "$SIM_URL",
    "goals": [{"name": "members", "type": "import", "lists": ["Main", "Extra"],
      "create_profiles": true, "link": {"column": "Email", "property": "email"},
      "mappings": [{"column": "score", "property": "score", "rule": "sum"}]}]}]
}
JSON
mkdir -p "$SCRATCH/run"

# score EMAIL: the profile's score.
score() {
	sailsync-writer -c r.json show "email=$1" | jq ".properties.score"
}

test_expect_success 'a run whose second list fails every export job: partial, exit 1' '
	stages r.json start --mappers 1 &&
	sim_fault "{\"kind\": \"job_error\", \"nth\": 2, \"count\": 4}" &&
	test_expect_code 1 stages r.json run rt --no-progress --summary-json r1.sum \
		>/dev/null 2>r1.err &&
	jq -e ".run == 1 and .status == \"partial\"" r1.sum &&
	jq -e ".goals[0].parts[0].status == \"ok\" and .goals[0].parts[1].status == \"failed\"" r1.sum &&
	test "$(score ann@x.org)" = 5 && test "$(score bob@x.org)" = 7
'

test_expect_success '--retry-failed imports only Extra, in run 1; Main is not counted twice' '
	stages r.json run rt --retry-failed --no-progress --summary-json r2.sum \
		>r2.out 2>r2.err &&
	grep -q "run retried run=1 connection=rt lists=1 retry=1" r2.err &&
	jq -e ".run == 1 and .status == \"ok\" and .retries == 1" r2.sum &&
	jq -e "[.goals[0].parts[].status] == [\"ok\", \"ok\"]" r2.sum &&
	jq -e ".goals[0].created == 3 and .goals[0].updated == 1" r2.sum &&
	test "$(score ann@x.org)" = 10 &&
	test "$(score bob@x.org)" = 7 &&
	test "$(score cid@x.org)" = 3
'

test_expect_success 'the history holds run 1 once, now ok' '
	test "$(ls state/rt/runs | wc -l)" = 1 &&
	jq -e ".run == 1 and .status == \"ok\" and .retries == 1" state/rt/runs/1.json &&
	sailsync-fetcher -c r.json runs rt --json | jq -e "[.runs[].run] == [1] and .runs[0].status == \"ok\""
'

test_expect_success 'a second --retry-failed has nothing to do and changes nothing' '
	stages r.json run rt --retry-failed --no-progress >r3.out 2>r3.err &&
	grep -q "nothing to retry run=1" r3.err &&
	test "$(score ann@x.org)" = 10 &&
	test "$(ls state/rt/runs | wc -l)" = 1
'

test_done
