#!/bin/sh
# Export goals and Sailthru lists: users leave a goal's list when their
# profile leaves the segment only when the goal asks for it; the removal
# guard refuses a run that would empty a list unless forced; a dry run
# lists the removals it would make, and why, writing nothing; a lifecycle
# stage restriction; the bulk update job with its error report, the users
# it creates (counted after lookups, or unverified past bulk_lookups), and a
# bulk job that ends in error.
. "$(dirname "$0")/../lib.sh"

cat >"$SCRATCH/seed.json" <<'JSON'
{"lists": [{"name": "Keep", "type": "normal"}, {"name": "Drop", "type": "normal"}],
 "users": [{"email": "ann@example.com", "extid": "A1"}, {"email": "bob@example.com"},
           {"email": "cy@example.com"}, {"email": "dee@example.com"}]}
JSON
start_sim --seed "$SCRATCH/seed.json" --job-delay-ms 50 || exit 1

# crm TIER_ANN TIER_BOB TIER_CY TIER_DEE: the customer file.
crm() {
	cat >"$SCRATCH/crm.jsonl" <<JSON
{"email": "ann@example.com", "xid": "A1", "tier": "$1", "lifecycles": {"customer": "active"}}
{"email": "bob@example.com", "xid": "B2", "tier": "$2", "lifecycles": {"customer": "churned"}}
{"email": "cy@example.com", "tier": "$3"}
{"email": "dee@example.com", "tier": "$4", "lifecycles": {"customer": "active"}}
{"email": "not-an-email", "tier": "bulk"}
JSON
}

cat >"$SCRATCH/x.json" <<JSON
{
  "store": {"path": "store",
    "properties": {"email": {"type": "text", "unique": true}, "tier": {"type": "text"},
                   "xid": {"type": "text", "unique": true}},
    "segments": {"gold": {"all": [{"property": "tier", "equals": "gold"}]},
                 "bulk": {"any": [{"property": "tier", "one_of": ["gold", "bulk"]}]},
                 "all-ext": {"all": [{"property": "xid", "exists": true}]}}},
  "pipeline": {"users": "ipc://run/users", "acks": "ipc://run/acks", "lanes": ["ipc://run/lane-0"],
               "state_dir": "fetcher", "export_state": "exporter"},
  "connections": [
   {"name": "files", "api_key": "x", "secret": "x", "goals": [
     {"name": "crm", "type": "file", "path": "crm.jsonl", "create_profiles": true,
      "link": {"column": "email", "property": "email"},
      "mappings": [{"column": "tier", "property": "tier"}, {"column": "xid", "property": "xid"}]}]},
   {"name": "st", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [
     {"name": "keep", "type": "export", "segment": "gold", "link": {"property": "email", "key": "email"},
      "lists": ["Keep"]},
     {"name": "drop", "type": "export", "segment": "gold", "link": {"property": "email", "key": "email"},
      "lists": ["Drop"], "remove_when_left": true},
     {"name": "active", "type": "export", "segment": "gold", "link": {"property": "email", "key": "email"},
      "lists": ["Active"], "stage": {"lifecycle": "customer", "stages": ["active"]}}]},
   {"name": "bulk", "api_key": "$SIM_KEY", "secret": "$SIM_SECRET", "base_url": "$SIM_URL",
    "goals": [
     {"name": "bulk", "type": "export", "segment": "bulk", "link": {"property": "email", "key": "email"},
      "create_users": true, "bulk_min": 2, "lists": ["Bulk"],
      "mappings": [{"var": "tier", "source": "property", "property": "tier"}]},
     {"name": "byext", "type": "export", "segment": "all-ext", "link": {"property": "xid", "key": "extid"},
      "bulk_min": 1, "lists": ["Ext"]}]}
  ]
}
JSON

members() { curl -sf "$SIM_URL/_sim/state" | jq -c "[.lists[] | select(.name == \"$1\") | .members[]] | sort"; }
load() { stages x.json run files --no-progress >/dev/null; }

test_expect_success 'four gold profiles are exported to both lists' '
	crm gold gold gold gold &&
	stages x.json start --mappers 1 && load &&
	sailsync-exporter -c x.json run st --summary-json s1.sum >s1.out 2>s1.err &&
	cat s1.out &&
	test "$(members Keep)" = "[\"ann@example.com\",\"bob@example.com\",\"cy@example.com\",\"dee@example.com\"]" &&
	test "$(members Drop)" = "$(members Keep)"
