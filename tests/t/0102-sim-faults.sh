#!/bin/sh
# tests/t/0102-sim-faults.sh: every fault the simulator injects on demand,
# its nth/count targeting, and that the simulator survives them.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Main"}],
 "users": [{"email": "ann@example.com", "vars": {"n": 1}, "lists": ["Main"]}]}
JSON
awk 'BEGIN { print "Profile Id,Email";
	for (i = 0; i < 5000; i++) printf "%024x,user%d@example.com\n", i, i }' \
	>"$SCRATCH/big.csv"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 \
	--export-file "Big=$SCRATCH/big.csv" || exit 1

fault() {
	curl -sf -X POST "$SIM_URL/_sim/fault" -d "$1" >/dev/null
}
U='{"id":"ann@example.com"}'

test_expect_success 'http500: the nth call fails with 500 and error 9, the rest pass' '
	fault "{\"endpoint\":\"user\",\"method\":\"GET\",\"nth\":2,\"kind\":\"http500\"}" &&
	test "$(api GET user "$U")" = 200 &&
	test "$(api GET user "$U")" = 500 &&
	test "$(jq -r .error out.json)" = 9 &&
	test "$(api GET user "$U")" = 200
'

test_expect_success 'error9: HTTP 200 with an error body, count times' '
	fault "{\"endpoint\":\"user\",\"method\":\"POST\",\"count\":2,\"kind\":\"error9\"}" &&
	test "$(api POST user "$U")" = 200 && test "$(jq -r .error out.json)" = 9 &&
	test "$(api POST user "$U")" = 200 && test "$(jq -r .error out.json)" = 9 &&
	test "$(api POST user "$U")" = 200 && test "$(jq -r .ok out.json)" = true
'

test_expect_success 'faults match their method only' '
	fault "{\"endpoint\":\"user\",\"method\":\"POST\",\"kind\":\"http500\"}" &&
	test "$(api GET user "$U")" = 200 &&
	test "$(api POST user "$U")" = 500
'

test_expect_success 'http429: 429 error 43 with rate headers' '
	fault "{\"endpoint\":\"list\",\"method\":\"GET\",\"kind\":\"http429\"}" &&
	test "$(api GET list "{}")" = 429 &&
	test "$(jq -r .error out.json)" = 43 &&
	tr -d "\r" <hdr.txt | grep -q "^X-Rate-Limit-Remaining: 0$" &&
	tr -d "\r" <hdr.txt | grep -q "^X-Rate-Limit-Reset: [0-9]*$" &&
	test "$(api GET list "{}")" = 200
'

test_expect_success 'slow: the answer comes late but complete' '
	fault "{\"endpoint\":\"list\",\"method\":\"GET\",\"kind\":\"slow\",\"ms\":1500}" &&
	test_expect_code 28 curl -s -o /dev/null -w "%{http_code}" -m 0.5 -G "$SIM_URL/list" \
	    --data-urlencode "api_key=$SIM_KEY" --data-urlencode format=json \
	    --data-urlencode "json={}" --data-urlencode "sig=$(sig "$SIM_KEY" json "{}")" >code &&
	test "$(cat code)" = 000 &&
	test "$(api GET list "{}")" = 200 && test "$(jq -r ".lists[0].name" out.json)" = Main
'

test_expect_success 'cut on an API answer: short body, connection closed' '
	fault "{\"endpoint\":\"user\",\"method\":\"GET\",\"kind\":\"cut\",\"fraction\":0.5}" &&
	{ ! api GET user "$U" >/dev/null || ! jq -e . out.json >/dev/null 2>&1; } &&
	len=$(tr -d "\r" <hdr.txt | sed -n "s/^Content-Length: //Ip") &&
	test "$(wc -c <out.json)" -lt "$len" &&
	test "$(api GET user "$U")" = 200 && jq -e .keys out.json >/dev/null
'

test_expect_success 'job_error: the next export job ends with status error' '
	fault "{\"kind\":\"job_error\"}" &&
	api POST job "{\"job\":\"export_list_data\",\"list\":\"Main\"}" >/dev/null &&
	poll "$(jq -r .job_id out.json)" &&
	test "$(jq -r .status out.json)" = error &&
	jq -e "has(\"export_url\") | not" out.json &&
	api POST job "{\"job\":\"export_list_data\",\"list\":\"Big\"}" >/dev/null &&
	poll "$(jq -r .job_id out.json)" &&
	test "$(jq -r .status out.json)" = completed &&
	jq -r .export_url out.json >url
'

test_expect_success 'download cut: full Content-Length, half the bytes, then a range resumes' '
	fault "{\"endpoint\":\"download\",\"method\":\"GET\",\"kind\":\"cut\",\"fraction\":0.5}" &&
	test_expect_code 18 curl -s -D hdr.txt -o part.csv "$(cat url)" &&
	size=$(wc -c <"$SCRATCH/big.csv" | tr -d " ") &&
	tr -d "\r" <hdr.txt | grep -q "^Content-Length: $size$" &&
	have=$(wc -c <part.csv | tr -d " ") &&
	test "$have" -gt 0 && test "$have" -lt "$size" &&
	curl -sf -H "Range: bytes=$have-" "$(cat url)" >>part.csv &&
	cmp part.csv "$SCRATCH/big.csv"
'

test_expect_success 'download http500, http429 and slow' '
	fault "{\"endpoint\":\"download\",\"method\":\"GET\",\"kind\":\"http500\"}" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "$(cat url)")" = 500 &&
	fault "{\"endpoint\":\"download\",\"method\":\"GET\",\"kind\":\"http429\"}" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "$(cat url)")" = 429 &&
	fault "{\"endpoint\":\"download\",\"kind\":\"slow\",\"ms\":1500}" &&
	test_expect_code 28 curl -s -o /dev/null -m 0.5 "$(cat url)" &&
	curl -sf "$(cat url)" | cmp - "$SCRATCH/big.csv"
'

test_expect_success 'pending faults show in the state; reset clears them and the counters' '
	fault "{\"endpoint\":\"job\",\"method\":\"GET\",\"nth\":5,\"count\":2,\"kind\":\"http500\"}" &&
	curl -sf "$SIM_URL/_sim/state" >state.json &&
	test "$(jq -c "[.faults[] | {endpoint,nth,count,kind}]" state.json)" = "[{\"endpoint\":\"job\",\"nth\":5,\"count\":2,\"kind\":\"http500\"}]" &&
	test "$(jq -r ".counters[\"GET user\"]" state.json)" = 6 &&
	test "$(jq -r ".counters[\"GET download\"]" state.json)" -ge 5 &&
	curl -sf -X POST "$SIM_URL/_sim/reset" >/dev/null &&
	curl -sf "$SIM_URL/_sim/state" >state.json &&
	test "$(jq ".faults | length" state.json)" = 0 &&
	test "$(jq ".counters | length" state.json)" = 0 &&
	kill -0 "$SIM_PID"
'

test_done
