/* tests/unit/t_conf.c: configuration loading and its error messages (common/conf.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chan.h"
#include "conf.h"
#include "tap.h"

#define SECRET	"s3cr3t-VALUE"

/*
 * The base config is valid; each case below replaces one piece of text in
 * it and expects one exact error line.  Line and column are those of the
 * edited text below (1-based, the way an editor counts).
 */
static const char base[] =
"{\n"								/* 1 */
"  \"store\": {\"path\": \"var/store\", \"properties\": {\n"	/* 2 */
"    \"email\": {\"type\": \"text\", \"unique\": true},\n"	/* 3 */
"    \"first_name\": {\"type\": \"text\"},\n"			/* 4 */
"    \"opens\": {\"type\": \"number\"},\n"			/* 5 */
"    \"lists\": {\"type\": \"text\", \"multi\": true}},\n"	/* 6 */
"    \"merge\": [\"email\", \"sailthru_profile_id\"]},\n"	/* 7 */
"  \"pipeline\": {\"batch_rows\": 500, \"lanes\": [\"ipc://run/l0\", \"ipc://run/l1\"]},\n" /* 8 */
"  \"connections\": [{\"name\": \"demo\", \"api_key\": \"k\", \"secret\": \"" SECRET "\",\n" /* 9 */
"    \"timezone\": \"America/New_York\",\n"			/* 10 */
"    \"goals\": [{\"name\": \"members\", \"type\": \"import\", \"lists\": [\"L\"],\n" /* 11 */
"      \"list_property\": \"lists\",\n"				/* 12 */
"      \"link\": {\"column\": \"Email\", \"property\": \"email\"},\n" /* 13 */
"      \"mappings\": [\n"					/* 14 */
"        {\"column\": \"First Name\", \"property\": \"first_name\", \"rule\": \"set\"},\n" /* 15 */
"        {\"column\": \"Opens\", \"property\": \"opens\", \"rule\": \"sum\"}]},\n" /* 16 */
"      {\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n" /* 17 */
"       \"link\": {\"column\": \"email\", \"property\": \"email\"}}]}]\n" /* 18 */
"}\n";

struct ecase {
	const char	*what;
	const char	*from;		/* replaced (first occurrence) ... */
	const char	*to;		/* ... by this */
	const char	*want;		/* the whole error line */
};

