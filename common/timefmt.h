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

/* Formats into out (at least 32 bytes); returns out. */
char	*time_fmt_iso_ms(int64_t ms, char *out);	/* 2021-07-13T15:22:00.000Z */
char	*time_fmt_date(int64_t ms, char *out);		/* 2021-07-13 (UTC) */
int64_t	 time_unix_seconds(int64_t ms);			/* floor division */

int64_t	 time_now_ms(void);		/* CLOCK_REALTIME */
int64_t	 time_mono_ms(void);		/* CLOCK_MONOTONIC */

#endif
