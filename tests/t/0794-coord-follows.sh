#!/bin/sh
# The coordinator follows the configuration file: a schedule added,
# a connection added, a schedule removed take effect within seconds,
# without a restart; a file that does not load leaves it on the one it has.
# The schedule clock runs at 1800x (an hourly slot every 2 s).
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Newsletter", "type": "normal"}],
 "users": [{"email": "ann@example.com", "lists": ["Newsletter"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

# conn NAME SCHEDULE: one connection (SCHEDULE: JSON, null for none).
conn() {
	cat <<JSON
    {"name": "$1", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
     "schedule": $2,
     "goals": [{"name": "members", "type": "import", "lists": ["Newsletter"],
       "create_profiles": true, "link": {"column": "Email", "property": "email"}}]}
JSON
}
# conf CONNECTIONS...: the configuration with these connection objects.
conf() {
	{
		cat <<JSON
{
  "store": {"path": "store", "properties": {"email": {"type": "text", "unique": true}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state", "resend_ms": 500},
  "connections": [
JSON
		sep=
		for c in "$@"; do printf '%s%s\n' "$sep" "$c"; sep=,; done
		printf '  ]\n}\n'
	} >"$SCRATCH/sailsync.json.new" && mv "$SCRATCH/sailsync.json.new" "$SCRATCH/sailsync.json"
}
HOURLY='"24 times daily from 00:00"'
mkdir -p "$SCRATCH/run"
conf "$(conn a null)"

# runs CONN: the scheduled runs recorded for CONN.
runs() { ls state/$1/runs/*.json 2>/dev/null | wc -l; }

test_expect_success 'a coordinator with nothing scheduled' '
	stages sailsync.json start --mappers 1 --no-coordinator &&
	background coord sailsync-fetcher -c sailsync.json coordinator --clock-scale 1800 &&
	wait_for 10 grep -q "coordinator started connections=1" coord.log &&
	sleep 3 && test "$(runs a)" = 0
'

test_expect_success 'a schedule added to the file runs without a restart' '
	conf "$(conn a "$HOURLY")" &&
	wait_for 10 grep -q "configuration reloaded .*connections=1" coord.log &&
	wait_for 30 sh -c "test \$(ls state/a/runs/*.json 2>/dev/null | wc -l) -ge 2" &&
	jq -s -e "map(.trigger == \"schedule\" and .status == \"ok\") | all" state/a/runs/*.json
'

test_expect_success 'a connection added to the file is followed too' '
	conf "$(conn a "$HOURLY")" "$(conn b "$HOURLY")" &&
	wait_for 10 grep -q "configuration reloaded .*connections=2" coord.log &&
	wait_for 30 sh -c "test \$(ls state/b/runs/*.json 2>/dev/null | wc -l) -ge 2"
'

test_expect_success 'a schedule removed stops firing; a file that does not load changes nothing' '
	conf "$(conn a null)" "$(conn b "$HOURLY")" &&
	wait_for 10 sh -c "grep -c \"configuration reloaded\" coord.log | grep -qx 3" &&
	sleep 2 && a1=$(runs a) && sleep 6 && test "$(runs a)" -le $((a1 + 1)) &&
	printf "{\"store\": \n" >sailsync.json &&
	wait_for 10 grep -q "configuration not reloaded: .*sailsync.json:2:0" coord.log &&
	b1=$(runs b) &&
	wait_for 30 sh -c "test \$(ls state/b/runs/*.json | wc -l) -ge $((b1 + 2))" &&
	kill -0 "$(cat coord.pid)"
'

test_done
