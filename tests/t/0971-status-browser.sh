#!/bin/sh
# tests/t/0971-status-browser.sh: the status page in a real browser
# (headless Chromium through tests/tools/browser.py): sign in, press Run
# now, the queued run appears, then the finished run and what it changed
# on which profile.  With SAILSYNC_SHOTS
# set the screenshots are kept there (tests/tools/status-shots.sh).
. "$(dirname "$0")/../lib.sh"

command -v chromium >/dev/null || { echo "1..0 # SKIP chromium is not installed"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

TOKEN=tok-7d0e9c41b2a85f36
SHOTS=${SAILSYNC_SHOTS:-$SCRATCH/shots}
mkdir -p "$SCRATCH/run" "$SHOTS"
printf 'email,name\nann@example.com,Ann\nbob@example.com,Bob\n' >"$SCRATCH/people.csv"
umask 077
printf '%s\n' "$TOKEN" >"$SCRATCH/token"
umask 022
cat >"$SCRATCH/sailsync.json" <<'JSON'
{
  "store": {"path": "store", "properties": {"email": {"type": "text", "unique": true},
    "name": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state"},
  "status": {"listen": "127.0.0.1:0", "token_file": "token"},
  "connections": [{"name": "local", "api_key": "x", "secret": "y",
     "goals": [{"name": "crm", "type": "file", "path": "people.csv",
       "create_profiles": true, "link": {"column": "email", "property": "email"},
       "mappings": [{"column": "name", "property": "name"}]}]}]
}
JSON

browse() { python3 "$SAILSYNC_TOP/tests/tools/browser.py" --shots "$SHOTS" "$@"; }

test_expect_success 'a first run is recorded' '
	stages sailsync.json start --mappers 1 --no-coordinator &&
	stages sailsync.json run local --no-progress >/dev/null 2>&1 &&
	test -f state/local/runs/1.json &&
	: the next run changes one property of one profile &&
	printf "email,name\nann@example.com,Ann\nbob@example.com,Robert\n" >people.csv
'

SAILSYNC_RUN=$SCRATCH/sup-sailsync spawn status sailsync-fetcher -c "$SCRATCH/sailsync.json" \
	status --port-file "$SCRATCH/status.port"
wait_for 10 test -s "$SCRATCH/status.port" || { echo "1..0 # SKIP status server did not start"; exit 0; }
URL="http://127.0.0.1:$(cat "$SCRATCH/status.port")"

test_expect_success 'Chromium signs in, presses Run now, and the queued run appears' '
	browse open "$URL/login?token=$TOKEN" \
		wait "document.querySelectorAll(\"#conn-local tr.run\").length == 1" \
		wait "!!document.querySelector(\"#run-now-local\")" \
		shot status-before \
		click "#run-now-local" \
		wait "location.pathname == \"/\" && document.querySelectorAll(\"#conn-local tr.queued-run\").length == 1" \
		print "document.querySelector(\"#conn-local tr.queued-run\").innerText" \
		shot status-queued >out 2>err &&
	grep -q "manual" out && grep -q "queued" out &&
	test "$(jq -r .trigger state/local/queue/*.json)" = manual
'

# The coordinator, started only now so that the queued row could be seen,
# takes the request, runs it and removes it.
test_expect_success 'once the run is done, the page shows it in the history' '
	background coord sailsync-fetcher -c sailsync.json coordinator &&
	wait_for 60 test -f state/local/runs/2.json &&
	wait_for 10 sh -c "! ls state/local/queue/*.json" &&
	jq -e ".trigger == \"manual\"" state/local/runs/2.json &&
	browse open "$URL/" \
		wait "document.querySelectorAll(\"#conn-local tr.run\").length == 2" \
		wait "document.querySelectorAll(\"#conn-local tr.queued-run\").length == 0" \
		print "document.querySelector(\"#conn-local tr.run\").innerText" \
		shot status-after \
		click "#conn-local tr.run a" \
		wait "document.title == \"run 2 of local\"" \
		print "[...document.querySelectorAll(\"table.last tr\")].slice(1).map(r => r.innerText.replace(/\\s+/g, \" \")).join(\" | \")" \
		shot run-2 \
		open "$URL/runs/local/1" \
		click "a.profile" \
		wait "document.querySelector(\"pre.profile\").innerText.includes(\"@example.com\")" \
		shot profile >out 2>err &&
	head -n 1 out | grep -q "^\"2" &&
	: run 2 changed one profile, one property: its row says so &&
	grep -F -q -- "email \\\"bob@example.com\\\" name: \\\"Robert\\\"\"" out &&
	grep -q "^\"[0-9a-f]\{16\} email " out &&
	! grep "ann@example.com" out &&
	for s in status-before status-queued status-after run-2 profile; do
		test "$(head -c 8 "$SHOTS/$s.png" | od -An -tx1 | tr -d " \n")" = 89504e470d0a1a0a || exit 1
	done
'

test_done
