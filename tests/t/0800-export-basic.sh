#!/bin/sh
# Export goals against the simulator: a segment's profiles become Sailthru
# users with typed vars from every source kind, on the goal's lists; users
# that do not exist are skipped with create_users off and created with it
# on; profiles without the identifier or consent are skipped with a reason;
# a dry run writes nothing.
. "$(dirname "$0")/../lib.sh"

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "VIP", "type": "normal"}, {"name": "All", "type": "normal"}],
 "users": [{"email": "ann@example.com", "vars": {"old": "keep"}, "lists": ["All"]},
           {"email": "bob@example.com", "lists": ["All"]}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

cat >"$SCRATCH/crm.jsonl" <<'JSON'
{"email": "ann@example.com", "cid": 1, "name": "Ann", "tier": "gold", "ltv": 12.5, "score": 7, "signup_time": "2021-07-13T15:22:00Z", "birth_date": "2021-03-14T03:30:00Z", "last_seen": "2021-07-13T15:22:00Z", "tags": ["a", "b"], "vip": true, "segments": ["newsletter"], "consents": ["mail"], "permission": "full", "interactions": ["viewed:pricing"], "lifecycles": {"customer": "active"}}
{"email": "bob@example.com", "cid": 2, "name": "Bob", "tier": "gold", "ltv": -2.5, "consents": ["mail"]}
{"email": "cy@example.com", "cid": 3, "name": "Cy", "tier": "gold", "consents": ["mail"]}
{"email": "dee@example.com", "cid": 4, "name": "Dee", "tier": "gold"}
{"email": "eve@example.com", "cid": 5, "name": "Eve", "tier": "silver", "consents": ["mail"]}
JSON
printf 'cid,name,tier\n6,Fay,gold\n' >"$SCRATCH/noemail.csv"

# conf NAME CREATE
conf() {
	cat >"$SCRATCH/$1.json" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "cid": {"type": "number", "unique": true},
      "name": {"type": "text"}, "tier": {"type": "text"}, "ltv": {"type": "decimal"},
      "score": {"type": "number"}, "signup_time": {"type": "datetime"},
      "birth_date": {"type": "datetime"}, "last_seen": {"type": "datetime"},
      "tags": {"type": "text", "multi": true}, "vip": {"type": "boolean"}},
    "segments": {"gold": {"all": [{"property": "tier", "equals": "gold"}]}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks", "lanes": ["ipc://run/lane-0"],
               "state_dir": "fetcher", "export_state": "exporter-$1"},
  "connections": [
   {"name": "files", "api_key": "x", "secret": "x", "goals": [
     {"name": "crm", "type": "file", "path": "crm.jsonl", "create_profiles": true,
      "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "cid", "property": "cid"}, {"column": "name", "property": "name"},
        {"column": "tier", "property": "tier"}, {"column": "ltv", "property": "ltv"},
        {"column": "score", "property": "score"}, {"column": "signup_time", "property": "signup_time"},
        {"column": "birth_date", "property": "birth_date"}, {"column": "last_seen", "property": "last_seen"},
        {"column": "tags", "property": "tags", "rule": "add"}, {"column": "vip", "property": "vip"}]},
     {"name": "noemail", "type": "file", "path": "noemail.csv", "create_profiles": true,
      "link": {"column": "cid", "property": "cid"},
      "mappings": [{"column": "name", "property": "name"}, {"column": "tier", "property": "tier"}]}]},
   {"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "timezone": "America/New_York", "consent_objectives": ["mail"],
    "goals": [{"name": "gold", "type": "export", "segment": "gold",
      "link": {"property": "email", "key": "email"}, "create_users": $2, "lists": ["VIP"],
      "mappings": [
        {"var": "profile", "source": "id"}, {"var": "first_name", "source": "property", "property": "name"},
        {"var": "ltv", "source": "property", "property": "ltv"}, {"var": "score", "source": "property", "property": "score"},
        {"var": "signup_time", "source": "property", "property": "signup_time"},
        {"var": "birth_date", "source": "property", "property": "birth_date"},
        {"var": "last_seen", "source": "property", "property": "last_seen"},
        {"var": "tags", "source": "property", "property": "tags"}, {"var": "vip", "source": "property", "property": "vip"},
        {"var": "segs", "source": "segments"}, {"var": "news", "source": "segments", "segments": ["newsletter", "nope"]},
        {"var": "stages", "source": "lifecycles"}, {"var": "seen", "source": "interactions"},
        {"var": "perm", "source": "permission"}, {"var": "origin", "source": "text", "text": "sailsync"}]}]}
  ]
}
JSON
}
conf off false
conf on true

