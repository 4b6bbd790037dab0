/*
 * tests/tools/plain-floor.c: the benchmark's honest floor.  Imports the
 * benchmark's Sailthru-style CSV exports in one process with nothing but
 * libcsv, msgpack-c and plain LMDB calls: no sailsync code at all, so an
 * inefficiency in the store, mapper or fetcher code shows as distance
 * from this line in `make bench`.
 *
 *	plain-floor [--commit-rows N] DIR CSV...
 *
 * Does the work the pipeline does for tests/bench/run.sh's goals, written
 * plainly: parse each CSV (one per list), find the profile by the trimmed,
 * lower-cased Email through an index (then by Profile Id), create it when
 * new, apply the goal's rules (set, set_if_empty, add, sum) with values
 * converted to their types (RFC 2822 and ISO dates to milliseconds,
 * decimals, integers; a cell is one value, as in the mapper), store the profile as
 * msgpack with both identifier indexes and the goal's exchange mark in
 * the profile (one goal per file, named by the file; each goal's count of
 * the profiles it marked is written at every commit), and commit durably (LMDB's default sync, no MDB_WRITEMAP) every N rows
 * (default 100,000).  Rows without an Email are skipped, as the pipeline
 * skips them.  The store it writes is its own format, not sailsync's.
 *
 * Prints one line: rows, skipped, profiles, seconds, rows/s, peak RSS.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <csv.h>
#include <lmdb.h>
#include <msgpack.h>

enum ptype { T_TEXT, T_NUM, T_DEC, T_TIME };
enum prule { R_SET, R_IFEMPTY, R_ADD, R_SUM };

/* The benchmark goal's mappings (tests/bench/run.sh), sorted by property. */
static const struct mapping {
	const char	*column, *prop;
	enum ptype	 type;
	enum prule	 rule;
} maps[] = {
	{ "city", "city", T_TEXT, R_IFEMPTY },
	{ "Clicks", "clicks", T_NUM, R_SUM },
	{ "country", "country", T_TEXT, R_IFEMPTY },
	{ "Email", "email", T_TEXT, R_SET },
	{ "Engagement", "engagement", T_TEXT, R_SET },
	{ "first_name", "first_name", T_TEXT, R_SET },
	{ "interests", "interests", T_TEXT, R_ADD },
	{ "Last Click", "last_click", T_TIME, R_SET },
	{ "last_name", "last_name", T_TEXT, R_SET },
	{ "Last Open", "last_open", T_TIME, R_SET },
	{ "lifetime_value", "lifetime_value", T_DEC, R_SET },
	{ "Opens", "opens", T_NUM, R_SUM },
	{ "phone", "phone", T_TEXT, R_SET },
	{ "plan", "plan", T_TEXT, R_SET },
	{ "Profile Id", "sailthru_profile_id", T_TEXT, R_SET },
	{ "Lists", "sailthru_lists", T_TEXT, R_ADD },
	{ "Signup", "signup", T_TIME, R_IFEMPTY },
	{ "loyalty_tier", "tiers", T_TEXT, R_ADD },
};
#define NMAPS	(sizeof(maps) / sizeof(maps[0]))
#define MAXVALS	16
#define MAXCOLS	256
#define MAXFIELD 65536
#define MAXMARKS 16	/* goals, and so marks of a profile */

struct val {
	int64_t		 n;		/* number, decimal x 10000, ms */
	char		*s;		/* text (malloc'd) */
};
struct prop {
	int		 nvals;
	struct val	 v[MAXVALS];
};
struct prof {
	uint64_t	 id;
	struct prop	 p[NMAPS];
	int		 nmarks;
	char		*mark[MAXMARKS];	/* goal names */
};

struct flr {
	MDB_env		*env;
	MDB_txn		*txn;
	MDB_dbi		 profiles, ident, exchange, meta;
	uint64_t	 rows, skipped, created, pending, commit_rows, idctr;
	int		 colmap[MAXCOLS];	/* column -> mapping, -1 */
	int		 email_col, sid_col, ncols, header, col;
	char		*field[MAXCOLS];
	size_t		 flen[MAXCOLS];
	msgpack_sbuffer	 sb;
	msgpack_zone	 zone;
	int		 ngoals, cur;		/* goals seen, the file's */
	char		*goal[MAXMARKS];
	uint64_t	 unique[MAXMARKS];	/* profiles marked, per goal */
};

