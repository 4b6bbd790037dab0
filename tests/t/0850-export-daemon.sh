#!/bin/sh
# The long-lived exporter: a run sends EXPORT_REQUEST on pipeline.export
# after its imports and waits for one EXPORT_RESULT per export goal on
# pipeline.export_results; the supervisor runs the exporter when
# pipeline.export is set.  SIGKILL of the exporter mid-export: the
# supervisor restarts it, the run resends, the restarted exporter resumes,
# and the run ends as an undisturbed one.  An exporter with state of its
# own (another host): the run's summary and record get every figure from
# the EXPORT_RESULT messages alone.
. "$(dirname "$0")/../lib.sh"

{
	printf '{"lists": [{"name": "Newsletter", "type": "normal"}], "users": ['
	i=0
	while [ $i -lt 30 ]; do
		[ $i -gt 0 ] && printf ','
		printf '{"email": "u%d@example.com", "lists": ["Newsletter"]}' $i
		i=$((i + 1))
	done
	printf ']}\n'
} >"$SCRATCH/seed.json"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 --rate-window-s 1 || exit 1

cat >"$SCRATCH/x.json" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}},
    "segments": {"all": {"all": [{"property": "email", "exists": true}]}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks", "lanes": ["ipc://run/lane-0"],
               "state_dir": "fetcher", "export_state": "exporter",
               "export": "ipc://run/export", "export_results": "ipc://run/export-results"},
  "connections": [
   {"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [
     {"name": "members", "type": "import", "lists": ["Newsletter"], "create_profiles": true,
      "link": {"column": "Email", "property": "email"}},
     {"name": "back", "type": "export", "segment": "all", "link": {"property": "email", "key": "email"},
      "lists": ["Back"], "mappings": [{"var": "synced", "source": "text", "text": "yes"}]}]}]
}
JSON

back() { curl -sf "$SIM_URL/_sim/state" | jq -c "[.lists[] | select(.name == \"Back\") | .members[]] | length"; }
posts() { curl -sf "$SIM_URL/_sim/state" | jq ".counters[\"POST user\"] // 0"; }

test_expect_success 'the exporter serves a run: imports, then the exports through it' '
	stages x.json start --mappers 1 &&
	stages x.json status | grep -q "exporter running" &&
	wait_for 10 grep -q "exporter ready" sup-x/exporter.log &&
	stages x.json run st --no-progress --summary-json r1.sum >r1.out 2>r1.err &&
	cat r1.out &&
	jq -e ".status == \"ok\" and .goals[1].type == \"export\" and .goals[1].exported == 30" r1.sum &&
	jq -e ".goals[1].unique == 30 and (.goals[1].last | length) == 5" r1.sum &&
	grep -q "export requested connection=st" r1.err &&
	test "$(back)" = 30
'

test_expect_success 'SIGKILL of the exporter mid-export: the run resends; the restarted one resumes' '
	curl -sf -X POST -d "{\"endpoint\": \"user\", \"method\": \"POST\", \"limit\": 5}" \
		"$SIM_URL/_sim/rate" >/dev/null &&
	p0=$(posts) &&
	background run stages x.json run st --no-progress --summary-json r2.sum &&
	wait_for 60 sh -c "test \$(curl -sf $SIM_URL/_sim/state | jq \".counters[\\\"POST user\\\"] // 0\") -ge $((p0 + 6))" &&
	xpid=$(stage_pid x.json exporter) &&
	kill -KILL "$xpid" &&
	wait_for 90 sh -c "! kill -0 $(cat run.pid)" &&
	cat run.out &&
	test "$(stage_pid x.json exporter)" != "$xpid" &&
	grep -q "resuming export goal=back" sup-x/exporter.log &&
	jq -e ".status == \"ok\" and .goals[1].exported == 30 and .goals[1].unique == 30" r2.sum &&
	test "$(back)" = 30
'

test_expect_success 'an exporter on another host: its results carry every figure' '
	jq ".pipeline.export = \"ipc://run/export-h\" | .pipeline.export_results = \"ipc://run/export-results-h\"" \
		x.json >h-common.json &&
	jq ".pipeline.export_state = \"exporter-h\"" h-common.json >h.json &&
	jq ".pipeline.export_state = \"driver-host\"" h-common.json >d.json &&
	background xh sailsync-exporter -c h.json &&
	wait_for 10 grep -q "exporter ready" xh.log &&
	sailsync-fetcher -c d.json run st --no-progress --summary-json r3.sum >r3.out 2>r3.err &&
	cat r3.out &&
	test ! -e driver-host/results &&
	ls exporter-h/results/st-*.cap &&
	jq -e ".status == \"ok\" and .goals[1].type == \"export\" and .goals[1].exported == 30" r3.sum &&
	jq -e ".goals[1].unique == 30 and (.goals[1].last | length) == 5 and .goals[1].selected == 30" r3.sum &&
	jq -e ".goals[1].mode == \"user\" and .goals[1].error == null and .goals[1].removed == 0" r3.sum &&
	grep -q "^goal back: exported 30 (users created 0), removed 0, skipped 0, failed 0; unique profiles 30" r3.out &&
	grep -q "^  last exported: " r3.out &&
	run=$(jq .run r3.sum) &&
	jq -e ".goals[1].exported == 30 and .goals[1].unique == 30" fetcher/st/runs/$run.json &&
	captool dump "exporter-h/results/st-$run.cap" >rec.txt &&
	cat rec.txt &&
	grep -q "^export_result run=$run .*goal_result=back .*exported=30 .*selected=30 .*mode=user" rec.txt
'

test_done
