/* writer/writer.c: owns applying PATCHES to a lane's store in sequence order, group commits and ACKs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "conf_follow.h"
#include "ident.h"
#include "log.h"
#include "msg.h"
#include "profile.h"
#include "runauth.h"
#include "store.h"
#include "timefmt.h"
#include "writer.h"

#define WRITER_MAX_MATCH	16	/* distinct profiles one record may match */
#define WRITER_MAX_NOTES	64	/* notes one record may add */
#define WRITER_MAX_LOOKUPS	16	/* identifier lookups one record remembers */
#define WRITER_LAST_QUEUE	16	/* changes held back for the last five */
#define WRITER_PROP_SLOTS	64	/* property names remembered per batch (2^n) */
#define WRITER_MAX_RUNS		64	/* runs whose state is cached */
#define WRITER_SCRATCH_MAX	(8u << 20)	/* record arena is cleared past this */
#define WRITER_RATIOS		4	/* commits whose pages group_pages weighs */
#define WRITER_RATIO_MIN	1024	/* estimated pages a commit needs to count */
#define WRITER_RATIO_SPARE	1.1	/* group_pages: headroom over the ratio */

/* Stats of one goal in one run, as in the open transaction. */
struct wgoal {
	struct stats	 st;
	int			 dirty;
};

/* State of one run in this lane. */
struct wrun {
	uint64_t	 run;
	uint64_t	 applied;	/* in the open transaction */
	uint64_t	 committed;	/* durable */
	uint64_t	 received;	/* highest seq seen */
	char		*conn;		/* for ACKs */
	int		 loaded;	/* applied and goals read from the store */
	int		 touched;	/* changed in the open transaction */
	int		 ack_due;
	int		 ack_unsent;	/* its last ACK found no fetcher: due again */
	size_t		 ngoals;
	struct wgoal	*goals;
};

/* Data exchange count of one (conn, goal), as in the open transaction. */
struct exch_count {
	char		*conn, *goal;
	uint64_t	 count;
	int		 dirty;
};

/*
 * A batch the writer keeps: held until its turn, or applied in the open
 * group and kept to apply again should the map fill before the commit
 * (redo).  A batch that came as a frame keeps the frame, and its decoded
 * form only while it is applied: decoded, the benchmark's rows took 1.8
 * KB each against 470 bytes as sent, so a group of 64,000 rows kept 114
 * MiB of the writer's heap for a redo that seldom comes, where its
 * frames take 29 MiB; and with two mappers a writer held up to 54
 * batches early (121 MiB).  A redo, or a held batch's turn, decodes the
 * frame again.
 */
struct gbatch {
	struct msg_batch	*b;	/* decoded; NULL while only raw is kept */
	unsigned char		*raw;	/* the frame b was decoded from, or NULL */
	size_t			 len;
	uint64_t		 run, seq_first;	/* b's, for a held frame */
	uint32_t		 n;		/* b's records */
};

struct writer {
	const struct conf	*conf;		/* follow.c: the configuration in force */
	struct conf_follow	 follow;
	unsigned		 lane;
	struct store		*st;
	int			 txn;		/* a write transaction is open */

	struct wrun		*runs;
	size_t			 nruns;
	struct exch_count	*exch;
	size_t			 nexch;

	/* Batches applied in the open transaction, kept to redo the group. */
	struct gbatch		*group;
	size_t			 ngroup, capgroup;
	/* Batches ahead of applied + 1, waiting for the gap to fill. */
	struct gbatch		*held;
	size_t			 nheld, maxheld;
	size_t			 held_bytes;	/* their arenas and frames, at most WRITER_HOLD_BYTES */
	uint64_t		 maxahead;	/* seq_first at most applied + 1 + this */

	uint64_t		 rows;		/* uncommitted records */
	int64_t			 first_ms;	/* mono time of the first of them */
	int64_t			 last_commit_ms;	/* how long the last commit took */
	double			 wrote_per_est[WRITER_RATIOS]; /* recent commits (group_pages) */
	unsigned		 nratios;	/* commits measured so far */
	int64_t			 fold_ms;	/* the last fold step, while one goes on */
	uint64_t		 ack_last;	/* run of the last ACK writer_ack_next gave */

	const char		**uniq;		/* unique identifier properties */
	size_t			 nuniq;

	struct arena		 scratch;	/* per-record profiles */
	struct buf		 chg;		/* a record's change, for the last five */
	struct writer_counters	 cnt;
	int			 nospace;	/* the last failure was STORE_NOSPACE */
};

static void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		fatal_oom("writer");
	if ((p = realloc(p, n * size)) == NULL && n)
		fatal_oom("writer");
	return p;
}

static int
streq(const char *s, struct str t)
{
	return strlen(s) == t.len && (t.len == 0 || memcmp(s, t.p, t.len) == 0);
}

/* The unique identifier properties of the configuration in force. */
static void
uniq_set(struct writer *w)
{
	const struct conf *c = w->conf;

	w->nuniq = 0;
	w->uniq = xreallocarray(w->uniq, c->store.nprops + 1, sizeof(*w->uniq));
	for (size_t i = 0; i < c->store.nprops; i++)
		if (c->store.props[i].unique)
			w->uniq[w->nuniq++] = c->store.props[i].name;
}

