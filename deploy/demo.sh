#!/bin/sh
# deploy/demo.sh: `make demo`.  Starts the embedded Sailthru simulator
# seeded with a few lists of realistic users, runs a connection with an
# import goal through fetcher -> mappers -> writer and an export goal back
# to the simulator, and prints the run's summary, a few imported profiles
# and the users and lists the export changed.  Everything lives in
# build/demo/ ($DEMO_DIR).  It leaves the stages, the status page and the simulator
# running and prints the page's URL and how to stop them
# (build/demo/stop.sh); with DEMO_KEEP=0 it stops everything before it exits.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bin=${SAILSYNC_BIN:-$top/build/default/bin}
PATH=$bin:$top/deploy:$PATH
export PATH SAILSYNC_BIN="$bin"
users=${DEMO_USERS:-5000}

# DEMO_DIR: where it lives (tests use a scratch directory).
dir=${DEMO_DIR:-$top/build/demo}
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"

sim_pid=
cleanup() {
	sailsync -c "$dir/sailsync.json" stop 2>/dev/null || true
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

step "seeding the Sailthru simulator with $users users on three lists"
gen-seed --users "$users" --lists "Newsletter,VIP,Engaged:smart" --seed 7 >seed.json
sailthru-sim --listen 127.0.0.1:0 --port-file sim.port --key demo-key \
	--secret demo-secret --seed seed.json --job-delay-ms 800 >sim.log 2>&1 &
sim_pid=$!
i=0
until [ -s sim.port ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { cat sim.log >&2; echo "demo: simulator did not start" >&2; exit 69; }
	sleep 0.1
done
url="http://127.0.0.1:$(cat sim.port)"
echo "simulator at $url (log: $dir/sim.log)"

# The secret lives in a 0600 file, as it should in production; so does
# the status page's token.
umask 077
printf 'demo-secret\n' >secret
od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >status.token
umask 022

cat >sailsync.json <<EOF
{
  "store": {
    "path": "store",
    "map_size_mb": 256,
    "properties": {
      "email":          {"type": "text", "unique": true},
      "first_name":     {"type": "text"},
      "last_name":      {"type": "text"},
      "city":           {"type": "text"},
      "plan":           {"type": "text"},
      "lifetime_value": {"type": "decimal"},
      "opens":          {"type": "number"},
      "clicks":         {"type": "number"},
      "last_open":      {"type": "datetime"},
      "last_click":     {"type": "datetime"},
      "engagement":     {"type": "text"},
      "sailthru_lists": {"type": "text", "multi": true}
    },
    "merge": ["email", "sailthru_profile_id"],
    "segments": {
      "premium": {"all": [{"property": "plan", "one_of": ["pro", "enterprise"]},
                          {"property": "lifetime_value", "min": 500}]}
    }
  },
  "pipeline": {
    "users": "ipc://run/users",
    "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0", "ipc://run/lane-1"],
    "state_dir": "fetcher",
    "export_state": "exporter"
  },
  "status": {"listen": "127.0.0.1:0", "token_file": "status.token"},
  "connections": [{
    "name": "demo",
    "api_key": "demo-key",
    "secret_file": "secret",
    "timezone": "America/New_York",
    "base_url": "$url",
    "goals": [{
      "name": "members",
      "type": "import",
      "lists": ["Newsletter", "VIP", "Engaged"],
      "create_profiles": true,
      "list_property": "sailthru_lists",
      "link": {"column": "Email", "property": "email"},
      "mappings": [
        {"column": "first_name",     "property": "first_name",     "rule": "set"},
        {"column": "last_name",      "property": "last_name",      "rule": "set"},
        {"column": "city",           "property": "city",           "rule": "set_if_empty"},
        {"column": "plan",           "property": "plan",           "rule": "set"},
        {"column": "lifetime_value", "property": "lifetime_value", "rule": "set"},
        {"column": "Opens",          "property": "opens",          "rule": "sum"},
        {"column": "Clicks",         "property": "clicks",         "rule": "sum"},
        {"column": "Last Open",      "property": "last_open",      "rule": "set"},
        {"column": "Last Click",     "property": "last_click",     "rule": "set"},
        {"column": "Engagement",     "property": "engagement",     "rule": "set"}
      ]
    }, {
      "name": "premium-back",
      "type": "export",
      "segment": "premium",
      "link": {"property": "email", "key": "email"},
      "lists": ["Premium"],
      "mappings": [
        {"var": "sailsync_id",   "source": "id"},
        {"var": "segments",      "source": "segments"},
        {"var": "ltv",           "source": "property", "property": "lifetime_value"},
        {"var": "last_open_date", "source": "property", "property": "last_open"},
        {"var": "synced_by",     "source": "text", "text": "sailsync demo"}
      ]
    }]
  }]
}
EOF
echo "configuration: $dir/sailsync.json"

step "starting two writer lanes, two mappers and the coordinator"
sailsync -c sailsync.json start --mappers 2
sailsync -c sailsync.json status

step "running connection \"demo\" (fetch -> map -> write, then export the \"premium\" segment)"
sailsync -c sailsync.json run demo --summary-json summary.json

step "three imported profiles (of $(sailsync -c sailsync.json dump | wc -l))"
sailsync -c sailsync.json dump | head -n 3

email=$(jq -r '.users[0].email' seed.json | tr 'A-Z' 'a-z' | sed 's/^ *//; s/ *$//')
step "looking one up by email ($email)"
sailsync -c sailsync.json show "email=$email" | jq .

step "what the export changed in Sailthru: the list \"Premium\" and two of its users"
curl -sf "$url/_sim/state" >state.json
jq -c '.lists[] | select(.name == "Premium") | {name, email_count, first: .members[0:3]}' state.json
jq -c '[.users[] | select(.lists | index("Premium"))][0:2][] | {email: .keys.email, lists, vars}' state.json

step "running it again: no new profiles, unique counts unchanged, sums add this run's rows once"
sailsync -c sailsync.json run demo --no-progress --summary-json summary2.json >/dev/null
jq -c '.goals[] | {name, type, created, updated, unchanged, exported, unique}' summary2.json

step "the second run in the history: what it changed on its last profiles (sailsync runs demo $(jq -r .run summary2.json))"
sailsync -c sailsync.json runs demo "$(jq -r .run summary2.json)" | head -n 15

echo
# Leave it running (the cleanup trap is for failures and DEMO_KEEP=0).
if [ "${DEMO_KEEP:-1}" = 0 ]; then
	echo "demo done; stopped the stages, the status page and the simulator; files in $dir"
	exit 0
fi
cat >stop.sh <<EOF
#!/bin/sh
# Stops what make demo left running.
SAILSYNC_BIN=$bin sh $top/deploy/sailsync -c $dir/sailsync.json stop
kill $sim_pid 2>/dev/null
echo "demo stopped"
EOF
chmod +x stop.sh
i=0
until status_url=$(sed -n 's/.*status: listening url=\([^ ]*\).*/\1/p' sup/status.log 2>/dev/null |
    tail -n 1) && [ -n "$status_url" ]; do
	i=$((i + 1))
	[ $i -gt 50 ] && break
	sleep 0.1
done
trap - EXIT
echo "demo done; files in $dir"
echo "still running: the stages, the simulator and the status page"
echo "  status page:        ${status_url:-(did not start: see $dir/sup/status.log)}"
echo "  sign in to run now: ${status_url}login?token=$(cat status.token)"
echo "  stop everything:    $dir/stop.sh"
