#!/bin/sh
# tests/t/0787-bad-text.sh: NUL bytes and invalid UTF-8 in a CSV never
# reach the store: an identifier that carries them skips its row
# (invalid_identifier), any other text skips its field (invalid_text:PROP),
# both counted; the dump stays valid UTF-8 JSON and lookups find what is
# stored.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

# Row 2 is clean. Row 3: a NUL inside the email. Row 4: a Latin-1 byte in
# the email. Row 5: a clean email, a NUL and an invalid byte in the name.
# Row 6: an overlong "/" (0xc0 0xaf) in the name. Row 7: valid UTF-8.
printf 'email,name\nann@x.org,Ann\nb\000b@x.org,Bob\nc\351@x.org,Cy\ndee@x.org,D\000e\377\neve@x.org,E\300\257\nfay@x.org,F\303\251\n' \
	>"$SCRATCH/people.csv"
cat >"$SCRATCH/f.json" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "name": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "fetcher"},
  "connections": [{"name": "files", "api_key": "x", "secret": "x", "goals": [
    {"name": "crm", "type": "file", "path": "people.csv", "create_profiles": true,
     "link": {"column": "email", "property": "email"},
     "mappings": [{"column": "name", "property": "name", "rule": "set"}]}]}]
}
JSON

test_expect_success 'bad text is skipped and counted by reason' '
	stages f.json start --mappers 1 &&
	stages f.json run files --no-progress --summary-json s.json >out 2>err &&
	cat out &&
	jq -e ".goals[0].created == 4" s.json &&
	jq -e ".goals[0].reasons.invalid_identifier == 2" s.json &&
	jq -e ".goals[0].reasons[\"invalid_text:name\"] == 2" s.json
'

test_expect_success 'the dump is valid UTF-8 JSON, one profile per line' '
	stages f.json dump >dump &&
	test "$(wc -l <dump)" = 4 &&
	python3 -c "
import json, sys
for line in open(\"dump\", \"rb\"):
    json.loads(line.decode(\"utf-8\", \"strict\"))
" &&
	! grep -q "u0000" dump
'

test_expect_success 'what is stored is found; a name that was bad is not set' '
	stages f.json show email=fay@x.org >fay &&
	test "$(jq -r .properties.name fay)" = "$(printf "F\303\251")" &&
	stages f.json show email=dee@x.org >dee &&
	jq -e ".properties.name == null" dee
'

test_done
