#!/bin/sh
# tests/bench/run.sh: `make bench`.  Generates a Sailthru-style export of
# three lists (RFC 2822 dates, two multi-valued columns, 40% of rows
# updating someone seen before; fixed seed) and imports it four ways:
#   plain-floor   one file of plain libcsv/msgpack/LMDB calls, sharing no
#                 code with the stages: the honest floor;
#   import-floor  the stages' own parse, map and apply code in one process
#                 (no transport): what the shared code costs;
#   pipeline      fetcher -> mappers -> writers as processes over ipc://,
#                 with one lane and one mapper, then two lanes and two.
# Prints seconds, rows/s and the ratio to the plain floor for each, where
# each stage's time went (its own counters), and each stage's peak heap.
#
#   run.sh [--rows N] [--pairs K] [--mem-rows M[,M2...]|none] [--mem-runs R]
#          [--cpus LIST] [--txn-mb MB] [--store-dir DIR]
# --pairs K (default 3) times plain-floor and the one-lane pipeline K
# times in all, alternately, and prints each ratio and their median.
# --mem-rows M (default 5,000,000) runs plain-floor and the one-lane
# pipeline again at M rows (then M2, ...): each stage's peak heap at every
# size, and the throughput at M against N, the pipeline's and the floor's;
# then two lanes and two mappers, against their own throughput at N.
# --mem-runs R (default 1) runs the one-lane pipeline R times at each
# such size, each right after a one-lane run at N, and prints each pair's
# throughput ratio and their median (a pair shares the machine's drift),
# and the median there against the median at N: runs of one build at 5M
# rows took 86.08 to 113.93 s in one day on a shared machine.
# --cpus LIST runs everything under taskset -c LIST (0 for one core).
# --txn-mb MB sets the stages' store.txn_mb (default: the default, 136).
# --store-dir DIR puts every store (the floors' and the stages') in DIR,
# removed at the end; a RAM file system there (/dev/shm) shows what the
# same runs take without the disk.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SAILSYNC_BIN:-$top/build/default/bin}
PATH=$bin:$top/deploy:$PATH
export PATH SAILSYNC_BIN="$bin"

rows=1000000 mem_rows=5000000 mem_runs=1 cpus= pairs=3 txn_mb= sd=
while [ $# -gt 0 ]; do
	case "$1" in
	--rows) rows=$2; shift 2 ;;
	--pairs) pairs=$2; shift 2 ;;
	--mem-rows) mem_rows=$2; shift 2 ;;
	--mem-runs) mem_runs=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--txn-mb) txn_mb=$2; shift 2 ;;
	--store-dir) sd=$2; shift 2 ;;
	*) echo "usage: run.sh [--rows N] [--pairs K] [--mem-rows M[,M2...]|none] [--mem-runs R] [--cpus LIST] [--txn-mb MB] [--store-dir DIR]" >&2; exit 64 ;;
	esac
done
case "$mem_runs" in
''|*[!0-9]*|0) echo "run.sh: --mem-runs $mem_runs: a count of runs, 1 or more" >&2; exit 64 ;;
esac
[ "$mem_rows" = none ] && mem_rows=
txn_json=
[ -z "$txn_mb" ] || txn_json=" \"txn_mb\": $txn_mb,"
if [ -n "$cpus" ] && [ -z "${BENCH_CPUS:-}" ]; then
	# Everything started from here on inherits the CPU set.
	BENCH_CPUS=$cpus exec taskset -c "$cpus" sh "$0" "$@" --rows "$rows" \
	    --pairs "$pairs" --mem-rows "${mem_rows:-none}" --mem-runs "$mem_runs" --cpus "$cpus" \
	    ${txn_mb:+--txn-mb "$txn_mb"} ${sd:+--store-dir "$sd"}
fi

dir=$top/build/bench
rm -rf "$dir"
mkdir -p "$dir"
if [ -n "$sd" ]; then
	mkdir -p "$sd" && sd=$(cd "$sd" && pwd) || { echo "bench: --store-dir $sd: cannot use it" >&2; exit 1; }
	echo "bench: stores in $sd ($(df -P "$sd" | awk 'NR == 2 { print $1 }'))"
fi
cd "$dir"
export SAILSYNC_RUN=$dir/sup
# The stores' paths (under --store-dir, or here).
st=${sd:-$dir}
rm_stores() { rm -rf "$st/pipe-store" "$st/plain-store" "$st/floor-store"; }
rm_stores

