#!/bin/sh
# Re-laning a store: a store imported with one lane is rewritten offline
# with two (`sailsync-writer relane`); the next import with two lanes
# merges into the existing profiles, and the store ends as one imported
# with two lanes from the start.  The command refuses while a writer runs,
# and picks up after an interrupted swap.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

gen-seed --users 600 --lists "Newsletter,VIP,Engaged:smart" --seed 7 >"$SCRATCH/seed.json"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

# conf NAME STORE LANES: LANES is a JSON array of lane URIs.  A store's
# configurations share its state_dir, as one file edited would.
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "$2",
    "properties": {"email": {"type": "text", "unique": true}, "first_name": {"type": "text"},
                   "opens": {"type": "number"}, "lists": {"type": "text", "multi": true}},
    "merge": ["email", "sailthru_profile_id"]},
  "pipeline": {"users": "ipc://run-$1/users", "acks": "ipc://run-$1/acks", "lanes": $3,
               "batch_rows": 100, "state_dir": "fetcher-$2"},
  "connections": [{"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [{"name": "members", "type": "import", "lists": ["Newsletter", "VIP", "Engaged"],
               "create_profiles": true, "list_property": "lists",
               "link": {"column": "Email", "property": "email"},
               "mappings": [{"column": "first_name", "property": "first_name"},
                            {"column": "Opens", "property": "opens", "rule": "sum"}]}]}]
}
JSON
	mkdir -p "$SCRATCH/run-$1"
}
conf one store '["ipc://run-one/lane-0"]'
conf two store '["ipc://run-two/lane-0", "ipc://run-two/lane-1"]'
conf ref ref '["ipc://run-ref/lane-0", "ipc://run-ref/lane-1"]'

# entries STORE LANE: the records (profiles and redirects) of a lane.
entries() { mdb_stat -s profiles "$1/lane-$2" | awk '/Entries:/ { print $2 }'; }
# idents STORE LANE: the identifier keys a lane indexes (prop \x1f value, in
# hex), folded or still staged (README, "The store"; a staged key starts
# with its run's 4-byte number), sorted.
idents() {
	for db in ident ident_runs; do
		mdb_dump -s $db "$1/lane-$2" |
		    awk -v skip=$(test $db = ident_runs && echo 8 || echo 0) '
			/^HEADER=END/ { on = 1; n = 0; next }
			/^DATA=END/ { on = 0 }
			on && n++ % 2 == 0 { print substr($1, skip + 1) }'
	done | LC_ALL=C sort -u
}

test_expect_success 'an import with one lane' '
	stages one.json start --mappers 1 &&
	stages one.json run st --no-progress --summary-json one1.sum >/dev/null &&
	jq -e ".status == \"ok\" and .goals[0].created > 0" one1.sum &&
	stages one.json dump --no-ids >one.dump &&
	sailsync-writer -c one.json stats --run "$(jq .run one1.sum)" >one1.stats
'

test_expect_success 'relane refuses while a writer holds a lane, and changes nothing' '
	test_expect_code 75 sailsync-writer -c two.json relane >busy.out 2>busy.err &&
	grep -q "in use by another writer.*stop the writers first" busy.err &&
	test ! -e store.relane &&
	test "$(ls -d store.pre-relane.* 2>/dev/null | wc -l)" = 0 &&
	stages one.json stop &&
	test_expect_code 78 sailsync-writer -c two.json --lane 0 --acks none \
	    --in file:/dev/null 2>lanes.err &&
	grep -q "written with 1 lanes; the configuration has 2" lanes.err
'

