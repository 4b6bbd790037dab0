/* tests/unit/t_time.c: date parsing, time zones and formatting (common/timefmt.c). */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "timefmt.h"

/* Expected values were computed independently with GNU date(1). */
struct vec {
	const char	*s;
	const char	*tz;
	int64_t		 ms;
};

static const struct vec good[] = {
	/* RFC 2822 */
	{ "Wed, 31 Mar 2021 22:15:07 -0400", NULL, 1617243307000LL },
	{ "31 Mar 2021 22:15:07 -0400", NULL, 1617243307000LL },
	{ "Wed,31 Mar 2021 22:15:07 -0400", NULL, 1617243307000LL },
	{ "1 Apr 2021 02:15:07 GMT", NULL, 1617243307000LL },
	{ "01 apr 2021 02:15:07 UT", NULL, 1617243307000LL },
	{ "Thu, 1 Apr 2021 02:15 +0000", NULL, 1617243300000LL },
	{ "Tue, 13 Jul 2021 11:22:00 EDT", NULL, 1626189720000LL },
	{ "13 Jul 2021 08:22:00 PDT", NULL, 1626189720000LL },
	{ "13 Jul 2021 08:22:00 MST", NULL, 1626189720000LL },
	{ "13 Jul 2021 10:22:00 CDT", NULL, 1626189720000LL },
	{ "Sun, 14 Feb 2021 10:00:00 EST", NULL, 1613314800000LL },
	{ "Tue, 13 Jul 2021 11:22:00 -0400 (EDT)", NULL, 1626189720000LL },
	{ "  Tue, 13 Jul 2021 15:22:00 UTC \t", NULL, 1626189720000LL },
	/* RFC 2822 without a zone: local to tz. */
	{ "Tue, 13 Jul 2021 11:22:00", "America/New_York", 1626189720000LL },
	/* ISO-8601 */
	{ "2021-03-31T22:15:07Z", NULL, 1617228907000LL },
	{ "2021-03-31 22:15:07+05:30", NULL, 1617209107000LL },
	{ "2021-03-31T22:15:07.123-0700", NULL, 1617254107123LL },
	{ "2021-03-31T22:15:07-07", NULL, 1617254107000LL },
	{ "2021-03-31T22:15:07.5Z", NULL, 1617228907500LL },
	{ "2021-03-31T22:15:07.123456Z", NULL, 1617228907123LL },
	{ "2021-03-31T22:15Z", NULL, 1617228900000LL },
	{ "2021-03-31", NULL, 1617148800000LL },
	{ "2021-03-31", "UTC", 1617148800000LL },
	{ "2000-02-29T12:00:00Z", NULL, 951825600000LL },
	{ "1969-12-31T23:59:59Z", NULL, -1000LL },
	{ "1969-07-20T20:17:40.5Z", NULL, -14182939500LL },
	{ "1900-01-01T00:00:00Z", NULL, -2208988800000LL },
	/* Zone-less values in America/New_York, around both DST changes. */
	{ "2021-03-14 01:59:59", "America/New_York", 1615705199000LL },
	{ "2021-03-14 03:00:00", "America/New_York", 1615705200000LL },
	{ "2021-03-14 02:30:00", "America/New_York", 1615707000000LL },	/* skipped hour */
	{ "2021-11-07 00:30:00", "America/New_York", 1636259400000LL },
	{ "2021-11-07 01:30:00", "America/New_York", 1636263000000LL },	/* first of two */
	{ "2021-11-07 02:30:00", "America/New_York", 1636270200000LL },
	{ "2021-07-13T11:22:00", "America/New_York", 1626189720000LL },
	{ "2021-01-13", "America/New_York", 1610514000000LL },
	{ "2050-07-01 12:00", "America/New_York", 2540304000000LL },
	/* Other zones, to show the cache switches. */
	{ "2021-01-13 10:00", "Asia/Kolkata", 1610512200000LL },
	{ "2021-07-01 12:00", "Australia/Lord_Howe", 1625103000000LL },
	{ "1970-06-01 12:00", "Europe/London", 13086000000LL },
	{ "2021-07-13T11:22:00", "America/New_York", 1626189720000LL },
	/* A zone in the value wins over tz. */
	{ "2021-07-13T15:22:00Z", "America/New_York", 1626189720000LL },
};

static const char *bad[] = {
	"", "   ", "hello", "2021-13-01", "2021-02-30", "2021-02-29", "2021-00-10",
	"2021-04-31T00:00:00Z", "2021-03-31T24:00:00Z", "2021-03-31T22:60:00Z",
	"2021-03-31T22:15:61Z", "2021-03-31T22:15:07+2500", "2021-03-31T",
	"2021-03-31T22", "2021-03-31T22:15:07Q", "2021-3-31", "21-03-31",
	"2021-03-31T22:15:07.Z", "2021-03-31 trailing",
	"30 Feb 2021 10:00:00 GMT", "31 Foo 2021 10:00:00 GMT",
	"31 Mar 2021 10:00:00 XYZ", "Wed, 31 Mar 2021", "32 Mar 2021 10:00 GMT",
	"31 Mar 2021 25:00 GMT", "31 Mar 2021 10:00 GMT junk", "Mar 31 2021 10:00 GMT",
	"31 Mar 2021 10:00 (unclosed",
};

