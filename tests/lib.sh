# tests/lib.sh: shared by the numbered integration scripts in tests/t/.
#
#   . "$(dirname "$0")/../lib.sh"
#   test_expect_success 'title' 'shell commands joined by &&'
#   test_expect_success 'title' 'test_expect_code 1 cmd args && more checks'
#   test_done
#
# Every script gets its own scratch directory ($SCRATCH, also the cwd of
# each test) and kills, on exit, only the processes it started with spawn.
# Output is TAP, for prove.

set -u

SAILSYNC_TOP=${SAILSYNC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
SAILSYNC_BIN=${SAILSYNC_BIN:-$SAILSYNC_TOP/build/default/bin}
PATH=$SAILSYNC_BIN:$SAILSYNC_TOP/deploy:$PATH
export SAILSYNC_TOP SAILSYNC_BIN PATH

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/sailsync-$(basename "$0" .sh).XXXXXX")
export SCRATCH
test_count=0
test_failed=0
SPAWNED=""

# Tests run in subshells, so what they start is remembered in files.
: >"$SCRATCH/.spawned"
: >"$SCRATCH/.stages"

cleanup() {
	while read -r c; do
		SAILSYNC_RUN=$SCRATCH/sup-$(basename "$c" .json) sailsync -c "$c" stop >/dev/null 2>&1
	done <"$SCRATCH/.stages"
	SPAWNED="$SPAWNED $(cat "$SCRATCH/.spawned")"
	for pid in $SPAWNED; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $SPAWNED; do
		# Give each a moment, then make sure.
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null
	done
	if [ "$test_failed" -eq 0 ] && [ -z "${KEEP_SCRATCH:-}" ]; then
		rm -rf "$SCRATCH"
	else
		echo "# scratch kept: $SCRATCH"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn NAME CMD...: runs CMD in the background with output in
# $SCRATCH/NAME.log; sets $! and remembers the pid for cleanup.
spawn() {
	name=$1; shift
	"$@" >>"$SCRATCH/$name.log" 2>&1 &
	SPAWNED="$SPAWNED $!"
	echo "$!" >>"$SCRATCH/.spawned"
	eval "PID_$(echo "$name" | tr -c 'A-Za-z0-9_\n' '_')=$!"
}

# pid_of NAME: the pid spawn gave NAME.
pid_of() {
	eval "echo \${PID_$(echo "$1" | tr -c 'A-Za-z0-9_\n' '_')}"
}

# sanitized: true when the binaries under test carry AddressSanitizer (make
# check SANITIZE=address,...): their memory figures are then the
# sanitizer's shadow and quarantine, not sailsync's.
sanitized() {
	ldd "$SAILSYNC_BIN/sailthru-sim" 2>/dev/null | grep -q libasan
}

# wait_for SECONDS CMD...: retries CMD every 0.1 s until it succeeds.
wait_for() {
	limit=$(($1 * 10)); shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge $limit ] && return 1
		sleep 0.1
	done
	return 0
}

# start_sim [ARGS...]: starts the Sailthru simulator on a free loopback
# port with key $SIM_KEY and secret $SIM_SECRET; sets SIM_URL and SIM_PID.
SIM_KEY=${SIM_KEY:-testkey}
SIM_SECRET=${SIM_SECRET:-testsecret}
start_sim() {
	rm -f "$SCRATCH/sim.port"
	spawn sim sailthru-sim --listen 127.0.0.1:0 --port-file "$SCRATCH/sim.port" \
		--key "$SIM_KEY" --secret "$SIM_SECRET" "$@"
	SIM_PID=$!
	wait_for 10 test -s "$SCRATCH/sim.port" || {
		echo "# simulator did not start:"; sed 's/^/# /' "$SCRATCH/sim.log"; return 1; }
	SIM_URL="http://127.0.0.1:$(cat "$SCRATCH/sim.port")"
	export SIM_URL SIM_PID
}

# port_base N: the first of N consecutive loopback TCP ports for a test's
# tcp:// channels: below the kernel's ephemeral range, so no outgoing
# connection (curl, zmq) can hold one meanwhile, and none listened on now
# (when ss is there to tell).
port_base() {
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) || lo=32768
	span=$((lo - 10000 - $1))
	tries=0
	while :; do
		b=$((10000 + $(od -An -N4 -tu4 /dev/urandom) % span))
		p=$b busy=0
		while [ $p -lt $((b + $1)) ] && command -v ss >/dev/null 2>&1; do
			ss -Htln "sport = :$p" | grep -q . && { busy=1; break; }
			p=$((p + 1))
		done
		tries=$((tries + 1))
		[ $busy -eq 0 ] || [ $tries -ge 20 ] && break
	done
	echo "$b"
}