static void
die(const char *what, int rc)
{
	fprintf(stderr, "plain-floor: %s: %s\n", what, rc > 0 ? strerror(rc) : mdb_strerror(rc));
	exit(74);
}

static void
ck(int rc, const char *what)
{
	if (rc != 0)
		die(what, rc);
}

static void
txn_begin(struct flr *f)
{
	ck(mdb_txn_begin(f->env, NULL, 0, &f->txn), "begin");
}

static void
txn_commit(struct flr *f)
{
	MDB_val k = { 5, "idctr" }, v = { 8, &f->idctr };
	char	 kb[600];

	ck(mdb_put(f->txn, f->meta, &k, &v, 0), "put meta");
	for (int i = 0; i < f->ngoals; i++) {
		k.mv_size = (size_t)snprintf(kb, sizeof(kb), "bench\x1f%s", f->goal[i]);
		k.mv_data = kb;
		v.mv_data = &f->unique[i];
		ck(mdb_put(f->txn, f->exchange, &k, &v, 0), "put exchange count");
	}
	ck(mdb_txn_commit(f->txn), "commit");	/* pages, fdatasync, meta page */
	f->pending = 0;
	txn_begin(f);
}

/* Dates as Sailthru writes them: RFC 2822 with a zone, or ISO (UTC). */
static int
parse_time(const char *s, int64_t *ms)
{
	struct tm	 tm;
	const char	*e;

	memset(&tm, 0, sizeof(tm));
	if ((e = strptime(s, "%a, %d %b %Y %H:%M:%S %z", &tm)) != NULL && *e == '\0') {
		long off = tm.tm_gmtoff;

		*ms = ((int64_t)timegm(&tm) - off) * 1000;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (((e = strptime(s, "%Y-%m-%d %H:%M:%S", &tm)) != NULL ||
	    (e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) != NULL ||
	    (e = strptime(s, "%Y-%m-%d", &tm)) != NULL) && (*e == '\0' || *e == 'Z')) {
		*ms = (int64_t)timegm(&tm) * 1000;
		return 0;
	}
	return -1;
}

/* Decimal to fixed point (x 10000). */
static int
parse_dec(const char *s, int64_t *out)
{
	char	*e;
	double	 d = strtod(s, &e);

	if (e == s || *e != '\0')
		return -1;
	*out = (int64_t)(d * 10000.0 + (d < 0 ? -0.5 : 0.5));
	return 0;
}

static int
parse_num(const char *s, int64_t *out)
{
	char	*e;

	errno = 0;
	*out = strtoll(s, &e, 10);
	return e == s || *e != '\0' || errno ? -1 : 0;
}

static int
conv(enum ptype t, const char *s, struct val *v)
{
	v->s = NULL;
	v->n = 0;
	switch (t) {
	case T_TEXT:
		v->s = strdup(s);
		return v->s ? 0 : -1;
	case T_NUM:
		return parse_num(s, &v->n);
	case T_DEC:
		return parse_dec(s, &v->n);
	case T_TIME:
		return parse_time(s, &v->n);
	}
	return -1;
}

static int
val_eq(enum ptype t, const struct val *a, const struct val *b)
{
	return t == T_TEXT ? strcmp(a->s, b->s) == 0 : a->n == b->n;
}

static void
prop_clear(struct prop *p)
{
	for (int i = 0; i < p->nvals; i++)
		free(p->v[i].s);
	p->nvals = 0;
}

static void
prof_clear(struct prof *p)
{
	for (size_t i = 0; i < NMAPS; i++)
		prop_clear(&p->p[i]);
	for (int i = 0; i < p->nmarks; i++)
		free(p->mark[i]);
	p->nmarks = 0;
	p->id = 0;
}

/* [id, [[name, [values...]]...], [goal...]] */
static void
prof_encode(struct flr *f, const struct prof *p)
{
	msgpack_packer	 pk;
	uint32_t	 n = 0;

	msgpack_sbuffer_clear(&f->sb);
	msgpack_packer_init(&pk, &f->sb, msgpack_sbuffer_write);
	for (size_t i = 0; i < NMAPS; i++)
		n += p->p[i].nvals > 0;
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint64(&pk, p->id);
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < NMAPS; i++) {
		const struct prop *pr = &p->p[i];
		size_t nl = strlen(maps[i].prop);

		if (pr->nvals == 0)
			continue;
		msgpack_pack_array(&pk, 2);
		msgpack_pack_str(&pk, nl);
		msgpack_pack_str_body(&pk, maps[i].prop, nl);
		msgpack_pack_array(&pk, (uint32_t)pr->nvals);
		for (int j = 0; j < pr->nvals; j++) {
			if (maps[i].type == T_TEXT) {
				size_t l = strlen(pr->v[j].s);

				msgpack_pack_str(&pk, l);
				msgpack_pack_str_body(&pk, pr->v[j].s, l);
			} else
				msgpack_pack_int64(&pk, pr->v[j].n);
		}
	}
	msgpack_pack_array(&pk, (uint32_t)p->nmarks);
	for (int i = 0; i < p->nmarks; i++) {
		msgpack_pack_str(&pk, strlen(p->mark[i]));
		msgpack_pack_str_body(&pk, p->mark[i], strlen(p->mark[i]));
	}
}