# The block device the stores are on, to count what a run asked of it
# (none on a RAM file system).
devstat=/sys/dev/block/$(stat -c '%Hd:%Ld' "$st")/stat
[ -r "$devstat" ] || devstat=

cleanup() {
	[ ! -f pipe.json ] || sailsync -c "$dir/pipe.json" stop >/dev/null 2>&1 || true
	[ -z "$sd" ] || rm_stores
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# goal NAME FILE: one import goal (one list's export).
goal() {
	cat <<EOF
    {
      "name": "$1", "type": "file", "path": "$2", "format": "csv",
      "create_profiles": true,
      "link": {"column": "Email", "property": "email"},
      "mappings": [
        {"column": "first_name",     "property": "first_name",     "rule": "set"},
        {"column": "last_name",      "property": "last_name",      "rule": "set"},
        {"column": "city",           "property": "city",           "rule": "set_if_empty"},
        {"column": "country",        "property": "country",        "rule": "set_if_empty"},
        {"column": "plan",           "property": "plan",           "rule": "set"},
        {"column": "phone",          "property": "phone",          "rule": "set"},
        {"column": "lifetime_value", "property": "lifetime_value", "rule": "set"},
        {"column": "Opens",          "property": "opens",          "rule": "sum"},
        {"column": "Clicks",         "property": "clicks",         "rule": "sum"},
        {"column": "Last Open",      "property": "last_open",      "rule": "set"},
        {"column": "Last Click",     "property": "last_click",     "rule": "set"},
        {"column": "Signup",         "property": "signup",         "rule": "set_if_empty"},
        {"column": "Engagement",     "property": "engagement",     "rule": "set"},
        {"column": "loyalty_tier",   "property": "tiers",          "rule": "add"},
        {"column": "interests",      "property": "interests",      "rule": "add"},
        {"column": "Lists",          "property": "sailthru_lists", "rule": "add"}
      ]
    }
EOF
}

# conf NAME STORE PREFIX LANES: the benchmark configuration, one goal per
# list export PREFIX-a.csv, PREFIX-b.csv, PREFIX-c.csv.
conf() {
	lanes='"ipc://run/lane-0"'
	[ "$4" -eq 2 ] && lanes='"ipc://run/lane-0", "ipc://run/lane-1"'
	cat >"$1.json" <<EOF
{
  "store": {
    "path": "$2",
    "map_size_mb": 4096,$txn_json
    "properties": {
      "email":          {"type": "text", "unique": true},
      "first_name":     {"type": "text"},
      "last_name":      {"type": "text"},
      "city":           {"type": "text"},
      "country":        {"type": "text"},
      "plan":           {"type": "text"},
      "phone":          {"type": "text"},
      "lifetime_value": {"type": "decimal"},
      "opens":          {"type": "number"},
      "clicks":         {"type": "number"},
      "last_open":      {"type": "datetime"},
      "last_click":     {"type": "datetime"},
      "signup":         {"type": "datetime"},
      "engagement":     {"type": "text"},
      "tiers":          {"type": "text", "multi": true},
      "interests":      {"type": "text", "multi": true},
      "sailthru_lists": {"type": "text", "multi": true}
    },
    "merge": ["email", "sailthru_profile_id"]
  },
  "pipeline": {
    "users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": [$lanes], "state_dir": "fetcher-$1"
  },
  "connections": [{
    "name": "bench", "api_key": "bench", "secret": "bench",
    "timezone": "America/New_York",
    "goals": [
$(goal list-a "$3-a.csv"),
$(goal list-b "$3-b.csv"),
$(goal list-c "$3-c.csv")
    ]
  }]
}
EOF
}

# gen ROWS PREFIX: the export, its rows dealt to three lists in turn (a
# person repeated may be in several).
gen() {
	gen-seed --csv --rows "$1" --seed 11 --repeat 40 --interests |
	    awk -v p="$2" 'NR == 1 { print >(p "-a.csv"); print >(p "-b.csv"); print >(p "-c.csv"); next }
		{ f = substr("abc", (NR - 2) % 3 + 1, 1); print >(p "-" f ".csv") }'
}

# anon PID: the process's anonymous resident memory (heap, stacks; not the
# LMDB map, which is file-backed), in KiB.
anon() { awk '/^RssAnon/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# kv KEY FILE: the sum of KEY=N over the lines of FILE; kvmax: the largest.
kv() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$2" | awk '{ s += $1 } END { print s + 0 }'; }
kvmax() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$2" | awk '$1 > m { m = $1 } END { print m + 0 }'; }

# pipeline PREFIX LANES MAPPERS: imports through the stages; sets p_secs,
# the peak heaps p_fetcher, p_mapper, p_writer (KiB, the largest of each
# kind), the profile line p_prof and the disk line p_disk.
pipeline() {
	rm -rf "$st/pipe-store" fetcher-pipe sup run
	conf pipe "$st/pipe-store" "$1" "$2"
	sailsync -c pipe.json start --mappers "$3" >/dev/null
	# The supervisor writes each stage's pid as it starts it.
	i=0
	until [ "$(ls sup/writer-*.child 2>/dev/null | wc -l)" -eq "$2" ] &&
	    [ "$(ls sup/mapper-*.child 2>/dev/null | wc -l)" -eq "$3" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "bench: stages did not start" >&2; exit 1; }
		sleep 0.1
	done
	d0=
	[ -z "$devstat" ] || d0=$(cat "$devstat")
	t0=$(date +%s.%N)
	sailsync-fetcher -c pipe.json run bench --no-progress --summary-json pipe-summary.json \
		>pipe-run.out 2>pipe-run.log &
	fpid=$!
	wpids=$(cat sup/writer-*.child)
	mpids=$(cat sup/mapper-*.child)
	p_fetcher=0 p_mapper=0 p_writer=0
	# Sampled every 0.2 s: the highest heap each stage reached.
	while kill -0 "$fpid" 2>/dev/null; do
		v=$(anon "$fpid"); [ "${v:-0}" -gt "$p_fetcher" ] && p_fetcher=$v
		for w in $wpids; do
			v=$(anon "$w"); [ "${v:-0}" -gt "$p_writer" ] && p_writer=$v
		done
		for m in $mpids; do
			v=$(anon "$m"); [ "${v:-0}" -gt "$p_mapper" ] && p_mapper=$v
		done
		sleep 0.2
	done
	wait "$fpid" || { cat pipe-run.log >&2; echo "bench: pipeline run failed" >&2; exit 1; }
	t1=$(date +%s.%N)
	p_secs=$(echo "$t1 $t0" | awk '{ printf "%.2f", $1 - $2 }')
	p_disk=
	# The device's counters (Documentation/block/stat.rst): writes are
	# fields 5 to 8, flushes 16 and 17 (kernels from 5.5).
	[ -z "$devstat" ] || p_disk=$(echo "$d0 $(cat "$devstat")" | awk '{
		n = NF / 2; w = $(n + 5) - $5
		printf "%d write requests, %.1f KiB each on average, %.0f ms waited in all",
		    w, w ? ($(n + 7) - $7) / 2 / w : 0, $(n + 8) - $8
		if (n >= 17)
			printf "; %d flushes, %.0f ms", $(n + 16) - $16, $(n + 17) - $17 }')
	sailsync -c pipe.json stop >/dev/null
	cat sup/mapper-*.log >mappers.log
	cat sup/writer-*.log >writers.log
	# Each stage's own clock, summed over its instances (ms).
	p_prof=$(printf 'fetcher parse %s encode %s send %s wait %s | mapper decode %s map %s encode %s send %s idle %s | writer decode %s apply %s commit %s (off the CPU %s) fold %s (off the CPU %s) idle %s | commits %s writing %s pages (at most %s in one), fold steps %s writing %s; the store'"'"'s filters %.1f MiB, identifiers waiting to be staged %.1f MiB' \
	    "$(kv parse_ms pipe-run.log)" "$(kv encode_ms pipe-run.log)" \
	    "$(kv send_ms pipe-run.log)" "$(kv wait_ms pipe-run.log)" \
	    "$(kv decode_ms mappers.log)" "$(kv map_ms mappers.log)" \
	    "$(kv encode_ms mappers.log)" "$(kv send_ms mappers.log)" "$(kv idle_ms mappers.log)" \
	    "$(kv decode_ms writers.log)" "$(kv apply_ms writers.log)" \
	    "$(kv commit_ms writers.log)" "$(kv commit_wait_ms writers.log)" \
	    "$(kv fold_ms writers.log)" "$(kv fold_wait_ms writers.log)" "$(kv idle_ms writers.log)" \
	    "$(kv commits writers.log)" "$(kv commit_pages writers.log)" \
	    "$(kvmax commit_pages_max writers.log)" \
	    "$(kv folds writers.log)" "$(kv fold_pages writers.log)" \
	    "$(kvmax filter_kib writers.log | awk '{ print $1 / 1024 }')" \
	    "$(kvmax store_heap_kib writers.log | awk '{ print $1 / 1024 }')")
}

echo "bench: $(nproc) cpu(s)${cpus:+ (taskset -c $cpus)}, load $(cut -d' ' -f1-3 /proc/loadavg)"
# A small run first: what a run costs beyond its rows (start, the first
# commit, the end), stages already running.
gen 10 small
pipeline small 2 2
echo "bench: 10 rows over three lists, 2 lanes, 2 mappers: $p_secs s"

echo "bench: generating $rows rows over three lists"
gen "$rows" export
echo "bench: $(cat export-?.csv | wc -c) bytes, $(head -1 export-a.csv | tr ',' '\n' | wc -l) columns"

echo "bench: plain-floor (one file, no sailsync code)"
plain_line=$(plain-floor "$st/plain-store" export-a.csv export-b.csv export-c.csv)
echo "  $plain_line"
pl_secs=$(echo "$plain_line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
pl_prof=$(echo "$plain_line" | sed 's/.*profiles=\([0-9]*\).*/\1/')

echo "bench: import-floor (the stages' code in one process)"
conf floor "$st/floor-store" export 1
floor_line=$(import-floor -c floor.json bench)
echo "  $floor_line"
f_secs=$(echo "$floor_line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')

echo "bench: pipeline, 1 lane, 1 mapper"
pipeline export 1 1
p1_secs=$p_secs p1_f=$p_fetcher p1_m=$p_mapper p1_w=$p_writer p1_prof=$p_prof p1_disk=$p_disk
echo "  seconds=$p1_secs"
sailsync-writer -c pipe.json dump --no-ids >pipe1.dump
sailsync-writer -c floor.json dump --no-ids | cmp -s - pipe1.dump && same_floor=yes || same_floor=NO
[ "$(wc -l <pipe1.dump)" -eq "$pl_prof" ] && same_plain=yes || same_plain=NO

echo "bench: pipeline, 2 lanes, 2 mappers"
pipeline export 2 2
p2_secs=$p_secs p2_f=$p_fetcher p2_m=$p_mapper p2_w=$p_writer p2_prof=$p_prof
echo "  seconds=$p2_secs"
sailsync-writer -c pipe.json dump --no-ids | sort | cmp -s - "$(sort pipe1.dump >pipe1.sorted && echo pipe1.sorted)" &&
    same_lanes=yes || same_lanes=NO

awk -v r="$rows" -v pl="$pl_secs" -v f="$f_secs" -v p1="$p1_secs" -v p2="$p2_secs" 'BEGIN {
	printf "\n%-26s %10s %10s %10s\n", "", "seconds", "rows/s", "x plain"
	printf "%-26s %10.2f %10.0f %10.2f\n", "plain-floor", pl, r / pl, 1
	printf "%-26s %10.2f %10.0f %10.2f\n", "import-floor", f, r / f, f / pl
	printf "%-26s %10.2f %10.0f %10.2f\n", "pipeline 1 lane 1 mapper", p1, r / p1, p1 / pl
	printf "%-26s %10.2f %10.0f %10.2f\n", "pipeline 2 lanes 2 mappers", p2, r / p2, p2 / pl
	printf "two lanes / one lane wall time: %.2fx\n", p2 / p1
}'
echo "same profiles: import-floor and pipeline $same_floor; plain-floor count ($pl_prof) $same_plain; one and two lanes $same_lanes"
echo "time by stage, 1 lane (ms): $p1_prof"
[ -z "$p1_disk" ] || echo "disk under the stores, 1 lane (the whole device): $p1_disk"
echo "time by stage, 2 lanes (ms): $p2_prof"
awk -v a="$p1_f" -v b="$p1_m" -v c="$p1_w" -v d="$p2_f" -v e="$p2_m" -v g="$p2_w" 'BEGIN {
	printf "peak heap (anonymous RSS, MiB), 1 lane: fetcher %.1f, mapper %.1f, writer %.1f;" \
	    " 2 lanes: fetcher %.1f, mapper %.1f, writer %.1f\n", a / 1024, b / 1024, c / 1024,
	    d / 1024, e / 1024, g / 1024
}'

# lowest N..., highest N...: the smallest and the largest of the numbers.
lowest() { echo "$@" | tr ' ' '\n' | sort -n | head -1; }
highest() { echo "$@" | tr ' ' '\n' | sort -n | tail -1; }

# median N...: the middle of the numbers (the mean of the two middle ones).
median() {
	echo "$@" | tr ' ' '\n' | sort -n | awk '{ r[NR] = $1 } END {
		printf "%.2f", NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'
}

# The one-lane ratio in alternating pairs (the first is the one above):
# three processes sharing two cores and a disk vary more from run to run
# than one process does, so a single pair cannot tell a change from the
# noise.
lane_runs=$p1_secs floor_runs=$pl_secs
if [ "$pairs" -gt 1 ]; then
	ratios=$(awk -v a="$p1_secs" -v b="$pl_secs" 'BEGIN { printf "%.2f", a / b }')
	pair=1		# (not $i: pipeline() counts with it)
	while [ "$pair" -lt "$pairs" ]; do
		pair=$((pair + 1))
		rm -rf "$st/plain-store"
		pair_line=$(plain-floor "$st/plain-store" export-a.csv export-b.csv export-c.csv)
		pair_pl=$(echo "$pair_line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
		pipeline export 1 1
		pair_r=$(awk -v a="$p_secs" -v b="$pair_pl" 'BEGIN { printf "%.2f", a / b }')
		echo "  pair $pair: plain-floor $pair_pl s, one lane $p_secs s: ${pair_r}x"
		ratios="$ratios $pair_r"
		lane_runs="$lane_runs $p_secs" floor_runs="$floor_runs $pair_pl"
	done
	printf "one lane / plain-floor in %d alternating pairs: %.2fx to %.2fx, median %.2fx\n" \
	    "$pairs" "$(lowest $ratios)" "$(highest $ratios)" "$(median $ratios)"
fi

if [ -n "$mem_rows" ]; then
	# One size after the other, each printed as soon as it is done; the
	# previous size's export and store are removed first (disk).  (Not
	# $m: pipeline() loops over the mappers with it.)
	heap_rows=$(printf '%-10s %14s' "peak heap" "$rows rows")
	heap_f=$(printf '%-10s %11.1f MiB' fetcher "$(echo "$p1_f" | awk '{ print $1 / 1024 }')")
	heap_m=$(printf '%-10s %11.1f MiB' mapper "$(echo "$p1_m" | awk '{ print $1 / 1024 }')")
	heap_w=$(printf '%-10s %11.1f MiB' writer "$(echo "$p1_w" | awk '{ print $1 / 1024 }')")
	for size in $(echo "$mem_rows" | tr ',' ' '); do
		echo
		echo "bench: pipeline, 1 lane, 1 mapper, at $size rows (load $(cut -d' ' -f1-3 /proc/loadavg))"
		rm_stores
		rm -f big-?.csv
		gen "$size" big
		# The floor at this size too: how much of the slowdown is the
		# store's own (B-tree pages rewritten per commit) and not ours.
		big_line=$(plain-floor "$st/plain-store" big-a.csv big-b.csv big-c.csv)
		echo "  $big_line"
		bpl_secs=$(echo "$big_line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
		rm -rf "$st/plain-store"
		# --mem-runs R > 1: R runs at this size, each right after a
		# one-lane run at the first size, and each compared with that
		# one: the machine's speed drifts over minutes (a CSV parse that
		# involves no store took 10.6 to 14.1 s in three runs in a row),
		# and a pair taken together shares the drift.  The floor once;
		# the peak heaps are the largest of the runs.
		big_runs= pcts= b1_f=0 b1_m=0 b1_w=0
		run=0
		while [ "$run" -lt "$mem_runs" ]; do
			run=$((run + 1))
			if [ "$mem_runs" -gt 1 ]; then
				pipeline export 1 1
				small=$p_secs
				lane_runs="$lane_runs $p_secs"
			fi
			pipeline big 1 1
			big_runs="$big_runs $p_secs"
			if [ "$mem_runs" -gt 1 ]; then
				pct=$(awk -v r1="$rows" -v r2="$size" -v s1="$small" -v s2="$p_secs" \
				    'BEGIN { printf "%.0f", 100 * (r2 / s2) / (r1 / s1) }')
				pcts="$pcts $pct"
				echo "  run $run: $rows rows in $small s, then $size rows in $p_secs s: $pct% of that throughput"
			fi
			echo "  run $run, time by stage (ms): $p_prof"
			[ -z "$p_disk" ] || echo "  run $run, disk under the stores (the whole device): $p_disk"
			if [ "$p_fetcher" -gt "$b1_f" ]; then b1_f=$p_fetcher; fi
			if [ "$p_mapper" -gt "$b1_m" ]; then b1_m=$p_mapper; fi
			if [ "$p_writer" -gt "$b1_w" ]; then b1_w=$p_writer; fi
		done
		big_runs=${big_runs# }
		if [ "$mem_runs" -gt 1 ]; then
			echo "  $size rows against $rows rows in $mem_runs interleaved pairs: $(lowest $pcts)% to $(highest $pcts)% of the throughput, median $(median $pcts | awk '{ printf "%.0f", $1 }')%"
		fi
		# Against the first run at the first size, and against the
		# median of all runs there (one run can be a slow one).
		awk -v r1="$rows" -v r2="$size" -v s1="$p1_secs" -v s2="${big_runs%% *}" \
		    -v f1="$pl_secs" -v f2="$bpl_secs" -v k="$(echo $lane_runs | wc -w)" \
		    -v sm="$(median $lane_runs)" -v fm="$(median $floor_runs)" \
		    -v kb="$mem_runs" -v bm="$(median $big_runs)" -v all="$big_runs" \
		    -v b1="$b1_f" -v b2="$b1_m" -v b3="$b1_w" 'BEGIN {
			printf "  %d rows in %.2f s (%.0f rows/s), %.0f%% of the throughput at %d rows (%.0f%% against the median of %d runs there, %.2f s)\n",
			    r2, s2, r2 / s2, 100 * (r2 / s2) / (r1 / s1), r1,
			    100 * (r2 / s2) / (r1 / sm), k, sm
			if (kb > 1)
				printf "  %d runs at %d rows (%s s): median %.2f s, %.0f%% of the median throughput at %d rows\n",
				    kb, r2, all, bm, 100 * (r2 / bm) / (r1 / sm), r1
			printf "  plain-floor: %.2f s, %.0f%% of its throughput at %d rows (%.0f%% against its median there, %.2f s); pipeline %.2fx plain-floor\n",
			    f2, 100 * (r2 / f2) / (r1 / f1), r1, 100 * (r2 / f2) / (r1 / fm), fm,
			    s2 / f2
			printf "  peak heap: fetcher %.1f, mapper %.1f, writer %.1f MiB\n",
			    b1 / 1024, b2 / 1024, b3 / 1024
		}'
		# Two lanes at this size too: each lane's trees are half as
		# large, so scaling out also slows the growth.
		b1_secs=$(median $big_runs)
		pipeline big 2 2
		echo "  two lanes, two mappers, time by stage (ms): $p_prof"
		awk -v r1="$rows" -v r2="$size" -v s1="$p2_secs" -v s2="$p_secs" -v o="$b1_secs" \
		    -v b3="$p_writer" 'BEGIN {
			printf "  two lanes: %d rows in %.2f s (%.0f rows/s), %.0f%% of their throughput at %d rows; %.2fx the wall time of one lane; writer peak heap %.1f MiB\n",
			    r2, s2, r2 / s2, 100 * (r2 / s2) / (r1 / s1), r1, s2 / o, b3 / 1024
		}'
		heap_rows=$(printf '%s %14s' "$heap_rows" "$size rows")
		heap_f=$(printf '%s %11.1f MiB' "$heap_f" "$(echo "$b1_f" | awk '{ print $1 / 1024 }')")
		heap_m=$(printf '%s %11.1f MiB' "$heap_m" "$(echo "$b1_m" | awk '{ print $1 / 1024 }')")
		heap_w=$(printf '%s %11.1f MiB' "$heap_w" "$(echo "$b1_w" | awk '{ print $1 / 1024 }')")
	done
	echo
	printf '%s\n%s\n%s\n%s\n' "$heap_rows" "$heap_f" "$heap_m" "$heap_w"
fi
[ "$same_floor" = yes ] && [ "$same_plain" = yes ] && [ "$same_lanes" = yes ]