'

writes() { curl -sf "$SIM_URL/_sim/state" | jq -c "[.counters[\"POST user\"], .counters[\"POST job\"], .counters[\"DELETE user\"], .counters[\"POST list\"]]"; }

test_expect_success 'a dry run lists the removal it would make and why, and writes nothing' '
	crm gold silver gold gold && load &&
	w0=$(writes) &&
	sailsync-exporter -c x.json run st --dry-run --summary-json d.sum >d.out 2>d.err &&
	cat d.out &&
	grep -qx "remove bob@example.com left_segment {\"id\":\"bob@example.com\",\"key\":\"email\",\"lists\":{\"Drop\":0}}" d.out &&
	test "$(grep -c "^remove " d.out)" = 1 &&
	test "$(grep -c "^send " d.out)" = 8 &&
	jq -e ".status == \"dry_run\" and .goals[1].removed == 1 and .goals[0].removed == 0" d.sum &&
	test "$(writes)" = "$w0" &&
	test "$(members Drop)" = "[\"ann@example.com\",\"bob@example.com\",\"cy@example.com\",\"dee@example.com\"]"
'

test_expect_success 'a profile that left the segment leaves only the list that asks for it' '
	crm gold silver gold gold && load &&
	sailsync-exporter -c x.json run st --summary-json s2.sum >s2.out 2>s2.err &&
	cat s2.out &&
	jq -e ".goals[0].removed == 0 and .goals[1].removed == 1 and .goals[1].exported == 3" s2.sum &&
	test "$(members Keep)" = "[\"ann@example.com\",\"bob@example.com\",\"cy@example.com\",\"dee@example.com\"]" &&
	test "$(members Drop)" = "[\"ann@example.com\",\"cy@example.com\",\"dee@example.com\"]"
'

test_expect_success 'a stage restriction exports only profiles in the stage' '
	jq -e ".goals[2].exported == 2 and .goals[2].reasons.outside_stage == 1" s2.sum &&
	test "$(members Active)" = "[\"ann@example.com\",\"dee@example.com\"]"
'

test_expect_success 'the removal guard refuses to empty a list, and says so' '
	crm silver silver silver gold && load &&
	test_expect_code 1 sailsync-exporter -c x.json run st --goal drop --summary-json s3.sum \
		>s3.out 2>s3.err &&
	cat s3.out &&
	grep -q "removal guard: would remove 2 of the 3 users of list \"Drop\"" s3.out &&
	jq -e ".status == \"partial\" and .goals[0].removed == 0" s3.sum &&
	test "$(members Drop)" = "[\"ann@example.com\",\"cy@example.com\",\"dee@example.com\"]"
'

test_expect_success 'a dry run shows the refused removals and sends nothing; --force removes them' '
	w0=$(writes) &&
	sailsync-exporter -c x.json run st --goal drop --dry-run >d.out 2>d.err &&
	grep -c "^send " d.out | grep -qx 1 &&
	grep "^remove " d.out | cut -d" " -f1-3 | sort >d.rm &&
	printf "remove ann@example.com left_segment\nremove cy@example.com left_segment\n" | cmp - d.rm &&
	test "$(writes)" = "$w0" &&
	test "$(members Drop)" = "[\"ann@example.com\",\"cy@example.com\",\"dee@example.com\"]" &&
	sailsync-exporter -c x.json run st --goal drop --force --summary-json s4.sum >s4.out 2>s4.err &&
	jq -e ".status == \"ok\" and .goals[0].removed == 2" s4.sum &&
	test "$(members Drop)" = "[\"dee@example.com\"]" &&
	sailsync-exporter -c x.json run st --goal drop --summary-json s5.sum >/dev/null 2>&1 &&
	jq -e ".goals[0].removed == 0" s5.sum
'

test_expect_success 'a bulk job that ends in error fails the goal; nothing is applied' '
	sim_fault "{\"endpoint\": \"job\", \"method\": \"POST\", \"kind\": \"job_error\"}" &&
	test_expect_code 1 sailsync-exporter -c x.json run bulk --goal bulk --summary-json b1.sum \
		>b1.out 2>b1.err &&
	cat b1.out &&
	jq -e ".status == \"failed\" and .goals[0].mode == \"bulk\" and .goals[0].failed == 2" b1.sum &&
	grep -q "ended in error" b1.out &&
	test "$(members Bulk)" = "[]"
