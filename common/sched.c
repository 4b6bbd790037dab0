/* common/sched.c: owns schedules: parsing the written form and finding the next run in a time zone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sched.h"
#include "timefmt.h"

#define WORDS_MAX	8

static const char *const wday_names[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
static const char *const ord_names[] = { "first", "second", "third", "fourth", "last" };

#define EXPECT	"expected \"daily at HH:MM\", \"N times daily from HH:MM\", " \
		"\"weekly mon,thu at HH:MM\", \"monthly 1,15 at HH:MM\" or " \
		"\"monthly first,third mon at HH:MM\""

/* Splits s at blanks into w (copied into buf).  Returns the count, or -1. */
static int
words(const char *s, char *buf, size_t buflen, char **w)
{
	int	 n = 0;
	char	*p, *save = NULL;

	if (strlen(s) >= buflen)
		return -1;
	snprintf(buf, buflen, "%s", s);
	for (p = strtok_r(buf, " \t", &save); p != NULL; p = strtok_r(NULL, " \t", &save)) {
		if (n == WORDS_MAX)
			return -1;
		w[n++] = p;
	}
	return n;
}

static int
parse_hhmm(const char *s, unsigned *minute)
{
	if (strlen(s) != 5 || s[2] != ':' || s[0] < '0' || s[0] > '2' ||
	    s[1] < '0' || s[1] > '9' || s[3] < '0' || s[3] > '5' ||
	    s[4] < '0' || s[4] > '9')
		return -1;
	if ((s[0] - '0') * 10 + (s[1] - '0') > 23)
		return -1;
	*minute = (unsigned)(((s[0] - '0') * 10 + (s[1] - '0')) * 60 +
	    (s[3] - '0') * 10 + (s[4] - '0'));
	return 0;
}

static int
lookup(const char *const *names, size_t n, const char *w)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(names[i], w) == 0)
			return (int)i;
	return -1;
}

/*
 * Parses a comma list of names (from names) or of numbers lo..hi into a
 * bit set.  Returns 0, or -1 with the bad item in err.
 */
