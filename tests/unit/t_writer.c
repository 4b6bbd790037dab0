/* tests/unit/t_writer.c: the writer in process: rules, create, merge, exactly-once, stats, consent. */
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "runauth.h"
#include "profile.h"
#include "store.h"
#include "timefmt.h"
#include "writer.h"

static char	 tmpdir[] = "/tmp/t_writer.XXXXXX";

/* Properties sorted by name, as conf_load leaves them. */
static struct conf_prop props[] = {
	{ "$consents", VAL_TEXT, 1, 0 },
	{ "email", VAL_TEXT, 0, 1 },
	{ "extid", VAL_TEXT, 0, 1 },
	{ "lists", VAL_TEXT, 1, 0 },
	{ "name", VAL_TEXT, 0, 0 },
	{ "opens", VAL_NUMBER, 0, 0 },
	{ "sailthru_profile_id", VAL_TEXT, 0, 1 },
	{ "score", VAL_DECIMAL, 0, 0 },
};
static char *merge[] = { "email", "sailthru_profile_id" };
static char *objectives[] = { "marketing" };
static struct conf_conn conns[2];
static char paths[32][300];
static int npaths;

/* A configuration with its own store directory. */
static void
conf_make(struct conf *c, const char *name)
{
	if (npaths == (int)(sizeof(paths) / sizeof(paths[0])))
		abort();		/* more configurations than paths */
	memset(c, 0, sizeof(*c));
	snprintf(paths[npaths], sizeof(paths[0]), "%s/%s", tmpdir, name);
	c->store.path = paths[npaths++];
	c->store.map_size = 1 << 20;	/* small: the import test must grow it */
	c->store.lanes = 1;
	c->store.nprops = sizeof(props) / sizeof(props[0]);
	c->store.props = props;
	c->store.nmerge = 2;
	c->store.merge = merge;
	c->store.commit_rows = 100000;
	c->store.commit_ms = 300;
	c->store.txn_mb = CONF_TXN_MB;
	c->store.durable = 0;
	c->pipe.window = 4;
	conns[0].name = "c1";
	conns[0].secret = "c1-secret";
	conns[1].name = "c2";
	conns[1].secret = "c2-secret";
	conns[1].nobjectives = 1;
	conns[1].objectives = objectives;
	c->nconns = 2;
	c->conns = conns;
}

/* Building batches by hand. */
#define MAXREC 64

static struct msg_batch *
batch(uint64_t run, uint64_t seq_first, const char *conn, const char *goal)
{
	struct msg_batch *b = calloc(1, sizeof(*b));

	arena_init(&b->arena);
	b->kind = MSG_PATCHES;
	b->v = MSG_VERSION;
	b->run = run;
	b->lane = 0;
	b->seq_first = seq_first;
	b->src.conn = str_c(conn);
	b->src.goal = str_c(goal);
	b->src.list = str_c("list1");
	b->u.patches.recs = arena_alloc(&b->arena, sizeof(struct msg_patch) * MAXREC);
	return b;
}

static struct msg_patch *
rec(struct msg_batch *b, int create)
{
	struct msg_patch *p = &b->u.patches.recs[b->u.patches.n++];

	p->line = b->u.patches.n + 1;
	p->create = (uint8_t)create;
	p->ids = arena_alloc(&b->arena, sizeof(*p->ids) * 4);
	p->ops = arena_alloc(&b->arena, sizeof(*p->ops) * 8);
	p->notes = arena_alloc(&b->arena, sizeof(*p->notes) * 4);
	return p;
}

static void
id(struct msg_patch *p, const char *prop, const char *v)
{
	p->ids[p->nids].prop = str_c(prop);
	p->ids[p->nids++].value = str_c(v);
}

static struct msg_op *
op(struct msg_batch *b, struct msg_patch *p, int o, const char *prop)
{
	struct msg_op *x = &p->ops[p->nops++];

	x->op = (uint8_t)o;
	x->prop = str_c(prop);
	x->vals = arena_alloc(&b->arena, sizeof(struct val) * 4);
	return x;
}

static void
optext(struct msg_batch *b, struct msg_patch *p, int o, const char *prop, const char *v)
{
	struct msg_op *x = op(b, p, o, prop);

	x->vals[0].type = VAL_TEXT;
	x->vals[0].u.s = str_c(v);
	x->nvals = 1;
}

static void
opnum(struct msg_batch *b, struct msg_patch *p, int o, const char *prop, int64_t v)
{
	struct msg_op *x = op(b, p, o, prop);

	x->vals[0].type = VAL_NUMBER;
	x->vals[0].u.i = v;
	x->nvals = 1;
}

/* A record that creates or finds a profile by email. */
static struct msg_patch *
by_email(struct msg_batch *b, const char *email, int create)
{
	struct msg_patch *p = rec(b, create);

	id(p, "email", email);
	optext(b, p, OP_SET, "email", email);
	return p;
}

static void
submit(struct writer *w, struct msg_batch *b)
{
	if (writer_submit(w, b) != 0)
		ok(0, "submit failed");
	free(b);
}

/* Sends b (taken over) as a frame from the wire, through e: writer_input's result. */
static int
input(struct writer *w, struct msg_batch *b, struct buf *e)
{
	char	 err[256];

	buf_reset(e);
	if (msg_encode(b, e, err, sizeof(err)) == -1)
		abort();
	msg_batch_clear(b);
	free(b);
	return writer_input(w, e->data, e->len);
}

/* The dump as one string (the writer must be closed: one env per process). */
static char *
dump(struct conf *c, int no_ids)
{
	char	*s = NULL;
	size_t	 n = 0;
	FILE	*f = open_memstream(&s, &n);

	if (writer_dump(c, no_ids, f) != 0)
		ok(0, "dump failed");
	fclose(f);
	return s;
}

static char *
show(struct conf *c, const char *what)
{
	char	*s = NULL;
	size_t	 n = 0;
	FILE	*f = open_memstream(&s, &n);
	int	 rc = writer_show(c, what, f);

	fclose(f);
	if (rc != 0) {
		free(s);
		return strdup("(not found)");
	}
	s[strcspn(s, "\n")] = '\0';
	return s;
}

/* The last ACK due, decoded into a (caller clears). */
static int
last_ack(struct writer *w, struct msg_batch *a)
{
	struct buf	 b;
	char		 err[256];
	int		 got = 0;

	buf_init(&b, MSG_MAX_BYTES);
	memset(a, 0, sizeof(*a));
	while (writer_ack_next(w, &b) == 1) {
		if (got)
			msg_batch_clear(a);
		if (msg_decode(b.data, b.len, a, err, sizeof(err)) != 0) {
			ok(0, "ack decodes: %s", err);
			break;
		}
		got = 1;
	}
	buf_clear(&b);
	return got;
}

static const struct stats *
goal_stats(const struct msg_batch *a, const char *goal)
{
	for (uint32_t i = 0; i < a->u.ack.nstats; i++)
		if (strcmp(a->u.ack.stats[i].goal, goal) == 0)
			return &a->u.ack.stats[i];
	return NULL;
}

static uint64_t
reason(const struct stats *g, const char *r)
{
	for (uint32_t i = 0; g && i < g->nreasons; i++)
		if (strcmp(g->reasons[i].reason, r) == 0)
			return g->reasons[i].n;
	return 0;
}

