/*
 * writer/writer_relane.c: owns re-laning a store: rewriting a store that
 * was written with N lanes as one with the configuration's lane count,
 * offline, each profile in the lane the fetcher routes its rows to.
 *
 * What each record becomes (README "Re-laning a store"):
 *   profiles	every profile goes to the lane of its link value: the value
 *		of the first of the configuration's link properties (the
 *		import and file goals' link.property, in file order) it has,
 *		normalized as the fetcher normalizes it, hashed as ident_lane
 *		does; with none of them, of its first unique identifier (by
 *		name); with none at all, lane 0.  A merged-away profile (a
 *		redirect) goes with the profile it points to.  Ids stay: the
 *		exporter's state and the run records name profiles by id.
 *		Staged updates (profile_runs) are read as the profiles they
 *		update, and written into profiles.
 *	ident	each entry goes with the profile it names.
 *	exchange each (connection, goal, profile) mark goes with its profile
 *		(it is in the profile, or, written before schema 3, in the
 *		exchange tree); the per-goal counts are counted again per new
 *		lane, so their sum (the goal's unique profiles) is unchanged.
 *	runstats every run's per-goal statistics, summed over the old lanes,
 *		are kept in lane 0, and an empty entry for it in every other
 *		lane, so that `stats --run N`, which sums the lanes' figures
 *		and their exchange counts, reads the same figures.
 *	applied	dropped.  Sequence numbers are per (run, lane) under the old
 *		routing; a run interrupted before re-laning is abandoned by the
 *		fetcher (its lane count changed) and a new run numbers afresh,
 *		so no old run's numbers can be applied again.
 *	meta	schema; the new lane count; each lane's id counter above every
 *		id that carries its lane number, so new ids never collide.
 *
 * What a crash costs, step by step (P is store.path, B is P.relane):
 *   - The writers' locks on every lane of P are held from the start: a
 *     writer cannot open P while this runs (it exits 75).
 *   - Building B (B/RELANE-BUILDING is there): P is untouched.  A rerun
 *     removes B and builds again.
 *   - B is whole: every lane committed durably, directories fsynced, then
 *     B/RELANE-BUILDING renamed to B/RELANE-DONE.  Not swapped yet: a
 *     rerun removes B (P may have been written since) and builds again.
 *   - The swap: renameat2(RENAME_EXCHANGE) exchanges P and B in one step,
 *     so P is always a whole store, the old or the new one.  After it, B
 *     holds the old store (no marker) and P the new (RELANE-DONE).
 *   - B is renamed to P.pre-relane.TIME (kept: remove it when satisfied),
 *     then P/RELANE-DONE removed.  A rerun that finds B without a marker
 *     renames it so, and removes a leftover P/RELANE-DONE.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "file.h"
#include "ident.h"
#include "log.h"
#include "msg.h"
#include "profile.h"
#include "stats.h"
#include "store.h"
#include "writer.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE	(1 << 1)
#endif

#define RELANE_MAX_LANES	256
#define RELANE_TXN_WRITES	20000	/* store_txn_pages of a new lane before a commit: bounds the heap */
#define RELANE_BUILDING		"RELANE-BUILDING"
#define RELANE_DONE		"RELANE-DONE"

/* Where each old record's id goes: open addressing over ids. */
struct idslot {
	uint64_t	 id;		/* 0: empty (ids are never 0) */
	uint64_t	 redirect;	/* merged into this id; 0: a profile */
	int		 lane;		/* the new lane, -1 while unresolved */
	int		 marked;	/* the record carries exchange marks */
};

/* Statistics of one (run, connection, goal), summed over the old lanes. */
struct rstat {
	uint64_t	 run;
	struct stats	 st;
};

/* The per-goal count of exchange marks in one new lane. */
struct xcount {
	unsigned	 lane;
	char		*name;		/* conn \x1f goal */
	size_t		 len;
	uint64_t	 n;
};

