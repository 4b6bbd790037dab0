/* tests/tools/gen-seed.c: deterministic, realistic simulator seeds and export CSVs. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

static const char *const firsts[] = {
	"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael",
	"Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan",
	"Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen", "Wei", "Nancy",
	"Ahmed", "Lisa", "Daniel", "Betty", "Matthew", "Sandra", "Anthony",
	"Ashley", "Mark", "Kimberly", "Ravi", "Emily", "Hiroshi", "Donna",
	"Olu", "Michelle", "Sean", "Amelie", "Lucas", "Sofia", "Mateo", "Chloe",
	"Noah", "Zoe", "Liam", "Ingrid",
};
static const char *const lasts[] = {
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
	"Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez",
	"Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
	"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
	"Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
	"Wright", "Scott", "Nguyen", "Hill", "Flores", "Green", "O'Brien",
	"Okafor", "Kowalski", "Schmidt", "Rossi", "Dubois", "Tanaka", "Patel",
};
static const char *const cities[] = {
	"New York", "Los Angeles", "Chicago", "Houston", "Phoenix",
	"Philadelphia", "San Antonio", "San Diego", "Dallas", "Austin",
	"Seattle", "Denver", "Boston", "Nashville", "Portland", "Atlanta",
	"Miami", "Minneapolis", "Washington, D.C.", "Toronto", "London",
	"Berlin", "Paris", "Madrid", "Lisbon", "Dublin", "Sydney", "Tokyo",
	"Mexico City", "St. Louis",
};
static const char *const countries[] = { "US", "US", "US", "CA", "GB", "DE", "FR", "AU" };
static const char *const plans[] = { "free", "free", "basic", "basic", "pro", "enterprise" };
static const char *const tiers[] = { "bronze", "silver", "gold", "platinum" };
static const char *const interests[] = {
	"running", "cooking", "travel", "music", "books", "gaming", "garden", "film",
};
static const char *const domains[] = {
	"example.com", "example.org", "example.net", "mail.example.com",
	"inbox.example.org", "corp.example.net",
};
/* Sailthru engagement levels, with rough real-world weights. */
static const char *const engagements[] = {
	"active", "active", "active", "passive", "passive", "passive",
	"disengaged", "disengaged", "dormant", "new", "hardbounce", "optout",
};

#define N(a)	(sizeof(a) / sizeof((a)[0]))

/* Output buffer: big writes, no stdio formatting in the hot path. */
static char	 obuf[1 << 20];
static size_t	 olen;

static void
oflush(void)
{
	if (olen && fwrite(obuf, 1, olen, stdout) != olen) {
		fprintf(stderr, "gen-seed: write error: %s\n", strerror(errno));
		exit(74);
	}
	olen = 0;
}

static void
oput(const char *s, size_t n)
{
	if (n > sizeof(obuf) - olen) {
		oflush();
		if (n > sizeof(obuf)) {
			if (fwrite(s, 1, n, stdout) != n)
				exit(74);
			return;
		}
	}
	memcpy(obuf + olen, s, n);
	olen += n;
}

static void
ostr(const char *s)
{
	oput(s, strlen(s));
}

static void
onum(long long v)
{
	char	 t[24];
	int	 n = snprintf(t, sizeof(t), "%lld", v);

	oput(t, (size_t)n);
}

/* splitmix64: a tiny, well-mixed generator; one stream per user. */
static uint64_t
mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned
pick(uint64_t *s, unsigned n)
{
	return (unsigned)(mix(s) % n);
}

static int
chance(uint64_t *s, unsigned percent_x10)
{
	return pick(s, 1000) < percent_x10;
}

struct user {
	char		 email[128];	/* as the source has it (quirks) */
	char		 norm[128];	/* trimmed, lowercased */
	char		 sid[25];
	char		 extid[16];
	const char	*first, *last, *city, *plan, *country, *tier, *engagement;
	char		 first_q[64], last_q[64];	/* CSV quirks */
	long		 ltv_cents;
	char		 birthday[16];
	char		 phone[24];
	char		 gender[2];
	unsigned	 lists;		/* bit i: on list i */
	long		 opens, clicks;
	time_t		 created, signup, last_open, last_click;
};

static void
md5_hex(const void *p, size_t n, char out[33])
{
	unsigned char	 d[EVP_MAX_MD_SIZE];
	unsigned int	 dlen = 0, i;
	static const char hex[] = "0123456789abcdef";

	if (EVP_Digest(p, n, d, &dlen, EVP_md5(), NULL) != 1)
		abort();
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[32] = '\0';
}