static void
test_rules(void)
{
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b, a;
	struct msg_patch *p;
	const struct stats *g;
	char		 err[256], *d;

	conf_make(&c, "rules");
	w = writer_open(&c, 0, err, sizeof(err));
	ok(w != NULL, "open: %s", w ? "" : err);
	if (w == NULL)
		return;

	b = batch(1, 1, "c1", "g1");
	p = by_email(b, "a@x.org", 1);				/* 1: create */
	optext(b, p, OP_SET, "name", "Ann");
	optext(b, p, OP_ADD, "lists", "l1");
	opnum(b, p, OP_SUM, "opens", 2);
	p = by_email(b, "a@x.org", 1);				/* 2: each rule again */
	optext(b, p, OP_SET_IF_EMPTY, "name", "Bob");
	optext(b, p, OP_ADD, "lists", "l2");
	optext(b, p, OP_ADD, "lists", "l1");
	opnum(b, p, OP_SUM, "opens", 3);
	p = by_email(b, "a@x.org", 1);				/* 3: nothing new */
	optext(b, p, OP_SET_IF_EMPTY, "name", "Cy");
	optext(b, p, OP_ADD, "lists", "l2");
	p = by_email(b, "b@x.org", 0);				/* 4: create off */
	p = rec(b, 1);						/* 5: mapper skip */
	p->skip = str_c("no_identifier");
	p = by_email(b, "a@x.org", 1);				/* 6: notes */
	p->notes[p->nnotes++] = str_c("sum_not_a_number:opens");
	opnum(b, p, OP_SUM, "name", 1);				/* sum on text */
	opnum(b, p, OP_SET, "nosuch", 1);
	opnum(b, p, OP_SUM, "opens", INT64_MAX);		/* overflow */
	p = by_email(b, "c@x.org", 1);				/* 7 */
	optext(b, p, OP_SET, "name", "Cat");
	p = by_email(b, "c@x.org", 1);				/* 8: set replaces */
	optext(b, p, OP_SET, "name", "Cathy");
	submit(w, b);
	is_int(writer_uncommitted(w), 8, "8 records pending");
	ok(writer_ack_next(w, &(struct buf){ 0 }) == 0, "no ACK before commit");
	is_int(writer_commit(w), 0, "commit");
	ok(last_ack(w, &a) == 1, "an ACK after commit");
	is_int(a.kind, MSG_ACK, "kind ack");
	is_int(a.run, 1, "ack run");
	is_int(a.u.ack.applied, 8, "applied 8");
	ok(str_eq(a.src.conn, "c1"), "ack names the connection");
	g = goal_stats(&a, "g1");
	ok(g != NULL, "stats of g1");
	if (g) {
		is_int(g->created, 2, "created");
		is_int(g->updated, 2, "updated");
		is_int(g->unchanged, 2, "unchanged");
		is_int(g->skipped, 2, "skipped");
		is_int(reason(g, "no_match"), 1, "no_match");
		is_int(reason(g, "no_identifier"), 1, "mapper skip reason");
		is_int(reason(g, "sum_not_a_number:opens"), 1, "mapper note");
		is_int(reason(g, "sum_not_a_number:name"), 1, "writer note: sum on text");
		is_int(reason(g, "unknown_property:nosuch"), 1, "unknown property");
		is_int(reason(g, "sum_overflow:opens"), 1, "overflow note");
		is_int(g->unique, 2, "data exchange: two profiles");
		is_int(g->nlast, 2, "two last ids");
		/* c@x.org: created by 7, then 8 changed its name: what 8 did. */
		ok(g->changes[0] != NULL && strcmp(g->changes[0],
		    "\"identifier\":{\"email\":\"c@x.org\"},\"changed\":{\"name\":\"Cathy\"}") == 0,
		    "the last change: identifier and the property it changed: %s",
		    g->changes[0] ? g->changes[0] : "(none)");
		ok(g->changes[1] != NULL && strstr(g->changes[1], "\"changed\":{") != NULL,
		    "the other last profile's change: %s", g->changes[1] ? g->changes[1] : "(none)");
	}
	msg_batch_clear(&a);
	writer_close(&w);

	d = dump(&c, 0);
	ok(strstr(d, "\"id\":\"00") != NULL && strstr(d, "\"created\":\"20") != NULL,
	    "dump with ids");
	free(d);
	d = dump(&c, 1);
	is_str(d,
	    "{\"properties\":{\"email\":\"a@x.org\",\"lists\":[\"l1\",\"l2\"],"
	    "\"name\":\"Ann\",\"opens\":5}}\n"
	    "{\"properties\":{\"email\":\"c@x.org\",\"name\":\"Cathy\"}}\n",
	    "dump after each rule");
	free(d);
	d = show(&c, "email= A@X.org ");
	ok(strstr(d, "\"name\":\"Ann\"") != NULL, "show by normalized identifier");
	free(d);
	{
		char *s = NULL;
		size_t n = 0;
		FILE *f = open_memstream(&s, &n);

		is_int(writer_stats(&c, 1, f), 0, "stats");
		fclose(f);
		ok(strstr(s, "\"created\":2,\"updated\":2,\"unchanged\":2,\"skipped\":2") != NULL,
		    "stats JSON: %s", s);
		ok(strstr(s, "\"unique\":2") != NULL, "stats unique");
		free(s);
	}
}

/*
 * The property each name of a batch resolves to is remembered for the
 * batch: ops in another order, unknown names, a name of the same length
 * at a position, and a configuration changed between two batches must
 * each still find the property they name.
 */
