#!/bin/sh
# tests/t/0105-sim-export-api.sh: the simulator's calls an export makes,
# with Sailthru's answers: users by email/sid/extid, null vars, lists null,
# list add and remove, POST /list, GET /list's object, DELETE /user,
# engagement set through /_sim/activity, and per-endpoint rate limits.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Newsletter"}, {"name": "Smart", "type": "smart"}],
 "users": [{"email": "neil@example.com", "sid": "0123456789abcdef01234567",
            "extid": "X-1", "vars": {"plan": "gold"}, "lists": ["Newsletter"]},
           {"email": "loner@example.com", "vars": {"n": 1}}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 \
	--rate POST:user=300 --rate POST:job=40 || exit 1

# api METHOD ENDPOINT JSON: body in out.json, headers in hdr.txt, status out.
header() {
	tr -d '\r' <hdr.txt | sed -n "s/^$1: //Ip"
}
state() {
	curl -sf "$SIM_URL/_sim/state" >state.json
}
admin() {
	curl -s -o admin.json -w '%{http_code}' -X POST -d "$2" "$SIM_URL/_sim/$1"
}

test_expect_success 'GET /user answers "lists": null for a user on no list' '
	test "$(api GET user "{\"id\":\"loner@example.com\"}")" = 200 &&
	jq -e "has(\"lists\") and .lists == null" out.json &&
	test "$(api GET user "{\"id\":\"loner@example.com\",\"fields\":{\"lists\":1}}")" = 200 &&
	test "$(jq -c . out.json)" = "{\"lists\":null}" &&
	api POST user "{\"id\":\"loner@example.com\",\"lists\":{\"Newsletter\":1}}" >/dev/null &&
	api GET user "{\"id\":\"loner@example.com\"}" >/dev/null &&
	jq -e ".lists | type == \"object\" and has(\"Newsletter\")" out.json &&
	api POST user "{\"id\":\"loner@example.com\",\"lists\":{\"Newsletter\":0}}" >/dev/null &&
	api GET user "{\"id\":\"loner@example.com\"}" >/dev/null &&
	jq -e ".lists == null" out.json
'

test_expect_success 'a var set to null stays in vars as null; other vars keep their types' '
	test "$(api POST user "{\"id\":\"neil@example.com\",\"vars\":{\"plan\":null,\"n\":3,\"tags\":[\"a\",\"b\"],\"ok\":true,\"d\":\"2021-07-13\"}}")" = 200 &&
	api GET user "{\"id\":\"neil@example.com\",\"fields\":{\"vars\":1}}" >/dev/null &&
	test "$(jq -c .vars out.json)" = "{\"plan\":null,\"n\":3,\"tags\":[\"a\",\"b\"],\"ok\":true,\"d\":\"2021-07-13\"}" &&
	state &&
	jq -e ".users[] | select(.keys.email == \"neil@example.com\") | .vars | has(\"plan\") and .plan == null and .n == 3" state.json
'

test_expect_success 'POST /user by sid and by extid updates; unknown sid/extid is 99' '
	test "$(api POST user "{\"id\":\"0123456789abcdef01234567\",\"key\":\"sid\",\"vars\":{\"via\":\"sid\"}}")" = 200 &&
	test "$(api POST user "{\"id\":\"X-1\",\"key\":\"extid\",\"vars\":{\"via2\":\"extid\"},\"lists\":{\"VIP\":1}}")" = 200 &&
	api GET user "{\"id\":\"neil@example.com\"}" >/dev/null &&
	test "$(jq -r .vars.via out.json)" = sid && test "$(jq -r .vars.via2 out.json)" = extid &&
	test "$(jq -r ".lists | keys | join(\",\")" out.json)" = Newsletter,VIP &&
	test "$(api POST user "{\"id\":\"ffffffffffffffffffffffff\",\"key\":\"sid\",\"vars\":{\"a\":1}}")" = 400 &&
	test "$(jq -r .error out.json)" = 99 &&
	test "$(jq -r .errormsg out.json)" = "User not found with sid: ffffffffffffffffffffffff" &&
	test "$(api POST user "{\"id\":\"Y-9\",\"key\":\"extid\",\"vars\":{\"a\":1}}")" = 400 &&
	test "$(jq -r .errormsg out.json)" = "User not found with extid: Y-9" &&
	state && test "$(jq ".users | length" state.json)" = 2
'

test_expect_success 'keys with keysconflict: error refuses and changes nothing, merge folds' '
	api POST user "{\"id\":\"other@example.com\",\"keys\":{\"extid\":\"O-1\"},\"vars\":{\"o\":1},\"lists\":{\"Newsletter\":1}}" >/dev/null &&
	test "$(api POST user "{\"id\":\"neil@example.com\",\"keys\":{\"extid\":\"O-1\"},\"vars\":{\"x\":1}}")" = 400 &&
	test "$(jq -r .error out.json)" = 2 &&
	api GET user "{\"id\":\"neil@example.com\"}" >/dev/null &&
	test "$(jq -r .keys.extid out.json)" = X-1 && jq -e ".vars | has(\"x\") | not" out.json &&
	test "$(api POST user "{\"id\":\"other@example.com\",\"key\":\"email\",\"keys\":{\"extid\":\"X-1\"},\"keysconflict\":\"merge\"}")" = 200 &&
	api GET user "{\"id\":\"X-1\",\"key\":\"extid\"}" >/dev/null &&
	test "$(jq -r .keys.email out.json)" = other@example.com &&
	test "$(jq -r .vars.via out.json)" = sid && test "$(jq -r .vars.o out.json)" = 1 &&
	test "$(api GET user "{\"id\":\"neil@example.com\"}")" = 400
'

test_expect_success 'POST /list creates a list and answers the list object' '
	test "$(api POST list "{\"list\":\"Exported\"}")" = 200 &&
	jq -e "(.list_id | test(\"^[0-9a-f]{24}$\")) and .list == \"Exported\" and .type == \"normal\" and .count == 0 and .primary == false and (.create_time | test(\"-0400$\"))" out.json &&
	id=$(jq -r .list_id out.json) &&
	test "$(api POST list "{\"list\":\"Exported\",\"primary\":1,\"vars\":{\"owner\":\"sailsync\"}}")" = 200 &&
	test "$(jq -r .list_id out.json)" = "$id" && test "$(jq -r .primary out.json)" = true &&
	api POST user "{\"id\":\"other@example.com\",\"lists\":{\"Exported\":1}}" >/dev/null &&
	test "$(api GET list "{\"list\":\"Exported\"}")" = 200 &&
	test "$(jq -r "[.list_id, .list, .type, .count, .primary] | map(tostring) | join(\" \")" out.json)" = "$id Exported normal 1 true" &&
	jq -e "has(\"name\") | not" out.json && jq -e "has(\"vars\") | not" out.json &&
	test "$(api GET list "{\"list_id\":\"$id\",\"fields\":{\"vars\":1}}")" = 200 &&
	test "$(jq -r .vars.owner out.json)" = sailsync &&
	test "$(jq -r .public_name out.json)" = Exported &&
	api GET list "{}" >/dev/null &&
	test "$(jq -r ".lists[] | select(.name == \"Exported\") | .email_count" out.json)" = 1
'

test_expect_success 'POST /list refuses a missing name, a query and a bad vars' '
	test "$(api POST list "{}")" = 400 && test "$(jq -r .error out.json)" = 2 &&
	test "$(api POST list "{\"list\":\"Q\",\"query\":{}}")" = 400 &&
	jq -r .errormsg out.json | grep -q "not simulated" &&
	test "$(api POST list "{\"list\":\"Q\",\"vars\":[1]}")" = 400 &&
	test "$(api GET list "{\"list\":\"Q\"}")" = 404 && test "$(jq -r .error out.json)" = 15
'

test_expect_success 'DELETE /user deletes and answers ok; the user is gone everywhere' '
	api POST user "{\"id\":\"gone@example.com\",\"keys\":{\"extid\":\"G-1\"},\"lists\":{\"Exported\":1}}" >/dev/null &&
	test "$(api DELETE user "{\"id\":\"gone@example.com\"}")" = 200 &&
	test "$(jq -c . out.json)" = "{\"ok\":true}" &&
	test "$(api GET user "{\"id\":\"gone@example.com\"}")" = 400 && test "$(jq -r .error out.json)" = 99 &&
	test "$(api GET user "{\"id\":\"G-1\",\"key\":\"extid\"}")" = 400 &&
	test "$(api DELETE user "{\"id\":\"gone@example.com\"}")" = 400 && test "$(jq -r .error out.json)" = 99 &&
	state &&
	jq -e "[.users[].keys.email] | index(\"gone@example.com\") | not" state.json &&
	test "$(jq -r ".lists[] | select(.name == \"Exported\") | .members | join(\",\")" state.json)" = other@example.com &&
	test "$(jq -r ".counters[\"DELETE user\"]" state.json)" = 2 &&
	test "$(api POST user "{\"id\":\"gone@example.com\",\"fields\":{\"keys\":1}}")" = 200 &&
	jq -e ".keys | has(\"extid\") | not" out.json
'

test_expect_success '/_sim/activity sets last open and click; GET /user and the export show them' '
	test "$(admin activity "{\"email\":\"other@example.com\",\"open\":\"2026-11-30 14:00:00\"}")" = 200 &&
	test "$(admin activity "{\"extid\":\"X-1\",\"click\":\"2026-12-01T09:30:00Z\"}")" = 200 &&
	jq -e ".activity.click_time == \"Tue, 01 Dec 2026 05:30:00 -0400\" and .clicks == 1 and .opens == 1" admin.json &&
	api GET user "{\"id\":\"other@example.com\",\"fields\":{\"activity\":1,\"engagement\":1}}" >/dev/null &&
	test "$(jq -r .activity.open_time out.json)" = "Mon, 30 Nov 2026 10:00:00 -0400" &&
	test "$(jq -r .activity.click_time out.json)" = "Tue, 01 Dec 2026 05:30:00 -0400" &&
	jq -e ".engagement | type == \"string\"" out.json &&
	state &&
	test "$(jq -r ".users[] | select(.keys.email == \"other@example.com\") | [.last_open, .last_click] | join(\" \")" state.json)" = "2026-11-30T14:00:00Z 2026-12-01T09:30:00Z" &&
	api POST job "{\"job\":\"export_list_data\",\"list\":\"Exported\"}" >/dev/null &&
	job=$(jq -r .job_id out.json) && sleep 0.3 &&
	api GET job "{\"job_id\":\"$job\"}" >/dev/null &&
	curl -sf "$(jq -r .export_url out.json)" >export.csv &&
	python3 - <<-\EOF
	import csv
	rows = list(csv.DictReader(open("export.csv", newline="")))
	assert len(rows) == 1, rows
	r = rows[0]
	assert r["Email"] == "other@example.com", r
	assert r["Last Open"] == "Mon, 30 Nov 2026 10:00:00 -0400", r
	assert r["Last Click"] == "Tue, 01 Dec 2026 05:30:00 -0400", r
	assert r["Opens"] == "1" and r["Clicks"] == "1", r
	EOF
'

test_expect_success '/_sim/activity refuses bad bodies; an unknown user is 99' '
	test "$(admin activity "{\"email\":\"other@example.com\"}")" = 400 &&
	test "$(admin activity "{\"email\":\"other@example.com\",\"sid\":\"x\",\"open\":1}")" = 400 &&
	test "$(admin activity "{\"email\":\"other@example.com\",\"open\":\"yesterday\"}")" = 400 &&
	test "$(admin activity "{\"email\":\"nobody@example.com\",\"open\":1700000000}")" = 400 &&
	test "$(jq -r .error admin.json)" = 99
'

test_expect_success '--rate sets POST user to 300 and POST job to 40; others keep the default' '
	api POST user "{\"id\":\"other@example.com\"}" >/dev/null &&
	test "$(header X-Rate-Limit-Limit)" = 300 &&
	api POST job "{\"job\":\"export_list_data\",\"list\":\"Exported\"}" >/dev/null &&
	test "$(header X-Rate-Limit-Limit)" = 40 &&
	api GET user "{\"id\":\"other@example.com\"}" >/dev/null &&
	test "$(header X-Rate-Limit-Limit)" = 1000 &&
	curl -sf -X POST "$SIM_URL/_sim/reset" >/dev/null &&
	api POST user "{\"id\":\"other@example.com\"}" >/dev/null &&
	test "$(header X-Rate-Limit-Limit)" = 300 &&
	test "$(header X-Rate-Limit-Remaining)" = 299
'

test_expect_success 'a bad --rate is a usage error' '
	test_expect_code 64 sailthru-sim --listen 127.0.0.1:0 --port-file p --key k --secret s \
		--rate POST:user=0 2>err &&
	grep -q -- "--rate wants" err &&
	test_expect_code 64 sailthru-sim --listen 127.0.0.1:0 --port-file p --key k --secret s \
		--rate PUT:user=3 2>err
'

test_done