static unsigned
popcount(unsigned v)
{
	unsigned	 n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

static void
lower_into(char *dst, size_t len, const char *s)
{
	size_t	 i;

	for (i = 0; s[i] && i + 1 < len; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		dst[i] = c;
	}
	dst[i] = '\0';
}

/*
 * User i of seed: a pure function of (seed, i), so duplicates in the CSV
 * are the same person again and runs are reproducible.
 */
static void
gen_user(uint64_t seed, unsigned long i, unsigned nlists, struct user *u)
{
	uint64_t	 s = seed * 0x100000001b3ULL ^ (i + 1) * 0x9e3779b97f4a7c15ULL;
	char		 f[32], l[32], local[96], h[33];
	const time_t	 t0 = 1514764800;	/* 2018-01-01 */
	const time_t	 span = 6 * 365 * 86400L;
	struct tm	 tm;
	time_t		 b;
	unsigned	 k;
	size_t		 j, n;

	memset(u, 0, sizeof(*u));
	mix(&s);
	u->first = firsts[pick(&s, N(firsts))];
	u->last = lasts[pick(&s, N(lasts))];
	u->city = cities[pick(&s, N(cities))];
	u->plan = plans[pick(&s, N(plans))];
	u->country = countries[pick(&s, N(countries))];
	u->tier = tiers[pick(&s, N(tiers))];
	u->engagement = engagements[pick(&s, N(engagements))];
	snprintf(u->gender, sizeof(u->gender), "%s", chance(&s, 480) ? "F" :
	    chance(&s, 900) ? "M" : "");
	lower_into(f, sizeof(f), u->first);
	lower_into(l, sizeof(l), u->last);
	for (j = n = 0; l[j]; j++)	/* o'brien -> obrien in addresses */
		if (l[j] != '\'')
			l[n++] = l[j];
	l[n] = '\0';
	/* Every local part ends in i, so emails are unique by construction. */
	switch (pick(&s, 4)) {
	case 0: snprintf(local, sizeof(local), "%s.%s%lu", f, l, i); break;
	case 1: snprintf(local, sizeof(local), "%c%s%lu", f[0], l, i); break;
	case 2: snprintf(local, sizeof(local), "%s_%s%lu", f, l, i); break;
	default: snprintf(local, sizeof(local), "%s%lu", f, i); break;
	}
	snprintf(u->email, sizeof(u->email), "%s@%s", local,
	    domains[pick(&s, N(domains))]);
	snprintf(u->norm, sizeof(u->norm), "%s", u->email);
	snprintf(local, sizeof(local), "profile:%.80s", u->norm);
	md5_hex(local, strlen(local), h);
	memcpy(u->sid, h, 24);
	u->sid[24] = '\0';
	/* Quirks in the raw address: mixed case, stray spaces. */
	if (chance(&s, 40)) {
		u->email[0] = (char)(u->email[0] >= 'a' && u->email[0] <= 'z' ?
		    u->email[0] - 'a' + 'A' : u->email[0]);
		for (j = 0; u->email[j] && u->email[j] != '@'; j++)
			if (u->email[j] == '.' && u->email[j + 1] >= 'a' &&
			    u->email[j + 1] <= 'z')
				u->email[j + 1] = (char)(u->email[j + 1] - 'a' + 'A');
	}
	if (chance(&s, 20)) {
		char t[sizeof(u->email)];

		snprintf(t, sizeof(t), " %.120s ", u->email);
		memcpy(u->email, t, sizeof(t));
	}
	if (chance(&s, 500))
		snprintf(u->extid, sizeof(u->extid), "C%07lu", i + 1);
	u->ltv_cents = u->plan[0] == 'f' ? (long)pick(&s, 2000) :
	    (long)pick(&s, 250000) + 999;
	b = -315619200 + (time_t)(mix(&s) % (50ULL * 365 * 86400));	/* 1960.. */
	gmtime_r(&b, &tm);
	strftime(u->birthday, sizeof(u->birthday), "%Y-%m-%d", &tm);
	snprintf(u->phone, sizeof(u->phone), pick(&s, 2) ? "+1 %03u-%03u-%04u" :
	    "(%03u) %03u-%04u", 200 + pick(&s, 800), pick(&s, 1000), pick(&s, 10000));
	u->created = t0 + (time_t)(mix(&s) % (uint64_t)span);
	u->signup = u->created + (time_t)pick(&s, 90 * 86400);
	k = strcmp(u->engagement, "active") == 0 ? 200 :
	    strcmp(u->engagement, "passive") == 0 ? 40 :
	    strcmp(u->engagement, "disengaged") == 0 ? 8 : 1;
	u->opens = strcmp(u->engagement, "new") == 0 ? 0 : (long)pick(&s, k + 1);
	u->clicks = u->opens ? (long)pick(&s, (unsigned)u->opens / 3 + 1) : 0;
	if (u->opens)
		u->last_open = u->signup + (time_t)(mix(&s) % (uint64_t)(t0 + span + 86400 * 180 - u->signup));
	if (u->clicks)
		u->last_click = u->last_open - (time_t)pick(&s, 86400);
	if (u->last_click && u->last_click < u->signup)
		u->last_click = u->signup;
	/* 1 to 3 lists, overlapping: most people are on the first list. */
	if (nlists) {
		if (chance(&s, 850))
			u->lists |= 1u;
		for (k = 1; k < nlists && k < 32; k++)
			if (chance(&s, 300))
				u->lists |= 1u << k;
		while (popcount(u->lists) > 3)
			u->lists &= u->lists - 1;	/* drop the lowest */
		if (u->lists == 0)
			u->lists = 1u << pick(&s, nlists < 32 ? nlists : 32);
	}
	/* CSV quirks: commas and quotes inside names. */
	snprintf(u->first_q, sizeof(u->first_q), "%s", u->first);
	snprintf(u->last_q, sizeof(u->last_q), "%s", u->last);
	if (chance(&s, 15))
		snprintf(u->last_q, sizeof(u->last_q), "%s, Jr.", u->last);
	if (chance(&s, 10))
		snprintf(u->first_q, sizeof(u->first_q), "%s \"%c%c\"", u->first,
		    u->first[0], u->first[1]);
}

static void
ojson_str(const char *s)
{
	const char	*p;

	oput("\"", 1);
	for (p = s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			oput("\\", 1);
			oput(p, 1);
		} else if ((unsigned char)*p < 0x20) {
			char t[8];

			snprintf(t, sizeof(t), "\\u%04x", (unsigned char)*p);
			ostr(t);
		} else
			oput(p, 1);
	}
	oput("\"", 1);
}

