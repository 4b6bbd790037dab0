#!/bin/sh
# tests/t/0100-sim-api.sh: the simulator's signed API (signature, /user,
# /list), rate limits and the state dump, checked with curl and jq.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

SIM_KEY=123key
SIM_SECRET=abcsecret
cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Newsletter", "type": "normal"},
           {"name": "Customers", "type": "smart"}],
 "users": [{"email": "Neil@Example.com", "extid": "X-1",
            "vars": {"first_name": "Neil", "ltv": 12.5},
            "lists": ["Newsletter", "Customers"], "engagement": "active",
            "opens": 3, "clicks": 1, "signup": "2021-03-31 22:15:07"},
           {"email": "ann@example.org", "vars": {"plan": "gold"},
            "lists": ["Newsletter"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --rate-limit 1000 || exit 1

# sig VALUE...: Sailthru's signature of the given parameter values.
# api METHOD ENDPOINT JSON [SIG]: a signed call; body in out.json, headers
# in hdr.txt, the HTTP status on stdout.
header() {
	tr -d '\r' <hdr.txt | sed -n "s/^$1: //Ip"
}

test_expect_success 'both signature vectors hold in shell and in the simulator' '
	test "$(sig 123key json "{\"id\":\"neil@example.com\"}")" = fa5c79189b708199f3cf69f1cf8f7928 &&
	test "$(printf %s "abcsecret123keyjson{\"id\":\"neil@example.com\"}" | md5sum | cut -c1-32)" = fa5c79189b708199f3cf69f1cf8f7928 &&
	test "$(api GET user "{\"id\":\"neil@example.com\"}" fa5c79189b708199f3cf69f1cf8f7928)" = 200 &&
	test "$(jq -r .keys.email out.json)" = neil@example.com
'

test_expect_success 'a wrong signature is 401 error 5' '
	test "$(api GET user "{\"id\":\"neil@example.com\"}" 0123456789abcdef0123456789abcdef)" = 401 &&
	test "$(jq -r .error out.json)" = 5 &&
	test "$(jq -r .errormsg out.json)" = "Authentication failed"
'

test_expect_success 'a wrong api_key is 401 error 5, a missing sig too' '
	code=$(curl -s -o out.json -w "%{http_code}" -G "$SIM_URL/user" \
	    --data-urlencode api_key=otherkey --data-urlencode format=json \
	    --data-urlencode "json={}" --data-urlencode "sig=$(sig otherkey json "{}")") &&
	test "$code" = 401 && test "$(jq -r .error out.json)" = 5 &&
	code=$(curl -s -o out.json -w "%{http_code}" -G "$SIM_URL/user" \
	    --data-urlencode api_key=123key --data-urlencode "json={}") &&
	test "$code" = 401
'

test_expect_success 'a POST signed over the form body works' '
	test "$(api POST user "{\"id\":\"neil@example.com\",\"vars\":{\"city\":\"Oslo\"}}")" = 200 &&
	test "$(jq -r .ok out.json)" = true
'

test_expect_success 'GET /user returns keys, vars, lists, engagement' '
	test "$(api GET user "{\"id\":\"NEIL@example.com\"}")" = 200 &&
	jq -e ".keys.sid | test(\"^[0-9a-f]{24}$\")" out.json &&
	test "$(jq -r .keys.extid out.json)" = X-1 &&
	test "$(jq -r .vars.city out.json)" = Oslo &&
	test "$(jq -r .vars.ltv out.json)" = 12.5 &&
	test "$(jq -r ".lists | keys | join(\",\")" out.json)" = Customers,Newsletter &&
	test "$(jq -r .lists.Newsletter out.json)" = "Wed, 31 Mar 2021 18:15:07 -0400" &&
	test "$(jq -r .engagement out.json)" = active &&
	test "$(jq -r .optout_email out.json)" = none
'

test_expect_success 'GET /user by sid and by extid; fields restricts' '
	api GET user "{\"id\":\"neil@example.com\",\"fields\":{\"keys\":1}}" >/dev/null &&
	sid=$(jq -r .keys.sid out.json) &&
	test "$(jq -r "keys | join(\",\")" out.json)" = keys &&
	test "$(api GET user "{\"id\":\"$sid\"}")" = 200 &&
	test "$(jq -r .keys.email out.json)" = neil@example.com &&
	test "$(api GET user "{\"id\":\"X-1\",\"key\":\"extid\"}")" = 200 &&
	test "$(jq -r .keys.sid out.json)" = "$sid"
'

test_expect_success 'user not found is 400 error 99 naming the key' '
	test "$(api GET user "{\"id\":\"nobody@example.com\"}")" = 400 &&
	test "$(jq -r .error out.json)" = 99 &&
	test "$(jq -r .errormsg out.json)" = "User not found with email: nobody@example.com" &&
	test "$(api GET user "{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaa\"}")" = 400 &&
	test "$(jq -r .errormsg out.json)" = "User not found with sid: aaaaaaaaaaaaaaaaaaaaaaaa"
'

test_expect_success 'POST /user creates by email, merges vars, null kept as null, lists 1/0' '
	test "$(api POST user "{\"id\":\" New@Example.com \",\"vars\":{\"a\":1,\"b\":\"x\"},\"lists\":{\"Newsletter\":1,\"Fresh\":1},\"fields\":{\"keys\":1}}")" = 200 &&
	jq -e ".keys.sid | test(\"^[0-9a-f]{24}$\")" out.json &&
	test "$(jq -r .keys.email out.json)" = new@example.com &&
	test "$(api POST user "{\"id\":\"new@example.com\",\"vars\":{\"a\":null,\"c\":true},\"lists\":{\"Fresh\":0}}")" = 200 &&
	api GET user "{\"id\":\"new@example.com\"}" >/dev/null &&
	test "$(jq -c .vars out.json)" = "{\"a\":null,\"b\":\"x\",\"c\":true}" &&
	test "$(jq -r ".lists | keys | join(\",\")" out.json)" = Newsletter
'

test_expect_success 'POST /user by unknown sid is 99; adding to a smart list fails' '
	test "$(api POST user "{\"id\":\"bbbbbbbbbbbbbbbbbbbbbbbb\",\"key\":\"sid\",\"vars\":{\"a\":1}}")" = 400 &&
	test "$(jq -r .error out.json)" = 99 &&
	test "$(api POST user "{\"id\":\"ann@example.org\",\"lists\":{\"Customers\":1}}")" = 400 &&
	test "$(jq -r .error out.json)" = 2 &&
	api GET user "{\"id\":\"ann@example.org\"}" >/dev/null &&
	test "$(jq -r ".lists | keys | join(\",\")" out.json)" = Newsletter
'

test_expect_success 'keys change with keysconflict error and merge' '
	test "$(api POST user "{\"id\":\"ann@example.org\",\"keys\":{\"email\":\"new@example.com\"}}")" = 400 &&
	test "$(jq -r .error out.json)" = 2 &&
	test "$(api POST user "{\"id\":\"ann@example.org\",\"keys\":{\"extid\":\"A-2\"}}")" = 200 &&
	test "$(api POST user "{\"id\":\"ann@example.org\",\"keys\":{\"email\":\"new@example.com\"},\"keysconflict\":\"merge\"}")" = 200 &&
	api GET user "{\"id\":\"new@example.com\"}" >/dev/null &&
	test "$(jq -r .keys.extid out.json)" = A-2 &&
	test "$(jq -r .vars.plan out.json)" = gold &&
	test "$(jq -r .vars.b out.json)" = x &&
	test "$(api GET user "{\"id\":\"ann@example.org\"}")" = 400
'

test_expect_success 'unparseable json is 400 error 2' '
	test "$(api GET user "{\"id\":")" = 400 &&
	test "$(jq -r .error out.json)" = 2 &&
	jq -r .errormsg out.json | grep -q "^Invalid json"
'

test_expect_success 'GET /list lists all (also with list "") and one; unknown is 404/15' '
	test "$(api GET list "{}")" = 200 &&
	test "$(jq -r "[.lists[].name] | join(\",\")" out.json)" = Newsletter,Customers,Fresh &&
	test "$(jq -r ".lists[] | select(.name==\"Customers\") | .type" out.json)" = smart &&
	test "$(jq -r ".lists[] | select(.name==\"Newsletter\") | .email_count" out.json)" = 2 &&
	jq -e "all(.lists[]; .list_id | test(\"^[0-9a-f]{24}$\"))" out.json &&
	test "$(api GET list "{\"list\":\"\"}")" = 200 &&
	test "$(jq ".lists | length" out.json)" = 3 &&
	test "$(api GET list "{\"list\":\"Newsletter\"}")" = 200 &&
	test "$(jq -r .list out.json)" = Newsletter &&
	test "$(jq -r .count out.json)" = 2 &&
	test "$(api GET list "{\"list\":\"Nope\"}")" = 404 &&
	test "$(jq -r .error out.json)" = 15 &&
	test "$(jq -r .errormsg out.json)" = "Unknown list: Nope"
'

test_expect_success 'rate-limit headers on every answer; 429/43 past the limit' '
	curl -sf -X POST "$SIM_URL/_sim/reset" >/dev/null &&
	curl -sf -X POST "$SIM_URL/_sim/rate" -d "{\"endpoint\":\"list\",\"method\":\"GET\",\"limit\":3}" >/dev/null &&
	before=$(date +%s) &&
	api GET list "{}" >/dev/null &&
	test "$(header X-Rate-Limit-Limit)" = 3 &&
	test "$(header X-Rate-Limit-Remaining)" = 2 &&
	reset=$(header X-Rate-Limit-Reset) &&
	test "$reset" -gt "$before" && test "$reset" -le $((before + 61)) &&
	api GET list "{}" >/dev/null && api GET list "{}" >/dev/null &&
	test "$(header X-Rate-Limit-Remaining)" = 0 &&
	test "$(api GET list "{}")" = 429 &&
	test "$(jq -r .error out.json)" = 43 &&
	test "$(header X-Rate-Limit-Remaining)" = 0 &&
	test "$(api GET user "{\"id\":\"neil@example.com\"}")" = 200 &&
	test "$(header X-Rate-Limit-Limit)" = 1000
'

test_expect_success 'reset clears counters and limits' '
	curl -sf -X POST "$SIM_URL/_sim/reset" >/dev/null &&
	test "$(api GET list "{}")" = 200 &&
	test "$(header X-Rate-Limit-Limit)" = 1000
'

test_expect_success 'the state dump has lists with members, users, counters' '
	curl -sf "$SIM_URL/_sim/state" >state.json &&
	test "$(jq -r ".lists[] | select(.name==\"Newsletter\") | .members | join(\",\")" state.json)" = neil@example.com,new@example.com &&
	test "$(jq ".users | length" state.json)" = 2 &&
	test "$(jq -r ".counters[\"GET list\"]" state.json)" = 1
'

test_expect_success 'hostile requests get errors, never a crash' '
	test "$(curl -s -o /dev/null -w "%{http_code}" "$SIM_URL/nothing")" = 404 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Content-Type: application/x-www-form-urlencoded" --data-binary "%%%&&==&json=%ZZ" "$SIM_URL/user")" = 400 &&
	head -c 2000000 /dev/zero | tr "\0" a >big.txt &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST --data-binary @big.txt "$SIM_URL/user")" = 413 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -d "[1,2" "$SIM_URL/_sim/fault")" = 400 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -d "{\"endpoint\":\"user\",\"kind\":\"boom\"}" "$SIM_URL/_sim/fault")" = 400 &&
	test "$(api GET user "[1,2,3]")" = 400 &&
	test "$(api GET user "{\"id\":42}")" = 400 &&
	kill -0 "$SIM_PID"
'

test_expect_success 'non-loopback listen is refused; SIGTERM writes --state-out' '
	test_expect_code 64 sailthru-sim --listen 0.0.0.0:0 --port-file p2 --key k --secret s 2>err &&
	grep -q loopback err &&
	spawn sim2 sailthru-sim --listen 127.0.0.1:0 --port-file p3 --key k --secret s \
	    --seed "$SCRATCH/seed.json" --state-out st.json &&
	pid=$! && wait_for 10 test -s p3 && kill -TERM $pid &&
	wait_for 10 test -s st.json &&
	test "$(jq ".users | length" st.json)" = 2
'

test_done
