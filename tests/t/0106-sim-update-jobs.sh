#!/bin/sh
# tests/t/0106-sim-update-jobs.sh: the bulk update job as an export uses it:
# /user-shaped NDJSON lines (email, sid, extid, keys, keysconflict, vars,
# lists 1/0), rows, bad_rows and an error report naming each bad line; a
# job that ends in error (with nothing or part applied); 429 storms on
# POST /job and POST /user; an upload past the old 64 MiB cap, on disk.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Exported"}, {"name": "Old"}, {"name": "Smart", "type": "smart"}],
 "users": [{"email": "neil@example.com", "sid": "0123456789abcdef01234567",
            "extid": "X-1", "vars": {"plan": "gold"}, "lists": ["Old"]},
           {"email": "ann@example.com", "extid": "A-1", "lists": ["Old", "Exported"]},
           {"email": "bob@example.com", "extid": "B-1"}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

# upload FILE: POST /job update with FILE as the multipart file; status out.
upload() {
	j='{"job":"update"}'
	curl -s -o out.json -D hdr.txt -w '%{http_code}' "$SIM_URL/job" \
	    -F "api_key=$SIM_KEY" -F format=json -F "json=$j" \
	    -F "sig=$(sig "$SIM_KEY" json "$j")" -F "file=@$1"
}
header() {
	tr -d '\r' <hdr.txt | sed -n "s/^$1: //Ip"
}
state() {
	curl -sf "$SIM_URL/_sim/state" >state.json
}
# user EMAIL: that user's state object.
user() {
	jq -c ".users[] | select(.keys.email == \"$1\")" state.json
}

test_expect_success 'an update job applies /user-shaped lines and reports each bad one' '
	cat >upd.ndjson <<-\EOF &&
	{"id":"new@example.com","key":"email","vars":{"n":1,"tags":["a","b"],"gone":null},"lists":{"Exported":1}}
	{"id":"0123456789abcdef01234567","key":"sid","vars":{"plan":"pro"},"lists":{"Exported":1,"Old":0}}
	{"id":"A-1","key":"extid","vars":{"tier":"silver"},"lists":{"Exported":0}}
	{"id":"ffffffffffffffffffffffff","key":"sid","vars":{"a":1}}

	{"id":"Z-9","key":"extid","vars":{"a":1}}
	{"id":"bob@example.com","keys":{"extid":"A-1"},"vars":{"b":1}}
	not json
	[1,2]
	{"id":"bob@example.com","lists":{"Smart":1}}
	{"id":"newer@example.com","keys":{"extid":"N-1"},"lists":{"Exported":1}}
	{"id":"bob@example.com","keys":{"extid":"N-1"},"keysconflict":"merge","vars":{"merged":true}}
	EOF
	test "$(upload upd.ndjson)" = 200 &&
	test "$(jq -r .status out.json)" = pending &&
	test "$(jq -r .name out.json)" = "Bulk User Update" &&
	poll "$(jq -r .job_id out.json)" 600 &&
	test "$(jq -r .status out.json)" = completed &&
	test "$(jq -r .rows out.json)" = 11 && test "$(jq -r .bad_rows out.json)" = 6 &&
	curl -sf "$(jq -r .error_report_url out.json)" >report.csv &&
	cat report.csv &&
	test "$(head -n 1 report.csv)" = "line,error" &&
	test "$(tail -n +2 report.csv | cut -d, -f1 | tr "\n" " ")" = "4 6 7 8 9 10 " &&
	grep -qx "4,User not found with sid: ffffffffffffffffffffffff" report.csv &&
	grep -qx "6,User not found with extid: Z-9" report.csv &&
	grep -q "^7,Key conflict: extid A-1" report.csv &&
	grep -q "^8,invalid json" report.csv &&
	grep -qx "9,invalid json: not an object" report.csv &&
	grep -q "^10,Cannot change membership of smart list" report.csv
'

test_expect_success 'the update job left the state an export expects' '
	state &&
	user new@example.com | jq -e ".vars == {\"n\":1,\"tags\":[\"a\",\"b\"],\"gone\":null} and .lists == [\"Exported\"]" &&
	user neil@example.com | jq -e ".vars.plan == \"pro\" and .lists == [\"Exported\"]" &&
	user ann@example.com | jq -e ".vars.tier == \"silver\" and .lists == [\"Old\"]" &&
	user bob@example.com | jq -e ".keys.extid == \"N-1\" and .vars.merged == true and .lists == [\"Exported\"]" &&
	test -z "$(user newer@example.com)" &&
	test "$(jq ".users | length" state.json)" = 4 &&
	test "$(jq -r ".lists[] | select(.name == \"Exported\") | .members | sort | join(\",\")" state.json)" = bob@example.com,neil@example.com,new@example.com &&
	test "$(jq -r "[.jobs[] | select(.job == \"update\")] | length" state.json)" = 1
'

test_expect_success 'job_error on an update job: status error, error_message, nothing applied' '
	printf "%s\n" "{\"id\":\"neil@example.com\",\"vars\":{\"plan\":\"failed\"}}" \
	    "{\"id\":\"fresh@example.com\"}" >fail.ndjson &&
	sim_fault "{\"kind\":\"job_error\",\"job\":\"update\"}" &&
	test "$(upload fail.ndjson)" = 200 &&
	poll "$(jq -r .job_id out.json)" 600 &&
	test "$(jq -r .status out.json)" = error &&
	jq -e ".error_message | length > 0" out.json &&
	jq -e "has(\"error_report_url\") | not" out.json &&
	state && user neil@example.com | jq -e ".vars.plan == \"pro\"" &&
	test -z "$(user fresh@example.com)"
'

test_expect_success 'job_error with a fraction applies the first part of the file, then fails' '
	awk "BEGIN { for (i = 0; i < 100; i++) printf \"{\\\"id\\\":\\\"p%03d@example.com\\\",\\\"lists\\\":{\\\"Exported\\\":1}}\\n\", i }" >part.ndjson &&
	test "$(wc -l <part.ndjson)" = 100 &&
	sim_fault "{\"kind\":\"job_error\",\"job\":\"update\",\"fraction\":0.5}" &&
	test "$(upload part.ndjson)" = 200 &&
	poll "$(jq -r .job_id out.json)" 600 &&
	test "$(jq -r .status out.json)" = error &&
	state &&
	n=$(jq "[.users[] | select(.keys.email | startswith(\"p0\"))] | length" state.json) &&
	test "$n" -ge 45 && test "$n" -le 50 &&
	test -n "$(user p000@example.com)" && test -z "$(user p099@example.com)" &&
	test "$(upload part.ndjson)" = 200 &&
	poll "$(jq -r .job_id out.json)" 600 &&
	test "$(jq -r .status out.json)" = completed &&
	state && test "$(jq "[.users[] | select(.keys.email | startswith(\"p0\"))] | length" state.json)" = 100
'

test_expect_success 'a job_error for export jobs leaves update jobs alone, and the reverse' '
	sim_fault "{\"kind\":\"job_error\",\"job\":\"export_list_data\"}" &&
	test "$(upload fail.ndjson)" = 200 &&
	poll "$(jq -r .job_id out.json)" 600 && test "$(jq -r .status out.json)" = completed &&
	api POST job "{\"job\":\"export_list_data\",\"list\":\"Exported\"}" >/dev/null &&
	poll "$(jq -r .job_id out.json)" 600 && test "$(jq -r .status out.json)" = error &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X POST -d "{\"kind\":\"job_error\",\"job\":\"import\"}" "$SIM_URL/_sim/fault")" = 400
'

test_expect_success 'a 429 storm on POST /job: refused uploads start no job; then one does' '
	state && before=$(jq "[.jobs[] | select(.job == \"update\")] | length" state.json) &&
	sim_fault "{\"endpoint\":\"job\",\"method\":\"POST\",\"kind\":\"http429\",\"count\":3}" &&
	for i in 1 2 3; do
		test "$(upload fail.ndjson)" = 429 || exit 1
		test "$(jq -r .error out.json)" = 43 || exit 1
		test "$(header X-Rate-Limit-Remaining)" = 0 || exit 1
		header X-Rate-Limit-Reset | grep -Eq "^[0-9]+$" || exit 1
	done &&
	state && test "$(jq "[.jobs[] | select(.job == \"update\")] | length" state.json)" = "$before" &&
	test "$(upload fail.ndjson)" = 200 &&
	poll "$(jq -r .job_id out.json)" 600 && test "$(jq -r .status out.json)" = completed
'

test_expect_success 'the POST /job rate limit refuses uploads past it with 429/43' '
	curl -sf -X POST "$SIM_URL/_sim/rate" -d "{\"endpoint\":\"job\",\"method\":\"POST\",\"limit\":2}" >/dev/null &&
	curl -sf -X POST "$SIM_URL/_sim/reset" >/dev/null &&
	curl -sf -X POST "$SIM_URL/_sim/rate" -d "{\"endpoint\":\"job\",\"method\":\"POST\",\"limit\":2}" >/dev/null &&
	test "$(upload fail.ndjson)" = 200 && test "$(header X-Rate-Limit-Remaining)" = 1 &&
	test "$(upload fail.ndjson)" = 200 && test "$(header X-Rate-Limit-Remaining)" = 0 &&
	test "$(upload fail.ndjson)" = 429 && test "$(jq -r .error out.json)" = 43 &&
	test "$(header X-Rate-Limit-Limit)" = 2 &&
	curl -sf -X POST "$SIM_URL/_sim/reset" >/dev/null
'

test_expect_success 'a 429 storm on POST /user, then the same call succeeds' '
	sim_fault "{\"endpoint\":\"user\",\"method\":\"POST\",\"kind\":\"http429\",\"count\":4}" &&
	for i in 1 2 3 4; do
		test "$(api POST user "{\"id\":\"storm@example.com\",\"lists\":{\"Exported\":1}}")" = 429 || exit 1
		test "$(jq -r .error out.json)" = 43 || exit 1
	done &&
	state && test -z "$(user storm@example.com)" &&
	test "$(api POST user "{\"id\":\"storm@example.com\",\"lists\":{\"Exported\":1}}")" = 200 &&
	state && user storm@example.com | jq -e ".lists == [\"Exported\"]"
'

test_expect_success 'an upload past 64 MiB is accepted, kept on disk, and applied' '
	pad=$(head -c 1000 /dev/zero | tr "\0" x) &&
	awk -v pad="$pad" "BEGIN { for (i = 0; i < 72000; i++)
		printf \"{\\\"id\\\":\\\"big%03d@example.com\\\",\\\"vars\\\":{\\\"pad\\\":\\\"%s\\\",\\\"i\\\":%d}}\\n\", i % 100, pad, i }" >big.ndjson &&
	test "$(wc -c <big.ndjson)" -gt $((70 * 1024 * 1024)) &&
	test "$(upload big.ndjson)" = 200 &&
	poll "$(jq -r .job_id out.json)" 600 &&
	test "$(jq -r .status out.json)" = completed &&
	test "$(jq -r .rows out.json)" = 72000 && test "$(jq -r .bad_rows out.json)" = 0 &&
	curl -sf "$SIM_URL/_sim/summary" >sum.json && state &&
	test "$(jq .users sum.json)" = "$(jq ".users | length" state.json)" &&
	test "$(jq .lists.Exported sum.json)" = "$(jq ".lists[] | select(.name == \"Exported\") | .members | length" state.json)" &&
	user big099@example.com | jq -e ".vars.i == 71999" &&
	hwm=$(awk "/^VmHWM:/ { print \$2 }" /proc/$SIM_PID/status) &&
	echo "peak rss ${hwm} kB" && { sanitized || test "$hwm" -lt 40000; }
'

test_expect_success 'SIGTERM during a big update job stops the simulator cleanly' '
	awk "BEGIN { for (i = 0; i < 300000; i++) printf \"{\\\"id\\\":\\\"t%d@example.com\\\",\\\"vars\\\":{\\\"i\\\":%d}}\\n\", i, i }" >many.ndjson &&
	test "$(upload many.ndjson)" = 200 &&
	kill -TERM "$SIM_PID" &&
	wait_for 20 sh -c "! kill -0 $SIM_PID" &&
	grep -q "stopping signal" "$SCRATCH/sim.log" &&
	! grep -qi "sanitizer\|assert\|panic" "$SCRATCH/sim.log"
'

test_done
