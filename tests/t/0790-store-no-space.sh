#!/bin/sh
# tests/t/0790-store-no-space.sh: a full disk under the store (a small
# tmpfs when root may mount one, and a file size limit, which needs no
# root) makes the writer log "no space" and exit 75, not die of SIGBUS;
# the supervisor does not restart it in a loop; once there is space the
# same input resumes from the committed point and the store equals an
# undisturbed one.
. "$(dirname "$0")/../lib.sh"

conf() {
	cat <<EOF
{
  "store": {"path": "$1", "map_size_mb": 64, "commit_rows": 200,
    "properties": {
    "email": {"type": "text", "unique": true},
    "note": {"type": "text"},
    "opens": {"type": "number"}},
    "merge": ["email", "sailthru_profile_id"]},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"]},
  "connections": [{"name": "acme", "api_key": "k", "secret": "s",
    "timezone": "UTC",
    "goals": [
      {"name": "members", "type": "import", "lists": ["Main"],
       "create_profiles": true,
       "link": {"column": "Email", "property": "email"},
       "mappings": [{"column": "Note", "property": "note"},
                    {"column": "Opens", "property": "opens", "rule": "sum"}]}]}]
}
EOF
}

cd "$SCRATCH" || exit 1
mkdir -p run tmpfs
mounted=
umount_tmpfs() {
	[ -n "$mounted" ] || return 0
	stages full.json stop >/dev/null 2>&1
	umount "$SCRATCH/tmpfs" 2>/dev/null
	mounted=
}
trap 'umount_tmpfs; cleanup' EXIT
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=2m,mode=0700 sailsync-test "$SCRATCH/tmpfs" 2>/dev/null; then
	mounted=yes
fi

conf ref >ref.json
conf tmpfs/store >full.json
conf limited >limited.json

# 6000 rows of 6000 people with a 500-byte note: about 5 MB of store,
# more than the 2 MB tmpfs and the 2 MB file size limit below.
awk 'BEGIN {
	print "Profile Id,Email,Note,Opens"
	note = sprintf("%500s", ""); gsub(/ /, "n", note)
	for (i = 0; i < 6000; i++)
		printf "sid%d,user%d@example.org,%s%d,%d\n", i, i, note, i, i % 7
}' >members.csv

test_expect_success 'a PATCHES capture, and the store it gives with space' '
	mkusers write -s s -b 100 file:users.cap acme members Main 7 <members.csv &&
	sailsync-mapper -c ref.json --in file:users.cap --out file:patches.cap &&
	sailsync-writer -c ref.json --lane 0 --in file:patches.cap --acks none 2>ref.log &&
	sailsync-writer -c ref.json dump --no-ids >ref.dump &&
	test "$(wc -l <ref.dump)" = 6000
'

# A file size limit (SIGXFSZ ignored, so a write past it is EFBIG): what
# a quota or a full disk looks like to write(2), without root.
test_expect_success 'file size limit: "no space", exit 75, nothing half-written' '
	rc=0 &&
	{ (trap "" XFSZ; ulimit -f 2048; exec sailsync-writer -c limited.json --lane 0 \
	    --in file:patches.cap --acks none) 2>lim1.log || rc=$?; } &&
	cat lim1.log &&
	test "$rc" = 75 &&
	grep -q "no space" lim1.log &&
	sailsync-writer -c limited.json dump --no-ids >lim1.dump &&
	n=$(wc -l <lim1.dump) && test "$n" -gt 0 && test "$n" -lt 6000 &&
	# What is there is a prefix of the complete store: whole commits only.
	sort ref.dump >ref.sorted && sort lim1.dump | comm -23 - ref.sorted >extra &&
	test ! -s extra
'

test_expect_success 'file size limit lifted: the same input completes the store' '
	sailsync-writer -c limited.json --lane 0 --in file:patches.cap --acks none 2>lim2.log &&
	sailsync-writer -c limited.json dump --no-ids >lim2.dump &&
	cmp ref.dump lim2.dump
'

if [ -z "$mounted" ]; then
	echo "# skipping the tmpfs cases: not root, or mount -t tmpfs is refused here"
	test_done
fi

test_expect_success 'full tmpfs: "no space", exit 75, no SIGBUS' '
	test_expect_code 75 sailsync-writer -c full.json --lane 0 --in file:patches.cap \
		--acks none 2>full1.log &&
	cat full1.log &&
	grep -q "no space" full1.log &&
	sailsync-writer -c full.json dump --no-ids >full1.dump &&
	test "$(wc -l <full1.dump)" -lt 6000
'

test_expect_success 'the supervisor does not restart a writer that exited 75' '
	stages full.json start --mappers 1 &&
	wait_for 20 grep -q "started lane=0" sup-full/writer-0.log &&
	# The rest of the input, straight into the supervised writer (in the
	# background: once the writer is gone, nothing takes the last
	# batches of the mapper).
	background feed sailsync-mapper -c full.json --in file:users.cap \
	    --out ipc://run/lane-0 &&
	wait_for 30 grep -q "exited 75 (no space); not restarting" sup-full/writer-0.log &&
	sleep 1 &&
	cat sup-full/writer-0.log &&
	test "$(grep -c "started lane=0" sup-full/writer-0.log)" = 1 &&
	{ kill "$(cat feed.pid)" 2>/dev/null || :; } &&
	test ! -f sup-full/writer-0.pid &&
	stages full.json stop
'

test_expect_success 'space returns: the same input completes the store' '
	mount -o remount,size=64m "$SCRATCH/tmpfs" &&
	sailsync-writer -c full.json --lane 0 --in file:patches.cap --acks none 2>full2.log &&
	sailsync-writer -c full.json dump --no-ids >full2.dump &&
	cmp ref.dump full2.dump
'

test_done