struct relane {
	const struct conf *c;
	unsigned	 from, to;
	char		 path[4096], build[4200];
	struct store	*old[RELANE_MAX_LANES], *new[RELANE_MAX_LANES];
	struct conf_store old_cs, new_cs;
	int		 locks[RELANE_MAX_LANES * 2];
	size_t		 nlocks;
	/* The routing: link properties, then unique ones. */
	const char	**route;
	size_t		 nroute;
	/* ids */
	struct idslot	*ids;
	size_t		 cap, nids;
	uint64_t	 idmax[RELANE_MAX_LANES];	/* by the id's lane byte */
	uint64_t	 idctr[RELANE_MAX_LANES];	/* old lanes' counters */
	/* runstats, exchange counts */
	struct rstat	*rs;
	size_t		 nrs;
	struct xcount	*xc;
	size_t		 nxc;
	uint64_t	 xold;			/* the old counts' sum */
	/* Totals, for the closing line. */
	uint64_t	 profiles, redirects, idents, marks, stats, applied;
	uint64_t	 per_lane[RELANE_MAX_LANES];
	uint64_t	 orphans;		/* ident/marks/redirects naming no profile */
	unsigned	 cur;			/* the old lane being copied */
	int		 rc;			/* store error inside a callback */
};

static struct idslot *
id_find(struct relane *r, uint64_t id, int add)
{
	size_t	 i;

	if (add && (r->nids + 1) * 2 > r->cap) {
		struct idslot *old = r->ids;
		size_t	 ocap = r->cap;

		r->cap = r->cap ? r->cap * 2 : 1u << 16;
		if ((r->ids = calloc(r->cap, sizeof(*r->ids))) == NULL)
			fatal_oom("relane");
		r->nids = 0;
		for (size_t j = 0; j < ocap; j++)
			if (old[j].id != 0)
				*id_find(r, old[j].id, 1) = old[j];
		free(old);
	}
	if (r->cap == 0)
		return NULL;
	for (i = (size_t)(id * 0x9e3779b97f4a7c15ULL) & (r->cap - 1); r->ids[i].id != 0;
	    i = (i + 1) & (r->cap - 1))
		if (r->ids[i].id == id)
			return &r->ids[i];
	if (!add)
		return NULL;
	r->ids[i].id = id;
	r->ids[i].redirect = 0;
	r->ids[i].lane = -1;
	r->ids[i].marked = 0;
	r->nids++;
	return &r->ids[i];
}

/* The new lane of a record named by id; lane 0 (counted) when none is known. */
static unsigned
id_lane(struct relane *r, uint64_t id)
{
	struct idslot *sl = id_find(r, id, 0);

	if (sl == NULL || sl->lane < 0) {
		r->orphans++;
		return 0;
	}
	return (unsigned)sl->lane;
}

/* The lane the fetcher would route p's rows to (see the top of this file). */
static unsigned
route(const struct relane *r, const struct profile *p)
{
	char	 norm[4096], num[32];
	size_t	 n;

	for (size_t i = 0; i < r->nroute; i++) {
		const struct profile_prop *pp = profile_prop_find(p, r->route[i],
		    strlen(r->route[i]));
		const struct val *v;

		if (pp == NULL || pp->nvals == 0)
			continue;
		v = &pp->vals[0];
		if (v->type == VAL_TEXT)
			n = ident_normalize(r->route[i], v->u.s.p, v->u.s.len, norm,
			    sizeof(norm));
		else if (v->type == VAL_NUMBER) {
			snprintf(num, sizeof(num), "%" PRId64, v->u.i);
			n = ident_normalize(r->route[i], num, strlen(num), norm, sizeof(norm));
		} else
			continue;
		if (n != 0 && n != (size_t)-1)
			return ident_lane(norm, n, r->to);
	}
	return 0;
}

static void
route_add(struct relane *r, const char *prop)
{
	for (size_t i = 0; i < r->nroute; i++)
		if (strcmp(r->route[i], prop) == 0)
			return;
	r->route[r->nroute++] = prop;
}

static void
route_init(struct relane *r)
{
	const struct conf *c = r->c;
	size_t	 max = c->store.nprops;

	for (size_t i = 0; i < c->nconns; i++)
		max += c->conns[i].ngoals;
	if ((r->route = calloc(max + 1, sizeof(*r->route))) == NULL)
		fatal_oom("relane");
	for (size_t i = 0; i < c->nconns; i++)
		for (size_t j = 0; j < c->conns[i].ngoals; j++) {
			const struct conf_goal *g = &c->conns[i].goals[j];

			if ((g->kind == GOAL_IMPORT || g->kind == GOAL_FILE) &&
			    g->link_property != NULL)
				route_add(r, g->link_property);
		}
	for (size_t i = 0; i < c->store.nprops; i++)
		if (c->store.props[i].unique)
			route_add(r, c->store.props[i].name);
}