/* Sailthru accounts run on New York time; a fixed -0400 keeps runs stable. */
static void
ofmt_time(int rfc, time_t t)
{
	struct tm	 tm;
	char		 b[64];
	time_t		 l = t - 4 * 3600;

	gmtime_r(&l, &tm);
	if (rfc)	/* quoted: the comma after the day name */
		strftime(b, sizeof(b), "\"%a, %d %b %Y %H:%M:%S -0400\"", &tm);
	else
		strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S", &tm);
	ostr(b);
}

static void
ojson_time(time_t t)
{
	struct tm	 tm;
	char		 b[32];

	gmtime_r(&t, &tm);
	strftime(b, sizeof(b), "\"%Y-%m-%d %H:%M:%S\"", &tm);
	ostr(b);
}

struct listdef {
	char	 name[64];
	int	 smart;
};

static size_t
parse_lists(const char *spec, struct listdef *l, size_t max)
{
	const char	*p = spec, *e;
	size_t		 n = 0, len;

	while (*p && n < max) {
		e = strchr(p, ',');
		len = e ? (size_t)(e - p) : strlen(p);
		if (len > 0) {
			snprintf(l[n].name, sizeof(l[n].name), "%.*s", (int)len, p);
			l[n].smart = 0;
			if (len > 6 && strcmp(l[n].name + strlen(l[n].name) - 6, ":smart") == 0) {
				l[n].name[strlen(l[n].name) - 6] = '\0';
				l[n].smart = 1;
			}
			n++;
		}
		p = e ? e + 1 : p + len;
	}
	return n;
}

static const char *const var_names[] = {
	"first_name", "last_name", "city", "plan", "lifetime_value", "birthday",
};

