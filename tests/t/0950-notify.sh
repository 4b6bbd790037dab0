#!/bin/sh
# tests/t/0950-notify.sh: run notifications: a mail through a local relay
# (tests/tools/smtp-sink: STARTTLS, AUTH PLAIN) with the run's summary, a
# webhook POST, notify_on failure, a relay that is down (the run is still
# ok), and the configuration errors.
. "$(dirname "$0")/../lib.sh"

command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
command -v openssl >/dev/null || { echo "1..0 # SKIP openssl is not installed"; exit 0; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SCRATCH/key.pem" \
	-out "$SCRATCH/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 ||
	{ echo "1..0 # SKIP cannot make a test certificate"; exit 0; }

printf '{"lists":[{"name":"Main"}],"users":[{"email":"ann@example.com","lists":["Main"]},{"email":"bob@example.com","lists":["Main"]}]}\n' \
	>"$SCRATCH/seed.json"
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

mkdir -p "$SCRATCH/mail" "$SCRATCH/run"
spawn sink smtp-sink --listen 127.0.0.1:0 --port-file "$SCRATCH/smtp.port" \
	--dir "$SCRATCH/mail" --cert "$SCRATCH/cert.pem" --key "$SCRATCH/key.pem" \
	--user relay-user --password 'relay pass 42'
wait_for 10 test -s "$SCRATCH/smtp.port" || { echo "1..0 # SKIP smtp-sink did not start"; exit 0; }
SMTP_PORT=$(cat "$SCRATCH/smtp.port")

# A webhook receiver: each POST body becomes hook/N.json.
mkdir -p "$SCRATCH/hook"
cat >"$SCRATCH/hook.py" <<'PY'
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        k = len(os.listdir("hook")) + 1
        with open("hook/.tmp", "wb") as f:
            f.write(self.headers.get("Content-Type", "").encode() + b"\n" + body)
        os.rename("hook/.tmp", "hook/%d.json" % k)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open("hook.port.tmp", "w").write(str(s.server_address[1]))
os.rename("hook.port.tmp", "hook.port")
s.serve_forever()
PY
(cd "$SCRATCH" && spawn hook python3 hook.py)
wait_for 10 test -s "$SCRATCH/hook.port" || { echo "1..0 # SKIP webhook receiver did not start"; exit 0; }
HOOK_URL="http://127.0.0.1:$(cat "$SCRATCH/hook.port")/hook?token=hook-token-7"

umask 077
printf 'relay pass 42\n' >"$SCRATCH/smtp.pass"
umask 022

# conf FILE SMTP-URL NOTIFY-ON LISTS [EXTRA-SMTP-KEYS]
conf() {
	cat >"$SCRATCH/$1" <<EOF
{
  "store": {"path": "store", "properties": {"email": {"type": "text", "unique": true}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks",
    "lanes": ["ipc://run/lane-0"], "state_dir": "state-$1"},
  "smtp": {"url": "$2", "from": "sailsync@example.com", "username": "relay-user",
    "password_file": "smtp.pass", "ca_file": "cert.pem"${5:-}},
  "connections": [
    {"name": "acme", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET",
     "base_url": "$SIM_URL", "notify": ["ops@example.com", "dev@example.com"],
     "notify_on": "$3", "webhook": "$HOOK_URL",
     "goals": [{"name": "members", "type": "import", "lists": $4,
       "link": {"column": "Email", "property": "email"}}]}]
}
EOF
}
conf always.json "smtp://127.0.0.1:$SMTP_PORT" always '["Main"]'
conf failure.json "smtp://127.0.0.1:$SMTP_PORT" failure '["Main"]'
conf partial.json "smtp://127.0.0.1:$SMTP_PORT" failure '["Main", "Nope"]'

test_expect_success 'a finished run is mailed over STARTTLS with AUTH, summary in the body' '
	sailsync-fetcher -c always.json run acme --users file:u1.cap --no-progress \
		>out 2>err &&
	wait_for 10 test -f mail/1.eml &&
	run=$(jq -r .run state-always.json/acme/runs/*.json) &&
	grep -qx "X-Sink-From: <sailsync@example.com>" mail/1.eml &&
	grep -qx "X-Sink-To: <ops@example.com>" mail/1.eml &&
	grep -qx "X-Sink-To: <dev@example.com>" mail/1.eml &&
	grep -qx "X-Sink-TLS: yes" mail/1.eml &&
	grep -qx "X-Sink-Auth: relay-user" mail/1.eml &&
	grep -qx "Subject: sailsync: ok run $run of acme (2 rows)" mail/1.eml &&
	grep -qx "To: ops@example.com, dev@example.com" mail/1.eml &&
	grep -qx "run $run of connection acme: ok" mail/1.eml &&
	grep -qx "goal members: created 0, updated 0, unchanged 0, skipped 0" mail/1.eml &&
	grep -qx "  \"Main\": 2 rows" mail/1.eml &&
	grep -q "notify: mail sent connection=acme run=$run recipients=2" err
'

test_expect_success 'the webhook gets the run record as JSON' '
	wait_for 10 test -f hook/1.json &&
	head -n 1 hook/1.json | grep -qx "application/json" &&
	tail -n +2 hook/1.json >h1.json &&
	test "$(jq -r .run.status h1.json)" = ok &&
	test "$(jq -r .run.connection h1.json)" = acme &&
	test "$(jq -r ".run.goals[0].parts[0].rows" h1.json)" = 2 &&
	jq -r .text h1.json | grep -q "^sailsync: ok run [0-9]* of acme" &&
	grep -q "notify: webhook called connection=acme" err
'

test_expect_success 'notify_on failure: an ok run tells no one' '
	sailsync-fetcher -c failure.json run acme --users file:u2.cap --no-progress \
		>out 2>err &&
	sleep 1 &&
	test "$(ls mail | wc -l)" = 1 && test "$(ls hook | wc -l)" = 1 &&
	! grep -q "notify:" err
'

test_expect_success 'notify_on failure: a partial run is mailed with the failed list' '
	test_expect_code 1 sailsync-fetcher -c partial.json run acme --users file:u3.cap \
		--no-progress >out 2>err &&
	wait_for 10 test -f mail/2.eml &&
	grep -q "^Subject: sailsync: partial run [0-9]* of acme" mail/2.eml &&
	grep -q "^  \"Nope\": failed: " mail/2.eml &&
	wait_for 10 test -f hook/2.json &&
	test "$(tail -n +2 hook/2.json | jq -r .run.status)" = partial
'

test_expect_success 'no password, token or secret in any log' '
	! grep -q "relay pass" err out mail/*.eml &&
	! grep -q "hook-token-7" err out &&
	! grep -q "$SIM_SECRET" err out mail/*.eml
'

# A relay that is down, and a webhook that answers 404: the run is still ok.
conf down.json "smtp://127.0.0.1:1" always '["Main"]'
sed -i "s|/hook?token=hook-token-7|/nothing-here|; s|\"webhook\": \"http://127.0.0.1:[0-9]*|\"webhook\": \"http://127.0.0.1:1|" \
	"$SCRATCH/down.json"
test_expect_success 'a relay and a webhook that are down are logged; the run is ok' '
	sailsync-fetcher -c down.json run acme --users file:u4.cap --no-progress \
		>out 2>err &&
	grep -q "^run [0-9]* of connection acme: ok\|connection acme: ok" out &&
	grep -q "notify: mail not sent connection=acme run=[0-9]* " err &&
	grep -q "notify: webhook failed connection=acme run=[0-9]* " err &&
	test "$(jq -r .status state-down.json/acme/runs/*.json)" = ok &&
	! grep -q "relay pass" err
'

conf tlsless.json "smtp://127.0.0.1:$SMTP_PORT" always '["Main"]' ', "starttls": false'
test_expect_failure_exit 'a password without TLS is a configuration error' 78 '
	sailsync-fetcher -c tlsless.json -n 2>err; rc=$?; cat err
	grep -q "tlsless.json:[0-9]*:[0-9]*: smtp.starttls: must be true when a username is set" err || exit 2
	exit $rc
'

test_expect_failure_exit 'notify without an smtp relay is a configuration error' 78 '
	jq "del(.smtp)" always.json >nosmtp.json &&
	sailsync-fetcher -c nosmtp.json -n 2>err; rc=$?; cat err
	grep -q "nosmtp.json:[0-9]*:[0-9]*: connections\[0\].notify: email notifications need the top-level \"smtp\" object" err || exit 2
	exit $rc
'

test_expect_failure_exit 'a password file readable by others is refused' 78 '
	cp smtp.pass open.pass && chmod 0644 open.pass &&
	sed "s/smtp.pass/open.pass/" always.json >open.json &&
	sailsync-fetcher -c open.json -n 2>err; rc=$?; cat err
	grep -q "smtp.password_file: .*mode 0644 is too open" err || exit 2
	! grep -q "relay pass" err || exit 2
	exit $rc
'

test_expect_failure_exit 'notify_on takes always or failure' 78 '
	jq ".connections[0].notify_on = \"sometimes\"" always.json >on.json &&
	sailsync-fetcher -c on.json -n 2>err; rc=$?; cat err
	grep -q "connections\[0\].notify_on: unknown value \"sometimes\" (expected always, failure)" err || exit 2
	exit $rc
'

test_done