static void
test_prop_slots(void)
{
	/* The configuration after a reload: "name" is no longer declared. */
	static struct conf_prop props2[] = {
		{ "$consents", VAL_TEXT, 1, 0 },
		{ "email", VAL_TEXT, 0, 1 },
		{ "extid", VAL_TEXT, 0, 1 },
		{ "lists", VAL_TEXT, 1, 0 },
		{ "opens", VAL_NUMBER, 0, 0 },
		{ "sailthru_profile_id", VAL_TEXT, 0, 1 },
		{ "score", VAL_DECIMAL, 0, 0 },
	};
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b, a;
	struct msg_patch *p;
	const struct stats *g;
	char		 err[256], *d;

	conf_make(&c, "slots");
	w = writer_open(&c, 0, err, sizeof(err));
	ok(w != NULL, "open: %s", w ? "" : err);
	if (w == NULL)
		return;
	b = batch(1, 1, "c1", "g1");
	p = by_email(b, "p1@x.org", 1);
	optext(b, p, OP_SET, "name", "A");
	opnum(b, p, OP_SUM, "opens", 1);
	p = by_email(b, "p2@x.org", 1);				/* the other order */
	opnum(b, p, OP_SUM, "opens", 2);
	optext(b, p, OP_SET, "name", "B");
	p = by_email(b, "p3@x.org", 1);				/* unknown, then known */
	opnum(b, p, OP_SET, "nosuch", 3);
	optext(b, p, OP_SET, "name", "C");
	p = by_email(b, "p4@x.org", 1);				/* known after unknown */
	optext(b, p, OP_SET, "name", "D");
	opnum(b, p, OP_SET, "nosuch2", 4);
	p = rec(b, 1);						/* same length as "email" */
	id(p, "email", "p5@x.org");
	opnum(b, p, OP_SUM, "opens", 5);
	optext(b, p, OP_SET, "email", "p5@x.org");
	p = rec(b, 1);						/* an undeclared identifier */
	id(p, "nosuch", "v");
	optext(b, p, OP_SET, "name", "X");
	p = rec(b, 1);						/* another one at that place */
	id(p, "extid", "e6");
	optext(b, p, OP_SET, "extid", "e6");
	optext(b, p, OP_SET, "name", "F");
	submit(w, b);
	is_int(writer_commit(w), 0, "commit");
	ok(last_ack(w, &a) == 1, "an ACK after commit");
	g = goal_stats(&a, "g1");
	ok(g != NULL, "stats of g1");
	if (g) {
		is_int(g->created, 6, "created");
		is_int(g->skipped, 1, "skipped");
		is_int(reason(g, "bad_identifier"), 1, "undeclared identifier");
		is_int(reason(g, "unknown_property:nosuch"), 1, "unknown property");
		is_int(reason(g, "unknown_property:nosuch2"), 1, "unknown property after a known");
		is_int(reason(g, "type_mismatch:opens") + reason(g, "type_mismatch:name") +
		    reason(g, "type_mismatch:email"), 0, "no op took another position's type");
	}
	msg_batch_clear(&a);

	/* The same positions and names under a configuration without "name". */
	c.store.props = props2;
	c.store.nprops = sizeof(props2) / sizeof(props2[0]);
	b = batch(1, 8, "c1", "g1");
	p = by_email(b, "p1@x.org", 1);
	optext(b, p, OP_SET, "name", "A2");
	opnum(b, p, OP_SUM, "opens", 10);
	submit(w, b);
	is_int(writer_commit(w), 0, "commit after the change");
	ok(last_ack(w, &a) == 1, "an ACK after the change");
	g = goal_stats(&a, "g1");
	is_int(reason(g, "unknown_property:name"), 1, "name is unknown in the next batch");
	msg_batch_clear(&a);
	writer_close(&w);
	c.store.props = props;
	c.store.nprops = sizeof(props) / sizeof(props[0]);

	d = dump(&c, 1);
	is_str(d,
	    "{\"properties\":{\"email\":\"p1@x.org\",\"name\":\"A\",\"opens\":11}}\n"
	    "{\"properties\":{\"email\":\"p2@x.org\",\"name\":\"B\",\"opens\":2}}\n"
	    "{\"properties\":{\"email\":\"p3@x.org\",\"name\":\"C\"}}\n"
	    "{\"properties\":{\"email\":\"p4@x.org\",\"name\":\"D\"}}\n"
	    "{\"properties\":{\"email\":\"p5@x.org\",\"opens\":5}}\n"
	    "{\"properties\":{\"extid\":\"e6\",\"name\":\"F\"}}\n",
	    "each op found its own property");
	free(d);
}

static void
test_merge(void)
{
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b, a;
	struct msg_patch *p;
	struct store	*s;
	char		 err[256], *d, *sa, *sb, hexa[PROFILE_ID_HEX], hexb[PROFILE_ID_HEX];
	uint64_t	 ida = 0, idb = 0, got;

	conf_make(&c, "merge");
	w = writer_open(&c, 0, err, sizeof(err));
	if (w == NULL)
		return;
	b = batch(5, 1, "c1", "g1");
	p = by_email(b, "a@x.org", 1);			/* A: email only */
	optext(b, p, OP_ADD, "lists", "la");
	p = rec(b, 1);					/* B: sid only, older email */
	id(p, "sailthru_profile_id", "sid-b");
	optext(b, p, OP_SET, "sailthru_profile_id", "sid-b");
	optext(b, p, OP_SET, "email", "old@x.org");
	optext(b, p, OP_ADD, "lists", "lb");
	optext(b, p, OP_SET, "name", "Bee");
	p = by_email(b, "d@x.org", 1);			/* C: extid X */
	optext(b, p, OP_SET, "extid", "X");
	p = by_email(b, "e@x.org", 1);			/* D */
	submit(w, b);
	writer_commit(w);
	last_ack(w, &a);
	if (a.u.ack.nstats == 1 && a.u.ack.stats[0].nlast == 4) {
		idb = a.u.ack.stats[0].last[2];
		ida = a.u.ack.stats[0].last[3];
	}
	msg_batch_clear(&a);
	ok(ida && ida < idb, "A is older than B");

	b = batch(5, 5, "c1", "g1");
	p = rec(b, 1);					/* email -> A, sid -> B: merge */
	id(p, "email", "a@x.org");
	id(p, "sailthru_profile_id", "sid-b");
	optext(b, p, OP_SET, "sailthru_profile_id", "sid-b");
	opnum(b, p, OP_SUM, "opens", 1);
	p = rec(b, 1);					/* email -> D, extid -> C: conflict */
	id(p, "email", "e@x.org");
	id(p, "extid", "X");
	optext(b, p, OP_SET, "name", "Eve");
	p = by_email(b, "e@x.org", 1);			/* extid X is C's */
	optext(b, p, OP_SET, "extid", "X");
	optext(b, p, OP_SET, "name", "Eve");
	p = by_email(b, "d@x.org", 1);			/* C drops X: entry deleted */
	optext(b, p, OP_SET, "extid", "Y");
	p = by_email(b, "e@x.org", 1);			/* now X is free */
	optext(b, p, OP_SET, "extid", "X");
	submit(w, b);
	writer_commit(w);
	last_ack(w, &a);
	{
		const struct stats *g = goal_stats(&a, "g1");

		ok(g && g->updated == 4 && g->skipped == 1, "merge run: 4 updated, 1 skipped");
		is_int(reason(g, "identifier_conflict"), 1, "identifier_conflict");
		is_int(reason(g, "identifier_taken:extid"), 1, "identifier_taken");
		ok(g && g->last[0] != ida, "last ids newest first");
	}
	msg_batch_clear(&a);

	/*
	 * Identifiers the matched profile holds are not looked up again; one
	 * it does not hold still is, and finds its own profile.
	 */
	b = batch(5, 10, "c1", "g1");
	p = rec(b, 1);					/* both held by A */
	id(p, "email", "a@x.org");
	id(p, "sailthru_profile_id", "sid-b");
	opnum(b, p, OP_SUM, "opens", 1);
	p = rec(b, 1);					/* the loser's email, then A's sid */
	id(p, "email", "old@x.org");
	id(p, "sailthru_profile_id", "sid-b");
	optext(b, p, OP_SET, "sailthru_profile_id", "sid-b");
	opnum(b, p, OP_SUM, "opens", 1);
	p = rec(b, 1);					/* D, and C's extid: conflict */
	id(p, "email", "e@x.org");
	id(p, "extid", "Y");
	optext(b, p, OP_SET, "name", "Eve2");
	submit(w, b);
	writer_commit(w);
	last_ack(w, &a);
	{
		const struct stats *g = goal_stats(&a, "g1");

		ok(g && g->updated == 6 && g->skipped == 2, "held identifiers: 2 more updated, 1 skipped");
		is_int(reason(g, "identifier_conflict"), 2, "an identifier another profile holds");
	}
	msg_batch_clear(&a);
	writer_close(&w);

	d = dump(&c, 1);
	is_str(d,
	    "{\"properties\":{\"email\":\"a@x.org\",\"lists\":[\"la\",\"lb\"],"
	    "\"name\":\"Bee\",\"opens\":3,\"sailthru_profile_id\":\"sid-b\"}}\n"
	    "{\"properties\":{\"email\":\"d@x.org\",\"extid\":\"Y\"}}\n"
	    "{\"properties\":{\"email\":\"e@x.org\",\"extid\":\"X\",\"name\":\"Eve\"}}\n",
	    "merged store: one profile for A and B, redirect not dumped");
	free(d);
	profile_id_fmt(ida, hexa);
	profile_id_fmt(idb, hexb);
	sa = show(&c, hexa);
	sb = show(&c, hexb);
	is_str(sb, sa, "B's id resolves to the survivor A");
	ok(strstr(sb, hexa) != NULL, "shows A's id");
	free(sa);
	free(sb);

	s = store_open(&c.store, 0, STORE_RDONLY, err, sizeof(err));
	ok(s != NULL, "open store");
	if (s) {
		store_read_begin(s);
		ok(store_ident_get(s, "sailthru_profile_id", 19, "sid-b", 5, &got) == 0 &&
		    got == ida, "sid index repointed to A");
		ok(store_ident_get(s, "email", 5, "old@x.org", 9, &got) == 0 && got == ida,
		    "loser's other email repointed to A");
		ok(store_ident_get(s, "extid", 5, "X", 1, &got) == 0 && got != ida,
		    "extid X indexed for its new owner");
		{
			struct profile p2;
			struct arena ar;

			arena_init(&ar);
			ok(store_profile_get_raw(s, idb, &p2, &ar) == 0 && p2.redirect == ida,
			    "B stored as a redirect to A");
			arena_clear(&ar);
		}
		store_read_end(s);
		store_close(&s);
	}
}