static const struct ecase cases[] = {
	{ "unknown rule", "\"rule\": \"sum\"", "\"rule\": \"summ\"",
	  "sailsync.json:16:58: connections[0].goals[0].mappings[1].rule: unknown rule "
	  "\"summ\" (expected set, set_if_empty, add, sum)" },
	{ "located past strings with escapes and brackets",
	  "\"First Name\", \"property\": \"first_name\", \"rule\": \"set\"},\n"
	  "        {\"column\": \"Opens\", \"property\": \"opens\", \"rule\": \"sum\"}",
	  "\"Fi\\\"rst} ]\\\\Name\", \"property\": \"first_name\", \"rule\": \"set\"},\n"
	  "        {\"column\": \"Opens\", \"property\": \"opens\", \"rule\": \"summ\"}",
	  "sailsync.json:16:58: connections[0].goals[0].mappings[1].rule: unknown rule "
	  "\"summ\" (expected set, set_if_empty, add, sum)" },
	{ "columns count characters, not bytes",
	  "\"First Name\", \"property\": \"first_name\", \"rule\": \"set\"}",
	  "\"F\xc3\xafrst N\xc3\xa2me\", \"property\": \"first_name\", \"rule\": \"sum\"}",
	  "sailsync.json:15:68: connections[0].goals[0].mappings[0].rule: rule \"sum\" "
	  "needs a single-valued number or decimal property (\"first_name\" is text)" },
	{ "located through an escaped key", "\"opens\": {\"type\": \"number\"}",
	  "\"op\\u0065ns\": {\"type\": \"integer\"}",
	  "sailsync.json:5:28: store.properties.opens.type: unknown type \"integer\" "
	  "(expected text, number, decimal, datetime, boolean)" },
	{ "unknown key", "\"mappings\": [", "\"mapings\": [",
	  "sailsync.json:14:7: connections[0].goals[0].mapings: unknown key (expected "
	  "name, type, lists, create_profiles, list_property, link, mappings)" },
	{ "missing link", "\"link\": {\"column\": \"Email\", \"property\": \"email\"},", "",
	  "sailsync.json:11:15: connections[0].goals[0]: missing required key \"link\"" },
	{ "undeclared property", "\"property\": \"first_name\"", "\"property\": \"firstname\"",
	  "sailsync.json:15:46: connections[0].goals[0].mappings[0].property: unknown "
	  "property \"firstname\" (declare it in store.properties)" },
	{ "sum on text", "\"rule\": \"set\"}", "\"rule\": \"sum\"}",
	  "sailsync.json:15:68: connections[0].goals[0].mappings[0].rule: rule \"sum\" "
	  "needs a single-valued number or decimal property (\"first_name\" is text)" },
	{ "duplicate goal name", "{\"name\": \"crm\"", "{\"name\": \"members\"",
	  "sailsync.json:17:16: connections[0].goals[1].name: duplicate goal name "
	  "\"members\" (also goals[0])" },
	{ "bad timezone", "America/New_York", "America/New_Yrok",
	  "sailsync.json:10:17: connections[0].timezone: unknown time zone "
	  "\"America/New_Yrok\" (expected an IANA name such as America/New_York, or UTC)" },
	{ "secret_env unset", "\"secret\": \"" SECRET "\"",
	  "\"secret_env\": \"SAILSYNC_T_CONF_UNSET\"",
	  "sailsync.json:9:66: connections[0].secret_env: environment variable "
	  "SAILSYNC_T_CONF_UNSET is not set" },
	{ "missing secret", ", \"secret\": \"" SECRET "\"", "",
	  "sailsync.json:9:19: connections[0]: missing secret (set one of secret, "
	  "secret_file, secret_env)" },
	{ "two secrets", "\"secret\": \"" SECRET "\"",
	  "\"secret\": \"" SECRET "\", \"secret_env\": \"HOME\"",
	  "sailsync.json:9:78: connections[0].secret_env: set only one of secret, "
	  "secret_file, secret_env (secret is set too)" },
	{ "syntax error", "\"opens\": {\"type\": \"number\"},", "\"opens\": {\"type\": number},",
	  "sailsync.json:5:28: invalid token" },
	{ "syntax error inside the secret", SECRET "\"", SECRET "\\q\"",
	  "sailsync.json:9:76: invalid escape" },
	{ "duplicate key", "\"lists\": [\"L\"]", "\"lists\": [\"L\"], \"name\": \"x\"",
	  "sailsync.json:11:74: duplicate object key" },
	{ "list_property not multi", "\"list_property\": \"lists\"",
	  "\"list_property\": \"first_name\"",
	  "sailsync.json:12:24: connections[0].goals[0].list_property: \"first_name\" "
	  "must be a multi-valued text property to collect list names" },
	{ "merge non-unique", "\"merge\": [\"email\", \"sailthru_profile_id\"]",
	  "\"merge\": [\"email\", \"opens\"]",
	  "sailsync.json:7:24: store.merge[1]: \"opens\" is not a unique identifier "
	  "(only unique properties can merge profiles)" },
	{ "merge unknown", "\"merge\": [\"email\"", "\"merge\": [\"mail\"",
	  "sailsync.json:7:15: store.merge[0]: unknown property \"mail\"" },
	{ "txn_mb too small", "\"store\": {\"path\": \"var/store\",",
	  "\"store\": {\"path\": \"var/store\", \"txn_mb\": 8,",
	  "sailsync.json:2:44: store.txn_mb: must be between 16 and 512" },
	{ "txn_mb too large", "\"store\": {\"path\": \"var/store\",",
	  "\"store\": {\"path\": \"var/store\", \"txn_mb\": 4096,",
	  "sailsync.json:2:44: store.txn_mb: must be between 16 and 512" },
	{ "filter_mb zero", "\"store\": {\"path\": \"var/store\",",
	  "\"store\": {\"path\": \"var/store\", \"filter_mb\": 0,",
	  "sailsync.json:2:47: store.filter_mb: must be between 1 and 4096" },
	{ "batch_rows too large", "\"batch_rows\": 500", "\"batch_rows\": 50000",
	  "sailsync.json:8:30: pipeline.batch_rows: must be between 1 and 10000" },
	{ "no lanes", "[\"ipc://run/l0\", \"ipc://run/l1\"]", "[]",
	  "sailsync.json:8:44: pipeline.lanes: must be an array of 1 to 64 channels" },
	{ "same lane twice", "\"ipc://run/l1\"", "\"ipc://./run/l0\"",
	  "sailsync.json:8:61: pipeline.lanes[1]: \"ipc://./run/l0\" is also lanes[0]" },
	{ "bad channel", "\"ipc://run/l1\"", "\"udp://x\"",
	  "sailsync.json:8:61: pipeline.lanes[1]: unsupported channel \"udp://x\" "
	  "(expected ipc://PATH, tcp://HOST:PORT or file:PATH)" },
	{ "unique on multi", "\"multi\": true}", "\"multi\": true, \"unique\": true}",
	  "sailsync.json:6:56: store.properties.lists.unique: only a single-valued text "
	  "or number property can be a unique identifier" },
	{ "unknown type", "{\"type\": \"number\"}", "{\"type\": \"integer\"}",
	  "sailsync.json:5:23: store.properties.opens.type: unknown type \"integer\" "
	  "(expected text, number, decimal, datetime, boolean)" },
	{ "reserved property name", "\"opens\": {", "\"$opens\": {",
	  "sailsync.json:5:5: store.properties.$opens: names starting with '$' are "
	  "reserved for built-in properties" },
	{ "base_url not http", "\"timezone\"", "\"base_url\": \"ftp://x\", \"timezone\"",
	  "sailsync.json:10:17: connections[0].base_url: \"ftp://x\" is not an http:// "
	  "or https:// URL" },
	{ "import goal without lists", "\"lists\": [\"L\"]", "\"lists\": []",
	  "sailsync.json:11:62: connections[0].goals[0].lists: must name at least one list" },
	{ "file goal format unknown", "in/customers.csv", "in/customers.txt",
	  "sailsync.json:17:47: connections[0].goals[1].path: cannot tell the format of "
	  "\"in/customers.txt\" from its name; set \"format\" (csv or jsonl)" },
	{ "link property not unique", "\"property\": \"email\"},\n",
	  "\"property\": \"first_name\"},\n",
	  "sailsync.json:13:47: connections[0].goals[0].link.property: \"first_name\" is "
	  "not a unique identifier (set \"unique\": true on it to link by it)" },
	{ "add on single-valued", "\"rule\": \"set\"}", "\"rule\": \"add\"}",
	  "sailsync.json:15:68: connections[0].goals[0].mappings[0].rule: rule \"add\" "
	  "needs a multi-valued property (\"first_name\" is single-valued)" },
	{ "wrong type", "\"batch_rows\": 500", "\"batch_rows\": \"500\"",
	  "sailsync.json:8:30: pipeline.batch_rows: must be an integer" },
	{ "unknown top-level key", "\"pipeline\":", "\"pipelines\":",
	  "sailsync.json:8:3: pipelines: unknown key (expected store, pipeline, smtp, status, connections)" },
	{ "bad connection name", "\"name\": \"demo\"", "\"name\": \"my demo\"",
	  "sailsync.json:9:28: connections[0].name: \"my demo\" is not a valid name "
	  "(letters, digits, '_', '-', '.'; at most 64)" },
	{ "bad schedule", "\"timezone\"", "\"schedule\": \"weekly mon,funday at 08:00\", \"timezone\"",
	  "sailsync.json:10:17: connections[0].schedule: unknown day \"funday\" (expected mon "
	  "tue wed thu fri sat sun)" },
	{ "export: missing segment", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"lists\": [\"VIP\"],\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:7: connections[0].goals[1]: missing required key \"segment\"" },
	{ "export: unknown Sailthru key", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\",\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"mail\"}}",
	  "sailsync.json:18:45: connections[0].goals[1].link.key: unknown Sailthru key \"mail\" (expected email, sid, extid)" },
	{ "export: link not unique", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\",\n"
	  "       \"link\": {\"property\": \"first_name\", \"key\": \"email\"}}",
	  "sailsync.json:18:29: connections[0].goals[1].link.property: \"first_name\" is not a unique identifier (set \"unique\": true on it to link by it)" },
	{ "export: create users by sid", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"create_users\": true,\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"sid\"}}",
	  "sailsync.json:17:75: connections[0].goals[1].create_users: Sailthru creates users by email only; link on \"key\": \"email\" to create users" },
	{ "export: unknown source", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"mappings\": [{\"var\": \"x\", \"source\": \"prop\"}],\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:95: connections[0].goals[1].mappings[0].source: unknown source \"prop\" (expected id, segments, lifecycles, property, interactions, permission, text)" },
	{ "export: source argument on the wrong source", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"mappings\": [{\"var\": \"x\", \"source\": \"id\", \"text\": \"t\"}],\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:101: connections[0].goals[1].mappings[0].text: only for source \"text\"" },
	{ "export: bad var name", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"mappings\": [{\"var\": \"first name\", \"source\": \"id\"}],\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:80: connections[0].goals[1].mappings[0].var: \"first name\" is not a Sailthru var name (letters, digits, '_'; at most 64)" },
	{ "export: duplicate var", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"mappings\": [{\"var\": \"a\", \"source\": \"id\"}, {\"var\": \"a\", \"source\": \"permission\"}],\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:110: connections[0].goals[1].mappings[1].var: var \"a\" is also mappings[0]" },
	{ "export: remove without lists", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"remove_when_left\": true,\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:79: connections[0].goals[1].remove_when_left: needs \"lists\" to remove users from" },
	{ "export: cap of zero", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"caps\": {\"week\": 0},\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:76: connections[0].goals[1].caps.week: must be between 1 and 1000000" },
	{ "export: unknown touchpoint", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"touchpoint\": {\"event\": \"email_read\"},\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:83: connections[0].goals[1].touchpoint.event: unknown event \"email_read\" (expected export, email_opened, email_clicked)" },
	{ "export: opened needs a datetime property", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"touchpoint\": {\"event\": \"email_opened\", \"property\": \"opens\"},\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:111: connections[0].goals[1].touchpoint.property: \"opens\" must be a single-valued datetime property (the time of the last open, e.g. mapped from \"Last Open\")" },
	{ "export: stage without stages", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"stage\": {\"lifecycle\": \"customer\"},\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:68: connections[0].goals[1].stage: missing required key \"stages\"" },
	{ "export: removal guard over 1", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"removal_guard\": 1.5,\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:76: connections[0].goals[1].removal_guard: must be a share between 0 and 1" },
	{ "export: bulk lookups below 0", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"bulk_lookups\": -1,\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:75: connections[0].goals[1].bulk_lookups: must be between 0 and 100000000" },
	{ "export: unknown key", "{\"name\": \"crm\", \"type\": \"file\", \"path\": \"in/customers.csv\",\n"
	  "       \"link\": {\"column\": \"email\", \"property\": \"email\"}}",
	  "{\"name\": \"out\", \"type\": \"export\", \"segment\": \"vip\", \"create_profiles\": true,\n"
	  "       \"link\": {\"property\": \"email\", \"key\": \"email\"}}",
	  "sailsync.json:17:59: connections[0].goals[1].create_profiles: unknown key (expected name, type, segment, link, create_users, lists, remove_when_left, mappings, stage, caps, touchpoint, removal_guard, bulk_min, bulk_lookups)" },
	{ "export channel alone", "\"batch_rows\": 500", "\"batch_rows\": 500, \"export\": \"ipc://run/x\"",
	  "sailsync.json:8:35: pipeline.export: set both export and export_results, or neither" },
	{ "export channel equal to users", "\"batch_rows\": 500",
	  "\"batch_rows\": 500, \"export\": \"ipc://run/x\", \"export_results\": \"ipc://run/x\"",
	  "sailsync.json:8:45: pipeline.export: export and export_results must differ from each other and from users and acks" },
	{ "segment: contains on single-valued", "\"merge\": [\"email\"",
	  "\"segments\": {\"s\": {\"all\": [{\"property\": \"first_name\", \"contains\": \"x\"}]}}, \"merge\": [\"email\"",
	  "sailsync.json:7:59: store.segments.s.all[0].contains: \"contains\" needs a multi-valued property (\"first_name\" is single-valued; use equals)" },
	{ "segment: equals on multi-valued", "\"merge\": [\"email\"",
	  "\"segments\": {\"s\": {\"any\": [{\"property\": \"lists\", \"equals\": \"x\"}]}}, \"merge\": [\"email\"",
	  "sailsync.json:7:54: store.segments.s.any[0].equals: \"equals\" needs a single-valued property (lists is multi-valued; use contains)" },
	{ "segment: two tests", "\"merge\": [\"email\"",
	  "\"segments\": {\"s\": {\"all\": [{\"property\": \"opens\", \"exists\": true, \"equals\": 3}]}}, \"merge\": [\"email\"",
	  "sailsync.json:7:54: store.segments.s.all[0].exists: one test per condition (equals is set too)" },
	{ "segment: value of the wrong type", "\"merge\": [\"email\"",
	  "\"segments\": {\"s\": {\"all\": [{\"property\": \"opens\", \"one_of\": [1, \"2\"]}]}}, \"merge\": [\"email\"",
	  "sailsync.json:7:68: store.segments.s.all[0].one_of[1]: must be an integer (opens is a number)" },
	{ "segment: within_days on a number", "\"merge\": [\"email\"",
	  "\"segments\": {\"s\": {\"all\": [{\"property\": \"opens\", \"within_days\": 3}]}}, \"merge\": [\"email\"",
	  "sailsync.json:7:54: store.segments.s.all[0].within_days: \"within_days\" needs a datetime property (opens is number)" },
	{ "segment: all and any", "\"merge\": [\"email\"",
	  "\"segments\": {\"s\": {\"all\": [{\"property\": \"opens\", \"exists\": true}], \"any\": []}}, \"merge\": [\"email\"",
	  "sailsync.json:7:72: store.segments.s.any: set one of all, any" },
	{ "segment: no test", "\"merge\": [\"email\"",
	  "\"segments\": {\"s\": {\"all\": [{\"property\": \"opens\"}]}}, \"merge\": [\"email\"",
	  "sailsync.json:7:32: store.segments.s.all[0]: missing a test (one of equals, one_of, exists, missing, min/max, within_days, contains)" },
	{ "segment: bad name", "\"merge\": [\"email\"",
	  "\"segments\": {\"a b\": {\"all\": [{\"property\": \"opens\", \"exists\": true}]}}, \"merge\": [\"email\"",
	  "sailsync.json:7:18: store.segments[\"a b\"]: \"a b\" is not a valid segment name (letters, digits, '_', '-', '.'; at most 64)" },
	{ "segment: range on text", "\"merge\": [\"email\"",
	  "\"segments\": {\"s\": {\"all\": [{\"property\": \"first_name\", \"min\": \"a\"}]}}, \"merge\": [\"email\"",
	  "sailsync.json:7:59: store.segments.s.all[0].min: min and max need a number, decimal or datetime property (first_name is text)" },
	{ "bad notify", "\"timezone\"", "\"notify\": [\"ops@x\", \"ops\"], \"timezone\"",
	  "sailsync.json:10:25: connections[0].notify[1]: \"ops\" is not an email address" },
	{ "smtp url", "\"connections\":", "\"smtp\": {\"url\": \"http://mx\", "
	  "\"from\": \"a@b\"}, \"connections\":",
	  "sailsync.json:9:19: smtp.url: \"http://mx\" is not an smtp:// or smtps:// URL" },
	{ "webhook url", "\"timezone\"", "\"webhook\": \"ftp://h\", \"timezone\"",
	  "sailsync.json:10:16: connections[0].webhook: \"ftp://h\" is not an http:// or "
	  "https:// URL" },
	{ "status token twice", "\"connections\":", "\"status\": {\"token_env\": \"A\", "
	  "\"token_file\": \"t\"}, \"connections\":",
	  "sailsync.json:9:14: status.token_env: set only one of token_file, token_env" },
	{ "status without token", "\"connections\":", "\"status\": {}, \"connections\":",
	  "sailsync.json:9:13: status: missing token (set token_file or token_env)" },
	{ "status token env unset", "\"connections\":", "\"status\": {\"token_env\": "
	  "\"SAILSYNC_T_CONF_UNSET\"}, \"connections\":",
	  "sailsync.json:9:27: status.token_env: environment variable SAILSYNC_T_CONF_UNSET "
	  "is not set" },
	{ "sailthru_profile_id redeclared", "\"opens\": {\"type\": \"number\"},",
	  "\"opens\": {\"type\": \"number\"}, \"sailthru_profile_id\": {\"type\": \"text\"},",
	  "sailsync.json:5:34: store.properties.sailthru_profile_id: sailthru_profile_id "
	  "holds the Sailthru ID: it must be {\"type\": \"text\", \"unique\": true}" },
};

