/*
 * exporter/exporter.c: owns one export run: selecting a segment's
 * profiles from a read snapshot of every lane, writing them to Sailthru
 * (POST /user, or a bulk "update" job), removing users whose profile left
 * the segment, and the exporter's durable state.
 *
 * State lives in an LMDB environment of its own, pipeline.export_state
 * (the store's lanes are the writers' alone).  Keys, all beginning with a
 * letter, the connection and the goal, separated by \x1f:
 *   c conn goal		cursor of the run in progress: "RUN PHASE [JOB]"
 *   m conn goal ident		on the goal's lists: "RUN" (last run that saw the
 *				profile in the segment) or "-RUN" (removal sent)
 *   t conn goal ident MS	a touchpoint at MS ("e" export, "o" open, "c" click)
 *   x conn goal ident		when the profile was last exported (ms)
 *   u conn key ident		the Sailthru user is known to exist
 *   e conn goal ID		the profile was exported once (data exchange)
 *   n conn goal		count of the e keys, kept in step with them
 *
 * What a crash costs, step by step (a rerun resumes the same run, with
 * the same RUN, because the cursor survives):
 * - before the cursor is written: nothing was sent; the rerun starts over.
 * - during selection: what it learns (this run's marks on the m keys of
 *   profiles still in the segment, touchpoints from opens and clicks) is
 *   committed every SELECT_BATCH profiles, so the heap of a transaction
 *   does not grow with the segment; the rerun selects again and marks and
 *   learns the same (marks carry RUN, touchpoints their event's time).
 * - after POST /user answered, before its batch of state was committed:
 *   the rerun sends that user again.  Harmless: vars and list flags are
 *   absolute values.  The touchpoint of an export is keyed by RUN, so it
 *   is recorded once however often the run is resumed.
 * - after a bulk job was accepted, before its id was recorded: the rerun
 *   uploads the file again (absolute values again).  After the id was
 *   recorded: the rerun polls that job instead of uploading.
 * - removals: the intent ("-RUN") is committed before the call.  A rerun
 *   that finds an intent asks Sailthru (GET /user) whether the user is
 *   still on the lists and sends the removal only if so: never twice.
 * - after everything, before the cursor is deleted: the rerun selects
 *   again and sends the same values again; touchpoints stay counted once.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "exporter.h"
#include "ident.h"
#include "log.h"
#include "sailthru.h"
#include "segment.h"
#include "store.h"
#include "timefmt.h"

#define STATE_MAP	(1ull << 32)	/* sparse; grows only as used */
#define IDENT_MAX	320		/* longer identifiers are not Sailthru's */
#define STATE_BATCH	200		/* accepted users per state commit */
#define SELECT_BATCH	10000		/* selected profiles per state commit */
#define LINE_MAX_BYTES	(1u << 20)
#define POLL_MAX_MS	30000

volatile sig_atomic_t exporter_stop;

struct xrun {
	const struct conf	*c;
	const struct conf_conn	*cn;
	const struct conf_goal	*g;
	const struct exporter_opts *o;
	struct export_result	*res;		/* the goal's outcome */
	struct stats		*st;		/* &res->st: its figures */
	struct store_kv		*kv;
	struct sailthru		*api;
	FILE			*out;
	int64_t			 now;		/* this run's clock */
	int64_t			 run;		/* RUN: start of the run, ms */
	int64_t			 per[3];	/* week, month, quarter starts */
	char			 spool[4096];	/* NDJSON of users to send */
	char			 ids[4096];	/* per line: id, flag */
	FILE			*fspool, *fids;
	int			 err;		/* a state write failed */
	uint64_t		 nsel;		/* profiles selected since the last commit */
};

static int	 state_flush(struct xrun *x);

/* Keys. */

static size_t
key(char *out, size_t outlen, char kind, const char *conn, const char *goal,
    const char *ident)
{
	int	 n;

	n = snprintf(out, outlen, "%c\x1f%s\x1f%s%s%s", kind, conn, goal,
	    ident ? "\x1f" : "", ident ? ident : "");
	return n < 0 || (size_t)n >= outlen ? 0 : (size_t)n;
}

static void
kv_put(struct xrun *x, const char *k, size_t kl, const void *v, size_t vl)
{
	if (kl == 0 || store_kv_put(x->kv, k, kl, v, vl) != 0)
		x->err = 1;
}

/* The profile's link identifier as text, or 0 when it has none. */
static size_t
ident_of(const struct conf_goal *g, const struct profile *p, char *out, size_t outlen)
{
	const struct profile_prop *pp;
	const struct val *v;
	int	 n;

	pp = profile_prop_find(p, g->link_property, strlen(g->link_property));
	if (pp == NULL || pp->nvals == 0)
		return 0;
	v = &pp->vals[0];
	if (v->type == VAL_TEXT) {
		if (v->u.s.len == 0 || v->u.s.len >= outlen || v->u.s.len > IDENT_MAX ||
		    memchr(v->u.s.p, '\x1f', v->u.s.len) != NULL)
			return 0;
		memcpy(out, v->u.s.p, v->u.s.len);
		out[v->u.s.len] = '\0';
		return v->u.s.len;
	}
	if (v->type == VAL_NUMBER) {
		n = snprintf(out, outlen, "%" PRId64, v->u.i);
		return n > 0 && (size_t)n < outlen ? (size_t)n : 0;
	}
	return 0;
}

/* Touchpoints. */

struct tcount {
	const struct xrun *x;
	uint64_t	 n[3];
};

static int
tcount_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct tcount	*tc = arg;
	int64_t		 ms;

	if (kl < 8)
		return 0;
	ms = (int64_t)store_be64_get((const char *)k + kl - 8);
	/* This run's own export is not a reason to cap it on a resume. */
	if (ms == tc->x->run && vl == 1 && *(const char *)v == 'e')
		return 0;
	if (ms > tc->x->now)
		return 0;
	for (int i = 0; i < 3; i++)
		if (ms >= tc->x->per[i])
			tc->n[i]++;
	return 0;
}

/* 1 when the profile reached one of the goal's caps. */
static int
capped(struct xrun *x, const char *ident)
{
	const struct conf_goal *g = x->g;
	struct tcount	 tc;
	char		 k[600];
	size_t		 kl;

	if (g->cap_week == 0 && g->cap_month == 0 && g->cap_quarter == 0)
		return 0;
	memset(&tc, 0, sizeof(tc));
	tc.x = x;
	if ((kl = key(k, sizeof(k) - 1, 't', x->cn->name, g->name, ident)) == 0)
		return 0;
	k[kl++] = '\x1f';
	store_kv_each(x->kv, k, kl, tcount_cb, &tc);
	return (g->cap_week && tc.n[0] >= g->cap_week) ||
	    (g->cap_month && tc.n[1] >= g->cap_month) ||
	    (g->cap_quarter && tc.n[2] >= g->cap_quarter);
}

static void
touch_put(struct xrun *x, const char *ident, int64_t ms, char kind)
{
	char		 k[600];
	size_t		 kl;

	if ((kl = key(k, sizeof(k) - 9, 't', x->cn->name, x->g->name, ident)) == 0) {
		x->err = 1;
		return;
	}
	k[kl++] = '\x1f';
	store_be64_put((unsigned char *)k + kl, (uint64_t)ms);
	kl += 8;
	kv_put(x, k, kl, &kind, 1);
}

