/*
 * mapper/mapper.c: owns the mapping of one USERS batch into one PATCHES
 * batch: the per-header column plan (cached), identifiers, ops, skips and
 * the aggregated logging of field-level problems.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "conf.h"
#include "conf_follow.h"
#include "ident.h"
#include "log.h"
#include "mapper.h"
#include "msg.h"

#define PLAN_CACHE	8	/* distinct (goal, header) pairs kept */
#define PROBLEM_MAX	256	/* (run, column, reason) totals kept */
#define BATCH_PROBLEM_MAX 64	/* distinct problems tracked in one batch */

#define PROFILE_ID_COLUMN	"Profile Id"
#define PROFILE_ID_PROP		"sailthru_profile_id"

/* One source column (or JSON key) feeding one property. */
struct field {
	const char	*column;
	size_t		 columnlen;
	int		 col;		/* index in the header, -1: absent (CSV) */
	const char	*prop;
	struct str	 propstr;	/* prop with its length, for ops */
	enum val_type	 type;
	int		 multi;
	int		 rule;		/* enum map_rule */
	int		 ident;		/* the value is also an identifier */
};

/* How to map rows of one goal under one header; cached across batches. */
struct plan {
	const struct conf_conn	*conn;
	const struct conf_goal	*goal;
	uint32_t	 ncols;
	struct str	*cols;		/* copy of the header: the cache key */
	int		 json;		/* cols == ["json"]: JSON-lines rows */
	int		 link;		/* index of the link field, -1: none */
	size_t		 nfields;
	struct field	*fields;	/* Profile Id, link, mappings */
	unsigned	 nident;
	const char	*list_prop;	/* NULL: no list property */
	enum val_type	 list_type;
	uint64_t	 used;		/* LRU stamp */
};

/* A problem seen in the current batch; merged into the totals after it. */
struct bproblem {
	const char	*column;
	const char	*reason;
	uint64_t	 first_line;
	uint64_t	 n;
};

/* Totals per (run, conn, goal, column, reason), logged once then summed. */
struct problem {
	uint64_t	 run;
	char		*conn, *goal, *column, *reason;	/* one allocation, at conn */
	uint64_t	 first_line;
	uint64_t	 total;
	uint64_t	 pending;	/* not yet in a log line */
	uint64_t	 stamp;
};

struct mapper {
	const struct conf	*c;		/* follow.c: the configuration in force */
	struct conf_follow	 follow;
	struct plan	 plans[PLAN_CACHE];
	uint64_t	 clock;
	struct bproblem	 bprob[BATCH_PROBLEM_MAX];
	size_t		 nbprob;
	uint64_t	 bprob_lost;
	struct problem	 prob[PROBLEM_MAX];
	size_t		 nprob;
};

/* Everything the row mappers need besides the row. */
struct rowctx {
	struct mapper		*m;
	const struct plan	*pl;
	const struct msg_batch	*in;
	struct arena		*a;
	const char		*tz;
};

static const char *invalid_reason[] = {
	[VAL_NIL] = "invalid_value", [VAL_TEXT] = "invalid_text",
	[VAL_NUMBER] = "invalid_number", [VAL_DECIMAL] = "invalid_decimal",
	[VAL_DATETIME] = "invalid_datetime", [VAL_BOOL] = "invalid_boolean",
};

static const char *
reason_invalid(enum val_type t, int rule)
{
	if (rule == RULE_SUM)
		return "sum_not_a_number";
	if ((unsigned)t >= sizeof(invalid_reason) / sizeof(invalid_reason[0]))
		return "invalid_value";
	return invalid_reason[t];
}

struct mapper *
mapper_new(const struct conf *c)
{
	struct mapper	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		fatal_oom("mapper");
	m->c = c;
	conf_follow_init(&m->follow, c, CONF_DIGEST_MAPPER);
	return m;
}

static void
plan_clear(struct plan *pl)
{
	if (pl->cols)
		free((void *)pl->cols[0].p);	/* the header's bytes: one block */
	free(pl->cols);
	free(pl->fields);
	memset(pl, 0, sizeof(*pl));
}

/* ---- problem logging ---- */