static int
prof_decode(struct flr *f, const MDB_val *v, struct prof *p)
{
	msgpack_object	 o, *props;
	size_t		 off = 0;

	msgpack_zone_clear(&f->zone);
	if (msgpack_unpack(v->mv_data, v->mv_size, &off, &f->zone, &o) != MSGPACK_UNPACK_SUCCESS ||
	    o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 3)
		return -1;
	p->id = o.via.array.ptr[0].via.u64;
	for (uint32_t i = 0; i < o.via.array.ptr[2].via.array.size && i < MAXMARKS; i++) {
		msgpack_object *x = &o.via.array.ptr[2].via.array.ptr[i];

		p->mark[p->nmarks++] = strndup(x->via.str.ptr, x->via.str.size);
	}
	props = &o.via.array.ptr[1];
	for (uint32_t i = 0; i < props->via.array.size; i++) {
		msgpack_object *kv = props->via.array.ptr[i].via.array.ptr;
		size_t m;

		for (m = 0; m < NMAPS; m++)
			if (strlen(maps[m].prop) == kv[0].via.str.size &&
			    memcmp(maps[m].prop, kv[0].via.str.ptr, kv[0].via.str.size) == 0)
				break;
		if (m == NMAPS)
			return -1;
		for (uint32_t j = 0; j < kv[1].via.array.size && j < MAXVALS; j++) {
			msgpack_object *x = &kv[1].via.array.ptr[j];
			struct val *val = &p->p[m].v[p->p[m].nvals++];

			if (x->type == MSGPACK_OBJECT_STR) {
				val->s = strndup(x->via.str.ptr, x->via.str.size);
				val->n = 0;
			} else {
				val->s = NULL;
				val->n = x->via.i64;
			}
		}
	}
	return 0;
}

static int
ident_get(struct flr *f, const char *prop, const char *val, uint64_t *id)
{
	char	 kb[512];
	MDB_val	 k, v;
	int	 n = snprintf(kb, sizeof(kb), "%s\x1f%s", prop, val), rc;

	k.mv_data = kb;
	k.mv_size = (size_t)n < sizeof(kb) ? (size_t)n : sizeof(kb) - 1;
	if ((rc = mdb_get(f->txn, f->ident, &k, &v)) == MDB_NOTFOUND)
		return -1;
	ck(rc, "get ident");
	memcpy(id, v.mv_data, 8);
	return 0;
}

static void
ident_put(struct flr *f, const char *prop, const char *val, uint64_t id)
{
	char	 kb[512];
	MDB_val	 k, v = { 8, &id };
	int	 n = snprintf(kb, sizeof(kb), "%s\x1f%s", prop, val);

	k.mv_data = kb;
	k.mv_size = (size_t)n < sizeof(kb) ? (size_t)n : sizeof(kb) - 1;
	ck(mdb_put(f->txn, f->ident, &k, &v, 0), "put ident");
}

/* Big-endian, so time-ordered ids append at the end of the B-tree. */
static void
be64(unsigned char *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
}

