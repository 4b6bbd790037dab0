#!/bin/sh
# tests/t/0601-fetcher-sources.sh: sailsync-fetcher's sources beyond one
# export: export URLs that keep expiring, JSON-lines files, lanes routed by
# the normalized link value, a big export parsed in bounded memory.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Main"}],
 "users": [{"email": "a@x.org", "lists": ["Main"]}, {"email": "b@x.org", "lists": ["Main"]}]}
JSON
# Every export URL has expired by the time it is fetched.
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 --url-ttl-s 0 || exit 1

cat >"$SCRATCH/sailsync.json" <<EOF
{
  "store": {"path": "store", "properties": {
    "email": {"type": "text", "unique": true}, "name": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0", "ipc://run/lane-1", "ipc://run/lane-2"],
    "state_dir": "state", "batch_rows": 3},
  "connections": [
    {"name": "acme", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "timezone": "UTC",
     "base_url": "$SIM_URL",
     "goals": [{"name": "members", "type": "import", "lists": ["Main"],
       "link": {"column": "Email", "property": "email"}}]},
    {"name": "people", "api_key": "x", "secret": "y", "timezone": "UTC",
     "goals": [{"name": "crm", "type": "file", "path": "people.jsonl", "format": "jsonl",
       "link": {"column": "email", "property": "email"}}]},
    {"name": "big", "api_key": "x", "secret": "y", "timezone": "UTC",
     "goals": [{"name": "bulk", "type": "file", "path": "big.csv", "format": "csv",
       "link": {"column": "email", "property": "email"}}]}]
}
EOF
mkdir -p "$SCRATCH/run"

test_expect_success 'an export URL that keeps expiring: new jobs, then the list fails' '
	test_expect_code 2 sailsync-fetcher -c sailsync.json run acme --users file:a.cap \
		--summary-json a.json 2>err &&
	cat err &&
	test "$(grep -c "export job started" err)" = 4 &&
	test "$(grep -c "export URL expired run=" err)" = 4 &&
	jq -r ".goals[0].parts[0].error" a.json | grep -q "gave up after 4 export jobs" &&
	test "$(jq -r ".goals[0].reasons.list_failed" a.json)" = 2
'

printf '%s\n' '{"email":" Ann@X.org ","name":"Ann"}' '' '{"email":"ann@x.org","tags":["a"]}' \
	'not json' '{"email":["bob@x.org"]}' '{"name":"no email"}' >"$SCRATCH/people.jsonl"

test_expect_success 'JSON lines: one row per non-blank line, cols ["json"], line numbers kept' '
	sailsync-fetcher -c sailsync.json run people --users file:p.cap --summary-json p.json 2>err &&
	test "$(jq -r ".goals[0].parts[0].rows" p.json)" = 5 &&
	mkusers dump file:p.cap >dump &&
	grep "^seq=" dump | sed "s/^seq=[0-9]* //" | sort >lines &&
	printf "line=1 vals=1\nline=3 vals=1\nline=4 vals=1\nline=5 vals=1\nline=6 vals=1\n" >want &&
	cmp lines want
'

test_expect_success 'the same normalized email goes to the same lane; no link to lane 0' '
	awk "/^users/ { l = \$3 } /^seq=/ { print l, \$2 }" dump >lanes &&
	cat lanes &&
	l1=$(grep " line=1$" lanes | cut -d" " -f1) &&
	l3=$(grep " line=3$" lanes | cut -d" " -f1) &&
	test "$l1" = "$l3" &&
	test "$(grep " line=4$" lanes | cut -d" " -f1)" = lane=0 &&
	test "$(grep " line=6$" lanes | cut -d" " -f1)" = lane=0
'

test_expect_success 'a 200,000-row file streams in order with contiguous sequence numbers' '
	awk "BEGIN { print \"email,name\"; for (i = 0; i < 200000; i++) printf \"u%d@x.org,\\\"N, %d\\\"\\n\", i, i }" >big.csv &&
	sailsync-fetcher -c sailsync.json run big --users file:b.cap --summary-json b.json 2>err &&
	test "$(jq -r ".goals[0].parts[0].rows" b.json)" = 200000 &&
	mkusers dump file:b.cap | awk "
		/^users/ { split(\$3, a, \"=\"); lane = a[2]; split(\$4, f, \"=\"); first = f[2];
			if (first != next_[lane] + 1) { print \"gap in lane \" lane; bad = 1 } }
		/^seq=/ { split(\$1, s, \"=\"); next_[lane] = s[2]; n++ }
		/^end/ { split(\$3, a, \"=\"); split(\$NF, t, \"=\"); if (t[2] != next_[a[2]]) { print \"end total wrong\"; bad = 1 } }
		END { if (n != 200000) { print \"rows \" n; bad = 1 } exit bad }"
'

test_done
