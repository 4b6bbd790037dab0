#!/bin/sh
# Exactly once under SIGKILL: a 100,000-row import (with `sum` and `add`
# rules, so a lost or doubled row shows) is run undisturbed, then again
# with the fetcher, a mapper and a writer each killed with SIGKILL in the
# middle and restarted.  Every disturbed store must dump identically to the
# undisturbed one.
#
# A supervised stage is first stopped (SIGSTOP), so that the import cannot
# finish while `sailsync kill` reaches the supervisor: the kill lands in the
# middle on a slow machine too.  The mapper is killed only once the fetcher
# has resent to it while stopped, so batches are lost with it.
. "$(dirname "$0")/../lib.sh"

ROWS=${KILL_ROWS:-100000}
gen-seed --csv --rows "$ROWS" --seed 5 >"$SCRATCH/big.csv"
cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Big", "type": "normal"}], "users": []}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 100 --export-file "Big=$SCRATCH/big.csv" || exit 1

# conf NAME: two lanes, two mappers, a short resend timeout.
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {
    "path": "store-$1",
    "commit_rows": 20000,
    "properties": {
      "email":      {"type": "text", "unique": true},
      "first_name": {"type": "text"},
      "city":       {"type": "text"},
      "opens":      {"type": "number"},
      "clicks":     {"type": "number"},
      "last_open":  {"type": "datetime"},
      "tiers":      {"type": "text", "multi": true},
      "lists":      {"type": "text", "multi": true}
    },
    "merge": ["email", "sailthru_profile_id"]
  },
  "pipeline": {"users": "ipc://run-$1/users", "acks": "ipc://run-$1/acks",
               "lanes": ["ipc://run-$1/lane-0", "ipc://run-$1/lane-1"],
               "window": 8, "resend_ms": 500, "state_dir": "fetcher-$1"},
  "connections": [{"name": "big", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
    "base_url": "$SIM_URL", "timezone": "America/New_York",
    "goals": [{"name": "all", "type": "import", "lists": ["Big"], "create_profiles": true,
               "list_property": "lists", "link": {"column": "Email", "property": "email"},
               "mappings": [
                 {"column": "first_name",   "property": "first_name", "rule": "set"},
                 {"column": "city",         "property": "city",       "rule": "set_if_empty"},
                 {"column": "Opens",        "property": "opens",      "rule": "sum"},
                 {"column": "Clicks",       "property": "clicks",     "rule": "sum"},
                 {"column": "Last Open",    "property": "last_open",  "rule": "set"},
                 {"column": "loyalty_tier", "property": "tiers",      "rule": "add"}]}]}]
}
JSON
}

# applied NAME: records the writers have committed for run 1.
applied() {
	sailsync-writer -c "$SCRATCH/$1.json" stats --run 1 2>/dev/null |
		jq "[.goals[]? | .created + .updated + .unchanged + .skipped] | add // 0"
}

# midway NAME: waits until a fifth to three fifths of the rows are written.
midway() {
	i=0
	while [ $i -lt 600 ]; do
		n=$(applied "$1")
		[ "${n:-0}" -ge $((ROWS / 5)) ] && return 0
		sleep 0.05; i=$((i + 1))
	done
	return 1
}

for n in calm fetcher mapper writer; do conf $n; done

test_expect_success "undisturbed import of $ROWS rows" '
	stages calm.json start --mappers 2 &&
	stages calm.json run big --no-progress --summary-json calm.sum >/dev/null &&
	stages calm.json stop &&
	stages calm.json dump --no-ids >calm.dump &&
	test "$(jq ".goals[0] | .created + .updated + .unchanged + .skipped" calm.sum)" -eq "$ROWS" &&
	test -s calm.dump
'

test_expect_success 'SIGKILL of the fetcher mid-import, then the same command again' '
	stages fetcher.json start --mappers 2 &&
	background f1 sailsync-fetcher -c fetcher.json run big --no-progress &&
	fpid=$(cat f1.pid) &&
	midway fetcher &&
	kill -KILL $fpid && { wait $fpid; true; } &&
	before=$(applied fetcher) && echo "killed at $before rows" &&
	test "$before" -lt "$ROWS" &&
	stages fetcher.json run big --no-progress --summary-json fetcher.sum >/dev/null 2>f2.log &&
	stages fetcher.json stop &&
	stages fetcher.json dump --no-ids >fetcher.dump &&
	cmp calm.dump fetcher.dump &&
	jq -e ".run == 1" fetcher.sum
'

test_expect_success 'SIGKILL of the only mapper mid-import; the supervisor restarts it' '
	stages mapper.json start --mappers 1 &&
	background m sailsync-fetcher -c mapper.json run big --no-progress --summary-json mapper.sum &&
	fpid=$(cat m.pid) &&
	midway mapper &&
	old=$(stage_pid mapper.json mapper-1) &&
	stalls=$(grep -c reason=stalled m.log || true) &&
	kill -STOP $old &&
	wait_for 30 sh -c "test \$(grep -c reason=stalled m.log) -gt $stalls" &&
	before=$(applied mapper) && echo "killed at $before rows" &&
	test "$before" -lt "$ROWS" &&
	stages mapper.json kill mapper-1 &&
	wait $fpid &&
	wait_for 10 sh -c "test \"\$(cat sup-mapper/mapper-1.child)\" != $old" &&
	stages mapper.json stop &&
	stages mapper.json dump --no-ids >mapper.dump &&
	cmp calm.dump mapper.dump
'

test_expect_success 'SIGKILL of a writer mid-import; the supervisor restarts it' '
	stages writer.json start --mappers 2 &&
	background w sailsync-fetcher -c writer.json run big --no-progress --summary-json writer.sum &&
	fpid=$(cat w.pid) &&
	midway writer &&
	kill -STOP $(stage_pid writer.json writer-0) $(stage_pid writer.json writer-1) &&
	before=$(applied writer) && echo "killed at $before rows" &&
	test "$before" -lt "$ROWS" &&
	stages writer.json kill writer-0 &&
	stages writer.json kill writer-1 &&
	wait $fpid &&
	stages writer.json stop &&
	stages writer.json dump --no-ids >writer.dump &&
	cmp calm.dump writer.dump &&
	grep -q resend w.log
'

test_expect_success 'the disturbed runs report the same counts' '
	for s in fetcher mapper writer; do
		test "$(jq -c ".goals[0] | [.created, .updated, .unchanged, .skipped, .unique]" $s.sum)" = \
		     "$(jq -c ".goals[0] | [.created, .updated, .unchanged, .skipped, .unique]" calm.sum)" || exit 1
	done
'

test_done