/* The same 40 records in 8 batches of 5, for the order tests. */
static struct msg_batch *
order_batch(int k)
{
	struct msg_batch *b = batch(9, (uint64_t)k * 5 + 1, "c1", "g1");
	char e[32], l[32];

	for (int i = 0; i < 5; i++) {
		int n = k * 5 + i;
		struct msg_patch *p;

		snprintf(e, sizeof(e), "u%d@x.org", n % 7);
		snprintf(l, sizeof(l), "list%d", n % 3);
		p = by_email(b, arena_strndup(&b->arena, e, strlen(e)), 1);
		opnum(b, p, OP_SUM, "opens", n);
		optext(b, p, OP_ADD, "lists", arena_strndup(&b->arena, l, strlen(l)));
		optext(b, p, OP_SET, "name", arena_strndup(&b->arena, l, strlen(l)));
	}
	return b;
}

static void
test_order(void)
{
	struct conf	 c1, c2, c3;
	struct writer	*w;
	struct msg_batch a;
	char		 err[256], *d1, *d2, *d3;
	int		 order[] = { 3, 1, 0, 0, 2, 5, 4, 1, 7, 6, 6, 2, 7 };

	conf_make(&c1, "inorder");
	w = writer_open(&c1, 0, err, sizeof(err));
	for (int k = 0; k < 8; k++) {
		submit(w, order_batch(k));
		if (k == 3)
			writer_commit(w);
	}
	writer_commit(w);
	writer_close(&w);
	d1 = dump(&c1, 1);

	/* Shuffled and duplicated, with commits in between. */
	conf_make(&c2, "shuffled");
	w = writer_open(&c2, 0, err, sizeof(err));
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		submit(w, order_batch(order[i]));
		if (i == 4 || i == 9)
			writer_commit(w);
	}
	writer_commit(w);
	last_ack(w, &a);
	is_int(a.u.ack.applied, 40, "all 40 applied");
	msg_batch_clear(&a);
	/* Everything again: all at or below applied, answered at once. */
	for (int k = 0; k < 8; k++)
		submit(w, order_batch(k));
	is_int(writer_uncommitted(w), 0, "resends apply nothing");
	ok(last_ack(w, &a) == 1 && a.u.ack.applied == 40, "resend answered with an ACK");
	msg_batch_clear(&a);
	is_int(writer_counters(w)->duplicates, 8 + 5, "duplicates counted");
	writer_close(&w);
	d2 = dump(&c2, 1);
	is_str(d2, d1, "shuffled, duplicated batches give the same store");
	ok(strstr(d1, "{\"properties\":{\"email\":\"u0@x.org\",\"lists\":[\"list0\","
	    "\"list1\",\"list2\"],\"name\":\"list2\",\"opens\":105}}") != NULL,
	    "sum applied once per record: 0+7+14+21+28+35 = 105");

	/* Restart in the middle: uncommitted work is lost and resent. */
	conf_make(&c3, "restart");
	w = writer_open(&c3, 0, err, sizeof(err));
	for (int k = 0; k < 4; k++)
		submit(w, order_batch(k));
	writer_commit(w);
	submit(w, order_batch(4));
	writer_close(&w);			/* batch 4 was never committed */
	w = writer_open(&c3, 0, err, sizeof(err));
	for (int k = 0; k < 8; k++)
		submit(w, order_batch(k));
	writer_commit(w);
	writer_close(&w);
	d3 = dump(&c3, 1);
	is_str(d3, d1, "restart and resend from 1 gives the same store");
	free(d1);
	free(d2);
	free(d3);
}

static void
test_consent_exchange_last(void)
{
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b, a;
	struct msg_patch *p;
	const struct stats *g;
	char		 err[256], e[32], *d;

	conf_make(&c, "consent");
	w = writer_open(&c, 0, err, sizeof(err));
	b = batch(3, 1, "c2", "g2");
	by_email(b, "no@x.org", 1);				/* no consent */
	p = by_email(b, "yes@x.org", 1);
	optext(b, p, OP_ADD, "$consents", "marketing");
	p = by_email(b, "other@x.org", 1);
	optext(b, p, OP_ADD, "$consents", "analytics");
	p = by_email(b, "yes@x.org", 1);			/* existing, consented */
	optext(b, p, OP_SET, "name", "Yes");
	p = by_email(b, "yes@x.org", 1);			/* again: exchange once */
	optext(b, p, OP_SET, "name", "Yes2");
	submit(w, b);
	writer_commit(w);
	last_ack(w, &a);
	g = goal_stats(&a, "g2");
	ok(g && g->created == 1 && g->updated == 2 && g->skipped == 2,
	    "consent: 1 created, 2 updated, 2 skipped");
	is_int(reason(g, "no_consent"), 2, "no_consent counted");
	is_int(g ? g->unique : 0, 1, "exchange counted once");
	msg_batch_clear(&a);

	/* A second run touching the same profile: still one unique. */
	b = batch(4, 1, "c2", "g2");
	p = by_email(b, "yes@x.org", 1);
	optext(b, p, OP_SET, "name", "Yes3");
	for (int i = 0; i < 7; i++) {
		snprintf(e, sizeof(e), "n%d@x.org", i);
		p = by_email(b, arena_strndup(&b->arena, e, strlen(e)), 1);
		optext(b, p, OP_ADD, "$consents", "marketing");
	}
	submit(w, b);
	writer_commit(w);
	last_ack(w, &a);
	g = goal_stats(&a, "g2");
	is_int(g ? g->unique : 0, 8, "unique: 1 + 7 new profiles");
	is_int(g ? g->nlast : 0, 5, "five last ids");
	ok(g && g->last[0] > g->last[1] && g->last[1] > g->last[2] &&
	    g->last[3] > g->last[4], "newest first");
	msg_batch_clear(&a);
	writer_close(&w);
	d = dump(&c, 1);
	ok(strstr(d, "no@x.org") == NULL, "no consent: nothing written");
	ok(strstr(d, "other@x.org") == NULL, "other objective: nothing written");
	free(d);
}

/*
 * The last five keep their changes when the newest records of a batch
 * name fewer than five profiles (the writer holds changes back while newer
 * records may still push them out).
 */