static void
problem_note(struct mapper *m, const char *column, const char *reason, uint64_t line)
{
	for (size_t i = 0; i < m->nbprob; i++) {
		struct bproblem *bp = &m->bprob[i];

		if (bp->column == column && bp->reason == reason) {
			bp->n++;
			return;
		}
	}
	if (m->nbprob == BATCH_PROBLEM_MAX) {
		m->bprob_lost++;
		return;
	}
	m->bprob[m->nbprob++] = (struct bproblem){ column, reason, line, 1 };
}

static void
problem_log(const struct problem *p, const char *what, uint64_t count)
{
	char	 qconn[128], qgoal[128], qcol[128];

	log_warnx("%s run=%" PRIu64 " conn=%s goal=%s column=%s reason=%s "
	    "first_line=%" PRIu64 " count=%" PRIu64 " total=%" PRIu64, what,
	    p->run, log_quote(p->conn, qconn, sizeof(qconn)),
	    log_quote(p->goal, qgoal, sizeof(qgoal)),
	    log_quote(p->column, qcol, sizeof(qcol)), p->reason,
	    p->first_line, count, p->total);
}

static void
problem_drop(struct mapper *m, size_t i)
{
	if (m->prob[i].pending)
		problem_log(&m->prob[i], "field problems", m->prob[i].pending);
	free(m->prob[i].conn);
	m->prob[i] = m->prob[--m->nprob];
}

/*
 * Merges the batch's problems into the totals.  A (run, column, reason)
 * is logged when first seen, with its first line; after that it is only
 * counted, and the count is logged when the run's END passes or the entry
 * is evicted, so a bad column in a million rows costs a few lines.
 */
static void
problem_merge(struct mapper *m, const struct msg_batch *in)
{
	for (size_t b = 0; b < m->nbprob; b++) {
		struct bproblem	*bp = &m->bprob[b];
		struct problem	*p = NULL;
		size_t		 i, lc, lg, lcol, lr;
		char		*mem;

		for (i = 0; i < m->nprob; i++) {
			p = &m->prob[i];
			if (p->run == in->run && strcmp(p->column, bp->column) == 0 &&
			    strcmp(p->reason, bp->reason) == 0 &&
			    str_eq(in->src.conn, p->conn) && str_eq(in->src.goal, p->goal))
				break;
		}
		if (i < m->nprob) {
			p->total += bp->n;
			p->pending += bp->n;
			p->stamp = ++m->clock;
			continue;
		}
		if (m->nprob == PROBLEM_MAX) {
			size_t old = 0;

			for (i = 1; i < m->nprob; i++)
				if (m->prob[i].stamp < m->prob[old].stamp)
					old = i;
			problem_drop(m, old);
		}
		lc = in->src.conn.len;
		lg = in->src.goal.len;
		lcol = strlen(bp->column);
		lr = strlen(bp->reason);
		if ((mem = malloc(lc + lg + lcol + lr + 4)) == NULL)
			fatal_oom("mapper");
		p = &m->prob[m->nprob++];
		memset(p, 0, sizeof(*p));
		p->run = in->run;
		p->conn = mem;
		memcpy(p->conn, in->src.conn.p, lc);
		p->conn[lc] = '\0';
		p->goal = p->conn + lc + 1;
		memcpy(p->goal, in->src.goal.p, lg);
		p->goal[lg] = '\0';
		p->column = p->goal + lg + 1;
		memcpy(p->column, bp->column, lcol + 1);
		p->reason = p->column + lcol + 1;
		memcpy(p->reason, bp->reason, lr + 1);
		p->first_line = bp->first_line;
		p->total = bp->n;
		p->stamp = ++m->clock;
		problem_log(p, "field problem", bp->n);
	}
	if (m->bprob_lost)
		log_warnx("more distinct field problems than tracked run=%" PRIu64
		    " untracked=%" PRIu64, in->run, m->bprob_lost);
	m->nbprob = 0;
	m->bprob_lost = 0;
}

void
mapper_flush_log(struct mapper *m, unsigned long long run)
{
	for (size_t i = 0; i < m->nprob; i++) {
		struct problem *p = &m->prob[i];

		if ((run == 0 || p->run == run) && p->pending) {
			problem_log(p, "field problems", p->pending);
			p->pending = 0;
		}
	}
}