static int
parse_set(const char *s, const char *const *names, size_t nnames, long lo, long hi,
    uint32_t *set, char *err, size_t errlen)
{
	char	 buf[128], *p, *save = NULL;

	*set = 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (p = strtok_r(buf, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
		long	 v;
		char	*end;

		if (names != NULL) {
			if ((v = lookup(names, nnames, p)) == -1) {
				snprintf(err, errlen, "unknown %s \"%s\" (expected %s)",
				    names == wday_names ? "day" : "ordinal", p,
				    names == wday_names ? "mon tue wed thu fri sat sun" :
				    "first second third fourth last");
				return -1;
			}
		} else {
			v = strtol(p, &end, 10);
			if (*p < '0' || *p > '9' || *end != '\0' || v < lo || v > hi) {
				snprintf(err, errlen, "day of the month \"%s\" is not a "
				    "number from %ld to %ld", p, lo, hi);
				return -1;
			}
		}
		if (*set & (1u << v)) {
			snprintf(err, errlen, "\"%s\" is listed twice", p);
			return -1;
		}
		*set |= 1u << v;
	}
	if (*set == 0) {
		snprintf(err, errlen, "empty list \"%s\"", s);
		return -1;
	}
	return 0;
}

int
sched_parse(const char *s, struct sched *out, char *err, size_t errlen)
{
	char	 buf[256], *w[WORDS_MAX];
	int	 n;
	uint32_t set;

	memset(out, 0, sizeof(*out));
	if ((n = words(s, buf, sizeof(buf), w)) <= 0) {
		snprintf(err, errlen, "not a schedule (" EXPECT ")");
		return -1;
	}
	/* Every form ends in "at|from HH:MM". */
	if (n < 3 || parse_hhmm(w[n - 1], &out->minute) == -1) {
		if (n >= 3 && (strcasecmp(w[n - 2], "at") == 0 ||
		    strcasecmp(w[n - 2], "from") == 0))
			snprintf(err, errlen, "time \"%s\" is not HH:MM (00:00 to 23:59)",
			    w[n - 1]);
		else
			snprintf(err, errlen, "not a schedule (" EXPECT ")");
		return -1;
	}
	if (n == 3 && strcasecmp(w[0], "daily") == 0 && strcasecmp(w[1], "at") == 0) {
		out->kind = SCHED_DAILY;
		out->times = 1;
		return 0;
	}
	if (n == 5 && strcasecmp(w[1], "times") == 0 && strcasecmp(w[2], "daily") == 0 &&
	    strcasecmp(w[3], "from") == 0) {
		char	*end;
		long	 t = strtol(w[0], &end, 10);

		if (*w[0] < '0' || *w[0] > '9' || *end != '\0' || t < 1 || t > 1440) {
			snprintf(err, errlen, "\"%s\" times a day: expected a number "
			    "from 1 to 1440", w[0]);
			return -1;
		}
		out->kind = SCHED_DAILY;
		out->times = (unsigned)t;
		return 0;
	}
	if (n == 4 && strcasecmp(w[0], "weekly") == 0 && strcasecmp(w[2], "at") == 0) {
		if (parse_set(w[1], wday_names, 7, 0, 0, &set, err, errlen) == -1)
			return -1;
		out->kind = SCHED_WEEKLY;
		out->wdays = set;
		return 0;
	}
	if (n == 4 && strcasecmp(w[0], "monthly") == 0 && strcasecmp(w[2], "at") == 0) {
		if (parse_set(w[1], NULL, 0, 1, 31, &set, err, errlen) == -1)
			return -1;
		out->kind = SCHED_MONTHLY;
		out->mdays = set;
		return 0;
	}
	if (n == 5 && strcasecmp(w[0], "monthly") == 0 && strcasecmp(w[3], "at") == 0) {
		int	 wd;

		if (parse_set(w[1], ord_names, 5, 0, 0, &set, err, errlen) == -1)
			return -1;
		if ((wd = lookup(wday_names, 7, w[2])) == -1) {
			snprintf(err, errlen, "unknown day \"%s\" (expected mon tue wed "
			    "thu fri sat sun)", w[2]);
			return -1;
		}
		out->kind = SCHED_MONTHLY_NTH;
		out->nth = set;
		out->wday = (unsigned)wd;
		return 0;
	}
	snprintf(err, errlen, "not a schedule (" EXPECT ")");
	return -1;
}

/* Does local day number day (days since 1970-01-01) have runs? */
static int
day_matches(const struct sched *s, int64_t day)
{
	int64_t	 y;
	int	 m, d;
	unsigned wd = (unsigned)(((day % 7) + 7 + 3) % 7);	/* 1970-01-01 was a Thursday */

	switch (s->kind) {
	case SCHED_DAILY:
		return 1;
	case SCHED_WEEKLY:
		return (s->wdays >> wd) & 1;
	case SCHED_MONTHLY:
		time_civil_from_days(day, &y, &m, &d);
		return (s->mdays >> d) & 1;
	case SCHED_MONTHLY_NTH:
		if (wd != s->wday)
			return 0;
		time_civil_from_days(day, &y, &m, &d);
		if ((s->nth >> ((d - 1) / 7)) & 1)
			return 1;
		return (s->nth >> SCHED_LAST) & 1 && d + 7 > time_days_in_month(y, m);
	}
	return 0;
}

int
sched_next(const struct sched *s, const char *tz, int64_t after, int64_t *next)
{
	int32_t	 off;
	int64_t	 day, best = INT64_MAX, found_day = 0;
	unsigned times = s->kind == SCHED_DAILY ? s->times : 1;

	if (time_utc_offset(tz, after, &off) == -1)
		return -1;
	day = (after + off) / 86400 - 1;
	if (after + off < 0 && (after + off) % 86400 != 0)
		day--;
	/*
	 * Days are walked in local order, and every run time of a day is
	 * converted to UTC.  Around a change of offset the UTC order of two
	 * runs can differ from their wall-clock order (02:30 that does not
	 * exist lands after 03:00), so the day after the first day with a
	 * candidate is looked at too and the earliest wins.  The longest gap
	 * between runs is under 13 months ("monthly 31 at ..." or "last").
	 */
	for (int64_t d = day; d < day + 800; d++) {
		if (best != INT64_MAX && d > found_day + 1)
			break;
		if (!day_matches(s, d))
			continue;
		for (unsigned k = 0; k < times; k++) {
			int64_t	 local, utc;
			unsigned m = s->minute + (unsigned)((uint64_t)k * 1440 / times);

			/* Runs after midnight belong to the next day's date. */
			local = d * 86400 + (int64_t)m * 60;
			if (time_local_to_utc(tz, local, &utc) == -1)
				return -1;
			if (utc > after && utc < best) {
				if (best == INT64_MAX)
					found_day = d;
				best = utc;
			}
		}
	}
	if (best == INT64_MAX)
		return -1;
	*next = best;
	return 0;
}
