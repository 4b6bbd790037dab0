#!/bin/sh
# A Sailthru export with every CSV quirk, downloaded from the simulator and
# imported through the whole pipeline: a UTF-8 BOM, CRLF line ends, quoted
# fields with commas, quotes and newlines, UTF-8 text, a repeated header
# (the first one counts), a ragged row (reported and skipped, the rest
# imported) and a blank last line.
. "$(dirname "$0")/../lib.sh"

printf '\357\273\277' >"$SCRATCH/quirks.csv"
printf '%s\r\n' \
	'Profile Id,Email,first_name,city,first_name,note' \
	'5f0c00000000000000000001,ann@example.com,Ann,"Paris, France",Ignored,"she said ""hi"""' \
	'5f0c00000000000000000002,bob@example.com,Bob,"Line one' \
	'line two",Ignored,plain' \
	'5f0c00000000000000000003,zoe@example.com,Zoë,Zürich,Ignored,ok' \
	'5f0c00000000000000000004,ragged@example.com,Rag' \
	'5f0c00000000000000000005,eve@example.com,Eve,Oslo,Ignored,' \
	'' >>"$SCRATCH/quirks.csv"
cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Quirks", "type": "normal"}], "users": []}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 --export-file "Quirks=$SCRATCH/quirks.csv" || exit 1

cat >"$SCRATCH/q.json" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "first_name": {"type": "text"},
                   "city": {"type": "text"}, "note": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks", "lanes": ["ipc://run/lane-0"],
               "state_dir": "fetcher"},
  "connections": [{"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [{"name": "q", "type": "import", "lists": ["Quirks"], "create_profiles": true,
               "link": {"column": "Email", "property": "email"},
               "mappings": [{"column": "first_name", "property": "first_name", "rule": "set"},
                            {"column": "city", "property": "city", "rule": "set"},
                            {"column": "note", "property": "note", "rule": "set"}]}]}]
}
JSON

test_expect_success 'the quirky export imports; the ragged row is reported and skipped' '
	stages q.json start --mappers 1 &&
	stages q.json run st --no-progress --summary-json q.sum >q.out 2>q.err &&
	jq -e ".goals[0].created == 4" q.sum &&
	jq -e ".goals[0].reasons.ragged_row == 1" q.sum &&
	grep -q "ragged" q.err &&
	test "$(stages q.json dump | wc -l)" -eq 4
'

test_expect_success 'quoted commas, doubled quotes, the first of a repeated header' '
	stages q.json show email=ann@example.com >ann &&
	jq -e ".properties.city == \"Paris, France\" and .properties.first_name == \"Ann\"" ann &&
	jq -e ".properties.note == \"she said \\\"hi\\\"\"" ann &&
	jq -e ".properties.sailthru_profile_id == \"5f0c00000000000000000001\"" ann
'

test_expect_success 'an embedded newline and UTF-8 survive; the BOM does not' '
	stages q.json show email=bob@example.com | jq -e ".properties.city == \"Line one\r\nline two\"" &&
	stages q.json show email=zoe@example.com | jq -e ".properties.first_name == \"Zoë\" and .properties.city == \"Zürich\"" &&
	stages q.json show sailthru_profile_id=5f0c00000000000000000001 | jq -e ".properties.email == \"ann@example.com\""
'

test_expect_success 'an empty last field is no value, not an empty one' '
	stages q.json show email=eve@example.com | jq -e ".properties | has(\"note\") | not"
'

test_done
