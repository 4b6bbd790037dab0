#!/bin/sh
# tests/t/0970-status.sh: the status server (sailsync-fetcher status): the
# page and its JSON twin over real runs, run-now and its token, the run and
# profile views, /metrics scraped and parsed, configuration errors.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }

TOKEN=tok-5f1c0b8e2d9a4c37
mkdir -p "$SCRATCH/run"
printf 'email,name\nann@example.com,Ann\nbob@example.com,Bob\nbad-row\n' >"$SCRATCH/people.csv"
printf 'email,name\ncid@example.com,Cid <b>&amp;</b>\n' >"$SCRATCH/more.csv"
umask 077
printf '%s\n' "$TOKEN" >"$SCRATCH/token"
umask 022
cat >"$SCRATCH/sailsync.json" <<'EOF'
{
  "store": {"path": "store", "properties": {"email": {"type": "text", "unique": true},
    "name": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state"},
  "status": {"listen": "127.0.0.1:0", "token_file": "token"},
  "connections": [
    {"name": "local", "api_key": "x", "secret": "y",
     "goals": [{"name": "crm", "type": "file", "path": "people.csv",
       "create_profiles": true, "link": {"column": "email", "property": "email"},
       "mappings": [{"column": "name", "property": "name"}]}]},
    {"name": "other", "api_key": "x", "secret": "y",
     "goals": [{"name": "more", "type": "file", "path": "more.csv",
       "create_profiles": true, "link": {"column": "email", "property": "email"},
       "mappings": [{"column": "name", "property": "name"}]}]},
    {"name": "off", "enabled": false, "api_key": "x", "secret": "y"}]
}
EOF

test_expect_success 'two runs are recorded' '
	stages sailsync.json start --mappers 1 --no-coordinator &&
	stages sailsync.json run local --no-progress >/dev/null 2>&1 &&
	stages sailsync.json run other --no-progress >/dev/null 2>&1 &&
	ls state/local/runs/1.json state/other/runs/2.json
'

SAILSYNC_RUN=$SCRATCH/sup-sailsync spawn status sailsync-fetcher -c "$SCRATCH/sailsync.json" status --port-file "$SCRATCH/status.port"
wait_for 10 test -s "$SCRATCH/status.port" || { echo "1..0 # SKIP status server did not start"; exit 0; }
URL="http://127.0.0.1:$(cat "$SCRATCH/status.port")"

test_expect_success 'it listens on loopback only and says where' '
	grep -q "status: listening url=$URL/" status.log &&
	{ ss -ltn 2>/dev/null | grep ":$(cat status.port) " | grep -q "127.0.0.1:" ||
	! command -v ss >/dev/null; }
'

test_expect_success 'the JSON: on/off, runs, data exchange, queue' '
	curl -sf "$URL/api/status" >s.json &&
	test "$(jq -r ".connections | map(.name) | join(\",\")" s.json)" = local,other,off &&
	test "$(jq -r ".connections[2].enabled" s.json)" = false &&
	test "$(jq -r ".connections[0].runs[0].run" s.json)" = 1 &&
	test "$(jq -r ".connections[0].runs[0].status" s.json)" = ok &&
	test "$(jq -c ".connections[0].exchange" s.json)" = "[{\"goal\":\"crm\",\"unique\":2}]" &&
	test "$(jq -r ".connections[0].queued | length" s.json)" = 0 &&
	test "$(jq -r ".connections[0].last_success > 0" s.json)" = true &&
	test "$(jq -r ".connections[0].schedule" s.json)" = null
'

test_expect_success 'the page: a section per connection with its history table' '
	curl -sf "$URL/" >index.html &&
	grep -q "<section id=\"conn-local\"><h2>local <small class=\"ok\">on</small>" index.html &&
	grep -q "<section id=\"conn-off\"><h2>off <small class=\"failed\">off</small>" index.html &&
	grep -q "<a href=\"/runs/local/1\">1</a>" index.html &&
	grep -q "crm: created 2, updated 0, unchanged 0, skipped 1" index.html &&
	grep -q "<td>crm</td><td>2</td>" index.html &&
	: without the token there is no Run now button &&
	! grep -q "Run now</button>" index.html
'

test_expect_success 'a run view links its last profiles to the profile view, escaped' '
	curl -sf "$URL/runs/other/2" >run.html &&
	id=$(jq -r ".goals[0].last[0]" state/other/runs/2.json) &&
	grep -q "<a class=\"profile\" href=\"/profiles/$id\">$id</a>" run.html &&
	: its identifier and the properties the run changed, with their values &&
	grep -q "<td class=\"identifier\">email &quot;cid@example.com&quot;</td>" run.html &&
	grep -q "<td class=\"changed\">email: &quot;cid@example.com&quot;<br>name: &quot;Cid &lt;b&gt;&amp;amp;&lt;/b&gt;&quot;</td>" run.html &&
	curl -sf "$URL/api/connections/other/runs/2" |
		jq -e ".goals[0].last_changes[0].changed.name == \"Cid <b>&amp;</b>\"" &&
	curl -sf "$URL/profiles/$id" >p.html &&
	grep -q "cid@example.com" p.html &&
	grep -q "Cid &lt;b&gt;&amp;amp;&lt;/b&gt;" p.html && ! grep -q "<b>" p.html &&
	curl -sf "$URL/api/profiles/$id" | jq -e ".properties.name == \"Cid <b>&amp;</b>\"" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "$URL/profiles/00000000000000ff")" = 404 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "$URL/runs/local/99")" = 404
'

test_expect_success 'run now needs the token; with it the run is queued durably' '
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST "$URL/api/connections/local/run")" = 401 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Authorization: Bearer wrong-token-xxxxxx" \
		"$URL/api/connections/local/run")" = 401 &&
	! ls state/local/queue/*.json 2>/dev/null &&
	curl -sf -X POST -H "Authorization: Bearer $TOKEN" "$URL/api/connections/local/run" >q.json &&
	test "$(jq -r .queued q.json)" = true &&
	test "$(jq -r .trigger state/local/queue/*.json)" = manual &&
	curl -sf "$URL/api/status" | jq -e ".connections[0].queued[0].trigger == \"manual\"" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Authorization: Bearer $TOKEN" \
		"$URL/api/connections/off/run")" = 409 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Authorization: Bearer $TOKEN" \
		"$URL/api/connections/nope/run")" = 404 &&
	grep -q "status: run queued connection=local trigger=manual" status.log &&
	! grep -q "$TOKEN" status.log
'

test_expect_success 'the page: sign in sets a strict cookie; a foreign origin cannot press Run now' '
	curl -s -D h -o /dev/null "$URL/login?token=$TOKEN" &&
	grep -qi "^Set-Cookie: sailsync_token=$TOKEN; Path=/; HttpOnly; SameSite=Strict" h &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "$URL/login?token=nope")" = 401 &&
	curl -sf -b "sailsync_token=$TOKEN" "$URL/" | grep -q "id=\"run-now-local\">Run now</button>" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -b "sailsync_token=$TOKEN" \
		-H "Origin: http://evil.example" -X POST "$URL/connections/local/run")" = 403 &&
	test "$(ls state/local/queue | wc -l)" = 1
'

test_expect_success '/metrics parses as Prometheus text with the run figures' '
	curl -sf "$URL/metrics" >m.txt &&
	python3 "$SAILSYNC_TOP/tests/tools/promparse.py" m.txt >m.json &&
	test "$(jq -r ".sailsync_up[0].value" m.json)" = 1 &&
	test "$(jq -r ".sailsync_goal_rows[] | select(.labels.connection == \"local\" and
		.labels.outcome == \"created\") | .value" m.json)" = 2 &&
	test "$(jq -r ".sailsync_goal_rows[] | select(.labels.connection == \"local\" and
		.labels.outcome == \"skipped\") | .value" m.json)" = 1 &&
	test "$(jq -r ".sailsync_goal_profiles[] | select(.labels.goal == \"more\") | .value" m.json)" = 1 &&
	test "$(jq -r ".sailsync_runs_queued[] | select(.labels.connection == \"local\") | .value" m.json)" = 1 &&
	test "$(jq -r ".sailsync_runs_recorded[] | select(.labels.connection == \"other\") |
		.labels.status + \" \" + (.value|tostring)" m.json)" = "ok 1" &&
	jq -e ".sailsync_last_success_timestamp_seconds[] | select(.labels.connection == \"local\") |
		.value > 1700000000" m.json &&
	test "$(jq -r ".sailsync_run_duration_seconds_count[] | select(.labels.connection == \"local\") | .value" m.json)" = 1 &&
	test "$(jq -r "[.sailsync_stage_up[] | select(.labels.stage == \"writer-0\") | .value][0]" m.json)" = 1
'

test_expect_success 'stage liveness follows the supervisor' '
	stages sailsync.json stop &&
	! curl -sf "$URL/metrics" | grep -q "^sailsync_stage_up{stage=\"writer-0\"}"
'

test_expect_success 'SIGTERM stops the server' '
	kill -TERM "$(pid_of status)" &&
	wait_for 10 grep -q "status: stopped" status.log
'

test_expect_failure_exit 'a token file open to others is refused' 78 '
	cp token open-token && chmod 0644 open-token &&
	sed "s/\"token_file\": \"token\"/\"token_file\": \"open-token\"/" sailsync.json >open.json &&
	sailsync-fetcher -c open.json -n 2>err; rc=$?; cat err
	grep -q "open.json:6:[0-9]*: status.token_file: .*mode 0644 is too open" err || exit 2
	! grep -q "$TOKEN" err || exit 2
	exit $rc
'

test_expect_failure_exit 'listen must be an IPv4 HOST:PORT' 78 '
	sed "s/127.0.0.1:0/localhost:80/" sailsync.json >bad.json &&
	sailsync-fetcher -c bad.json -n 2>err; rc=$?; cat err
	grep -q "bad.json:6:[0-9]*: status.listen: \"localhost\" is not an IPv4 address" err || exit 2
	exit $rc
'

test_expect_failure_exit 'status without a status object is a configuration error' 78 '
	jq "del(.status)" sailsync.json >nostatus.json &&
	sailsync-fetcher -c nostatus.json status 2>err; rc=$?; cat err
	grep -q "status is not configured" err || exit 2
	exit $rc
'

test_done
