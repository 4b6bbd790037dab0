#!/bin/sh
# Configuration drift: the long-lived stages follow the configuration file.
# A mapping added to the file under a running pipeline is applied by the
# next run (through `sailsync run` and through the coordinator); a run
# whose fetcher loaded another configuration than the file now holds is
# refused by the mapper or the writer, unapplied and unacknowledged, and
# applied once whole when the file and the run agree again.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Main", "type": "normal"}],
 "users": [
  {"email": "ann@example.com", "vars": {"first_name": "Ann", "city": "Paris", "tier": "gold"},
   "lists": ["Main"], "opens": 3},
  {"email": "bob@example.com", "vars": {"first_name": "Bob", "city": "Oslo", "tier": "silver"},
   "lists": ["Main"], "opens": 1},
  {"email": "cid@example.com", "vars": {"first_name": "Cid", "city": "Rome", "tier": "gold"},
   "lists": ["Main"], "opens": 7}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 100 || exit 1

# conf FILE PROPS MAPPINGS [MERGE [WEBHOOK]]: PROPS and MAPPINGS are JSON
# text added after the built-in lists of properties and mappings.
MERGE='["email", "sailthru_profile_id"]'
conf() {
	cat >"$SCRATCH/$1" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true},
                   "first_name": {"type": "text"}, "opens": {"type": "number"}$2},
    "merge": ${4:-$MERGE}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
               "lanes": ["ipc://run/lane-0"], "state_dir": "state", "resend_ms": 500},
  "connections": [{"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
    "base_url": "$SIM_URL", "webhook": ${5:-null},
    "goals": [{"name": "members", "type": "import", "lists": ["Main"], "create_profiles": true,
               "link": {"column": "Email", "property": "email"},
               "mappings": [{"column": "first_name", "property": "first_name"},
                            {"column": "Opens", "property": "opens", "rule": "sum"}$3]}]}]
}
JSON
}
CITY=', "city": {"type": "text"}'
CITYMAP=', {"column": "city", "property": "city"}'
TIERS=', "tiers": {"type": "text", "multi": true}'
TIERMAP=', {"column": "tier", "property": "tiers", "rule": "add"}'
mkdir -p "$SCRATCH/run"
conf sailsync.json "" ""

# prop EMAIL PROP: the property's value in the store, as JSON ("null": none).
prop() { stages sailsync.json show "email=$1" | jq -c ".properties.$2"; }

test_expect_success 'the pipeline runs the first configuration' '
	stages sailsync.json start --mappers 1 &&
	wait_for 20 test -s sup-sailsync/coordinator.child &&
	stages sailsync.json run st --no-progress --summary-json r1.sum >/dev/null &&
	jq -e ".status == \"ok\" and .goals[0].created == 3" r1.sum &&
	test "$(prop ann@example.com city)" = null &&
	test "$(prop ann@example.com opens)" = 3
'

test_expect_success 'a mapping added under the running stages is applied by the next run' '
	conf sailsync.json "$CITY" "$CITYMAP" &&
	stages sailsync.json status | grep -q "^mapper-1 running" &&
	stages sailsync.json run st --no-progress --summary-json r2.sum >/dev/null &&
	jq -e ".status == \"ok\" and .goals[0].updated == 3" r2.sum &&
	test "$(prop ann@example.com city)" = "\"Paris\"" &&
	test "$(prop cid@example.com city)" = "\"Rome\"" &&
	test "$(prop ann@example.com opens)" = 6 &&
	grep -q "configuration reloaded .*for=mapper" sup-sailsync/mapper-1.log &&
	grep -q "configuration reloaded .*for=writer" sup-sailsync/writer-0.log
'

