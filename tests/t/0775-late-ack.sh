#!/bin/sh
# An ACK that finds no fetcher listening is sent again.  The fetcher binds
# pipeline.acks only when its run starts, and a writer's connect to it is
# retried every 100 ms: the only ACK of a short run could go out before the
# connection was made, be dropped, and leave the fetcher waiting
# pipeline.resend_ms before it sent its window again.  Here the writer's
# ACKs go to a channel nobody binds until its rows are committed; with
# resend_ms at a minute nothing but the writer's own retry can deliver the
# ACK within the 10 s captool listens.
. "$(dirname "$0")/../lib.sh"

cat >"$SCRATCH/rows.jsonl" <<'JSON'
{"email": "ann@example.com", "first_name": "Ann"}
{"email": "bob@example.com", "first_name": "Bob"}
{"email": "cy@example.com", "first_name": "Cy"}
JSON
cat >"$SCRATCH/a.json" <<'JSON'
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "first_name": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks", "lanes": ["ipc://run/lane-0"],
               "state_dir": "fetcher", "resend_ms": 60000},
  "connections": [
   {"name": "files", "api_key": "x", "secret": "x", "goals": [
     {"name": "rows", "type": "file", "path": "rows.jsonl", "create_profiles": true,
      "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "first_name", "property": "first_name", "rule": "set"}]}]}]
}
JSON
mkdir -p "$SCRATCH/run"

test_expect_success 'the rows are committed while nobody hears the ACK' '
	spawn writer sailsync-writer -c a.json --lane 0 --acks "ipc://$SCRATCH/run/late-acks" &&
	spawn mapper sailsync-mapper -c a.json &&
	background fetcher sailsync-fetcher -c a.json run files --no-progress &&
	wait_for 20 sh -c "test \"\$(sailsync-writer -c a.json dump | wc -l)\" -eq 3"
'

test_expect_success 'the ACK is sent again once someone listens' '
	captool listen "ipc://$SCRATCH/run/late-acks" -o acks.cap --count 1 --ms 10000 &&
	captool dump acks.cap >acks.txt &&
	cat acks.txt &&
	grep -q "^ack run=1 lane=0 .* applied=3 " acks.txt
'

test_done