struct writer *
writer_open(const struct conf *c, unsigned lane, char *err, size_t errlen)
{
	struct writer	*w;

	if (lane >= c->store.lanes || lane > 255) {
		snprintf(err, errlen, "lane %u out of range (store.lanes %u)", lane,
		    c->store.lanes);
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->conf = c;
	w->lane = lane;
	if ((w->st = store_open(&c->store, lane, 0, err, errlen)) == NULL) {
		free(w);
		return NULL;
	}
	conf_follow_init(&w->follow, c, CONF_DIGEST_WRITER);
	w->maxheld = (size_t)WRITER_HOLD_FACTOR * (c->pipe.window ? c->pipe.window : 64);
	w->maxahead = (uint64_t)w->maxheld * (c->pipe.batch_rows ? c->pipe.batch_rows : 1000);
	w->held = xreallocarray(NULL, w->maxheld, sizeof(*w->held));
	uniq_set(w);
	arena_init(&w->scratch);
	buf_init(&w->chg, STATS_CHANGES_MAX + 64);
	return w;
}

static void
batch_free(struct msg_batch **bp)
{
	if (*bp == NULL)
		return;
	msg_batch_clear(*bp);
	free(*bp);
	*bp = NULL;
}

static void
gbatch_free(struct gbatch *g)
{
	batch_free(&g->b);
	free(g->raw);
	g->raw = NULL;
	g->len = 0;
}

/* What a held batch counts against WRITER_HOLD_BYTES. */
static size_t
gbatch_bytes(const struct gbatch *g)
{
	return (g->b ? g->b->arena.total : 0) + g->len;
}

static void
run_unload(struct wrun *r)
{
	for (size_t i = 0; i < r->ngoals; i++)
		stats_clear(&r->goals[i].st);
	free(r->goals);
	r->goals = NULL;
	r->ngoals = 0;
	r->loaded = 0;
	r->touched = 0;
	r->applied = r->committed;
}

static void
exch_reset(struct writer *w)
{
	for (size_t i = 0; i < w->nexch; i++) {
		free(w->exch[i].conn);
		free(w->exch[i].goal);
	}
	free(w->exch);
	w->exch = NULL;
	w->nexch = 0;
}

static void
group_reset(struct writer *w)
{
	for (size_t i = 0; i < w->ngroup; i++)
		gbatch_free(&w->group[i]);
	w->ngroup = 0;
}

void
writer_close(struct writer **wp)
{
	struct writer *w = *wp;

	if (w == NULL)
		return;
	if (w->txn)
		store_abort(w->st);
	store_close(&w->st);
	for (size_t i = 0; i < w->nruns; i++) {
		run_unload(&w->runs[i]);
		free(w->runs[i].conn);
	}
	free(w->runs);
	exch_reset(w);
	group_reset(w);
	free(w->group);
	for (size_t i = 0; i < w->nheld; i++)
		gbatch_free(&w->held[i]);
	free(w->held);
	free(w->uniq);
	arena_clear(&w->scratch);
	conf_follow_clear(&w->follow);
	buf_clear(&w->chg);
	free(w);
	*wp = NULL;
}

const struct writer_counters *
writer_counters(const struct writer *w)
{
	return &w->cnt;
}

int
writer_no_space(const struct writer *w)
{
	return w->nospace;
}

size_t
writer_held(const struct writer *w)
{
	return w->nheld;
}

uint64_t
writer_uncommitted(const struct writer *w)
{
	return w->rows;
}

/* store.txn_mb in pages: the map room a group or a fold step may need. */
static uint64_t
budget_pages(const struct writer *w)
{
	return ((uint64_t)w->conf->store.txn_mb << 20) / STORE_PAGE_BYTES;
}

/*
 * What a group may change: store.txn_mb less the heap of the identifiers
 * waiting to be staged (up to about 30 MiB; 8 MiB at 1M benchmark rows,
 * 12 at 10M), in pages, so that the two together stay within
 * store.txn_mb however large the store grows.  The store's filters take
 * store.filter_mb besides, whatever its size.  A quarter of store.txn_mb
 * at least.
 */
static uint64_t
group_budget(const struct writer *w)
{
	uint64_t	 all = budget_pages(w);
	uint64_t	 own = store_pend_bytes(w->st) / STORE_PAGE_BYTES;

	return own + all / 4 > all ? all / 4 : all - own;
}

/*
 * The pages the open group has dirtied: the store's estimate, scaled by
 * the largest ratio of pages written to pages estimated over the last
 * WRITER_RATIOS commits (1 before any).  The estimate draws each put's
 * page at random, and a group's puts share pages more than that: at 1M
 * and 5M rows commits wrote 0.55 to 0.76 of it, so a budget in estimated
 * pages bound the heap at about 70% of store.txn_mb, and only in large
 * stores: at 1M rows groups stopped at the fetcher's window first, with
 * 30,000 pages, at 5M at the budget, with 45,000 (the writer's heap
 * 233 and 295 MiB).  The largest recent ratio, not the mean: the heap's
 * peak is its largest group; and a tenth more, because the ratio rises
 * from one commit to the next as the stage fills between folds (0.60 to
 * 0.77 at 5M rows): by the largest of the last four alone, groups wrote
 * up to 11% more than their budget.
 */
static uint64_t
group_pages(const struct writer *w)
{
	double	 r = 0;

	for (unsigned i = 0; i < w->nratios && i < WRITER_RATIOS; i++)
		if (w->wrote_per_est[i] > r)
			r = w->wrote_per_est[i];
	r = w->nratios ? r * WRITER_RATIO_SPARE : 1;
	return (uint64_t)((double)store_txn_pages(w->st) * r);
}

int64_t
writer_due_in(const struct writer *w)
{
	int64_t	 left, span, cap;

	if (w->rows == 0)
		return -1;
	/*
	 * A group is committed once the pages its transaction has dirtied
	 * (group_pages) and the store's filters together may hold
	 * store.txn_mb (group_budget), whatever commit_rows says: dirty
	 * pages are heap until the commit, so this caps the writer's heap
	 * however large the store grows.
	 */
	if (w->rows >= w->conf->store.commit_rows ||
	    group_pages(w) >= group_budget(w))
		return 0;
	/*
	 * Grouping by time: commit_ms after the first uncommitted record, or
	 * four times what the last commit took when that is longer.  A
	 * durable commit costs a disk barrier; on a slow or busy disk a
	 * fixed 300 ms made the writer commit as often as it could and
	 * spend most of its time in commits (512 commits, 43% of a 1M-row
	 * import).  Stretching the group keeps commits under about a fifth
	 * of the time; the group stays bounded by commit_rows,
	 * txn_pages and the fetcher's window (a full window idles the
	 * input, and an idle input commits).
	 *
	 * The stretch stops at half of pipeline.resend_ms less the commit
	 * itself: a fetcher that hears no ACK for resend_ms sends its whole
	 * window again.  Under a load of 15 on 2 cores commits took 1.3 s,
	 * groups 5.2 s, and a 5M-row import resent 64 batches 140 times
	 * (9M rows mapped and decoded again for nothing).
	 */
	span = (int64_t)w->conf->store.commit_ms;
	if (4 * w->last_commit_ms > span)
		span = 4 * w->last_commit_ms;
	cap = (int64_t)w->conf->pipe.resend_ms / 2 - w->last_commit_ms - w->fold_ms;
	if (w->conf->pipe.resend_ms > 0 && span > cap)
		span = cap > (int64_t)w->conf->store.commit_ms ? cap :
		    (int64_t)w->conf->store.commit_ms;
	left = w->first_ms + span - time_mono_ms();
	return left < 0 ? 0 : left;
}

/*
 * Opens the write transaction when none is, after making room in the map
 * for the pages a group may change (store.txn_mb): a group that finds the
 * map full is applied again after the map grows (redo), while the input
 * received meanwhile waits in the heap (at 10M rows, a redo after the
 * 4 GiB map filled took 4 s and raised the writer's peak heap from 378 to
 * 408 MiB).
 */
static int
txn_ensure(struct writer *w)
{
	int	 rc;

	if (w->txn)
		return 0;
	if ((rc = store_reserve(w->st, budget_pages(w))) < 0)
		return rc;
	w->cnt.grows += (uint64_t)rc;
	if ((rc = store_begin(w->st)) != 0)
		return rc;
	w->txn = 1;
	return 0;
}

/* Reads a run's applied point and goal stats (in whatever txn is open). */
static int
run_load(struct writer *w, struct wrun *r)
{
	struct stats	*sts;
	size_t			 n;
	int			 rc;

	if (r->loaded)
		return 0;
	if ((rc = store_applied_get(w->st, r->run, &r->committed)) != 0)
		return rc;
	r->applied = r->committed;
	if ((rc = store_stats_load(w->st, r->run, &sts, &n)) != 0)
		return rc;
	r->goals = xreallocarray(NULL, n ? n : 1, sizeof(*r->goals));
	for (size_t i = 0; i < n; i++) {
		r->goals[i].st = sts[i];
		r->goals[i].dirty = 0;
	}
	free(sts);	/* contents moved into r->goals */
	r->ngoals = n;
	r->loaded = 1;
	return 0;
}

/* The run's state, loaded; NULL with *rc set on a store failure. */
static struct wrun *
run_get(struct writer *w, uint64_t run, struct str conn, int *rc)
{
	struct wrun	*r = NULL;

	for (size_t i = 0; i < w->nruns; i++)
		if (w->runs[i].run == run) {
			r = &w->runs[i];
			break;
		}
	if (r == NULL) {
		if (w->nruns >= WRITER_MAX_RUNS) {
			/* Forget the oldest run that has nothing pending. */
			for (size_t i = 0; i < w->nruns; i++) {
				struct wrun *o = &w->runs[i];

				if (o->touched || o->ack_due || o->ack_unsent)
					continue;
				run_unload(o);
				free(o->conn);
				memmove(o, o + 1, (w->nruns - i - 1) * sizeof(*o));
				w->nruns--;
				break;
			}
		}
		w->runs = xreallocarray(w->runs, w->nruns + 1, sizeof(*w->runs));
		r = &w->runs[w->nruns++];
		memset(r, 0, sizeof(*r));
		r->run = run;
	}
	if (r->conn == NULL && conn.len)
		r->conn = xstrndup(conn.p, conn.len);
	*rc = run_load(w, r);
	return *rc ? NULL : r;
}

static struct wgoal *
run_goal(struct wrun *r, struct str conn, struct str goal)
{
	for (size_t i = 0; i < r->ngoals; i++)
		if (streq(r->goals[i].st.conn, conn) && streq(r->goals[i].st.goal, goal))
			return &r->goals[i];
	r->goals = xreallocarray(r->goals, r->ngoals + 1, sizeof(*r->goals));
	stats_init(&r->goals[r->ngoals].st, conn.p ? conn.p : "", conn.len, goal.p ? goal.p : "",
	    goal.len);
	r->goals[r->ngoals].dirty = 0;
	return &r->goals[r->ngoals++];
}

static struct exch_count *
exch_get(struct writer *w, const char *conn, size_t clen, const char *goal, size_t glen,
    int *rc)
{
	struct exch_count	*ec;

	*rc = 0;
	for (size_t i = 0; i < w->nexch; i++) {
		ec = &w->exch[i];
		if (strlen(ec->conn) == clen && memcmp(ec->conn, conn, clen) == 0 &&
		    strlen(ec->goal) == glen && memcmp(ec->goal, goal, glen) == 0)
			return ec;
	}
	w->exch = xreallocarray(w->exch, w->nexch + 1, sizeof(*w->exch));
	ec = &w->exch[w->nexch];
	memset(ec, 0, sizeof(*ec));
	if ((*rc = store_exchange_count_get(w->st, conn, clen, goal, glen, &ec->count)) != 0)
		return NULL;
	ec->conn = xstrndup(conn, clen);
	ec->goal = xstrndup(goal, glen);
	w->nexch++;
	return ec;
}

/*
 * One identifier index lookup made for the record being applied.  Until
 * the record's own writes (apply_store) the index cannot change, so the
 * same (property, value) asked again is answered from here: resolving a
 * record and checking that its unique values are free ask the same keys.
 */
struct lookup {
	struct str	 prop, value;
	int		 rc;		/* 0 or STORE_NOTFOUND */
	uint64_t	 id;
};

/*
 * The configured property of a name, remembered for one batch (struct
 * apply lives for one batch, and the configuration is only adopted
 * between batches).  The records of a batch name the same few
 * properties over and over: a slot chosen by a hash of the name, and one
 * compare with the name seen there last, replace a binary search of the
 * declared properties (a strlen and a memcmp per step), which was 3% of
 * the writer's CPU.  Two names in one slot take turns.  name points into
 * the batch.
 */
struct prop_slot {
	struct str		 name;
	const struct conf_prop	*cp;	/* NULL: not declared */
	int			 set;
};

/* Everything about one record being applied. */
struct apply {
	struct writer		*w;
	const struct msg_batch	*b;
	const struct msg_patch	*p;
	struct wgoal		*g;
	const struct conf_conn	*conn;
	char			*mark;		/* the goal's exchange mark */
	size_t			 marklen;
	uint32_t		 nm;
	struct profile		 m[WRITER_MAX_MATCH];	/* matched, as stored */
	uint32_t		 nnotes;
	char			*notes[WRITER_MAX_NOTES];
	uint32_t		 nlookups;
	struct lookup		 lookups[WRITER_MAX_LOOKUPS];
	/* Applied records whose change is not written out yet (apply_last). */
	uint32_t		 nq;
	struct {
		const struct msg_patch	*p;
		int			 created;
		struct profile		 before, work;	/* into the record arenas */
	} q[WRITER_LAST_QUEUE];
	struct prop_slot	 props[WRITER_PROP_SLOTS];	/* prop_find */
};

/* conf_prop_find of name, through app's slots: the declared property, or NULL. */
static const struct conf_prop *
prop_find(struct apply *app, struct str name)
{
	struct prop_slot	*slot;
	size_t			 h = name.len;

	if (name.len)
		h ^= (size_t)(unsigned char)name.p[0] << 2 ^
		    (size_t)(unsigned char)name.p[name.len / 2] << 4 ^
		    (size_t)(unsigned char)name.p[name.len - 1] * 7;
	slot = &app->props[h & (WRITER_PROP_SLOTS - 1)];
	if (!slot->set || slot->name.len != name.len ||
	    (name.len && memcmp(slot->name.p, name.p, name.len) != 0)) {
		slot->name = name;
		slot->cp = conf_prop_find(&app->w->conf->store, name.p, name.len);
		slot->set = 1;
	}
	return slot->cp;
}

/*
 * store_ident_get for the record being applied, remembered (struct lookup).
 * Valid only before the record writes the index.  Returns 0,
 * STORE_NOTFOUND, or a store code.
 */
static int
apply_ident_get(struct apply *app, const char *prop, size_t plen, const char *val,
    size_t vlen, uint64_t *id)
{
	struct lookup	*l;
	int		 rc;

	for (uint32_t i = 0; i < app->nlookups; i++) {
		l = &app->lookups[i];
		if (l->prop.len == plen && l->value.len == vlen &&
		    memcmp(l->prop.p, prop, plen) == 0 &&
		    (vlen == 0 || memcmp(l->value.p, val, vlen) == 0)) {
			*id = l->id;
			return l->rc;
		}
	}
	rc = store_ident_get(app->w->st, prop, plen, val, vlen, id);
	if ((rc == 0 || rc == STORE_NOTFOUND) && app->nlookups < WRITER_MAX_LOOKUPS) {
		l = &app->lookups[app->nlookups++];
		l->prop.p = prop;
		l->prop.len = plen;
		l->value.p = val;
		l->value.len = vlen;
		l->rc = rc;
		l->id = rc == 0 ? *id : 0;
	}
	return rc;
}

static void
apply_note(struct apply *app, const char *reason, struct str prop)
{
	char	*n;
	size_t	 rl = strlen(reason);

	if (app->nnotes >= WRITER_MAX_NOTES)
		return;
	n = arena_alloc(&app->w->scratch, rl + 1 + prop.len + 1);
	memcpy(n, reason, rl);
	n[rl] = ':';
	if (prop.len)
		memcpy(n + rl + 1, prop.p, prop.len);
	n[rl + 1 + prop.len] = '\0';
	app->notes[app->nnotes++] = n;
}

static void
apply_skip(struct apply *app, const char *reason, size_t len)
{
	app->g->st.skipped++;
	stats_reason_add(&app->g->st, reason, len, 1);
	app->g->dirty = 1;
}

static int
in_merge(const struct conf *c, struct str prop)
{
	for (size_t i = 0; i < c->store.nmerge; i++)
		if (streq(c->store.merge[i], prop))
			return 1;
	return 0;
}

/* 1 when id is the profile being written (self) or one merged into it now. */
static int
ident_ours(const struct apply *app, uint64_t self, uint64_t id)
{
	for (uint32_t i = 0; i < app->nm; i++)
		if (app->m[i].id == id)
			return 1;
	return self && id == self;
}

/*
 * 1 when a profile this record matched holds text value val of unique
 * property prop.  ident_sync points the index entry of every unique value
 * a profile holds at that profile (a merged loser's at the survivor), so
 * a lookup of such a value resolves to the profile already read: it is
 * not made.  Most updates name their profile by two identifiers it
 * holds; the second lookup was a tree descent per record.
 */
static int
held_by_match(const struct apply *app, const char *prop, size_t plen, const char *val,
    size_t vlen)
{
	for (uint32_t k = 0; k < app->nm; k++) {
		const struct profile_prop *pp = profile_prop_find(&app->m[k], prop, plen);

		for (uint32_t i = 0; pp && i < pp->nvals; i++) {
			const struct val *v = &pp->vals[i];

			if (v->type == VAL_TEXT && v->u.s.len == vlen &&
			    (vlen == 0 || memcmp(v->u.s.p, val, vlen) == 0))
				return 1;
		}
	}
	return 0;
}

/*
 * 1 when unique property value v may be given to the profile being
 * written: the index has no entry, or one that resolves to it or to a
 * profile merged into it now.
 */
static int
ident_free(struct apply *app, uint64_t self, const char *prop, const struct val *v, int *rc)
{
	struct writer	*w = app->w;
	struct profile	 o;
	uint64_t	 id;

	*rc = 0;
	if (v->type != VAL_TEXT)
		return 1;
	if (held_by_match(app, prop, strlen(prop), v->u.s.p, v->u.s.len))
		return 1;
	*rc = apply_ident_get(app, prop, strlen(prop), v->u.s.p, v->u.s.len, &id);
	if (*rc == STORE_NOTFOUND) {
		*rc = 0;
		return 1;
	}
	if (*rc)
		return 0;
	if (ident_ours(app, self, id))
		return 1;
	*rc = store_profile_get(w->st, id, &o, &w->scratch);
	if (*rc == STORE_NOTFOUND) {
		*rc = 0;	/* dangling entry: it may be taken over */
		return 1;
	}
	if (*rc)
		return 0;
	return ident_ours(app, self, o.id);
}

static int
vals_has(const struct profile_prop *pp, const struct val *v)
{
	if (pp == NULL)
		return 0;
	for (uint32_t i = 0; i < pp->nvals; i++)
		if (val_equal(&pp->vals[i], v))
			return 1;
	return 0;
}

/* Points prop's index entry of each text value of pp that skip lacks at id. */
static int
ident_point(struct writer *w, const char *prop, size_t plen, const struct profile_prop *pp,
    const struct profile_prop *skip, uint64_t id)
{
	int	 rc;

	for (uint32_t i = 0; pp && i < pp->nvals; i++) {
		const struct val *v = &pp->vals[i];

		if (v->type != VAL_TEXT || vals_has(skip, v))
			continue;
		if ((rc = store_ident_put(w->st, prop, plen, v->u.s.p, v->u.s.len, id)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Brings the ident index in step for unique property prop: values the
 * survivor gained (or took over from a loser) point to it; values a `set`
 * removed lose their entry when it still points to the survivor.
 */
static int
ident_sync(struct apply *app, const char *prop, const struct profile *before,
    const struct profile *after)
{
	struct writer		*w = app->w;
	size_t			 plen = strlen(prop);
	const struct profile_prop *bp = before ? profile_prop_find(before, prop, plen) : NULL;
	const struct profile_prop *ap = profile_prop_find(after, prop, plen);
	uint64_t		 id;
	int			 rc;

	if ((rc = ident_point(w, prop, plen, ap, bp, after->id)) != 0)
		return rc;
	/* Losers' values, kept by the survivor or not, resolve to it now. */
	for (uint32_t k = 0; k < app->nm; k++) {
		if (app->m[k].id != after->id &&
		    (rc = ident_point(w, prop, plen, profile_prop_find(&app->m[k], prop, plen),
		    ap, after->id)) != 0)
			return rc;
	}
	for (uint32_t i = 0; bp && i < bp->nvals; i++) {
		const struct val *v = &bp->vals[i];

		if (v->type != VAL_TEXT || vals_has(ap, v))
			continue;
		rc = store_ident_get(w->st, prop, plen, v->u.s.p, v->u.s.len, &id);
		if (rc == STORE_NOTFOUND || (rc == 0 && id != after->id))
			continue;
		if (rc != 0 || (rc = store_ident_del(w->st, prop, plen, v->u.s.p,
		    v->u.s.len)) != 0)
			return rc == STORE_NOTFOUND ? 0 : rc;
	}
	return 0;
}

/* A shallow copy whose property array may change without touching src's. */
static void
profile_work(struct profile *dst, const struct profile *src, struct arena *a)
{
	*dst = *src;
	dst->cap = src->nprops + 4;
	/* The spare slots are written when a property is inserted. */
	dst->props = arena_take(a, sizeof(*dst->props) * dst->cap);
	if (src->nprops)
		memcpy(dst->props, src->props, sizeof(*dst->props) * src->nprops);
}

/*
 * A profile's stage in lifecycle NAME lives in "$lifecycle.NAME", one text
 * value.  Lifecycles are not declared in the store configuration, so any
 * such property is accepted with that shape.
 */
static const struct conf_prop *
lifecycle_prop(struct str prop)
{
	static const struct conf_prop lc = { NULL, VAL_TEXT, 0, 0 };
	static const char pfx[] = "$lifecycle.";

	if (prop.len > sizeof(pfx) - 1 && memcmp(prop.p, pfx, sizeof(pfx) - 1) == 0)
		return &lc;
	return NULL;
}

static int
apply_ops(struct apply *app, struct profile *work, uint64_t self)
{
	int			 rc;

	for (uint32_t i = 0; i < app->p->nops; i++) {
		const struct msg_op	*op = &app->p->ops[i];
		const struct conf_prop	*cp = prop_find(app, op->prop);
		enum val_type		 type;
		int			 taken = 0;

		if (cp == NULL)
			cp = lifecycle_prop(op->prop);
		if (cp == NULL) {
			apply_note(app, "unknown_property", op->prop);
			continue;
		}
		type = op->nvals ? op->vals[0].type : cp->type;
		if (type != cp->type && op->op != OP_SUM) {
			apply_note(app, "type_mismatch", op->prop);
			continue;
		}
		if (cp->unique && op->op != OP_SUM) {
			for (uint32_t j = 0; j < op->nvals && !taken; j++) {
				taken = !ident_free(app, self, cp->name, &op->vals[j], &rc);
				if (rc)
					return rc;
			}
			if (taken) {
				apply_note(app, "identifier_taken", op->prop);
				continue;
			}
		}
		switch (profile_rule_apply(work, &app->w->scratch, op->op, op->prop.p,
		    op->prop.len, type, cp->multi, op->vals, op->nvals)) {
		case PROFILE_RULE_OK:
			break;
		case PROFILE_RULE_TYPE:
			apply_note(app, "type_mismatch", op->prop);
			break;
		case PROFILE_RULE_NAN:
			apply_note(app, "sum_not_a_number", op->prop);
			break;
		case PROFILE_RULE_OVERFLOW:
			apply_note(app, "sum_overflow", op->prop);
			break;
		default:
			apply_note(app, "too_many_values", op->prop);
			break;
		}
	}
	return 0;
}

static int
consented(const struct apply *app, const struct profile *p)
{
	if (app->conn == NULL || app->conn->nobjectives == 0)
		return 1;
	return profile_has_text(p, "$consents", app->conn->objectives, app->conn->nobjectives);
}

static int
id_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct profile *)a)->id, y = ((const struct profile *)b)->id;

	return x < y ? -1 : x > y;
}

/*
 * Step 1: resolves every identifier of the record to a distinct surviving
 * profile, into app->m (app->nm of them, oldest first).  *skipped is set
 * when the record is set aside (no_identifier, bad_identifier,
 * invalid_identifier, no_match, identifier_conflict).  Returns 0 or a
 * store code.
 */
static int
apply_resolve(struct writer *w, struct apply *app, int *skipped)
{
	const struct msg_patch	*p = app->p;
	struct str		 matched[WRITER_MAX_MATCH];	/* into the batch */
	uint32_t		 nmatched = 0;
	int			 rc;

	*skipped = 1;
	/*
	 * A patch from a peer: refuse what would make a profile nobody can
	 * reach (no identifier, an empty one, a property that is not a
	 * declared unique identifier, text a lookup could never match).
	 */
	if (p->nids == 0) {
		apply_skip(app, "no_identifier", 13);
		return 0;
	}
	for (uint32_t i = 0; i < p->nids; i++) {
		const struct msg_ident *id = &p->ids[i];
		const struct conf_prop *cp = prop_find(app, id->prop);

		if (cp == NULL || !cp->unique) {
			apply_skip(app, "bad_identifier", 14);
			return 0;
		}
		if (id->value.len == 0) {
			apply_skip(app, "no_identifier", 13);
			return 0;
		}
		if (!val_text_valid(id->value.p, id->value.len)) {
			apply_skip(app, "invalid_identifier", 18);
			return 0;
		}
	}
	/* Resolve every identifier to a distinct (surviving) profile. */
	for (uint32_t i = 0; i < p->nids; i++) {
		const struct msg_ident *id = &p->ids[i];
		struct profile	*m;
		uint64_t	 pid;
		uint32_t	 k;

		if (held_by_match(app, id->prop.p, id->prop.len, id->value.p, id->value.len)) {
			if (nmatched < WRITER_MAX_MATCH)
				matched[nmatched++] = id->prop;
			continue;
		}
		rc = apply_ident_get(app, id->prop.p, id->prop.len, id->value.p,
		    id->value.len, &pid);
		if (rc == STORE_NOTFOUND)
			continue;
		if (rc)
			return rc;
		if (app->nm == WRITER_MAX_MATCH) {
			apply_skip(app, "identifier_conflict", 19);
			return 0;
		}
		/*
		 * Already read as a survivor (most records name one profile by
		 * both identifiers): no second read and decode.  A pid that
		 * redirects to one of them is read and found a duplicate below.
		 */
		for (k = 0; k < app->nm; k++)
			if (app->m[k].id == pid)
				break;
		if (k == app->nm) {
			m = &app->m[app->nm];
			rc = store_profile_get(w->st, pid, m, &w->scratch);
			if (rc == STORE_NOTFOUND)
				continue;
			if (rc)
				return rc;
			for (k = 0; k < app->nm; k++)
				if (app->m[k].id == m->id)
					break;
			if (k == app->nm)
				app->nm++;
		}
		if (nmatched < WRITER_MAX_MATCH)
			matched[nmatched++] = id->prop;
	}
	if (app->nm == 0 && !p->create) {
		apply_skip(app, "no_match", 8);
		return 0;
	}
	if (app->nm > 1) {
		for (uint32_t i = 0; i < nmatched; i++)
			if (!in_merge(w->conf, matched[i])) {
				apply_skip(app, "identifier_conflict", 19);
				return 0;
			}
		qsort(app->m, app->nm, sizeof(app->m[0]), id_cmp);
	}
	*skipped = 0;
	return 0;
}

/* Step 2: the record's field-level skips, the mapper's and ours, by reason. */
static void
apply_count_notes(struct apply *app)
{
	const struct msg_patch	*p = app->p;

	for (uint32_t i = 0; i < p->nnotes; i++)
		if (p->notes[i].len)
			stats_reason_add(&app->g->st, p->notes[i].p, p->notes[i].len, 1);
	for (uint32_t i = 0; i < app->nnotes; i++)
		stats_reason_add(&app->g->st, app->notes[i], strlen(app->notes[i]), 1);
	if (app->nnotes || p->nnotes)
		app->g->dirty = 1;
}

/*
 * Step 3: the data exchange.  A goal counts each profile it changed once
 * ever: the first time, work takes the goal's mark, stored with it (no
 * other tree to read or write: a separate tree of marks cost a descent a
 * record and a leaf rewritten at the commit), and the goal's count goes
 * up.  A lane written before schema 3 may hold the mark in its exchange
 * tree instead, where it stays.
 */
static int
apply_exchange(struct writer *w, struct apply *app, struct profile *work, int created)
{
	const struct msg_src	*src = &app->b->src;
	struct exch_count	*ec;
	char			 hex[PROFILE_ID_HEX];
	int			 rc;

	if (profile_mark_has(work, app->mark, app->marklen))
		return 0;
	if (!created) {
		rc = store_exchange_marked(w->st, src->conn.p, src->conn.len, src->goal.p,
		    src->goal.len, work->id);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	if (profile_mark_add(work, &w->scratch, app->mark, app->marklen) == -1) {
		log_warnx("profile id=%s holds %d exchange marks: goal %.*s does not "
		    "count it", profile_id_fmt(work->id, hex), PROFILE_MAX_MARKS,
		    (int)src->goal.len, src->goal.p);
		return 0;
	}
	if ((ec = exch_get(w, src->conn.p, src->conn.len, src->goal.p, src->goal.len,
	    &rc)) == NULL)
		return rc;
	ec->count++;
	ec->dirty = 1;
	return 0;
}

/*
 * Step 4: stores the changed profile work, the merged losers as redirects
 * to it, and the identifier index.  Returns 0 or a store code.
 */
static int
apply_store(struct writer *w, struct apply *app, struct profile *work,
    const struct profile *before, int64_t now)
{
	struct profile	 red;
	int		 rc;

	if ((rc = store_profile_put(w->st, work)) != 0)
		return rc;
	for (uint32_t i = 1; i < app->nm; i++) {
		/* The loser stays as a redirect so its id still resolves. */
		profile_init(&red);
		red.id = app->m[i].id;
		red.created = app->m[i].created;
		red.updated = now;
		red.redirect = work->id;
		/* Its marks stay with its id: counted once, and by a re-laning. */
		red.nmarks = app->m[i].nmarks;
		red.marks = app->m[i].marks;
		if ((rc = store_profile_put(w->st, &red)) != 0)
			return rc;
	}
	for (size_t i = 0; i < w->nuniq; i++)
		if ((rc = ident_sync(app, w->uniq[i], before, work)) != 0)
			return rc;
	return 0;
}

/*
 * Step 5: work goes first among the goal's last profiles, with what this
 * record did to it: the record's identifiers and the names of the
 * properties that differ from before (NULL: created), in a pending form
 * (see last_pending_json) that costs no formatting.  Only the five that
 * are still last at commit are turned into JSON (last_materialize), with
 * the values the transaction holds, so a run's history shows what it
 * changed, not what the profile holds later.
 *
 * Pending form, NUL-free text: "\001", then per identifier "LEN:PROP"
 * "LEN:VALUE", then "\002", then profile_diff_names' "+LEN:NAME" and
 * "-LEN:NAME".
 */
static void
apply_last(struct writer *w, struct apply *app, const struct profile *before,
    const struct profile *work)
{
	const struct msg_patch	*p = app->p;
	struct buf		*b = &w->chg;
	int			 rc = 0;

	buf_reset(b);
	rc |= buf_add(b, "\001", 1);
	for (uint32_t i = 0; i < p->nids && rc == 0; i++) {
		const struct msg_ident *id = &p->ids[i];

		if (id->value.len == 0 || id->value.len > STATS_CHANGES_MAX / 4)
			continue;
		rc |= profile_put_counted(b, id->prop.p, id->prop.len);
		rc |= profile_put_counted(b, id->value.p, id->value.len);
	}
	rc |= buf_add(b, "\002", 1);
	rc |= profile_diff_names(before, work, b);
	if (rc != 0)
		stats_last_push(&app->g->st, work->id);	/* not known, never cut */
	else
		stats_last_push_changed(&app->g->st, work->id, b->data, b->len);
}

/* Reads "LEN:" and the bytes at *pp; 0, or -1 when the text is not that. */
static int
counted_next(const char **pp, const char **s, size_t *n)
{
	char	*end;
	unsigned long v = strtoul(*pp, &end, 10);

	if (end == *pp || *end != ':' || v > strlen(end + 1))
		return -1;
	*s = end + 1;
	*n = v;
	*pp = end + 1 + v;
	return 0;
}

/*
 * The JSON members of one pending change (see apply_last) of profile p
 * into out: "identifier":{...},"changed":{name: value from p, or null when
 * p has it no more}[,"omitted":N] (what would pass STATS_CHANGES_MAX).
 * Returns 0, or -1 when pending is not that form.
 */
static int
last_pending_json(const char *pending, const struct profile *p, struct buf *out)
{
	const char	*q = pending + 1, *s, *v;
	size_t		 n, vn;
	uint32_t	 omitted = 0;
	int		 rc = 0, first = 1;

	rc |= buf_addstr(out, "\"identifier\":{");
	while (*q != '\002') {
		if (counted_next(&q, &s, &n) == -1 || counted_next(&q, &v, &vn) == -1)
			return -1;
		rc |= buf_addstr(out, first ? "" : ",") | val_json_str(out, s, n) |
		    buf_add(out, ":", 1) | val_json_str(out, v, vn);
		first = 0;
	}
	q++;
	rc |= buf_addstr(out, "},\"changed\":{");
	first = 1;
	while (*q != '\0') {
		const struct profile_prop *pp;
		size_t	 mark = out->len;
		int	 removed = *q == '-', r = 0;

		if ((*q != '+' && *q != '-') || (q++, counted_next(&q, &s, &n)) == -1)
			return -1;
		r |= buf_addstr(out, first ? "" : ",");
		if (!removed && (pp = profile_prop_find(p, s, n)) != NULL)
			r |= profile_prop_json(pp, out);
		else
			r |= val_json_str(out, s, n) | buf_addstr(out, ":null");
		/* What does not fit is counted, never cut in the middle. */
		if (r != 0 || out->len > STATS_CHANGES_MAX - 32) {
			out->len = mark;
			out->data[mark] = '\0';
			omitted++;
			continue;
		}
		first = 0;
	}
	rc |= buf_addstr(out, "}");
	if (omitted)
		rc |= buf_printf(out, ",\"omitted\":%" PRIu32, omitted);
	return rc ? -1 : 0;
}

/*
 * Turns the pending changes among st's last profiles into JSON, reading
 * each profile in the open transaction (at most STATS_LAST_IDS reads a
 * goal a commit).  A profile that cannot be read keeps no change.
 * Returns 0 or a store code.
 */
static int
last_materialize(struct writer *w, struct stats *st)
{
	for (uint32_t i = 0; i < st->nlast; i++) {
		struct profile	 p;
		int		 rc;

		if (st->changes[i] == NULL || st->changes[i][0] != '\001')
			continue;
		rc = store_profile_get(w->st, st->last[i], &p, &w->scratch);
		if (rc != 0 && rc != STORE_NOTFOUND)
			return rc;
		buf_reset(&w->chg);
		if (rc == STORE_NOTFOUND ||
		    last_pending_json(st->changes[i], &p, &w->chg) == -1) {
			free(st->changes[i]);
			st->changes[i] = NULL;
			continue;
		}
		free(st->changes[i]);
		st->changes[i] = xstrndup(w->chg.data, w->chg.len);
	}
	return 0;
}

/*
 * Noting a record's change (apply_last: a walk over both profiles; the
 * JSON waits for the commit, last_materialize) is paid for every record,
 * and only the goal's last five are kept, so the change waits in
 * app->q while newer records may still push it out: the oldest held
 * record is pushed without its change once five other profiles were
 * pushed after it (it can no longer be among the last five), and the
 * rest are written out in order by apply_last_flush, before the scratch
 * arena their profiles live in is cleared and at the end of the batch.
 */
static void
apply_last_flush(struct writer *w, struct apply *app)
{
	const struct msg_patch *p = app->p;

	for (uint32_t i = 0; i < app->nq; i++) {
		app->p = app->q[i].p;
		apply_last(w, app, app->q[i].created ? NULL : &app->q[i].before,
		    &app->q[i].work);
	}
	app->p = p;
	app->nq = 0;
}

static void
apply_last_defer(struct writer *w, struct apply *app, const struct profile *before,
    const struct profile *work)
{
	if (app->nq == WRITER_LAST_QUEUE) {
		uint64_t	 old = app->q[0].work.id, seen[STATS_LAST_IDS];
		uint32_t	 n = 0;

		for (uint32_t i = app->nq; i-- > 1 && n < STATS_LAST_IDS; ) {
			uint64_t id = app->q[i].work.id;
			uint32_t k;

			for (k = 0; k < n && seen[k] != id; k++)
				;
			if (id != old && k == n)
				seen[n++] = id;
		}
		if (n == STATS_LAST_IDS) {
			stats_last_push(&app->g->st, old);
			memmove(&app->q[0], &app->q[1], --app->nq * sizeof(app->q[0]));
		} else
			apply_last_flush(w, app);
	}
	app->q[app->nq].p = app->p;
	app->q[app->nq].created = before == NULL;
	if (before != NULL)
		app->q[app->nq].before = *before;
	app->q[app->nq].work = *work;
	app->nq++;
}

/*
 * Applies one record: resolve, merge, rules, consent, store, exchange,
 * stats.  Returns 0, or a store code (STORE_FULL, STORE_ERR).
 */
static int
apply_record(struct writer *w, struct apply *app)
{
	const struct msg_patch	*p = app->p;
	struct profile		 work;
	const struct profile	*before = NULL;
	int64_t			 now;
	int			 rc, created = 0, skipped;

	app->nm = 0;
	app->nnotes = 0;
	app->nlookups = 0;
	if (p->skip.len) {
		apply_skip(app, p->skip.p, p->skip.len);
		return 0;
	}
	if ((rc = apply_resolve(w, app, &skipped)) != 0 || skipped)
		return rc;
	if (app->nm == 0) {
		profile_init(&work);
		/*
		 * Room for every property the record can add, at once: from
		 * empty, the array grew by doubling and was copied three times
		 * for a profile of 17 properties.
		 */
		if (p->nops) {
			work.props = arena_take(&w->scratch, sizeof(*work.props) * p->nops);
			work.cap = p->nops;
		}
		created = 1;
	} else {
		before = &app->m[0];	/* the survivor: smallest, oldest id */
		profile_work(&work, before, &w->scratch);
		for (uint32_t i = 1; i < app->nm; i++)
			profile_merge(&work, &app->m[i], &w->scratch);
	}
	if ((rc = apply_ops(app, &work, before ? before->id : 0)) != 0)
		return rc;
	if (!consented(app, &work)) {
		apply_skip(app, "no_consent", 10);
		return 0;
	}
	apply_count_notes(app);
	if (!created && app->nm == 1 && profile_equal(before, &work)) {
		app->g->st.unchanged++;
		app->g->dirty = 1;
		return 0;
	}
	now = time_now_ms();
	if (created) {
		work.id = store_id_next(w->st);
		work.created = now;
	}
	work.updated = now;
	if ((rc = apply_exchange(w, app, &work, created)) != 0 ||
	    (rc = apply_store(w, app, &work, before, now)) != 0)
		return rc;
	if (created)
		app->g->st.created++;
	else
		app->g->st.updated++;
	apply_last_defer(w, app, before, &work);
	app->g->dirty = 1;
	return 0;
}

/* Applies the records of b past the run's applied point, in order. */
static int
apply_batch(struct writer *w, const struct msg_batch *b)
{
	struct wrun	*r;
	struct apply	*app;
	uint32_t	 n = msg_batch_count(b);
	int		 rc;

	if ((rc = txn_ensure(w)) != 0)
		return rc;
	if ((r = run_get(w, b->run, b->src.conn, &rc)) == NULL)
		return rc;
	if ((app = calloc(1, sizeof(*app))) == NULL)
		fatal_oom("writer");
	app->w = w;
	app->b = b;
	app->g = run_goal(r, b->src.conn, b->src.goal);
	app->conn = conf_conn_find(w->conf, b->src.conn.p, b->src.conn.len);
	app->marklen = b->src.conn.len + 1 + b->src.goal.len;
	if ((app->mark = malloc(app->marklen)) == NULL)
		fatal_oom("writer");
	memcpy(app->mark, b->src.conn.p, b->src.conn.len);
	app->mark[b->src.conn.len] = 0x1f;
	memcpy(app->mark + b->src.conn.len + 1, b->src.goal.p, b->src.goal.len);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t seq = b->seq_first + i;

		if (seq <= r->applied)
			continue;
		if (seq != r->applied + 1)
			panic("applying seq %" PRIu64 " after %" PRIu64, seq, r->applied);
		if (w->scratch.total > WRITER_SCRATCH_MAX) {
			apply_last_flush(w, app);	/* its profiles are there */
			arena_clear(&w->scratch);
		}
		app->p = &b->u.patches.recs[i];
		if ((rc = apply_record(w, app)) != 0) {
			free(app->mark);
			free(app);
			return rc;
		}
		r->applied = seq;
		r->touched = 1;
		if (w->rows++ == 0)
			w->first_ms = time_mono_ms();
		w->cnt.records++;
	}
	apply_last_flush(w, app);
	free(app->mark);
	free(app);
	return 0;
}

/* Forgets everything of the aborted transaction that was only in memory. */
static void
state_abort(struct writer *w)
{
	if (w->txn)
		store_abort(w->st);
	w->txn = 0;
	for (size_t i = 0; i < w->nruns; i++)
		run_unload(&w->runs[i]);
	exch_reset(w);
	arena_clear(&w->scratch);
	w->rows = 0;
}

/*
 * Decodes the frame g keeps into *b (on the main thread: counted as the
 * writer's decoding).  Returns 0, or STORE_ERR: it was decoded once, so
 * only memory gone bad gets there.
 */
static int
frame_decode(struct writer *w, const struct gbatch *g, struct msg_batch *b)
{
	char	 err[256];
	int64_t	 t = time_mono_us();

	if (msg_decode(g->raw, g->len, b, err, sizeof(err)) == -1) {
		log_warnx("a kept frame no longer decodes lane=%u run=%" PRIu64
		    " seq_first=%" PRIu64 " reason=%s", w->lane, g->run, g->seq_first, err);
		return STORE_ERR;
	}
	w->cnt.decode_us += time_mono_us() - t;
	return 0;
}

/* g's decoded form, from its frame, for a held batch whose turn came. */
static int
gbatch_decode(struct writer *w, struct gbatch *g)
{
	int	 rc;

	if ((g->b = malloc(sizeof(*g->b))) == NULL)
		fatal_oom("writer");
	if ((rc = frame_decode(w, g, g->b)) != 0) {
		free(g->b);
		g->b = NULL;
	}
	return rc;
}

/* Applies a batch of the group again (redo), decoding its frame if need be. */
static int
apply_again(struct writer *w, const struct gbatch *g)
{
	struct msg_batch	 b;
	int			 rc;

	if (g->b != NULL)
		return apply_batch(w, g->b);
	if ((rc = frame_decode(w, g, &b)) != 0)
		return rc;
	rc = apply_batch(w, &b);
	msg_batch_clear(&b);
	return rc;
}

/*
 * The map was full: abort, grow it and apply the whole group again into a
 * new transaction (the aborted one left nothing behind).
 */
static int
redo(struct writer *w)
{
	int	 rc = STORE_FULL;

	for (int tries = 0; rc == STORE_FULL && tries < 24; tries++) {
		state_abort(w);
		if ((rc = store_grow(w->st)) != 0)
			return rc;
		w->cnt.grows++;
		w->cnt.redos++;
		rc = 0;
		for (size_t i = 0; i < w->ngroup && rc == 0; i++)
			rc = apply_again(w, &w->group[i]);
	}
	return rc;
}

static int
apply_or_redo(struct writer *w, const struct msg_batch *b)
{
	int	 rc = apply_batch(w, b);

	if (rc == STORE_FULL)
		rc = redo(w);
	return rc;
}

/*
 * Puts g (taken over) into the group and applies it; its decoded form
 * goes once applied when its frame is kept (struct gbatch).  *rp: the
 * batch's run after, found again (a redo reloads the runs).
 */
static int
group_apply(struct writer *w, struct gbatch *g, struct wrun **rp)
{
	struct gbatch	*in;
	uint64_t	 run = g->b->run;
	int		 rc;

	if (w->ngroup == w->capgroup) {
		w->capgroup = w->capgroup ? w->capgroup * 2 : 64;
		w->group = xreallocarray(w->group, w->capgroup, sizeof(*w->group));
	}
	in = &w->group[w->ngroup++];
	*in = *g;
	memset(g, 0, sizeof(*g));
	if ((rc = apply_or_redo(w, in->b)) != 0)
		return rc;
	/* A redo reloaded the runs: find the batch's again. */
	if ((*rp = run_get(w, run, in->b->src.conn, &rc)) == NULL)
		return rc;
	if (in->raw != NULL)
		batch_free(&in->b);
	return 0;
}

static int
fail(struct writer *w, int rc)
{
	log_warnx("store failed lane=%u rc=%d: uncommitted work dropped", w->lane, rc);
	w->nospace = rc == STORE_NOSPACE;
	state_abort(w);
	group_reset(w);
	return -1;
}

/* Applies held batches that the applied point has reached. */
static int
drain_held(struct writer *w, struct wrun *r)
{
	int	 again = 1, rc;

	while (again) {
		again = 0;
		for (size_t i = 0; i < w->nheld; i++) {
			struct gbatch	 h = w->held[i];
			uint64_t last = h.seq_first + h.n - 1;

			if (h.run != r->run || h.seq_first > r->applied + 1)
				continue;
			w->held[i] = w->held[--w->nheld];
			w->held_bytes -= gbatch_bytes(&h);
			if (last <= r->applied) {
				gbatch_free(&h);
				again = 1;
				break;
			}
			if (h.b == NULL && (rc = gbatch_decode(w, &h)) != 0) {
				gbatch_free(&h);
				return rc;
			}
			if ((rc = group_apply(w, &h, &r)) != 0)
				return rc;
			again = 1;
			break;
		}
	}
	return 0;
}

/*
 * Puts the reloaded configuration next in force.  What the open group
 * applied was applied under the old one: it is committed (and so
 * acknowledged) first.  Held batches were accepted under the old one:
 * dropped, the fetcher sends them again.  Returns 0, or -1 when the
 * commit failed (as writer_submit).
 */
static int
conf_adopt(struct writer *w, struct conf *next)
{
	if (writer_commit(w) != 0) {
		conf_clear(next);
		free(next);
		return -1;
	}
	for (size_t i = 0; i < w->nheld; i++)
		gbatch_free(&w->held[i]);
	w->nheld = 0;
	conf_follow_adopt(&w->follow, next);
	w->conf = w->follow.c;
	uniq_set(w);
	return 0;
}

/* writer_submit; raw: the frame in was decoded from (len bytes), taken over, or NULL. */
static int
submit(struct writer *w, struct msg_batch *in, unsigned char *raw, size_t len)
{
	struct conf		*next;
	struct msg_batch	*b;
	struct gbatch		 g;
	struct wrun		*r;
	uint32_t		 n;
	uint64_t		 last;
	int			 rc;

	if (!msg_kind_accepts(in->kind, STAGE_WRITER) || in->kind != MSG_PATCHES) {
		if (in->kind != MSG_END) {
			log_warnx("dropped batch kind=%s run=%" PRIu64 " lane=%u"
			    " reason=not_for_writer", msg_kind_name(in->kind) ?
			    msg_kind_name(in->kind) : "unknown", in->run, in->lane);
			w->cnt.dropped++;
		}
		msg_batch_clear(in);
		free(raw);
		return 0;
	}
	n = msg_batch_count(in);
	if (in->lane != w->lane || n == 0 || in->seq_first == 0 || in->run == 0 ||
	    in->seq_first > UINT64_MAX - n) {
		log_warnx("dropped batch run=%" PRIu64 " lane=%u seq_first=%" PRIu64
		    " n=%u reason=%s", in->run, in->lane, in->seq_first, n,
		    in->lane != w->lane ? "wrong_lane" : "bad_sequence");
		w->cnt.dropped++;
		msg_batch_clear(in);
		free(raw);
		return 0;
	}
	switch (conf_follow_check(&w->follow, in, &next)) {
	case CONF_FOLLOW_REFUSE:
		/* Neither applied nor acknowledged: the fetcher sends it again. */
		w->cnt.refused++;
		msg_batch_clear(in);
		free(raw);
		return 0;
	case CONF_FOLLOW_NEW:
		if (conf_adopt(w, next) != 0) {
			msg_batch_clear(in);
			free(raw);
			return -1;
		}
		break;
	}
	if ((b = malloc(sizeof(*b))) == NULL)
		fatal_oom("writer");
	*b = *in;
	memset(in, 0, sizeof(*in));
	arena_init(&in->arena);
	g.b = b;
	g.raw = raw;
	g.len = len;
	g.run = b->run;
	g.seq_first = b->seq_first;
	g.n = n;

	if ((rc = txn_ensure(w)) != 0 || (r = run_get(w, b->run, b->src.conn, &rc)) == NULL) {
		gbatch_free(&g);
		return fail(w, rc);
	}
	last = b->seq_first + n - 1;
	if (last > r->received)
		r->received = last;
	if (last <= r->applied) {
		/* A resend of what is done: say so now unless a commit will. */
		w->cnt.duplicates++;
		if (r->applied == r->committed)
			r->ack_due = 1;
		gbatch_free(&g);
		return 0;
	}
	if (b->seq_first > r->applied + 1) {
		if (b->seq_first - r->applied - 1 > w->maxahead) {
			log_warnx("dropped batch run=%" PRIu64 " lane=%u seq_first=%"
			    PRIu64 " applied=%" PRIu64 " reason=too_far_ahead max=%" PRIu64,
			    b->run, w->lane, b->seq_first, r->applied, w->maxahead);
			w->cnt.dropped++;
			gbatch_free(&g);
			return 0;
		}
		for (size_t i = 0; i < w->nheld; i++)
			if (w->held[i].run == b->run && w->held[i].seq_first == b->seq_first) {
				gbatch_free(&g);		/* already held */
				return 0;
			}
		if (g.raw != NULL)
			batch_free(&g.b);	/* decoded again on its turn */
		if (w->nheld == w->maxheld ||
		    w->held_bytes + gbatch_bytes(&g) > WRITER_HOLD_BYTES) {
			/* The fetcher resends from the applied point anyway. */
			log_warnx("hold full, dropped batch run=%" PRIu64 " lane=%u"
			    " seq_first=%" PRIu64 " applied=%" PRIu64 " held=%zu"
			    " held_bytes=%zu", g.run, w->lane, g.seq_first,
			    r->applied, w->nheld, w->held_bytes);
			w->cnt.dropped++;
			gbatch_free(&g);
			return 0;
		}
		w->held[w->nheld++] = g;
		w->held_bytes += gbatch_bytes(&g);
		return 0;
	}
	w->cnt.batches++;
	if ((rc = group_apply(w, &g, &r)) != 0)
		return fail(w, rc);
	if (w->nheld && (rc = drain_held(w, r)) != 0)
		return fail(w, rc);
	return 0;
}

int
writer_submit(struct writer *w, struct msg_batch *in)
{
	return submit(w, in, NULL, 0);
}

/*
 * Is b of a run the fetcher announced?  Its tag must be the run's under
 * its connection's secret (runauth.h).  Checked where bytes come in from
 * a socket or a capture, before anything is held or applied: a batch of a
 * run id nobody started would otherwise be applied, and the real run's
 * rows with the same sequence numbers skipped later as done.  Refused,
 * never acknowledged: a real batch so refused is resent, and keeps being
 * refused, so the run cannot end ok with rows missing.
 */
static int
announced(struct writer *w, const struct msg_batch *b)
{
	const struct conf_conn *cn = conf_conn_find(w->conf, b->src.conn.p ?
	    b->src.conn.p : "", b->src.conn.len);
	char	 q[200];

	if (cn != NULL && runauth_check(cn->secret, cn->name, strlen(cn->name),
	    b->run, b->auth.p, b->auth.len))
		return 1;
	log_warnx("refused batch run=%" PRIu64 " lane=%u seq_first=%" PRIu64
	    " conn=%s reason=%s: not a run the fetcher started", b->run, b->lane,
	    b->seq_first, log_quote(b->src.conn.p ? b->src.conn.p : "", q, sizeof(q)),
	    cn == NULL ? "unknown_connection" : b->auth.len == 0 ? "no_run_tag" :
	    "wrong_run_tag");
	w->cnt.unannounced++;
	return 0;
}

/*
 * A batch of a connection this writer has not loaded (added to the file
 * after it started): the configuration follows the file first, as in
 * writer_submit, so that the run tag is checked under the connection's
 * secret instead of refused as unknown forever.  1: go on; 0: refused
 * (logged by conf_follow); -1: the commit before a reload failed.
 */
static int
follow_unknown(struct writer *w, const struct msg_batch *b)
{
	struct conf	*next;

	if (conf_conn_find(w->conf, b->src.conn.p ? b->src.conn.p : "",
	    b->src.conn.len) != NULL)
		return 1;
	switch (conf_follow_check(&w->follow, b, &next)) {
	case CONF_FOLLOW_REFUSE:
		w->cnt.refused++;
		return 0;
	case CONF_FOLLOW_NEW:
		return conf_adopt(w, next) == 0 ? 1 : -1;
	}
	return 1;
}

int
writer_input(struct writer *w, const void *p, size_t len)
{
	struct msg_batch	 b;
	char			 err[256];
	int64_t			 t = time_mono_us();
	int			 rc;

	rc = msg_decode(p, len, &b, err, sizeof(err));
	return writer_decoded(w, rc, &b, rc == 0 ? writer_frame_copy(&b, p, len) : NULL,
	    len, err, time_mono_us() - t);
}

unsigned char *
writer_frame_copy(const struct msg_batch *b, const void *p, size_t len)
{
	unsigned char	*raw;

	/* Only PATCHES are applied; without memory the decoded form is kept. */
	if (b->kind != MSG_PATCHES || len == 0 || (raw = malloc(len)) == NULL)
		return NULL;
	memcpy(raw, p, len);
	return raw;
}

int
writer_decoded(struct writer *w, int rc, struct msg_batch *b, unsigned char *raw, size_t len,
    const char *err, int64_t decode_us)
{
	char			 q[300];
	int64_t			 t = time_mono_us();

	w->cnt.decode_us += decode_us;
	if (rc == -1) {
		log_warnx("dropped malformed batch lane=%u bytes=%zu reason=%s", w->lane,
		    len, log_quote(err, q, sizeof(q)));
		w->cnt.dropped++;
		free(raw);
		return 0;
	}
	if (b->kind == MSG_PATCHES && (rc = follow_unknown(w, b)) != 1) {
		msg_batch_clear(b);
		free(raw);
		return rc;
	}
	if (b->kind == MSG_PATCHES && !announced(w, b)) {
		msg_batch_clear(b);
		free(raw);
		return 0;
	}
	rc = submit(w, b, raw, len);
	w->cnt.apply_us += time_mono_us() - t;
	return rc;
}

/* Writes the in-memory state of the group into the transaction. */
static int
flush_state(struct writer *w)
{
	int	 rc;

	for (size_t i = 0; i < w->nruns; i++) {
		struct wrun *r = &w->runs[i];

		if (!r->touched)
			continue;
		if ((rc = store_applied_put(w->st, r->run, r->applied)) != 0)
			return rc;
		for (size_t j = 0; j < r->ngoals; j++) {
			if (!r->goals[j].dirty)
				continue;
			if ((rc = last_materialize(w, &r->goals[j].st)) != 0 ||
			    (rc = store_stats_put(w->st, r->run, &r->goals[j].st)) != 0)
				return rc;
		}
	}
	for (size_t i = 0; i < w->nexch; i++) {
		struct exch_count *ec = &w->exch[i];

		if (!ec->dirty)
			continue;
		if ((rc = store_exchange_count_put(w->st, ec->conn, strlen(ec->conn), ec->goal,
		    strlen(ec->goal), ec->count)) != 0)
			return rc;
	}
	return 0;
}

static int commit_group(struct writer *w);

/* The store's stages, folded in this order, one step a call. */
static const struct {
	const char	*what;
	int		(*fold)(struct store *, uint64_t, uint64_t *, uint64_t *);
} writer_stages[] = {
	{ "index", store_ident_fold },
	{ "profiles", store_profile_fold },
};

int
writer_fold(struct writer *w)
{
	uint64_t	 budget = group_budget(w) / 2;
	const struct store_io *io = store_io(w->st);
	uint64_t	 moved = 0, left = 0, pages = io->pages;
	int64_t		 t = time_mono_us(), took, wait = io->wait_us;
	size_t		 f;
	int		 rc = 0;

	/*
	 * Half the group's budget: a fold's estimate is rougher than a
	 * group's, and the input received while it runs is heap too.  With
	 * the whole budget the writer peaked at 379 to 415 MiB at 5M rows,
	 * with half at 361 (one run, 17:29 UTC), for 16 more steps.
	 */

	if (w->txn)
		return 0;
	for (f = 0; f < sizeof(writer_stages) / sizeof(writer_stages[0]); f++) {
		for (int tries = 0; tries < 24; tries++) {
			if ((rc = store_reserve(w->st, budget)) < 0)
				break;
			w->cnt.grows += (uint64_t)rc;
			if ((rc = writer_stages[f].fold(w->st, budget, &moved, &left)) !=
			    STORE_FULL)
				break;
			if ((rc = store_grow(w->st)) != 0)
				break;
			w->cnt.grows++;
			rc = STORE_FULL;
		}
		/* One step, of one stage, a call. */
		if (rc != 0 || moved > 0)
			break;
	}
	took = time_mono_us() - t;
	w->cnt.fold_us += took;
	w->cnt.fold_pages += io->pages - pages;
	w->cnt.fold_wait_us += io->wait_us - wait;
	w->cnt.writebacks = io->writebacks;
	w->fold_ms = rc == 1 ? took / 1000 : 0;
	if (rc < 0) {
		log_warnx("%s fold failed lane=%u rc=%d: nothing of it is lost, "
		    "the staged entries stay where they were", writer_stages[f].what,
		    w->lane, rc);
		w->nospace = rc == STORE_NOSPACE;
		return -1;
	}
	if (moved > 0) {
		w->cnt.folds++;
		w->cnt.folded += moved;
		log_info("%s folded lane=%u moved=%" PRIu64 " staged=%" PRIu64
		    " ms=%" PRId64 "%s", writer_stages[f].what, w->lane, moved, left,
		    took / 1000,
		    rc == 1 ? " (goes on)" : "");
	}
	return rc;
}

int
writer_commit(struct writer *w)
{
	const struct store_io *io = store_io(w->st);
	int64_t	 t = time_mono_us(), took, wait = io->wait_us;
	uint64_t pages = io->pages, est = store_txn_pages(w->st), own;
	int	 had = w->rows > 0;
	int	 rc = commit_group(w);

	took = time_mono_us() - t;
	w->cnt.commit_us += took;
	w->cnt.commit_pages += io->pages - pages;
	if (io->pages - pages > w->cnt.commit_pages_max)
		w->cnt.commit_pages_max = io->pages - pages;
	if ((own = store_pend_bytes(w->st)) > w->cnt.store_heap_max)
		w->cnt.store_heap_max = own;
	if ((own = store_filter_bytes(w->st)) > w->cnt.filter_max)
		w->cnt.filter_max = own;
	/*
	 * What it wrote against what was estimated (group_pages), from
	 * groups large enough to say (and a store that counts its writes).
	 */
	if (rc == 0 && est >= WRITER_RATIO_MIN && io->pages - pages > 0) {
		double	 r = (double)(io->pages - pages) / (double)est;

		w->wrote_per_est[w->nratios++ % WRITER_RATIOS] =
		    r < 0.25 ? 0.25 : r > 2 ? 2 : r;
	}
	w->cnt.commit_wait_us += io->wait_us - wait;
	w->cnt.writebacks = io->writebacks;
	if (had)
		w->last_commit_ms = took / 1000;
	return rc;
}

static int
commit_group(struct writer *w)
{
	uint64_t	 rows = w->rows;
	int		 rc;

	if (!w->txn)
		return 0;
	for (;;) {
		rc = flush_state(w);
		if (rc == 0)
			rc = store_commit(w->st);	/* durable before any ACK */
		else
			store_abort(w->st);
		w->txn = 0;
		if (rc != STORE_FULL)
			break;
		/* store_commit aborted; redo the group into a bigger map. */
		if ((rc = redo(w)) != 0)
			break;
		rows = w->rows;
	}
	if (rc != 0)
		return fail(w, rc);
	for (size_t i = 0; i < w->nruns; i++) {
		struct wrun *r = &w->runs[i];

		if (r->touched) {
			r->committed = r->applied;
			r->ack_due = 1;
			r->touched = 0;
		}
		for (size_t j = 0; j < r->ngoals; j++)
			r->goals[j].dirty = 0;
	}
	for (size_t i = 0; i < w->nexch; i++)
		w->exch[i].dirty = 0;
	group_reset(w);
	arena_clear(&w->scratch);
	if (rows)
		w->cnt.commits++;
	w->rows = 0;
	return 0;
}

/*
 * The data exchange count of (conn, goal) into *n, from the group's cache or
 * the store.  Returns 0, or a store error: the caller must not report a
 * count it could not read (an ACK with unique 0 would be believed).
 */
static int
exch_count_read(struct writer *w, const char *conn, const char *goal, uint64_t *n)
{
	struct exch_count	*ec;
	int		 rc, opened = 0;

	*n = 0;
	for (size_t i = 0; i < w->nexch; i++)
		if (strcmp(w->exch[i].conn, conn) == 0 && strcmp(w->exch[i].goal, goal) == 0) {
			*n = w->exch[i].count;
			return 0;
		}
	if (!w->txn) {
		if ((rc = store_read_begin(w->st)) != 0)
			return rc;
		opened = 1;
	}
	if ((ec = exch_get(w, conn, strlen(conn), goal, strlen(goal), &rc)) != NULL)
		*n = ec->count;
	if (opened)
		store_read_end(w->st);
	return ec != NULL ? 0 : rc ? rc : STORE_ERR;
}

int
writer_ack_next(struct writer *w, struct buf *out)
{
	struct msg_batch	 b;
	struct wrun		*r = NULL;
	char			 err[256];
	int			 rc = 1;

	for (size_t i = 0; i < w->nruns; i++)
		if (w->runs[i].ack_due) {
			r = &w->runs[i];
			break;
		}
	if (r == NULL)
		return 0;
	r->ack_due = 0;
	w->ack_last = r->run;
	if (!r->loaded) {
		int opened = 0;

		if (!w->txn) {
			if (store_read_begin(w->st) != 0)
				return -1;
			opened = 1;
		}
		rc = run_load(w, r);
		if (opened)
			store_read_end(w->st);
		if (rc != 0)
			return -1;
		rc = 1;
	}
	memset(&b, 0, sizeof(b));
	arena_init(&b.arena);
	b.kind = MSG_ACK;
	b.v = MSG_VERSION;
	b.run = r->run;
	b.lane = w->lane;
	b.src.conn = str_c(r->conn);
	b.u.ack.applied = r->committed;
	b.u.ack.received = r->received > r->committed ? r->received : r->committed;
	b.u.ack.nstats = (uint32_t)r->ngoals;
	b.u.ack.stats = arena_alloc(&b.arena, sizeof(*b.u.ack.stats) * (r->ngoals + 1));
	for (size_t i = 0; i < r->ngoals; i++) {
		/* A shallow copy: the ACK borrows the goal's strings and reasons. */
		b.u.ack.stats[i] = r->goals[i].st;
		b.u.ack.stats[i].conn = NULL;
		if (exch_count_read(w, r->goals[i].st.conn, r->goals[i].st.goal,
		    &b.u.ack.stats[i].unique) != 0) {
			/* Dropped, not sent wrong: a resend of an applied batch asks again. */
			log_warnx("ACK dropped: exchange count unreadable run=%" PRIu64
			    " lane=%u", r->run, w->lane);
			arena_clear(&b.arena);
			return -1;
		}
	}
	buf_reset(out);
	if (msg_encode(&b, out, err, sizeof(err)) == -1) {
		log_warnx("ACK not encodable run=%" PRIu64 " lane=%u reason=\"%s\"",
		    r->run, w->lane, err);
		rc = -1;
	}
	arena_clear(&b.arena);
	return rc;
}

void
writer_ack_unsent(struct writer *w)
{
	for (size_t i = 0; i < w->nruns; i++)
		if (w->runs[i].run == w->ack_last)
			w->runs[i].ack_unsent = 1;
}

int
writer_ack_rearm(struct writer *w)
{
	int	 n = 0;

	for (size_t i = 0; i < w->nruns; i++)
		if (w->runs[i].ack_unsent) {
			w->runs[i].ack_unsent = 0;
			w->runs[i].ack_due = 1;
			n++;
		}
	return n;
}

int
writer_hello(struct writer *w, struct buf *out)
{
	struct msg_batch	 b;
	char			 err[256];

	memset(&b, 0, sizeof(b));
	b.kind = MSG_HELLO;
	b.v = MSG_VERSION;
	b.run = 0;
	b.lane = w->lane;
	b.u.hello.stage = str_c("writer");
	b.u.hello.pid = (uint64_t)getpid();
	b.u.hello.started = (uint64_t)time_now_ms();
	buf_reset(out);
	if (msg_encode(&b, out, err, sizeof(err)) == -1) {
		log_warnx("HELLO not encodable reason=\"%s\"", err);
		return -1;
	}
	return 0;
}