static int
count_records(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	(*(uint64_t *)arg)++;
	return 0;
}

/* ---- pass 1: where every profile goes ---- */

static int
scan_profile(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct relane	*r = arg;
	struct profile	 p;
	struct arena	 a;
	struct idslot	*sl;
	char		 err[128], hex[PROFILE_ID_HEX];
	uint64_t	 id;

	if (klen != 8) {
		log_warnx("relane: lane %u: a profile key of %zu bytes", r->cur, klen);
		return r->rc = STORE_ERR;
	}
	id = store_be64_get(key);
	arena_init(&a);
	if (profile_decode(val, vlen, &p, &a, err, sizeof(err)) == -1) {
		log_warnx("relane: lane %u: undecodable profile id=%s reason=\"%s\"", r->cur,
		    profile_id_fmt(id, hex), err);
		arena_clear(&a);
		return r->rc = STORE_ERR;
	}
	sl = id_find(r, id, 1);
	if (sl->lane != -1 || sl->redirect != 0) {
		log_warnx("relane: profile id=%s is in two lanes", profile_id_fmt(id, hex));
		arena_clear(&a);
		return r->rc = STORE_ERR;
	}
	if (p.redirect != 0)
		sl->redirect = p.redirect;
	else
		sl->lane = (int)route(r, &p);
	sl->marked = p.nmarks > 0;
	if (id > r->idmax[id >> 56])
		r->idmax[id >> 56] = id;
	arena_clear(&a);
	return 0;
}

/* A redirect goes with the profile at the end of its chain. */
static void
resolve_redirects(struct relane *r)
{
	for (size_t i = 0; i < r->cap; i++) {
		struct idslot *sl = &r->ids[i], *t = sl;

		if (sl->id == 0 || sl->lane >= 0)
			continue;
		for (int d = 0; t != NULL && t->lane < 0 && d <= STORE_REDIRECT_DEPTH; d++)
			t = t->redirect ? id_find(r, t->redirect, 0) : NULL;
		if (t == NULL || t->lane < 0) {
			r->orphans++;
			sl->lane = 0;
		} else
			sl->lane = t->lane;
	}
}

/* ---- pass 2: the copy ---- */

/* Puts into new lane x, committing once its transaction reaches RELANE_TXN_WRITES pages. */
static int
put(struct relane *r, unsigned x, int db, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	int	 rc;

	if (store_txn_pages(r->new[x]) >= RELANE_TXN_WRITES) {
		if ((rc = store_commit(r->new[x])) != 0 || (rc = store_begin(r->new[x])) != 0)
			return r->rc = rc;
	}
	if ((rc = store_raw_put(r->new[x], db, k, klen, v, vlen)) != 0)
		return r->rc = rc;
	return 0;
}

static void
xcount_add(struct relane *r, unsigned lane, const char *name, size_t len)
{
	for (size_t i = 0; i < r->nxc; i++)
		if (r->xc[i].lane == lane && r->xc[i].len == len &&
		    memcmp(r->xc[i].name, name, len) == 0) {
			r->xc[i].n++;
			return;
		}
	if ((r->xc = realloc(r->xc, (r->nxc + 1) * sizeof(*r->xc))) == NULL)
		fatal_oom("relane");
	r->xc[r->nxc].lane = lane;
	r->xc[r->nxc].name = xstrndup(name, len);
	r->xc[r->nxc].len = len;
	r->xc[r->nxc].n = 1;
	r->nxc++;
}

