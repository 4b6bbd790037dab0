#!/bin/sh
# A run of a connection with import and export goals: the imports first,
# then the exports, which see what the imports wrote; one summary and one
# run record with both.  SIGKILL of the exporter in the middle of the
# run's exports, then a rerun: the run resumes at its exports without
# importing again, and ends as an undisturbed run (its imports' rows
# included, kept in the ledger).
. "$(dirname "$0")/../lib.sh"

{
	printf '{"lists": [{"name": "Newsletter", "type": "normal"}], "users": ['
	i=0
	while [ $i -lt 40 ]; do
		[ $i -gt 0 ] && printf ','
		printf '{"email": "u%d@example.com", "vars": {"plan": "%s"}, "lists": ["Newsletter"]}' \
			$i "$([ $((i % 2)) -eq 0 ] && echo pro || echo free)"
		i=$((i + 1))
	done
	printf ']}\n'
} >"$SCRATCH/seed.json"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 --rate-window-s 1 || exit 1

cat >"$SCRATCH/x.json" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "plan": {"type": "text"}},
    "segments": {"pro": {"all": [{"property": "plan", "equals": "pro"}]}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks", "lanes": ["ipc://run/lane-0"],
               "state_dir": "fetcher", "export_state": "exporter"},
  "connections": [
   {"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [
     {"name": "members", "type": "import", "lists": ["Newsletter"], "create_profiles": true,
      "link": {"column": "Email", "property": "email"},
      "mappings": [{"column": "plan", "property": "plan", "rule": "set"}]},
     {"name": "pros", "type": "export", "segment": "pro", "link": {"property": "email", "key": "email"},
      "lists": ["Pro"], "mappings": [{"var": "tier", "source": "text", "text": "pro"}]}]}]
}
JSON

pros() { curl -sf "$SIM_URL/_sim/state" | jq -c "[.lists[] | select(.name == \"Pro\") | .members[]] | length"; }

test_expect_success 'one run imports, then exports what it imported' '
	stages x.json start --mappers 1 &&
	stages x.json run st --no-progress --summary-json r1.sum >r1.out 2>r1.err &&
	cat r1.out &&
	jq -e ".status == \"ok\" and (.goals | length) == 2" r1.sum &&
	jq -e ".goals[0].name == \"members\" and .goals[0].created == 40" r1.sum &&
	jq -e ".goals[1].name == \"pros\" and .goals[1].type == \"export\" and .goals[1].exported == 20" r1.sum &&
	jq -e ".goals[1].unique == 20 and .goals[1].reasons == {}" r1.sum &&
	grep -q "^goal pros: exported 20" r1.out &&
	run=$(jq .run r1.sum) &&
	jq -e ".goals[1].exported == 20" fetcher/st/runs/$run.json &&
	test "$(pros)" = 20 &&
	curl -sf "$SIM_URL/_sim/state" | jq -e "[.users[] | select(.vars.tier == \"pro\")] | length == 20"
'

test_expect_success 'SIGKILL of the exporter mid-run: the rerun resumes at the exports' '
	curl -sf -X POST -d "{\"endpoint\": \"user\", \"method\": \"POST\", \"limit\": 5}" \
		"$SIM_URL/_sim/rate" >/dev/null &&
	p0=$(curl -sf "$SIM_URL/_sim/state" | jq ".counters[\"POST user\"] // 0") &&
	background run stages x.json run st --no-progress --summary-json r2.sum &&
	wait_for 60 grep -q "exporter started pid=" run.log &&
	xpid=$(sed -n "s/.*exporter started pid=\([0-9]*\).*/\1/p" run.log | head -n 1) &&
	wait_for 30 sh -c "test \$(curl -sf $SIM_URL/_sim/state | jq \".counters[\\\"POST user\\\"] // 0\") -ge $((p0 + 6))" &&
	kill -KILL "$xpid" &&
	wait_for 30 sh -c "! kill -0 $(cat run.pid)" &&
	grep -q "exporter killed signal=9" run.log &&
	test ! -s r2.sum &&
	jobs0=$(curl -sf "$SIM_URL/_sim/state" | jq ".counters[\"POST job\"]") &&
	stages x.json run st --no-progress --summary-json r3.sum >r3.out 2>r3.err &&
	cat r3.out &&
	grep -q "run resumed run=.* state=exporting" r3.err &&
	test "$(curl -sf "$SIM_URL/_sim/state" | jq ".counters[\"POST job\"]")" = "$jobs0" &&
	jq -e ".status == \"ok\" and .goals[1].exported == 20 and .goals[1].unique == 20" r3.sum &&
	jq -e ".goals[0].name == \"members\"" r3.sum &&
	jq -e ".rows == 40 and .goals[0].parts[0].rows == 40 and .goals[0].parts[0].status == \"ok\"" r3.sum &&
	grep -q "^  list \"Newsletter\": 40 rows" r3.out &&
	run=$(jq .run r3.sum) &&
	jq -e ".rows == 40 and .goals[0].parts[0].rows == 40" fetcher/st/runs/$run.json &&
	test "$(pros)" = 20
'

test_expect_success 'SIGKILL of the run driver mid-export stops the exporter; the rerun finishes' '
	curl -sf -X POST -d "{\"endpoint\": \"user\", \"method\": \"POST\", \"limit\": 2}" \
		"$SIM_URL/_sim/rate" >/dev/null &&
	p0=$(curl -sf "$SIM_URL/_sim/state" | jq ".counters[\"POST user\"] // 0") &&
	background run2 stages x.json run st --no-progress --summary-json r4.sum &&
	wait_for 60 grep -q "exporter started pid=" run2.log &&
	xpid=$(sed -n "s/.*exporter started pid=\([0-9]*\).*/\1/p" run2.log | head -n 1) &&
	dpid=$(ps -o ppid= -p "$xpid" | tr -d " ") &&
	grep -q "sailsync-fetcher" /proc/$dpid/cmdline &&
	wait_for 30 sh -c "test \$(curl -sf $SIM_URL/_sim/state | jq \".counters[\\\"POST user\\\"] // 0\") -ge $((p0 + 2))" &&
	kill -KILL "$dpid" &&
	wait_for 30 sh -c "! kill -0 $xpid" &&
	grep -q "interrupted; rerun to resume connection=st" run2.log &&
	stages x.json run st --no-progress --summary-json r5.sum >r5.out 2>r5.err &&
	grep -q "resuming export goal=pros" r5.err &&
	jq -e ".status == \"ok\" and .goals[1].exported == 20 and .goals[1].unique == 20" r5.sum &&
	test "$(pros)" = 20
'

test_expect_success 'an export-only connection runs through the same command' '
	jq ".connections[0].goals |= map(select(.type == \"export\"))" x.json >e.json &&
	stages e.json run st --no-progress --summary-json e.sum >e.out 2>e.err &&
	cat e.out &&
	jq -e ".status == \"ok\" and (.goals | length) == 1 and .goals[0].exported == 20" e.sum
'

test_done