int
main(void)
{
	char	 buf[32];
	int64_t	 ms;
	size_t	 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = 0;
		is_int(time_parse(good[i].s, strlen(good[i].s), good[i].tz, &ms), 0,
		    "parse \"%s\" tz=%s", good[i].s, good[i].tz ? good[i].tz : "-");
		is_int(ms, good[i].ms, "value of \"%s\" tz=%s", good[i].s,
		    good[i].tz ? good[i].tz : "-");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(time_parse(bad[i], strlen(bad[i]), NULL, &ms), -1,
		    "rejects \"%s\"", bad[i]);

	/* Lengths are honoured: the bytes after len are not part of the value. */
	is_int(time_parse("2021-03-31XYZ", 10, NULL, &ms), 0, "length-counted input");
	is_int(ms, 1617148800000LL, "length-counted value");
	is_int(time_parse("2021-03-31", 10, "No/Such_Zone", &ms), -1,
	    "unknown zone is an error");
	is_int(time_parse("2021-03-31", 10, "zone.tab", &ms), -1,
	    "a file in the zone directory that is not zone data is no zone");
	is_int(time_parse("2021-03-31", 10, "America", &ms), -1,
	    "a directory is no zone");
	is_int(time_parse("2021-03-31", 10, "Etc/UTC", &ms), 0, "Etc/UTC is a zone");
	is_int(ms, 1617148800000LL, "Etc/UTC value");
	is_int(time_parse("2021-03-31", 10, "../../etc/passwd", &ms), -1,
	    "zone names cannot leave the zoneinfo directory");
	is_int(time_parse("2021-03-31T00:00Z", 17, "No/Such_Zone", &ms), 0,
	    "a value with a zone does not need tz");

	/* The caller's TZ is left alone. */
	setenv("TZ", "Asia/Tokyo", 1);
	is_int(time_parse("2021-06-01 00:00", 16, "America/Chicago", &ms), 0,
	    "parse under a caller TZ");
	is_str(getenv("TZ"), "Asia/Tokyo", "TZ restored");
	unsetenv("TZ");
	is_int(time_parse("2021-06-01 00:00", 16, "Europe/Paris", &ms), 0,
	    "parse with TZ unset");
	ok(getenv("TZ") == NULL, "TZ still unset");

	/* More zones than the cache holds, twice round: evicted zones reload. */
	{
		static const struct { const char *tz; int off; } z[] = {
			{ "Asia/Tokyo", 9 * 60 }, { "Asia/Kolkata", 5 * 60 + 30 },
			{ "Asia/Dubai", 4 * 60 }, { "Africa/Nairobi", 3 * 60 },
			{ "Asia/Karachi", 5 * 60 }, { "Asia/Bangkok", 7 * 60 },
			{ "Asia/Shanghai", 8 * 60 }, { "Pacific/Honolulu", -10 * 60 },
			{ "America/Phoenix", -7 * 60 }, { "Asia/Kathmandu", 5 * 60 + 45 },
		};
		int	 wrong = 0;

		for (int round = 0; round < 2; round++)
			for (i = 0; i < sizeof(z) / sizeof(z[0]); i++)
				if (time_parse("2021-06-01 00:00", 16, z[i].tz, &ms) == -1 ||
				    ms != (1622505600LL - z[i].off * 60LL) * 1000)
					wrong++;
		is_int(wrong, 0, "ten zones, twice round");
	}

	/* Formatting. */
	is_str(time_fmt_iso_ms(1626189720000LL, buf), "2021-07-13T15:22:00.000Z", "iso_ms");
	is_str(time_fmt_iso_ms(1617254107123LL, buf), "2021-04-01T05:15:07.123Z",
	    "iso_ms with millis");
	is_str(time_fmt_iso_ms(0, buf), "1970-01-01T00:00:00.000Z", "iso_ms epoch");
	is_str(time_fmt_iso_ms(-1, buf), "1969-12-31T23:59:59.999Z", "iso_ms -1 ms");
	is_str(time_fmt_iso_ms(-2208988800000LL, buf), "1900-01-01T00:00:00.000Z",
	    "iso_ms 1900");
	is_str(time_fmt_iso_ms(951825600000LL, buf), "2000-02-29T12:00:00.000Z",
	    "iso_ms leap day");
	is_str(time_fmt_date(1626189720000LL, buf), "2021-07-13", "date");
	is_str(time_fmt_date(-1, buf), "1969-12-31", "date of -1 ms");
	is_str(time_fmt_date(-86400000LL, buf), "1969-12-31", "date of -1 day");
	is_str(time_fmt_date(-86400001LL, buf), "1969-12-30", "date of -1 day -1 ms");
	is_int(time_unix_seconds(1626189720999LL), 1626189720LL, "unix seconds");
	is_int(time_unix_seconds(-1), -1, "unix seconds of -1 ms floors");
	is_int(time_unix_seconds(-1000), -1, "unix seconds of -1000 ms");
	is_int(time_unix_seconds(-1001), -2, "unix seconds of -1001 ms");

	/* Round trip across a wide range of days. */
	{
		int	 bad_rt = 0;

		for (int64_t d = -80000; d < 80000 && !bad_rt; d += 37) {
			int64_t	 in = d * 86400000LL + 12345678, back;

			time_fmt_iso_ms(in, buf);
			if (time_parse(buf, strlen(buf), NULL, &back) == -1 || back != in)
				bad_rt = 1;
		}
		ok(!bad_rt, "format then parse round-trips over 438 years (last %s)", buf);
	}

	ok(time_now_ms() > 1600000000000LL, "now is after 2020");
	ok(time_mono_ms() >= 0, "monotonic clock reads");
	return done_testing();
}
