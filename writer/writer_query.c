/* writer/writer_query.c: owns the read-only views of the store: dump, show and stats. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "conf.h"
#include "ident.h"
#include "log.h"
#include "profile.h"
#include "store.h"
#include "writer.h"

#define QUERY_MAX_BYTES	(1ull << 34)	/* a dump held in memory for sorting */

/*
 * Opens lane read-only.  Returns the store, or NULL with *missing set when
 * the lane was never written (an empty lane, not an error).
 */
static struct store *
lane_open(const struct conf *c, unsigned lane, int *missing)
{
	struct store	*s;
	char		 err[512];

	*missing = 0;
	errno = 0;
	if ((s = store_open(&c->store, lane, STORE_RDONLY, err, sizeof(err))) != NULL)
		return s;
	if (errno == ENOENT)
		*missing = 1;
	else
		log_warnx("%s", err);
	return NULL;
}

struct dump {
	char		**lines;
	size_t		 n, cap, bytes;
	int		 with_ids;
	struct buf	 b;
	int		 err;
};

static int
dump_one(const struct profile *p, void *arg)
{
	struct dump	*d = arg;

	if (p->redirect)
		return 0;
	buf_reset(&d->b);
	if (profile_json(p, d->with_ids, &d->b) == -1 ||
	    (d->bytes += d->b.len + 1) > QUERY_MAX_BYTES) {
		log_warnx("dump too large");
		d->err = 1;
		return 1;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 1024;
		char **nl = realloc(d->lines, cap * sizeof(*nl));

		if (nl == NULL)
			fatal_oom("writer_query");
		d->lines = nl;
		d->cap = cap;
	}
	if ((d->lines[d->n++] = strdup(d->b.data)) == NULL)
		fatal_oom("writer_query");
	return 0;
}

static int
line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
writer_dump(const struct conf *c, int no_ids, FILE *out)
{
	struct dump	 d;
	struct store	*s;
	int		 missing, rc = 0;

	memset(&d, 0, sizeof(d));
	d.with_ids = !no_ids;
	buf_init(&d.b, 64u << 20);
	for (unsigned lane = 0; lane < c->store.lanes && rc == 0; lane++) {
		if ((s = lane_open(c, lane, &missing)) == NULL) {
			if (!missing)
				rc = EX_IOERR;
			continue;
		}
		if (store_read_begin(s) != 0 || store_profile_each(s, dump_one, &d) < 0 ||
		    d.err)
			rc = EX_IOERR;
		store_read_end(s);
		store_close(&s);
	}
	/* Bytewise order: the same store built any way dumps the same. */
	if (rc == 0 && d.n > 1)		/* an empty store has no array */
		qsort(d.lines, d.n, sizeof(*d.lines), line_cmp);
	for (size_t i = 0; i < d.n; i++) {
		if (rc == 0 && fprintf(out, "%s\n", d.lines[i]) < 0)
			rc = EX_IOERR;
		free(d.lines[i]);
	}
	free(d.lines);
	buf_clear(&d.b);
	if (rc == 0 && fflush(out) != 0)
		rc = EX_IOERR;
	return rc;
}

static int
show_profile(const struct profile *p, FILE *out)
{
	struct buf	 b;
	int		 rc = 0;

	buf_init(&b, 64u << 20);
	if (profile_json(p, 1, &b) == -1 || fprintf(out, "%s\n", b.data) < 0)
		rc = EX_IOERR;
	buf_clear(&b);
	return rc;
}

