/* tests/unit/t_sched.c: schedules (common/sched.c): the written form, and next runs across DST changes. */
#include <stdio.h>
#include <string.h>

#include "sched.h"
#include "tap.h"
#include "timefmt.h"

/*
 * Expected times were worked out by hand from the zones' 2026 rules
 * (zdump -v -c 2026,2027 ZONE):
 *   America/New_York  EST -5 / EDT -4: 03-08 02:00 -> 03:00, 11-01 02:00 -> 01:00
 *   Europe/Amsterdam  CET +1 / CEST +2: 03-29 02:00 -> 03:00, 10-25 03:00 -> 02:00
 *   Australia/Sydney  AEST +10 / AEDT +11: 04-05 03:00 -> 02:00, 10-04 02:00 -> 03:00
 */
static const struct ncase {
	const char	*tz, *sched, *after, *want, *why;
} ncases[] = {
	{ "America/New_York", "daily at 02:30", "2026-03-07T08:00:00Z", "2026-03-08T07:30:00Z",
	  "02:30 does not exist on 03-08: runs at 03:30 EDT" },
	{ "America/New_York", "daily at 02:30", "2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z",
	  "the day after: 02:30 EDT" },
	{ "America/New_York", "daily at 01:30", "2026-10-31T06:00:00Z", "2026-11-01T05:30:00Z",
	  "01:30 happens twice on 11-01: the first (EDT)" },
	{ "America/New_York", "daily at 01:30", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z",
	  "not again at the second 01:30: next day 01:30 EST" },
	{ "America/New_York", "daily at 09:00", "2026-03-07T15:00:00Z", "2026-03-08T13:00:00Z",
	  "09:00 the day DST starts is 13:00Z" },
	{ "America/New_York", "weekly mon,fri at 08:00", "2026-03-06T14:00:00Z",
	  "2026-03-09T12:00:00Z", "Friday 09:00 EST -> Monday 08:00 EDT" },
	{ "America/New_York", "monthly first,third mon at 08:00", "2026-03-01T00:00:00Z",
	  "2026-03-02T13:00:00Z", "first Monday of March, EST" },
	{ "America/New_York", "monthly first,third mon at 08:00", "2026-03-02T13:00:00Z",
	  "2026-03-16T12:00:00Z", "third Monday of March, EDT" },
	{ "America/New_York", "monthly 31 at 06:00", "2026-03-31T11:00:00Z",
	  "2026-05-31T10:00:00Z", "April has no 31st" },
	{ "America/New_York", "4 times daily from 00:00", "2026-03-08T04:30:00Z",
	  "2026-03-08T05:00:00Z", "00:00 EST" },
	{ "America/New_York", "4 times daily from 00:00", "2026-03-08T05:00:00Z",
	  "2026-03-08T10:00:00Z", "06:00 is EDT already" },
	{ "America/New_York", "4 times daily from 18:00", "2026-03-07T23:30:00Z",
	  "2026-03-08T05:00:00Z", "18:00 + 6 h wraps to 00:00 the next day" },
	{ "Europe/Amsterdam", "daily at 02:15", "2026-03-28T12:00:00Z", "2026-03-29T01:15:00Z",
	  "02:15 does not exist on 03-29: 03:15 CEST" },
	{ "Europe/Amsterdam", "daily at 02:15", "2026-10-24T12:00:00Z", "2026-10-25T00:15:00Z",
	  "02:15 happens twice on 10-25: the first (CEST)" },
	{ "Europe/Amsterdam", "daily at 02:15", "2026-10-25T00:15:00Z", "2026-10-26T01:15:00Z",
	  "then the next day, CET" },
	{ "Europe/Amsterdam", "monthly last sun at 03:00", "2026-03-01T00:00:00Z",
	  "2026-03-29T01:00:00Z", "last Sunday of March is the DST day" },
	{ "Europe/Amsterdam", "weekly sun at 12:00", "2026-10-24T12:00:00Z",
	  "2026-10-25T11:00:00Z", "noon CET on the day DST ends" },
	{ "Australia/Sydney", "daily at 02:30", "2026-04-04T00:00:00Z", "2026-04-04T15:30:00Z",
	  "02:30 happens twice on 04-05: the first (AEDT)" },
	{ "Australia/Sydney", "daily at 02:30", "2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z",
	  "then 04-06 02:30 AEST" },
	{ "Australia/Sydney", "daily at 02:30", "2026-10-03T00:00:00Z", "2026-10-03T16:30:00Z",
	  "02:30 does not exist on 10-04: 03:30 AEDT" },
	{ "Australia/Sydney", "monthly 1,15 at 00:00", "2026-09-30T14:00:00Z",
	  "2026-10-14T13:00:00Z", "strictly after the 1st: the 15th, AEDT" },
	{ "Australia/Sydney", "monthly first sun at 02:30", "2026-09-10T00:00:00Z",
	  "2026-10-03T16:30:00Z", "first Sunday of October is the DST day" },
	{ "UTC", "weekly sun at 00:00", "2026-12-05T23:59:59Z", "2026-12-06T00:00:00Z",
	  "UTC: Saturday 23:59:59 -> Sunday" },
};

