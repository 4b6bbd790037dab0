/*
 * tests/unit/t_export.c: segment and lifecycle membership (common/segment.c),
 * typed Sailthru vars (exporter/exporter_vars.c) and the zone-aware calendar
 * the touchpoint caps use (common/timefmt.c), DST edges included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "exporter.h"
#include "profile.h"
#include "segment.h"
#include "tap.h"
#include "timefmt.h"

static const char config[] =
"{\"store\": {\"properties\": {\n"
"  \"email\": {\"type\": \"text\", \"unique\": true},\n"
"  \"tier\": {\"type\": \"text\"}, \"ltv\": {\"type\": \"decimal\"},\n"
"  \"score\": {\"type\": \"number\"}, \"tags\": {\"type\": \"text\", \"multi\": true},\n"
"  \"last_open\": {\"type\": \"datetime\"}, \"signup_time\": {\"type\": \"datetime\"},\n"
"  \"birth_date\": {\"type\": \"datetime\"}, \"vip\": {\"type\": \"boolean\"},\n"
"  \"days\": {\"type\": \"datetime\", \"multi\": true}, \"n\": {\"type\": \"number\", \"multi\": true}},\n"
" \"segments\": {\n"
"  \"gold\": {\"all\": [{\"property\": \"tier\", \"equals\": \"gold\"}, {\"property\": \"ltv\", \"min\": 10, \"max\": 100}]},\n"
"  \"either\": {\"any\": [{\"property\": \"tier\", \"one_of\": [\"silver\", \"bronze\"]}, {\"property\": \"tags\", \"contains\": \"beta\"}]},\n"
"  \"recent\": {\"all\": [{\"property\": \"last_open\", \"within_days\": 7}]},\n"
"  \"noscore\": {\"all\": [{\"property\": \"score\", \"missing\": true}, {\"property\": \"email\", \"exists\": true}]},\n"
"  \"since\": {\"all\": [{\"property\": \"last_open\", \"min\": \"2021-01-01\"}, {\"property\": \"vip\", \"equals\": true}]}}}}\n";

static struct arena	 ar;

static void
set(struct profile *p, const char *name, enum val_type t, int multi, const struct val *v,
    uint32_t n)
{
	if (profile_rule_apply(p, &ar, RULE_SET, name, strlen(name), t, multi, v, n) != 0)
		printf("# cannot set %s\n", name);
}

static struct val
txt(const char *s)
{
	struct val v = { .type = VAL_TEXT };

	v.u.s.p = s;
	v.u.s.len = (uint32_t)strlen(s);
	return v;
}

static struct val
num(int64_t i, enum val_type t)
{
	struct val v = { .type = t };

	v.u.i = i;
	return v;
}

static struct val
dec(double d)
{
	struct val v = { .type = VAL_DECIMAL };

	v.u.d = d;
	return v;
}

static int64_t
at(const char *s)
{
	int64_t	 ms = 0;

	if (time_parse(s, strlen(s), NULL, &ms) == -1)
		printf("# bad date %s\n", s);
	return ms;
}

/* The compact JSON of exporter_var for property name of p. */
static char *
var(const struct conf *c, const struct profile *p, const char *name, const char *tz)
{
	const struct conf_prop *cp = conf_prop_find(&c->store, name, strlen(name));
	json_t	*j = exporter_var(cp, profile_prop_find(p, name, strlen(name)), tz);
	char	*s;

	if (j == NULL)
		return strdup("(null)");
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return s;
}

static void
is_var(const struct conf *c, const struct profile *p, const char *name, const char *tz,
    const char *want, const char *what)
{
	char	*s = var(c, p, name, tz);

	is_str(s, want, "%s", what);
	free(s);
}

static void
is_period(const char *now, const char *tz, enum time_period per, const char *want,
    const char *what)
{
	int64_t	 start = 0;
	char	 b[32];

	if (time_period_start(at(now), tz, per, &start) == -1)
		b[0] = '\0';
	else
		time_fmt_iso_ms(start, b);
	is_str(b, want, "%s", what);
}