# sig VALUE...: Sailthru's signature: MD5 of $SIM_SECRET and the sorted values.
sig() {
	printf '%s' "$SIM_SECRET$(printf '%s\n' "$@" | LC_ALL=C sort | tr -d '\n')" |
	    md5sum | cut -c1-32
}

# api METHOD ENDPOINT JSON [SIG]: one signed call to the simulator; prints
# the HTTP status, leaves the body in out.json and the headers in hdr.txt.
# SIG defaults to the right signature; $API_CURL_OPTS adds curl options.
api() {
	s=${4:-$(sig "$SIM_KEY" json "$3")}
	g=
	[ "$1" != POST ] && g=-G
	curl -s ${API_CURL_OPTS:-} -o out.json -D hdr.txt -w '%{http_code}' $g -X "$1" \
	    "$SIM_URL/$2" --data-urlencode "api_key=$SIM_KEY" --data-urlencode format=json \
	    --data-urlencode "json=$3" --data-urlencode "sig=$s"
}

# poll JOB_ID [TENTHS]: waits (up to TENTHS x 0.1 s, default 100) for the
# job to leave "pending"; the job is then in out.json.
poll() {
	i=0
	while [ $i -lt "${2:-100}" ]; do
		api GET job "{\"job_id\":\"$1\"}" >/dev/null
		[ "$(jq -r .status out.json)" != pending ] && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

# stages CONF ARGS...: the supervisor script for CONF, with its pid files
# and logs in $SCRATCH/sup-NAME; `stages CONF start` is stopped at exit.
stages() {
	c=$1; shift
	case "$c" in /*) ;; *) c=$SCRATCH/$c ;; esac
	grep -qxF "$c" "$SCRATCH/.stages" || echo "$c" >>"$SCRATCH/.stages"
	SAILSYNC_RUN=$SCRATCH/sup-$(basename "$c" .json) sailsync -c "$c" "$@"
}

# stage_pid CONF NAME: pid of a supervised stage (writer-0, mapper-1, ...).
stage_pid() {
	cat "$SCRATCH/sup-$(basename "$1" .json)/$2.child"
}

# background NAME CMD...: like spawn, for use inside a test; the pid is in
# $SCRATCH/NAME.pid and the process is killed at exit if still running.
background() {
	name=$1; shift
	"$@" >"$SCRATCH/$name.out" 2>"$SCRATCH/$name.log" &
	echo "$!" >"$SCRATCH/$name.pid"
	echo "$!" >>"$SCRATCH/.spawned"
}

# sim_fault JSON: arms a fault in the simulator.
sim_fault() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$SIM_URL/_sim/fault" >/dev/null
}

# test_chain_ok BODY: a body whose top-level commands are not all joined by
# && is a test that cannot fail where it should (a failed line is followed
# by one that succeeds). As in git's test-lib, the body is run once behind
# `(exit 117) &&`: with an intact chain nothing runs and the status is 117;
# with a broken one what follows the break runs (in the scratch directory,
# output discarded) and the status is something else.
test_chain_ok() {
	(cd "$SCRATCH" && eval "(exit 117) && $1") >/dev/null 2>&1
	[ $? -eq 117 ]
}

# test_expect_success 'title' 'commands': the commands, joined by &&, must
# succeed. A body with a broken && chain fails without being run.
test_expect_success() {
	test_count=$((test_count + 1))
	if ! test_chain_ok "$2"; then
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $1 (broken && chain in the test body)"
		return
	fi
	if (cd "$SCRATCH" && eval "$2") >"$SCRATCH/test-$test_count.out" 2>&1; then
		echo "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $1"
		sed -e 's/^/#   /' "$SCRATCH/test-$test_count.out" | tail -n 40
	fi
}

# test_expect_code CODE CMD...: inside a test body, CMD must exit with
# exactly CODE (git's helper). Any other status, 0 included, is a failure,
# so the assertions that follow it in the chain still count.
test_expect_code() {
	want=$1; shift
	"$@"
	got=$?
	[ "$got" -eq "$want" ] && return 0
	echo "test_expect_code: $* exited $got, expected $want" >&2
	return 1
}

test_expect_failure_exit() {
	# test_expect_failure_exit 'title' CODE 'commands': the commands must
	# exit CODE. Only for bodies whose last command is the one under test;
	# an assertion in such a body must end with `|| exit 2` (or use
	# test_expect_success with test_expect_code), because a failed test
	# exits 1 and would pass where 1 is the expected code.
	test_count=$((test_count + 1))
	(cd "$SCRATCH" && eval "$3") >"$SCRATCH/test-$test_count.out" 2>&1
	rc=$?
	if [ "$rc" -eq "$2" ]; then
		echo "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $1 (exit $rc, expected $2)"
		sed -e 's/^/#   /' "$SCRATCH/test-$test_count.out" | tail -n 40
	fi
}

test_done() {
	echo "1..$test_count"
	[ "$test_failed" -eq 0 ]
	exit $?
}