/* A profile, and its exchange marks counted for the lane it goes to. */
static int
copy_profile(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct relane	*r = arg;
	struct idslot	*sl = id_find(r, store_be64_get(key), 0);
	unsigned	 x = sl != NULL && sl->lane >= 0 ? (unsigned)sl->lane : 0;
	struct profile	 p;
	struct arena	 a;
	char		 err[128], hex[PROFILE_ID_HEX];

	if (sl != NULL && sl->redirect)
		r->redirects++;
	else
		r->profiles++;
	r->per_lane[x]++;
	/* Pass 1 decoded every record; only those with marks are again. */
	if (sl == NULL || !sl->marked)
		return put(r, x, STORE_DB_PROFILES, key, klen, val, vlen);
	arena_init(&a);
	if (profile_decode(val, vlen, &p, &a, err, sizeof(err)) == -1) {
		log_warnx("relane: lane %u: undecodable profile id=%s reason=\"%s\"",
		    r->cur, profile_id_fmt(store_be64_get(key), hex), err);
		arena_clear(&a);
		return r->rc = STORE_ERR;
	}
	for (uint32_t i = 0; i < p.nmarks; i++)
		xcount_add(r, x, p.marks[i].p, p.marks[i].len);
	r->marks += p.nmarks;
	arena_clear(&a);
	return put(r, x, STORE_DB_PROFILES, key, klen, val, vlen);
}

static int
copy_ident(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct relane	*r = arg;

	if (vlen != 8) {
		log_warnx("relane: lane %u: an identifier entry of %zu bytes", r->cur, vlen);
		return r->rc = STORE_ERR;
	}
	r->idents++;
	return put(r, id_lane(r, store_be64_get(val)), STORE_DB_IDENT, key, klen, val, vlen);
}

/*
 * exchange keys: conn \x1f goal (the count) or conn \x1f goal \x1f id (a
 * mark).  Names hold no \x1f, so the second one, if any, ends the goal.
 */
static int
copy_exchange(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct relane	*r = arg;
	const char	*k = key, *s1, *s2;
	unsigned	 x;

	if ((s1 = memchr(k, 0x1f, klen)) == NULL) {
		log_warnx("relane: lane %u: an exchange key without a goal", r->cur);
		return r->rc = STORE_ERR;
	}
	s2 = memchr(s1 + 1, 0x1f, klen - (size_t)(s1 + 1 - k));
	if (s2 == NULL) {
		if (vlen == 8)
			r->xold += store_be64_get(val);
		return 0;	/* counted again below */
	}
	if ((size_t)(k + klen - (s2 + 1)) != 8) {
		log_warnx("relane: lane %u: an exchange mark of %zu bytes", r->cur, klen);
		return r->rc = STORE_ERR;
	}
	x = id_lane(r, store_be64_get(s2 + 1));
	r->marks++;
	xcount_add(r, x, k, (size_t)(s2 - k));
	return put(r, x, STORE_DB_EXCHANGE, key, klen, val, vlen);
}

/* runstats: run (8), lane (4), conn \x1f goal -> stats; summed per (run, conn, goal). */
static int
copy_runstats(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct relane	*r = arg;
	const char	*name = (const char *)key + 12, *sep;
	struct stats	 st;
	uint64_t	 run;
	size_t		 i, nlen;
	char		 err[256];

	if (klen < 13 || (sep = memchr(name, 0x1f, klen - 12)) == NULL) {
		log_warnx("relane: lane %u: a run stats key of %zu bytes", r->cur, klen);
		return r->rc = STORE_ERR;
	}
	nlen = klen - 12;
	run = store_be64_get(key);
	if (msg_stats_decode(val, vlen, &st, err, sizeof(err)) == -1) {
		log_warnx("relane: lane %u: undecodable run stats run=%" PRIu64
		    " reason=\"%s\"", r->cur, run, err);
		return r->rc = STORE_ERR;
	}
	for (i = 0; i < r->nrs; i++)
		if (r->rs[i].run == run &&
		    strlen(r->rs[i].st.conn) == (size_t)(sep - name) &&
		    memcmp(r->rs[i].st.conn, name, (size_t)(sep - name)) == 0 &&
		    strlen(r->rs[i].st.goal) == nlen - (size_t)(sep - name) - 1 &&
		    memcmp(r->rs[i].st.goal, sep + 1, nlen - (size_t)(sep - name) - 1) == 0)
			break;
	if (i == r->nrs) {
		if ((r->rs = realloc(r->rs, (r->nrs + 1) * sizeof(*r->rs))) == NULL)
			fatal_oom("relane");
		r->rs[i].run = run;
		stats_init(&r->rs[i].st, name, (size_t)(sep - name), sep + 1,
		    nlen - (size_t)(sep - name) - 1);
		r->nrs++;
	}
	stats_merge(&r->rs[i].st, &st);
	stats_clear(&st);
	r->stats++;
	return 0;
}

