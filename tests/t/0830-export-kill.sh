#!/bin/sh
# SIGKILL of the exporter in the middle of an export, then a rerun: the
# same Sailthru state and the same counts as an undisturbed run; and a 429
# storm on POST /user that the exporter waits out.
. "$(dirname "$0")/../lib.sh"

printf '{"lists": [{"name": "All", "type": "normal"}], "users": []}\n' >"$SCRATCH/seed.json"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 --rate-window-s 1 || exit 1

i=0
: >"$SCRATCH/crm.jsonl"
while [ $i -lt 60 ]; do
	echo "{\"email\": \"u$i@example.com\", \"n\": $i}" >>"$SCRATCH/crm.jsonl"
	i=$((i + 1))
done

cat >"$SCRATCH/x.json" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "n": {"type": "number"}},
    "segments": {"all": {"all": [{"property": "email", "exists": true}]}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks", "lanes": ["ipc://run/lane-0"],
               "state_dir": "fetcher", "export_state": "exporter"},
  "connections": [
   {"name": "files", "api_key": "x", "secret": "x", "goals": [
     {"name": "crm", "type": "file", "path": "crm.jsonl", "create_profiles": true,
      "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "n", "property": "n"}]}]},
   {"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [{"name": "all", "type": "export", "segment": "all", "create_users": true,
               "link": {"property": "email", "key": "email"}, "lists": ["All"],
               "mappings": [{"var": "n", "source": "property", "property": "n"}]}]}]
}
JSON

users() {
	curl -sf "$SIM_URL/_sim/state" |
	jq -c "[.users[] | {e: .keys.email, n: .vars.n, l: .lists}] | sort_by(.e)"
}
expected() {
	i=0
	while [ $i -lt 60 ]; do
		echo "{\"e\": \"u$i@example.com\", \"n\": $i, \"l\": [\"All\"]}"
		i=$((i + 1))
	done | jq -s -c "sort_by(.e)"
}

test_expect_success 'sixty profiles load' '
	stages x.json start --mappers 1 &&
	stages x.json run files --no-progress --summary-json f.sum >/dev/null &&
	jq -e ".goals[0].created == 60" f.sum
'

test_expect_success 'SIGKILL mid-export, rerun: same users, lists and counts as undisturbed' '
	curl -sf -X POST -d "{\"endpoint\": \"user\", \"method\": \"POST\", \"limit\": 10}" \
		"$SIM_URL/_sim/rate" >/dev/null &&
	background ex sailsync-exporter -c x.json run st &&
	wait_for 20 sh -c "curl -sf $SIM_URL/_sim/state | jq -e \".users | length >= 15\"" &&
	kill -KILL $(cat ex.pid) &&
	n=$(curl -sf "$SIM_URL/_sim/state" | jq ".users | length") &&
	echo "killed after $n users" &&
	test "$n" -lt 60 &&
	sailsync-exporter -c x.json run st --summary-json k.sum >k.out 2>k.err &&
	cat k.out &&
	grep -q "resuming export goal=all" k.err &&
	jq -e ".status == \"ok\" and .goals[0].exported == 60 and .goals[0].unique == 60" k.sum &&
	jq -e ".goals[0].created == 60 and .goals[0].skipped == 0 and .goals[0].failed == 0" k.sum &&
	test "$(users)" = "$(expected)"
'

test_expect_success 'a 429 storm on POST /user is waited out' '
	curl -sf -X POST "$SIM_URL/_sim/reset" >/dev/null &&
	sim_fault "{\"endpoint\": \"user\", \"method\": \"POST\", \"kind\": \"http429\", \"count\": 4}" &&
	sailsync-exporter -c x.json run st --summary-json r.sum >r.out 2>r.err &&
	jq -e ".status == \"ok\" and .goals[0].exported == 60 and .goals[0].unique == 60" r.sum &&
	test "$(users)" = "$(expected)"
'

test_done
