#!/bin/sh
# tests/t/0772-forged-run.sh: a writer applies only batches of a run the
# fetcher announced. Batches injected on a writer's socket with the run id
# the next real run will take (and sequence numbers 1..10) used to be
# applied, and the real run's first rows then skipped as already applied
# while it said ok. Without the run's tag (runauth.h), made with the
# connection's secret, the writer refuses them: nothing of them is stored,
# and the real run imports every row once.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

{
	echo "email,points"
	i=1
	while [ $i -le 20 ]; do echo "u$i@x.org,$i"; i=$((i + 1)); done
} >"$SCRATCH/people.csv"
{
	echo "email,points"
	i=1
	while [ $i -le 10 ]; do echo "evil$i@x.org,1000"; i=$((i + 1)); done
} >"$SCRATCH/evil.csv"

# conf NAME SECRET: the pipeline, one file goal; the attacker's copy has
# everything but the secret.
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "store", "commit_ms": 20,
    "properties": {"email": {"type": "text", "unique": true}, "points": {"type": "number"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state", "resend_ms": 300},
  "connections": [{"name": "crm", "api_key": "k", "secret": "$2",
    "goals": [{"name": "people", "type": "file", "path": "people.csv",
      "create_profiles": true, "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "points", "property": "points", "rule": "sum"}]}]}]
}
JSON
}
conf f the-connection-secret
conf attacker a-guess
mkdir -p "$SCRATCH/run"

test_expect_success 'batches of run 1 injected before it starts are refused, untagged or mistagged' '
	stages f.json start --mappers 1 &&
	wait_for 20 test -S run/lane-0 &&
	mkusers write -b 10 file:evil.cap crm people people.csv 1 <evil.csv &&
	mkusers write -b 10 -s a-guess file:evil2.cap crm people people.csv 1 <evil.csv &&
	sailsync-mapper -c attacker.json --in file:evil.cap --out ipc://run/lane-0 2>m1.err &&
	sailsync-mapper -c attacker.json --in file:evil2.cap --out ipc://run/lane-0 2>m2.err &&
	wait_for 20 grep -q "refused batch run=1 lane=0 seq_first=1 conn=crm reason=wrong_run_tag" \
		sup-f/writer-0.log &&
	grep -q "refused batch run=1 lane=0 seq_first=1 conn=crm reason=no_run_tag: not a run the fetcher started" \
		sup-f/writer-0.log &&
	sailsync-writer -c f.json dump --no-ids >before &&
	! grep -q evil before
'

test_expect_success 'the real run 1 then imports all 20 rows once, and nothing of the forged ones' '
	stages f.json run crm --no-progress --summary-json r.sum >/dev/null 2>r.err &&
	jq -e ".run == 1 and .status == \"ok\" and .goals[0].created == 20" r.sum &&
	sailsync-writer -c f.json dump --no-ids >after &&
	test "$(grep -c "@x.org" after)" = 20 &&
	! grep -q evil after &&
	test "$(sailsync-writer -c f.json show email=u7@x.org | jq ".properties.points")" = 7 &&
	test "$(sailsync-writer -c f.json show email=u1@x.org | jq ".properties.points")" = 1
'

test_expect_success 'a capture the fetcher made carries the tag and replays into a writer' '
	stages f.json stop &&
	sailsync-fetcher -c f.json run crm --users file:real.cap --no-progress >/dev/null 2>cap.err &&
	rm -rf store &&
	sailsync-mapper -c f.json --in file:real.cap --out file:real-p.cap &&
	sailsync-writer -c f.json --lane 0 --in file:real-p.cap --acks none 2>w.err &&
	test "$(sailsync-writer -c f.json dump --no-ids | grep -c "@x.org")" = 20 &&
	! grep -q "refused batch" w.err
'

test_done