/*
 * email_opened / email_clicked: an open or click that imported data shows
 * after the profile's last export is one touchpoint, at the event's time
 * (keyed by it, so seeing it again on the next run does not count it again).
 */
static void
touch_learn(struct xrun *x, const struct profile *p, const char *ident)
{
	const struct profile_prop *pp;
	const void	*v;
	size_t		 vl, kl;
	char		 k[600];
	int64_t		 ev, last;

	if (x->g->touch == TOUCH_EXPORT || x->g->touch_property == NULL)
		return;
	pp = profile_prop_find(p, x->g->touch_property, strlen(x->g->touch_property));
	if (pp == NULL || pp->nvals == 0 || pp->vals[0].type != VAL_DATETIME)
		return;
	ev = pp->vals[0].u.i;
	if ((kl = key(k, sizeof(k), 'x', x->cn->name, x->g->name, ident)) == 0 ||
	    store_kv_get(x->kv, k, kl, &v, &vl) != 0 || vl != 8)
		return;
	last = (int64_t)store_be64_get(v);
	if (ev > last && ev <= x->now)
		touch_put(x, ident, ev, x->g->touch == TOUCH_OPENED ? 'o' : 'c');
}

/* Selection. */

static int
in_stage(const struct conf_goal *g, const struct profile *p)
{
	const struct str *s;

	if (g->stage_lifecycle == NULL)
		return 1;
	if ((s = lifecycle_stage(p, g->stage_lifecycle)) == NULL)
		return 0;
	for (size_t i = 0; i < g->nstages; i++)
		if (strlen(g->stages[i]) == s->len && memcmp(g->stages[i], s->p, s->len) == 0)
			return 1;
	return 0;
}

/* One profile skipped for reason (an EXPORT_* name). */
static void
skip_id(struct xrun *x, uint64_t id, const char *reason)
{
	char	 h[PROFILE_ID_HEX];

	x->st->skipped++;
	stats_reason_add(x->st, reason, strlen(reason), 1);
	if (x->o->dry_run)
		fprintf(x->out, "skip %s %s\n", profile_id_fmt(id, h), reason);
}

static void
skip(struct xrun *x, const struct profile *p, const char *reason)
{
	skip_id(x, p->id, reason);
}

/*
 * USER_KNOWN when Sailthru is known to have the user (an imported Sailthru
 * ID, or a past lookup or creation), USER_CREATING when this run found it
 * missing and creates it (so a resumed run still counts it as created),
 * else USER_UNKNOWN.  After the lookups, the spool's flag is USER_UNKNOWN
 * for a user found missing (it is created when Sailthru accepts it),
 * USER_KNOWN, or USER_UNVERIFIED for one sent without knowing (a bulk job
 * with more unknown users than the goal's bulk_lookups, or a lookup
 * Sailthru refused): counted as unverified, not as created.
 */
#define USER_UNKNOWN	0
#define USER_KNOWN	1
#define USER_CREATING	2
#define USER_UNVERIFIED	3
static int
known_user(struct xrun *x, const struct profile *p, const char *ident)
{
	const struct profile_prop *pp;
	const void	*v;
	size_t		 vl, kl;
	char		 k[600], mine[32];

	pp = profile_prop_find(p, "sailthru_profile_id", 19);
	if (pp != NULL && pp->nvals > 0)
		return USER_KNOWN;
	kl = key(k, sizeof(k), 'u', x->cn->name, conf_export_key_name(x->g->link_key),
	    ident);
	if (kl == 0 || store_kv_get(x->kv, k, kl, &v, &vl) != 0)
		return USER_UNKNOWN;
	snprintf(mine, sizeof(mine), "c%" PRId64, x->run);
	return vl == strlen(mine) && memcmp(v, mine, vl) == 0 ? USER_CREATING :
	    USER_KNOWN;
}

static int
select_cb(const struct profile *p, void *arg)
{
	struct xrun	*x = arg;
	const struct conf_goal *g = x->g;
	const void	*v;
	size_t		 vl, kl;
	json_t		*o, *lists;
	char		 ident[IDENT_MAX + 1], k[600], r[32], h[PROFILE_ID_HEX], *line;
	int		 known;

	if (p->redirect != 0 || !segment_has(&x->c->store, p, g->segment, x->now))
		return 0;
	x->st->selected++;
	if (!x->o->dry_run && ++x->nsel == SELECT_BATCH) {
		/* A commit bounds the transaction's dirty pages (heap); see the table above. */
		x->nsel = 0;
		if (state_flush(x) != 0 || store_kv_begin(x->kv, 1) != 0)
			return -1;
	}
	if (ident_of(g, p, ident, sizeof(ident)) == 0) {
		skip(x, p, EXPORT_NO_IDENTIFIER);
		return 0;
	}
	if (x->cn->nobjectives > 0 && !profile_has_text(p, "$consents",
	    x->cn->objectives, x->cn->nobjectives)) {
		skip(x, p, EXPORT_NO_CONSENT);
		return 0;
	}
	/* Still in the segment: not a removal, whatever happens below. */
	kl = key(k, sizeof(k), 'm', x->cn->name, g->name, ident);
	if (!x->o->dry_run && kl > 0 && store_kv_get(x->kv, k, kl, &v, &vl) == 0) {
		snprintf(r, sizeof(r), "%" PRId64, x->run);
		kv_put(x, k, kl, r, strlen(r));
	}
	if (!x->o->dry_run)
		touch_learn(x, p, ident);
	if (!in_stage(g, p)) {
		skip(x, p, EXPORT_OUTSIDE_STAGE);
		return 0;
	}
	if (capped(x, ident)) {
		skip(x, p, EXPORT_CAPPED);
		return 0;
	}
	known = known_user(x, p, ident);

	o = json_object();
	json_object_set_new(o, "id", json_string(ident));
	json_object_set_new(o, "key", json_string(conf_export_key_name(g->link_key)));
	json_object_set_new(o, "vars", exporter_vars(x->c, g, p, x->cn->timezone, x->now));
	if (g->nlists > 0) {
		lists = json_object();
		for (size_t i = 0; i < g->nlists; i++)
			json_object_set_new(lists, g->lists[i], json_integer(1));
		json_object_set_new(o, "lists", lists);
	}
	line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (line == NULL)
		fatalx(EX_OSERR, "out of memory");
	profile_id_fmt(p->id, h);
	if (x->o->dry_run) {
		fprintf(x->out, "send %s %s%s\n", h, line,
		    known || g->create_users ? "" : " (if the user exists)");
		x->st->exported++;
	} else if (fprintf(x->fspool, "%s\n", line) < 0 ||
	    fprintf(x->fids, "%s %d\n", h, known) < 0)
		x->err = 1;
	free(line);
	return 0;
}

static int	 dry_removals(struct xrun *x, struct store **lanes, size_t n);

/*
 * Opens every lane read-only, a snapshot each, and calls select_cb for
 * every profile; a dry run then lists the removals from the same snapshots.
 */
