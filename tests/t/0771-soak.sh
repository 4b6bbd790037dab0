#!/bin/sh
# tests/t/0771-soak.sh: random SIGKILLs of random stages (the fetcher, both
# writers, both mappers) at random moments of one import over tcp:// with
# two lanes and two mappers, with `sum` and `add` rules; the killed fetcher
# is started again with the same command until the run ends. The store must
# dump exactly as an undisturbed run's. SOAK_KILLS (default 20) sets the
# number of kills; SOAK_KILLS=200 is a longer soak. The kills are drawn from
# /dev/urandom and listed in the test output.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

KILLS=${SOAK_KILLS:-20}
ROWS=${SOAK_ROWS:-$((KILLS * 2500))}
gen-seed --csv --rows "$ROWS" --seed 11 >"$SCRATCH/big.csv"
cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Big", "type": "normal"}], "users": []}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 --export-file "Big=$SCRATCH/big.csv" || exit 1

base=$(port_base 8)

# conf NAME PORT: two lanes over tcp://127.0.0.1 from PORT on.
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "store-$1", "commit_rows": 5000, "commit_ms": 50,
    "properties": {
      "email": {"type": "text", "unique": true}, "first_name": {"type": "text"},
      "opens": {"type": "number"}, "clicks": {"type": "number"},
      "tiers": {"type": "text", "multi": true}, "lists": {"type": "text", "multi": true}},
    "merge": ["email", "sailthru_profile_id"]},
  "pipeline": {"users": "tcp://127.0.0.1:$2", "acks": "tcp://127.0.0.1:$(($2 + 1))",
    "lanes": ["tcp://127.0.0.1:$(($2 + 2))", "tcp://127.0.0.1:$(($2 + 3))"],
    "batch_rows": 200, "window": 4, "resend_ms": 300, "state_dir": "fetcher-$1"},
  "connections": [{"name": "big", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
    "base_url": "$SIM_URL",
    "goals": [{"name": "all", "type": "import", "lists": ["Big"], "create_profiles": true,
      "list_property": "lists", "link": {"column": "Email", "property": "email"},
      "mappings": [
        {"column": "first_name", "property": "first_name", "rule": "set"},
        {"column": "Opens", "property": "opens", "rule": "sum"},
        {"column": "Clicks", "property": "clicks", "rule": "sum"},
        {"column": "loyalty_tier", "property": "tiers", "rule": "add"}]}]}]
}
JSON
}
conf calm "$base"
conf soak "$((base + 4))"

# rand N: a random number in 0..N-1.
rand() {
	echo $(( $(od -An -N2 -tu2 /dev/urandom) % $1 ))
}

test_expect_success "undisturbed import of $ROWS rows" '
	stages calm.json start --mappers 2 &&
	stages calm.json run big --no-progress --summary-json calm.sum >/dev/null 2>calm.err &&
	stages calm.json stop &&
	stages calm.json dump --no-ids >calm.dump &&
	test "$(jq ".goals[0] | .created + .updated + .unchanged + .skipped" calm.sum)" -eq "$ROWS"
'

test_expect_success "$KILLS random SIGKILLs during one import; the same store at the end" '
	stages soak.json start --mappers 2 &&
	background f sailsync-fetcher -c soak.json run big --no-progress --summary-json soak.sum &&
	k=0 && starts=1 &&
	while [ $k -lt $KILLS ]; do
		sleep "0.$(rand 2)$(rand 10)" &&
		fpid=$(cat f.pid) &&
		if ! kill -0 $fpid 2>/dev/null; then
			wait $fpid 2>/dev/null
			test -s soak.sum && break
			background f sailsync-fetcher -c soak.json run big --no-progress \
				--summary-json soak.sum && starts=$((starts + 1)) && continue
		fi &&
		case $(rand 5) in
		0) who=fetcher pid=$fpid ;;
		1) who=writer-0 ;;
		2) who=writer-1 ;;
		3) who=mapper-1 ;;
		4) who=mapper-2 ;;
		esac &&
		{ [ $who = fetcher ] || pid=$(stage_pid soak.json $who); } &&
		{ kill -KILL "$pid" 2>/dev/null || true; } &&
		echo "kill $k: $who pid $pid" &&
		k=$((k + 1)) || exit 1
	done &&
	echo "$k kills" &&
	test $k -ge $KILLS &&
	until test -s soak.sum; do
		fpid=$(cat f.pid) &&
		{ wait $fpid; true; } &&
		test -s soak.sum && break
		background f sailsync-fetcher -c soak.json run big --no-progress \
			--summary-json soak.sum && starts=$((starts + 1)) || exit 1
	done &&
	echo "fetcher started $starts times" &&
	stages soak.json stop &&
	stages soak.json dump --no-ids >soak.dump &&
	cmp calm.dump soak.dump &&
	test "$(jq -c ".goals[0] | [.created, .updated, .unchanged, .skipped, .unique]" soak.sum)" = \
	     "$(jq -c ".goals[0] | [.created, .updated, .unchanged, .skipped, .unique]" calm.sum)" &&
	jq -e ".run == 1 and .status == \"ok\"" soak.sum
'

test_done
