#!/bin/sh
# CURVE: the same import through two mappers and two lanes over
# tcp://127.0.0.1 with pipeline.curve set ends with the same profiles as
# one mapper and one lane over ipc://; a secret key file others can read
# is a configuration error.  Strangers' keys are refused in t_chan_curve.
. "$(dirname "$0")/../lib.sh"

gen-seed --users 2000 --lists "Newsletter,VIP,Engaged:smart" --seed 23 >"$SCRATCH/seed.json"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

# A port block for this run, away from 0760's: 4 consecutive free ports.
base=$(( 20005 + ($$ * 11) % 30000 ))

# conf NAME LANES USERS ACKS [CURVE]: CURVE is a JSON pipeline.curve object.
conf() {
	cv=
	[ -z "${5:-}" ] || cv="\"curve\": $5,"
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "store-$1",
    "properties": {"email": {"type": "text", "unique": true}, "first_name": {"type": "text"},
                   "city": {"type": "text"}, "opens": {"type": "number"},
                   "lists": {"type": "text", "multi": true}},
    "merge": ["email", "sailthru_profile_id"]},
  "pipeline": {"users": "$3", "acks": "$4", "lanes": $2, $cv
               "batch_rows": 200, "state_dir": "fetcher-$1"},
  "connections": [{"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [{"name": "members", "type": "import", "lists": ["Newsletter", "VIP", "Engaged"],
               "create_profiles": true, "list_property": "lists",
               "link": {"column": "Email", "property": "email"},
               "mappings": [{"column": "first_name", "property": "first_name", "rule": "set"},
                            {"column": "city", "property": "city", "rule": "set_if_empty"},
                            {"column": "Opens", "property": "opens", "rule": "sum"}]}]}]
}
JSON
}

test_expect_success 'keygen writes a 0600 secret key and prints the public key' '
	mkdir -p keys && sailsync keygen keys/curve.key >curve.pub &&
	test "$(wc -c <curve.pub)" -eq 41 &&
	test "$(stat -c %a keys/curve.key)" = 600 &&
	! sailsync keygen keys/curve.key >/dev/null 2>&1
'
pub=$(cat "$SCRATCH/curve.pub" 2>/dev/null)
curve="{\"public_key\": \"$pub\", \"secret_key_file\": \"keys/curve.key\"}"

conf one '["ipc://run-one/lane-0"]' "ipc://run-one/users" "ipc://run-one/acks"
conf sec "[\"tcp://127.0.0.1:$((base + 2))\", \"tcp://127.0.0.1:$((base + 3))\"]" \
	"tcp://127.0.0.1:$base" "tcp://127.0.0.1:$((base + 1))" "$curve"

test_expect_success 'the configuration with pipeline.curve checks' '
	stages sec.json check
'

test_expect_success 'one mapper, one lane over ipc://' '
	stages one.json start --mappers 1 &&
	stages one.json run st --no-progress --summary-json one.sum >/dev/null &&
	stages one.json dump --no-ids >one.dump && test -s one.dump
'

test_expect_success 'two mappers, two lanes over tcp://127.0.0.1 with CURVE' '
	stages sec.json start --mappers 2 &&
	stages sec.json status | grep -c "^\(writer\|mapper\)-[0-9]* running" >n && test "$(cat n)" -eq 4 &&
	stages sec.json run st --no-progress --summary-json sec.sum >/dev/null &&
	stages sec.json dump --no-ids >sec.dump
'

test_expect_success 'the same profiles and the same counts' '
	cmp one.dump sec.dump &&
	test "$(jq -c ".goals[0] | [.created, .updated, .unchanged, .skipped, .unique]" one.sum)" = \
	     "$(jq -c ".goals[0] | [.created, .updated, .unchanged, .skipped, .unique]" sec.sum)"
'

test_expect_success 'no stage refused a peer' '
	! grep -h "refused a peer" sup-sec/*.log sec.log 2>/dev/null
'

test_expect_success 'stop the CURVE stages' '
	stages sec.json stop && stages sec.json status | grep -q "no stage running"
'

# A secret key file others can read: every stage refuses to start, in one line.
mkdir -p "$SCRATCH/open"
cp "$SCRATCH/keys/curve.key" "$SCRATCH/open/curve.key" 2>/dev/null
chmod 0644 "$SCRATCH/open/curve.key" 2>/dev/null
conf open "[\"tcp://127.0.0.1:$((base + 2))\"]" "tcp://127.0.0.1:$base" \
	"tcp://127.0.0.1:$((base + 1))" "{\"public_key\": \"$pub\", \"secret_key_file\": \"open/curve.key\"}"

test_expect_failure_exit 'a 0644 secret key file: the writer exits 78' 78 '
	sailsync-writer -c open.json --lane 0 2>open.err
'
test_expect_success '... with one line naming the file and the mode' '
	test "$(wc -l <open.err)" -eq 1 &&
	grep -q "pipeline.curve.secret_key_file: .*open/curve.key.*: mode 0644 is too open" open.err &&
	! grep -qF -e "$(cat keys/curve.key)" open.err
'
test_expect_failure_exit 'a 0644 secret key file: the mapper exits 78' 78 '
	sailsync-mapper -c open.json 2>open-m.err
'
test_expect_failure_exit 'a 0644 secret key file: the fetcher exits 78' 78 '
	sailsync-fetcher -c open.json run st 2>open-f.err
'

# A secret key that is not the public key'"'"'s.
test_expect_failure_exit 'a secret key of another keypair: exit 78' 78 '
	sailsync-mapper --curve-keygen other.key >/dev/null &&
	sed "s#keys/curve.key#other.key#" sec.json >other.json &&
	sailsync-mapper -c other.json -n 2>other.err
'
test_expect_success '... in one line, without the secret' '
	test "$(wc -l <other.err)" -eq 1 &&
	grep -q "the secret key is not the one of public key" other.err &&
	! grep -qF -e "$(cat other.key)" other.err
'

test_done