static char *
replace(const char *s, const char *from, const char *to)
{
	const char	*at = strstr(s, from);
	size_t		 n;
	char		*out;

	if (at == NULL) {
		printf("# Bail out! \"%s\" is not in the base config\n", from);
		exit(1);
	}
	n = strlen(s) - strlen(from) + strlen(to) + 1;
	out = malloc(n);
	snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
	return out;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	*f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) == EOF) {
		printf("# Bail out! cannot write %s\n", path);
		exit(1);
	}
	chmod(path, mode);
}

/* Loads text as ./sailsync.json; returns conf_load's result. */
static int
load_text(const char *text, struct conf *c, char *err, size_t errlen)
{
	write_file("sailsync.json", text, 0644);
	err[0] = '\0';
	return conf_load("sailsync.json", c, err, errlen);
}

/*
 * The digests of base with from replaced by to, into d[CONF_NDIGESTS]
 * (connection "demo"); 0, or -1 when it does not load.
 */
static int
digests_of(const char *from, const char *to, char d[][DIGEST_HEX + 1], char *err,
    size_t errlen)
{
	struct conf	 c;
	char		*text = from ? replace(base, from, to) : strdup(base);
	int		 rc = load_text(text, &c, err, errlen);

	free(text);
	if (rc == -1)
		return -1;
	for (int w = 0; w < CONF_NDIGESTS; w++)
		snprintf(d[w], DIGEST_HEX + 1, "%s", conf_digest(&c, w, "demo", 4));
	conf_clear(&c);
	return 0;
}

