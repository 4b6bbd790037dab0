/* common/timefmt.c: owns date parsing (RFC 2822, ISO-8601), time zones and formatting. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "timefmt.h"

/*
 * Civil dates are converted with our own arithmetic (proleptic Gregorian,
 * no locale, no TZ).  Only "what is the UTC offset of zone Z at instant T"
 * needs the TZ database; that is answered from a transition table built
 * once per zone (see tz_load) so that millions of parses never touch the
 * environment.  The tables live for the life of the process.
 */

static int64_t
floordiv(int64_t a, int64_t b)
{
	int64_t	 q = a / b;

	if ((a % b) != 0 && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Days since 1970-01-01 of y-m-d (m 1..12). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = floordiv(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t	 era, doe, yoe, doy, mp;

	z += 719468;
	era = floordiv(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int
days_in_month(int64_t y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/*
 * Time zones.  A zone's offsets are sampled once with localtime_r under
 * TZ=<zone> (so whatever the C library knows, including the POSIX rule
 * of slim zoneinfo files, is honoured), and each change is narrowed to
 * the exact second.  Outside [TZ_FIRST, TZ_LAST) the nearest offset
 * applies.
 */
#define TZ_FIRST	(-2208988800LL)		/* 1900-01-01 */
#define TZ_LAST		(7258118400LL)		/* 2200-01-01 */
#define TZ_NAMEMAX	128

struct tz_trans {
	int64_t	 at;		/* first UTC second of this offset */
	int32_t	 off;		/* seconds east of UTC */
};

struct tz_table {
	char		 name[TZ_NAMEMAX];
	int32_t		 off0;		/* offset before the first transition */
	size_t		 n;
	struct tz_trans	*t;
};

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * A few zones stay loaded: one mapper serves every connection, and
 * connections in different zones take turns.  Replaced round-robin.
 */
#define TZ_SLOTS	8
static struct tz_table tz_slots[TZ_SLOTS];
static unsigned tz_next;

static int
tz_exists(const char *name)
{
	const char	*dir = getenv("TZDIR");
	char		 path[512], magic[4];
	struct stat	 st;
	FILE		*f;
	size_t		 n;

	if (strcmp(name, "UTC") == 0)
		return 1;
	if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL ||
	    strlen(name) >= TZ_NAMEMAX)
		return 0;
	if (dir == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return 0;
	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return 0;
	/*
	 * The C library silently falls back to UTC on a file that is not
	 * zone data (zone.tab, tzdata.zi), so look at the magic ourselves.
	 */
	if ((f = fopen(path, "rb")) == NULL)
		return 0;
	n = fread(magic, 1, sizeof(magic), f);
	fclose(f);
	return n == sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
}

static int32_t
tz_probe(int64_t t)
{
	time_t		 tt = (time_t)t;
	struct tm	 tm;

	if (localtime_r(&tt, &tm) == NULL)
		return 0;
	return (int32_t)tm.tm_gmtoff;
}

/*
 * Builds the table of name into a slot; tz_lock held.  Returns the table,
 * or NULL for an unknown zone (or no memory).  TZ is changed only for the
 * duration of the sampling, once per zone per process.
 */
static struct tz_table *
tz_load(const char *name)
{
	struct tz_table	*z;
	char		*saved = NULL, *old;
	struct tz_trans	*t = NULL, *nt;
	size_t		 n = 0, cap = 0;
	int32_t		 off0, prev, cur;
	int64_t		 at, lo, hi, mid;
	int		 oom = 0;

	if (!tz_exists(name))
		return NULL;
	/* Swap TZ in, sample, and put the caller's TZ back. */
	if ((old = getenv("TZ")) != NULL && (saved = strdup(old)) == NULL)
		return NULL;
	if (setenv("TZ", name, 1) == -1) {
		free(saved);
		return NULL;
	}
	tzset();
	off0 = prev = tz_probe(TZ_FIRST);
	for (at = TZ_FIRST + 86400; at < TZ_LAST; at += 86400) {
		cur = tz_probe(at);
		if (cur == prev)
			continue;
		/* The change happened in (at - 86400, at]. */
		lo = at - 86400;
		hi = at;
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (tz_probe(mid) == prev)
				lo = mid;
			else
				hi = mid;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nt = realloc(t, cap * sizeof(*t))) == NULL) {
				oom = 1;
				break;
			}
			t = nt;
		}
		t[n].at = hi;
		t[n].off = cur;
		n++;
		prev = cur;
	}
	if (saved != NULL)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
	if (oom) {
		free(t);
		return NULL;
	}
	z = &tz_slots[tz_next++ % TZ_SLOTS];
	free(z->t);
	snprintf(z->name, sizeof(z->name), "%s", name);
	z->off0 = off0;
	z->n = n;
	z->t = t;
	return z;
}

/* The loaded table of name, loading it on first use; tz_lock held. */
static const struct tz_table *
tz_get(const char *name)
{
	for (size_t i = 0; i < TZ_SLOTS; i++)
		if (tz_slots[i].name[0] != '\0' && strcmp(tz_slots[i].name, name) == 0)
			return &tz_slots[i];
	return tz_load(name);
}

/* Offset in effect at UTC second t; tz_lock held. */
static int32_t
tz_offset_at(const struct tz_table *z, int64_t t)
{
	size_t	 lo = 0, hi = z->n, mid;

	/* The last transition with at <= t. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (z->t[mid].at <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? z->off0 : z->t[lo - 1].off;
}

/*
 * Converts local wall-clock seconds (civil time counted as if UTC) in
 * zone tz to UTC seconds.  A wall time that occurs twice (the hour after
 * DST ends) means the first occurrence; one that does not exist (the hour
 * skipped when DST starts) is read with the offset in force before the
 * change, as mktime does.
 */
static int
tz_local_to_utc(const char *tz, int64_t local, int64_t *utc)
{
	const struct tz_table *z;
	int32_t	 before, after;
	int	 okb, oka;

	if (tz == NULL || strcmp(tz, "UTC") == 0) {
		*utc = local;
		return 0;
	}
	pthread_mutex_lock(&tz_lock);
	if ((z = tz_get(tz)) == NULL) {
		pthread_mutex_unlock(&tz_lock);
		return -1;
	}
	/* Offsets are < 1 day and transitions are > 2 days apart. */
	before = tz_offset_at(z, local - 86400);
	after = tz_offset_at(z, local + 86400);
	okb = tz_offset_at(z, local - before) == before;
	oka = tz_offset_at(z, local - after) == after;
	pthread_mutex_unlock(&tz_lock);
	if (okb && oka)
		*utc = local - (before > after ? before : after);
	else if (oka)
		*utc = local - after;
	else
		*utc = local - before;
	return 0;
}

int
time_local_to_utc(const char *tz, int64_t local, int64_t *utc)
{
	return tz_local_to_utc(tz, local, utc);
}

int
time_utc_offset(const char *tz, int64_t utc, int32_t *off)
{
	const struct tz_table *z;

	*off = 0;
	if (tz == NULL || strcmp(tz, "UTC") == 0)
		return 0;
	pthread_mutex_lock(&tz_lock);
	if ((z = tz_get(tz)) == NULL) {
		pthread_mutex_unlock(&tz_lock);
		return -1;
	}
	*off = tz_offset_at(z, utc);
	pthread_mutex_unlock(&tz_lock);
	return 0;
}

int64_t
time_days_from_civil(int64_t y, int m, int d)
{
	return days_from_civil(y, m, d);
}

void
time_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	civil_from_days(days, y, m, d);
}

int
time_days_in_month(int64_t y, int m)
{
	return days_in_month(y, m);
}

/* Parsing. */

struct scan {
	const char	*p;
	const char	*end;
};

static int
sc_digit(const struct scan *sc)
{
	return sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9';
}

/* Reads between min and max digits; returns the count read, 0 if < min. */
static int
sc_num(struct scan *sc, int min, int max, int *out)
{
	int	 n = 0, v = 0;

	while (n < max && sc_digit(sc)) {
		v = v * 10 + (*sc->p++ - '0');
		n++;
	}
	if (n < min)
		return 0;
	*out = v;
	return n;
}

static int
sc_char(struct scan *sc, char c)
{
	if (sc->p < sc->end && *sc->p == c) {
		sc->p++;
		return 1;
	}
	return 0;
}

static int
sc_space(struct scan *sc)
{
	int	 n = 0;

	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t')) {
		sc->p++;
		n++;
	}
	return n;
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Matches a case-insensitive alphabetic word exactly. */
static int
sc_word(struct scan *sc, const char *w)
{
	size_t	 n = strlen(w), i;

	if ((size_t)(sc->end - sc->p) < n)
		return 0;
	for (i = 0; i < n; i++)
		if (lower((unsigned char)sc->p[i]) != w[i])
			return 0;
	if (sc->p + n < sc->end && lower((unsigned char)sc->p[n]) >= 'a' &&
	    lower((unsigned char)sc->p[n]) <= 'z')
		return 0;
	sc->p += n;
	return 1;
}

struct civil {
	int	 y, mo, d, h, mi, s, ms;
	int	 has_zone;
	int	 zone;		/* seconds east of UTC */
};

static int
civil_valid(const struct civil *c)
{
	return c->mo >= 1 && c->mo <= 12 && c->d >= 1 &&
	    c->d <= days_in_month(c->y, c->mo) && c->h >= 0 && c->h <= 23 &&
	    c->mi >= 0 && c->mi <= 59 && c->s >= 0 && c->s <= 59;
}

/* +hh:mm, +hhmm, +hh; returns 0, or -1. */
static int
parse_numeric_zone(struct scan *sc, int colon_ok, int *zone)
{
	int	 sign, hh, mm = 0;

	if (sc_char(sc, '+'))
		sign = 1;
	else if (sc_char(sc, '-'))
		sign = -1;
	else
		return -1;
	if (sc_num(sc, 2, 2, &hh) == 0)
		return -1;
	if (colon_ok && sc_char(sc, ':')) {
		if (sc_num(sc, 2, 2, &mm) == 0)
			return -1;
	} else if (sc_digit(sc)) {
		if (sc_num(sc, 2, 2, &mm) == 0)
			return -1;
	}
	if (hh > 23 || mm > 59)
		return -1;
	*zone = sign * (hh * 3600 + mm * 60);
	return 0;
}

/* ISO-8601: 2021-03-31[(T| )22:15[:07[.123]]][Z|+hh:mm|+hhmm|+hh] */
static int
parse_iso(struct scan *sc, struct civil *c)
{
	int	 n, frac;

	if (sc_num(sc, 4, 4, &c->y) == 0 || !sc_char(sc, '-') ||
	    sc_num(sc, 2, 2, &c->mo) == 0 || !sc_char(sc, '-') ||
	    sc_num(sc, 2, 2, &c->d) == 0)
		return -1;
	if (sc->p == sc->end)
		return 0;
	if (!sc_char(sc, 'T') && !sc_char(sc, 't') && !sc_char(sc, ' '))
		return -1;
	if (sc_num(sc, 2, 2, &c->h) == 0 || !sc_char(sc, ':') ||
	    sc_num(sc, 2, 2, &c->mi) == 0)
		return -1;
	if (sc_char(sc, ':')) {
		if (sc_num(sc, 2, 2, &c->s) == 0)
			return -1;
		if (sc_char(sc, '.') || sc_char(sc, ',')) {
			/* Milliseconds: the first three digits, the rest truncated. */
			if ((n = sc_num(sc, 1, 3, &frac)) == 0)
				return -1;
			while (n++ < 3)
				frac *= 10;
			c->ms = frac;
			while (sc_digit(sc))
				sc->p++;
		}
	}
	if (sc->p == sc->end)
		return 0;
	if (sc_char(sc, 'Z') || sc_char(sc, 'z')) {
		c->has_zone = 1;
		c->zone = 0;
	} else {
		sc_space(sc);
		if (parse_numeric_zone(sc, 1, &c->zone) == -1)
			return -1;
		c->has_zone = 1;
	}
	return sc->p == sc->end ? 0 : -1;
}

/* RFC 2822: [Wed,] 31 Mar 2021 22:15[:07] [-0400|GMT|EST|...] */
static int
parse_rfc2822(struct scan *sc, struct civil *c)
{
	static const char *days[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
	static const char *months[] = { "jan", "feb", "mar", "apr", "may", "jun",
	    "jul", "aug", "sep", "oct", "nov", "dec" };
	static const struct { const char *name; int hours; } zones[] = {
		{ "gmt", 0 }, { "utc", 0 }, { "ut", 0 }, { "z", 0 },
		{ "est", -5 }, { "edt", -4 }, { "cst", -6 }, { "cdt", -5 },
		{ "mst", -7 }, { "mdt", -6 }, { "pst", -8 }, { "pdt", -7 },
	};
	size_t	 i;
	int	 n;

	for (i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
		if (sc_word(sc, days[i])) {
			sc_char(sc, ',');
			sc_space(sc);
			break;
		}
	}
	if (sc_num(sc, 1, 2, &c->d) == 0 || sc_space(sc) == 0)
		return -1;
	for (i = 0; i < 12; i++)
		if (sc_word(sc, months[i]))
			break;
	if (i == 12)
		return -1;
	c->mo = (int)i + 1;
	if (sc_space(sc) == 0)
		return -1;
	if ((n = sc_num(sc, 2, 4, &c->y)) == 0 || n == 3)
		return -1;
	if (n == 2)	/* obsolete two-digit year, RFC 2822 section 4.3 */
		c->y += c->y < 50 ? 2000 : 1900;
	if (sc_space(sc) == 0)
		return -1;
	if (sc_num(sc, 1, 2, &c->h) == 0 || !sc_char(sc, ':') ||
	    sc_num(sc, 2, 2, &c->mi) == 0)
		return -1;
	if (sc_char(sc, ':') && sc_num(sc, 2, 2, &c->s) == 0)
		return -1;
	sc_space(sc);
	if (sc->p == sc->end)
		return 0;
	if (*sc->p == '+' || *sc->p == '-') {
		if (parse_numeric_zone(sc, 0, &c->zone) == -1)
			return -1;
		c->has_zone = 1;
	} else {
		for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
			if (sc_word(sc, zones[i].name)) {
				c->zone = zones[i].hours * 3600;
				c->has_zone = 1;
				break;
			}
		}
		if (!c->has_zone)
			return -1;
	}
	/* A trailing comment such as "(EDT)" is allowed. */
	sc_space(sc);
	if (sc_char(sc, '(')) {
		while (sc->p < sc->end && *sc->p != ')')
			sc->p++;
		if (!sc_char(sc, ')'))
			return -1;
		sc_space(sc);
	}
	return sc->p == sc->end ? 0 : -1;
}

int
time_parse(const char *s, size_t len, const char *tz, int64_t *ms)
{
	struct scan	 sc = { s, s + len };
	struct civil	 c;
	int64_t		 secs;
	int		 iso;

	memset(&c, 0, sizeof(c));
	while (sc.p < sc.end && (*sc.p == ' ' || *sc.p == '\t' || *sc.p == '\r' ||
	    *sc.p == '\n'))
		sc.p++;
	while (sc.end > sc.p && (sc.end[-1] == ' ' || sc.end[-1] == '\t' ||
	    sc.end[-1] == '\r' || sc.end[-1] == '\n'))
		sc.end--;
	/* ISO starts with four digits and a dash; RFC 2822 never does. */
	iso = sc.end - sc.p >= 5 && sc.p[4] == '-';
	if ((iso ? parse_iso(&sc, &c) : parse_rfc2822(&sc, &c)) == -1)
		return -1;
	if (!civil_valid(&c))
		return -1;
	secs = days_from_civil(c.y, c.mo, c.d) * 86400 + c.h * 3600 + c.mi * 60 + c.s;
	if (c.has_zone)
		secs -= c.zone;
	else if (tz_local_to_utc(tz, secs, &secs) == -1)
		return -1;
	*ms = secs * 1000 + c.ms;
	return 0;
}

/* Formatting. */

char *
time_fmt_iso_ms(int64_t ms, char *out)
{
	int64_t	 days = floordiv(ms, 86400000), rem = ms - days * 86400000, y;
	int	 m, d;

	civil_from_days(days, &y, &m, &d);
	snprintf(out, 32, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
	    (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
	    (int)(rem % 1000));
	return out;
}

char *
time_fmt_date(int64_t ms, char *out)
{
	int64_t	 y;
	int	 m, d;

	civil_from_days(floordiv(ms, 86400000), &y, &m, &d);
	snprintf(out, 32, "%04lld-%02d-%02d", (long long)y, m, d);
	return out;
}

int64_t
time_unix_seconds(int64_t ms)
{
	return floordiv(ms, 1000);
}

/* Clock id's time in units of 1/per_second s (1000: ms, 1000000: us). */
static int64_t
clock_read(clockid_t id, int64_t per_second)
{
	struct timespec	 ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * per_second + ts.tv_nsec / (1000000000 / per_second);
}

int64_t
time_now_ms(void)
{
	return clock_read(CLOCK_REALTIME, 1000);
}

int64_t
time_mono_ms(void)
{
	return clock_read(CLOCK_MONOTONIC, 1000);
}

int64_t
time_mono_us(void)
{
	return clock_read(CLOCK_MONOTONIC, 1000000);
}

int64_t
time_thread_cpu_us(void)
{
	return clock_read(CLOCK_THREAD_CPUTIME_ID, 1000000);
}

/* Zone-aware calendar: dates and period starts as the account sees them. */

int
time_fmt_date_tz(int64_t ms, const char *tz, char *out)
{
	int32_t	 off;

	if (time_utc_offset(tz, floordiv(ms, 1000), &off) == -1)
		return -1;
	time_fmt_date(ms + (int64_t)off * 1000, out);
	return 0;
}

int
time_period_start(int64_t ms, const char *tz, enum time_period per, int64_t *start)
{
	int64_t	 days, y, secs;
	int32_t	 off;
	int	 m, d, wday;

	if (time_utc_offset(tz, floordiv(ms, 1000), &off) == -1)
		return -1;
	days = floordiv(ms + (int64_t)off * 1000, 86400000);
	civil_from_days(days, &y, &m, &d);
	switch (per) {
	case PERIOD_WEEK:
		/* 1970-01-01 was a Thursday: (days + 3) mod 7 is 0 on Mondays. */
		wday = (int)(days + 3 - floordiv(days + 3, 7) * 7);
		days -= wday;
		break;
	case PERIOD_MONTH:
		days = days_from_civil(y, m, 1);
		break;
	case PERIOD_QUARTER:
		days = days_from_civil(y, (m - 1) / 3 * 3 + 1, 1);
		break;
	default:
		return -1;
	}
	/* Local midnight of that day, read in the zone (DST-aware). */
	if (tz_local_to_utc(tz, days * 86400, &secs) == -1)
		return -1;
	*start = secs * 1000;
	return 0;
}
