#!/bin/sh
# tests/t/0201-retry.sh: the Sailthru client rides out 5xx, error 9, slow
# answers and a 429 storm, and gives up cleanly when a failure persists.
. "$(dirname "$0")/../lib.sh"

export SIM_SECRET
cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Main", "type": "normal"}],
 "users": [{"email": "ann@example.com", "vars": {"n": 1}, "lists": ["Main"]}]}
JSON
WINDOW_S=2
start_sim --seed "$SCRATCH/seed.json" --rate-window-s $WINDOW_S || exit 1

# window_over: waits until the simulator's rate window (aligned on
# multiples of WINDOW_S epoch seconds) that holds the present second has
# ended, so the next call starts a fresh one.
window_over() {
	now=$(date +%s)
	end=$((now - now % WINDOW_S + WINDOW_S))
	wait_for 10 sh -c "test \$(date +%s) -ge $end"
}

cli() {
	sailthru-cli --base "$SIM_URL" --key "$SIM_KEY" --secret-env SIM_SECRET \
	    --backoff-ms 50 --backoff-cap-ms 400 "$@"
}
fault() {
	curl -sf -X POST "$SIM_URL/_sim/fault" -d "$1" >/dev/null
}

test_expect_success 'an injected 500 is retried and the call succeeds' '
	fault "{\"endpoint\":\"user\",\"method\":\"GET\",\"nth\":1,\"count\":2,\"kind\":\"http500\"}" &&
	cli call GET user "{\"id\":\"ann@example.com\"}" >out 2>err &&
	cat err &&
	jq -e ".keys.email == \"ann@example.com\"" out &&
	test $(grep -c "call failed, retrying method=GET endpoint=user http=500" err) -eq 1 &&
	grep -q "recovered method=GET endpoint=user attempts=3" err
'

test_expect_success 'error 9 is retried and the update lands once' '
	fault "{\"endpoint\":\"user\",\"method\":\"POST\",\"nth\":1,\"count\":1,\"kind\":\"error9\"}" &&
	cli call POST user "{\"id\":\"ann@example.com\",\"vars\":{\"n\":2}}" >out 2>err &&
	cat err &&
	grep -q "code=9" err &&
	grep -q "recovered method=POST endpoint=user attempts=2" err &&
	cli call GET user "{\"id\":\"ann@example.com\",\"fields\":{\"vars\":1}}" >out &&
	jq -e ".vars.n == 2" out
'

test_expect_success 'a slow answer times out and is retried' '
	fault "{\"endpoint\":\"list\",\"method\":\"GET\",\"nth\":1,\"count\":1,\"kind\":\"slow\",\"ms\":3000}" &&
	cli --timeout-ms 700 call GET list "{}" >out 2>err &&
	cat err &&
	grep -q "retrying method=GET endpoint=list http=0" err &&
	grep -qi "timed out" err &&
	jq -e ".lists[0].name == \"Main\"" out
'

test_expect_failure_exit 'a 500 that outlasts max attempts: retry class, one line' 75 '
	fault "{\"endpoint\":\"list\",\"method\":\"GET\",\"nth\":1,\"count\":3,\"kind\":\"http500\"}" &&
	cli --max-attempts 3 lists >out 2>err; rc=$?
	cat err
	test $(grep -c "^sailthru-cli: retry http=500 code=9: GET list: Internal" err) -eq 1 || exit 1
	grep -q "giving up method=GET endpoint=list attempts=3" err || exit 1
	exit $rc
'

test_expect_success 'an injected 429 is waited out' '
	curl -sf "$SIM_URL/_sim/state" >/dev/null &&
	fault "{\"endpoint\":\"job\",\"method\":\"POST\",\"nth\":1,\"count\":1,\"kind\":\"http429\"}" &&
	cli call POST job "{\"job\":\"export_list_data\",\"list\":\"Main\"}" >out 2>err &&
	cat err &&
	grep -q "rate limited method=POST endpoint=job http=429" err &&
	jq -e ".job_id | length > 0" out
'

test_expect_success '429 storm: two clients over a limit of 3 per window all succeed' '
	curl -sf -X POST "$SIM_URL/_sim/rate" \
	    -d "{\"endpoint\":\"list\",\"method\":\"GET\",\"limit\":3}" >/dev/null &&
	{ cli --max-attempts 12 --repeat 6 call GET list "{}" >a.out 2>a.err & pa=$!; } &&
	{ cli --max-attempts 12 --repeat 6 call GET list "{}" >b.out 2>b.err & pb=$!; } &&
	{ wait $pa; ra=$?; wait $pb; rb=$?; } &&
	cat a.err b.err &&
	test "$ra $rb" = "0 0" &&
	test $(grep -c "\"lists\"" a.out) -eq 6 &&
	test $(grep -c "\"lists\"" b.out) -eq 6 &&
	grep -q "pacing method=GET endpoint=list limit=3 remaining=0" a.err b.err
'

test_expect_success 'rate: one client alone never goes below zero remaining' '
	window_over &&
	cli --repeat 7 rate GET list >out 2>err &&
	cat out err &&
	grep -q "pacing method=GET endpoint=list" err &&
	! grep -q "rate limited" err &&
	grep -Eq "^limit=3 remaining=[0-9]+ reset=[0-9]+$" out
'

test_expect_success 'the secret never appears in any output' '
	! grep -l "$SIM_SECRET" "$SCRATCH"/test-*.out "$SCRATCH"/*.err "$SCRATCH"/*.out
'

test_done