test_expect_success 'a run the coordinator starts reads the file as it is now' '
	conf sailsync.json "$CITY$TIERS" "$CITYMAP$TIERMAP" &&
	stages sailsync.json run-now st >/dev/null &&
	wait_for 60 sh -c "ls state/st/runs/*.json | wc -l | grep -qx 3" &&
	jq -s -e "map(.status == \"ok\") | all" state/st/runs/*.json &&
	test "$(prop ann@example.com tiers)" = "[\"gold\"]" &&
	test "$(prop bob@example.com tiers)" = "[\"silver\"]"
'

test_expect_success 'a notification setting is not part of any stage digest' '
	grep -h "configuration reloaded" sup-sailsync/mapper-1.log sup-sailsync/writer-0.log |
	    wc -l >n.before &&
	conf sailsync.json "$CITY$TIERS" "$CITYMAP$TIERMAP" "" "\"http://127.0.0.1:9/hook\"" &&
	sailsync-fetcher -c sailsync.json run st --no-progress --summary-json r4.sum \
	    >/dev/null 2>r4.log &&
	jq -e ".status == \"ok\" and .goals[0].updated == 3" r4.sum &&
	grep -h "configuration reloaded" sup-sailsync/mapper-1.log sup-sailsync/writer-0.log |
	    wc -l >n.after &&
	cmp n.before n.after
'

# run_under FILE NAME: a run whose fetcher loaded FILE (beside sailsync.json,
# so every relative path is the same) while the stages follow sailsync.json.
run_under() {
	background "$2" sailsync-fetcher -c "$1" run st --no-progress --summary-json "$2.sum"
}

test_expect_success 'a run made under another mapping is refused by the mapper, not applied' '
	stages sailsync.json dump >before.dump &&
	conf older.json "$CITY" "$CITYMAP" &&
	run_under older.json r5 &&
	wait_for 30 grep -q "refused batch" sup-sailsync/mapper-1.log &&
	grep "refused batch" sup-sailsync/mapper-1.log | tail -n 1 >refusal &&
	cat refusal &&
	theirs=$(sed -n "s/.*made under configuration \([0-9a-f]*\) .*/\1/p" refusal) &&
	ours=$(sed -n "s/.*this mapper has \([0-9a-f]*\);.*/\1/p" refusal) &&
	file=$(sed -n "s/.*sailsync.json has \([0-9a-f]*\):.*/\1/p" refusal) &&
	test ${#theirs} = 16 && test ${#ours} = 16 &&
	test "$theirs" != "$ours" && test "$file" = "$ours" &&
	grep -q "the run started under another configuration; stop the run" refusal &&
	sleep 2 &&
	kill -0 "$(cat r5.pid)" &&
	stages sailsync.json dump >during.dump &&
	cmp before.dump during.dump
'

test_expect_success 'once the file has the run configuration again, the run is applied once' '
	cp older.json sailsync.json &&
	wait_for 60 sh -c "! kill -0 $(cat r5.pid) 2>/dev/null" &&
	jq -e ".status == \"ok\" and .goals[0].updated == 3 and .goals[0].skipped == 0" r5.sum &&
	test "$(prop ann@example.com opens)" = 15 &&
	test "$(prop bob@example.com opens)" = 5
'

test_expect_success 'a run made under other merge rules is refused by the writer alone' '
	stages sailsync.json dump >before.dump &&
	conf merge.json "$CITY" "$CITYMAP" "[\"email\"]" &&
	n=$(grep -c "refused batch" sup-sailsync/mapper-1.log) &&
	run_under merge.json r7 &&
	wait_for 30 grep -q "refused batch.*writer" sup-sailsync/writer-0.log &&
	grep "refused batch" sup-sailsync/writer-0.log | tail -n 1 &&
	test "$(grep -c "refused batch" sup-sailsync/mapper-1.log)" = "$n" &&
	sleep 1 &&
	stages sailsync.json dump >during.dump &&
	cmp before.dump during.dump &&
	cp merge.json sailsync.json &&
	wait_for 60 sh -c "! kill -0 $(cat r7.pid) 2>/dev/null" &&
	jq -e ".status == \"ok\" and .goals[0].updated == 3" r7.sum &&
	test "$(prop ann@example.com opens)" = 18
'

test_expect_success 'a file that does not load: refused with the loader error, then applied' '
	printf "{\"store\": \n" >sailsync.json &&
	conf other.json "" "" "[\"email\"]" &&
	run_under other.json r8 &&
	wait_for 30 grep -q "refused batch.*does not load now" sup-sailsync/mapper-1.log &&
	cp other.json sailsync.json &&
	wait_for 60 sh -c "! kill -0 $(cat r8.pid) 2>/dev/null" &&
	jq -e ".status == \"ok\" and .goals[0].updated == 3" r8.sum &&
	test "$(prop ann@example.com opens)" = 21
'

# The long-lived exporter follows the file too: EXPORT_REQUEST carries the
# digest of the connection's export part.
xconf() {
	cat >"$SCRATCH/x.json" <<JSON
{
  "store": {"path": "xstore",
    "properties": {"email": {"type": "text", "unique": true}},
    "segments": {"all": {"all": [{"property": "email", "exists": true}]}}},
  "pipeline": {"users": "ipc://xrun/users", "acks": "ipc://xrun/acks", "lanes": ["ipc://xrun/lane-0"],
               "state_dir": "xstate", "export_state": "xexporter",
               "export": "ipc://xrun/export", "export_results": "ipc://xrun/export-results"},
  "connections": [
   {"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [
     {"name": "members", "type": "import", "lists": ["Main"], "create_profiles": true,
      "link": {"column": "Email", "property": "email"}},
     {"name": "back", "type": "export", "segment": "all", "link": {"property": "email", "key": "email"},
      "mappings": [{"var": "synced", "source": "text", "text": "$1"}$2]}]}]
}
JSON
}
# var EMAIL NAME: the Sailthru user's var, as JSON.
var() {
	curl -sf "$SIM_URL/_sim/state" |
	    jq -c ".users[] | select(.keys.email == \"$1\") | .vars.$2"
}
mkdir -p "$SCRATCH/xrun"