static void
gen_seed_json(uint64_t seed, unsigned long users, const struct listdef *l,
    size_t nl, unsigned nvars)
{
	struct user	 u;
	unsigned long	 i;
	unsigned	 k, first;
	size_t		 j;

	ostr("{\"lists\": [");
	for (j = 0; j < nl; j++) {
		ostr(j ? ",\n  {\"name\": " : "\n  {\"name\": ");
		ojson_str(l[j].name);
		ostr(l[j].smart ? ", \"type\": \"smart\"}" : ", \"type\": \"normal\"}");
	}
	ostr("],\n \"users\": [");
	for (i = 0; i < users; i++) {
		gen_user(seed, i, (unsigned)nl, &u);
		ostr(i ? ",\n  {\"email\": " : "\n  {\"email\": ");
		ojson_str(u.email);
		if (u.extid[0]) {
			ostr(", \"extid\": ");
			ojson_str(u.extid);
		}
		ostr(", \"vars\": {");
		for (k = 0; k < nvars; k++) {
			if (k)
				ostr(", ");
			if (k < N(var_names)) {
				ojson_str(var_names[k]);
				ostr(": ");
			}
			switch (k) {
			case 0: ojson_str(u.first); break;
			case 1: ojson_str(u.last); break;
			case 2: ojson_str(u.city); break;
			case 3: ojson_str(u.plan); break;
			case 4: {
				char t[32];

				snprintf(t, sizeof(t), "%ld.%02ld", u.ltv_cents / 100,
				    u.ltv_cents % 100);
				ostr(t);
				break;
			}
			case 5: ojson_str(u.birthday); break;
			default:
				ostr("\"var_");
				onum(k + 1);
				ostr("\": ");
				onum((long long)((u.ltv_cents * (k + 7)) % 1000));
			}
		}
		ostr("}, \"lists\": [");
		for (k = 0, first = 1; k < nl && k < 32; k++) {
			if (!(u.lists & (1u << k)))
				continue;
			if (!first)
				ostr(", ");
			ojson_str(l[k].name);
			first = 0;
		}
		ostr("], \"engagement\": ");
		ojson_str(u.engagement);
		ostr(", \"opens\": ");
		onum(u.opens);
		ostr(", \"clicks\": ");
		onum(u.clicks);
		ostr(", \"created\": ");
		ojson_time(u.created);
		ostr(", \"signup\": ");
		ojson_time(u.signup);
		if (u.last_open) {
			ostr(", \"last_open\": ");
			ojson_time(u.last_open);
		}
		if (u.last_click) {
			ostr(", \"last_click\": ");
			ojson_time(u.last_click);
		}
		ostr("}");
	}
	ostr("\n]}\n");
}

/* One CSV field, quoted when it must be. */
static void
ocsv(const char *s)
{
	const char	*p;

	if (strpbrk(s, ",\"\r\n") == NULL) {
		ostr(s);
		return;
	}
	oput("\"", 1);
	for (p = s; *p; p++) {
		if (*p == '"')
			oput("\"", 1);
		oput(p, 1);
	}
	oput("\"", 1);
}

/*
 * repeat_x10: per mille of rows that repeat someone already in the export
 * (an update of an existing profile on import).  with_interests adds an
 * `interests` column of up to three comma-separated values, a second
 * multi-valued column, which varies from row to row of one person.
 */
