#!/bin/sh
# Capture and replay: the fetcher's output captured to a file, replayed
# through the mapper and the writer; replayed twice (no change the second
# time); shuffled and duplicated (same store); cut short (the whole frames
# are applied, the writer says the capture was truncated).
. "$(dirname "$0")/../lib.sh"

gen-seed --csv --rows 5000 --seed 9 >"$SCRATCH/export.csv"

# conf NAME: a file goal over export.csv with every rule.
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "store-$1",
    "properties": {"email": {"type": "text", "unique": true}, "first_name": {"type": "text"},
                   "city": {"type": "text"}, "opens": {"type": "number"},
                   "tiers": {"type": "text", "multi": true}},
    "merge": ["email", "sailthru_profile_id"]},
  "pipeline": {"users": "ipc://run-$1/users", "acks": "ipc://run-$1/acks",
               "lanes": ["ipc://run-$1/lane-0"], "batch_rows": 500, "state_dir": "fetcher-$1"},
  "connections": [{"name": "f", "api_key": "x", "secret": "x",
    "goals": [{"name": "export", "type": "file", "path": "export.csv", "create_profiles": true,
               "link": {"column": "Email", "property": "email"},
               "mappings": [{"column": "first_name", "property": "first_name", "rule": "set"},
                            {"column": "city", "property": "city", "rule": "set_if_empty"},
                            {"column": "Opens", "property": "opens", "rule": "sum"},
                            {"column": "loyalty_tier", "property": "tiers", "rule": "add"}]}]}]
}
JSON
}
for n in live cap shuf cut; do conf $n; done

test_expect_success 'the live pipeline imports the file' '
	stages live.json start --mappers 1 &&
	stages live.json run f --no-progress >/dev/null &&
	stages live.json dump --no-ids >live.dump && test -s live.dump
'

test_expect_success 'the fetcher captures USERS to a file without waiting for acks' '
	sailsync-fetcher -c cap.json run f --no-progress --users file:users.cap >/dev/null &&
	test -f users.cap && ! test -f users.cap.tmp &&
	captool count users.cap >n && test "$(cat n)" -ge 10
'

test_expect_success 'the capture replays through the mapper and the writer' '
	sailsync-mapper -c cap.json --in file:users.cap --out file:patches.cap &&
	sailsync-writer -c cap.json --lane 0 --in file:patches.cap --acks none &&
	sailsync-writer -c cap.json dump --no-ids >cap.dump &&
	cmp live.dump cap.dump
'

test_expect_success 'replaying the same capture again changes nothing' '
	sailsync-writer -c cap.json dump >before &&
	sailsync-writer -c cap.json --lane 0 --in file:patches.cap --acks none &&
	sailsync-writer -c cap.json dump >after &&
	cmp before after
'

test_expect_success 'shuffled and duplicated batches give the same store' '
	captool dup patches.cap -o dup.cap --seed 4 &&
	captool shuffle dup.cap -o shuf.cap --seed 7 &&
	test "$(captool count shuf.cap)" -gt "$(captool count patches.cap)" &&
	sailsync-writer -c shuf.json --lane 0 --in file:shuf.cap --acks none &&
	sailsync-writer -c shuf.json dump --no-ids >shuf.dump &&
	cmp live.dump shuf.dump
'

test_expect_failure_exit 'a capture cut short is applied up to the cut and reported (exit 65)' 65 '
	size=$(wc -c <patches.cap) &&
	captool truncate patches.cap -o cut.cap --bytes $((size / 2)) &&
	sailsync-writer -c cut.json --lane 0 --in file:cut.cap --acks none 2>cut.err
'

test_expect_success '... having applied only whole batches, in order' '
	grep -qi "truncated" cut.err &&
	n=$(sailsync-writer -c cut.json dump | wc -l) &&
	test "$n" -gt 0 && test "$n" -lt "$(wc -l <live.dump)"
'

test_done