static void
apply_row(struct flr *f)
{
	static struct prof p;
	char		 email[512];
	const char	*sid = f->sid_col >= 0 && f->sid_col < f->col ? f->field[f->sid_col] : "";
	unsigned char	 kb[8];
	MDB_val		 k, v;
	uint64_t	 id;
	size_t		 n, a = 0;
	int		 found;

	f->rows++;
	/* The link value: Email, trimmed and lower-cased. */
	if (f->email_col < 0 || f->email_col >= f->col) {
		f->skipped++;
		return;
	}
	const char *e = f->field[f->email_col];
	while (*e && isspace((unsigned char)*e))
		e++;
	for (n = 0; e[n] && n < sizeof(email) - 1; n++)
		email[n] = (char)tolower((unsigned char)e[n]);
	while (n > 0 && isspace((unsigned char)email[n - 1]))
		n--;
	email[n] = '\0';
	if (n == 0) {
		f->skipped++;
		return;
	}
	found = ident_get(f, "email", email, &id) == 0 ||
	    (*sid && ident_get(f, "sailthru_profile_id", sid, &id) == 0);
	if (found) {
		be64(kb, id);
		k.mv_data = kb;
		k.mv_size = 8;
		ck(mdb_get(f->txn, f->profiles, &k, &v), "get profile");
		if (prof_decode(f, &v, &p) == -1)
			die("undecodable profile", EINVAL);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		id = (uint64_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000) << 16;
		if (id <= f->idctr)
			id = f->idctr + 1;
		f->idctr = id;
		p.id = id;
		f->created++;
	}
	for (int c = 0; c < f->col && c < MAXCOLS; c++) {
		int m = f->colmap[c];
		const struct mapping *mp;
		struct prop *pr;
		struct val nv;
		int dup = 0;

		if (m < 0 || f->flen[c] == 0)
			continue;
		mp = &maps[m];
		pr = &p.p[m];
		if (m == 3) {		/* email: the normalized link value */
			prop_clear(pr);
			pr->v[0].s = strdup(email);
			pr->nvals = 1;
			continue;
		}
		/*
		 * A cell is one value, multi-valued property or not: the
		 * mapper does not split CSV cells ("music,garden" is one
		 * interest), so neither does the floor.
		 */
		if (conv(mp->type, f->field[c], &nv) != 0)
			continue;
		switch (mp->rule) {
		case R_IFEMPTY:
			if (pr->nvals) {
				free(nv.s);
				break;
			}
			/* FALLTHROUGH */
		case R_SET:
			prop_clear(pr);
			pr->v[0] = nv;
			pr->nvals = 1;
			break;
		case R_ADD:
			for (int j = 0; j < pr->nvals && !dup; j++)
				dup = val_eq(mp->type, &pr->v[j], &nv);
			if (dup || pr->nvals == MAXVALS)
				free(nv.s);
			else
				pr->v[pr->nvals++] = nv;
			break;
		case R_SUM:
			if (pr->nvals == 0) {
				pr->v[0].s = NULL;
				pr->v[0].n = 0;
				pr->nvals = 1;
			}
			pr->v[0].n += nv.n;
			break;
		}
	}
	/* The goal's exchange mark, in the profile: once per profile. */
	for (a = 0; a < (size_t)p.nmarks && strcmp(p.mark[a], f->goal[f->cur]) != 0; a++)
		;
	if (a == (size_t)p.nmarks && p.nmarks < MAXMARKS) {
		p.mark[p.nmarks++] = strdup(f->goal[f->cur]);
		f->unique[f->cur]++;
	}
	prof_encode(f, &p);
	be64(kb, p.id);
	k.mv_data = kb;
	k.mv_size = 8;
	v.mv_data = f->sb.data;
	v.mv_size = f->sb.size;
	ck(mdb_put(f->txn, f->profiles, &k, &v, 0), "put profile");
	if (!found) {
		ident_put(f, "email", email, p.id);
		if (*sid)
			ident_put(f, "sailthru_profile_id", sid, p.id);
	}
	prof_clear(&p);
	if (++f->pending >= f->commit_rows)
		txn_commit(f);
}

static void
on_field(void *s, size_t len, void *arg)
{
	struct flr *f = arg;

	if (f->col < MAXCOLS) {
		if (len >= MAXFIELD)
			len = MAXFIELD - 1;
		memcpy(f->field[f->col], s, len);
		f->field[f->col][len] = '\0';
		f->flen[f->col] = len;
	}
	f->col++;
}