int
main(void)
{
	char		 tmpl[] = "/tmp/t_export.XXXXXX", err[1024];
	struct conf	 c;
	struct profile	 p;
	struct val	 v[3];
	int64_t		 now = at("2021-07-13T15:22:00Z");
	FILE		*f;
	char		 b[32];

	arena_init(&ar);
	if (mkdtemp(tmpl) == NULL || chdir(tmpl) == -1 ||
	    (f = fopen("c.json", "w")) == NULL || fputs(config, f) == EOF || fclose(f) == EOF) {
		printf("# Bail out! scratch\n");
		return 1;
	}
	if (conf_load("c.json", &c, err, sizeof(err)) == -1) {
		printf("# Bail out! %s\n", err);
		return 1;
	}

	/* Segments. */
	profile_init(&p);
	p.id = 1;
	v[0] = txt("gold");
	set(&p, "tier", VAL_TEXT, 0, v, 1);
	v[0] = dec(50.5);
	set(&p, "ltv", VAL_DECIMAL, 0, v, 1);
	ok(segment_has(&c.store, &p, "gold", now), "all: equals and a decimal range");
	v[0] = dec(100.5);
	set(&p, "ltv", VAL_DECIMAL, 0, v, 1);
	ok(!segment_has(&c.store, &p, "gold", now), "above max: out");
	v[0] = dec(100);
	set(&p, "ltv", VAL_DECIMAL, 0, v, 1);
	ok(segment_has(&c.store, &p, "gold", now), "max is inclusive");
	ok(!segment_has(&c.store, &p, "either", now), "any: neither test");
	v[0] = txt("alpha");
	v[1] = txt("beta");
	set(&p, "tags", VAL_TEXT, 1, v, 2);
	ok(segment_has(&c.store, &p, "either", now), "any: contains on a multi-valued property");
	v[0] = txt("bronze");
	set(&p, "tier", VAL_TEXT, 0, v, 1);
	ok(segment_has(&c.store, &p, "either", now) && !segment_has(&c.store, &p, "gold", now),
	    "one_of");
	ok(!segment_has(&c.store, &p, "recent", now), "within_days: no value");
	v[0] = num(now - 7LL * 86400000, VAL_DATETIME);
	set(&p, "last_open", VAL_DATETIME, 0, v, 1);
	ok(segment_has(&c.store, &p, "recent", now), "within_days: exactly 7 days ago is in");
	v[0] = num(now - 7LL * 86400000 - 1, VAL_DATETIME);
	set(&p, "last_open", VAL_DATETIME, 0, v, 1);
	ok(!segment_has(&c.store, &p, "recent", now), "within_days: a millisecond more is out");
	v[0] = num(now + 1000, VAL_DATETIME);
	set(&p, "last_open", VAL_DATETIME, 0, v, 1);
	ok(!segment_has(&c.store, &p, "recent", now), "within_days: the future is out");
	ok(!segment_has(&c.store, &p, "noscore", now), "exists: no email");
	v[0] = txt("a@b.c");
	set(&p, "email", VAL_TEXT, 0, v, 1);
	ok(segment_has(&c.store, &p, "noscore", now), "missing and exists");
	v[0] = num(3, VAL_NUMBER);
	set(&p, "score", VAL_NUMBER, 0, v, 1);
	ok(!segment_has(&c.store, &p, "noscore", now), "missing: has a value");
	v[0] = (struct val){ .type = VAL_BOOL, .u.b = 1 };
	set(&p, "vip", VAL_BOOL, 0, v, 1);
	ok(segment_has(&c.store, &p, "since", now), "datetime min and boolean equals");
	ok(!segment_has(&c.store, &p, "undefined", now), "an undefined segment, not listed");
	v[0] = txt("undefined");
	set(&p, "$segments", VAL_TEXT, 1, v, 1);
	ok(segment_has(&c.store, &p, "undefined", now), "listed in $segments");
	ok(lifecycle_stage(&p, "customer") == NULL, "no stage");
	v[0] = txt("active");
	set(&p, "$lifecycle.customer", VAL_TEXT, 0, v, 1);
	ok(lifecycle_stage(&p, "customer") != NULL &&
	    lifecycle_stage(&p, "customer")->len == 6, "stage of a lifecycle");

	/* Typed vars. */
	is_var(&c, &p, "tier", "UTC", "\"bronze\"", "text as a string");
	is_var(&c, &p, "score", "UTC", "3", "number as an integer");
	v[0] = dec(12.5);
	set(&p, "ltv", VAL_DECIMAL, 0, v, 1);
	is_var(&c, &p, "ltv", "UTC", "13", "decimal rounded half away from zero");
	v[0] = dec(-12.5);
	set(&p, "ltv", VAL_DECIMAL, 0, v, 1);
	is_var(&c, &p, "ltv", "UTC", "-13", "negative decimal rounded away from zero");
	v[0] = dec(12.4);
	set(&p, "ltv", VAL_DECIMAL, 0, v, 1);
	is_var(&c, &p, "ltv", "UTC", "12", "decimal rounded down");
	is_var(&c, &p, "vip", "UTC", "\"true\"", "boolean as a string");
	is_var(&c, &p, "tags", "UTC", "[\"alpha\",\"beta\"]", "multi-valued text as an array");
	v[0] = num(1, VAL_NUMBER);
	v[1] = num(2, VAL_NUMBER);
	set(&p, "n", VAL_NUMBER, 1, v, 2);
	is_var(&c, &p, "n", "UTC", "[1,2]", "multi-valued number as an array of integers");
	v[0] = num(at("2021-07-13T15:22:00.123Z"), VAL_DATETIME);
	set(&p, "last_open", VAL_DATETIME, 0, v, 1);
	is_var(&c, &p, "last_open", "America/New_York", "\"2021-07-13T15:22:00.123Z\"",
	    "other datetimes: ISO UTC with milliseconds, whatever the zone");
	v[0] = num(at("2021-07-13T15:22:00.999Z"), VAL_DATETIME);
	set(&p, "signup_time", VAL_DATETIME, 0, v, 1);
	is_var(&c, &p, "signup_time", "UTC", "1626189720", "*_time: UNIX seconds, floored");
	v[0] = num(at("1969-12-31T23:59:59.500Z"), VAL_DATETIME);
	set(&p, "signup_time", VAL_DATETIME, 0, v, 1);
	is_var(&c, &p, "signup_time", "UTC", "-1", "*_time before 1970 floors");
	v[0] = num(at("2021-03-14T04:30:00Z"), VAL_DATETIME);
	set(&p, "birth_date", VAL_DATETIME, 0, v, 1);
	is_var(&c, &p, "birth_date", "America/New_York", "\"2021-03-13\"",
	    "*_date: 23:30 EST the evening before DST starts");
	v[0] = num(at("2021-03-14T07:30:00Z"), VAL_DATETIME);
	set(&p, "birth_date", VAL_DATETIME, 0, v, 1);
	is_var(&c, &p, "birth_date", "America/New_York", "\"2021-03-14\"",
	    "*_date: 03:30 EDT just after DST starts");
	v[0] = num(at("2021-11-07T05:30:00Z"), VAL_DATETIME);
	set(&p, "birth_date", VAL_DATETIME, 0, v, 1);
	is_var(&c, &p, "birth_date", "America/New_York", "\"2021-11-07\"",
	    "*_date: 01:30 EDT, the first of the repeated hour");
	v[0] = num(at("2021-11-08T04:30:00Z"), VAL_DATETIME);
	set(&p, "birth_date", VAL_DATETIME, 0, v, 1);
	is_var(&c, &p, "birth_date", "America/New_York", "\"2021-11-07\"",
	    "*_date: 23:30 EST after DST ended");
	is_var(&c, &p, "birth_date", "UTC", "\"2021-11-08\"", "*_date in UTC");
	is_var(&c, &p, "birth_date", "Asia/Tokyo", "\"2021-11-08\"", "*_date east of UTC");
	v[0] = num(at("2021-07-13T00:00:00Z"), VAL_DATETIME);
	v[1] = num(at("2021-07-14T12:00:00Z"), VAL_DATETIME);
	set(&p, "days", VAL_DATETIME, 1, v, 2);
	is_var(&c, &p, "days", "UTC", "[\"2021-07-13T00:00:00.000Z\",\"2021-07-14T12:00:00.000Z\"]",
	    "multi-valued datetime as an array");
	is_var(&c, &p, "email", "Nowhere/Atlantis", "\"a@b.c\"", "a zone only matters for dates");
	is_var(&c, &p, "birth_date", "Nowhere/Atlantis", "(null)", "an unknown zone for a date");

	/* Calendar periods in the connection's zone. */
	is_period("2021-07-14T12:00:00Z", "UTC", PERIOD_WEEK, "2021-07-12T00:00:00.000Z",
	    "week starts Monday");
	is_period("2021-07-12T00:00:00Z", "UTC", PERIOD_WEEK, "2021-07-12T00:00:00.000Z",
	    "Monday 00:00 starts its own week");
	is_period("2021-07-12T03:00:00Z", "America/New_York", PERIOD_WEEK,
	    "2021-07-05T04:00:00.000Z", "Monday 03:00 UTC is still Sunday in New York");
	is_period("2021-03-15T12:00:00Z", "America/New_York", PERIOD_WEEK,
	    "2021-03-15T04:00:00.000Z", "week after DST starts: midnight EDT");
	is_period("2021-03-14T12:00:00Z", "America/New_York", PERIOD_WEEK,
	    "2021-03-08T05:00:00.000Z", "week across DST start: midnight EST");
	is_period("2021-11-30T12:00:00Z", "America/New_York", PERIOD_MONTH,
	    "2021-11-01T04:00:00.000Z", "month begun in EDT, now EST");
	is_period("2021-05-17T12:00:00Z", "UTC", PERIOD_QUARTER, "2021-04-01T00:00:00.000Z",
	    "second quarter");
	is_period("2022-01-01T03:00:00Z", "America/New_York", PERIOD_QUARTER,
	    "2021-10-01T04:00:00.000Z", "New Year's Eve in New York is still Q4");
	is_period("2021-03-01T00:00:00Z", "Nowhere/Atlantis", PERIOD_MONTH, "",
	    "an unknown zone");
	ok(time_fmt_date_tz(at("2021-07-13T02:00:00Z"), "America/Los_Angeles", b) == 0 &&
	    strcmp(b, "2021-07-12") == 0, "date in Los Angeles");

	conf_clear(&c);
	arena_clear(&ar);
	unlink("c.json");
	chdir("/");
	rmdir(tmpl);
	return done_testing();
}