static void
test_last_changes_held(void)
{
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b, a;
	struct msg_patch *p;
	const struct stats *g;
	char		 err[256], e[32], nm[16];
	int		 all = 1;

	conf_make(&c, "lastq");
	w = writer_open(&c, 0, err, sizeof(err));
	b = batch(6, 1, "c1", "g5");
	for (int i = 0; i < 30; i++) {
		snprintf(e, sizeof(e), "q%d@x.org", i);
		p = by_email(b, arena_strndup(&b->arena, e, strlen(e)), 1);
		optext(b, p, OP_SET, "name", "A");
	}
	for (int i = 0; i < 10; i++) {
		snprintf(nm, sizeof(nm), "B%d", i);
		p = by_email(b, "q29@x.org", 1);
		optext(b, p, OP_SET, "name", arena_strndup(&b->arena, nm, strlen(nm)));
	}
	submit(w, b);
	writer_commit(w);
	last_ack(w, &a);
	g = goal_stats(&a, "g5");
	is_int(g ? g->nlast : 0, 5, "five last ids");
	for (int i = 0; g && i < 5; i++)
		all &= g->changes[i] != NULL;
	ok(g && all, "each of the last five has its change");
	ok(g && g->changes[0] && strstr(g->changes[0], "\"B9\"") != NULL,
	    "the newest is the last update: %s", g && g->changes[0] ? g->changes[0] : "(none)");
	ok(g && g->changes[1] && strstr(g->changes[1], "q28@x.org") != NULL &&
	    g->changes[4] && strstr(g->changes[4], "q25@x.org") != NULL,
	    "then the four created before it, newest first");
	msg_batch_clear(&a);
	writer_close(&w);
}

static void
test_hostile(void)
{
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b;
	char		 err[256];

	conf_make(&c, "hostile");
	w = writer_open(&c, 0, err, sizeof(err));
	is_int(writer_input(w, "\x93\x01\x02", 3), 0, "garbage: no failure");
	is_int(writer_input(w, "", 0), 0, "empty frame");
	b = batch(1, 1, "c1", "g1");
	b->lane = 3;
	by_email(b, "a@x.org", 1);
	submit(w, b);
	b = batch(1, 1, "c1", "g1");
	b->kind = MSG_USERS;
	submit(w, b);
	is_int(writer_counters(w)->dropped, 4, "four batches dropped");
	is_int(writer_uncommitted(w), 0, "nothing applied");
	/* More early batches than the hold allows (4 x window 4 = 16). */
	for (int k = 2; k <= 20; k++) {
		b = batch(1, (uint64_t)k, "c1", "g1");
		by_email(b, "a@x.org", 1);
		submit(w, b);
	}
	is_int(writer_counters(w)->dropped, 4 + 3, "hold overflow drops 3 batches");
	b = batch(1, 1, "c1", "g1");
	by_email(b, "a@x.org", 1);
	submit(w, b);
	is_int(writer_uncommitted(w), 17, "gap filled: 1 and the 16 held batches applied");
	writer_commit(w);

	/*
	 * Far ahead of the applied point (past 4 windows of 1000 rows): no
	 * fetcher sends that, so it is dropped, never held.
	 */
	b = batch(1, 1000000, "c1", "g1");
	by_email(b, "far@x.org", 1);
	submit(w, b);
	is_int(writer_counters(w)->dropped, 4 + 3 + 1, "a far-future batch is dropped");
	is_int(writer_held(w), 0, "... and not held");
	b = batch(1, 18 + 16000, "c1", "g1");
	by_email(b, "near@x.org", 1);
	submit(w, b);
	is_int(writer_held(w), 1, "the furthest batch a fetcher could send is held");

	/* Patches that would make profiles nobody can reach are refused. */
	{
		struct msg_batch *bb = batch(2, 1, "c1", "g2"), a;
		struct msg_patch *p;
		const struct stats *g;

		p = rec(bb, 1);					/* no identifier */
		optext(bb, p, OP_SET, "name", "Nobody");
		p = rec(bb, 1);					/* empty value */
		id(p, "email", "");
		optext(bb, p, OP_SET, "name", "Empty");
		p = rec(bb, 1);					/* not unique */
		id(p, "name", "Ann");
		p = rec(bb, 1);					/* unknown */
		id(p, "nosuch", "x");
		p = rec(bb, 1);					/* broken UTF-8 */
		id(p, "email", "a\xff@x.org");
		p = rec(bb, 1);					/* a NUL inside */
		id(p, "email", "b@x.org");
		p->ids[0].value.len = 8;
		by_email(bb, "ok@x.org", 1);
		submit(w, bb);
		writer_commit(w);
		ok(last_ack(w, &a), "an ACK for run 2");
		g = goal_stats(&a, "g2");
		ok(g && g->created == 1, "only the reachable record created a profile");
		is_int(reason(g, "no_identifier"), 2, "no identifier, empty identifier");
		is_int(reason(g, "bad_identifier"), 2, "non-unique, unknown property");
		is_int(reason(g, "invalid_identifier"), 2, "invalid UTF-8, NUL");
		msg_batch_clear(&a);
	}

	/*
	 * From the wire (writer_input), a batch of a run nobody announced is
	 * refused before it is held or applied: no tag, a tag for another
	 * run, a tag under another secret, an unknown connection.
	 */
	{
		const char *const why[] = { "no tag", "another run's tag",
		    "another secret's tag", "an unknown connection" };
		char	 tag[RUNAUTH_HEX + 1];
		struct buf e;
		uint64_t before = writer_counters(w)->unannounced;

		buf_init(&e, MSG_MAX_BYTES);
		for (int k = 0; k < 5; k++) {
			b = batch(3, 1, k == 3 ? "c9" : "c1", "g1");
			by_email(b, "announced@x.org", 1);
			if (k == 1)
				runauth_tag("c1-secret", "c1", 2, 4, tag);
			else if (k == 2)
				runauth_tag("guess", "c1", 2, 3, tag);
			else
				runauth_tag("c1-secret", "c1", 2, 3, tag);
			if (k != 0)
				b->auth = str_c(tag);
			is_int(input(w, b, &e), 0, "input %d", k);
			if (k < 4)
				is_int(writer_counters(w)->unannounced, before + (uint64_t)k + 1,
				    "refused: %s", why[k]);
		}
		is_int(writer_counters(w)->unannounced, before + 4, "the announced one is taken");
		is_int(writer_uncommitted(w), 1, "... and applied");
		writer_commit(w);
		buf_clear(&e);
	}
	writer_close(&w);
}

/*
 * store.txn_mb bounds a group by the pages it may dirty: with rows and
 * time out of the way, 16 MiB (4,096 pages) of new profiles whose 5 kB
 * names take two overflow pages each make the group due; 512 MiB does not.
 */