test_expect_success 'the long-lived exporter exports under the file it started with' '
	xconf one "" &&
	stages x.json start --mappers 1 &&
	wait_for 10 grep -q "exporter ready" sup-x/exporter.log &&
	stages x.json run st --no-progress --summary-json x1.sum >/dev/null &&
	jq -e ".status == \"ok\" and .goals[1].exported == 3" x1.sum &&
	test "$(var ann@example.com synced)" = "\"one\""
'

test_expect_success 'an export mapping changed under it is applied by the next run' '
	xconf two ", {\"var\": \"tag\", \"source\": \"text\", \"text\": \"new\"}" &&
	stages x.json run st --no-progress --summary-json x2.sum >/dev/null &&
	jq -e ".status == \"ok\" and .goals[1].exported == 3" x2.sum &&
	test "$(var ann@example.com synced)" = "\"two\"" &&
	test "$(var cid@example.com tag)" = "\"new\"" &&
	grep -q "configuration reloaded .*for=exporter" sup-x/exporter.log
'

test_expect_success 'an export request made under another configuration waits, unanswered, until they agree' '
	cp x.json xnew.json &&
	xconf three "" && mv x.json xold.json && cp xnew.json x.json &&
	background x3 sailsync-fetcher -c xold.json run st --no-progress --summary-json x3.sum &&
	wait_for 30 grep -q "refused batch.*exporter" sup-x/exporter.log &&
	grep "refused batch" sup-x/exporter.log | tail -n 1 | grep -q "the exporter.s part), this exporter has" &&
	sleep 1 && kill -0 "$(cat x3.pid)" &&
	test "$(var ann@example.com synced)" = "\"two\"" &&
	cp xold.json x.json &&
	wait_for 60 sh -c "! kill -0 $(cat x3.pid) 2>/dev/null" &&
	jq -e ".status == \"ok\" and .goals[1].exported == 3" x3.sum &&
	test "$(var ann@example.com synced)" = "\"three\""
'

test_expect_success 'a capture made under another configuration: its replay is refused (exit 65)' '
	conf cap.json "$CITY" "$CITYMAP" "[\"email\"]" &&
	sed -e "s/\"store\",/\"capstore\",/" -e "s/\"state\"/\"capstate\"/" cap.json >capx.json &&
	mv capx.json cap.json &&
	sailsync-fetcher -c cap.json run st --no-progress --users file:users.cap >/dev/null 2>&1 &&
	cp cap.json capmade.json &&
	conf cap.json "" "" "[\"email\"]" &&
	sed -e "s/\"store\",/\"capstore\",/" -e "s/\"state\"/\"capstate\"/" cap.json >capx.json &&
	mv capx.json cap.json &&
	test_expect_code 65 sailsync-mapper -c cap.json --in file:users.cap \
	    --out file:patches.cap 2>replay.err &&
	grep -q "refused batch" replay.err &&
	grep -q "replay refused batches=" replay.err &&
	cp capmade.json cap.json &&
	sailsync-mapper -c cap.json --in file:users.cap --out file:patches.cap &&
	cp cap.json patchesmade.json &&
	conf cap.json "$CITY" "$CITYMAP" &&
	sed -e "s/\"store\",/\"capstore\",/" -e "s/\"state\"/\"capstate\"/" cap.json >capx.json &&
	mv capx.json cap.json &&
	test_expect_code 65 sailsync-writer -c cap.json --lane 0 --in file:patches.cap \
	    --acks none 2>wreplay.err &&
	grep -q "refused batch.*writer" wreplay.err &&
	sailsync-writer -c cap.json dump >none.dump && test ! -s none.dump &&
	cp patchesmade.json cap.json &&
	sailsync-writer -c cap.json --lane 0 --in file:patches.cap --acks none &&
	sailsync-writer -c cap.json dump | wc -l | grep -qx 3
'

test_done
