/* common/timefmt.h: parsing and formatting of dates and times. */
#ifndef SAILSYNC_TIMEFMT_H
#define SAILSYNC_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses s (length len) into milliseconds since the epoch, UTC.  Accepts
 * RFC 2822 ("Wed, 31 Mar 2021 22:15:07 -0400", day name optional, zone
 * as +hhmm or GMT/UT/UTC/EST/EDT/CST/CDT/MST/MDT/PST/PDT) and ISO-8601
 * ("2021-03-31", "2021-03-31T22:15:07", "2021-03-31 22:15:07",
 * fractional seconds, "Z" or +hh:mm / +hhmm).  A value without a zone is
 * read in tz (an IANA name such as "America/New_York"; NULL means UTC).
 * Returns 0, or -1 when s is not a date.
 */
int	 time_parse(const char *s, size_t len, const char *tz, int64_t *ms);

/*
 * Civil time in a zone, for schedules.  "Local seconds" count wall-clock
 * time as if it were UTC (days * 86400 + seconds of the day).
 * time_local_to_utc: a wall time that occurs twice (clocks go back) means
 * the first occurrence; one that does not exist (clocks go forward) is
 * read with the offset before the change, so it lands as much later as
 * the clocks jumped (02:30 becomes 03:30).  time_utc_offset: the zone's
 * offset east of UTC, in seconds, at a UTC second (0 for an unknown
 * zone).  Both return 0, or -1 for an unknown zone; tz NULL or "UTC" is UTC.
 */
int	 time_local_to_utc(const char *tz, int64_t local, int64_t *utc);
int	 time_utc_offset(const char *tz, int64_t utc, int32_t *off);
/* Days since 1970-01-01 of y-m-d (m 1..12), and back (proleptic Gregorian). */
int64_t	 time_days_from_civil(int64_t y, int m, int d);
void	 time_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
int	 time_days_in_month(int64_t y, int m);

/* Formats into out (at least 32 bytes); returns out. */
char	*time_fmt_iso_ms(int64_t ms, char *out);	/* 2021-07-13T15:22:00.000Z */
char	*time_fmt_date(int64_t ms, char *out);		/* 2021-07-13 (UTC) */
int64_t	 time_unix_seconds(int64_t ms);			/* floor division */

/*
 * The local date of ms in zone tz (NULL or "UTC": UTC), YYYY-MM-DD into
 * out (at least 32 bytes).  Returns 0, or -1 for an unknown zone.
 */
int	 time_fmt_date_tz(int64_t ms, const char *tz, char *out);

/*
 * The start (UTC ms) of the calendar week (Monday 00:00), month or
 * quarter that holds ms, in zone tz's wall clock.  Returns 0, or -1 for
 * an unknown zone.
 */
enum time_period { PERIOD_WEEK = 1, PERIOD_MONTH = 2, PERIOD_QUARTER = 3 };
int	 time_period_start(int64_t ms, const char *tz, enum time_period per,
	    int64_t *start);

int64_t	 time_now_ms(void);		/* CLOCK_REALTIME */
int64_t	 time_mono_ms(void);		/* CLOCK_MONOTONIC */
int64_t	 time_mono_us(void);		/* CLOCK_MONOTONIC, for stage time counters */
int64_t	 time_thread_cpu_us(void);	/* the calling thread's CPU time */

#endif