test_expect_success 'relane to two lanes: the same profiles, spread over both' '
	test_expect_code 64 sailsync-writer -c two.json relane --from 3 2>from.err &&
	grep -q "was written with 1 lanes" from.err &&
	sailsync-writer -c two.json relane >relane.out &&
	cat relane.out &&
	grep -q "now has 2 lanes (was 1)" relane.out &&
	a=$(entries store 0) && b=$(entries store 1) && echo "lane-0 $a lane-1 $b" &&
	test "$a" -gt 0 && test "$b" -gt 0 &&
	sailsync-writer -c two.json dump --no-ids >relaned.dump &&
	cmp one.dump relaned.dump &&
	test "$(ls -d store.pre-relane.* | wc -l)" = 1 &&
	test ! -e store.relane && test ! -e store/RELANE-DONE
'

test_expect_success 'a profile moved to another lane is found by its id; old runs keep their figures' '
	sailsync-writer -c two.json dump >ids.dump &&
	n=0 && bad=0 &&
	while read -r line; do
		id=$(printf "%s" "$line" | jq -r .id) &&
		email=$(printf "%s" "$line" | jq -r .properties.email) &&
		sailsync-writer -c two.json show "$id" | jq -e ".properties.email == \"$email\"" >/dev/null &&
		n=$((n + 1)) || bad=$((bad + 1))
		[ $n -ge 20 ] && break
	done <ids.dump &&
	test "$bad" = 0 && test "$n" = 20 &&
	sailsync-writer -c two.json stats --run "$(jq .run one1.sum)" >relaned.stats &&
	jq -S "del(.goals[].last)" one1.stats >x1 && jq -S "del(.goals[].last)" relaned.stats >x2 &&
	cmp x1 x2
'

test_expect_success 'the next import with two lanes merges into the existing profiles' '
	stages two.json start --mappers 2 &&
	stages two.json run st --no-progress --summary-json two2.sum >/dev/null &&
	jq -e ".status == \"ok\" and .goals[0].created == 0" two2.sum &&
	jq -e ".goals[0].unique == $(jq .goals[0].created one1.sum)" two2.sum &&
	stages two.json dump --no-ids >two.dump &&
	test "$(wc -l <two.dump)" = "$(wc -l <one.dump)"
'

test_expect_success 'the store equals one imported twice with two lanes from the start, lane by lane' '
	stages ref.json start --mappers 2 &&
	stages ref.json run st --no-progress --summary-json ref1.sum >/dev/null &&
	stages ref.json run st --no-progress --summary-json ref2.sum >/dev/null &&
	stages ref.json dump --no-ids >ref.dump &&
	cmp ref.dump two.dump &&
	test "$(jq .goals[0].unique ref2.sum)" = "$(jq .goals[0].unique two2.sum)" &&
	idents ref 0 >ref0 && idents store 0 >store0 && test -s ref0 && cmp ref0 store0 &&
	idents ref 1 >ref1 && idents store 1 >store1 && test -s ref1 && cmp ref1 store1 &&
	test "$(entries ref 0)" = "$(entries store 0)" &&
	test "$(entries ref 1)" = "$(entries store 1)"
'

test_expect_success 'an interrupted re-lane is picked up by the next one' '
	stages two.json stop &&
	mkdir store.relane && : >store.relane/RELANE-BUILDING && : >store.relane/junk &&
	sailsync-writer -c two.json relane >again.out &&
	grep -q "nothing to do" again.out && test ! -e store.relane &&
	mkdir store.relane && : >store.relane/old-data && : >store/RELANE-DONE &&
	sailsync-writer -c two.json relane >again2.out 2>again2.err &&
	grep -q "old one is kept at" again2.err &&
	test ! -e store.relane && test ! -e store/RELANE-DONE &&
	test "$(ls -d store.pre-relane.* | wc -l)" = 2 &&
	stages two.json dump --no-ids | cmp - two.dump
'