/* Which edit changes which stage's digest: 1 when it changed. */
static void
digest_case(const char *what, const char *from, const char *to, int mapper, int writer,
    int exporter, char *err, size_t errlen)
{
	char	 a[CONF_NDIGESTS][DIGEST_HEX + 1], b[CONF_NDIGESTS][DIGEST_HEX + 1];
	int	 want[CONF_NDIGESTS] = { mapper, writer, exporter };

	if (digests_of(NULL, NULL, a, err, errlen) == -1 ||
	    digests_of(from, to, b, err, errlen) == -1) {
		ok(0, "digests: %s: loads (%s)", what, err);
		return;
	}
	for (int w = 0; w < CONF_NDIGESTS; w++)
		is_int(strcmp(a[w], b[w]) != 0, want[w], "digests: %s: %s's %s", what,
		    conf_digest_name(w), want[w] ? "changes" : "stays");
}

static void
digest_tests(char *err, size_t errlen)
{
	struct conf	 c, r;
	char		 have[64], d[CONF_NDIGESTS][DIGEST_HEX + 1];
	const char	*mw;
	int		 rc;

	is_int(digests_of(NULL, NULL, d, err, errlen), 0, "digests: base loads");
	ok(strlen(d[0]) == DIGEST_HEX && digest_valid(d[0], strlen(d[0])),
	    "digests: 16 hex digits");
	ok(strcmp(d[0], d[1]) != 0 && strcmp(d[1], d[2]) != 0, "digests: one per stage");
	digest_case("a mapping added", "{\"column\": \"Opens\"",
	    "{\"column\": \"Tier\", \"property\": \"lists\", \"rule\": \"add\"}, "
	    "{\"column\": \"Opens\"", 1, 0, 0, err, errlen);
	digest_case("a property added", "\"opens\": {\"type\": \"number\"},",
	    "\"opens\": {\"type\": \"number\"}, \"city\": {\"type\": \"text\"},",
	    1, 1, 1, err, errlen);
	digest_case("merge rules", "\"merge\": [\"email\", \"sailthru_profile_id\"]",
	    "\"merge\": [\"email\"]", 0, 1, 1, err, errlen);
	digest_case("the time zone", "America/New_York", "Europe/Paris", 1, 0, 1, err,
	    errlen);
	digest_case("consent objectives", "\"timezone\"",
	    "\"consent_objectives\": [\"news\"], \"timezone\"", 0, 1, 1, err, errlen);
	digest_case("a notification webhook", "\"timezone\"",
	    "\"webhook\": \"https://hooks.example.com/x\", \"timezone\"", 0, 0, 0,
	    err, errlen);
	digest_case("a schedule", "\"timezone\"", "\"schedule\": \"daily at 02:00\", "
	    "\"timezone\"", 0, 0, 0, err, errlen);
	digest_case("the commit policy", "\"batch_rows\": 500",
	    "\"batch_rows\": 100", 0, 0, 0, err, errlen);
	digest_case("a list added to an import goal", "[\"L\"]", "[\"L\", \"M\"]",
	    0, 0, 0, err, errlen);
	digest_case("the secret", SECRET, "another-secret", 0, 0, 1, err, errlen);
	digest_case("white space and key order", "\"name\": \"demo\", \"api_key\": \"k\"",
	    "\"api_key\":\"k\",   \"name\": \"demo\"", 0, 0, 0, err, errlen);

	/* conf_digest_reload: the file has the wanted digest, another, or does not load. */
	is_int(load_text(base, &c, err, errlen), 0, "reload: base loads");
	mw = conf_digest(&c, CONF_DIGEST_MAPPER, "demo", 4);
	is_str(conf_digest(&c, CONF_DIGEST_MAPPER, "nope", 4), CONF_DIGEST_NONE,
	    "an unknown connection has no digest");
	rc = conf_digest_reload("sailsync.json", CONF_DIGEST_MAPPER, "demo", 4, mw,
	    strlen(mw), &r, have, sizeof(have), err, errlen);
	is_int(rc, 0, "reload: the file has the wanted digest");
	if (rc == 0)
		conf_clear(&r);
	rc = conf_digest_reload("sailsync.json", CONF_DIGEST_MAPPER, "demo", 4,
	    "0123456789abcdef", 16, &r, have, sizeof(have), err, errlen);
	is_int(rc, 1, "reload: the file has another digest");
	is_str(have, mw, "reload: the file's digest is told");
	write_file("sailsync.json", "{\"store\": ", 0644);
	rc = conf_digest_reload("sailsync.json", CONF_DIGEST_MAPPER, "demo", 4, mw,
	    strlen(mw), &r, have, sizeof(have), err, errlen);
	is_int(rc, -1, "reload: a file that does not load");
	ok(strstr(err, "sailsync.json:1:") != NULL, "reload: the loader's error (%s)", err);
	conf_clear(&c);
}