static void
test_txn_budget(void)
{
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b;
	char		 err[256], e[64], *name;
	uint32_t	 mb[] = { 16, 512 };
	uint64_t	 due_at = 0;

	name = malloc(5001);
	memset(name, 'n', 5000);
	name[5000] = '\0';
	for (int i = 0; i < 2; i++) {
		conf_make(&c, i ? "budget-512" : "budget-16");
		c.store.commit_rows = 10000000;
		c.store.commit_ms = 600000;
		c.store.txn_mb = mb[i];
		c.store.map_size = 256 << 20;	/* no map growth: a redo commits */
		if ((w = writer_open(&c, 0, err, sizeof(err))) == NULL) {
			ok(0, "writer_open: %s", err);
			return;
		}
		due_at = 0;
		for (int k = 0; k < 80 && due_at == 0; k++) {
			b = batch(21, (uint64_t)k * MAXREC + 1, "c1", "budget");
			for (int r = 0; r < MAXREC; r++) {
				/* Spread over the index: one leaf page per entry, at first. */
				snprintf(e, sizeof(e), "%08x.budget@example.com",
				    (unsigned)((k * MAXREC + r) * 2654435761u));
				struct msg_patch *p = by_email(b,
				    arena_strndup(&b->arena, e, strlen(e)), 1);

				optext(b, p, OP_SET, "name", name);
			}
			submit(w, b);
			if (writer_due_in(w) == 0)
				due_at = (uint64_t)(k + 1) * MAXREC;
		}
		if (i == 0)
			ok(due_at >= 1536 && due_at <= 2048 + MAXREC,
			    "txn_mb 16: due after %llu new profiles of 2 pages (4,096 pages)",
			    (unsigned long long)due_at);
		else
			ok(due_at == 0 && writer_due_in(w) > 0,
			    "txn_mb 512: %d new profiles are not due", 80 * MAXREC);
		writer_commit(w);
		writer_close(&w);
	}
	free(name);
}

/*
 * store.txn_mb bounds what a group's commit writes, not an estimate of it:
 * after the first commits the writer scales the store's estimate by what
 * commits wrote, so each group of small new profiles spread over the
 * index is due once it has dirtied about the budget (4,096 pages at 16
 * MiB, less the heap of the identifiers waiting to be staged), never much
 * past it (one batch).  The first, before any commit, goes by the
 * estimate alone, which overstates.
 */
static void
test_txn_written(void)
{
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b;
	char		 err[256], e[64];
	uint64_t	 seq = 1, pages, wrote[4], own;
	int		 n = 0;

	conf_make(&c, "budget-written");
	c.store.commit_rows = 10000000;
	c.store.commit_ms = 600000;
	c.store.txn_mb = 16;
	c.store.map_size = 1024 << 20;
	if ((w = writer_open(&c, 0, err, sizeof(err))) == NULL) {
		ok(0, "writer_open: %s", err);
		return;
	}
	for (int g = 0; g < 4; g++) {
		pages = writer_counters(w)->commit_pages;
		for (int k = 0; k < 4000 && writer_due_in(w) != 0; k++) {
			b = batch(24, seq, "c1", "written");
			for (int r = 0; r < MAXREC; r++, n++) {
				snprintf(e, sizeof(e), "%08x.written@example.com",
				    (unsigned)n * 2654435761u);
				struct msg_patch *p = by_email(b,
				    arena_strndup(&b->arena, e, strlen(e)), 1);

				optext(b, p, OP_SET, "name", "a name of some thirty bytes");
			}
			seq += MAXREC;
			submit(w, b);
		}
		ok(writer_due_in(w) == 0, "group %d is due", g + 1);
		writer_commit(w);
		wrote[g] = writer_counters(w)->commit_pages - pages;
		ok(wrote[g] <= 4096 + 3 * MAXREC,
		    "group %d wrote %llu pages, within 16 MiB and a batch", g + 1,
		    (unsigned long long)wrote[g]);
	}
	own = writer_counters(w)->store_heap_max / 4096;
	ok(own > 0 && own < 4096 / 2 && wrote[3] > wrote[0] &&
	    wrote[3] >= (4096 - own) * 85 / 100,
	    "group 4 wrote %llu pages of the %llu the store's own heap (%llu "
	    "pages) leaves: the budget, not the estimate, bound it (group 1: %llu)",
	    (unsigned long long)wrote[3], (unsigned long long)(4096 - own),
	    (unsigned long long)own, (unsigned long long)wrote[0]);
	writer_close(&w);
}

/*
 * A group that changes more pages than the map has room for past its last
 * page (store_reserve made room for store.txn_mb only) finds it full: it
 * is applied again once the map has grown, and commits whole.  Submitted
 * decoded (writer_submit), the group keeps its batches; received as
 * frames (writer_input), it keeps the frames and decodes them again.
 */
static void
test_map_redo(int frames)
{
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b, a;
	struct buf	 e;
	char		 err[256], em[64], tag[RUNAUTH_HEX + 1], *name, *d, *at;
	int		 nb = 5, n;

	name = malloc(5001);
	memset(name, 'r', 5000);
	name[5000] = '\0';
	buf_init(&e, MSG_MAX_BYTES);
	conf_make(&c, frames ? "redo-frames" : "redo");
	c.store.txn_mb = 1;		/* room for 256 pages */
	c.store.commit_rows = 10000000;
	c.store.commit_ms = 600000;
	if ((w = writer_open(&c, 0, err, sizeof(err))) == NULL) {
		ok(0, "writer_open: %s", err);
		free(name);
		return;
	}
	runauth_tag("c1-secret", "c1", 2, 23, tag);
	/* One group: 320 profiles of two overflow pages each. */
	for (int k = 0; k < nb; k++) {
		b = batch(23, (uint64_t)k * MAXREC + 1, "c1", "redo");
		for (int r = 0; r < MAXREC; r++) {
			snprintf(em, sizeof(em), "redo%d@example.com", k * MAXREC + r);
			struct msg_patch *p = by_email(b,
			    arena_strndup(&b->arena, em, strlen(em)), 1);

			optext(b, p, OP_SET, "name", name);
		}
		if (!frames) {
			submit(w, b);
			continue;
		}
		b->auth = str_c(tag);
		is_int(input(w, b, &e), 0, "frame %d taken", k);
	}
	is_int(writer_commit(w), 0, "the group commits");
	ok(writer_counters(w)->redos > 0 && writer_counters(w)->grows > 1,
	    "a group larger than the room made for it was redone (%llu) as the map grew "
	    "(%llu doublings)", (unsigned long long)writer_counters(w)->redos,
	    (unsigned long long)writer_counters(w)->grows);
	last_ack(w, &a);
	is_int(a.u.ack.applied, nb * MAXREC, "every record of the redone group applied");
	ok(a.u.ack.nstats == 1 && a.u.ack.stats[0].created == (uint64_t)(nb * MAXREC),
	    "each created once");
	msg_batch_clear(&a);
	writer_close(&w);
	/* What the redo applied is what was sent: every profile, its name whole. */
	d = dump(&c, 1);
	for (n = 0, at = d; (at = strstr(at, name)) != NULL; at += 5000)
		n++;
	is_int(n, nb * MAXREC, "%s: every profile has its 5,000-byte name",
	    frames ? "frames decoded again" : "batches kept");
	ok(strstr(d, "redo0@example.com") && strstr(d, "redo319@example.com"),
	    "the first and the last profile are there");
	free(d);
	buf_clear(&e);
	free(name);
}

/*
 * Frames that arrive early (two mappers race) are held as frames and
 * decoded on their turn: applied in sequence order, each once.
 */
