#!/bin/sh
# A whole import through fetcher -> mapper -> writer against the simulator:
# every rule, create on and off, the list-name property across lists, and
# the summary's counts.
. "$(dirname "$0")/../lib.sh"

cat >seed.json <<'JSON'
{"lists": [{"name": "Newsletter", "type": "normal"}, {"name": "VIP", "type": "normal"},
           {"name": "Engaged", "type": "smart"}],
 "users": [
  {"email": "ann@example.com", "vars": {"first_name": "Ann", "city": "Paris", "score": "5", "tier": "gold"},
   "lists": ["Newsletter", "VIP"], "opens": 3, "last_open": "2021-03-31 22:15:07"},
  {"email": "bob@example.com", "vars": {"first_name": "Bob", "score": "lots", "tier": "silver"},
   "lists": ["Newsletter"], "opens": 1},
  {"email": " Cara@Example.COM ", "vars": {"first_name": "Cara", "city": "Rome", "score": "2"},
   "lists": ["VIP", "Engaged"], "opens": 7}
 ]}
JSON
mv seed.json "$SCRATCH/seed.json"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 100 || exit 1

# conf NAME CREATE: a configuration with one import goal over all lists,
# and a file goal ("crm") that loads existing profiles first.
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {
    "path": "store-$1",
    "properties": {
      "email":          {"type": "text", "unique": true},
      "first_name":     {"type": "text"},
      "city":           {"type": "text"},
      "score":          {"type": "number"},
      "opens":          {"type": "number"},
      "last_open":      {"type": "datetime"},
      "tiers":          {"type": "text", "multi": true},
      "sailthru_lists": {"type": "text", "multi": true}
    },
    "merge": ["email", "sailthru_profile_id"]
  },
  "pipeline": {"users": "ipc://run-$1/users", "acks": "ipc://run-$1/acks",
               "lanes": ["ipc://run-$1/lane-0"], "state_dir": "fetcher-$1", "resend_ms": 1000},
  "connections": [
   {"name": "crm", "api_key": "x", "secret": "x",
    "goals": [{"name": "crm", "type": "file", "path": "crm.jsonl", "create_profiles": true,
               "link": {"column": "email", "property": "email"},
               "mappings": [{"column": "city", "property": "city", "rule": "set"},
                            {"column": "score", "property": "score", "rule": "set"},
                            {"column": "tiers", "property": "tiers", "rule": "add"}]}]},
   {"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "timezone": "America/New_York",
    "goals": [{"name": "members", "type": "import", "lists": ["Newsletter", "VIP", "Engaged"],
               "create_profiles": $2, "list_property": "sailthru_lists",
               "link": {"column": "Email", "property": "email"},
               "mappings": [
                 {"column": "first_name", "property": "first_name", "rule": "set"},
                 {"column": "city",       "property": "city",       "rule": "set_if_empty"},
                 {"column": "tier",       "property": "tiers",      "rule": "add"},
                 {"column": "score",      "property": "score",      "rule": "sum"},
                 {"column": "Opens",      "property": "opens",      "rule": "sum"},
                 {"column": "Last Open",  "property": "last_open",  "rule": "set"}]}]}
  ]
}
JSON
}
cat >"$SCRATCH/crm.jsonl" <<'JSON'
{"email": "ann@example.com", "city": "London", "score": 10, "tiers": ["bronze"]}
JSON

conf on true
conf off false

test_expect_success 'stages start under the supervisor' '
	stages on.json start --mappers 1 &&
	stages on.json status | grep -q "writer-0 running"
'

test_expect_success 'a file goal loads the existing profile' '
	stages on.json run crm --no-progress --summary-json crm.sum >crm.out &&
	jq -e ".status == \"ok\" and .goals[0].created == 1" crm.sum
'

test_expect_success 'the import runs and reports what it did' '
	stages on.json run st --no-progress --summary-json st.json >st.out &&
	cat st.out &&
	jq -e ".status == \"ok\"" st.json &&
	jq -e ".goals[0].created == 2 and .goals[0].updated == 3" st.json &&
	jq -e ".goals[0].unique == 3" st.json &&
	jq -e "(.goals[0].last | length) == 3" st.json &&
	grep -q "created" st.out
'

test_expect_success 'set, set_if_empty, add and sum on an existing profile' '
	stages on.json show email=ann@example.com >ann.json &&
	cat ann.json &&
	jq -e ".properties.first_name == \"Ann\"" ann.json &&
	jq -e ".properties.city == \"London\"" ann.json &&
	jq -e ".properties.score == 20" ann.json &&
	jq -e ".properties.opens == 6" ann.json &&
	jq -e ".properties.tiers == [\"bronze\", \"gold\"]" ann.json &&
	jq -e ".properties.sailthru_lists == [\"Newsletter\", \"VIP\"]" ann.json &&
	jq -e ".properties.last_open == \"2021-03-31T22:15:07.000Z\"" ann.json &&
	jq -e ".properties.sailthru_profile_id | test(\"^[0-9a-f]{24}$\")" ann.json
'

test_expect_success 'a created profile, an email normalized, a smart list' '
	stages on.json show email=cara@example.com >cara.json &&
	jq -e ".properties.email == \"cara@example.com\" and .properties.city == \"Rome\"" cara.json &&
	jq -e ".properties.sailthru_lists == [\"VIP\", \"Engaged\"]" cara.json
'

test_expect_success 'a sum of a non-number is a counted skip, not a crash' '
	stages on.json show email=bob@example.com >bob.json &&
	jq -e "has(\"properties\") and (.properties | has(\"score\") | not) and .properties.opens == 1" bob.json &&
	jq -e ".goals[0].reasons[\"sum_not_a_number:score\"] == 1" st.json
'

test_expect_success 'the Sailthru ID maps to sailthru_profile_id, which resolves' '
	sid=$(jq -r .properties.sailthru_profile_id ann.json) &&
	stages on.json show "sailthru_profile_id=$sid" | jq -e ".properties.email == \"ann@example.com\""
'

test_expect_success 'with create off, unmatched users are skipped' '
	stages off.json start --mappers 1 &&
	stages off.json run crm --no-progress >/dev/null &&
	stages off.json run st --no-progress --summary-json off.sum >off.out &&
	jq -e ".goals[0].created == 0 and .goals[0].updated == 2" off.sum &&
	jq -e ".goals[0].reasons.no_match == 3" off.sum &&
	test "$(stages off.json dump | wc -l)" -eq 1
'

test_expect_success 'a second run adds sums again but creates nothing' '
	stages on.json run st --no-progress --summary-json st2.json >/dev/null &&
	jq -e ".goals[0].created == 0 and .goals[0].unique == 3" st2.json &&
	stages on.json show email=ann@example.com | jq -e ".properties.opens == 12"
'

test_done
