#!/bin/sh
# tests/t/0202-download.sh: resumable export downloads (cut transfers,
# expired URLs) and the multipart update job upload.
. "$(dirname "$0")/../lib.sh"

export SIM_SECRET
cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Main", "type": "normal"}, {"name": "Big", "type": "normal"}],
 "users": [{"email": "ann@example.com", "vars": {"n": 1}, "lists": ["Main"]},
           {"email": "bob@example.com", "vars": {}, "lists": ["Main"]}]}
JSON
# A big export so that a cut lands in the middle of real bytes.
awk 'BEGIN { print "Profile Id,Email,Signup";
	for (i = 0; i < 20000; i++)
		printf "%024x,user%d@example.com,2021-03-31 22:15:07\n", i, i }' \
	>"$SCRATCH/big.csv"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 100 \
	--export-file "Big=$SCRATCH/big.csv" --log-requests || exit 1

cli() {
	sailthru-cli --base "$SIM_URL" --key "$SIM_KEY" --secret-env SIM_SECRET \
	    --backoff-ms 50 --backoff-cap-ms 400 "$@"
}
fault() {
	curl -sf -X POST "$SIM_URL/_sim/fault" -d "$1" >/dev/null
}

test_expect_success 'export of a big list downloads byte-identical' '
	cli export Big >url &&
	cli download "$(cat url)" got.csv 2>err &&
	cmp got.csv "$SCRATCH/big.csv" &&
	! grep -q resuming err
'

test_expect_success 'a cut download resumes with a range and ends byte-identical' '
	fault "{\"endpoint\":\"download\",\"method\":\"GET\",\"nth\":1,\"count\":1,\"kind\":\"cut\",\"fraction\":0.5}" &&
	cli download "$(cat url)" cut.csv 2>err &&
	cat err &&
	grep -q "download interrupted, resuming have=[1-9]" err &&
	grep -q "download recovered" err &&
	grep -q "path=/_export/.* status=206" "$SCRATCH/sim.log" &&
	cmp cut.csv "$SCRATCH/big.csv" &&
	test ! -e cut.csv.part
'

test_expect_success 'three cuts in a row still end byte-identical' '
	fault "{\"endpoint\":\"download\",\"method\":\"GET\",\"nth\":1,\"count\":3,\"kind\":\"cut\",\"fraction\":0.3}" &&
	cli download "$(cat url)" cut3.csv 2>err &&
	cat err &&
	test $(grep -c "resuming" err) -eq 1 &&
	grep -q "download recovered .*attempts=4" err &&
	cmp cut3.csv "$SCRATCH/big.csv"
'

test_expect_success 'a 500 on the download is retried' '
	fault "{\"endpoint\":\"download\",\"method\":\"GET\",\"nth\":1,\"count\":1,\"kind\":\"http500\"}" &&
	cli download "$(cat url)" r500.csv 2>err &&
	cat err &&
	grep -q "HTTP 500" err &&
	cmp r500.csv "$SCRATCH/big.csv"
'

test_expect_failure_exit 'an expired URL is not_found and leaves no files' 66 '
	curl -sf -X POST "$SIM_URL/_sim/expire" -d "{}" >/dev/null &&
	cli download "$(cat url)" expired.csv 2>err; rc=$?
	cat err
	grep -q "^sailthru-cli: not_found http=[0-9]* code=0: download: export URL expired" err &&
	test ! -e expired.csv && test ! -e expired.csv.part || exit 1
	exit $rc
'

test_expect_success 'a new export after expiry works again' '
	cli export Main >url2 &&
	cli download "$(cat url2)" main.csv &&
	grep -q ann@example.com main.csv
'

test_expect_success 'update job: NDJSON upload changes the users' '
	printf "%s\n" "{\"id\":\"ann@example.com\",\"vars\":{\"n\":7}}" \
	    "{\"id\":\"bob@example.com\",\"vars\":{\"n\":8}}" >upd.ndjson &&
	cli upload update upd.ndjson >jobid &&
	test -s jobid &&
	cli job "$(cat jobid)" >job.json &&
	cat job.json &&
	jq -e ".status == \"completed\"" job.json &&
	cli call GET user "{\"id\":\"ann@example.com\",\"fields\":{\"vars\":1}}" >ann &&
	jq -e ".vars.n == 7" ann &&
	cli call GET user "{\"id\":\"bob@example.com\",\"fields\":{\"vars\":1}}" >bob &&
	jq -e ".vars.n == 8" bob
'

test_expect_success 'update job upload survives an injected 500' '
	printf "%s\n" "{\"id\":\"ann@example.com\",\"vars\":{\"n\":9}}" >upd2.ndjson &&
	fault "{\"endpoint\":\"job\",\"method\":\"POST\",\"nth\":1,\"count\":1,\"kind\":\"http500\"}" &&
	cli upload update upd2.ndjson >jobid2 2>err &&
	cat err &&
	grep -q "recovered method=POST endpoint=job" err &&
	cli job "$(cat jobid2)" >job2.json &&
	jq -e ".status == \"completed\"" job2.json &&
	cli call GET user "{\"id\":\"ann@example.com\",\"fields\":{\"vars\":1}}" >ann &&
	jq -e ".vars.n == 9" ann
'

test_expect_success 'the secret never appears in any output' '
	! grep -l "$SIM_SECRET" "$SCRATCH"/test-*.out "$SCRATCH"/err
'

test_done