/* meta: the old lane's recorded count and id counter. */
static int
read_meta(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct relane	*r = arg;
	const unsigned char *v = val;

	if (klen == 5 && memcmp(key, "idctr", 5) == 0 && vlen == 8)
		r->idctr[r->cur] = store_be64_get(val);
	else if (klen == 5 && memcmp(key, "lanes", 5) == 0 && vlen == 4 &&
	    ((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3]) !=
	    r->from) {
		log_warnx("relane: %s/lane-%u records %u lanes, not %u", r->path, r->cur,
		    (unsigned)((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
		    (uint32_t)v[2] << 8 | v[3]), r->from);
		return r->rc = STORE_ERR;
	}
	return 0;
}

/* ---- files ---- */

static int
dir_sync(const char *path)
{
	int	 fd, rc;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* The directory that holds path (path has no trailing slash). */
static void
parent_of(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(out, outlen, ".");
	else if (slash == path)
		snprintf(out, outlen, "/");
	else
		snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

static int
exists(const char *dir, const char *name)
{
	char		 p[4400];
	struct stat	 st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

/* rm -rf of a directory this command made (lanes hold files, no subdirectories but one level). */
static int
remove_tree(const char *path)
{
	DIR	*d;
	struct dirent *de;
	char	 p[4400];
	struct stat st;

	if ((d = opendir(path)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (remove_tree(p) == -1) {
				closedir(d);
				return -1;
			}
		} else if (unlink(p) == -1) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return rmdir(path);
}

/* Keeps the old store beside the new one: P.pre-relane.TIME[.n]. */
static int
keep_old(struct relane *r, char *kept, size_t keptlen)
{
	char	 parent[4096];
	struct stat st;

	snprintf(kept, keptlen, "%s.pre-relane.%lld", r->path, (long long)time(NULL));
	for (int i = 1; stat(kept, &st) == 0; i++)
		snprintf(kept, keptlen, "%s.pre-relane.%lld.%d", r->path,
		    (long long)time(NULL), i);
	if (rename(r->build, kept) == -1)
		return -1;
	parent_of(r->path, parent, sizeof(parent));
	return dir_sync(parent);
}

/*
 * What an earlier, interrupted re-lane left (see the top of this file).
 * Returns 0, or -1 (logged).
 */
static int
recover(struct relane *r)
{
	char	 kept[4400], marker[4400];
	struct stat st;

	if (stat(r->build, &st) == 0) {
		if (exists(r->build, RELANE_BUILDING) || exists(r->build, RELANE_DONE)) {
			log_info("relane: removing the unfinished build %s", r->build);
			if (remove_tree(r->build) == -1) {
				log_warn("relane: cannot remove %s", r->build);
				return -1;
			}
		} else {
			/* Swapped, not yet renamed: the old store. */
			if (keep_old(r, kept, sizeof(kept)) == -1) {
				log_warn("relane: cannot rename %s", r->build);
				return -1;
			}
			log_info("relane: an earlier re-lane had swapped the stores; the old "
			    "one is kept at %s", kept);
		}
	}
	snprintf(marker, sizeof(marker), "%s/%s", r->path, RELANE_DONE);
	if (unlink(marker) == 0)
		dir_sync(r->path);
	return 0;
}

/*
 * Holds the writer lock of lanes 0..n-1 of P (creating their directories:
 * a writer must not start a lane while this runs) and of any other lane-L
 * there.  Returns 0, EX_TEMPFAIL when a writer holds one (logged), or
 * EX_IOERR.
 */
static int
lock_lanes(struct relane *r, unsigned n)
{
	char	 dir[4400], err[512];
	unsigned max = n;
	DIR	*d;
	struct dirent *de;
	int	 fd;

	if ((d = opendir(r->path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			unsigned l;
			char	 c;

			if (sscanf(de->d_name, "lane-%u%c", &l, &c) == 1 && l + 1 > max &&
			    l < RELANE_MAX_LANES)
				max = l + 1;
		}
		closedir(d);
	}
	for (unsigned l = 0; l < max; l++) {
		snprintf(dir, sizeof(dir), "%s/lane-%u", r->path, l);
		if (file_mkdirs(dir, 0700) == -1) {
			log_warn("relane: cannot create %s", dir);
			return EX_IOERR;
		}
		if ((fd = store_lane_lock(dir, err, sizeof(err))) == -1) {
			log_warnx("relane: %s: stop the writers first (sailsync stop)", err);
			return errno == EBUSY ? EX_TEMPFAIL : EX_IOERR;
		}
		r->locks[r->nlocks++] = fd;
	}
	return 0;
}

/* 1 when lane l of P holds profiles (it must then be one of the old lanes). */
static int
lane_has_profiles(struct relane *r, unsigned l)
{
	struct store	*s;
	char		 err[512];
	uint64_t	 n = 0;

	if ((s = store_open(&r->old_cs, l, STORE_RDONLY, err, sizeof(err))) == NULL)
		return 0;
	if (store_read_begin(s) == 0) {
		store_raw_each(s, STORE_DB_PROFILES, count_records, &n);
		store_read_end(s);
	}
	store_close(&s);
	return n > 0;
}

/* The old lane count: given, or recorded in lane-0's meta.  0 when unknown. */
static int
meta_lanes(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	const unsigned char *v = val;

	if (klen == 5 && memcmp(key, "lanes", 5) == 0 && vlen == 4)
		*(unsigned *)arg = (unsigned)((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
		    (uint32_t)v[2] << 8 | v[3]);
	return 0;
}

static unsigned
recorded_lanes(struct relane *r)
{
	struct conf_store cs = r->old_cs;
	struct store	*s;
	char		 err[512];
	unsigned	 n = 0;

	if ((s = store_open(&cs, 0, STORE_RDONLY, err, sizeof(err))) == NULL)
		return 0;
	if (store_read_begin(s) == 0)
		store_raw_each(s, STORE_DB_META, meta_lanes, &n);
	store_read_end(s);
	store_close(&s);
	return n;
}

/* ---- the command ---- */

static int
build(struct relane *r)
{
	char	 err[512], dir[4400], marker[4400], done[4400];
	uint64_t old_bytes = 0;
	int	 rc, fd;

	if (mkdir(r->build, 0700) == -1) {
		log_warn("relane: cannot create %s", r->build);
		return EX_CANTCREAT;
	}
	snprintf(marker, sizeof(marker), "%s/%s", r->build, RELANE_BUILDING);
	if ((fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1 ||
	    fsync(fd) == -1 || close(fd) == -1 || dir_sync(r->build) == -1) {
		log_warn("relane: cannot create %s", marker);
		return EX_IOERR;
	}
	for (unsigned l = 0; l < r->from; l++) {
		struct stat st;

		snprintf(dir, sizeof(dir), "%s/lane-%u/data.mdb", r->path, l);
		if (stat(dir, &st) == 0)
			old_bytes += (uint64_t)st.st_size;
		if ((r->old[l] = store_open(&r->old_cs, l, STORE_RDONLY, err,
		    sizeof(err))) == NULL) {
			log_warnx("relane: %s", err);
			return EX_NOINPUT;
		}
	}
	/* Room for everything in any one lane: no map growth while copying. */
	if (r->new_cs.map_size < 2 * old_bytes + (64u << 20))
		r->new_cs.map_size = 2 * old_bytes + (64u << 20);
	for (unsigned x = 0; x < r->to; x++)
		if ((r->new[x] = store_open(&r->new_cs, x, 0, err, sizeof(err))) == NULL) {
			log_warnx("relane: %s", err);
			return EX_IOERR;
		}

	/* Pass 1: where each profile goes. */
	for (unsigned l = 0; l < r->from; l++) {
		r->cur = l;
		if ((rc = store_read_begin(r->old[l])) != 0 ||
		    (rc = store_raw_each(r->old[l], STORE_DB_META, read_meta, r)) != 0 ||
		    (rc = store_raw_each(r->old[l], STORE_DB_PROFILES, scan_profile, r)) != 0) {
			store_read_end(r->old[l]);
			return r->rc == STORE_ERR ? EX_DATAERR : EX_IOERR;
		}
		store_read_end(r->old[l]);
	}
	resolve_redirects(r);

	/* Pass 2: every record to its new lane. */
	for (unsigned x = 0; x < r->to; x++)
		if (store_begin(r->new[x]) != 0)
			return EX_IOERR;
	for (unsigned l = 0; l < r->from; l++) {
		r->cur = l;
		if (store_read_begin(r->old[l]) != 0 ||
		    store_raw_each(r->old[l], STORE_DB_PROFILES, copy_profile, r) != 0 ||
		    store_raw_each(r->old[l], STORE_DB_IDENT, copy_ident, r) != 0 ||
		    store_raw_each(r->old[l], STORE_DB_EXCHANGE, copy_exchange, r) != 0 ||
		    store_raw_each(r->old[l], STORE_DB_RUNSTATS, copy_runstats, r) != 0 ||
		    store_raw_each(r->old[l], STORE_DB_APPLIED, count_records, &r->applied) != 0) {
			store_read_end(r->old[l]);
			return r->rc == STORE_FULL ? EX_SOFTWARE : EX_IOERR;
		}
		store_read_end(r->old[l]);
	}
	for (size_t i = 0; i < r->nxc; i++) {
		unsigned char b[8];

		store_be64_put(b, r->xc[i].n);
		if (put(r, r->xc[i].lane, STORE_DB_EXCHANGE, r->xc[i].name, r->xc[i].len, b,
		    8) != 0)
			return EX_IOERR;
	}
	for (size_t i = 0; i < r->nrs; i++) {
		struct stats	 empty;
		const struct stats *st = &r->rs[i].st;

		stats_init(&empty, st->conn, strlen(st->conn), st->goal, strlen(st->goal));
		for (unsigned x = 0; x < r->to; x++) {
			if (store_txn_pages(r->new[x]) >= RELANE_TXN_WRITES &&
			    (store_commit(r->new[x]) != 0 || store_begin(r->new[x]) != 0))
				rc = EX_IOERR;
			else if (store_stats_put(r->new[x], r->rs[i].run, x == 0 ? st :
			    &empty) != 0)
				rc = EX_IOERR;
			if (rc != 0)
				break;
		}
		stats_clear(&empty);
		if (rc != 0)
			return rc;
	}
	for (unsigned x = 0; x < r->to; x++) {
		uint64_t floor = r->idmax[x];

		if (x < r->from && r->idctr[x] > floor)
			floor = r->idctr[x];
		store_id_floor(r->new[x], floor);
		/* Durable: the swap below must never publish a lane not on disk. */
		if (store_commit(r->new[x]) != 0)
			return EX_IOERR;
		store_close(&r->new[x]);
		snprintf(dir, sizeof(dir), "%s/lane-%u", r->build, x);
		if (dir_sync(dir) == -1) {
			log_warn("relane: cannot sync %s", dir);
			return EX_IOERR;
		}
	}
	/* Whole: every lane committed and its directory entries durable. */
	snprintf(done, sizeof(done), "%s/%s", r->build, RELANE_DONE);
	if (rename(marker, done) == -1 || dir_sync(r->build) == -1) {
		log_warn("relane: cannot mark %s done", r->build);
		return EX_IOERR;
	}
	return 0;
}

/* Swaps the new store in: P and B exchanged in one step, then the old kept aside. */
static int
swap(struct relane *r, char *kept, size_t keptlen)
{
	char	 parent[4096], marker[4400];

	if (syscall(SYS_renameat2, AT_FDCWD, r->build, AT_FDCWD, r->path,
	    RENAME_EXCHANGE) == -1) {
		log_warn("relane: cannot exchange %s and %s (the new store stays at %s)",
		    r->build, r->path, r->build);
		return EX_IOERR;
	}
	parent_of(r->path, parent, sizeof(parent));
	if (dir_sync(parent) == -1) {
		log_warn("relane: cannot sync %s", parent);
		return EX_IOERR;
	}
	if (keep_old(r, kept, keptlen) == -1) {
		log_warn("relane: cannot rename %s", r->build);
		return EX_IOERR;
	}
	snprintf(marker, sizeof(marker), "%s/%s", r->path, RELANE_DONE);
	if (unlink(marker) == -1 || dir_sync(r->path) == -1)
		log_warn("relane: cannot remove %s", marker);
	return 0;
}

static void
relane_clear(struct relane *r)
{
	for (unsigned l = 0; l < RELANE_MAX_LANES; l++) {
		store_close(&r->old[l]);
		store_close(&r->new[l]);
	}
	for (size_t i = 0; i < r->nlocks; i++)
		close(r->locks[i]);
	for (size_t i = 0; i < r->nrs; i++)
		stats_clear(&r->rs[i].st);
	free(r->rs);
	for (size_t i = 0; i < r->nxc; i++)
		free(r->xc[i].name);
	free(r->xc);
	free(r->ids);
	free(r->route);
}

int
writer_relane(const struct conf *c, unsigned from, FILE *out)
{
	struct relane	*r;
	char		 kept[4400];
	size_t		 len;
	unsigned	 rec;
	uint64_t	 xnew = 0;
	int		 rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal_oom("relane");
	r->c = c;
	r->to = c->store.lanes;
	snprintf(r->path, sizeof(r->path), "%s", c->store.path);
	while ((len = strlen(r->path)) > 1 && r->path[len - 1] == '/')
		r->path[len - 1] = '\0';
	snprintf(r->build, sizeof(r->build), "%s.relane", r->path);
	r->old_cs = c->store;
	r->old_cs.path = r->path;
	r->new_cs = c->store;
	r->new_cs.path = r->build;
	r->new_cs.durable = 1;

	/* No writer may run from here to the end. */
	if ((rc = lock_lanes(r, r->to)) != 0 || recover(r) != 0) {
		rc = rc ? rc : EX_IOERR;
		goto out;
	}
	rec = recorded_lanes(r);
	if (from == 0 && rec == 0) {
		log_warnx("relane: %s/lane-0 does not record its lane count (a store "
		    "written before stores did, or none): give --from N, the lane count "
		    "it was written with", r->path);
		rc = EX_USAGE;
		goto out;
	}
	if (from != 0 && rec != 0 && from != rec) {
		log_warnx("relane: --from %u, but %s was written with %u lanes", from,
		    r->path, rec);
		rc = EX_USAGE;
		goto out;
	}
	r->from = from ? from : rec;
	if (r->from > RELANE_MAX_LANES - 1 || r->to > RELANE_MAX_LANES - 1) {
		log_warnx("relane: at most %d lanes", RELANE_MAX_LANES - 1);
		rc = EX_USAGE;
		goto out;
	}
	if (r->from == r->to) {
		fprintf(out, "relane: %s has %u lanes, as the configuration: nothing to do\n",
		    r->path, r->to);
		rc = 0;
		goto out;
	}
	/* Lanes past the old count: made by a writer with the new count, refused. */
	for (unsigned l = r->from; l < r->nlocks; l++)
		if (lane_has_profiles(r, l)) {
			log_warnx("relane: %s/lane-%u holds profiles written after the "
			    "lane count changed; only lanes 0..%u can be re-laned", r->path,
			    l, r->from - 1);
			rc = EX_DATAERR;
			goto out;
		}
	route_init(r);
	if ((rc = build(r)) != 0) {
		log_warnx("relane: failed (exit %d); %s is unchanged, and running the "
		    "command again starts over", rc, r->path);
		goto out;
	}
	if ((rc = swap(r, kept, sizeof(kept))) != 0)
		goto out;
	for (size_t i = 0; i < r->nxc; i++)
		xnew += r->xc[i].n;
	fprintf(out, "relane: %s now has %u lanes (was %u): %" PRIu64 " profiles, %"
	    PRIu64 " redirects, %" PRIu64 " identifiers, %" PRIu64 " exchange marks "
	    "(unique counts %" PRIu64 ", were %" PRIu64 "), %" PRIu64 " run statistics, %"
	    PRIu64 " applied points dropped\n", r->path, r->to, r->from, r->profiles,
	    r->redirects, r->idents, r->marks, xnew, r->xold, r->stats, r->applied);
	for (unsigned x = 0; x < r->to; x++)
		fprintf(out, "relane: lane-%u: %" PRIu64 " records\n", x, r->per_lane[x]);
	if (r->orphans)
		fprintf(out, "relane: %" PRIu64 " entries named no profile and went to "
		    "lane 0\n", r->orphans);
	fprintf(out, "relane: the old store is kept at %s; remove it once the new one "
	    "serves\n", kept);
out:
	relane_clear(r);
	free(r);
	return rc;
}