static int
select_all(struct xrun *x)
{
	struct store	**lanes;
	size_t		 n = x->c->pipe.nlanes;
	char		 err[512];
	int		 rc = 0;

	lanes = calloc(n, sizeof(*lanes));
	if (lanes == NULL)
		fatalx(EX_OSERR, "out of memory");
	/* All snapshots first, so the lanes are read as of one moment. */
	for (size_t i = 0; i < n; i++) {
		if ((lanes[i] = store_open(&x->c->store, (unsigned)i, STORE_RDONLY, err,
		    sizeof(err))) == NULL) {
			if (errno == ENOENT)
				continue;	/* a lane that was never written */
			log_warnx("%s", err);
			rc = EX_IOERR;
			goto out;
		}
		if (store_read_begin(lanes[i]) != 0) {
			rc = EX_IOERR;
			goto out;
		}
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		if (lanes[i] != NULL && store_profile_each(lanes[i], select_cb, x) < 0)
			rc = EX_IOERR;
	if (rc == 0 && x->o->dry_run && x->g->remove_when_left)
		rc = dry_removals(x, lanes, n);
out:
	for (size_t i = 0; i < n; i++)
		store_close(&lanes[i]);
	free(lanes);
	return rc;
}

/* Cursor. */

static int
cursor_get(struct xrun *x, int64_t *run, char *phase, size_t plen, char *job, size_t jlen)
{
	const void	*v;
	size_t		 vl, kl;
	char		 k[600], buf[512];

	kl = key(k, sizeof(k), 'c', x->cn->name, x->g->name, NULL);
	if (store_kv_begin(x->kv, 0) != 0)
		return -1;
	if (store_kv_get(x->kv, k, kl, &v, &vl) != 0 || vl >= sizeof(buf)) {
		store_kv_abort(x->kv);
		return 0;
	}
	memcpy(buf, v, vl);
	buf[vl] = '\0';
	store_kv_abort(x->kv);
	job[0] = '\0';
	{
		char	 ph[32] = "", jb[256] = "";
		long long r;

		if (sscanf(buf, "%lld %31s %255s", &r, ph, jb) < 2)
			return 0;
		*run = r;
		snprintf(phase, plen, "%s", ph);
		snprintf(job, jlen, "%s", jb);
	}
	return 1;
}

/* Writes the cursor (NULL phase: deletes it) in its own durable transaction. */
static int
cursor_put(struct xrun *x, const char *phase, const char *job)
{
	char	 k[600], v[512];
	size_t	 kl;
	int	 rc;

	kl = key(k, sizeof(k), 'c', x->cn->name, x->g->name, NULL);
	if (store_kv_begin(x->kv, 1) != 0)
		return -1;
	if (phase == NULL)
		rc = store_kv_del(x->kv, k, kl);
	else {
		snprintf(v, sizeof(v), "%" PRId64 " %s%s%s", x->run, phase, job ? " " : "",
		    job ? job : "");
		rc = store_kv_put(x->kv, k, kl, v, strlen(v));
	}
	if (rc != 0 && rc != STORE_NOTFOUND) {
		store_kv_abort(x->kv);
		return -1;
	}
	return store_kv_commit(x->kv) == 0 ? 0 : -1;
}

/* Sending. */

/* An accepted user with the spool's flag known: created, or not looked up. */
static void
count_new(struct xrun *x, int known)
{
	if (known == USER_UNKNOWN)
		x->st->created++;
	else if (known == USER_UNVERIFIED)
		x->st->unverified++;
}

/* Records one user Sailthru accepted; needs the state write transaction. */
static void
accepted(struct xrun *x, uint64_t id, const char *ident)
{
	const void	*v;
	unsigned char	 b[8];
	char		 k[600], r[32];
	size_t		 kl, vl;
	uint64_t	 n = 0;

	x->st->exported++;
	stats_last_push(x->st, id);
	if (x->g->nlists > 0) {
		kl = key(k, sizeof(k), 'm', x->cn->name, x->g->name, ident);
		snprintf(r, sizeof(r), "%" PRId64, x->run);
		kv_put(x, k, kl, r, strlen(r));
	}
	kl = key(k, sizeof(k), 'x', x->cn->name, x->g->name, ident);
	store_be64_put(b, (uint64_t)x->now);
	kv_put(x, k, kl, b, 8);
	if (x->g->touch == TOUCH_EXPORT)
		touch_put(x, ident, x->run, 'e');
	kl = key(k, sizeof(k) - 9, 'e', x->cn->name, x->g->name, "");
	store_be64_put((unsigned char *)k + kl, id);
	if (store_kv_get(x->kv, k, kl + 8, &v, &vl) == STORE_NOTFOUND) {
		kv_put(x, k, kl + 8, b, 8);
		kl = key(k, sizeof(k), 'n', x->cn->name, x->g->name, NULL);
		if (store_kv_get(x->kv, k, kl, &v, &vl) == 0 && vl == 8)
			n = store_be64_get(v);
		store_be64_put(b, n + 1);
		kv_put(x, k, kl, b, 8);
	}
}

static int
state_flush(struct xrun *x)
{
	if (x->err || store_kv_commit(x->kv) != 0) {
		log_warnx("cannot record export state path=%s", x->c->pipe.export_state);
		return EX_IOERR;
	}
	return 0;
}

/* Transient failures end the goal for now; a rerun resumes it. */
static int
transient(const struct sailthru_error *e)
{
	return e->cls == SAILTHRU_ERATE || e->cls == SAILTHRU_ERETRY;
}

/*
 * Does Sailthru have the user?  1 yes, 0 no, -1 transient failure or auth
 * (e filled).
 */
static int
user_exists(struct xrun *x, const char *ident, struct sailthru_error *e)
{
	json_t	*a = json_pack("{s:s, s:s, s:{s:i}}", "id", ident, "key",
	    conf_export_key_name(x->g->link_key), "fields", "keys", 1);
	char	*args = json_dumps(a, JSON_COMPACT), *body = NULL;
	int	 rc;

	json_decref(a);
	memset(e, 0, sizeof(*e));
	rc = sailthru_call(x->api, "GET", "user", args, &body, e);
	free(args);
	free(body);
	if (rc == 0)
		return 1;
	if (e->cls == SAILTHRU_ENOTFOUND)
		return 0;
	return -1;
}

/*
 * Reads the next line of the spool and of the ids file.  Returns 1, 0 at
 * the end, -1 on a damaged pair.
 */
static int
next_pair(FILE *fs, FILE *fi, char **line, size_t *cap, uint64_t *id, int *known)
{
	char	 h[64];
	ssize_t	 n;
	int	 k;

	if ((n = getline(line, cap, fs)) == -1)
		return 0;
	if (n > 0 && (*line)[n - 1] == '\n')
		(*line)[n - 1] = '\0';
	if (fscanf(fi, "%63s %d\n", h, &k) != 2 || profile_id_parse(h, id) == -1)
		return -1;
	*known = k;
	return 1;
}

/* The "id" of a spooled line (the identifier), into out. */
static void
line_ident(const char *line, char *out, size_t outlen)
{
	json_t	*o = json_loads(line, 0, NULL);

	out[0] = '\0';
	if (o != NULL && json_is_string(json_object_get(o, "id")))
		snprintf(out, outlen, "%s", json_string_value(json_object_get(o, "id")));
	json_decref(o);
}

/*
 * Whether this goal looks up the users not known to exist.  One by one it
 * always does (to skip or count them).  A bulk job by sid or extid never
 * does (Sailthru's update job creates none of those); one by email does
 * when it may not create users (to skip the missing ones), or when it may
 * and there are at most bulk_lookups unknown users (to count those it
 * creates: 300 lookups a minute would undo what bulk saves).
 */
static int
lookups_wanted(struct xrun *x)
{
	FILE	*fi;
	char	 h[64];
	int	 k;
	uint64_t unknown = 0;

	if (strcmp(x->res->mode, "bulk") != 0)
		return 1;
	if (x->g->link_key != KEY_EMAIL)
		return 0;
	if (!x->g->create_users)
		return 1;
	if ((fi = fopen(x->ids, "r")) == NULL)
		fatal(EX_IOERR, "cannot open the export spool path=%s", x->ids);
	while (fscanf(fi, "%63s %d\n", h, &k) == 2 && unknown <= x->g->bulk_lookups)
		unknown += k == USER_UNKNOWN;
	fclose(fi);
	if (unknown > x->g->bulk_lookups)
		log_info("bulk job without lookups goal=%s unknown_users=%" PRIu64
		    "+ bulk_lookups=%" PRIu32, x->g->name, unknown, x->g->bulk_lookups);
	return unknown <= x->g->bulk_lookups;
}

/*
 * Lookups for users not known to exist; keeps those that may be sent in
 * the final spool (PATH.send).  Returns 0 or an exit code.
 */
static int
check_users(struct xrun *x, const char *suffix, char *final, size_t flen,
    uint64_t *nfinal)
{
	struct sailthru_error e;
	FILE	*fs, *fi, *out, *outi;
	char	*line = NULL, ident[IDENT_MAX + 1], k[600], fi_path[4200];
	size_t	 cap = 0, kl;
	uint64_t id, pending = 0;
	int	 known, r, rc = 0, ex, lookups;

	snprintf(final, flen, "%s%s", x->spool, suffix);
	snprintf(fi_path, sizeof(fi_path), "%s%s", x->ids, suffix);
	if ((fs = fopen(x->spool, "r")) == NULL || (fi = fopen(x->ids, "r")) == NULL ||
	    (out = fopen(final, "w")) == NULL || (outi = fopen(fi_path, "w")) == NULL)
		fatal(EX_IOERR, "cannot open the export spool path=%s", x->spool);
	if (store_kv_begin(x->kv, 1) != 0)
		return EX_IOERR;
	lookups = lookups_wanted(x);
	while ((r = next_pair(fs, fi, &line, &cap, &id, &known)) == 1) {
		line_ident(line, ident, sizeof(ident));
		if (known == USER_CREATING)
			known = USER_UNKNOWN;	/* found missing by this run before a restart */
		else if (known == USER_UNKNOWN && !lookups)
			/*
			 * A bulk job by sid or extid never creates (its error
			 * report says "not found"); one that may create users
			 * past the lookup budget sends them unverified.
			 */
			known = x->g->link_key != KEY_EMAIL ? USER_KNOWN : USER_UNVERIFIED;
		else if (known == USER_UNKNOWN) {
			if (exporter_stop) {
				rc = EX_TEMPFAIL;
				break;
			}
			if ((ex = user_exists(x, ident, &e)) == -1 && (transient(&e) ||
			    e.cls == SAILTHRU_EAUTH)) {
				log_warnx("user lookup failed goal=%s class=%s error=\"%s\"",
				    x->g->name, sailthru_class_name(e.cls), e.msg);
				rc = e.cls == SAILTHRU_EAUTH ? EX_NOPERM : EX_TEMPFAIL;
				break;
			}
			if (ex == -1) {
				/* Refused for this user alone: Sailthru judges the write too. */
				log_warnx("user lookup refused goal=%s profile=%016" PRIx64
				    " error=%d reason=\"%s\"", x->g->name, id, e.code, e.msg);
				known = USER_UNVERIFIED;
			} else if (ex == 1) {
				kl = key(k, sizeof(k), 'u', x->cn->name,
				    conf_export_key_name(x->g->link_key), ident);
				kv_put(x, k, kl, "1", 1);
				known = 1;
			} else if (!x->g->create_users) {
				skip_id(x, id, EXPORT_NO_USER);
				continue;
			} else {
				char	 c[32];

				snprintf(c, sizeof(c), "c%" PRId64, x->run);
				kl = key(k, sizeof(k), 'u', x->cn->name,
				    conf_export_key_name(x->g->link_key), ident);
				kv_put(x, k, kl, c, strlen(c));
			}
			if (++pending % STATE_BATCH == 0 && ((rc = state_flush(x)) != 0 ||
			    store_kv_begin(x->kv, 1) != 0))
				return rc ? rc : EX_IOERR;
		}
		fprintf(out, "%s\n", line);
		fprintf(outi, "%016" PRIx64 " %d\n", id, known);
		(*nfinal)++;
	}
	free(line);
	fclose(fs);
	fclose(fi);
	if (fflush(out) == EOF || fsync(fileno(out)) == -1 || fclose(out) == EOF ||
	    fflush(outi) == EOF || fsync(fileno(outi)) == -1 || fclose(outi) == EOF)
		fatal(EX_IOERR, "cannot write the export spool path=%s", final);
	if (r == -1)
		fatalx(EX_SOFTWARE, "export spool damaged path=%s", x->spool);
	if (rc != 0) {
		/* Keep what was learned: those lookups need not be repeated. */
		if (state_flush(x) != 0)
			return EX_IOERR;
		return rc;
	}
	return state_flush(x);
}

/* POST /user for each line of the final spool. */
static int
send_users(struct xrun *x, const char *final)
{
	struct sailthru_error e;
	char	 fi_path[4200], ident[IDENT_MAX + 1], h[PROFILE_ID_HEX];
	char	*line = NULL, *body = NULL;
	size_t	 cap = 0;
	uint64_t id, n = 0;
	FILE	*fs, *fi;
	int	 known, r, rc = 0, unsent = 0;

	snprintf(fi_path, sizeof(fi_path), "%s.send", x->ids);
	if ((fs = fopen(final, "r")) == NULL || (fi = fopen(fi_path, "r")) == NULL)
		fatal(EX_IOERR, "cannot open the export spool path=%s", final);
	if (store_kv_begin(x->kv, 1) != 0)
		return EX_IOERR;
	while ((r = next_pair(fs, fi, &line, &cap, &id, &known)) == 1) {
		if (exporter_stop) {
			rc = EX_TEMPFAIL;
			unsent = 1;
			break;
		}
		line_ident(line, ident, sizeof(ident));
		memset(&e, 0, sizeof(e));
		if (sailthru_call(x->api, "POST", "user", line, &body, &e) == 0) {
			free(body);
			body = NULL;
			count_new(x, known);
			accepted(x, id, ident);
		} else if (transient(&e) || e.cls == SAILTHRU_EAUTH) {
			log_warnx("export stopped goal=%s class=%s error=\"%s\"", x->g->name,
			    sailthru_class_name(e.cls), e.msg);
			rc = e.cls == SAILTHRU_EAUTH ? EX_NOPERM : EX_TEMPFAIL;
			unsent = 1;
			break;
		} else {
			/* Sailthru refused this one user: report it, carry on. */
			log_warnx("user rejected goal=%s profile=%s error=%d reason=\"%s\"",
			    x->g->name, profile_id_fmt(id, h), e.code, e.msg);
			skip_id(x, id, e.cls == SAILTHRU_ENOTFOUND ? EXPORT_NO_USER :
			    EXPORT_REJECTED);
		}
		if (++n % STATE_BATCH == 0 && ((rc = state_flush(x)) != 0 ||
		    store_kv_begin(x->kv, 1) != 0))
			break;
	}
	if (rc != 0 && r == 1) {
		/* What is left was not written this time. */
		x->st->failed += (uint64_t)unsent;
		while (next_pair(fs, fi, &line, &cap, &id, &known) == 1)
			x->st->failed++;
	}
	free(line);
	fclose(fs);
	fclose(fi);
	if (r == -1)
		fatalx(EX_SOFTWARE, "export spool damaged path=%s", final);
	if (state_flush(x) != 0)
		return EX_IOERR;
	return rc;
}

static void
nap(int64_t ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (!exporter_stop && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* One line of a bulk job's error report: memory grows with bad lines only. */
struct badline {
	uint64_t	 line;		/* 1-based line of the upload */
	char		*why;
};

static int
badline_cmp(const void *a, const void *b)
{
	const struct badline *x = a, *y = b;

	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * Reads the job's error report (CSV "line,error") into *bad (sorted by
 * line, *nbad of them; free each why and the array).
 */
static void
report_read(const char *path, uint64_t nlines, struct badline **bad, size_t *nbad)
{
	FILE	*f;
	char	*line = NULL, *p, *end;
	size_t	 cap = 0, bcap = 0;
	ssize_t	 n;
	unsigned long long ln;

	*bad = NULL;
	*nbad = 0;
	if ((f = fopen(path, "r")) == NULL)
		return;
	while ((n = getline(&line, &cap, f)) != -1) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		errno = 0;
		ln = strtoull(line, &end, 10);
		if (errno != 0 || end == line || *end != ',' || ln == 0 || ln > nlines)
			continue;	/* the header, or a line that is not ours */
		p = end + 1;
		/* The reason is one CSV field: unquote it. */
		if (*p == '"') {
			char	*w = p, *r = p + 1;

			for (; *r; r++) {
				if (*r == '"' && r[1] == '"')
					r++;
				else if (*r == '"')
					break;
				*w++ = *r;
			}
			*w = '\0';
		}
		if (*nbad == bcap) {
			bcap = bcap ? bcap * 2 : 64;
			if ((*bad = realloc(*bad, bcap * sizeof(**bad))) == NULL)
				fatalx(EX_OSERR, "out of memory");
		}
		(*bad)[*nbad].line = ln;
		if (((*bad)[*nbad].why = strdup(p)) == NULL)
			fatalx(EX_OSERR, "out of memory");
		(*nbad)++;
	}
	free(line);
	fclose(f);
	if (*nbad > 1)
		qsort(*bad, *nbad, sizeof(**bad), badline_cmp);
}

/* One bulk "update" job with the final spool; resumes a recorded job. */
static int
send_bulk(struct xrun *x, const char *final, uint64_t nlines, const char *job_in)
{
	struct sailthru_error e;
	struct sailthru_job j;
	char	 fi_path[4200], rep[4200], ident[IDENT_MAX + 1], h[PROFILE_ID_HEX];
	char	*job = NULL, *line = NULL;
	struct badline *bad = NULL;
	size_t	 cap = 0, nbad = 0, b = 0;
	uint64_t id, i;
	int64_t	 start = time_mono_ms(), wait = 500;
	FILE	*fs, *fi;
	int	 known, rc = 0;

	memset(&e, 0, sizeof(e));
	if (job_in != NULL && job_in[0] != '\0')
		job = strdup(job_in);
	else {
		if (sailthru_job_upload(x->api, "{\"job\":\"update\"}", final, &job, &e) == -1) {
			log_warnx("bulk update job not accepted goal=%s class=%s error=\"%s\"",
			    x->g->name, sailthru_class_name(e.cls), e.msg);
			if (transient(&e))
				return EX_TEMPFAIL;
			snprintf(x->res->error, sizeof(x->res->error), "bulk update job "
			    "refused: %.400s", e.msg);
			x->st->failed += nlines;
			return 0;
		}
		/* Recorded before polling: a rerun polls this job, not a new one. */
		if (cursor_put(x, "job", job) == -1) {
			free(job);
			return EX_IOERR;
		}
	}
	log_info("bulk update job goal=%s job_id=%s users=%" PRIu64, x->g->name, job,
	    nlines);
	for (;;) {
		memset(&j, 0, sizeof(j));
		if (sailthru_job_get(x->api, job, &j, &e) == -1) {
			if (transient(&e)) {
				free(job);
				return EX_TEMPFAIL;
			}
			snprintf(x->res->error, sizeof(x->res->error), "bulk update job %.64s: %.400s",
			    job, e.msg);
			x->st->failed += nlines;
			free(job);
			return 0;
		}
		if (j.status != NULL && strcmp(j.status, "completed") == 0)
			break;
		if (j.status != NULL && strcmp(j.status, "error") == 0) {
			snprintf(x->res->error, sizeof(x->res->error), "bulk update job %.64s "
			    "ended in error: %.400s", job, j.error ? j.error : "no reason given");
			x->st->failed += nlines;
			sailthru_job_clear(&j);
			free(job);
			return 0;
		}
		sailthru_job_clear(&j);
		if (exporter_stop || time_mono_ms() - start > (int64_t)x->cn->poll_cap_s * 1000) {
			free(job);
			return EX_TEMPFAIL;
		}
		nap(wait);
		if ((wait *= 2) > POLL_MAX_MS)
			wait = POLL_MAX_MS;
	}
	if (j.error_report_url != NULL) {
		snprintf(rep, sizeof(rep), "%s.report", x->spool);
		unlink(rep);
		if (sailthru_download(x->api, j.error_report_url, rep, NULL, NULL, &e) == -1) {
			log_warnx("cannot read the error report goal=%s job_id=%s error=\"%s\"",
			    x->g->name, job, e.msg);
			sailthru_job_clear(&j);
			free(job);
			return EX_TEMPFAIL;
		}
		report_read(rep, nlines, &bad, &nbad);
	}
	sailthru_job_clear(&j);
	snprintf(fi_path, sizeof(fi_path), "%s.send", x->ids);
	if ((fs = fopen(final, "r")) == NULL || (fi = fopen(fi_path, "r")) == NULL)
		fatal(EX_IOERR, "cannot open the export spool path=%s", final);
	if (store_kv_begin(x->kv, 1) != 0)
		rc = EX_IOERR;
	for (i = 0; rc == 0 && next_pair(fs, fi, &line, &cap, &id, &known) == 1; i++) {
		while (b < nbad && bad[b].line < i + 1)
			b++;	/* a line reported twice */
		if (b < nbad && bad[b].line == i + 1) {
			log_warnx("user rejected goal=%s profile=%s job_id=%s line=%" PRIu64
			    " reason=\"%s\"", x->g->name, profile_id_fmt(id, h), job, i + 1,
			    bad[b].why);
			/* A sid or extid that Sailthru does not know: no such user. */
			skip_id(x, id, strstr(bad[b].why, "not found") != NULL ?
			    EXPORT_NO_USER : EXPORT_REJECTED);
			b++;
			continue;
		}
		line_ident(line, ident, sizeof(ident));
		count_new(x, known);
		accepted(x, id, ident);
		if ((i + 1) % 10000 == 0 && ((rc = state_flush(x)) != 0 ||
		    store_kv_begin(x->kv, 1) != 0))
			rc = rc ? rc : EX_IOERR;
	}
	if (rc == 0)
		rc = state_flush(x);
	for (b = 0; b < nbad; b++)
		free(bad[b].why);
	free(bad);
	free(line);
	free(job);
	fclose(fs);
	fclose(fi);
	return rc;
}

/* Removals. */

struct rm {
	char	**ident;
	int	*intent;	/* a removal was sent by an interrupted attempt */
	size_t	 n, cap;
	int64_t	 run;
};

static int
rm_cb(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct rm	*rm = arg;
	const char	*sep = NULL;
	char		 r[32];

	for (size_t i = kl; i > 0 && sep == NULL; i--)
		if (((const char *)k)[i - 1] == '\x1f')
			sep = (const char *)k + i - 1;
	if (sep == NULL || vl >= sizeof(r))
		return 0;
	memcpy(r, v, vl);
	r[vl] = '\0';
	if (strtoll(r, NULL, 10) == rm->run)
		return 0;	/* seen in the segment this run */
	if (rm->n == rm->cap) {
		rm->cap = rm->cap ? rm->cap * 2 : 64;
		rm->ident = realloc(rm->ident, rm->cap * sizeof(*rm->ident));
		rm->intent = realloc(rm->intent, rm->cap * sizeof(*rm->intent));
		if (rm->ident == NULL || rm->intent == NULL)
			fatalx(EX_OSERR, "out of memory");
	}
	rm->ident[rm->n] = strndup(sep + 1, kl - (size_t)(sep + 1 - (const char *)k));
	rm->intent[rm->n] = r[0] == '-';
	rm->n++;
	return 0;
}

/* The POST /user body that takes ident off every list of the goal. */
static char *
removal_args(struct xrun *x, const char *ident)
{
	json_t	*lists, *a;
	char	*args;

	lists = json_object();
	for (size_t j = 0; j < x->g->nlists; j++)
		json_object_set_new(lists, x->g->lists[j], json_integer(0));
	a = json_pack("{s:s, s:s, s:o}", "id", ident, "key",
	    conf_export_key_name(x->g->link_key), "lists", lists);
	if (a == NULL || (args = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		fatal_oom("exporter");
	json_decref(a);
	return args;
}

/*
 * Why the user with link value ident leaves the goal's lists, read from
 * the lanes' snapshots: the profile that has the identifier is what
 * select_cb would keep on them (not a redirect, in the segment, the same
 * identifier, consenting), or NULL.  "no_profile" when no profile has it
 * any more, "identifier_changed" when the one found by it (normalized)
 * now holds it otherwise, "left_segment", "no_consent".
 */
static const char *
removal_reason(struct xrun *x, struct store **lanes, size_t n, const char *ident)
{
	const char	*prop = x->g->link_property, *why = "no_profile";
	struct profile	 p;
	struct arena	 a;
	char		 norm[IDENT_MAX + 1], mine[IDENT_MAX + 1];
	size_t		 nl;
	uint64_t	 id;

	nl = ident_normalize(prop, ident, strlen(ident), norm, sizeof(norm));
	if (nl == 0 || nl == (size_t)-1)
		return why;
	for (size_t i = 0; i < n; i++) {
		if (lanes[i] == NULL || store_ident_get(lanes[i], prop, strlen(prop), norm, nl,
		    &id) != 0)
			continue;
		arena_init(&a);
		profile_init(&p);
		if (store_profile_get(lanes[i], id, &p, &a) == 0) {
			if (ident_of(x->g, &p, mine, sizeof(mine)) == 0 || strcmp(mine, ident) != 0)
				why = "identifier_changed";
			else if (!segment_has(&x->c->store, &p, x->g->segment, x->now))
				why = "left_segment";
			else if (x->cn->nobjectives > 0 && !profile_has_text(&p, "$consents",
			    x->cn->objectives, x->cn->nobjectives))
				why = "no_consent";
			else
				why = NULL;
		}
		arena_clear(&a);
		if (why == NULL || strcmp(why, "no_profile") != 0)
			break;
	}
	return why;
}

/*
 * Dry run: prints "remove IDENT REASON {the POST /user that would be
 * sent}" for each user a run would take off the goal's lists, counted as
 * removed.  Reads the state (in the caller's read transaction) and the
 * lanes' snapshots only.  The removal guard is not asked (GET /list is
 * not called in a dry run).
 */
static int
dry_removals(struct xrun *x, struct store **lanes, size_t n)
{
	struct rm rm;
	char	 pfx[600], *args;
	size_t	 pl;
	const char *why;

	memset(&rm, 0, sizeof(rm));
	rm.run = x->run;
	pl = key(pfx, sizeof(pfx) - 1, 'm', x->cn->name, x->g->name, NULL);
	pfx[pl++] = '\x1f';
	store_kv_each(x->kv, pfx, pl, rm_cb, &rm);
	for (size_t i = 0; i < rm.n; i++) {
		if ((why = removal_reason(x, lanes, n, rm.ident[i])) == NULL)
			continue;
		args = removal_args(x, rm.ident[i]);
		fprintf(x->out, "remove %s %s %s\n", rm.ident[i], why, args);
		free(args);
		x->st->removed++;
	}
	for (size_t i = 0; i < rm.n; i++)
		free(rm.ident[i]);
	free(rm.ident);
	free(rm.intent);
	return 0;
}

/* 1 when GET /user shows the user on one of the goal's lists; -1 transient. */
static int
still_listed(struct xrun *x, const char *ident, struct sailthru_error *e)
{
	json_t	*a = json_pack("{s:s, s:s, s:{s:i}}", "id", ident, "key",
	    conf_export_key_name(x->g->link_key), "fields", "lists", 1), *b, *l;
	char	*args = json_dumps(a, JSON_COMPACT), *body = NULL;
	int	 rc = 0;

	json_decref(a);
	memset(e, 0, sizeof(*e));
	if (sailthru_call(x->api, "GET", "user", args, &body, e) == -1) {
		free(args);
		return e->cls == SAILTHRU_ENOTFOUND ? 0 : -1;
	}
	free(args);
	b = json_loads(body, 0, NULL);
	free(body);
	l = b ? json_object_get(b, "lists") : NULL;
	for (size_t i = 0; json_is_object(l) && i < x->g->nlists; i++)
		if (json_object_get(l, x->g->lists[i]) != NULL)
			rc = 1;
	json_decref(b);
	return rc;
}

static int
guard(struct xrun *x, size_t n)
{
	struct sailthru_error e;
	struct sailthru_list *ls = NULL;
	size_t	 nls = 0;

	if (x->o->force || n == 0)
		return 0;
	memset(&e, 0, sizeof(e));
	if (sailthru_list_all(x->api, &ls, &nls, &e) == -1)
		return transient(&e) ? EX_TEMPFAIL : EX_UNAVAILABLE;
	for (size_t i = 0; i < x->g->nlists; i++)
		for (size_t j = 0; j < nls; j++) {
			if (strcmp(ls[j].name, x->g->lists[i]) != 0)
				continue;
			if ((double)n > x->g->removal_guard * (double)ls[j].email_count) {
				snprintf(x->res->error, sizeof(x->res->error), "removal guard: "
				    "would remove %zu of the %" PRId64 " users of list \"%s\" "
				    "(more than %.0f%%); rerun with --force to remove them", n,
				    ls[j].email_count, ls[j].name, x->g->removal_guard * 100);
				sailthru_lists_free(ls, nls);
				return -1;
			}
		}
	sailthru_lists_free(ls, nls);
	return 0;
}

static int
remove_left(struct xrun *x)
{
	struct sailthru_error e;
	struct rm rm;
	char	 k[600], v[32], pfx[600], *args, *body;
	size_t	 kl, pl;
	int	 rc = 0, on;

	memset(&rm, 0, sizeof(rm));
	rm.run = x->run;
	pl = key(pfx, sizeof(pfx) - 1, 'm', x->cn->name, x->g->name, NULL);
	pfx[pl++] = '\x1f';
	if (store_kv_begin(x->kv, 0) != 0)
		return EX_IOERR;
	store_kv_each(x->kv, pfx, pl, rm_cb, &rm);
	store_kv_abort(x->kv);
	if ((rc = guard(x, rm.n)) == -1) {
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < rm.n && rc == 0; i++) {
		if (exporter_stop) {
			rc = EX_TEMPFAIL;
			break;
		}
		kl = key(k, sizeof(k), 'm', x->cn->name, x->g->name, rm.ident[i]);
		on = 1;
		if (rm.intent[i] && (on = still_listed(x, rm.ident[i], &e)) == -1) {
			rc = EX_TEMPFAIL;
			break;
		}
		if (on) {
			/* The intent first: a rerun then asks before sending again. */
			snprintf(v, sizeof(v), "-%" PRId64, x->run);
			if (store_kv_begin(x->kv, 1) != 0 ||
			    store_kv_put(x->kv, k, kl, v, strlen(v)) != 0 ||
			    store_kv_commit(x->kv) != 0) {
				rc = EX_IOERR;
				break;
			}
			args = removal_args(x, rm.ident[i]);
			body = NULL;
			memset(&e, 0, sizeof(e));
			if (sailthru_call(x->api, "POST", "user", args, &body, &e) == -1 &&
			    e.cls != SAILTHRU_ENOTFOUND) {
				free(args);
				log_warnx("removal failed goal=%s class=%s error=\"%s\"",
				    x->g->name, sailthru_class_name(e.cls), e.msg);
				if (transient(&e) || e.cls == SAILTHRU_EAUTH) {
					rc = e.cls == SAILTHRU_EAUTH ? EX_NOPERM : EX_TEMPFAIL;
					break;
				}
				x->st->failed++;
				continue;
			}
			free(args);
			free(body);
		}
		if (store_kv_begin(x->kv, 1) != 0 ||
		    (store_kv_del(x->kv, k, kl) != 0) || store_kv_commit(x->kv) != 0) {
			store_kv_abort(x->kv);
			rc = EX_IOERR;
			break;
		}
		x->st->removed++;
	}
out:
	for (size_t i = 0; i < rm.n; i++)
		free(rm.ident[i]);
	free(rm.ident);
	free(rm.intent);
	return rc;
}

/* One goal. */

static uint64_t
unique_get(struct xrun *x)
{
	const void	*v;
	size_t		 vl, kl;
	char		 k[600];
	uint64_t	 n = 0;

	kl = key(k, sizeof(k), 'n', x->cn->name, x->g->name, NULL);
	if (store_kv_begin(x->kv, 0) != 0)
		return 0;
	if (store_kv_get(x->kv, k, kl, &v, &vl) == 0 && vl == 8)
		n = store_be64_get(v);
	store_kv_abort(x->kv);
	return n;
}

static int
goal_run(struct xrun *x)
{
	char	 phase[32] = "", job[256] = "", final[4200], safe[200];
	uint64_t nfinal = 0;
	int	 rc, resumed;
	size_t	 i;

	x->run = x->now;
	resumed = cursor_get(x, &x->run, phase, sizeof(phase), job, sizeof(job));
	if (resumed == -1)
		return EX_IOERR;
	if (resumed)
		log_info("resuming export goal=%s run=%" PRId64 " phase=%s", x->g->name,
		    x->run, phase);
	if (!x->o->dry_run && !resumed && cursor_put(x, "send", NULL) == -1)
		return EX_IOERR;
	if (time_period_start(x->now, x->cn->timezone, PERIOD_WEEK, &x->per[0]) == -1 ||
	    time_period_start(x->now, x->cn->timezone, PERIOD_MONTH, &x->per[1]) == -1 ||
	    time_period_start(x->now, x->cn->timezone, PERIOD_QUARTER, &x->per[2]) == -1)
		return EX_CONFIG;

	/* A goal whose removals were under way goes on with them. */
	if (strcmp(phase, "remove") != 0) {
		snprintf(safe, sizeof(safe), "%s-%s", x->cn->name, x->g->name);
		for (i = 0; safe[i]; i++)
			if (safe[i] == '/')
				safe[i] = '_';
		snprintf(x->spool, sizeof(x->spool), "%s/spool/%s.ndjson",
		    x->c->pipe.export_state, safe);
		snprintf(x->ids, sizeof(x->ids), "%s/spool/%s.ids",
		    x->c->pipe.export_state, safe);
		if (!x->o->dry_run && ((x->fspool = fopen(x->spool, "w")) == NULL ||
		    (x->fids = fopen(x->ids, "w")) == NULL))
			fatal(EX_CANTCREAT, "cannot create the export spool path=%s", x->spool);
		if (store_kv_begin(x->kv, !x->o->dry_run) != 0)
			return EX_IOERR;
		rc = select_all(x);
		if (x->o->dry_run) {
			store_kv_abort(x->kv);
			return rc;
		}
		if (rc == 0 && (fflush(x->fspool) == EOF || fflush(x->fids) == EOF))
			x->err = 1;
		fclose(x->fspool);
		fclose(x->fids);
		x->fspool = x->fids = NULL;
		if (rc != 0) {
			store_kv_abort(x->kv);
			return rc;
		}
		if ((rc = state_flush(x)) != 0)
			return rc;
		/* Counted before lookups, so the path does not depend on them. */
		{
			uint64_t nl = 0;
			FILE	*f = fopen(x->ids, "r");
			int	 ch;

			while (f != NULL && (ch = fgetc(f)) != EOF)
				nl += ch == '\n';
			if (f != NULL)
				fclose(f);
			snprintf(x->res->mode, sizeof(x->res->mode), "%s",
			    nl >= x->g->bulk_min ? "bulk" : "user");
		}
		if (strcmp(phase, "job") == 0) {
			/*
			 * A bulk job was under way: selecting again gave this
			 * run's counts; the job's error report numbers the
			 * lines of the file that was uploaded, which is kept.
			 */
			uint64_t dummy = 0;
			FILE	*f;
			char	 p2[4200];
			int	 ch;

			snprintf(x->res->mode, sizeof(x->res->mode), "bulk");
			if ((rc = check_users(x, ".recheck", final, sizeof(final),
			    &dummy)) != 0)
				return rc;
			snprintf(final, sizeof(final), "%s.send", x->spool);
			snprintf(p2, sizeof(p2), "%s.send", x->ids);
			if ((f = fopen(p2, "r")) == NULL)
				fatal(EX_IOERR, "cannot open the export spool path=%s", p2);
			while ((ch = fgetc(f)) != EOF)
				nfinal += ch == '\n';
			fclose(f);
			rc = send_bulk(x, final, nfinal, job);
		} else {
			if ((rc = check_users(x, ".send", final, sizeof(final),
			    &nfinal)) != 0)
				return rc;
			if (nfinal == 0)
				rc = 0;
			else if (strcmp(x->res->mode, "bulk") == 0)
				rc = send_bulk(x, final, nfinal, NULL);
			else
				rc = send_users(x, final);
		}
		if (rc != 0)
			return rc;
		if (x->res->error[0] != '\0') {
			/* The bulk job failed as a whole; nothing to remove on its word. */
			cursor_put(x, NULL, NULL);
			return 0;
		}
		if (x->g->remove_when_left && cursor_put(x, "remove", NULL) == -1)
			return EX_IOERR;
	}
	if (x->g->remove_when_left && (rc = remove_left(x)) != 0)
		return rc;
	if (cursor_put(x, NULL, NULL) == -1)
		return EX_IOERR;
	unlink(x->spool);
	unlink(x->ids);
	snprintf(final, sizeof(final), "%s.send", x->spool);
	unlink(final);
	snprintf(final, sizeof(final), "%s.send", x->ids);
	unlink(final);
	snprintf(final, sizeof(final), "%s.recheck", x->spool);
	unlink(final);
	snprintf(final, sizeof(final), "%s.recheck", x->ids);
	unlink(final);
	return 0;
}

/* The clock, or SAILSYNC_NOW (an ISO date or time, UTC) for tests. */
static int64_t
clock_now(void)
{
	const char	*s = getenv("SAILSYNC_NOW");
	int64_t		 ms;

	if (s != NULL && *s != '\0') {
		if (time_parse(s, strlen(s), NULL, &ms) == -1)
			fatalx(EX_USAGE, "SAILSYNC_NOW is not a date: \"%.40s\"", s);
		return ms;
	}
	return time_now_ms();
}

/*
 * One export of a connection at a time: a second one (another run, an
 * operator's command) waits here for the first, then resumes or starts.
 */
static int
conn_lock(const struct conf *c, const struct conf_conn *cn, int *fd)
{
	char	 path[4200];

	snprintf(path, sizeof(path), "%s/%s.lock", c->pipe.export_state, cn->name);
	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		log_warn("cannot open lock path=%s", path);
		return EX_CANTCREAT;
	}
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	log_info("waiting for the current export of connection=%s", cn->name);
	while (flock(*fd, LOCK_EX) == -1) {
		if (errno != EINTR || exporter_stop) {
			close(*fd);
			*fd = -1;
			return EX_TEMPFAIL;
		}
	}
	return 0;
}

static int
wanted(const struct conf_goal *g, char *const *goals, size_t ngoals)
{
	if (ngoals == 0)
		return 1;
	for (size_t i = 0; i < ngoals; i++)
		if (strcmp(goals[i], g->name) == 0)
			return 1;
	return 0;
}

int
exporter_run(const struct conf *c, const struct conf_conn *cn, char *const *goals,
    size_t ngoals, const struct exporter_opts *o, struct export_result *res,
    size_t *nres)
{
	struct sailthru_opts so;
	struct xrun	 x;
	char		 err[600], path[4200];
	int		 rc = 0, lockfd = -1;

	*nres = 0;
	for (size_t i = 0; i < ngoals; i++) {
		const struct conf_goal *g = conf_goal_find(cn, goals[i], strlen(goals[i]));

		if (g == NULL || g->kind != GOAL_EXPORT) {
			log_warnx("connection %s has no export goal named %s", cn->name,
			    goals[i]);
			return EX_USAGE;
		}
	}
	memset(&x, 0, sizeof(x));
	x.c = c;
	x.cn = cn;
	x.o = o;
	x.out = o->out ? o->out : stdout;
	x.now = o->now_ms ? o->now_ms : clock_now();
	snprintf(path, sizeof(path), "%s/spool", c->pipe.export_state);
	/* Opening creates the directories; the lock file lives beside. */
	if ((x.kv = store_kv_open(c->pipe.export_state, STATE_MAP, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		return EX_CANTCREAT;
	}
	if ((rc = conn_lock(c, cn, &lockfd)) != 0) {
		store_kv_close(&x.kv);
		return rc;
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		log_warn("cannot create path=%s", path);
		store_kv_close(&x.kv);
		close(lockfd);
		return EX_CANTCREAT;
	}
	memset(&so, 0, sizeof(so));
	so.base_url = cn->base_url;
	so.api_key = cn->api_key;
	so.secret = cn->secret;
	so.ca_file = cn->ca_file;
	if (!o->dry_run && (x.api = sailthru_new(&so, err, sizeof(err))) == NULL) {
		log_warnx("connection %s: %s", cn->name, err);
		store_kv_close(&x.kv);
		close(lockfd);
		return EX_CONFIG;
	}
	for (size_t i = 0; i < cn->ngoals && rc == 0; i++) {
		const struct conf_goal *g = &cn->goals[i];
		struct export_result *r = &res[*nres];
		struct stats	*st = &r->st;

		if (g->kind != GOAL_EXPORT || !wanted(g, goals, ngoals))
			continue;
		export_result_init(r, g->name);
		(*nres)++;
		x.g = g;
		x.res = r;
		x.st = st;
		x.err = 0;
		x.nsel = 0;
		rc = goal_run(&x);
		st->unique = unique_get(&x);
		log_info("export goal finished connection=%s goal=%s exported=%" PRIu64
		    " skipped=%" PRIu64 " removed=%" PRIu64 " failed=%" PRIu64 "%s%s",
		    cn->name, g->name, st->exported, st->skipped, st->removed, st->failed,
		    r->error[0] ? " error=" : "", r->error[0] ? r->error : "");
	}
	sailthru_destroy(&x.api);
	store_kv_close(&x.kv);
	close(lockfd);
	if (rc == EX_TEMPFAIL || exporter_stop) {
		log_warnx("interrupted; rerun to resume connection=%s", cn->name);
		return EX_TEMPFAIL;
	}
	return rc;
}
