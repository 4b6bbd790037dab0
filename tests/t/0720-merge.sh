#!/bin/sh
# Merge rules: a Sailthru row whose email matches one profile and whose
# Sailthru ID matches another merges the two; the survivor has the union,
# the index points to it, and the other id still resolves.
. "$(dirname "$0")/../lib.sh"

SID=5f0c1d2e3f405162738495a6
cat >"$SCRATCH/seed.json" <<JSON
{"lists": [{"name": "Members", "type": "normal"}],
 "users": [{"sid": "$SID", "email": "Max@Example.com", "vars": {"plan": "pro"}, "lists": ["Members"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

cat >"$SCRATCH/a.jsonl" <<'JSON'
{"email": "max@example.com", "first_name": "Max", "tiers": ["a"]}
JSON
cat >"$SCRATCH/b.jsonl" <<JSON
{"sid": "$SID", "city": "Oslo", "first_name": "Maxime", "tiers": ["b"]}
JSON
cat >"$SCRATCH/m.json" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "first_name": {"type": "text"},
                   "city": {"type": "text"}, "plan": {"type": "text"},
                   "tiers": {"type": "text", "multi": true}},
    "merge": ["email", "sailthru_profile_id"]},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks", "lanes": ["ipc://run/lane-0"],
               "state_dir": "fetcher"},
  "connections": [
   {"name": "files", "api_key": "x", "secret": "x", "goals": [
     {"name": "a", "type": "file", "path": "a.jsonl", "create_profiles": true,
      "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "first_name", "property": "first_name", "rule": "set"},
                   {"column": "tiers", "property": "tiers", "rule": "add"}]},
     {"name": "b", "type": "file", "path": "b.jsonl", "create_profiles": true,
      "link": {"column": "sid", "property": "sailthru_profile_id"},
      "mappings": [{"column": "city", "property": "city", "rule": "set"},
                   {"column": "first_name", "property": "first_name", "rule": "set"},
                   {"column": "tiers", "property": "tiers", "rule": "add"}]}]},
   {"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [{"name": "members", "type": "import", "lists": ["Members"], "create_profiles": false,
               "link": {"column": "Email", "property": "email"},
               "mappings": [{"column": "plan", "property": "plan", "rule": "set"}]}]}]
}
JSON

test_expect_success 'two profiles, one by email and one by Sailthru ID' '
	stages m.json start --mappers 1 &&
	stages m.json run files --no-progress --summary-json files.sum >/dev/null &&
	test "$(stages m.json dump | wc -l)" -eq 2 &&
	stages m.json show email=max@example.com | jq -r .id >a.id &&
	stages m.json show sailthru_profile_id='$SID' | jq -r .id >b.id &&
	test "$(cat a.id)" != "$(cat b.id)"
'

test_expect_success 'a row that matches both merges them into the older one' '
	stages m.json run st --no-progress --summary-json st.sum >/dev/null &&
	jq -e ".goals[0].updated == 1 and .goals[0].created == 0" st.sum &&
	test "$(stages m.json dump | wc -l)" -eq 1 &&
	stages m.json show email=max@example.com >max.json &&
	cat max.json &&
	test "$(jq -r .id max.json)" = "$(cat a.id)" &&
	jq -e ".properties.first_name == \"Max\" and .properties.city == \"Oslo\" and .properties.plan == \"pro\"" max.json &&
	jq -e ".properties.tiers == [\"a\", \"b\"]" max.json &&
	jq -e ".properties.sailthru_profile_id == \"'$SID'\"" max.json
'

test_expect_success 'both identifiers and the old id resolve to the survivor' '
	test "$(stages m.json show sailthru_profile_id='$SID' | jq -r .id)" = "$(cat a.id)" &&
	test "$(stages m.json show "$(cat b.id)" | jq -r .id)" = "$(cat a.id)"
'

test_done
