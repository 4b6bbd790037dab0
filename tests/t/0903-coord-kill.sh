#!/bin/sh
# tests/t/0903-coord-kill.sh: a coordinator killed (SIGKILL) or stopped
# (SIGTERM) in the middle of a run, then started again, resumes that run
# (same run id, from its ledger) and never runs a request twice: killed
# while fetching, stopped while the finished run notifies, killed while it
# notifies; a run's process killed alone is resumed; a request the ledger
# says was run is not run again.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Newsletter", "type": "normal"}, {"name": "VIP", "type": "normal"}],
 "users": [{"email": "ann@example.com", "lists": ["Newsletter", "VIP"]},
           {"email": "bob@example.com", "lists": ["Newsletter"]},
           {"email": "cid@example.com", "lists": ["VIP"]}]}
JSON
# Each export job takes 3 s: long enough to kill the coordinator in the middle.
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 3000 || exit 1

# A slow webhook: hook/N.json when a POST arrives, the answer 4 s later,
# so that a run can be stopped after its record, while it notifies.
mkdir -p "$SCRATCH/hook"
cat >"$SCRATCH/hook.py" <<'PY'
import http.server, os, socketserver, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        k = len(os.listdir("hook")) + 1
        with open("hook/.tmp", "wb") as f:
            f.write(body)
        os.rename("hook/.tmp", "hook/%d.json" % k)
        time.sleep(4)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
open("hook.port.tmp", "w").write(str(s.server_address[1]))
os.rename("hook.port.tmp", "hook.port")
s.serve_forever()
PY
(cd "$SCRATCH" && spawn hook python3 hook.py)
wait_for 10 test -s "$SCRATCH/hook.port" || { echo "1..0 # SKIP webhook receiver did not start"; exit 0; }

cat >"$SCRATCH/sailsync.json" <<JSON
{
  "store": {"path": "store", "properties": {"email": {"type": "text", "unique": true}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state", "resend_ms": 500},
  "connections": [
    {"name": "k", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
     "base_url": "$SIM_URL", "timezone": "Europe/Amsterdam",
     "webhook": "http://127.0.0.1:$(cat "$SCRATCH/hook.port")/hook",
     "goals": [{"name": "members", "type": "import", "lists": ["Newsletter", "VIP"],
       "create_profiles": true, "link": {"column": "Email", "property": "email"}}]}]
}
JSON
mkdir -p "$SCRATCH/run"

# records N: connection k has exactly N run records and an empty queue.
records() {
	wait_for 60 sh -c "ls state/k/runs/*.json 2>/dev/null | wc -l | grep -qx $1" &&
	wait_for 60 sh -c "! ls state/k/queue/*.json 2>/dev/null | grep -q ." &&
	wait_for 60 sh -c "ls hook/*.json 2>/dev/null | wc -l | grep -qx $1" &&
	: no second run starts later &&
	sleep 5 &&
	test $(ls state/k/runs/*.json | wc -l) -eq $1 &&
	test $(ls hook/*.json | wc -l) -eq $1
}

test_expect_success 'SIGKILL while fetching: the restarted coordinator resumes the run' '
	stages sailsync.json start --mappers 1 &&
	wait_for 20 test -s sup-sailsync/coordinator.child &&
	stages sailsync.json run-now k &&
	wait_for 20 sh -c "jq -e \".run.state == \\\"fetching\\\"\" state/k/ledger.json" &&
	id=$(jq -r .run.id state/k/ledger.json) &&
	old=$(stage_pid sailsync.json coordinator) &&
	stages sailsync.json kill coordinator &&
	records 1 &&
	jq -e ".run == $id and .status == \"ok\" and .rows == 4" state/k/runs/$id.json &&
	log=sup-sailsync/coordinator.log &&
	grep -q "run resumed run=$id connection=k" $log &&
	! grep "another coordinator is running" $log &&
	stages sailsync.json dump --no-ids | wc -l | grep -qx 3
'

test_expect_success 'stopped while the finished run notifies: started again, no extra run' '
	stages sailsync.json run-now k &&
	wait_for 60 sh -c "ls hook/*.json | wc -l | grep -qx 2" &&
	stages sailsync.json stop &&
	ls state/k/runs/ &&
	stages sailsync.json start --mappers 1 &&
	records 2
'

test_expect_success 'SIGKILL while the finished run notifies: no extra run' '
	stages sailsync.json run-now k &&
	wait_for 60 sh -c "ls hook/*.json | wc -l | grep -qx 3" &&
	stages sailsync.json kill coordinator &&
	records 3 &&
	stages sailsync.json stop
'

test_expect_success 'a run process killed on its own is resumed 10 s later, same run' '
	stages sailsync.json start --mappers 1 &&
	wait_for 20 test -s sup-sailsync/coordinator.child &&
	stages sailsync.json run-now k &&
	wait_for 20 sh -c "jq -e \".run.state == \\\"fetching\\\" and .run.id > 3\" state/k/ledger.json" &&
	id=$(jq -r .run.id state/k/ledger.json) &&
	pid=$(sed -n "s/.*run started connection=k trigger=manual pid=\([0-9]*\)$/\1/p" \
		sup-sailsync/coordinator.log | tail -n 1) &&
	kill -KILL $pid &&
	wait_for 10 grep -q "run killed connection=k signal=9; resuming it in 10 s" \
		sup-sailsync/coordinator.log &&
	records 4 &&
	jq -e ".run == $id and .status == \"ok\"" state/k/runs/$id.json &&
	grep -q "run resumed run=$id connection=k" sup-sailsync/coordinator.log &&
	stages sailsync.json stop
'

test_expect_success 'a request left behind by a run that was recorded is not run again' '
	: a crash between the ledger saying done and the request file going &&
	req=$(jq -r .run.request state/k/ledger.json) &&
	test "$(jq -r .run.state state/k/ledger.json)" = done &&
	printf "{\"trigger\": \"manual\", \"requested\": 1}\n" >state/k/queue/$req &&
	stages sailsync.json start --mappers 1 &&
	wait_for 30 sh -c "! ls state/k/queue/*.json 2>/dev/null | grep -q ." &&
	grep -q "request already run request=$req run=$(jq -r .run.id state/k/ledger.json) connection=k" \
		sup-sailsync/coordinator.log &&
	sleep 3 &&
	test $(ls state/k/runs/*.json | wc -l) -eq 4 &&
	stages sailsync.json stop
'

test_done
