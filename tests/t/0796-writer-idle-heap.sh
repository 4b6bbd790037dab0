#!/bin/sh
# tests/t/0796-writer-idle-heap.sh: the stages keep freed memory for the
# next batch instead of faulting it in again (common/daemon.c), and a
# writer whose input has been quiet for a second gives it back: after an
# import of large values, its log says how much anonymous memory it
# returned and the process holds that little afterwards.
. "$(dirname "$0")/../lib.sh"

cd "$SCRATCH" || exit 1
mkdir -p run

# 600 rows with a 30,000-byte note each: 18 MB of values, which LMDB
# writes as overflow pages and frees at the commit, and the decoded
# batches that carried them.
awk 'BEGIN {
	for (pad = "n"; length(pad) < 30000; pad = pad pad) ;
	pad = substr(pad, 1, 30000)
	print "email,note"
	for (i = 0; i < 600; i++) printf "p%d@example.com,%s%d\n", i, pad, i
}' >big.csv

cat >h.json <<EOF
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "note": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "fetcher"},
  "connections": [{"name": "files", "api_key": "x", "secret": "x", "goals": [
    {"name": "big", "type": "file", "path": "big.csv", "create_profiles": true,
     "link": {"column": "email", "property": "email"},
     "mappings": [{"column": "note", "property": "note", "rule": "set"}]}]}]
}
EOF

# The writer's "free memory returned" line: after and before, KiB.
returned() {
	sed -n 's/.*free memory returned rss_anon_kb=\([0-9]*\) before=\([0-9]*\).*/\1 \2/p' \
	    "$SCRATCH/sup-h/writer-0.log" | tail -1
}

test_expect_success 'large values import' '
	stages h.json start --mappers 1 &&
	stages h.json run files --no-progress --summary-json h.sum >/dev/null 2>h.err &&
	jq -e ".goals[0].created == 600" h.sum &&
	stages h.json show email=p599@example.com | jq -e ".properties.note | endswith(\"n599\")"
'

test_expect_success 'a quiet writer returns its free memory, and holds that little' '
	wait_for 20 sh -c "test -n \"\$(sed -n /free\ memory\ returned/p $SCRATCH/sup-h/writer-0.log)\"" &&
	set -- $(returned) &&
	echo "writer anonymous memory: $2 KiB before, $1 KiB after" &&
	if sanitized; then
		echo "# sanitizer build: its allocator keeps what it frees"
	else
		test $(($2 - $1)) -ge 8192 &&
		now=$(awk "/^RssAnon:/ { print \$2 }" /proc/$(stage_pid h.json writer-0)/status) &&
		echo "now $now KiB" && test "$now" -lt $(($1 + 4096))
	fi
'

test_expect_success 'it returns memory once per quiet spell, not every second' '
	sleep 2.5 &&
	test "$(grep -c "free memory returned" "$SCRATCH/sup-h/writer-0.log")" -eq 1
'

test_expect_success 'the next import works the same' '
	sed -i "s/^p\([0-9]*\)@/q\1@/" big.csv &&
	stages h.json run files --no-progress --summary-json h2.sum >/dev/null 2>h2.err &&
	jq -e ".goals[0].created == 600" h2.sum &&
	wait_for 20 sh -c "test \$(grep -c \"free memory returned\" $SCRATCH/sup-h/writer-0.log) -eq 2"
'

test_done