static void
test_held_frames(void)
{
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b, a;
	struct buf	 e;
	char		 err[256], tag[RUNAUTH_HEX + 1], v[16], *d;
	static const int order[] = { 4, 2, 3, 3, 1 };	/* 3 twice: already held */

	buf_init(&e, MSG_MAX_BYTES);
	conf_make(&c, "held-frames");
	if ((w = writer_open(&c, 0, err, sizeof(err))) == NULL) {
		ok(0, "writer_open: %s", err);
		return;
	}
	runauth_tag("c1-secret", "c1", 2, 5, tag);
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		struct msg_patch *p;

		b = batch(5, (uint64_t)order[k], "c1", "held");
		b->auth = str_c(tag);
		p = by_email(b, "held@example.com", 1);
		snprintf(v, sizeof(v), "v%d", order[k]);
		optext(b, p, OP_SET, "name", arena_strndup(&b->arena, v, strlen(v)));
		is_int(input(w, b, &e), 0, "frame of seq %d taken", order[k]);
		if (k == 2)
			is_int(writer_held(w), 3, "seqs 4, 2 and 3 held");
	}
	is_int(writer_held(w), 0, "seq 1 came: nothing held");
	is_int(writer_uncommitted(w), 4, "four records applied");
	is_int(writer_commit(w), 0, "committed");
	last_ack(w, &a);
	is_int(a.u.ack.applied, 4, "applied up to seq 4");
	ok(a.u.ack.nstats == 1 && a.u.ack.stats[0].created == 1 &&
	    a.u.ack.stats[0].updated == 3, "created once, then updated three times");
	msg_batch_clear(&a);
	writer_close(&w);
	d = dump(&c, 1);
	ok(strstr(d, "\"v4\"") != NULL && strstr(d, "\"v3\"") == NULL,
	    "the last set is seq 4's: applied in order (%s)", d);
	free(d);
	buf_clear(&e);
}

static void
test_import(void)
{
	struct conf	 c;
	struct writer	*w;
	struct msg_batch *b, a;
	char		 err[256], e[48];
	int		 nb = 200, per = 1000;
	struct timespec	 t0, t1;
	double		 secs;

	conf_make(&c, "import");
	c.store.commit_rows = 50000;
	w = writer_open(&c, 0, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < nb; k++) {
		b = calloc(1, sizeof(*b));
		arena_init(&b->arena);
		b->kind = MSG_PATCHES;
		b->run = 11;
		b->seq_first = (uint64_t)k * per + 1;
		b->src.conn = str_c("c1");
		b->src.goal = str_c("imp");
		b->u.patches.recs = arena_alloc(&b->arena, sizeof(struct msg_patch) * per);
		for (int i = 0; i < per; i++) {
			struct msg_patch *p = &b->u.patches.recs[b->u.patches.n++];
			int n = k * per + i;

			p->create = 1;
			p->ids = arena_alloc(&b->arena, sizeof(*p->ids));
			p->ops = arena_alloc(&b->arena, sizeof(*p->ops) * 3);
			snprintf(e, sizeof(e), "user%d@example.com", (n * 7919) % (nb * per));
			p->nids = 1;
			p->ids[0].prop = str_c("email");
			p->ids[0].value.p = arena_strndup(&b->arena, e, strlen(e));
			p->ids[0].value.len = (uint32_t)strlen(e);
			p->nops = 3;
			p->ops[0].op = OP_SET;
			p->ops[0].prop = str_c("email");
			p->ops[0].nvals = 1;
			p->ops[0].vals = arena_alloc(&b->arena, sizeof(struct val) * 3);
			p->ops[0].vals[0].type = VAL_TEXT;
			p->ops[0].vals[0].u.s = p->ids[0].value;
			p->ops[1] = p->ops[0];
			p->ops[1].op = OP_ADD;
			p->ops[1].prop = str_c("lists");
			p->ops[1].vals = p->ops[0].vals + 1;
			p->ops[1].vals[0].type = VAL_TEXT;
			p->ops[1].vals[0].u.s = str_c("newsletter");
			p->ops[2] = p->ops[0];
			p->ops[2].op = OP_SUM;
			p->ops[2].prop = str_c("opens");
			p->ops[2].vals = p->ops[0].vals + 2;
			p->ops[2].vals[0].type = VAL_NUMBER;
			p->ops[2].vals[0].u.i = n % 13;
		}
		submit(w, b);
		if (writer_due_in(w) == 0)
			writer_commit(w);
	}
	writer_commit(w);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	last_ack(w, &a);
	is_int(a.u.ack.applied, nb * per, "import applied every record");
	ok(a.u.ack.nstats == 1 && a.u.ack.stats[0].created == (uint64_t)(nb * per),
	    "import created one profile per row");
	msg_batch_clear(&a);
	ok(writer_counters(w)->grows > 0 && writer_counters(w)->redos == 0,
	    "the 1 MiB map grew ahead of the groups (%llu doublings), none redone (%llu)",
	    (unsigned long long)writer_counters(w)->grows,
	    (unsigned long long)writer_counters(w)->redos);
	printf("# import: %d rows in %.2f s = %.0f rows/s (commit_rows %u, durable off)\n",
	    nb * per, secs, nb * per / secs, c.store.commit_rows);
	{
		const struct writer_counters *k = writer_counters(w);
		char		 data[400];
		struct stat	 st;
		uint64_t	 written = k->commit_pages + k->fold_pages;

		/* Every page of the file was written by a commit but the two metas. */
		snprintf(data, sizeof(data), "%s/lane-0/data.mdb", c.store.path);
		if (stat(data, &st) != 0)
			st.st_size = -1;
		ok(st.st_size > 0 && written + 2 >= (uint64_t)st.st_size / STORE_PAGE_BYTES &&
		    k->commit_pages > 0, "the commits and folds counted %llu pages written, the file "
		    "has %lld", (unsigned long long)written,
		    (long long)st.st_size / STORE_PAGE_BYTES);
	}
	writer_close(&w);
}

/*
 * Pages of path (a data.mdb) that hold needle, zeroed in place while the
 * store is open; their old bytes saved in *saved (caller frees) so that
 * page_restore can put them back.  Returns how many pages.  LMDB keeps
 * keys verbatim in its leaf pages and a zeroed page is no leaf, so a read
 * that reaches one fails with MDB_CORRUPTED: a real read error of the real
 * store, with nothing mocked.  The map is shared, so the open environment
 * sees the change at once.  Old copies of the page (LMDB copies on write)
 * are zeroed too; nothing reads them.
 */
