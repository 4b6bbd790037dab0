#!/bin/sh
# tests/bench/run.sh: `make bench`.  Generates a Sailthru-style export and
# imports it twice: through the pipeline (fetcher -> mappers -> writer, as
# separate processes over ipc://) and through import-floor (the same parse,
# map and LMDB upserts in one process, same batching and durability).
# Prints rows/s for each, their ratio, and every stage's peak heap.
#
#   run.sh [--rows N] [--mappers K] [--mem-rows M]
# --mem-rows M repeats the pipeline at M rows and prints each stage's peak
# memory at both sizes: bounded by the window, not by the input.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SAILSYNC_BIN:-$top/build/default/bin}
PATH=$bin:$top/deploy:$PATH
export PATH SAILSYNC_BIN="$bin"

rows=1000000 mappers=1 mem_rows=
while [ $# -gt 0 ]; do
	case "$1" in
	--rows) rows=$2; shift 2 ;;
	--mappers) mappers=$2; shift 2 ;;
	--mem-rows) mem_rows=$2; shift 2 ;;
	*) echo "usage: run.sh [--rows N] [--mappers K] [--mem-rows M]" >&2; exit 64 ;;
	esac
done

dir=$top/build/bench
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
export SAILSYNC_RUN=$dir/sup

cleanup() { sailsync -c "$dir/pipe.json" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# conf NAME STORE EXPORT: the benchmark configuration.
conf() {
	cat >"$1.json" <<EOF
{
  "store": {
    "path": "$2",
    "map_size_mb": 4096,
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
      "sailthru_lists": {"type": "text", "multi": true}
    },
    "merge": ["email", "sailthru_profile_id"]
  },
  "pipeline": {
    "users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "fetcher-$1"
  },
  "connections": [{
    "name": "bench", "api_key": "bench", "secret": "bench",
    "timezone": "America/New_York",
    "goals": [{
      "name": "export", "type": "file", "path": "$3", "format": "csv",
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
        {"column": "Lists",          "property": "sailthru_lists", "rule": "add"}
      ]
    }]
  }]
}
EOF
}

# anon PID: the process's anonymous resident memory (heap, stacks; not the
# LMDB map, which is file-backed), in KiB.
anon() { awk '/^RssAnon/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# pipeline ROWS EXPORT: imports through the stages; sets p_secs, p_fetcher,
# p_mapper, p_writer.
pipeline() {
	rm -rf pipe-store fetcher-pipe sup run
	conf pipe pipe-store "$2"
	sailsync -c pipe.json start --mappers "$mappers"
	# The supervisor writes each stage's pid as it starts it.
	i=0
	until [ -s sup/writer-0.child ] && [ "$(ls sup/mapper-*.child 2>/dev/null | wc -l)" -eq "$mappers" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "bench: stages did not start" >&2; exit 1; }
		sleep 0.1
	done
	t0=$(date +%s.%N)
	sailsync-fetcher -c pipe.json run bench --no-progress --summary-json pipe-summary.json \
		>pipe-run.out 2>pipe-run.log &
	fpid=$!
	wpid=$(cat sup/writer-0.child)
	mpids=$(cat sup/mapper-*.child)
	p_fetcher=0 p_mapper=0 p_writer=0
	# Sampled every 0.2 s: the highest heap each stage reached.
	while kill -0 "$fpid" 2>/dev/null; do
		v=$(anon "$fpid"); [ "${v:-0}" -gt "$p_fetcher" ] && p_fetcher=$v
		v=$(anon "$wpid"); [ "${v:-0}" -gt "$p_writer" ] && p_writer=$v
		for m in $mpids; do
			v=$(anon "$m"); [ "${v:-0}" -gt "$p_mapper" ] && p_mapper=$v
		done
		sleep 0.2
	done
	wait "$fpid" || { cat pipe-run.log >&2; echo "bench: pipeline run failed" >&2; exit 1; }
	t1=$(date +%s.%N)
	p_secs=$(echo "$t1 $t0" | awk '{ printf "%.2f", $1 - $2 }')
	sailsync -c pipe.json stop
}

echo "bench: generating $rows rows"
gen-seed --csv --rows "$rows" --seed 11 >export.csv
echo "bench: export.csv $(wc -c <export.csv) bytes, $(head -1 export.csv | tr ',' '\n' | wc -l) columns"

echo "bench: floor (one process)"
conf floor floor-store export.csv
floor_line=$(import-floor -c floor.json bench)
echo "  $floor_line"
f_secs=$(echo "$floor_line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
f_rss=$(echo "$floor_line" | sed 's/.*peak_rss_kb=\([0-9]*\).*/\1/')

echo "bench: pipeline (fetcher, $mappers mapper(s), 1 writer lane)"
pipeline "$rows" export.csv
echo "  pipeline rows=$rows seconds=$p_secs"

# Both stores must hold the same profiles.
sailsync-writer -c floor.json dump --no-ids | md5sum >floor.sum
sailsync-writer -c pipe.json dump --no-ids | md5sum >pipe.sum
if cmp -s floor.sum pipe.sum; then same=yes; else same=NO; fi

awk -v r="$rows" -v f="$f_secs" -v p="$p_secs" -v same="$same" \
    -v ff="$p_fetcher" -v fm="$p_mapper" -v fw="$p_writer" -v fl="$f_rss" 'BEGIN {
	printf "\n%-10s %12s %10s %12s\n", "", "rows", "seconds", "rows/s"
	printf "%-10s %12d %10.2f %12.0f\n", "floor", r, f, r / f
	printf "%-10s %12d %10.2f %12.0f\n", "pipeline", r, p, r / p
	printf "pipeline / floor wall time: %.2fx (target <= 1.5x)\n", p / f
	printf "same profiles in both stores: %s\n", same
	printf "peak heap (anonymous RSS, MiB): fetcher %.1f, mapper %.1f, writer %.1f; floor peak RSS incl. map %.1f\n",
	    ff / 1024, fm / 1024, fw / 1024, fl / 1024
}'

if [ -n "$mem_rows" ]; then
	echo
	echo "bench: pipeline again at $mem_rows rows, for memory"
	a_f=$p_fetcher a_m=$p_mapper a_w=$p_writer
	gen-seed --csv --rows "$mem_rows" --seed 11 >export-mem.csv
	pipeline "$mem_rows" export-mem.csv
	awk -v r1="$rows" -v r2="$mem_rows" -v s="$p_secs" \
	    -v a1="$a_f" -v a2="$a_m" -v a3="$a_w" -v b1="$p_fetcher" -v b2="$p_mapper" -v b3="$p_writer" 'BEGIN {
		printf "  %d rows in %.2f s (%.0f rows/s)\n", r2, s, r2 / s
		printf "%-10s %14s %14s\n", "peak heap", r1 " rows", r2 " rows"
		printf "%-10s %11.1f MiB %11.1f MiB\n", "fetcher", a1 / 1024, b1 / 1024
		printf "%-10s %11.1f MiB %11.1f MiB\n", "mapper", a2 / 1024, b2 / 1024
		printf "%-10s %11.1f MiB %11.1f MiB\n", "writer", a3 / 1024, b3 / 1024
	}'
fi
[ "$same" = yes ]