void
mapper_destroy(struct mapper **mp)
{
	struct mapper	*m = *mp;

	if (m == NULL)
		return;
	while (m->nprob)
		problem_drop(m, m->nprob - 1);
	for (size_t i = 0; i < PLAN_CACHE; i++)
		plan_clear(&m->plans[i]);
	conf_follow_clear(&m->follow);
	free(m);
	*mp = NULL;
}

int
mapper_conf_check(struct mapper *m, const struct msg_batch *users)
{
	struct conf	*next;

	switch (conf_follow_check(&m->follow, users, &next)) {
	case CONF_FOLLOW_SAME:
		return 0;
	case CONF_FOLLOW_NEW:
		/* The plans point into the old configuration: gone with it. */
		mapper_flush_log(m, 0);
		for (size_t i = 0; i < PLAN_CACHE; i++)
			plan_clear(&m->plans[i]);
		conf_follow_adopt(&m->follow, next);
		m->c = m->follow.c;
		return 0;
	default:
		return -1;
	}
}

/* ---- the plan: which column feeds which property ---- */

static void
field_set_prop(const struct conf *c, struct field *f, const char *prop)
{
	const struct conf_prop *cp = conf_prop_find(&c->store, prop, strlen(prop));

	f->prop = prop;
	f->propstr = str_c(prop);
	f->type = cp ? cp->type : VAL_TEXT;
	f->multi = cp ? cp->multi : 0;
	/* sailthru_profile_id is a unique identifier even when undeclared. */
	f->ident = cp ? cp->unique : strcmp(prop, PROFILE_ID_PROP) == 0;
}

static int
plan_matches(const struct plan *pl, const struct conf_goal *g, const struct msg_users *u)
{
	if (pl->goal != g || pl->ncols != u->ncols)
		return 0;
	for (uint32_t i = 0; i < u->ncols; i++)
		if (pl->cols[i].len != u->cols[i].len ||
		    memcmp(pl->cols[i].p, u->cols[i].p, u->cols[i].len) != 0)
			return 0;
	return 1;
}

static int
field_dup(const struct plan *pl, const struct field *f)
{
	for (size_t i = 0; i < pl->nfields; i++) {
		const struct field *o = &pl->fields[i];

		if (strcmp(o->column, f->column) == 0 &&
		    strcmp(o->prop, f->prop) == 0 && o->rule == f->rule)
			return 1;
	}
	return 0;
}

/* Keeps one identifier per property: ids[0] (the link) comes first. */
static int
ident_taken(const struct plan *pl, const char *prop)
{
	for (size_t i = 0; i < pl->nfields; i++)
		if (pl->fields[i].ident && strcmp(pl->fields[i].prop, prop) == 0)
			return 1;
	return 0;
}

static void
plan_add(const struct conf *c, struct plan *pl, const struct msg_users *u,
    const char *column, const char *prop, int rule, int is_link)
{
	struct field	 f;

	memset(&f, 0, sizeof(f));
	f.column = column;
	f.columnlen = strlen(column);
	f.col = pl->json ? -1 : ident_column_find(u->cols, u->ncols, column);
	f.rule = rule;
	field_set_prop(c, &f, prop);
	if (is_link)
		f.ident = 1;
	if (field_dup(pl, &f))
		return;
	if (f.ident && !is_link && ident_taken(pl, prop))
		f.ident = 0;
	if (f.ident)
		pl->nident++;
	if (is_link)
		pl->link = (int)pl->nfields;
	pl->fields[pl->nfields++] = f;
}

