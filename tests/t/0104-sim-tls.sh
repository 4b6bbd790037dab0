#!/bin/sh
# tests/t/0104-sim-tls.sh: the simulator over HTTPS (--tls-cert/--tls-key):
# signed calls and export downloads with a verified certificate.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl is not installed"; exit 0; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SCRATCH/key.pem" \
	-out "$SCRATCH/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 ||
	{ echo "1..0 # SKIP cannot make a test certificate"; exit 0; }
printf '{"lists":[{"name":"Main"}],"users":[{"email":"ann@example.com","lists":["Main"]}]}\n' \
	>"$SCRATCH/seed.json"
API_CURL_OPTS="--cacert $SCRATCH/cert.pem"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 \
	--tls-cert "$SCRATCH/cert.pem" --tls-key "$SCRATCH/key.pem" || exit 1
SIM_URL="https://127.0.0.1:$(cat "$SCRATCH/sim.port")"

test_expect_success 'signed calls work over verified HTTPS; plain HTTP does not' '
	test "$(api GET user "{\"id\":\"ann@example.com\"}")" = 200 &&
	test "$(jq -r .keys.email out.json)" = ann@example.com &&
	! curl -sf "http://127.0.0.1:$(cat sim.port)/list" >/dev/null
'

test_expect_success 'export URLs are https and download with the same CA' '
	api POST job "{\"job\":\"export_list_data\",\"list\":\"Main\"}" >/dev/null &&
	id=$(jq -r .job_id out.json) && i=0 &&
	while api GET job "{\"job_id\":\"$id\"}" >/dev/null &&
	    [ "$(jq -r .status out.json)" = pending ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done &&
	jq -r .export_url out.json | grep -q "^https://127.0.0.1:" &&
	curl -sf --cacert "$SCRATCH/cert.pem" "$(jq -r .export_url out.json)" >x.csv &&
	test "$(wc -l <x.csv)" = 2 && grep -q ann@example.com x.csv
'

test_done