static void
on_row(int c, void *arg)
{
	struct flr *f = arg;

	(void)c;
	if (f->header) {
		f->header = 0;
		f->ncols = f->col;
		f->email_col = f->sid_col = -1;
		for (int i = 0; i < f->col && i < MAXCOLS; i++) {
			f->colmap[i] = -1;
			/* A repeated header keeps its first column. */
			for (int j = 0; j < i; j++)
				if (strcmp(f->field[i], f->field[j]) == 0)
					goto next;
			for (size_t m = 0; m < NMAPS; m++)
				if (strcmp(f->field[i], maps[m].column) == 0)
					f->colmap[i] = (int)m;
			if (strcmp(f->field[i], "Email") == 0)
				f->email_col = i;
			if (strcmp(f->field[i], "Profile Id") == 0)
				f->sid_col = i;
next:			;
		}
	} else
		apply_row(f);
	f->col = 0;
}

static void
import_file(struct flr *f, const char *path)
{
	struct csv_parser p;
	char		 buf[1 << 16];
	size_t		 n;
	FILE		*in;

	if ((in = fopen(path, "r")) == NULL)
		die(path, errno);
	/* The file's goal: its base name. */
	if (f->ngoals == MAXMARKS)
		die("too many files", E2BIG);
	f->cur = f->ngoals++;
	f->goal[f->cur] = strdup(strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	f->header = 1;
	f->col = 0;
	if (csv_init(&p, CSV_APPEND_NULL) != 0)
		die("csv_init", ENOMEM);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (csv_parse(&p, buf, n, on_field, on_row, f) != n)
			die(path, EINVAL);
	csv_fini(&p, on_field, on_row, f);
	csv_free(&p);
	fclose(in);
}

int
main(int argc, char **argv)
{
	struct flr	 f;
	struct timespec	 t0, t1;
	struct rusage	 ru;
	MDB_stat	 ms;
	double		 secs;
	int		 a = 1;

	memset(&f, 0, sizeof(f));
	f.commit_rows = 100000;
	if (a + 1 < argc && strcmp(argv[a], "--commit-rows") == 0) {
		f.commit_rows = strtoull(argv[a + 1], NULL, 10);
		a += 2;
	}
	if (argc - a < 2 || f.commit_rows == 0) {
		fprintf(stderr, "usage: plain-floor [--commit-rows N] DIR CSV...\n");
		return 64;
	}
	for (int i = 0; i < MAXCOLS; i++)
		if ((f.field[i] = malloc(MAXFIELD)) == NULL)
			die("malloc", ENOMEM);
	msgpack_sbuffer_init(&f.sb);
	if (!msgpack_zone_init(&f.zone, 4096))
		die("zone", ENOMEM);
	if (mkdir(argv[a], 0700) == -1 && errno != EEXIST)
		die(argv[a], errno);
	ck(mdb_env_create(&f.env), "env");
	mdb_env_set_maxdbs(f.env, 8);
	ck(mdb_env_set_mapsize(f.env, 64ull << 30), "mapsize");
	ck(mdb_env_open(f.env, argv[a], MDB_NORDAHEAD, 0600), "open");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	txn_begin(&f);
	ck(mdb_dbi_open(f.txn, "profiles", MDB_CREATE, &f.profiles), "dbi");
	ck(mdb_dbi_open(f.txn, "ident", MDB_CREATE, &f.ident), "dbi");
	ck(mdb_dbi_open(f.txn, "exchange", MDB_CREATE, &f.exchange), "dbi");
	ck(mdb_dbi_open(f.txn, "meta", MDB_CREATE, &f.meta), "dbi");
	for (int i = a + 1; i < argc; i++)
		import_file(&f, argv[i]);
	txn_commit(&f);
	ck(mdb_stat(f.txn, f.profiles, &ms), "stat");
	mdb_txn_abort(f.txn);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	mdb_env_close(f.env);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	getrusage(RUSAGE_SELF, &ru);
	printf("plain-floor rows=%llu skipped=%llu profiles=%zu seconds=%.2f rows_per_s=%.0f"
	    " peak_rss_kb=%ld\n", (unsigned long long)f.rows, (unsigned long long)f.skipped,
	    ms.ms_entries, secs, secs > 0 ? (double)f.rows / secs : 0.0, ru.ru_maxrss);
	return 0;
}