static struct plan *
plan_get(struct mapper *m, const struct conf_conn *cn, const struct conf_goal *g,
    const struct msg_users *u)
{
	struct plan	*pl = NULL;
	size_t		 i, hdr = 0;
	char		*mem;

	for (i = 0; i < PLAN_CACHE; i++) {
		if (m->plans[i].goal && plan_matches(&m->plans[i], g, u)) {
			m->plans[i].used = ++m->clock;
			return &m->plans[i];
		}
	}
	for (i = 0; i < PLAN_CACHE; i++)
		if (pl == NULL || m->plans[i].used < pl->used)
			pl = &m->plans[i];
	plan_clear(pl);

	pl->conn = cn;
	pl->goal = g;
	pl->ncols = u->ncols;
	for (i = 0; i < u->ncols; i++)
		hdr += u->cols[i].len + 1;
	if ((pl->cols = calloc(u->ncols + 1, sizeof(*pl->cols))) == NULL ||
	    (mem = malloc(hdr + 1)) == NULL ||
	    (pl->fields = calloc(g->nmaps + 2, sizeof(*pl->fields))) == NULL)
		fatal_oom("mapper");
	pl->cols[0].p = mem;		/* keeps the block even when ncols == 0 */
	for (i = 0; i < u->ncols; i++) {
		memcpy(mem, u->cols[i].p, u->cols[i].len);
		pl->cols[i].p = mem;
		pl->cols[i].len = u->cols[i].len;
		mem += u->cols[i].len + 1;
	}
	pl->json = u->ncols == 1 && str_eq(u->cols[0], "json");
	pl->link = -1;

	/*
	 * Field order is op order: Profile Id, the link, (the list property,
	 * added per row right after the link), then the goal's mappings.
	 */
	if (!(g->link_column && g->link_property &&
	    strcmp(g->link_column, PROFILE_ID_COLUMN) == 0 &&
	    strcmp(g->link_property, PROFILE_ID_PROP) == 0)) {
		/* The link identifier is ids[0]; Profile Id yields a later one. */
		int link_is_pid = g->link_property &&
		    strcmp(g->link_property, PROFILE_ID_PROP) == 0;

		plan_add(m->c, pl, u, PROFILE_ID_COLUMN, PROFILE_ID_PROP, RULE_SET, 0);
		if (link_is_pid && pl->nfields) {
			pl->fields[pl->nfields - 1].ident = 0;
			pl->nident--;
		}
	}
	if (g->link_column && g->link_property)
		plan_add(m->c, pl, u, g->link_column, g->link_property, RULE_SET, 1);
	for (i = 0; i < g->nmaps; i++)
		plan_add(m->c, pl, u, g->maps[i].column, g->maps[i].property,
		    g->maps[i].rule, 0);
	if (g->list_property) {
		const struct conf_prop *cp = conf_prop_find(&m->c->store,
		    g->list_property, strlen(g->list_property));

		pl->list_prop = g->list_property;
		pl->list_type = cp ? cp->type : VAL_TEXT;
	}
	pl->used = ++m->clock;
	return pl;
}

/* ---- building one patch ---- */

static void
patch_skip(struct rowctx *rc, struct msg_patch *pa, const char *column, const char *reason)
{
	pa->skip = str_c(reason);
	pa->nids = pa->nops = pa->nnotes = 0;
	problem_note(rc->m, column, reason, pa->line);
}

static void
patch_note(struct rowctx *rc, struct msg_patch *pa, uint32_t cap,
    const struct field *f, const char *prop, const char *reason)
{
	size_t	 lr = strlen(reason), lp = strlen(prop);
	char	*s;

	if (pa->notes == NULL)
		pa->notes = arena_alloc(rc->a, cap * sizeof(*pa->notes));
	if (pa->nnotes == cap)
		return;
	s = arena_alloc(rc->a, lr + lp + 2);
	memcpy(s, reason, lr);
	s[lr] = ':';
	memcpy(s + lr + 1, prop, lp + 1);
	pa->notes[pa->nnotes].p = s;
	pa->notes[pa->nnotes].len = (uint32_t)(lr + lp + 1);
	pa->nnotes++;
	problem_note(rc->m, f ? f->column : prop, reason, pa->line);
}

/* Normalizes an identifier value into the arena; 0: no value. */
static size_t
ident_value(struct arena *a, const char *prop, const char *v, size_t len, const char **out)
{
	char	*p = arena_alloc(a, len + 1);
	size_t	 n = ident_normalize(prop, v, len, p, len + 1);

	*out = p;
	return n == (size_t)-1 ? 0 : n;
}

