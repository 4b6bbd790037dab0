/* common/sched.h: connection schedules: their written form, and the next run time in a zone. */
#ifndef SAILSYNC_SCHED_H
#define SAILSYNC_SCHED_H

#include <stddef.h>
#include <stdint.h>

/*
 * The four kinds, in the connection's time zone (HH:MM is 24-hour):
 *
 *   daily at HH:MM                     once a day
 *   N times daily from HH:MM           N runs a day (1..1440), 24 h / N apart,
 *                                      the first at HH:MM
 *   weekly DAY[,DAY...] at HH:MM       DAY: mon tue wed thu fri sat sun
 *   monthly D[,D...] at HH:MM          D: 1..31; a month without day D skips it
 *   monthly ORD[,ORD...] DAY at HH:MM  ORD: first second third fourth last
 *                                      (e.g. "monthly first,third mon at 08:00")
 */
enum sched_kind {
	SCHED_DAILY = 1,	/* times runs a day from minute */
	SCHED_WEEKLY,		/* wdays at minute */
	SCHED_MONTHLY,		/* mdays at minute */
	SCHED_MONTHLY_NTH,	/* nth wday of the month at minute */
};

#define SCHED_LAST	4	/* ordinal bit of "last" in nth */

struct sched {
	enum sched_kind	 kind;
	unsigned	 times;		/* SCHED_DAILY: runs a day, 1..1440 */
	unsigned	 minute;	/* minute of the (first) run, 0..1439 */
	unsigned	 wdays;		/* SCHED_WEEKLY: bit 0 Monday .. bit 6 Sunday */
	uint32_t	 mdays;		/* SCHED_MONTHLY: bit D for day D (1..31) */
	unsigned	 nth;		/* SCHED_MONTHLY_NTH: bit 0 first .. 3 fourth, 4 last */
	unsigned	 wday;		/* SCHED_MONTHLY_NTH: 0 Monday .. 6 Sunday */
};

/*
 * Parses s into out.  Returns 0, or -1 with a one-line reason in err that
 * names what was expected.
 */
int	 sched_parse(const char *s, struct sched *out, char *err, size_t errlen);

/*
 * The first run time of s strictly after UTC second after, in zone tz, into
 * *next (UTC seconds).  Wall times are the zone's: a time that does not
 * exist on a day (clocks go forward) runs as much later as the clocks
 * jumped; one that happens twice (clocks go back) runs once, at the first.
 * Returns 0, or -1 for an unknown zone.
 */
int	 sched_next(const struct sched *s, const char *tz, int64_t after, int64_t *next);

#endif