int
main(void)
{
	char		 tmpl[] = "/tmp/t_conf.XXXXXX", *dir, err[1024], path[PATH_MAX];
	char		 example[PATH_MAX], want[PATH_MAX + 64], *text;
	const char	*top = getenv("SAILSYNC_TOP");
	const struct conf_prop *p;
	struct conf	 c;
	size_t		 i;
	int		 leaked = 0;

	/* The shipped example, before leaving the source tree. */
	snprintf(path, sizeof(path), "%s/deploy/sailsync.json", top ? top : ".");
	if (realpath(path, example) == NULL) {
		printf("# Bail out! cannot find %s\n", path);
		return 1;
	}
	setenv("SAILTHRU_SECRET", "example-secret", 1);
	setenv("SAILSYNC_STATUS_TOKEN", "example-status-token", 1);
	unsetenv("SAILSYNC_T_CONF_UNSET");
	is_int(conf_load(example, &c, err, sizeof(err)), 0, "deploy/sailsync.json loads");
	if (err[0] != '\0' && c.file == NULL)
		printf("# %s\n", err);
	is_int(c.nconns, 1, "example: one connection");
	is_int(c.store.lanes, 2, "example: two lanes");
	if (c.nconns == 1) {
		is_int(c.conns[0].ngoals, 3, "example: three goals");
		is_str(c.conns[0].secret, "example-secret", "example: secret from secret_env");
		is_int(c.conns[0].goals[1].format, FMT_JSONL, "example: jsonl goal");
		is_int(c.conns[0].goals[2].kind, GOAL_EXPORT, "example: export goal");
		is_int(c.conns[0].goals[2].link_key, KEY_EMAIL, "example: export key");
		is_int(c.conns[0].goals[2].nemaps, 11, "example: export mappings");
		is_int(c.conns[0].goals[2].cap_month, 6, "example: monthly cap");
		is_int(c.conns[0].goals[2].touch, TOUCH_OPENED, "example: touchpoint");
		is_int(c.conns[0].goals[2].emaps[6].nsegments, 1, "example: chosen segments");
		is_int(c.store.nsegments, 3, "example: segments");
		if (c.store.nsegments == 3) {
			is_int(c.store.segments[1].any, 1, "example: any");
			is_int(c.store.segments[1].conds[0].op, COND_WITHIN_DAYS, "example: within_days");
			is_int(c.store.segments[1].conds[0].days, 30, "example: days");
			is_int(c.store.segments[2].conds[0].has_max, 1, "example: max");
			is_int(c.store.segments[2].conds[0].max.u.i, 1767225600000LL, "example: max date");
		}
	}
	conf_clear(&c);

	if ((dir = mkdtemp(tmpl)) == NULL || chdir(dir) == -1) {
		printf("# Bail out! cannot make a scratch directory\n");
		return 1;
	}

	/* The base config loads, with built-ins, defaults and resolved paths. */
	is_int(load_text(base, &c, err, sizeof(err)), 0, "base config loads");
	if (err[0] != '\0')
		printf("# %s\n", err);
	is_str(c.file, "sailsync.json", "file name kept");
	snprintf(want, sizeof(want), "%s/var/store", dir);
	is_str(c.store.path, want, "store.path resolved against the config directory");
	snprintf(want, sizeof(want), "ipc://%s/run/l1", dir);
	is_str(c.pipe.lanes[1], want, "ipc lane resolved");
	snprintf(want, sizeof(want), "ipc://%s/var/run/users", dir);
	is_str(c.pipe.users, want, "default users channel");
	snprintf(want, sizeof(want), "ipc://%s/var/run/acks", dir);
	is_str(c.pipe.acks, want, "default acks channel");
	snprintf(want, sizeof(want), "%s/var/fetcher", dir);
	is_str(c.pipe.state_dir, want, "default state_dir");
	is_int(c.store.lanes, 2, "store.lanes from pipeline.lanes");
	is_int(c.pipe.batch_rows, 500, "batch_rows");
	is_int(c.pipe.window, 64, "default window");
	is_int(c.pipe.resend_ms, 5000, "default resend_ms");
	is_int(c.store.map_size, 1024ULL << 20, "default map size");
	is_int(c.store.commit_rows, 100000, "default commit_rows");
	is_int(c.store.commit_ms, 300, "default commit_ms");
	is_int(c.store.txn_mb, CONF_TXN_MB, "default txn_mb");
	is_int(c.store.filter_mb, CONF_FILTER_MB, "default filter_mb");
	is_int(c.store.durable, 1, "default durable");
	is_int(c.store.nmerge, 2, "merge entries");
	is_int(c.store.nprops, 4 + 6, "declared + built-in properties");
	for (i = 1; i < c.store.nprops; i++)
		if (strcmp(c.store.props[i - 1].name, c.store.props[i].name) >= 0)
			break;
	ok(i == c.store.nprops, "properties sorted by name");
	p = conf_prop_find(&c.store, "sailthru_profile_id", 19);
	ok(p != NULL && p->type == VAL_TEXT && p->unique && !p->multi,
	    "sailthru_profile_id built in: unique text");
	ok((p = conf_prop_find(&c.store, "$segments", 9)) != NULL && p->multi &&
	    p->type == VAL_TEXT, "$segments built in: multi text");
	ok((p = conf_prop_find(&c.store, "$consents", 9)) != NULL && p->multi, "$consents");
	ok((p = conf_prop_find(&c.store, "$refused", 8)) != NULL && p->multi, "$refused");
	ok((p = conf_prop_find(&c.store, "$interactions", 13)) != NULL && p->multi,
	    "$interactions");
	ok((p = conf_prop_find(&c.store, "$permission", 11)) != NULL && !p->multi,
	    "$permission single-valued");
	ok((p = conf_prop_find(&c.store, "opens,first_name", 5)) != NULL &&
	    strcmp(p->name, "opens") == 0 && p->type == VAL_NUMBER,
	    "prop lookup by length, not NUL");
	ok(conf_prop_find(&c.store, "email", 4) == NULL, "prefix is not a match");
	ok(conf_prop_find(&c.store, "emails", 6) == NULL, "longer name is not a match");
	ok(conf_prop_find(&c.store, "aaa", 3) == NULL && conf_prop_find(&c.store, "zzz", 3)
	    == NULL, "names before the first and after the last");
	ok(conf_conn_find(&c, "demox", 4) == &c.conns[0], "connection by name and length");
	ok(conf_conn_find(&c, "dem", 3) == NULL, "no connection for a prefix");
	if (c.nconns == 1) {
		const struct conf_conn *cn = &c.conns[0];
		const struct conf_goal *g;

		is_str(cn->secret, SECRET, "literal secret");
		is_str(cn->timezone, "America/New_York", "timezone");
		is_str(cn->base_url, "https://api.sailthru.com", "default base_url");
		is_int(cn->enabled, 1, "enabled by default");
		is_int(cn->poll_cap_s, 7200, "default poll_cap_s");
		ok(cn->ca_file == NULL && cn->schedule == NULL && cn->nnotify == 0 &&
		    cn->nobjectives == 0, "optional fields empty");
		ok((g = conf_goal_find(cn, "crm!", 3)) == &cn->goals[1], "goal by name");
		ok(conf_goal_find(cn, "member", 6) == NULL, "no goal for a prefix");
		g = &cn->goals[0];
		is_int(g->kind, GOAL_IMPORT, "import goal");
		is_int(g->nlists, 1, "one list");
		is_str(g->list_property, "lists", "list_property");
		is_str(g->link_column, "Email", "link column");
		is_str(g->link_property, "email", "link property");
		is_int(g->create, 0, "create_profiles off by default");
		is_int(g->nmaps, 2, "two mappings");
		is_int(g->maps[1].rule, RULE_SUM, "sum rule");
		is_str(g->maps[0].column, "First Name", "mapping column");
		g = &cn->goals[1];
		is_int(g->kind, GOAL_FILE, "file goal");
		is_int(g->format, FMT_CSV, "csv by extension");
		snprintf(want, sizeof(want), "%s/in/customers.csv", dir);
		is_str(g->path, want, "goal path resolved");
	}
	conf_clear(&c);

	/* Each mistake gives exactly one line, and never the secret. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = replace(base, cases[i].from, cases[i].to);
		is_int(load_text(text, &c, err, sizeof(err)), -1, "%s: rejected",
		    cases[i].what);
		is_str(err, cases[i].want, "%s: message", cases[i].what);
		ok(c.file == NULL && c.conns == NULL && c.store.props == NULL,
		    "%s: nothing left to free", cases[i].what);
		if (strstr(err, "s3cr3t") != NULL)
			leaked++;
		free(text);
	}
	is_int(leaked, 0, "no error message shows the secret");

	/* The secret from a file: mode and ownership are checked. */
	write_file("secret.txt", "  from-a-file\n", 0644);
	text = replace(base, "\"secret\": \"" SECRET "\"", "\"secret_file\": \"secret.txt\"");
	is_int(load_text(text, &c, err, sizeof(err)), -1, "secret_file 0644 rejected");
	snprintf(want, sizeof(want), "sailsync.json:9:67: connections[0].secret_file: "
	    "\"%s/secret.txt\": mode 0644 is too open (must be 0600)", dir);
	is_str(err, want, "secret_file too open: message");
	chmod("secret.txt", 0640);
	is_int(load_text(text, &c, err, sizeof(err)), -1, "secret_file 0640 rejected");
	ok(strstr(err, "mode 0640 is too open") != NULL, "0640 is too open too");
	ok(strstr(err, "from-a-file") == NULL, "file contents not shown");
	chmod("secret.txt", 0600);
	is_int(load_text(text, &c, err, sizeof(err)), 0, "secret_file 0600 accepted");
	if (c.nconns == 1)
		is_str(c.conns[0].secret, "from-a-file", "secret read and trimmed");
	conf_clear(&c);
	chmod("secret.txt", 0400);
	is_int(load_text(text, &c, err, sizeof(err)), 0, "secret_file 0400 accepted");
	conf_clear(&c);
	unlink("secret.txt");
	is_int(load_text(text, &c, err, sizeof(err)), -1, "missing secret_file rejected");
	snprintf(want, sizeof(want), "sailsync.json:9:67: connections[0].secret_file: "
	    "cannot open \"%s/secret.txt\": No such file or directory", dir);
	is_str(err, want, "missing secret_file: message");
	free(text);

	/* The secret from the environment. */
	text = replace(base, "\"secret\": \"" SECRET "\"", "\"secret_env\": \"SAILSYNC_T_SECRET\"");
	setenv("SAILSYNC_T_SECRET", "from-env", 1);
	is_int(load_text(text, &c, err, sizeof(err)), 0, "secret_env accepted");
	if (c.nconns == 1)
		is_str(c.conns[0].secret, "from-env", "secret from the environment");
	conf_clear(&c);
	free(text);

	/* pipeline.curve: a public key, and its secret key in a 0600 file. */
	{
		char	 pub[41], sec[41], pub2[41], sec2[41], cv[256];

		ok(chan_curve_keypair(pub, sec, err, sizeof(err)) == 0 &&
		    chan_curve_keypair(pub2, sec2, err, sizeof(err)) == 0, "curve keypairs");
		snprintf(cv, sizeof(cv), "\"pipeline\": {\"curve\": {\"public_key\": "
		    "\"%s\", \"secret_key_file\": \"curve.key\"},", pub);
		text = replace(base, "\"pipeline\": {", cv);
		snprintf(want, sizeof(want), "%s\n", sec);
		write_file("curve.key", want, 0600);
		is_int(load_text(text, &c, err, sizeof(err)), 0, "pipeline.curve accepted");
		if (err[0] != '\0')
			printf("# %s\n", err);
		is_str(c.pipe.curve_public, pub, "curve public key kept");
		is_str(c.pipe.curve_secret, sec, "curve secret key read from the file");
		conf_clear(&c);

		chmod("curve.key", 0644);
		is_int(load_text(text, &c, err, sizeof(err)), -1, "curve key file 0644 rejected");
		snprintf(want, sizeof(want), "pipeline.curve.secret_key_file: "
		    "\"%s/curve.key\": mode 0644 is too open (must be 0600)", dir);
		ok(strncmp(err, "sailsync.json:8:", 16) == 0 && strstr(err, want) != NULL,
		    "curve key file too open: message: %s", err);

		snprintf(want, sizeof(want), "%s\n", sec2);
		write_file("curve.key", want, 0600);
		is_int(load_text(text, &c, err, sizeof(err)), -1,
		    "a secret key of another keypair rejected");
		ok(strstr(err, "pipeline.curve.secret_key_file: the secret key is not "
		    "the one of public key") != NULL && strstr(err, sec2) == NULL,
		    "... without showing it: %s", err);

		write_file("curve.key", "not-a-z85-key\n", 0600);
		is_int(load_text(text, &c, err, sizeof(err)), -1, "a secret key not Z85 rejected");
		ok(strstr(err, "pipeline.curve.secret_key_file: the secret key is not 40 "
		    "characters of Z85") != NULL && strstr(err, "not-a-z85") == NULL,
		    "... without showing it: %s", err);
		free(text);

		write_file("curve.key", want, 0600);
		text = replace(base, "\"pipeline\": {", "\"pipeline\": {\"curve\": "
		    "{\"public_key\": \"short\", \"secret_key_file\": \"curve.key\"},");
		is_int(load_text(text, &c, err, sizeof(err)), -1, "a short public key rejected");
		ok(strstr(err, "pipeline.curve.public_key: the public key is not 40 "
		    "characters of Z85") != NULL, "... saying so: %s", err);
		free(text);

		text = replace(base, "\"pipeline\": {", "\"pipeline\": {\"curve\": "
		    "{\"secret_key_file\": \"curve.key\"},");
		is_int(load_text(text, &c, err, sizeof(err)), -1, "curve without public_key rejected");
		ok(strstr(err, "pipeline.curve: missing required key \"public_key\"") != NULL,
		    "... saying so: %s", err);
		free(text);
		unlink("curve.key");

		is_int(load_text(base, &c, err, sizeof(err)), 0, "no curve: loads");
		ok(c.pipe.curve_public == NULL && c.pipe.curve_secret == NULL,
		    "no curve: both keys NULL");
		conf_clear(&c);
	}

	/* A connection that is switched off, or has no goals, is still valid config. */
	text = replace(base, "\"timezone\": \"America/New_York\",",
	    "\"timezone\": \"UTC\", \"enabled\": false, \"goals\": []},\n"
	    "{\"name\": \"idle\", \"api_key\": \"k2\", \"secret\": \"x\",");
	is_int(load_text(text, &c, err, sizeof(err)), 0, "disabled and goal-less connections load");
	if (err[0] != '\0')
		printf("# %s\n", err);
	if (c.nconns == 2) {
		is_int(c.conns[0].enabled, 0, "enabled=false kept");
		is_int(c.conns[0].ngoals, 0, "no goals");
		is_str(c.conns[1].timezone, "UTC", "default timezone UTC");
		is_int(c.conns[1].ngoals, 2, "second connection keeps the goals");
	}
	conf_clear(&c);
	free(text);

	/* Loaded from elsewhere, relative paths still mean the config's directory. */
	ok(chdir("/") == 0, "cd /");
	snprintf(path, sizeof(path), "%s/sailsync.json", dir);
	write_file(path, base, 0644);
	is_int(conf_load(path, &c, err, sizeof(err)), 0, "load by absolute path from /");
	snprintf(want, sizeof(want), "%s/var/store", dir);
	is_str(c.store.path, want, "same store.path from another cwd");
	conf_clear(&c);

	/* Errors that are not about the JSON. */
	snprintf(path, sizeof(path), "%s/nonexistent.json", dir);
	is_int(conf_load(path, &c, err, sizeof(err)), -1, "missing file");
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	is_str(err, want, "missing file: message");
	snprintf(path, sizeof(path), "%s/empty.json", dir);
	write_file(path, "", 0644);
	is_int(conf_load(path, &c, err, sizeof(err)), -1, "empty file");
	snprintf(want, sizeof(want), "%s:1:0: '[' or '{' expected near end of file", path);
	is_str(err, want, "empty file: message");
	write_file(path, "[1, 2]", 0644);
	is_int(conf_load(path, &c, err, sizeof(err)), -1, "not an object");
	snprintf(want, sizeof(want), "%s:1:1: (top level): must be an object", path);
	is_str(err, want, "not an object: message");
	write_file(path, "{}", 0644);
	is_int(conf_load(path, &c, err, sizeof(err)), 0, "an empty object is a valid config");
	is_int(c.store.lanes, 1, "one lane by default");
	ok(conf_prop_find(&c.store, "sailthru_profile_id", 19) != NULL, "built-ins by default");
	conf_clear(&c);
	unlink(path);

	digest_tests(err, sizeof(err));

	snprintf(path, sizeof(path), "%s/sailsync.json", dir);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
