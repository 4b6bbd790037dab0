#!/bin/sh
# tests/t/0500-writer-replay.sh: sailsync-writer applies PATCHES captures
# exactly once: a replay twice, shuffled or duplicated gives the same store;
# a cut capture keeps its whole frames and exits 65; dump, show and stats
# read the store while a writer daemon runs; SIGTERM commits and exits 0.
. "$(dirname "$0")/../lib.sh"

conf() {
	cat <<EOF
{
  "store": {"path": "$1", "durable": false, "commit_rows": 50,
    "properties": {
    "email": {"type": "text", "unique": true},
    "name": {"type": "text"},
    "opens": {"type": "number"},
    "lists": {"type": "text", "multi": true}},
    "merge": ["email", "sailthru_profile_id"]},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "window": 16},
  "connections": [{"name": "acme", "api_key": "k", "secret": "s",
    "timezone": "UTC",
    "goals": [
      {"name": "members", "type": "import", "lists": ["Main"],
       "create_profiles": true, "list_property": "lists",
       "link": {"column": "Email", "property": "email"},
       "mappings": [{"column": "Name", "property": "name"},
                    {"column": "Opens", "property": "opens", "rule": "sum"}]}]}]
}
EOF
}

cd "$SCRATCH" || exit 1
mkdir -p run
for s in a b c d e f; do conf "store-$s" >"$s.json"; done

# 400 rows over 150 people: sums and list adds repeat, so a record applied
# twice would show.  window 16: the writer holds up to 64 early batches,
# more than the 45 of the capture, so a shuffled replay needs no resend.
{
	echo "Profile Id,Email,Name,Opens"
	i=0
	while [ $i -lt 400 ]; do
		u=$((i * 7 % 150))
		echo "sid$u,User$u@Example.org,Name$((i % 11)),$((i % 5))"
		i=$((i + 1))
	done
} >members.csv
{
	echo "Profile Id,Email,Name,Opens"
	echo "sid0,user0@example.org,Second,100"
} >second.csv

test_expect_success 'build a PATCHES capture with the mapper' '
	mkusers write -s s -b 9 file:users.cap acme members Main 7 <members.csv &&
	sailsync-mapper -c a.json --in file:users.cap --out file:patches.cap &&
	captool count patches.cap
'

test_expect_success 'replay: exit 0, 150 profiles' '
	sailsync-writer -c a.json --lane 0 --in file:patches.cap --acks none 2>w1.log &&
	sailsync-writer -c a.json dump >d1 &&
	test "$(wc -l <d1)" = 150 &&
	sailsync-writer -c a.json dump --no-ids >n1 &&
	grep -q "\"id\":\"00" d1 && ! grep -q "\"id\"" n1
'

test_expect_success 'sums and adds applied once per row' '
	# user0 rows: i = 0, 150, 300 (i*7 % 150 == 0); opens 0 + 0 + 0;
	# user1 rows: i = 43, 193, 343: opens 3 + 3 + 3 = 9, names 43%11=10 last 343%11=2
	grep -q "{\"properties\":{\"email\":\"user1@example.org\",\"lists\":\[\"Main\"\],\"name\":\"Name2\",\"opens\":9,\"sailthru_profile_id\":\"sid1\"}}" n1
'

test_expect_success 'a second replay changes nothing' '
	sailsync-writer -c a.json --lane 0 --in file:patches.cap --acks none 2>w2.log &&
	sailsync-writer -c a.json dump >d2 &&
	cmp d1 d2
'

test_expect_success 'shuffled and duplicated captures give the same store' '
	captool shuffle patches.cap -o shuf.cap --seed 3 &&
	captool dup shuf.cap -o dup.cap --seed 5 &&
	sailsync-writer -c b.json --lane 0 --in file:dup.cap --acks none 2>w3.log &&
	sailsync-writer -c b.json dump --no-ids >n3 &&
	cmp n1 n3 &&
	captool dup patches.cap -o dup2.cap --seed 11 &&
	captool shuffle dup2.cap -o shuf2.cap --seed 12 &&
	sailsync-writer -c c.json --lane 0 --in file:shuf2.cap --acks none 2>w4.log &&
	sailsync-writer -c c.json dump --no-ids >n4 &&
	cmp n1 n4
'