state() { curl -sf "$SIM_URL/_sim/state"; }

test_expect_success 'the profiles load through the pipeline' '
	stages off.json start --mappers 1 &&
	stages off.json run files --no-progress --summary-json files.sum >/dev/null &&
	jq -e ".goals[0].created == 5 and .goals[1].created == 1" files.sum
'

test_expect_success 'a dry run prints what it would send and writes nothing' '
	state >before.json &&
	sailsync-exporter -c off.json run st --dry-run >dry.out 2>dry.err &&
	cat dry.out &&
	grep -q "^send [0-9a-f]* .*\"id\":\"ann@example.com\"" dry.out &&
	grep -q "^skip [0-9a-f]* no_consent" dry.out &&
	grep -q "^skip [0-9a-f]* no_identifier" dry.out &&
	state >after.json &&
	jq -e ".users == \$b[0].users and .lists == \$b[0].lists" --slurpfile b before.json after.json &&
	jq -e "(.counters | keys | map(select(startswith(\"POST\"))) | length) == 0" after.json
'

test_expect_success 'create_users off: existing users get typed vars and the list' '
	sailsync-exporter -c off.json run st --summary-json off.sum >off.out 2>off.err &&
	cat off.out && cat off.sum &&
	jq -e ".status == \"ok\" and .goals[0].exported == 2 and .goals[0].skipped == 3" off.sum &&
	jq -e ".goals[0].reasons == {\"no_user\": 1, \"no_consent\": 1, \"no_identifier\": 1}" off.sum &&
	jq -e ".goals[0].unique == 2 and (.goals[0].last | length) == 2" off.sum &&
	state >s1.json &&
	jq -e "[.users[] | select(.keys.email == \"cy@example.com\")] | length == 0" s1.json &&
	jq -e ".lists[] | select(.name == \"VIP\") | .members | sort == [\"ann@example.com\", \"bob@example.com\"]" s1.json &&
	jq -c ".users[] | select(.keys.email == \"ann@example.com\") | .vars" s1.json >ann.vars &&
	cat ann.vars &&
	jq -e ".old == \"keep\" and .first_name == \"Ann\" and .ltv == 13 and .score == 7" ann.vars &&
	jq -e ".signup_time == 1626189720 and .birth_date == \"2021-03-13\"" ann.vars &&
	jq -e ".last_seen == \"2021-07-13T15:22:00.000Z\" and .tags == [\"a\", \"b\"] and .vip == \"true\"" ann.vars &&
	jq -e ".segs == [\"newsletter\", \"gold\"] and .news == [\"newsletter\"]" ann.vars &&
	jq -e ".stages == {\"customer\": \"active\"} and .seen == [\"viewed:pricing\"]" ann.vars &&
	jq -e ".perm == \"full\" and .origin == \"sailsync\" and (.profile | test(\"^[0-9a-f]{16}$\"))" ann.vars &&
	jq -e ".users[] | select(.keys.email == \"bob@example.com\") | .vars.ltv == -3" s1.json
'

test_expect_success 'create_users on: the missing user is created and counted' '
	sailsync-exporter -c on.json run st --summary-json on.sum >on.out 2>on.err &&
	cat on.out &&
	jq -e ".goals[0].exported == 3 and .goals[0].created == 1" on.sum &&
	jq -e ".goals[0].reasons == {\"no_consent\": 1, \"no_identifier\": 1}" on.sum &&
	state >s2.json &&
	jq -e ".users[] | select(.keys.email == \"cy@example.com\") | .vars.first_name == \"Cy\" and .lists == [\"VIP\"]" s2.json
'

test_expect_success 'a second run exports the same profiles again; unique stays' '
	sailsync-exporter -c on.json run st --summary-json on2.sum >/dev/null 2>on2.err &&
	jq -e ".goals[0].exported == 3 and .goals[0].created == 0 and .goals[0].unique == 3" on2.sum
'

test_expect_success 'a connection without export goals, or an unknown goal, is refused' '
	test_expect_code 78 sailsync-exporter -c on.json run files >nf.out 2>nf.err &&
	grep -q "no export goal" nf.err &&
	test_expect_code 64 sailsync-exporter -c on.json run st --goal nope >ng.out 2>ng.err &&
	grep -q "no export goal named nope" ng.err
'

test_done