static void
gen_csv(uint64_t seed, unsigned long rows, const struct listdef *l, size_t nl,
    unsigned repeat_x10, int with_interests)
{
	struct user	 u;
	unsigned long	 i, idx, next = 0;
	unsigned	 k, first;
	uint64_t	 s = seed ^ 0x5eed;
	char		 h[33], t[32];

	ostr("Profile Id,Email Hash,Email,Engagement,Lists,Profile Created Date,"
	    "Signup,Opens,Clicks,Last Open,Last Click,birthday,city,country,"
	    "first_name,gender,last_name,lifetime_value,loyalty_tier,phone,plan");
	ostr(with_interests ? ",interests\n" : "\n");
	for (i = 0; i < rows; i++) {
		/* About 5% of rows repeat someone, as exports of overlapping lists do. */
		if (next > 0 && chance(&s, repeat_x10))
			idx = (unsigned long)(mix(&s) % next);
		else
			idx = next++;
		gen_user(seed, idx, (unsigned)nl, &u);
		ostr(u.sid);
		oput(",", 1);
		md5_hex(u.norm, strlen(u.norm), h);
		ostr(h);
		oput(",", 1);
		/* A few profiles have no email at all (e.g. SMS only). */
		if (!chance(&s, 5))
			ocsv(u.email);
		oput(",", 1);
		ostr(u.engagement);
		ostr(",\"");
		for (k = 0, first = 1; k < nl && k < 32; k++) {
			if (!(u.lists & (1u << k)))
				continue;
			if (!first)
				oput(",", 1);
			ostr(l[k].name);
			first = 0;
		}
		ostr("\",");
		ofmt_time(0, u.created);
		oput(",", 1);
		ofmt_time(1, u.signup);
		oput(",", 1);
		onum(u.opens);
		oput(",", 1);
		onum(u.clicks);
		oput(",", 1);
		if (u.last_open)
			ofmt_time(1, u.last_open);
		oput(",", 1);
		if (u.last_click)
			ofmt_time(1, u.last_click);
		oput(",", 1);
		ostr(u.birthday);
		oput(",", 1);
		ocsv(u.city);
		oput(",", 1);
		ostr(u.country);
		oput(",", 1);
		ocsv(u.first_q);
		oput(",", 1);
		ostr(u.gender);
		oput(",", 1);
		ocsv(u.last_q);
		oput(",", 1);
		snprintf(t, sizeof(t), "%ld.%02ld", u.ltv_cents / 100, u.ltv_cents % 100);
		ostr(t);
		oput(",", 1);
		ostr(u.tier);
		oput(",", 1);
		ostr(u.phone);
		oput(",", 1);
		ostr(u.plan);
		if (with_interests) {
			uint64_t b = mix(&s);

			ostr(",\"");
			for (k = 0, first = 1; k < 3; k++, b >>= 8) {
				if ((b & 0xf0) < 0x60)
					continue;
				if (!first)
					oput(",", 1);
				ostr(interests[b % N(interests)]);
				first = 0;
			}
			oput("\"", 1);
		}
		oput("\n", 1);
	}
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: gen-seed --users N [--lists \"Newsletter,VIP,Customers:smart\"] [--seed S] [--vars K]\n"
"       gen-seed --csv --rows N [--lists ...] [--seed S] [--repeat PCT] [--interests]\n"
"--repeat: percent of rows that repeat an earlier person (default 5);\n"
"--interests: adds a multi-valued interests column.\n"
"Writes a simulator seed (JSON) or a Sailthru-style export CSV to stdout.\n"
"The same arguments always give the same bytes.\n");
}

static unsigned long
num(const char *name, const char *s)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-') {
		fprintf(stderr, "gen-seed: %s wants a number, got %s\n", name, s);
		exit(64);
	}
	return (unsigned long)v;
}

int
main(int argc, char **argv)
{
	struct listdef	 lists[32];
	const char	*spec = "Newsletter,VIP,Customers:smart";
	unsigned long	 users = 0, rows = 0, seed = 1, vars = 6, repeat = 5;
	int		 csv = 0, have_users = 0, have_rows = 0, with_interests = 0, i;
	size_t		 nl;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--csv") == 0) {
			csv = 1;
		} else if (i + 1 < argc && strcmp(a, "--users") == 0) {
			users = num(a, argv[++i]);
			have_users = 1;
		} else if (i + 1 < argc && strcmp(a, "--rows") == 0) {
			rows = num(a, argv[++i]);
			have_rows = 1;
		} else if (i + 1 < argc && strcmp(a, "--seed") == 0) {
			seed = num(a, argv[++i]);
		} else if (i + 1 < argc && strcmp(a, "--repeat") == 0) {
			repeat = num(a, argv[++i]);
		} else if (strcmp(a, "--interests") == 0) {
			with_interests = 1;
		} else if (i + 1 < argc && strcmp(a, "--vars") == 0) {
			vars = num(a, argv[++i]);
		} else if (i + 1 < argc && strcmp(a, "--lists") == 0) {
			spec = argv[++i];
		} else {
			usage(stderr);
			return 64;
		}
	}
	if ((csv && !have_rows) || (!csv && !have_users) || vars > 64 || repeat > 100) {
		usage(stderr);
		return 64;
	}
	if ((nl = parse_lists(spec, lists, N(lists))) == 0) {
		fprintf(stderr, "gen-seed: --lists names no list\n");
		return 64;
	}
	if (csv)
		gen_csv(seed, rows, lists, nl, (unsigned)repeat * 10, with_interests);
	else
		gen_seed_json(seed, users, lists, nl, (unsigned)vars);
	oflush();
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "gen-seed: write error: %s\n", strerror(errno));
		return 74;
	}
	return 0;
}