int
writer_show(const struct conf *c, const char *what, FILE *out)
{
	struct store	*s;
	struct profile	 p;
	struct arena	 a;
	const char	*eq = strchr(what, '=');
	char		 norm[4096], prop[512];
	size_t		 nlen = 0;
	uint64_t	 id;
	int		 missing, rc = 0, found = 0;

	arena_init(&a);
	if (eq != NULL) {
		if ((size_t)(eq - what) >= sizeof(prop) || eq == what) {
			log_warnx("show: bad PROP=VALUE");
			return EX_USAGE;
		}
		memcpy(prop, what, (size_t)(eq - what));
		prop[eq - what] = '\0';
		nlen = ident_normalize(prop, eq + 1, strlen(eq + 1), norm, sizeof(norm));
		if (nlen == 0 || nlen == (size_t)-1) {
			log_warnx("show: empty or too long value");
			return EX_USAGE;
		}
	} else if (profile_id_parse(what, &id) == -1) {
		log_warnx("show: not a profile id (16 hex digits) or PROP=VALUE");
		return EX_USAGE;
	}
	if (eq == NULL) {
		/* By id: the lane that holds it, which re-laning may have changed. */
		if ((rc = store_profile_find(&c->store, id, &p, &a)) == 0) {
			found = 1;
			rc = show_profile(&p, out);
		} else
			rc = rc == STORE_ERR ? EX_IOERR : 0;
	}
	for (unsigned lane = 0; eq != NULL && lane < c->store.lanes && !found; lane++) {
		if ((s = lane_open(c, lane, &missing)) == NULL) {
			if (!missing)
				rc = EX_IOERR;
			continue;
		}
		if (store_read_begin(s) == 0) {
			int r = 0;

			r = store_ident_get(s, prop, strlen(prop), norm, nlen, &id);
			if (r == 0 && store_profile_get(s, id, &p, &a) == 0) {
				found = 1;
				rc = show_profile(&p, out);
			}
		}
		store_read_end(s);
		store_close(&s);
	}
	arena_clear(&a);
	if (rc == 0 && !found) {
		log_warnx("show: no profile for %s", what);
		rc = EX_DATAERR;
	}
	return rc;
}

static int
stats_cmp(const void *a, const void *b)
{
	const struct stats *x = a, *y = b;
	int c = strcmp(x->conn, y->conn);

	return c ? c : strcmp(x->goal, y->goal);
}

int
writer_stats(const struct conf *c, uint64_t run, FILE *out)
{
	struct stats	*g = NULL;
	size_t		 ng = 0;
	struct store	*s;
	struct buf	 b;
	int		 missing, rc = 0;

	for (unsigned lane = 0; lane < c->store.lanes && rc == 0; lane++) {
		struct stats *sts = NULL;
		size_t n = 0;

		if ((s = lane_open(c, lane, &missing)) == NULL) {
			if (!missing)
				rc = EX_IOERR;
			continue;
		}
		if (store_read_begin(s) != 0 || store_stats_load(s, run, &sts, &n) != 0)
			rc = EX_IOERR;
		for (size_t i = 0; i < n && rc == 0; i++) {
			struct stats *q = NULL;

			for (size_t j = 0; j < ng; j++)
				if (strcmp(g[j].conn, sts[i].conn) == 0 &&
				    strcmp(g[j].goal, sts[i].goal) == 0)
					q = &g[j];
			if (q == NULL) {
				if ((g = realloc(g, (ng + 1) * sizeof(*g))) == NULL)
					fatal_oom("writer_query");
				q = &g[ng++];
				stats_init(q, sts[i].conn, strlen(sts[i].conn), sts[i].goal,
				    strlen(sts[i].goal));
			}
			/* The unique count is the exchange's, not the run's. */
			sts[i].unique = 0;
			store_exchange_count_get(s, sts[i].conn, strlen(sts[i].conn),
			    sts[i].goal, strlen(sts[i].goal), &sts[i].unique);
			stats_merge(q, &sts[i]);
		}
		store_stats_free(sts, n);
		store_read_end(s);
		store_close(&s);
	}
	buf_init(&b, 64u << 20);
	if (ng)
		qsort(g, ng, sizeof(*g), stats_cmp);
	buf_printf(&b, "{\"run\":%" PRIu64 ",\"goals\":[", run);
	for (size_t i = 0; i < ng; i++) {
		buf_addstr(&b, i ? ",{\"conn\":" : "{\"conn\":");
		val_json_str(&b, g[i].conn, strlen(g[i].conn));
		buf_addstr(&b, ",\"goal\":");
		val_json_str(&b, g[i].goal, strlen(g[i].goal));
		buf_addstr(&b, ",");
		stats_json(&g[i], STATS_IMPORT, &b);
		buf_addstr(&b, "}");
		stats_clear(&g[i]);
	}
	buf_addstr(&b, "]}");
	free(g);
	if (rc == 0 && (b.data == NULL || fprintf(out, "%s\n", b.data) < 0 || fflush(out) != 0))
		rc = EX_IOERR;
	buf_clear(&b);
	return rc;
}
