#!/bin/sh
# tests/bench/export.sh: `make bench`, the export half.  Loads N profiles
# into a store through the pipeline (a JSON-lines file goal), then exports
# the segment holding all of them to the Sailthru simulator at Sailthru's
# published rate limits (POST /user 300/min, POST /job 40/min, GET 300/min):
#   - through the bulk path: one NDJSON `update` job carrying every user;
#   - through one POST /user per profile, timed on a sample: a store of the
#     first S of those profiles, so the time is S calls, not a scan of N,
#     extrapolated to N.
# Prints both figures, their ratio, the simulator's final user count and
# the exporter's peak heap (anonymous RSS; the LMDB map is file-backed).
#
#   export.sh [--profiles N] [--sample S] [--mem-profiles M]
# --mem-profiles M loads and bulk-exports M profiles too and prints the
# exporter's peak heap at N and at M: bounded by its batches, not by N.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SAILSYNC_BIN:-$top/build/default/bin}
PATH=$bin:$top/deploy:$PATH
export PATH SAILSYNC_BIN="$bin"

profiles=1000000 sample=600 mem_profiles=
while [ $# -gt 0 ]; do
	case "$1" in
	--profiles) profiles=$2; shift 2 ;;
	--sample) sample=$2; shift 2 ;;
	--mem-profiles) mem_profiles=$2; shift 2 ;;
	*) echo "usage: export.sh [--profiles N] [--sample S] [--mem-profiles M]" >&2; exit 64 ;;
	esac
done
[ "$sample" -le "$profiles" ] || { echo "bench: --sample must be <= --profiles" >&2; exit 64; }

dir=$top/build/bench-export
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
export SAILSYNC_RUN=$dir/sup

