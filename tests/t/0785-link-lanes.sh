#!/bin/sh
# The link value of a row is read once, the same way, for two uses: the
# fetcher picks the row's writer lane by it and the mapper matches the
# profile by it (ids[0]).  If they differed, one person's rows would meet
# in different lanes and merges would be missed.  For CSV and JSON-lines
# rows whose link values need normalizing (case, blanks, numbers, arrays),
# every record's lane must be the lane of its match key.
. "$(dirname "$0")/../lib.sh"

# 200 rows per file; link values in mixed case, padded with blanks, and
# in JSON also as numbers and one-element arrays.
i=0
{
	echo 'Profile Id,Email,name,Email'
	while [ $i -lt 200 ]; do
		echo "$(printf '%024x' $i),  User$i@Example.COM ,n$i,other$i@x.org"
		i=$((i + 1))
	done
} >"$SCRATCH/rows.csv"
i=0
while [ $i -lt 200 ]; do
	case $((i % 4)) in
	0) echo "{\"extid\": \" Ext-$i \", \"name\": \"n$i\"}" ;;
	1) echo "{\"extid\": $((i * 7919)), \"name\": \"n$i\"}" ;;
	2) echo "{\"extid\": [\"A$i\", \"b\"], \"name\": \"n$i\"}" ;;
	3) echo "{\"name\": \"n$i\", \"extid\": \"\\u0041$i\"}" ;;
	esac
	i=$((i + 1))
done >"$SCRATCH/rows.jsonl"

cat >"$SCRATCH/l.json" <<'JSON'
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true},
                   "extid": {"type": "text", "unique": true}, "name": {"type": "text"}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
               "lanes": ["ipc://run/lane-0", "ipc://run/lane-1", "ipc://run/lane-2",
                         "ipc://run/lane-3"],
               "state_dir": "fetcher"},
  "connections": [
   {"name": "csv", "api_key": "x", "secret": "x", "goals": [
     {"name": "c", "type": "file", "path": "rows.csv", "create_profiles": true,
      "link": {"column": "Email", "property": "email"},
      "mappings": [{"column": "name", "property": "name"}]}]},
   {"name": "jsonl", "api_key": "x", "secret": "x", "goals": [
     {"name": "j", "type": "file", "path": "rows.jsonl", "create_profiles": true,
      "link": {"column": "extid", "property": "extid"},
      "mappings": [{"column": "name", "property": "name"}]}]}]
}
JSON

# links FORMAT: fetch to a capture, map it, and list each record's lanes.
links() {
	sailsync-fetcher -c l.json run "$1" --no-progress --users "file:$1.users" >/dev/null &&
	sailsync-mapper -c l.json --in "file:$1.users" --out "file:$1.patches" &&
	captool links "$1.patches" --lanes 4 >"$1.links"
}

# check FILE: 200 matched records, all in their match key's lane, spread
# over more than one lane.
check() {
	test "$(grep -c link_lane "$1")" = 200 &&
	! grep skip= "$1" &&
	awk '{ split($1, a, "="); split($2, b, "="); if (a[2] != b[2]) bad++ }
	     END { exit bad > 0 }' "$1" &&
	test "$(cut -d" " -f1 "$1" | sort -u | wc -l)" -gt 1
}

test_expect_success 'CSV rows: each lane is the lane of the row'"'"'s match key' '
	links csv && check csv.links
'

test_expect_success 'JSON-lines rows: each lane is the lane of the row'"'"'s match key' '
	links jsonl && check jsonl.links
'

test_expect_success 'the check fails when a lane is not the match key'"'"'s' '
	sed "1s/^lane=\([0-9]\) link_lane=[0-9]/lane=\1 link_lane=9/" csv.links >bad.links &&
	! check bad.links
'

test_done
