#!/bin/sh
# tests/t/0200-client.sh: the Sailthru client against the simulator: calls,
# lists, export jobs, and how each kind of refusal is reported.
. "$(dirname "$0")/../lib.sh"

export SIM_SECRET
cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Main", "type": "normal"}, {"name": "VIP", "type": "smart"}],
 "users": [{"email": "ann@example.com", "vars": {"tier": "gold"}, "lists": ["Main"]},
           {"email": "bob@example.com", "vars": {}, "lists": ["Main", "VIP"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 200 || exit 1

cli() {
	sailthru-cli --base "$SIM_URL" --key "$SIM_KEY" --secret-env SIM_SECRET \
	    --backoff-ms 50 --backoff-cap-ms 400 "$@"
}

test_expect_success 'lists: every list with its type' '
	cli lists >out &&
	cut -f1,3 out | sort >got &&
	printf "Main\tnormal\nVIP\tsmart\n" >want &&
	cmp got want
'

test_expect_success 'call GET user: the body is printed' '
	cli call GET user "{\"id\":\"ann@example.com\",\"fields\":{\"vars\":1}}" >out &&
	jq -e ".vars.tier == \"gold\"" out
'

test_expect_success 'call POST user then GET shows the change' '
	cli call POST user "{\"id\":\"ann@example.com\",\"vars\":{\"tier\":\"silver\"}}" >out &&
	cli call GET user "{\"id\":\"ann@example.com\",\"fields\":{\"vars\":1}}" >out &&
	jq -e ".vars.tier == \"silver\"" out
'

test_expect_success 'the secret can come from the command line too' '
	sailthru-cli --base "$SIM_URL" --key "$SIM_KEY" --secret "$SIM_SECRET" \
	    call GET list "{}" >out &&
	jq -e ".lists | length == 2" out
'

test_expect_failure_exit 'user not found: not_found, http 400, code 99' 66 '
	cli call GET user "{\"id\":\"nobody@example.com\"}" 2>err; rc=$?
	cat err
	grep -q "^sailthru-cli: not_found http=400 code=99: GET user: " err || exit 1
	exit $rc
'

test_expect_failure_exit 'unknown list: not_found, http 404, code 15' 66 '
	cli export NoSuchList 2>err; rc=$?
	cat err
	grep -q "^sailthru-cli: not_found http=404 code=15: POST job: " err || exit 1
	exit $rc
'

test_expect_failure_exit 'wrong secret: an authorization error naming the endpoint' 77 '
	sailthru-cli --base "$SIM_URL" --key "$SIM_KEY" --secret WRONGSECRET42 \
	    call GET list "{}" >out 2>err; rc=$?
	cat err
	grep -q "^sailthru-cli: auth http=401 code=5: GET list: .*check the API key, secret" err &&
	test $(wc -l <err) -eq 1 &&
	! grep -q WRONGSECRET42 out err || exit 1
	exit $rc
'

test_expect_failure_exit 'plain http to a remote host is refused before any request' 78 '
	sailthru-cli --base http://api.example.com --key k --secret-env SIM_SECRET \
	    lists 2>err; rc=$?
	cat err
	grep -q "config.*refusing plain http:// to non-loopback host api.example.com" err || exit 1
	exit $rc
'

test_expect_failure_exit 'an unreadable CA file is a config error' 78 '
	sailthru-cli --base "$SIM_URL" --key "$SIM_KEY" --secret-env SIM_SECRET \
	    --ca-file "$SCRATCH/missing-ca.pem" lists 2>err; rc=$?
	cat err
	grep -q "missing-ca.pem" err || exit 1
	exit $rc
'

test_expect_success 'export: the job completes and its URL downloads the members' '
	cli export Main >url &&
	grep -q "^http://127.0.0.1:.*/_export/" url &&
	cli download "$(cat url)" "$SCRATCH/main.csv" &&
	test ! -e "$SCRATCH/main.csv.part" &&
	head -n 1 main.csv | grep -q "^\"\{0,1\}Profile Id" &&
	grep -q ann@example.com main.csv &&
	grep -q bob@example.com main.csv &&
	test $(wc -l <main.csv) -eq 3
'

test_expect_success 'rate: the limit headers are tracked per endpoint and method' '
	cli rate GET list >out &&
	cat out &&
	grep -Eq "^limit=[0-9]+ remaining=[0-9]+ reset=[0-9]+$" out
'

test_expect_success 'the secret never appears in any output' '
	! grep -l "$SIM_SECRET" "$SCRATCH"/test-*.out "$SCRATCH"/err "$SCRATCH"/out
'

test_done