test_expect_failure_exit 'a cut capture: whole frames applied, exit 65' 65 '
	size=$(wc -c <patches.cap) &&
	captool truncate patches.cap -o cut.cap --bytes $((size / 2)) >/dev/null
	sailsync-writer -c d.json --lane 0 --in file:cut.cap --acks none 2>cut.log
	rc=$?
	grep -q "capture truncated" cut.log || exit 1
	n=$(sed -n "s/.*stopped lane=0 .* records=\([0-9]*\) .*/\1/p" cut.log)
	echo "records applied from the cut capture: $n"
	test "$n" -gt 0 && test "$n" -lt 400 || exit 1
	sailsync-writer -c d.json stats --run 7 | grep -q "\"skipped\":0" || exit 1
	exit $rc
'

test_expect_success 'the full capture after the cut one completes the store' '
	sailsync-writer -c d.json --lane 0 --in file:patches.cap --acks none 2>cut2.log &&
	sailsync-writer -c d.json dump --no-ids >n5 &&
	cmp n1 n5
'

test_expect_success 'a corrupt capture is logged, never a crash' '
	captool corrupt patches.cap -o bad.cap --seed 2 >/dev/null 2>&1 &&
	{ sailsync-writer -c e.json --lane 0 --in file:bad.cap --acks none 2>bad.log; rc=$?; } &&
	echo "exit $rc" && tail -3 bad.log &&
	{ test $rc = 0 || test $rc = 65; }
'

test_expect_success 'show by identifier and by id; a merged id resolves' '
	sailsync-writer -c a.json show "email= USER1@example.org" >s1 &&
	grep -q "\"name\":\"Name2\"" s1 &&
	id=$(sed "s/.*\"id\":\"\([0-9a-f]*\)\".*/\1/" s1) &&
	sailsync-writer -c a.json show "$id" >s2 &&
	cmp s1 s2 &&
	sailsync-writer -c a.json show sailthru_profile_id=sid1 >s3 &&
	cmp s1 s3 &&
	! sailsync-writer -c a.json show email=nobody@x.org
'

test_expect_success 'stats of the run' '
	sailsync-writer -c a.json stats --run 7 >st &&
	cat st &&
	grep -q "\"conn\":\"acme\",\"goal\":\"members\",\"created\":150,\"updated\":250,\"unchanged\":0,\"skipped\":0" st &&
	grep -q "\"unique\":150" st
'

# The daemon: the mapper feeds its lane over ipc; ACKs go nowhere.
spawn writer sailsync-writer -c f.json --lane 0 --acks none
test_expect_success 'daemon applies what the mapper sends; dump reads meanwhile' '
	wait_for 10 grep -q "started lane=0" "$SCRATCH/writer.log" &&
	sailsync-mapper -c f.json --in file:users.cap &&
	wait_for 20 sh -c "sailsync-writer -c f.json dump --no-ids | cmp -s - n1" &&
	sailsync-writer -c f.json stats --run 7 | grep -q "\"created\":150"
'

test_expect_success 'a second writer on a running lane is refused (75)' '
	test_expect_code 75 sailsync-writer -c f.json --lane 0 --in file:patches.cap \
		--acks none 2>second.log &&
	grep -q "store-f/lane-0 is in use by another writer" second.log &&
	sailsync-writer -c f.json stats --run 7 | grep -q "\"created\":150,\"updated\":250,"
'

test_expect_success 'SIGTERM: commits and exits 0' '
	pid=$(pid_of writer) &&
	kill -TERM "$pid" &&
	wait_for 5 eval "! kill -0 $pid" &&
	! kill -0 "$pid" 2>/dev/null &&
	grep -q "stopped lane=0 batches=45 records=400" "$SCRATCH/writer.log"
'

test_expect_success 'once the daemon is gone, the lane is free for a replay' '
	sailsync-writer -c f.json --lane 0 --in file:patches.cap --acks none 2>third.log &&
	sailsync-writer -c f.json dump --no-ids | cmp -s - n1
'

test_expect_success 'a lane count other than the store was written with is refused (78)' '
	sed "s|\"lanes\": \[\"ipc://run/lane-0\"\]|\"lanes\": [\"ipc://run/lane-0\", \"ipc://run/lane-1\"]|" \
		f.json >f2.json &&
	grep -q lane-1 f2.json &&
	test_expect_code 78 sailsync-writer -c f2.json --lane 0 --in file:patches.cap \
		--acks none 2>lanes.log &&
	grep -q "store-f/lane-0 holds data written with 1 lanes; the configuration has 2" lanes.log &&
	sailsync-writer -c f.json dump --no-ids | cmp -s - n1
'

test_done