simpid= cur_store= cur_file=
cleanup() {
	[ -z "$cur_store" ] || sailsync -c "$dir/$cur_store.json" stop >/dev/null 2>&1 || true
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# anon PID: the process's anonymous resident memory in KiB.
anon() { awk '/^RssAnon/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
secs() { echo "$1 $2" | awk '{ printf "%.2f", $2 - $1 }'; }

# gen N S FILE: N profiles as JSON lines, every one in segment "bench" and
# the first S also in "sample"; the values are typed as the store declares.
# The same N gives the same bytes, and a smaller N the first lines of them.
gen() {
	awk -v n="$1" -v s="$2" 'BEGIN {
		split("free basic pro enterprise", plan, " ")
		split("bronze silver gold platinum", tier, " ")
		for (i = 0; i < n; i++) {
			seg = i < s ? "[\"bench\",\"sample\"]" : "[\"bench\"]"
			printf "{\"email\":\"p%07d@bench.example.com\",\"first_name\":\"Name%d\",", i, i % 997
			printf "\"plan\":\"%s\",\"ltv\":%d.%02d,", plan[i % 4 + 1], i % 5000, i % 100
			printf "\"signup_date\":\"20%02d-%02d-%02dT10:00:00Z\",", 10 + i % 15, i % 12 + 1, i % 28 + 1
			printf "\"last_seen_time\":\"2026-%02d-%02dT%02d:%02d:00Z\",", i % 11 + 1, i % 28 + 1, i % 24, i % 60
			printf "\"tiers\":[\"%s\",\"%s\"],\"segments\":%s}\n", tier[i % 4 + 1], tier[(i + 1) % 4 + 1], seg
		}
	}' >"$3"
}

# conf STORE FILE: STORE.json, the configuration: a file connection that
# loads FILE and a Sailthru connection (the running simulator) with the two
# export goals.
conf() {
	cur_store=$1 cur_file=$2
	cat >"$1.json" <<EOF
{
  "store": {
    "path": "$1",
    "map_size_mb": 32768,
    "properties": {
      "email":          {"type": "text", "unique": true},
      "first_name":     {"type": "text"},
      "plan":           {"type": "text"},
      "ltv":            {"type": "decimal"},
      "signup_date":    {"type": "datetime"},
      "last_seen_time": {"type": "datetime"},
      "tiers":          {"type": "text", "multi": true}
    }
  },
  "pipeline": {
    "users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state-$1",
    "export_state": "export-$1"
  },
  "connections": [{
    "name": "files", "api_key": "x", "secret": "x",
    "goals": [{
      "name": "profiles", "type": "file", "path": "$2", "create_profiles": true,
      "link": {"column": "email", "property": "email"},
      "mappings": [
        {"column": "first_name",     "property": "first_name",     "rule": "set"},
        {"column": "plan",           "property": "plan",           "rule": "set"},
        {"column": "ltv",            "property": "ltv",            "rule": "set"},
        {"column": "signup_date",    "property": "signup_date",    "rule": "set"},
        {"column": "last_seen_time", "property": "last_seen_time", "rule": "set"},
        {"column": "tiers",          "property": "tiers",          "rule": "add"}
      ]
    }]
  }, {
    "name": "bench", "api_key": "benchkey", "secret": "benchsecret",
    "base_url": "$simurl", "timezone": "America/New_York",
    "goals": [{
      "name": "bulk", "type": "export", "segment": "bench",
      "link": {"property": "email", "key": "email"}, "create_users": true,
      "lists": ["Bench"], "bulk_min": 1000,
      "mappings": [
        {"var": "profile_id",     "source": "id"},
        {"var": "first_name",     "source": "property", "property": "first_name"},
        {"var": "plan",           "source": "property", "property": "plan"},
        {"var": "ltv",            "source": "property", "property": "ltv"},
        {"var": "signup_date",    "source": "property", "property": "signup_date"},
        {"var": "last_seen_time", "source": "property", "property": "last_seen_time"},
        {"var": "tiers",          "source": "property", "property": "tiers"},
        {"var": "segments",       "source": "segments"},
        {"var": "origin",         "source": "text", "text": "sailsync"}
      ]
    }, {
      "name": "one_by_one", "type": "export", "segment": "sample",
      "link": {"property": "email", "key": "email"}, "create_users": true,
      "lists": ["Bench"], "bulk_min": 100000000,
      "mappings": [
        {"var": "profile_id",     "source": "id"},
        {"var": "first_name",     "source": "property", "property": "first_name"},
        {"var": "plan",           "source": "property", "property": "plan"},
        {"var": "ltv",            "source": "property", "property": "ltv"},
        {"var": "signup_date",    "source": "property", "property": "signup_date"},
        {"var": "last_seen_time", "source": "property", "property": "last_seen_time"},
        {"var": "tiers",          "source": "property", "property": "tiers"},
        {"var": "segments",       "source": "segments"},
        {"var": "origin",         "source": "text", "text": "sailsync"}
      ]
    }]
  }]
}
EOF
}

# sim: a fresh simulator with Sailthru's published per-minute ceilings; the
# configuration follows it.
sim() {
	[ -n "$simpid" ] && { kill "$simpid"; wait "$simpid" 2>/dev/null || true; }
	rm -f sim.port
	sailthru-sim --listen 127.0.0.1:0 --port-file sim.port --key benchkey \
	    --secret benchsecret --job-delay-ms 1000 --rate-limit 300 \
	    --rate POST:job=40 --rate POST:list=40 --rate DELETE:user=40 \
	    --rate DELETE:list=40 >>sim.log 2>&1 &
	simpid=$!
	i=0
	until [ -s sim.port ]; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "bench: simulator did not start" >&2; exit 1; }
		sleep 0.1
	done
	simurl=http://127.0.0.1:$(cat sim.port)
	[ -z "$cur_store" ] || conf "$cur_store" "$cur_file"
}

# load N STORE: generates N profiles and imports them into STORE (whose
# configuration is then STORE.json); sets l_secs.
load() {
	gen "$1" "$sample" "profiles-$2.jsonl"
	conf "$2" "profiles-$2.jsonl"
	sailsync -c "$2.json" start --mappers 1
	t0=$(now)
	sailsync-fetcher -c "$2.json" run files --no-progress \
	    --summary-json "load-$2.json" >"load-$2.out" 2>"load-$2.log" ||
	    { tail "load-$2.log" >&2; echo "bench: load failed" >&2; exit 1; }
	l_secs=$(secs "$t0" "$(now)")
	sailsync -c "$2.json" stop
}