static void
patch_list_op(struct rowctx *rc, struct msg_patch *pa, uint32_t capnotes)
{
	const struct plan	*pl = rc->pl;
	struct msg_op		*op = &pa->ops[pa->nops];
	const char		*reason = NULL;
	int			 r;

	op->vals = arena_alloc(rc->a, sizeof(*op->vals));
	r = map_conv_text(pl->list_type, RULE_ADD, rc->in->src.list.p,
	    rc->in->src.list.len, rc->tz, rc->a, &op->vals[0], &reason);
	if (r == 1)
		return;
	if (r < 0) {
		patch_note(rc, pa, capnotes, NULL, pl->list_prop, reason);
		return;
	}
	op->op = OP_ADD;
	op->prop = str_c(pl->list_prop);
	op->nvals = 1;
	pa->nops++;
}

static void
patch_ident(struct msg_patch *pa, struct str prop, const char *v, size_t len)
{
	struct msg_ident *id = &pa->ids[pa->nids++];

	id->prop = prop;
	id->value.p = v;
	id->value.len = (uint32_t)len;
}

/* Adds the op f <- the text p..p+len, or a note when it does not convert. */
static void
op_text(struct rowctx *rc, struct msg_patch *pa, uint32_t capnotes,
    const struct field *f, const char *p, size_t len)
{
	struct msg_op	*op = &pa->ops[pa->nops];
	struct val	 v;
	const char	*reason = NULL;
	int		 r;

	r = map_conv_text(f->type, f->rule, p, len, rc->tz, rc->a, &v, &reason);
	if (r < 0)
		patch_note(rc, pa, capnotes, f, f->prop, reason);
	if (r != 0)
		return;
	op->vals = arena_alloc(rc->a, sizeof(*op->vals));
	op->vals[0] = v;
	op->op = (uint8_t)f->rule;
	op->prop = f->propstr;
	op->nvals = 1;
	pa->nops++;
}

/* The link field's op, then (for import goals) the source list's name. */
static void
patch_link_ops(struct rowctx *rc, struct msg_patch *pa, uint32_t capnotes,
    const struct field *f, const char *norm, size_t n)
{
	op_text(rc, pa, capnotes, f, norm, n);
	if (rc->pl->list_prop)
		patch_list_op(rc, pa, capnotes);
}

/* Maps one CSV-shaped row (one value per column). */
static void
map_row_cols(struct rowctx *rc, const struct msg_row *row, struct msg_patch *pa)
{
	const struct plan	*pl = rc->pl;
	const struct field	*lf;
	const char		*norm;
	char			*link;
	uint32_t		 capnotes = (uint32_t)pl->nfields + 1;
	size_t			 n;

	if (row->nvals < pl->ncols) {
		patch_skip(rc, pa, "-", "ragged_row");
		return;
	}
	if (pl->link < 0 || (lf = &pl->fields[pl->link])->col < 0) {
		patch_skip(rc, pa, pl->goal->link_column ? pl->goal->link_column : "-",
		    "no_identifier");
		return;
	}
	if (!val_text_valid(row->vals[lf->col].p, row->vals[lf->col].len)) {
		patch_skip(rc, pa, lf->column, "invalid_identifier");
		return;
	}
	/* The link value as the fetcher routed the row (ident.h). */
	link = arena_alloc(rc->a, row->vals[lf->col].len + 1);
	n = ident_link_csv(lf->prop, row->vals, row->nvals, lf->col, link,
	    row->vals[lf->col].len + 1);
	norm = link;
	if (n == 0) {
		patch_skip(rc, pa, lf->column, "no_identifier");
		return;
	}
	pa->ids = arena_alloc(rc->a, (pl->nident + 1) * sizeof(*pa->ids));
	pa->ops = arena_alloc(rc->a, (pl->nfields + 1) * sizeof(*pa->ops));
	patch_ident(pa, lf->propstr, norm, n);

	for (size_t i = 0; i < pl->nfields; i++) {
		const struct field	*f = &pl->fields[i];
		const char		*p;
		size_t			 len;

		if ((int)i == pl->link) {
			patch_link_ops(rc, pa, capnotes, f, norm, n);
			continue;
		}
		if (f->col < 0)
			continue;
		p = row->vals[f->col].p;
		len = row->vals[f->col].len;
		if (f->ident) {
			if (!val_text_valid(p, len)) {
				patch_note(rc, pa, capnotes, f, f->prop, "invalid_text");
				continue;
			}
			if ((len = ident_value(rc->a, f->prop, p, len, &p)) == 0)
				continue;
			patch_ident(pa, f->propstr, p, len);
		}
		op_text(rc, pa, capnotes, f, p, len);
	}
}