'

test_expect_success 'the bulk job: users applied, its error report turned into a reason per profile' '
	test_expect_code 1 sailsync-exporter -c x.json run bulk --goal bulk --summary-json b2.sum \
		>b2.out 2>b2.err &&
	cat b2.out b2.err &&
	jq -e ".status == \"partial\" and .goals[0].mode == \"bulk\"" b2.sum &&
	jq -e ".goals[0].exported == 1 and .goals[0].reasons.rejected == 1" b2.sum &&
	grep -q "user rejected goal=bulk profile=[0-9a-f]* job_id=.* line=2 reason=\"Invalid email" b2.err &&
	test "$(members Bulk)" = "[\"dee@example.com\"]" &&
	curl -sf "$SIM_URL/_sim/state" | jq -e ".users[] | select(.keys.email == \"dee@example.com\") | .vars.tier == \"gold\""
'

test_expect_success 'bulk by extid: no lookups; an unknown extid in the report is no_user' '
	g0=$(curl -sf "$SIM_URL/_sim/state" | jq ".counters[\"GET user\"] // 0") &&
	sailsync-exporter -c x.json run bulk --goal byext --summary-json b3.sum >b3.out 2>b3.err &&
	cat b3.out &&
	jq -e ".status == \"ok\" and .goals[0].mode == \"bulk\" and .goals[0].exported == 1" b3.sum &&
	jq -e ".goals[0].reasons == {\"no_user\": 1}" b3.sum &&
	test "$(curl -sf "$SIM_URL/_sim/state" | jq ".counters[\"GET user\"] // 0")" = "$g0" &&
	test "$(members Ext)" = "[\"ann@example.com\"]"
'

gets() { curl -sf "$SIM_URL/_sim/state" | jq ".counters[\"GET user\"] // 0"; }

test_expect_success 'a bulk job counts the users it creates: the unknown ones are looked up first' '
	crm gold gold gold gold &&
	printf "{\"email\": \"new1@example.com\", \"tier\": \"gold\"}\n{\"email\": \"new2@example.com\", \"tier\": \"bulk\"}\n" >>crm.jsonl &&
	load &&
	test_expect_code 1 sailsync-exporter -c x.json run bulk --goal bulk --summary-json b4.sum \
		>b4.out 2>b4.err &&
	cat b4.out &&
	jq -e ".goals[0].mode == \"bulk\" and .goals[0].exported == 6 and .goals[0].reasons.rejected == 1" b4.sum &&
	jq -e ".goals[0].created == 2 and .goals[0].unverified == 0" b4.sum &&
	grep -q "^goal bulk: exported 6 (users created 2), " b4.out &&
	curl -sf "$SIM_URL/_sim/state" | jq -e "[.users[] | select(.keys.email == \"new1@example.com\" or .keys.email == \"new2@example.com\")] | length == 2" &&
	g0=$(gets) &&
	test_expect_code 1 sailsync-exporter -c x.json run bulk --goal bulk --summary-json b5.sum \
		>b5.out 2>b5.err &&
	jq -e ".goals[0].exported == 6 and .goals[0].created == 0 and .goals[0].unverified == 0" b5.sum &&
	test "$(gets)" = "$g0"
'

test_expect_success 'past bulk_lookups unknown users, none is looked up: they are counted as unverified' '
	jq "(.connections[2].goals[0].bulk_lookups) = 1" x.json >lk.json &&
	printf "{\"email\": \"new3@example.com\", \"tier\": \"gold\"}\n{\"email\": \"new4@example.com\", \"tier\": \"gold\"}\n" >>crm.jsonl &&
	load &&
	g0=$(gets) &&
	test_expect_code 1 sailsync-exporter -c lk.json run bulk --goal bulk --summary-json b6.sum \
		>b6.out 2>b6.err &&
	cat b6.out &&
	jq -e ".goals[0].exported == 8 and .goals[0].created == 0 and .goals[0].unverified == 2" b6.sum &&
	grep -q "^goal bulk: exported 8 (users created 0, unverified 2), " b6.out &&
	grep -q "bulk job without lookups goal=bulk unknown_users=2+ bulk_lookups=1" b6.err &&
	test "$(gets)" = "$g0"
'

test_done