# export GOAL TAG: runs one export goal; sets x_secs and x_heap (KiB, the
# exporter's highest anonymous RSS, sampled every 0.2 s).
export_goal() {
	t0=$(now)
	sailsync-exporter -c "$cur_store.json" run bench --goal "$1" \
	    --summary-json "export-$2.json" >"export-$2.out" 2>"export-$2.log" &
	xpid=$!
	x_heap=0
	while kill -0 "$xpid" 2>/dev/null; do
		v=$(anon "$xpid"); [ "${v:-0}" -gt "$x_heap" ] && x_heap=$v
		sleep 0.2
	done
	wait "$xpid" || { tail "export-$2.log" >&2; echo "bench: export $1 failed" >&2; exit 1; }
	x_secs=$(secs "$t0" "$(now)")
}

# users: how many users the simulator holds.
users() { curl -sf "$simurl/_sim/summary" | jq .users; }
# job_secs: seconds from the simulator's first update job's start to its end
# (receiving the upload is before the start; the end is whole seconds).
job_secs() {
	curl -sf "$simurl/_sim/summary" | jq -r '[.jobs[] | select(.job == "update")][0] |
	    .start_time, .end_time' | while read -r t; do date -d "$t" +%s; done |
	    paste -s -d ' ' | awk '{ print $2 - $1 }'
}

echo "bench: loading $profiles profiles (file goal through the pipeline)"
sim
load "$profiles" store
echo "  loaded in $l_secs s"

echo "bench: bulk export of $profiles profiles (one update job)"
export_goal bulk bulk
b_secs=$x_secs b_heap=$x_heap
b_users=$(users)
echo "  $b_secs s, simulator users $b_users, exporter peak heap $((b_heap / 1024)) MiB"
echo "  of which the simulator's job, created to completed: $(job_secs) s"
grep -h . export-bulk.out | sed 's/^/    /'

echo "bench: one POST /user per profile, $sample profiles at 300/min"
sim
load "$sample" store-sample
export_goal one_by_one sample
s_secs=$x_secs
s_users=$(users)
echo "  $s_secs s, simulator users $s_users"

awk -v n="$profiles" -v s="$sample" -v b="$b_secs" -v u="$s_secs" \
    -v bu="$b_users" -v su="$s_users" 'BEGIN {
	# A short sample can fit in two rate windows and beat the limit; a
	# long run cannot, so the estimate is never faster than 300 a minute.
	est = u * n / s
	floor = n / 300 * 60
	if (est < floor)
		est = floor
	printf "\n%-26s %12s %14s %14s\n", "", "profiles", "seconds", "profiles/s"
	printf "%-26s %12d %14.2f %14.1f\n", "bulk update job", n, b, n / b
	printf "%-26s %12d %14.2f %14.1f\n", "POST /user (measured)", s, u, s / u
	printf "%-26s %12d %14.0f %14.1f  (%.1f hours; sample alone: %.1f)\n", "POST /user (extrapolated)", n, est, n / est, est / 3600, u * n / s / 3600
	printf "bulk is %.0fx faster (target >= 100x)\n", est / b
	printf "simulator users: %d after bulk (want %d), %d after the sample (want %d)\n", bu, n, su, s
	exit !(bu == n && su == s)
}'

if [ -n "$mem_profiles" ]; then
	echo
	echo "bench: again at $mem_profiles profiles, for the exporter's memory"
	sim
	load "$mem_profiles" store-mem
	echo "  loaded in $l_secs s"
	export_goal bulk bulk-mem
	m_users=$(users)
	echo "  of which the simulator's job, created to completed: $(job_secs) s"
	awk -v n1="$profiles" -v n2="$mem_profiles" -v h1="$b_heap" -v h2="$x_heap" \
	    -v s="$x_secs" -v mu="$m_users" 'BEGIN {
		printf "  bulk export of %d profiles in %.2f s (%.0f profiles/s), simulator users %d\n", n2, s, n2 / s, mu
		printf "%-24s %14s %14s\n", "exporter peak heap", n1 " profiles", n2 " profiles"
		printf "%-24s %10.1f MiB %10.1f MiB\n", "", h1 / 1024, h2 / 1024
		exit !(mu == n2)
	}'
fi
