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
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 \
	--tls-cert "$SCRATCH/cert.pem" --tls-key "$SCRATCH/key.pem" || exit 1
SIM_URL="https://127.0.0.1:$(cat "$SCRATCH/sim.port")"

sig() {
	printf '%s' "$SIM_SECRET$(printf '%s\n' "$@" | LC_ALL=C sort | tr -d '\n')" |
	    md5sum | cut -c1-32
}
api() {
	g=
	[ "$1" != POST ] && g=-G
	curl -s --cacert "$SCRATCH/cert.pem" -o out.json -w '%{http_code}' $g -X "$1" \
	    "$SIM_URL/$2" --data-urlencode "api_key=$SIM_KEY" --data-urlencode format=json \
	    --data-urlencode "json=$3" --data-urlencode "sig=$(sig "$SIM_KEY" json "$3")"
}

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
