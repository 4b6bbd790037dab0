#!/bin/sh
# tests/t/0203-tls.sh: the Sailthru client always verifies TLS: a private
# CA works through --ca-file; an unknown CA or a wrong host name is refused.
. "$(dirname "$0")/../lib.sh"

export SIM_SECRET
# cert.pem names this host; other.pem names another one.
mkcert() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
		-addext "subjectAltName=$3" \
		-keyout "$SCRATCH/$1.key" -out "$SCRATCH/$1.pem" >/dev/null 2>&1
}
mkcert cert localhost "DNS:localhost,IP:127.0.0.1" &&
mkcert other other.example "DNS:other.example" || {
	echo "1..0 # SKIP cannot make a test certificate"; exit 0; }
cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Main", "type": "normal"}],
 "users": [{"email": "ann@example.com", "vars": {}, "lists": ["Main"]}]}
JSON
start_sim --tls-cert "$SCRATCH/other.pem" --tls-key "$SCRATCH/other.key" || exit 1
OTHER_PORT=$(cat "$SCRATCH/sim.port")
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 100 \
	--tls-cert "$SCRATCH/cert.pem" --tls-key "$SCRATCH/cert.key" || exit 1
PORT=$(cat "$SCRATCH/sim.port")

cli() {
	base=$1; shift
	sailthru-cli --base "$base" --key "$SIM_KEY" --secret-env SIM_SECRET \
	    --backoff-ms 50 --backoff-cap-ms 200 "$@"
}

test_expect_success 'https with the private CA given by --ca-file works' '
	cli "https://localhost:$PORT" --ca-file "$SCRATCH/cert.pem" lists >out &&
	grep -q "^Main	" out
'

test_expect_success 'export over https downloads over https' '
	cli "https://localhost:$PORT" --ca-file "$SCRATCH/cert.pem" export Main >url &&
	grep -q "^https://" url &&
	cli "https://localhost:$PORT" --ca-file "$SCRATCH/cert.pem" \
	    download "$(cat url)" main.csv &&
	grep -q ann@example.com main.csv
'

test_expect_failure_exit 'without the CA the certificate is refused, not retried' 78 '
	cli "https://localhost:$PORT" lists 2>err; rc=$?
	cat err
	grep -q "^sailthru-cli: config http=0 code=0: GET list: .*certificate" err || exit 1
	! grep -q retrying err || exit 1
	exit $rc
'

test_expect_failure_exit 'a certificate for another host name is refused' 78 '
	cli "https://localhost:$OTHER_PORT" --ca-file "$SCRATCH/other.pem" \
	    lists 2>err; rc=$?
	cat err
	grep -q "^sailthru-cli: config http=0 code=0: GET list: .*localhost" err || exit 1
	exit $rc
'

test_done
