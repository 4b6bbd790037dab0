#!/bin/sh
# Customer data from local files through the same pipeline: a JSON-lines
# file with segments, lifecycle stages, consents, refusals, permission level
# and viewed interactions; a CSV file; and consent objectives on the
# Sailthru connection, which then touches only profiles that consented.
. "$(dirname "$0")/../lib.sh"

cat >"$SCRATCH/crm.jsonl" <<'JSON'
{"email": "Ann@Example.com", "name": "Ann", "segments": ["vip", "new"], "consents": ["newsletter"], "permission": "full", "interactions": ["viewed:pricing", "viewed:docs"], "lifecycles": {"customer": "active"}}
{"email": "bob@example.com", "name": "Bob", "refused": ["newsletter"], "lifecycles": {"customer": "churned"}, "points": 3}

not json
{"email": "cy@example.com", "name": "Cy", "points": "many"}
JSON
printf 'email,name,points\nann@example.com,Annie,5\ndee@example.com,Dee,2\n' >"$SCRATCH/extra.csv"

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "All", "type": "normal"}],
 "users": [{"email": "ann@example.com", "vars": {"plan": "pro"}, "lists": ["All"]},
           {"email": "bob@example.com", "vars": {"plan": "free"}, "lists": ["All"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

cat >"$SCRATCH/f.json" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "name": {"type": "text"},
                   "points": {"type": "number"}, "plan": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks", "lanes": ["ipc://run/lane-0"],
               "state_dir": "fetcher"},
  "connections": [
   {"name": "files", "api_key": "x", "secret": "x", "goals": [
     {"name": "crm", "type": "file", "path": "crm.jsonl", "create_profiles": true,
      "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "name", "property": "name", "rule": "set"},
                   {"column": "points", "property": "points", "rule": "sum"}]},
     {"name": "extra", "type": "file", "path": "extra.csv", "create_profiles": true,
      "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "name", "property": "name", "rule": "set_if_empty"},
                   {"column": "points", "property": "points", "rule": "sum"}]}]},
   {"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "consent_objectives": ["newsletter"],
    "goals": [{"name": "plans", "type": "import", "lists": ["All"], "create_profiles": true,
               "link": {"column": "Email", "property": "email"},
               "mappings": [{"column": "plan", "property": "plan", "rule": "set"}]}]}]
}
JSON

test_expect_success 'a JSON-lines and a CSV file load through the pipeline' '
	stages f.json start --mappers 1 &&
	stages f.json run files --no-progress --summary-json files.sum >/dev/null 2>files.err &&
	jq -e ".goals[0].created == 3 and .goals[0].reasons.invalid_json == 1" files.sum &&
	jq -e ".goals[0].reasons[\"sum_not_a_number:points\"] == 1" files.sum &&
	jq -e ".goals[1].created == 1 and .goals[1].updated == 1" files.sum
'

test_expect_success 'segments, consents, permission, interactions and lifecycle stages are kept' '
	stages f.json show email=ann@example.com >ann &&
	cat ann &&
	jq -e ".properties[\"\$segments\"] == [\"vip\", \"new\"]" ann &&
	jq -e ".properties[\"\$consents\"] == [\"newsletter\"]" ann &&
	jq -e ".properties[\"\$permission\"] == \"full\"" ann &&
	jq -e ".properties[\"\$interactions\"] == [\"viewed:pricing\", \"viewed:docs\"]" ann &&
	jq -e ".properties[\"\$lifecycle.customer\"] == \"active\"" ann &&
	jq -e ".properties.name == \"Ann\" and .properties.points == 5" ann &&
	stages f.json show email=bob@example.com >bob &&
	jq -e ".properties[\"\$refused\"] == [\"newsletter\"] and .properties[\"\$lifecycle.customer\"] == \"churned\"" bob
'

test_expect_success 'with consent objectives, only consenting profiles are touched' '
	stages f.json run st --no-progress --summary-json st.sum >/dev/null 2>st.err &&
	jq -e ".goals[0].updated == 1 and .goals[0].reasons.no_consent == 1" st.sum &&
	stages f.json show email=ann@example.com | jq -e ".properties.plan == \"pro\"" &&
	stages f.json show email=bob@example.com | jq -e ".properties | has(\"plan\") | not"
'

test_done