/* ---- JSON-lines rows ---- */

static int
json_int_text(struct arena *a, json_int_t v, struct str *out)
{
	char	 tmp[32];
	int	 n = snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, v);

	out->p = arena_strndup(a, tmp, (size_t)n);
	out->len = (uint32_t)n;
	return 0;
}

/*
 * Converts one JSON scalar to type, like map_conv_text for strings.  A JSON
 * number for a datetime is UNIX seconds.  Returns 0, 1 (null: no value) or
 * -1 with *reason.
 */
static int
json_conv(struct rowctx *rc, enum val_type type, int rule, json_t *j,
    struct val *out, const char **reason)
{
	double	 d;
	char	 tmp[40];
	int	 n;

	*reason = reason_invalid(type, rule);
	out->type = type;
	switch (json_typeof(j)) {
	case JSON_NULL:
		return 1;
	case JSON_STRING:
		return map_conv_text(type, rule, json_string_value(j),
		    json_string_length(j), rc->tz, rc->a, out, reason);
	case JSON_INTEGER:
		if (rule == RULE_SUM && type != VAL_NUMBER && type != VAL_DECIMAL)
			return -1;
		switch (type) {
		case VAL_TEXT:
			return json_int_text(rc->a, json_integer_value(j), &out->u.s);
		case VAL_NUMBER:
			out->u.i = json_integer_value(j);
			return 0;
		case VAL_DECIMAL:
			out->u.d = (double)json_integer_value(j);
			return 0;
		case VAL_DATETIME:
			if (json_integer_value(j) > INT64_MAX / 1000 ||
			    json_integer_value(j) < -(INT64_MAX / 1000))
				return -1;
			out->u.i = json_integer_value(j) * 1000;
			return 0;
		case VAL_BOOL:
			if (json_integer_value(j) != 0 && json_integer_value(j) != 1)
				return -1;
			out->u.b = (int)json_integer_value(j);
			return 0;
		default:
			return -1;
		}
	case JSON_REAL:
		d = json_real_value(j);
		if (rule == RULE_SUM && type != VAL_NUMBER && type != VAL_DECIMAL)
			return -1;
		switch (type) {
		case VAL_TEXT:
			n = snprintf(tmp, sizeof(tmp), "%.17g", d);
			out->u.s.p = arena_strndup(rc->a, tmp, (size_t)n);
			out->u.s.len = (uint32_t)n;
			return 0;
		case VAL_NUMBER:
			if (d != floor(d) || d < -9.2e18 || d > 9.2e18)
				return -1;
			out->u.i = (int64_t)d;
			return 0;
		case VAL_DECIMAL:
			out->u.d = d;
			return 0;
		case VAL_DATETIME:
			if (fabs(d) > 9.2e15)
				return -1;
			out->u.i = (int64_t)llround(d * 1000.0);
			return 0;
		default:
			return -1;
		}
	case JSON_TRUE:
	case JSON_FALSE:
		if (type == VAL_BOOL) {
			out->u.b = json_is_true(j);
			return 0;
		}
		if (type == VAL_TEXT && rule != RULE_SUM) {
			out->u.s = str_c(json_is_true(j) ? "true" : "false");
			return 0;
		}
		return -1;
	default:
		return -1;
	}
}

/*
 * Adds the op prop <- j (a scalar, or an array: every element for a
 * multi-valued property, the first for a single-valued one).  Elements
 * that do not convert become notes.
 */
