#!/bin/sh
# Touchpoint caps across simulated dates (SAILSYNC_NOW): per calendar week
# (from Monday) and month in the connection's time zone, with the export as
# the touchpoint; and email opens, learned from imported "Last Open" data,
# as the touchpoint instead.
. "$(dirname "$0")/../lib.sh"

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "News", "type": "normal"}],
 "users": [{"email": "ann@example.com", "lists": ["News"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

cat >"$SCRATCH/x.json" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "last_open": {"type": "datetime"}},
    "segments": {"everyone": {"all": [{"property": "email", "exists": true}]}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks", "lanes": ["ipc://run/lane-0"],
               "state_dir": "fetcher", "export_state": "exporter"},
  "connections": [
   {"name": "files", "api_key": "x", "secret": "x",
    "goals": [{"name": "opens", "type": "file", "path": "opens.csv",
               "link": {"column": "email", "property": "email"},
               "mappings": [{"column": "last_open", "property": "last_open", "rule": "set"}]}]},
   {"name": "in", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [{"name": "news", "type": "import", "lists": ["News"], "create_profiles": true,
               "link": {"column": "Email", "property": "email"},
               "mappings": [{"column": "Last Open", "property": "last_open", "rule": "set"}]}]},
   {"name": "capped", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "timezone": "America/New_York",
    "goals": [{"name": "weekly", "type": "export", "segment": "everyone",
               "link": {"property": "email", "key": "email"}, "caps": {"week": 1, "month": 2},
               "mappings": [{"var": "w", "source": "text", "text": "x"}]}]},
   {"name": "opens", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [{"name": "opened", "type": "export", "segment": "everyone",
               "link": {"property": "email", "key": "email"}, "caps": {"week": 1},
               "touchpoint": {"event": "email_opened", "property": "last_open"},
               "mappings": [{"var": "o", "source": "text", "text": "x"}]}]}
  ]
}
JSON

# at NOW CONN: one export run at NOW; prints "exported capped".
at() {
	SAILSYNC_NOW=$1 sailsync-exporter -c x.json run "$2" --summary-json at.sum >>at.out 2>>at.err &&
	jq -r "\"\(.goals[0].exported) \(.goals[0].reasons.capped // 0)\"" at.sum
}
posts() { curl -sf "$SIM_URL/_sim/state" | jq -r ".counters[\"POST user\"] // 0"; }

test_expect_success 'the user is imported' '
	stages x.json start --mappers 1 &&
	stages x.json run in --no-progress --summary-json in.sum >/dev/null &&
	jq -e ".goals[0].created == 1" in.sum
'

test_expect_success 'one export a week, two a month, in New York time' '
	p0=$(posts) &&
	test "$(at 2021-07-12T12:00:00Z capped)" = "1 0" &&
	test "$(at 2021-07-14T12:00:00Z capped)" = "0 1" &&
	test "$(at 2021-07-19T03:00:00Z capped)" = "0 1" &&
	test "$(at 2021-07-19T05:00:00Z capped)" = "1 0" &&
	test "$(at 2021-07-26T12:00:00Z capped)" = "0 1" &&
	test "$(at 2021-08-02T12:00:00Z capped)" = "1 0" &&
	test $(($(posts) - p0)) -eq 3
'

test_expect_success 'a run repeated at its own run time (as a resumed run is) counts one touchpoint' '
	test "$(at 2021-08-09T12:00:00Z capped)" = "1 0" &&
	test "$(at 2021-08-09T12:00:00Z capped)" = "1 0" &&
	test "$(at 2021-08-10T12:00:00Z capped)" = "0 1"
'

test_expect_success 'opens after an export are the touchpoints, counted once each' '
	test "$(at 2021-09-06T12:00:00Z opens)" = "1 0" &&
	test "$(at 2021-09-07T12:00:00Z opens)" = "1 0" &&
	printf "email,last_open\nann@example.com,2021-09-07T18:00:00Z\n" >opens.csv &&
	stages x.json run files --no-progress >/dev/null &&
	test "$(at 2021-09-08T12:00:00Z opens)" = "0 1" &&
	test "$(at 2021-09-09T12:00:00Z opens)" = "0 1" &&
	test "$(at 2021-09-13T12:00:00Z opens)" = "1 0"
'

test_done
