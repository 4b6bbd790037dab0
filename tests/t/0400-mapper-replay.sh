#!/bin/sh
# tests/t/0400-mapper-replay.sh: sailsync-mapper replays USERS captures into
# PATCHES captures, survives malformed and cut captures, routes lanes over
# ipc:// and keeps its log short when a column is bad in every row.
. "$(dirname "$0")/../lib.sh"

cat >"$SCRATCH/sailsync.json" <<'EOF'
{
  "store": {"path": "store", "properties": {
    "email": {"type": "text", "unique": true},
    "name": {"type": "text"},
    "opens": {"type": "number"},
    "since": {"type": "datetime"},
    "tags": {"type": "text", "multi": true},
    "lists": {"type": "text", "multi": true}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0", "ipc://run/lane-1"]},
  "connections": [{"name": "acme", "api_key": "k", "secret": "s",
    "timezone": "America/New_York",
    "goals": [
      {"name": "members", "type": "import", "lists": ["Main"],
       "list_property": "lists",
       "link": {"column": "Email", "property": "email"},
       "mappings": [{"column": "Name", "property": "name"},
                    {"column": "Opens", "property": "opens", "rule": "sum"},
                    {"column": "Since", "property": "since"}]},
      {"name": "people", "type": "file", "path": "people.jsonl",
       "create_profiles": true,
       "link": {"column": "email", "property": "email"},
       "mappings": [{"column": "tags", "property": "tags", "rule": "add"}]}]}]
}
EOF
mkdir -p "$SCRATCH/run"

cat >"$SCRATCH/members.csv" <<'EOF'
Profile Id,Email,Name,Opens,Since
sid1, Foo@Example.COM ,Foo,3,2021-03-31 22:15:07
sid2,,Bar,1,
sid3,c@d.org,Baz,x,
sid4,e@f.org,,12.0,2021-03-31T22:15:07-04:00
sid5,g@h.org,Gee,,nope
EOF

# frame_ends FILE: the byte offset where each frame of a capture ends.
frame_ends() {
	off=16
	size=$(wc -c <"$1")
	while [ "$off" -lt "$size" ]; do
		len=$(od -An -tu4 --endian=big -j "$off" -N4 "$1" | tr -d ' ')
		[ "$len" = 4294967295 ] && break
		off=$((off + 4 + len))
		echo "$off"
	done
}

test_expect_success 'configuration check' '
	sailsync-mapper -c sailsync.json -n
'

test_expect_failure_exit 'a bad configuration exits 78' 78 '
	echo "{\"store\": 3}" >bad.json &&
	sailsync-mapper -c bad.json -n
'

test_expect_failure_exit 'an unknown argument exits 64' 64 '
	sailsync-mapper -c sailsync.json --frobnicate
'

test_expect_success 'replay maps every row into one patch, exactly' '
	mkusers write -b 2 file:users.cap acme members Main 9 <members.csv &&
	sailsync-mapper -c sailsync.json --in file:users.cap --out file:patches.cap \
		2>replay.log &&
	test -f patches.cap && ! test -e patches.cap.tmp &&
	mkusers dump file:patches.cap >got &&
	cat >want <<-\EOF &&
	patches run=9 lane=0 seq_first=1 n=2 conn=acme goal=members list=Main
	seq=1 line=2 ids=email:foo@example.com,sailthru_profile_id:sid1 ops=set sailthru_profile_id='"'sid1'"'; set email='"'foo@example.com'"'; add lists='"'Main'"'; set name='"'Foo'"'; sum opens=3; set since=@1617243307000
	seq=2 line=3 skip=no_identifier
	patches run=9 lane=0 seq_first=3 n=2 conn=acme goal=members list=Main
	seq=3 line=4 ids=email:c@d.org,sailthru_profile_id:sid3 ops=set sailthru_profile_id='"'sid3'"'; set email='"'c@d.org'"'; add lists='"'Main'"'; set name='"'Baz'"' notes=sum_not_a_number:opens
	seq=4 line=5 ids=email:e@f.org,sailthru_profile_id:sid4 ops=set sailthru_profile_id='"'sid4'"'; set email='"'e@f.org'"'; add lists='"'Main'"'; sum opens=12; set since=@1617243307000
	patches run=9 lane=0 seq_first=5 n=1 conn=acme goal=members list=Main
	seq=5 line=6 ids=email:g@h.org,sailthru_profile_id:sid5 ops=set sailthru_profile_id='"'sid5'"'; set email='"'g@h.org'"'; add lists='"'Main'"'; set name='"'Gee'"' notes=invalid_datetime:since
	end run=9 lane=0 seq_first=0 n=0 conn=acme goal=members list=Main total=5
	EOF
	diff want got &&
	grep -q "column=Opens reason=sum_not_a_number first_line=4 count=1" replay.log &&
	grep -q "column=Since reason=invalid_datetime first_line=6 count=1" replay.log
'

test_expect_success 'a malformed frame is logged once and dropped' '
	mkusers write -g -b 2 file:garbage.cap acme members Main 9 <members.csv &&
	sailsync-mapper -c sailsync.json --in file:garbage.cap --out file:g-out.cap \
		2>garbage.log &&
	test "$(grep -c "dropped malformed batch" garbage.log)" = 1 &&
	mkusers dump file:g-out.cap >got &&
	test "$(grep -c "^seq=" got)" = 5
'

test_expect_success 'unknown goal: the batch is dropped with its reason, END passes' '
	mkusers write file:nogoal.cap acme nosuch Main 9 <members.csv &&
	sailsync-mapper -c sailsync.json --in file:nogoal.cap --out file:n-out.cap \
		2>nogoal.log &&
	grep -q "dropped batch reason=\"unknown goal conn=acme goal=nosuch\"" nogoal.log &&
	mkusers dump file:n-out.cap >got &&
	test "$(wc -l <got)" = 1 && grep -q "^end run=9" got
'

test_expect_failure_exit 'a cut capture: whole frames mapped, exit 65' 65 '
	mkusers write -b 2 file:users.cap acme members Main 9 <members.csv &&
	cut=$(($(frame_ends users.cap | sed -n 2p) + 5)) &&
	head -c "$cut" users.cap >cut.cap &&
	sailsync-mapper -c sailsync.json --in file:cut.cap --out file:cut-out.cap \
		2>cut.log
	rc=$?
	grep -q "replay cut short" cut.log || exit 1
	mkusers dump file:cut-out.cap >got || exit 1
	test "$(grep -c "^patches" got)" = 2 || exit 1
	test "$(grep -c "^seq=" got)" = 4 || exit 1
	exit $rc
'

test_expect_success 'JSON lines: special keys, arrays, bad lines' '
	cat >people.jsonl <<-\EOF &&
	{"email": "A@B.org", "tags": ["x", "y"], "segments": ["vip"], "permission": "full", "lifecycles": {"onboarding": "new"}}
	{"email": "c@d.org"
	[1, 2]
	{"tags": ["no email"]}
	EOF
	mkusers write -j file:j.cap acme people people.jsonl 3 <people.jsonl &&
	sailsync-mapper -c sailsync.json --in file:j.cap --out file:j-out.cap &&
	mkusers dump file:j-out.cap >got &&
	cat >want <<-\EOF &&
	patches run=3 lane=0 seq_first=1 n=4 conn=acme goal=people list=people.jsonl
	seq=1 line=1 ids=email:a@b.org ops=set email='"'a@b.org'"'; add tags='"'x'"'|'"'y'"'; set $segments='"'vip'"'; set $permission='"'full'"'; set $lifecycle.onboarding='"'new'"'
	seq=2 line=2 skip=invalid_json
	seq=3 line=3 skip=not_an_object
	seq=4 line=4 skip=no_identifier
	end run=3 lane=0 seq_first=0 n=0 conn=acme goal=people list=people.jsonl total=4
	EOF
	diff want got
'

test_expect_success 'a bad column in every row logs a few lines, not one per row' '
	{
		echo "Profile Id,Email,Name,Opens,Since"
		i=0
		while [ $i -lt 3000 ]; do
			echo "s$i,u$i@x.org,N,many,"
			i=$((i + 1))
		done
	} >many.csv &&
	mkusers write -b 1000 file:many.cap acme members Main 4 <many.csv &&
	sailsync-mapper -c sailsync.json --in file:many.cap --out file:many-out.cap \
		2>many.log &&
	test "$(grep -c "reason=sum_not_a_number" many.log)" = 2 &&
	grep -q "field problem run=4 .* first_line=2 count=1000 total=1000" many.log &&
	grep -q "field problems run=4 .* count=2000 total=3000" many.log
'

# The daemon in its default wiring: PULL from pipeline.users, one PUSH per
# lane.  Started outside a test so that cleanup knows every pid.
cd "$SCRATCH" || exit 1
spawn lane0 sh -c "exec mkusers dump ipc://run/lane-0 >lane0.out"
spawn lane1 sh -c "exec mkusers dump ipc://run/lane-1 >lane1.out"
spawn mapper sh -c 'sailsync-mapper -c sailsync.json & echo $! >mapper.pid; wait $!; echo $? >mapper.rc'
wait_for 10 test -s mapper.pid && SPAWNED="$SPAWNED $(cat mapper.pid)"

# Six batches stay below the mapper's receive HWM (CHAN_HWM_STAGE, 8): a
# sender that exits while the mapper's queue is full loses what is still in
# the socket.  The fetcher never does (it stays until every batch is
# acknowledged and resends what was not); mkusers exits as soon as it has
# sent.
test_expect_success 'lanes over ipc: each row reaches the lane of its link value' '
	mkusers write -n 2 -k Email -p email -b 500 ipc://run/users acme members Main 11 \
		<many.csv &&
	wait_for 20 grep -q "^end" lane0.out &&
	wait_for 20 grep -q "^end" lane1.out &&
	n0=$(grep -c "^seq=" lane0.out) && n1=$(grep -c "^seq=" lane1.out) &&
	echo "lane0=$n0 lane1=$n1" &&
	test $((n0 + n1)) = 3000 && test "$n0" -gt 0 && test "$n1" -gt 0 &&
	grep -q "^end .*total=$n0" lane0.out && grep -q "^end .*total=$n1" lane1.out &&
	! grep -q "lane=1" lane0.out && ! grep -q "lane=0" lane1.out
'

test_expect_success 'SIGTERM: the mapper exits 0' '
	kill -TERM "$(cat mapper.pid)" &&
	wait_for 10 test -s mapper.rc &&
	test "$(cat mapper.rc)" = 0 &&
	grep -q "stopping batches=6 rows=3000" mapper.log
'

test_done
