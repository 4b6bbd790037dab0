#!/bin/sh
# tests/t/0797-index-fold.sh: new identifiers, and the updates of
# profiles made in earlier commits, are staged in small trees and folded
# into the large ones in key order (common/store.c).  An import that folds
# both many times must leave the store exactly as one that never folds,
# with the same counts; and so must one whose writer is killed with
# SIGKILL again and again as it folds.  (A fold split over several
# commits, and lookups between them, are t_store's.)
. "$(dirname "$0")/../lib.sh"

cd "$SCRATCH" || exit 1
ROWS=60000
gen-seed --csv --rows $ROWS --seed 7 --repeat 40 >people.csv

# conf NAME STORE-EXTRA: one lane; merges on both unique identifiers.
conf() {
	mkdir -p "run-$1"
	cat >"$1.json" <<JSON
{
  "store": {"path": "store-$1", "commit_rows": 3000 $2,
    "properties": {
      "email":      {"type": "text", "unique": true},
      "first_name": {"type": "text"},
      "city":       {"type": "text"},
      "opens":      {"type": "number"},
      "tiers":      {"type": "text", "multi": true}
    },
    "merge": ["email", "sailthru_profile_id"]},
  "pipeline": {"users": "ipc://run-$1/users", "acks": "ipc://run-$1/acks",
    "lanes": ["ipc://run-$1/lane-0"], "window": 8, "resend_ms": 1000,
    "state_dir": "fetcher-$1"},
  "connections": [{"name": "files", "api_key": "x", "secret": "x", "goals": [
    {"name": "people", "type": "file", "path": "people.csv", "create_profiles": true,
     "link": {"column": "Email", "property": "email"},
     "mappings": [
       {"column": "first_name",   "property": "first_name", "rule": "set"},
       {"column": "city",         "property": "city",       "rule": "set_if_empty"},
       {"column": "Opens",        "property": "opens",      "rule": "sum"},
       {"column": "loyalty_tier", "property": "tiers",      "rule": "add"}]}]}]
}
JSON
}
conf calm ''
conf fold ', "index_stage": 1000, "txn_mb": 16'
conf kill ', "index_stage": 1000, "txn_mb": 16'

# folds NAME [WHAT]: fold steps of the writer's log, of both stages or of
# WHAT's ("index", "profiles").
folds() {
	grep -c "${2:-}[a-z]* folded lane=" "$SCRATCH/sup-$1/writer-0.log" 2>/dev/null
}

counts() {
	jq -c ".goals[0] | [.created, .updated, .unchanged, .skipped, .unique]" "$1"
}

test_expect_success 'an import that never folds (identifiers all staged)' '
	stages calm.json start --mappers 1 &&
	stages calm.json run files --no-progress --summary-json calm.sum >/dev/null 2>calm.err &&
	stages calm.json stop &&
	stages calm.json dump --no-ids >calm.dump &&
	test "$(jq ".goals[0] | .created + .updated + .unchanged + .skipped" calm.sum)" -eq $ROWS &&
	test "$(folds calm)" -eq 0 &&
	grep -q "folds=0 folded=0" sup-calm/writer-0.log
'

test_expect_success 'one that folds often ends the same' '
	stages fold.json start --mappers 1 &&
	stages fold.json run files --no-progress --summary-json fold.sum >/dev/null 2>fold.err &&
	stages fold.json stop &&
	n=$(folds fold) && echo "$n folds" && test "$n" -ge 5 &&
	test "$(folds fold index)" -ge 3 && test "$(folds fold profiles)" -ge 3 &&
	grep "stopped lane=0" sup-fold/writer-0.log | grep -q "folds=$n folded=[1-9]" &&
	stages fold.json dump --no-ids >fold.dump &&
	cmp calm.dump fold.dump &&
	test "$(counts fold.sum)" = "$(counts calm.sum)"
'

test_expect_success 'lookups by either identifier find the folded profiles' '
	email=$(sed -n 2p people.csv | cut -d, -f3) &&
	sid=$(sed -n 2p people.csv | cut -d, -f1) &&
	stages fold.json show "email=$email" >by-email.json &&
	stages fold.json show "sailthru_profile_id=$sid" >by-sid.json &&
	jq -e ".properties.email == \"$email\"" by-email.json &&
	cmp by-email.json by-sid.json
'

test_expect_success 'SIGKILL of the writer right after a fold, three times: the same store' '
	stages kill.json start --mappers 1 &&
	background k sailsync-fetcher -c kill.json run files --no-progress --summary-json kill.sum &&
	fpid=$(cat k.pid) &&
	for round in 1 2 3; do
		wait_for 60 sh -c "test \$(grep -c \"folded lane=\" sup-kill/writer-0.log) -ge $((round * 3))" &&
		old=$(stage_pid kill.json writer-0) &&
		stages kill.json kill writer-0 &&
		wait_for 20 sh -c "test \"\$(cat sup-kill/writer-0.child)\" != $old" || exit 1
	done &&
	wait $fpid &&
	stages kill.json stop &&
	test "$(grep -c "^.*started lane=0" sup-kill/writer-0.log)" -ge 4 &&
	stages kill.json dump --no-ids >kill.dump &&
	cmp calm.dump kill.dump &&
	test "$(counts kill.sum)" = "$(counts calm.sum)"
'

test_done
