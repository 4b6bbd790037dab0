#!/bin/sh
# tests/t/0745-bad-exports.sh: exports that are not what they claim to be.
# A quote left open at the end, an HTML error page, an empty file and a
# header without the link column each fail their list with a reason; a run
# where every list failed exits 2, apart from "some lists failed" (1); a
# mapping column the export lacks is a warning in the summary.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Good"}, {"name": "Open"}, {"name": "Html"}, {"name": "Zero"},
           {"name": "NoLink"}],
 "users": []}
JSON
printf 'Profile Id,Email,first_name\n000000000000000000000001,a@x.org,Ann\n000000000000000000000002,b@x.org,Bea\n' \
	>"$SCRATCH/good.csv"
printf 'Profile Id,Email,first_name\n000000000000000000000003,c@x.org,Cy\n000000000000000000000004,d@x.org,"Dee\n000000000000000000000005,e@x.org,Eve\n000000000000000000000006,f@x.org,Fay\n' \
	>"$SCRATCH/open.csv"
printf '<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>\n' >"$SCRATCH/html.csv"
: >"$SCRATCH/zero.csv"
printf 'Profile Id,first_name\n000000000000000000000007,Gus\n' >"$SCRATCH/nolink.csv"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 \
	--export-file "Good=$SCRATCH/good.csv" --export-file "Open=$SCRATCH/open.csv" \
	--export-file "Html=$SCRATCH/html.csv" --export-file "Zero=$SCRATCH/zero.csv" \
	--export-file "NoLink=$SCRATCH/nolink.csv" || exit 1

# conf FILE LISTS: one import goal over LISTS, mapping first_name and a
# column no export has.
conf() {
	cat >"$SCRATCH/$1" <<JSON
{
  "store": {"path": "store", "properties": {"email": {"type": "text", "unique": true},
    "name": {"type": "text"}, "score": {"type": "number"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state"},
  "connections": [{"name": "bx", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
    "base_url": "$SIM_URL",
    "goals": [{"name": "members", "type": "import", "lists": $2,
      "link": {"column": "Email", "property": "email"},
      "mappings": [{"column": "first_name", "property": "name"},
                   {"column": "loyalty_score", "property": "score", "rule": "sum"}]}]}]
}
JSON
}
mkdir -p "$SCRATCH/run"
conf mixed.json '["Good", "Open", "Html", "Zero", "NoLink"]'
conf allbad.json '["Html", "Zero", "NoLink"]'

# part FILE LIST FIELD: a field of LIST's part in summary FILE.
part() {
	jq -r ".goals[0].parts[] | select(.list == \"$2\") | .$3" "$1"
}

test_expect_success 'bad exports fail their lists; the good one is imported (exit 1)' '
	test_expect_code 1 sailsync-fetcher -c mixed.json run bx --users file:m.cap \
		--summary-json m.json >out 2>err &&
	cat out &&
	test "$(jq -r .status m.json)" = partial &&
	test "$(part m.json Good status)" = ok &&
	test "$(part m.json Good rows)" = 2 &&
	test "$(part m.json Open status)" = failed &&
	test "$(part m.json Html status)" = failed &&
	test "$(part m.json Zero status)" = failed &&
	test "$(part m.json NoLink status)" = failed
'

test_expect_success 'a quote open at the end: the rows after it are not one field' '
	part m.json Open error | grep -q "record 3: a quoted field is still open at the end of the file" &&
	test "$(part m.json Open rows)" = 1 &&
	mkusers dump file:m.cap >dump &&
	test "$(grep -c "^seq=" dump)" = 3 &&
	! grep -q "Eve" dump
'

test_expect_success 'an HTML page, an empty export, a missing link column: each named' '
	part m.json Html error | grep -q "not CSV .*HTML page.*no link column \"Email\"" &&
	part m.json Zero error | grep -q "the export is empty: no header row" &&
	part m.json NoLink error | grep -q "header has no link column \"Email\"" &&
	grep -q "list \"Html\": failed: " out &&
	grep -q "part failed .*list=NoLink" err
'

test_expect_success 'a mapping column the export lacks is a warning in the summary' '
	part m.json Good warning | grep -qx "mapping column not in the export: \"loyalty_score\"" &&
	grep -q "list \"Good\": warning: mapping column not in the export: \"loyalty_score\"" out &&
	grep -q "mapping column missing .*list=Good columns=" err &&
	test "$(part m.json Html warning)" = null
'

test_expect_success 'a run where every list failed exits 2 and says failed' '
	test_expect_code 2 sailsync-fetcher -c allbad.json run bx --users file:a.cap \
		--summary-json a.json >out 2>err &&
	test "$(jq -r .status a.json)" = failed &&
	run=$(jq -r .run a.json) &&
	grep -q "^run $run connection bx: failed" out &&
	test "$(jq -r .status state/bx/runs/$run.json)" = failed
'

# The coordinator runs the same code in a child: its record and its log
# carry the status and the exit code (1 partial, 2 every list failed).
# A run writes its record before it exits, and the coordinator logs the
# exit code once it has reaped it: each log line is waited for.
cat >"$SCRATCH/coord.json" <<JSON
{
  "store": {"path": "cstore", "properties": {"email": {"type": "text", "unique": true}}},
  "pipeline": {"users": "ipc://run/cusers", "acks": "ipc://run/cacks",
    "lanes": ["ipc://run/clane-0"], "state_dir": "cstate"},
  "connections": [
    {"name": "half", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
     "goals": [{"name": "members", "type": "import", "lists": ["Good", "Html"],
       "create_profiles": true, "link": {"column": "Email", "property": "email"}}]},
    {"name": "none", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
     "goals": [{"name": "members", "type": "import", "lists": ["Zero", "NoLink"],
       "create_profiles": true, "link": {"column": "Email", "property": "email"}}]}]
}
JSON

test_expect_success 'through the coordinator: partial ends with exit 1, every list failed with 2' '
	stages coord.json start --mappers 1 &&
	wait_for 20 test -s sup-coord/coordinator.child &&
	stages coord.json run-now half && stages coord.json run-now none &&
	wait_for 60 sh -c "ls cstate/half/runs/*.json cstate/none/runs/*.json" &&
	jq -e ".status == \"partial\" and .trigger == \"manual\"" cstate/half/runs/*.json &&
	jq -e ".status == \"failed\"" cstate/none/runs/*.json &&
	wait_for 20 grep -q "run ended connection=none exit=2" sup-coord/coordinator.log &&
	wait_for 20 grep -q "run ended connection=half exit=1" sup-coord/coordinator.log &&
	test "$(sailsync-writer -c coord.json dump --no-ids 2>/dev/null | grep -c "a@x.org")" = 1
'

test_done