static void
json_op(struct rowctx *rc, struct msg_patch *pa, uint32_t capnotes,
    const struct field *f, const char *prop, enum val_type type, int multi,
    int rule, json_t *j)
{
	struct msg_op	*op = &pa->ops[pa->nops];
	const char	*reason = NULL;
	size_t		 n = 1, k;
	int		 r;

	if (json_is_array(j)) {
		if ((n = json_array_size(j)) == 0)
			return;
		if (!multi)
			n = 1;
	}
	op->vals = arena_alloc(rc->a, n * sizeof(*op->vals));
	op->nvals = 0;
	for (k = 0; k < n; k++) {
		json_t *e = json_is_array(j) ? json_array_get(j, k) : j;

		r = json_conv(rc, type, rule, e, &op->vals[op->nvals], &reason);
		if (r == 0)
			op->nvals++;
		else if (r < 0)
			patch_note(rc, pa, capnotes, f, prop, reason);
	}
	if (op->nvals == 0)
		return;
	op->op = (uint8_t)rule;
	op->prop = str_c(prop);
	pa->nops++;
}

/* The identifier text of a JSON value (a string or an integer); 0: none. */
static size_t
json_ident(struct rowctx *rc, const char *prop, json_t *j, const char **out)
{
	struct str	 s;

	if (json_is_array(j))
		j = json_array_get(j, 0);
	if (json_is_string(j)) {
		s.p = json_string_value(j);
		s.len = (uint32_t)json_string_length(j);
	} else if (json_is_integer(j)) {
		json_int_text(rc->a, json_integer_value(j), &s);
	} else
		return 0;
	return ident_value(rc->a, prop, s.p, s.len, out);
}

static const char *json_special[] = {
	"segments", "consents", "refused", "permission", "interactions",
};

static void
json_special_op(struct rowctx *rc, struct msg_patch *pa, uint32_t capnotes,
    const char *prop, json_t *j)
{
	const struct conf_prop *cp = conf_prop_find(&rc->m->c->store, prop, strlen(prop));

	json_op(rc, pa, capnotes, NULL, prop, cp ? cp->type : VAL_TEXT,
	    cp ? cp->multi : 1, RULE_SET, j);
}

/* Maps one JSON-lines row: keys are the columns, plus the special keys. */
static void
map_row_json(struct rowctx *rc, const struct msg_row *row, struct msg_patch *pa)
{
	static const char *special_prop[] = {
		"$segments", "$consents", "$refused", "$permission", "$interactions",
	};
	const struct plan	*pl = rc->pl;
	const struct field	*lf;
	json_error_t		 jerr;
	json_t			*o, *lc;
	const char		*norm;
	char			*link;
	uint32_t		 capops, capnotes;
	size_t			 n, i;

	if (row->nvals < 1 || row->vals[0].len == 0) {
		patch_skip(rc, pa, "json", "invalid_json");
		return;
	}
	o = json_loadb(row->vals[0].p, row->vals[0].len, JSON_DECODE_ANY, &jerr);
	if (o == NULL) {
		patch_skip(rc, pa, "json", "invalid_json");
		return;
	}
	if (!json_is_object(o)) {
		patch_skip(rc, pa, "json", "not_an_object");
		goto out;
	}
	if (pl->link < 0) {
		patch_skip(rc, pa, "-", "no_identifier");
		goto out;
	}
	lf = &pl->fields[pl->link];
	/* The link value as the fetcher routed the row (ident.h). */
	link = arena_alloc(rc->a, row->vals[0].len + 32);
	n = ident_link_json(lf->prop, lf->column, row->vals[0].p, row->vals[0].len, link,
	    row->vals[0].len + 32);
	norm = link;
	if (n == 0) {
		patch_skip(rc, pa, lf->column, "no_identifier");
		goto out;
	}
	lc = json_object_get(o, "lifecycles");
	capops = (uint32_t)(pl->nfields + 1 + 5 + json_object_size(lc));
	capnotes = 64;
	pa->ids = arena_alloc(rc->a, (pl->nident + 1) * sizeof(*pa->ids));
	pa->ops = arena_alloc(rc->a, capops * sizeof(*pa->ops));
	patch_ident(pa, lf->propstr, norm, n);

	for (i = 0; i < pl->nfields; i++) {
		const struct field	*f = &pl->fields[i];
		json_t			*j = json_object_get(o, f->column);
		const char		*id;
		size_t			 len;

		if ((int)i == pl->link) {
			patch_link_ops(rc, pa, capnotes, f, norm, n);
			continue;
		}
		if (j == NULL)
			continue;
		if (f->ident) {
			/* Identifiers are stored as they are matched: normalized. */
			if ((len = json_ident(rc, f->prop, j, &id)) > 0) {
				patch_ident(pa, f->propstr, id, len);
				op_text(rc, pa, capnotes, f, id, len);
			}
			continue;
		}
		json_op(rc, pa, capnotes, f, f->prop, f->type, f->multi, f->rule, j);
	}
	for (i = 0; i < sizeof(json_special) / sizeof(json_special[0]); i++) {
		json_t *j = json_object_get(o, json_special[i]);

		if (j != NULL)
			json_special_op(rc, pa, capnotes, special_prop[i], j);
	}
	if (lc != NULL) {
		const char	*name;
		json_t		*stage;

		if (!json_is_object(lc))
			patch_note(rc, pa, capnotes, NULL, "$lifecycle", "invalid_text");
		json_object_foreach(lc, name, stage) {
			size_t	 ln = strlen(name);
			char	*prop = arena_alloc(rc->a, ln + sizeof("$lifecycle."));

			memcpy(prop, "$lifecycle.", sizeof("$lifecycle.") - 1);
			memcpy(prop + sizeof("$lifecycle.") - 1, name, ln + 1);
			if (json_is_array(stage)) {
				patch_note(rc, pa, capnotes, NULL, prop, "invalid_text");
				continue;
			}
			json_special_op(rc, pa, capnotes, prop, stage);
		}
	}
out:
	json_decref(o);
}