# Profiles with several identifiers, merged: rows of goal a create
# profiles by email, rows of goal b others by Sailthru ID, and rows of goal
# c, which carry both (a "Profile Id" is always an identifier), merge each
# pair into the older (a's) profile, the other left as a redirect.
# Re-laned, each survivor goes by its email (goal a's link, the first in
# the file), and its redirect with it.
i=0
while [ $i -lt 40 ]; do
	sid=$(printf '5f0c1d2e3f4051627384%04x' $i)
	printf '{"email": "m%d@example.com"}\n' $i >>"$SCRATCH/a.jsonl"
	printf '{"sid": "%s", "city": "c%d"}\n' "$sid" $i >>"$SCRATCH/b.jsonl"
	printf '{"email": "M%d@example.com", "Profile Id": "%s", "n": 1}\n' $i "$sid" \
	    >>"$SCRATCH/c.jsonl"
	i=$((i + 1))
done
mconf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "mstore",
    "properties": {"email": {"type": "text", "unique": true}, "city": {"type": "text"},
                   "n": {"type": "number"}},
    "merge": ["email", "sailthru_profile_id"]},
  "pipeline": {"users": "ipc://run-$1/users", "acks": "ipc://run-$1/acks", "lanes": $2,
               "state_dir": "fetcher-mstore"},
  "connections": [{"name": "files", "api_key": "x", "secret": "x", "goals": [
     {"name": "a", "type": "file", "path": "a.jsonl", "create_profiles": true,
      "link": {"column": "email", "property": "email"}},
     {"name": "b", "type": "file", "path": "b.jsonl", "create_profiles": true,
      "link": {"column": "sid", "property": "sailthru_profile_id"},
      "mappings": [{"column": "city", "property": "city"}]}]},
   {"name": "both", "api_key": "x", "secret": "x", "goals": [
     {"name": "c", "type": "file", "path": "c.jsonl", "create_profiles": true,
      "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "n", "property": "n", "rule": "sum"}]}]}]
}
JSON
	mkdir -p "$SCRATCH/run-$1"
}
mconf mone '["ipc://run-mone/lane-0"]'
mconf mtwo '["ipc://run-mtwo/lane-0", "ipc://run-mtwo/lane-1"]'

test_expect_success 'merged profiles with one lane: 40 survivors, 40 redirects' '
	stages mone.json start --mappers 1 &&
	stages mone.json run files --no-progress >/dev/null &&
	stages mone.json dump | jq -r .id >b.ids.all &&
	stages mone.json run both --no-progress --summary-json both1.sum >/dev/null &&
	jq -e ".goals[0].updated == 40 and .goals[0].created == 0" both1.sum &&
	stages mone.json dump --no-ids >m1.dump && test "$(wc -l <m1.dump)" = 40 &&
	test "$(entries mstore 0)" = 80 &&
	stages mone.json stop
'

test_expect_success 'relaned: survivors by their email, redirects with them, every old id resolves' '
	sailsync-writer -c mtwo.json relane >mrelane.out &&
	grep -q "40 profiles, 40 redirects" mrelane.out &&
	test $(( $(entries mstore 0) + $(entries mstore 1) )) = 80 &&
	sailsync-writer -c mtwo.json dump --no-ids | cmp - m1.dump &&
	bad=0 &&
	while read -r id; do
		sailsync-writer -c mtwo.json show "$id" |
		    jq -e ".properties.email | test(\"^m[0-9]+@example.com$\")" >/dev/null ||
		    bad=$((bad + 1))
	done <b.ids.all &&
	test "$bad" = 0 &&
	sailsync-writer -c mtwo.json show sailthru_profile_id=5f0c1d2e3f40516273840007 |
	    jq -e ".properties.email == \"m7@example.com\" and .properties.city == \"c7\""
'

test_expect_success 'rows carrying both identifiers, with two lanes, update the merged profiles' '
	stages mtwo.json start --mappers 1 &&
	stages mtwo.json run both --no-progress --summary-json both2.sum >/dev/null &&
	jq -e ".goals[0].updated == 40 and .goals[0].created == 0 and .goals[0].unique == 40" both2.sum &&
	test "$(stages mtwo.json dump | wc -l)" = 40 &&
	stages mtwo.json show email=m7@example.com | jq -e ".properties.n == 2"
'

test_done