static const struct pcase {
	const char	*s, *err;	/* err NULL: valid */
} pcases[] = {
	{ "daily at 02:00", NULL },
	{ "24 times daily from 00:30", NULL },
	{ "weekly mon,WED,fri at 23:59", NULL },
	{ "monthly 1,15,31 at 06:00", NULL },
	{ "monthly first,third mon at 08:00", NULL },
	{ "monthly last fri at 17:00", NULL },
	{ "daily 02:00", "not a schedule (expected \"daily at HH:MM\", \"N times daily "
	  "from HH:MM\", \"weekly mon,thu at HH:MM\", \"monthly 1,15 at HH:MM\" or "
	  "\"monthly first,third mon at HH:MM\")" },
	{ "daily at 24:00", "time \"24:00\" is not HH:MM (00:00 to 23:59)" },
	{ "daily at 2:00", "time \"2:00\" is not HH:MM (00:00 to 23:59)" },
	{ "0 times daily from 00:00", "\"0\" times a day: expected a number from 1 to 1440" },
	{ "weekly mon,funday at 08:00", "unknown day \"funday\" (expected mon tue wed thu fri "
	  "sat sun)" },
	{ "weekly mon,mon at 08:00", "\"mon\" is listed twice" },
	{ "monthly 0,32 at 08:00", "day of the month \"0\" is not a number from 1 to 31" },
	{ "monthly fifth mon at 08:00", "unknown ordinal \"fifth\" (expected first second third "
	  "fourth last)" },
	{ "monthly first moon at 08:00", "unknown day \"moon\" (expected mon tue wed thu fri "
	  "sat sun)" },
	{ "", "not a schedule (expected \"daily at HH:MM\", \"N times daily from HH:MM\", "
	  "\"weekly mon,thu at HH:MM\", \"monthly 1,15 at HH:MM\" or \"monthly first,third "
	  "mon at HH:MM\")" },
};

static int64_t
utc(const char *iso)
{
	int64_t	 ms;

	if (time_parse(iso, strlen(iso), NULL, &ms) == -1)
		return -1;
	return ms / 1000;
}

static const char *
fmt(int64_t s, char *out)
{
	time_fmt_iso_ms(s * 1000, out);
	return out;
}

/* Runs in [from, to), following sched_next; -1 if it ever went backwards. */
static int
count_runs(const char *tz, const char *text, const char *from, const char *to)
{
	struct sched s;
	char	 err[300];
	int64_t	 t = utc(from) - 1, end = utc(to), next;
	int	 n = 0;

	if (sched_parse(text, &s, err, sizeof(err)) == -1)
		return -1;
	while (sched_next(&s, tz, t, &next) == 0 && next < end) {
		if (next <= t)
			return -1;
		t = next;
		n++;
	}
	return n;
}

int
main(void)
{
	struct sched s;
	char	 err[400], a[40], b[40];
	int64_t	 next;

	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		int	 r = sched_parse(pcases[i].s, &s, err, sizeof(err));

		if (pcases[i].err == NULL)
			ok(r == 0, "valid: \"%s\"%s%s", pcases[i].s, r ? ": " : "", r ? err : "");
		else {
			is_int(r, -1, "refused: \"%s\"", pcases[i].s);
			is_str(err, pcases[i].err, "... saying why");
		}
	}
	sched_parse("monthly first,third mon at 08:00", &s, err, sizeof(err));
	ok(s.kind == SCHED_MONTHLY_NTH && s.nth == 5 && s.wday == 0 && s.minute == 480,
	    "first,third mon at 08:00: ordinals 1 and 3, Monday, minute 480");
	sched_parse("24 times daily from 00:30", &s, err, sizeof(err));
	ok(s.kind == SCHED_DAILY && s.times == 24 && s.minute == 30, "24 times from 00:30");

	for (size_t i = 0; i < sizeof(ncases) / sizeof(ncases[0]); i++) {
		const struct ncase *c = &ncases[i];

		if (sched_parse(c->sched, &s, err, sizeof(err)) == -1 ||
		    sched_next(&s, c->tz, utc(c->after), &next) == -1) {
			ok(0, "%s \"%s\": %s", c->tz, c->sched, err);
			continue;
		}
		is_str(fmt(next, a), fmt(utc(c->want), b), "%s \"%s\" after %s: %s", c->tz,
		    c->sched, c->after, c->why);
	}

	/* Whole days: a 23-hour day has 23 hourly runs, a 25-hour day 24 (one 01:00). */
	is_int(count_runs("America/New_York", "24 times daily from 00:00",
	    "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"), 23,
	    "New York, DST starts: 23 hourly runs (02:00 and 03:00 are one time)");
	is_int(count_runs("America/New_York", "24 times daily from 00:00",
	    "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"), 24,
	    "New York, DST ends: 24 hourly runs in 25 hours (01:00 once)");
	is_int(count_runs("Europe/Amsterdam", "24 times daily from 00:00",
	    "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"), 24,
	    "Amsterdam, DST ends: 24 hourly runs in 25 hours");
	is_int(count_runs("Australia/Sydney", "daily at 02:30",
	    "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"), 365,
	    "Sydney, a year of daily 02:30 across both changes: 365 runs");
	is_int(count_runs("America/New_York", "monthly first,third mon at 08:00",
	    "2026-01-01T05:00:00Z", "2027-01-01T05:00:00Z"), 24,
	    "New York, a year of first and third Mondays: 24 runs");
	is_int(count_runs("Europe/Amsterdam", "monthly 31 at 06:00",
	    "2025-12-31T23:00:00Z", "2026-12-31T23:00:00Z"), 7,
	    "Amsterdam, monthly on the 31st: the 7 months that have one");
	is_int(count_runs("Europe/Amsterdam", "weekly mon,thu at 08:00",
	    "2025-12-31T23:00:00Z", "2026-12-31T23:00:00Z"), 105,
	    "Amsterdam, Mondays and Thursdays of 2026: 52 + 53");
	is_int(sched_next(&s, "Mars/Olympus_Mons", 0, &next), -1, "unknown zone: -1");
	return done_testing();
}