/* ---- the batch ---- */

int
mapper_map(struct mapper *m, const struct msg_batch *users, struct msg_batch *out,
    char *err, size_t errlen)
{
	const struct msg_users	*u = &users->u.users;
	const struct conf_conn	*cn;
	const struct conf_goal	*g;
	struct rowctx		 rc;
	struct msg_patch	*recs;
	char			 q[128];

	if (users->kind != MSG_USERS) {
		snprintf(err, errlen, "not a users batch kind=%d", users->kind);
		return -1;
	}
	if ((cn = conf_conn_find(m->c, users->src.conn.p ? users->src.conn.p : "",
	    users->src.conn.len)) == NULL) {
		snprintf(err, errlen, "unknown connection conn=%.*s",
		    (int)(users->src.conn.len > 100 ? 100 : users->src.conn.len),
		    users->src.conn.p ? users->src.conn.p : "");
		return -1;
	}
	if ((g = conf_goal_find(cn, users->src.goal.p ? users->src.goal.p : "",
	    users->src.goal.len)) == NULL ||
	    g->kind == GOAL_EXPORT) {
		snprintf(err, errlen, "%s goal conn=%s goal=%.*s",
		    g ? "not an import" : "unknown", log_quote(cn->name, q, sizeof(q)),
		    (int)(users->src.goal.len > 100 ? 100 : users->src.goal.len),
		    users->src.goal.p ? users->src.goal.p : "");
		return -1;
	}

	out->kind = MSG_PATCHES;
	out->v = MSG_VERSION;
	out->run = users->run;
	out->lane = users->lane;
	out->seq_first = users->seq_first;
	out->src.conn = str_dup(&out->arena, users->src.conn);
	out->src.goal = str_dup(&out->arena, users->src.goal);
	out->src.list = str_dup(&out->arena, users->src.list);
	/* The writer applies it under the configuration the run was read under. */
	out->conf.writer = str_dup(&out->arena, users->conf.writer);
	/* The run's announcement, for the writer to check (runauth.h). */
	out->auth = str_dup(&out->arena, users->auth);

	rc.m = m;
	rc.pl = plan_get(m, cn, g, u);
	rc.in = users;
	rc.a = &out->arena;
	rc.tz = cn->timezone;

	recs = arena_alloc(&out->arena, (u->nrows ? u->nrows : 1) * sizeof(*recs));
	for (uint32_t i = 0; i < u->nrows; i++) {
		const struct msg_row	*row = &u->rows[i];
		struct msg_patch	*pa = &recs[i];

		pa->line = row->line;
		pa->create = g->create ? 1 : 0;
		if (rc.pl->json)
			map_row_json(&rc, row, pa);
		else
			map_row_cols(&rc, row, pa);
	}
	out->u.patches.n = u->nrows;
	out->u.patches.recs = recs;
	problem_merge(m, users);
	return 0;
}
