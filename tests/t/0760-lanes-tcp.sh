#!/bin/sh
# Scale-out: the same import through two mappers and two writer lanes over
# tcp://127.0.0.1 ends with the same profiles as one mapper and one lane.
. "$(dirname "$0")/../lib.sh"

gen-seed --users 3000 --lists "Newsletter,VIP,Engaged:smart" --seed 21 >"$SCRATCH/seed.json"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

# A port block for this run: 5 consecutive free ports.
base=$(( 20000 + ($$ * 7) % 30000 ))

# conf NAME LANES: LANES is a JSON array of lane URIs.
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "store-$1",
    "properties": {"email": {"type": "text", "unique": true}, "first_name": {"type": "text"},
                   "city": {"type": "text"}, "opens": {"type": "number"},
                   "lists": {"type": "text", "multi": true}},
    "merge": ["email", "sailthru_profile_id"]},
  "pipeline": {"users": "$3", "acks": "$4", "lanes": $2,
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
conf one '["ipc://run-one/lane-0"]' "ipc://run-one/users" "ipc://run-one/acks"
conf two "[\"tcp://127.0.0.1:$((base + 2))\", \"tcp://127.0.0.1:$((base + 3))\"]" \
	"tcp://127.0.0.1:$base" "tcp://127.0.0.1:$((base + 1))"

test_expect_success 'one mapper, one lane' '
	stages one.json start --mappers 1 &&
	stages one.json run st --no-progress --summary-json one.sum >/dev/null &&
	stages one.json dump --no-ids >one.dump && test -s one.dump
'

test_expect_success 'two mappers, two lanes over tcp://127.0.0.1' '
	stages two.json start --mappers 2 &&
	stages two.json status | grep -c "^\(writer\|mapper\)-[0-9]* running" >n && test "$(cat n)" -eq 4 &&
	stages two.json run st --no-progress --summary-json two.sum >/dev/null &&
	stages two.json dump --no-ids >two.dump
'

# entries LANE: profiles stored in a lane of the two-lane store.
entries() { mdb_stat -s profiles "store-two/lane-$1" | awk '/Entries:/ { print $2 }'; }

test_expect_success 'both lanes hold profiles, and together all of them' '
	a=$(entries 0) && b=$(entries 1) && echo "lane-0 $a lane-1 $b" &&
	test "$a" -gt 0 && test "$b" -gt 0 &&
	test $((a + b)) -eq "$(wc -l <two.dump)"
'

test_expect_success 'the same profiles and the same counts' '
	cmp one.dump two.dump &&
	test "$(jq -c ".goals[0] | [.created, .updated, .unchanged, .skipped, .unique]" one.sum)" = \
	     "$(jq -c ".goals[0] | [.created, .updated, .unchanged, .skipped, .unique]" two.sum)"
'

test_done