static int
holds(const char *hay, size_t len, const char *needle, size_t nlen)
{
	for (size_t i = 0; i + nlen <= len; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return 1;
	return 0;
}

struct page_copy {
	off_t		 off;
	char		*bytes;
};

static size_t
pages_zero(const char *path, const char *needle, size_t nlen, struct page_copy **saved)
{
	long		 ps = sysconf(_SC_PAGESIZE);
	char		*pg = malloc((size_t)ps), *zero = calloc(1, (size_t)ps);
	int		 fd = open(path, O_RDWR);
	size_t		 n = 0;

	*saved = NULL;
	for (off_t off = 0; fd != -1 && pread(fd, pg, (size_t)ps, off) == ps; off += ps) {
		if (!holds(pg, (size_t)ps, needle, nlen))
			continue;
		*saved = realloc(*saved, (n + 1) * sizeof(**saved));
		(*saved)[n].off = off;
		(*saved)[n].bytes = malloc((size_t)ps);
		memcpy((*saved)[n].bytes, pg, (size_t)ps);
		if (pwrite(fd, zero, (size_t)ps, off) != ps)
			ok(0, "cannot zero a page of %s", path);
		n++;
	}
	if (fd != -1)
		close(fd);
	free(pg);
	free(zero);
	return n;
}

static void
pages_restore(const char *path, struct page_copy *saved, size_t n)
{
	long	 ps = sysconf(_SC_PAGESIZE);
	int	 fd = open(path, O_RDWR);

	for (size_t i = 0; i < n; i++) {
		if (fd == -1 || pwrite(fd, saved[i].bytes, (size_t)ps, saved[i].off) != ps)
			ok(0, "cannot restore a page of %s", path);
		free(saved[i].bytes);
	}
	if (fd != -1)
		close(fd);
	free(saved);
}

/*
 * The exchange count of an ACK is read from the store when the writer has
 * not cached it.  When that read fails, the ACK is dropped, never sent with
 * unique 0 (the fetcher would believe it); a resend brings it back once the
 * store reads again.
 */
static void
test_exchange_read_error(void)
{
	struct conf		 c;
	struct writer		*w;
	struct msg_batch	*b, a;
	struct msg_patch	*p;
	struct page_copy	*saved;
	struct buf		 out;
	char			 err[256], data[400];
	/*
	 * The count's node in its leaf: the key's size (12, little-endian, as
	 * LMDB's node header ends), the key, the count (3, big-endian).  A
	 * runstats key ends with the same conn and goal, after the lane (0).
	 */
	const char		 key[] = "\x0c\x00" "c1\x1f" "exch-read"
				     "\x00\x00\x00\x00\x00\x00\x00\x03";
	size_t			 npages;
	int			 got;

	conf_make(&c, "exchread");
	snprintf(data, sizeof(data), "%s/lane-0/data.mdb", c.store.path);
	w = writer_open(&c, 0, err, sizeof(err));
	b = batch(21, 1, "c1", "exch-read");
	by_email(b, "r1@x.org", 1);
	by_email(b, "r2@x.org", 1);
	by_email(b, "r3@x.org", 1);
	submit(w, b);
	writer_commit(w);
	got = last_ack(w, &a);
	ok(got && goal_stats(&a, "exch-read") && goal_stats(&a, "exch-read")->unique == 3,
	    "exchange read: three profiles counted");
	msg_batch_clear(&a);
	writer_close(&w);

	/* A restarted writer: nothing cached, the count is in the store only. */
	w = writer_open(&c, 0, err, sizeof(err));
	npages = pages_zero(data, key, sizeof(key) - 1, &saved);
	ok(npages > 0, "exchange read: the count's page found in the store file (%zu)",
	    npages);
	b = batch(22, 1, "c1", "exch-read");
	p = rec(b, 0);
	p->skip = str_c("bad_row");		/* no profile read, no exchange write */
	submit(w, b);
	is_int(writer_commit(w), 0, "exchange read: the run's group commits");
	buf_init(&out, MSG_MAX_BYTES);
	is_int(writer_ack_next(w, &out), -1, "exchange read: unreadable count, ACK dropped");
	is_int(writer_ack_next(w, &out), 0, "exchange read: no ACK left to send with unique 0");

	pages_restore(data, saved, npages);
	b = batch(22, 1, "c1", "exch-read");
	p = rec(b, 0);
	p->skip = str_c("bad_row");
	submit(w, b);				/* the fetcher's resend */
	got = last_ack(w, &a);
	ok(got && a.run == 22 && goal_stats(&a, "exch-read") &&
	    goal_stats(&a, "exch-read")->unique == 3 && goal_stats(&a, "exch-read")->skipped == 1,
	    "exchange read: after the resend the ACK carries the stored count, 3");
	msg_batch_clear(&a);
	buf_clear(&out);
	writer_commit(w);
	writer_close(&w);
}

/* Collects up to 8 profile ids of a lane into ids[1..], their count in ids[0]. */
static int
collect_id(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	uint64_t	*ids = arg;

	(void)val;
	(void)vlen;
	if (klen == 8 && ids[0] < 8)
		ids[++ids[0]] = store_be64_get(key);
	return 0;
}

/*
 * A lane written before schema 3 holds its exchange marks in the exchange
 * tree: a profile marked there is not counted again by its goal, and only
 * the goals that had not marked it put their mark in the profile.
 */
static void
test_exchange_legacy(void)
{
	struct conf	 c;
	struct writer	*w;
	struct store	*s;
	struct msg_batch *b, a;
	struct msg_patch *p;
	struct profile	 pr;
	struct arena	 ar;
	const struct stats *g;
	uint64_t	 ids[9] = { 0 };
	unsigned char	 mk[15] = "c1\x1f" "old\x1f", vb[8] = { 0 };
	char		 err[256];
	int		 moved = 0;

	conf_make(&c, "exchlegacy");
	w = writer_open(&c, 0, err, sizeof(err));
	b = batch(41, 1, "c1", "old");
	by_email(b, "l1@x.org", 1);
	by_email(b, "l2@x.org", 1);
	submit(w, b);
	writer_commit(w);
	writer_close(&w);

	/* Each mark moved from its profile to the tree, as schema 2 kept it. */
	arena_init(&ar);
	s = store_open(&c.store, 0, 0, err, sizeof(err));
	ok(s && store_begin(s) == 0 &&
	    store_raw_each(s, STORE_DB_PROFILES, collect_id, ids) == 0 && ids[0] == 2,
	    "legacy: two profiles");
	for (uint64_t i = 1; s && i <= ids[0]; i++) {
		if (store_profile_get(s, ids[i], &pr, &ar) != 0 || pr.nmarks != 1 ||
		    !profile_mark_has(&pr, "c1\x1f" "old", 6))
			continue;
		pr.nmarks = 0;
		store_be64_put(mk + 7, ids[i]);
		moved += store_profile_put(s, &pr) == 0 &&
		    store_raw_put(s, STORE_DB_EXCHANGE, mk, sizeof(mk), vb, 8) == 0;
	}
	ok(moved == 2 && store_commit(s) == 0, "legacy: both marks moved to the tree");
	store_close(&s);

	w = writer_open(&c, 0, err, sizeof(err));
	b = batch(42, 1, "c1", "old");
	p = by_email(b, "l1@x.org", 1);
	optext(b, p, OP_SET, "name", "L1");
	by_email(b, "l3@x.org", 1);
	submit(w, b);
	writer_commit(w);
	ok(last_ack(w, &a) && (g = goal_stats(&a, "old")) != NULL && g->updated == 1 &&
	    g->created == 1 && g->unique == 3,
	    "legacy: a profile marked in the tree is not counted again, a new one is");
	msg_batch_clear(&a);
	b = batch(43, 1, "c1", "new");
	p = by_email(b, "l1@x.org", 1);
	optext(b, p, OP_SET, "name", "L1b");
	submit(w, b);
	writer_commit(w);
	ok(last_ack(w, &a) && (g = goal_stats(&a, "new")) != NULL && g->unique == 1,
	    "legacy: another goal counts it");
	msg_batch_clear(&a);
	writer_close(&w);

	s = store_open(&c.store, 0, STORE_RDONLY, err, sizeof(err));
	ok(s && store_read_begin(s) == 0 && store_profile_get(s, ids[1], &pr, &ar) == 0 &&
	    pr.nmarks == 1 && profile_mark_has(&pr, "c1\x1f" "new", 6),
	    "legacy: the profile holds the new goal's mark, the old one stays in the tree");
	if (s)
		store_read_end(s);
	store_close(&s);
	arena_clear(&ar);
}

int
main(void)
{
	char cmd[300];

	log_init("t_writer", getenv("T_VERBOSE") ? LOG_DEBUG : LOG_ERR);
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	test_rules();
	test_prop_slots();
	test_merge();
	test_order();
	test_consent_exchange_last();
	test_last_changes_held();
	test_exchange_read_error();
	test_exchange_legacy();
	test_hostile();
	test_txn_budget();
	test_txn_written();
	test_map_redo(0);
	test_map_redo(1);
	test_held_frames();
	test_import();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return done_testing();
}
