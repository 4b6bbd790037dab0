/* tests/unit/t_msg.c: the message table and the batch codec, good and hostile input. */
#include <float.h>
#include <math.h>
#include <time.h>

#include <msgpack.h>

#include "tap.h"
#include "buf.h"
#include "log.h"
#include "msg.h"
#include "runauth.h"

static char err[256];

/* A deterministic generator, so every failure can be replayed by seed. */
static uint64_t rng_state;
static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int
str_same(struct str a, struct str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static int
val_same(const struct val *a, const struct val *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case VAL_NIL:
		return 1;
	case VAL_TEXT:
		return str_same(a->u.s, b->u.s);
	case VAL_NUMBER:
	case VAL_DATETIME:
		return a->u.i == b->u.i;
	case VAL_DECIMAL:
		return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
	case VAL_BOOL:
		return !!a->u.b == !!b->u.b;
	}
	return 0;
}

/* Every counter, reason, last id and unique of two stats. */
static int
stats_same(const struct stats *s, const struct stats *t)
{
	if (strcmp(s->goal, t->goal) != 0 || s->nreasons != t->nreasons ||
	    s->nlast != t->nlast || s->unique != t->unique)
		return 0;
	for (size_t i = 0; i < STATS_NCOUNTERS; i++)
		if (stats_counter_get(s, i) != stats_counter_get(t, i))
			return 0;
	for (size_t j = 0; j < s->nreasons; j++)
		if (strcmp(s->reasons[j].reason, t->reasons[j].reason) != 0 ||
		    s->reasons[j].n != t->reasons[j].n)
			return 0;
	for (uint32_t j = 0; j < s->nlast; j++)
		if (s->last[j] != t->last[j])
			return 0;
	return 1;
}

static int
batch_same(const struct msg_batch *a, const struct msg_batch *b)
{
	if (a->kind != b->kind || a->run != b->run || a->lane != b->lane ||
	    a->seq_first != b->seq_first || !str_same(a->src.conn, b->src.conn) ||
	    !str_same(a->src.goal, b->src.goal) || !str_same(a->src.list, b->src.list) ||
	    !str_same(a->conf.mapper, b->conf.mapper) ||
	    !str_same(a->conf.writer, b->conf.writer) ||
	    !str_same(a->conf.exporter, b->conf.exporter) ||
	    !str_same(a->auth, b->auth))
		return 0;
	switch (a->kind) {
	case MSG_USERS: {
		const struct msg_users *x = &a->u.users, *y = &b->u.users;
		if (x->ncols != y->ncols || x->nrows != y->nrows)
			return 0;
		for (uint32_t i = 0; i < x->ncols; i++)
			if (!str_same(x->cols[i], y->cols[i]))
				return 0;
		for (uint32_t i = 0; i < x->nrows; i++) {
			if (x->rows[i].line != y->rows[i].line ||
			    x->rows[i].nvals != y->rows[i].nvals)
				return 0;
			for (uint32_t j = 0; j < x->rows[i].nvals; j++)
				if (!str_same(x->rows[i].vals[j], y->rows[i].vals[j]))
					return 0;
		}
		return 1;
	}
	case MSG_PATCHES: {
		const struct msg_patches *x = &a->u.patches, *y = &b->u.patches;
		if (x->n != y->n)
			return 0;
		for (uint32_t i = 0; i < x->n; i++) {
			const struct msg_patch *p = &x->recs[i], *q = &y->recs[i];
			if (p->line != q->line || !str_same(p->skip, q->skip) ||
			    !!p->create != !!q->create || p->nids != q->nids ||
			    p->nops != q->nops || p->nnotes != q->nnotes)
				return 0;
			for (uint32_t j = 0; j < p->nids; j++)
				if (!str_same(p->ids[j].prop, q->ids[j].prop) ||
				    !str_same(p->ids[j].value, q->ids[j].value))
					return 0;
			for (uint32_t j = 0; j < p->nops; j++) {
				if (p->ops[j].op != q->ops[j].op ||
				    !str_same(p->ops[j].prop, q->ops[j].prop) ||
				    p->ops[j].nvals != q->ops[j].nvals)
					return 0;
				for (uint32_t k = 0; k < p->ops[j].nvals; k++)
					if (!val_same(&p->ops[j].vals[k], &q->ops[j].vals[k]))
						return 0;
			}
			for (uint32_t j = 0; j < p->nnotes; j++)
				if (!str_same(p->notes[j], q->notes[j]))
					return 0;
		}
		return 1;
	}
	case MSG_ACK: {
		const struct msg_ack *x = &a->u.ack, *y = &b->u.ack;
		if (x->applied != y->applied || x->received != y->received ||
		    x->nstats != y->nstats)
			return 0;
		for (uint32_t i = 0; i < x->nstats; i++)
			if (!stats_same(&x->stats[i], &y->stats[i]))
				return 0;
		return 1;
	}
	case MSG_HELLO:
		return str_same(a->u.hello.stage, b->u.hello.stage) &&
		    a->u.hello.pid == b->u.hello.pid &&
		    a->u.hello.started == b->u.hello.started;
	case MSG_END:
		return a->u.end.total == b->u.end.total;
	case MSG_EXPORT_REQUEST:
		if (a->u.ereq.ngoals != b->u.ereq.ngoals)
			return 0;
		for (uint32_t i = 0; i < a->u.ereq.ngoals; i++)
			if (!str_same(a->u.ereq.goals[i], b->u.ereq.goals[i]))
				return 0;
		return 1;
	case MSG_EXPORT_RESULT:
		return stats_same(&a->u.eres.st, &b->u.eres.st) &&
		    str_same(a->u.eres.mode, b->u.eres.mode) &&
		    str_same(a->u.eres.error, b->u.eres.error);
	}
	return 0;
}

/* Encodes, decodes, compares; returns the encoded bytes in out. */
static void
round_trip(const struct msg_batch *in, struct buf *out, const char *what)
{
	struct msg_batch dec;
	int		 rc;

	buf_reset(out);
	rc = msg_encode(in, out, err, sizeof(err));
	ok(rc == 0, "%s: encodes (%s)", what, rc ? err : "ok");
	rc = msg_decode(out->data, out->len, &dec, err, sizeof(err));
	ok(rc == 0, "%s: decodes (%s)", what, rc ? err : "ok");
	if (rc == 0) {
		ok(batch_same(in, &dec), "%s: decoded equals encoded", what);
		is_int(dec.v, MSG_VERSION, "%s: version", what);
		is_int(msg_batch_count(&dec), msg_batch_count(in), "%s: count", what);
	}
	msg_batch_clear(&dec);
}

static const char binstr[] = "\0\x01\xff\xfe\"\\\n\x80 bin";

static void
fill_env(struct msg_batch *b, int kind)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->run = UINT64_MAX;
	b->lane = UINT32_MAX;
	b->seq_first = 1;
	b->src.conn = str_c("acme");
	b->src.goal = str_c("");
	b->src.list = (struct str){ binstr, sizeof(binstr) - 1 };
}

static struct str cols3[] = { { "Email", 5 }, { "", 0 }, { binstr, sizeof(binstr) - 1 } };

static void
test_kinds(void)
{
	static const struct { int kind; const char *name; int rcv; } want[] = {
		{ MSG_USERS, "users", STAGE_MAPPER },
		{ MSG_PATCHES, "patches", STAGE_WRITER },
		{ MSG_ACK, "ack", STAGE_FETCHER },
		{ MSG_HELLO, "hello", STAGE_FETCHER },
		{ MSG_END, "end", STAGE_MAPPER | STAGE_WRITER },
		{ MSG_EXPORT_REQUEST, "export_request", STAGE_EXPORTER },
		{ MSG_EXPORT_RESULT, "export_result", STAGE_FETCHER },
	};
	static const enum stage stages[] = {
		STAGE_FETCHER, STAGE_MAPPER, STAGE_WRITER, STAGE_EXPORTER,
	};
	int	 op;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		is_str(msg_kind_name(want[i].kind), want[i].name, "kind %d name", want[i].kind);
		ok(msg_kind_valid(want[i].kind), "kind %s valid", want[i].name);
		for (size_t s = 0; s < 4; s++)
			is_int(msg_kind_accepts(want[i].kind, stages[s]),
			    (want[i].rcv & stages[s]) != 0, "%s accepted by stage %d",
			    want[i].name, stages[s]);
	}
	ok(!msg_kind_valid(0) && !msg_kind_valid(8) && !msg_kind_valid(-1) &&
	    !msg_kind_valid(99), "0, 8, -1, 99 are not kinds");
	ok(msg_kind_name(99) == NULL, "no name for kind 99");
	ok(!msg_kind_accepts(99, STAGE_WRITER), "nobody accepts kind 99");

	is_str(patch_op_name(OP_SET), "set", "op set");
	is_str(patch_op_name(OP_SET_IF_EMPTY), "set_if_empty", "op set_if_empty");
	is_str(patch_op_name(OP_ADD), "add", "op add");
	is_str(patch_op_name(OP_SUM), "sum", "op sum");
	ok(patch_op_name(0) == NULL && patch_op_name(5) == NULL, "ops 0 and 5 unknown");
	ok(patch_op_parse("sum", &op) == 0 && op == OP_SUM, "parse sum");
	ok(patch_op_parse("set_if_empty", &op) == 0 && op == OP_SET_IF_EMPTY, "parse set_if_empty");
	ok(patch_op_parse("Set", &op) == -1, "parse is exact");

	ok(str_eq(str_c("abc"), "abc") && !str_eq(str_c("abc"), "ab") &&
	    !str_eq(str_c("ab"), "abc"), "str_eq compares length and bytes");
	ok(str_c(NULL).len == 0 && str_eq(str_c(NULL), ""), "str_c(NULL) is empty");
}

static void
test_round_trips(struct buf *out)
{
	struct msg_batch b;
	struct msg_row	 rows[3];
	struct str	 vals[3] = { { "a@b.c", 5 }, { "", 0 }, { binstr, sizeof(binstr) - 1 } };
	struct val	 v[] = {
		{ .type = VAL_NIL },
		{ .type = VAL_TEXT, .u.s = { "", 0 } },
		{ .type = VAL_TEXT, .u.s = { binstr, sizeof(binstr) - 1 } },
		{ .type = VAL_NUMBER, .u.i = INT64_MIN },
		{ .type = VAL_NUMBER, .u.i = INT64_MAX },
		{ .type = VAL_NUMBER, .u.i = 0 },
		{ .type = VAL_NUMBER, .u.i = -1 },
		{ .type = VAL_NUMBER, .u.i = -33 },
		{ .type = VAL_NUMBER, .u.i = 128 },
		{ .type = VAL_NUMBER, .u.i = 70000 },
		{ .type = VAL_DECIMAL, .u.d = 0.1 },
		{ .type = VAL_DECIMAL, .u.d = -0.0 },
		{ .type = VAL_DECIMAL, .u.d = DBL_MAX },
		{ .type = VAL_DECIMAL, .u.d = DBL_MIN },
		{ .type = VAL_DECIMAL, .u.d = -1e-300 },
		{ .type = VAL_DATETIME, .u.i = 1626189720000LL },
		{ .type = VAL_DATETIME, .u.i = -1 },
		{ .type = VAL_DATETIME, .u.i = INT64_MIN },
		{ .type = VAL_BOOL, .u.b = 1 },
		{ .type = VAL_BOOL, .u.b = 0 },
	};
	struct msg_op	 ops[4] = {
		{ OP_SET, { "email", 5 }, 1, &v[1] },
		{ OP_ADD, { "tags", 4 }, sizeof(v) / sizeof(v[0]), v },
		{ OP_SUM, { "opens", 5 }, 0, NULL },
		{ OP_SET_IF_EMPTY, { binstr, sizeof(binstr) - 1 }, 1, &v[15] },
	};
	struct msg_ident ids[2] = { { { "email", 5 }, { "a@b.c", 5 } },
	    { { "sailthru_profile_id", 19 }, { "", 0 } } };
	struct str	 notes[2] = { { "sum_not_a_number:opens", 22 }, { "", 0 } };
	struct msg_patch pa[3];
	struct stats_reason reasons[2] = { { (char *)"no_identifier", UINT64_MAX },
	    { (char *)"", 0 } };
	struct stats	 st[2];
	struct str	 goals[2] = { { "export one", 10 }, { "", 0 } };

	fill_env(&b, MSG_USERS);
	b.u.users.ncols = 3;
	b.u.users.cols = cols3;
	rows[0] = (struct msg_row){ 2, 3, vals };
	rows[1] = (struct msg_row){ UINT64_MAX, 0, NULL };
	rows[2] = (struct msg_row){ 0, 1, vals + 2 };
	b.u.users.nrows = 3;
	b.u.users.rows = rows;
	round_trip(&b, out, "users");
	b.u.users.nrows = 0;
	b.u.users.ncols = 0;
	round_trip(&b, out, "users, empty");

	fill_env(&b, MSG_PATCHES);
	memset(pa, 0, sizeof(pa));
	pa[0] = (struct msg_patch){ .line = 7, .create = 1, .nids = 2, .ids = ids,
	    .nops = 4, .ops = ops, .nnotes = 2, .notes = notes };
	pa[1] = (struct msg_patch){ .line = UINT64_MAX, .skip = str_c("no_identifier") };
	pa[2] = (struct msg_patch){ .line = 0, .nids = 1, .ids = ids };
	b.u.patches.n = 3;
	b.u.patches.recs = pa;
	round_trip(&b, out, "patches, every value type");

	fill_env(&b, MSG_ACK);
	memset(st, 0, sizeof(st));
	st[0] = (struct stats){ .goal = (char *)"import", .created = 1,
	    .updated = UINT64_MAX, .unchanged = 3, .skipped = 4, .nreasons = 2,
	    .reasons = reasons, .nlast = STATS_LAST_IDS, .unique = 99 };
	st[1].goal = (char *)"";
	for (int i = 0; i < STATS_LAST_IDS; i++)
		st[0].last[i] = UINT64_MAX - (uint64_t)i;
	b.u.ack = (struct msg_ack){ .applied = 1000, .received = UINT64_MAX,
	    .nstats = 2, .stats = st };
	round_trip(&b, out, "ack");
	b.u.ack.nstats = 0;
	round_trip(&b, out, "ack, no stats");

	fill_env(&b, MSG_HELLO);
	b.run = 0;
	b.u.hello = (struct msg_hello){ str_c("writer"), 4242, 1626189720000ULL };
	round_trip(&b, out, "hello");

	fill_env(&b, MSG_END);
	b.u.end.total = 123456789012ULL;
	round_trip(&b, out, "end");

	fill_env(&b, MSG_EXPORT_REQUEST);
	b.u.ereq.ngoals = 2;
	b.u.ereq.goals = goals;
	round_trip(&b, out, "export_request");

	fill_env(&b, MSG_EXPORT_RESULT);
	memset(&b.u.eres, 0, sizeof(b.u.eres));
	b.u.eres.st.goal = "export one";
	b.u.eres.st.exported = 5;
	b.u.eres.st.created = 2;
	b.u.eres.st.skipped = 6;
	b.u.eres.st.removed = 3;
	b.u.eres.st.failed = 7;
	b.u.eres.st.selected = 18;
	b.u.eres.st.nreasons = 1;
	b.u.eres.st.reasons = &(struct stats_reason){ "no_user", 6 };
	b.u.eres.st.nlast = 2;
	b.u.eres.st.last[0] = 0x0132bd0fd1340023ULL;
	b.u.eres.st.last[1] = 0x0132bd0fd1340022ULL;
	b.u.eres.st.unique = 40;
	b.u.eres.mode = str_c("bulk");
	b.u.eres.error = str_c("list not found");
	round_trip(&b, out, "export_result: every figure of the goal");
}

static void
test_bounds(struct buf *out)
{
	struct msg_batch b, dec;
	struct msg_row	*rows;
	struct msg_patch *pa;
	struct str	*many, big;
	struct stats	 st;
	char		*bigp;
	struct buf	 small;

	/* The largest counts pass. */
	rows = calloc(MSG_MAX_RECORDS + 1, sizeof(*rows));
	many = calloc(MSG_MAX_FIELDS + 1, sizeof(*many));
	for (int i = 0; i <= MSG_MAX_FIELDS; i++)
		many[i] = str_c(i % 2 ? "x" : "");
	for (int i = 0; i <= MSG_MAX_RECORDS; i++)
		rows[i] = (struct msg_row){ (uint64_t)i + 2, 1, many };
	rows[0].nvals = MSG_MAX_FIELDS;
	fill_env(&b, MSG_USERS);
	b.u.users.ncols = MSG_MAX_FIELDS;
	b.u.users.cols = many;
	b.u.users.nrows = MSG_MAX_RECORDS;
	b.u.users.rows = rows;
	round_trip(&b, out, "users at MSG_MAX_RECORDS and MSG_MAX_FIELDS");

	buf_reset(out);
	b.u.users.nrows = MSG_MAX_RECORDS + 1;
	ok(msg_encode(&b, out, err, sizeof(err)) == -1, "one record too many is refused");
	is_str(err, "records: 10001 over the limit 10000", "reason names the bound");
	is_int(out->len, 0, "a refused batch leaves out as it was");
	b.u.users.nrows = 1;
	rows[0].nvals = MSG_MAX_FIELDS + 1;
	ok(msg_encode(&b, out, err, sizeof(err)) == -1, "one value too many is refused");
	rows[0].nvals = 1;
	b.u.users.ncols = MSG_MAX_FIELDS + 1;
	ok(msg_encode(&b, out, err, sizeof(err)) == -1, "one column too many is refused");
	b.u.users.ncols = 1;

	/* A string at the limit passes, one byte more does not. */
	bigp = malloc(MSG_MAX_STR + 1);
	memset(bigp, 'z', MSG_MAX_STR + 1);
	big = (struct str){ bigp, MSG_MAX_STR };
	rows[0] = (struct msg_row){ 2, 1, &big };
	round_trip(&b, out, "a string of MSG_MAX_STR bytes");
	big.len++;
	ok(msg_encode(&b, out, err, sizeof(err)) == -1, "a longer string is refused");
	is_str(err, "records[0][1]: string of 1048577 bytes over the limit 1048576",
	    "reason names where");

	/* A batch past the buf's own cap: E2BIG, out unchanged. */
	big.len = 1000;
	buf_init(&small, 512);
	buf_add(&small, "xyz", 3);
	ok(msg_encode(&b, &small, err, sizeof(err)) == -1, "over the buf's max is refused");
	is_int(small.len, 3, "the buf keeps what it had");
	ok(strstr(err, "limit of 512 bytes") != NULL, "reason: %s", err);
	buf_clear(&small);

	/* A batch past MSG_MAX_BYTES: 80 strings of 1 MiB. */
	for (int i = 0; i < 80; i++)
		rows[i] = (struct msg_row){ 2, 1, &big };
	big.len = MSG_MAX_STR;
	b.u.users.nrows = 80;
	{
		struct buf huge;
		buf_init(&huge, (size_t)MSG_MAX_BYTES * 2);
		ok(msg_encode(&b, &huge, err, sizeof(err)) == -1, "over MSG_MAX_BYTES is refused");
		is_str(err, "batch over the limit of 67108864 bytes", "reason names the limit");
		buf_clear(&huge);
	}

	/* Other bounds in the encoder. */
	fill_env(&b, MSG_ACK);
	memset(&st, 0, sizeof(st));
	st.nlast = STATS_LAST_IDS + 1;
	b.u.ack.nstats = 1;
	b.u.ack.stats = &st;
	ok(msg_encode(&b, out, err, sizeof(err)) == -1, "six last ids refused");
	fill_env(&b, 42);
	ok(msg_encode(&b, out, err, sizeof(err)) == -1, "kind 42 refused");
	is_str(err, "kind 42 unknown", "reason");
	fill_env(&b, MSG_PATCHES);
	pa = calloc(1, sizeof(*pa));
	{
		struct msg_op op = { 9, { "x", 1 }, 0, NULL };
		pa->nops = 1;
		pa->ops = &op;
		b.u.patches.n = 1;
		b.u.patches.recs = pa;
		ok(msg_encode(&b, out, err, sizeof(err)) == -1, "op 9 refused");
		is_str(err, "records[0].ops[0]: op 9 unknown", "reason names where");
		ok(msg_decode("", 0, &dec, err, sizeof(err)) == -1, "empty input refused");
		is_str(err, "truncated", "empty input is truncated");
	}
	free(pa);
	free(bigp);
	free(rows);
	free(many);
}

/* A PATCHES batch with a bit of everything, for the hostile-input tests. */
static void
sample(struct buf *out)
{
	static struct val v[] = {
		{ .type = VAL_TEXT, .u.s = { "hello", 5 } },
		{ .type = VAL_NUMBER, .u.i = -5000000000LL },
		{ .type = VAL_DECIMAL, .u.d = 2.5 },
		{ .type = VAL_DATETIME, .u.i = 1626189720000LL },
		{ .type = VAL_BOOL, .u.b = 1 },
		{ .type = VAL_NIL },
	};
	static struct msg_op ops[2] = {
		{ OP_SET, { "email", 5 }, 1, v },
		{ OP_ADD, { "tags", 4 }, 6, v },
	};
	static struct msg_ident ids[1] = { { { "email", 5 }, { "a@b.c", 5 } } };
	static struct str notes[1] = { { "invalid_datetime:last_open", 26 } };
	static struct msg_patch pa[2];
	struct msg_batch b;

	pa[0] = (struct msg_patch){ .line = 2, .create = 1, .nids = 1, .ids = ids,
	    .nops = 2, .ops = ops, .nnotes = 1, .notes = notes };
	pa[1] = (struct msg_patch){ .line = 3, .skip = { "no_identifier", 13 } };
	fill_env(&b, MSG_PATCHES);
	b.run = 77;
	b.lane = 3;
	b.seq_first = 1001;
	b.u.patches.n = 2;
	b.u.patches.recs = pa;
	buf_reset(out);
	if (msg_encode(&b, out, err, sizeof(err)) == -1)
		panic("sample: %s", err);
}

static void
test_truncation(struct buf *out)
{
	struct msg_batch dec;
	size_t		 bad = 0, nostr = 0;
	char		*copy;

	sample(out);
	for (size_t n = 0; n < out->len; n++) {
		/* A fresh allocation of exactly n bytes, so ASan sees overreads. */
		copy = malloc(n ? n : 1);
		memcpy(copy, out->data, n);
		err[0] = '\0';
		if (msg_decode(copy, n, &dec, err, sizeof(err)) == 0) {
			bad++;
			msg_batch_clear(&dec);
		} else if (err[0] == '\0')
			nostr++;
		free(copy);
	}
	is_int(bad, 0, "every one of %zu prefixes is refused", out->len);
	is_int(nostr, 0, "every refusal has a reason");
	ok(msg_decode(out->data, out->len, &dec, err, sizeof(err)) == 0, "the whole batch decodes");
	msg_batch_clear(&dec);

	/* One trailing byte. */
	buf_add(out, "\xc0", 1);
	ok(msg_decode(out->data, out->len, &dec, err, sizeof(err)) == -1, "trailing byte refused");
	is_str(err, "1 trailing bytes", "reason");
}

static void
test_not_aliased(struct buf *out)
{
	struct msg_batch dec;
	char		*copy;

	sample(out);
	copy = malloc(out->len);
	memcpy(copy, out->data, out->len);
	ok(msg_decode(copy, out->len, &dec, err, sizeof(err)) == 0, "decodes");
	memset(copy, 0xc1, out->len);
	free(copy);
	ok(str_eq(dec.u.patches.recs[0].ops[1].vals[0].u.s, "hello") &&
	    str_eq(dec.src.conn, "acme") && str_eq(dec.u.patches.recs[1].skip, "no_identifier"),
	    "strings survive the input being freed");
	ok(dec.u.patches.recs[0].ids[0].value.p[5] == '\0', "decoded strings are NUL-terminated");
	is_int(dec.run, 77, "run");
	is_int(dec.lane, 3, "lane");
	is_int(dec.seq_first, 1001, "seq_first");
	msg_batch_clear(&dec);
	ok(dec.arena.head == NULL && dec.u.patches.n == 0, "clear empties the batch");
}

/* Hand-made envelopes, to reach what msg_encode never writes. */
struct hand {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
};

static void
hand_init(struct hand *h)
{
	msgpack_sbuffer_init(&h->sb);
	msgpack_packer_init(&h->pk, &h->sb, msgpack_sbuffer_write);
}

static void
hkey(struct hand *h, const char *k)
{
	msgpack_pack_str(&h->pk, strlen(k));
	msgpack_pack_str_body(&h->pk, k, strlen(k));
}

/* The envelope keys up to "records" (excluded), with v and kind given. */
static void
henv(struct hand *h, int nkeys, int64_t v, int64_t kind)
{
	msgpack_pack_map(&h->pk, (size_t)nkeys);
	hkey(h, "v");
	msgpack_pack_int64(&h->pk, v);
	hkey(h, "kind");
	msgpack_pack_int64(&h->pk, kind);
	hkey(h, "run");
	msgpack_pack_uint64(&h->pk, 1);
	hkey(h, "lane");
	msgpack_pack_uint64(&h->pk, 0);
	hkey(h, "seq_first");
	msgpack_pack_uint64(&h->pk, 1);
	hkey(h, "src");
	msgpack_pack_map(&h->pk, 3);
	hkey(h, "conn");
	hkey(h, "c");
	hkey(h, "goal");
	hkey(h, "g");
	hkey(h, "list");
	hkey(h, "l");
}

static int
hdecode(struct hand *h, struct msg_batch *dec)
{
	int rc = msg_decode(h->sb.data, h->sb.size, dec, err, sizeof(err));

	msgpack_sbuffer_destroy(&h->sb);
	return rc;
}

/* A patches batch with one record whose first op has op code `op`. */
static int
hpatch_op(int op, struct msg_batch *dec)
{
	struct hand h;

	hand_init(&h);
	henv(&h, 7, MSG_VERSION, MSG_PATCHES);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 4);
	for (int i = 0; i < 4; i++) {
		msgpack_pack_array(&h.pk, 6);
		msgpack_pack_uint64(&h.pk, 10 + (uint64_t)i);
		hkey(&h, "");
		msgpack_pack_false(&h.pk);
		msgpack_pack_array(&h.pk, 0);
		msgpack_pack_array(&h.pk, 2);
		msgpack_pack_array(&h.pk, 3);
		msgpack_pack_int(&h.pk, OP_SET);
		hkey(&h, "p");
		msgpack_pack_array(&h.pk, 0);
		msgpack_pack_array(&h.pk, 3);
		msgpack_pack_int(&h.pk, i == 3 ? op : OP_ADD);
		hkey(&h, "q");
		msgpack_pack_array(&h.pk, 1);
		msgpack_pack_nil(&h.pk);
		msgpack_pack_array(&h.pk, 0);
	}
	return hdecode(&h, dec);
}

/* The configuration digests of the envelope (conf.h). */
static void
test_digests(struct buf *out)
{
	struct msg_batch b, dec;
	struct hand	 h;
	size_t		 plain;

	fill_env(&b, MSG_END);
	b.u.end.total = 9;
	round_trip(&b, out, "end without digests");
	plain = out->len;
	b.conf.mapper = str_c("0123456789abcdef");
	b.conf.writer = str_c("fedcba9876543210");
	round_trip(&b, out, "end with the mapper's and the writer's digests");
	ok(out->len > plain, "digests take room only when carried");
	fill_env(&b, MSG_EXPORT_REQUEST);
	b.conf.exporter = str_c("00ff");
	round_trip(&b, out, "export request with the exporter's digest");
	if (msg_decode(out->data, out->len, &dec, err, sizeof(err)) == 0) {
		ok(dec.conf.mapper.len == 0 && dec.conf.writer.len == 0 &&
		    str_eq(dec.conf.exporter, "00ff"), "only the digest carried");
		msg_batch_clear(&dec);
	}
	b.conf.exporter = str_c("0123456789ABCDEF");
	buf_reset(out);
	ok(msg_encode(&b, out, err, sizeof(err)) == -1, "an upper-case digest is not encoded");
	is_str(err, "conf.exporter: not a digest", "reason");

	/* Hand-made: an unknown stage, a non-hex digest, a repeated key. */
	hand_init(&h);
	henv(&h, 8, MSG_VERSION, MSG_END);
	hkey(&h, "conf");
	msgpack_pack_map(&h.pk, 1);
	hkey(&h, "fetcher");
	hkey(&h, "00");
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_uint64(&h.pk, 5);
	ok(hdecode(&h, &dec) == -1, "a digest for an unknown stage refused");
	is_str(err, "conf: unknown key \"fetcher\"", "reason");
	hand_init(&h);
	henv(&h, 8, MSG_VERSION, MSG_END);
	hkey(&h, "conf");
	msgpack_pack_map(&h.pk, 1);
	hkey(&h, "writer");
	hkey(&h, "12 4");
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_uint64(&h.pk, 5);
	ok(hdecode(&h, &dec) == -1, "a digest that is not hex refused");
	is_str(err, "conf: writer: not a digest (1 to 64 hex digits)", "reason");
	hand_init(&h);
	henv(&h, 8, MSG_VERSION, MSG_END);
	hkey(&h, "conf");
	msgpack_pack_map(&h.pk, 2);
	hkey(&h, "mapper");
	hkey(&h, "ab");
	hkey(&h, "mapper");
	hkey(&h, "ab");
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_uint64(&h.pk, 5);
	ok(hdecode(&h, &dec) == -1, "a repeated digest refused");
	is_str(err, "conf: repeated key mapper", "reason");
}

static void
test_hostile(void)
{
	struct msg_batch dec;
	struct hand	 h;

	/* Version and kind. */
	hand_init(&h);
	henv(&h, 7, MSG_VERSION + 1, MSG_END);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_uint64(&h.pk, 5);
	ok(hdecode(&h, &dec) == -1, "a newer version refused");
	is_str(err, "version 3 not supported", "reason");

	/* Version 1's EXPORT_RESULT ([goal, exported, skipped, failed, error]) is not read as 2's. */
	hand_init(&h);
	henv(&h, 7, 1, MSG_EXPORT_RESULT);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 5);
	msgpack_pack_str(&h.pk, 1);
	msgpack_pack_str_body(&h.pk, "g", 1);
	for (int i = 0; i < 3; i++)
		msgpack_pack_uint64(&h.pk, 1);
	msgpack_pack_str(&h.pk, 0);
	ok(hdecode(&h, &dec) == -1, "version 1 refused");
	is_str(err, "version 1 not supported", "reason");
	hand_init(&h);
	henv(&h, 7, MSG_VERSION, MSG_EXPORT_RESULT);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 3);
	msgpack_pack_str(&h.pk, 1);
	msgpack_pack_str_body(&h.pk, "g", 1);
	msgpack_pack_str(&h.pk, 0);
	msgpack_pack_str(&h.pk, 0);
	ok(hdecode(&h, &dec) == -1, "EXPORT_RESULT whose stats is not an array refused");

	hand_init(&h);
	henv(&h, 7, MSG_VERSION, 99);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 0);
	ok(hdecode(&h, &dec) == -1, "kind 99 refused");
	is_str(err, "kind 99 unknown", "reason");

	hand_init(&h);
	henv(&h, 7, MSG_VERSION, -3);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 0);
	ok(hdecode(&h, &dec) == -1, "kind -3 refused");
	is_str(err, "kind: negative -3", "reason");

	/* The op table, reached through four records. */
	ok(hpatch_op(OP_SUM, &dec) == 0, "a valid hand-made patches batch decodes");
	is_int(dec.u.patches.n, 4, "4 records");
	is_int(dec.u.patches.recs[3].ops[1].op, OP_SUM, "op of the last");
	is_int(dec.u.patches.recs[2].ops[1].vals[0].type, VAL_NIL, "nil value");
	msg_batch_clear(&dec);
	ok(hpatch_op(9, &dec) == -1, "op 9 refused");
	is_str(err, "records[3].ops[1].op: unknown op 9", "reason names where");
	ok(hpatch_op(0, &dec) == -1, "op 0 refused");

	/* Wrong types. */
	hand_init(&h);
	msgpack_pack_map(&h.pk, 7);
	hkey(&h, "v");
	msgpack_pack_int(&h.pk, MSG_VERSION);
	hkey(&h, "kind");
	msgpack_pack_int(&h.pk, MSG_END);
	hkey(&h, "run");
	hkey(&h, "1");
	ok(hdecode(&h, &dec) == -1, "run as a string refused");
	is_str(err, "run: expected int, got str", "reason");

	hand_init(&h);
	henv(&h, 7, MSG_VERSION, MSG_END);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_double(&h.pk, 5.0);
	ok(hdecode(&h, &dec) == -1, "END total as float refused");
	is_str(err, "records[0].total: expected int, got float", "reason");

	hand_init(&h);
	henv(&h, 7, MSG_VERSION, MSG_END);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 2);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_uint64(&h.pk, 5);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_uint64(&h.pk, 6);
	ok(hdecode(&h, &dec) == -1, "two END records refused");
	is_str(err, "records: end needs exactly 1 record, got 2", "reason");

	hand_init(&h);
	henv(&h, 7, MSG_VERSION, MSG_USERS);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 0);
	ok(hdecode(&h, &dec) == -1, "users without cols refused");
	is_str(err, "missing cols", "reason");

	hand_init(&h);
	henv(&h, 8, MSG_VERSION, MSG_END);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_uint64(&h.pk, 5);
	hkey(&h, "extra\x01");
	msgpack_pack_nil(&h.pk);
	ok(hdecode(&h, &dec) == -1, "unknown key refused");
	is_str(err, "unknown key \"extra?\"", "reason shows the key, printable");

	hand_init(&h);
	henv(&h, 6, MSG_VERSION, MSG_END);
	ok(hdecode(&h, &dec) == -1, "missing records refused");
	is_str(err, "missing records", "reason");

	hand_init(&h);
	henv(&h, 7, MSG_VERSION, MSG_PATCHES);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 6);
	msgpack_pack_uint64(&h.pk, 1);
	hkey(&h, "");
	msgpack_pack_false(&h.pk);
	msgpack_pack_array(&h.pk, 0);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 3);
	msgpack_pack_int(&h.pk, OP_SET);
	hkey(&h, "p");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_ext(&h.pk, 8, 2);
	msgpack_pack_ext_body(&h.pk, "12345678", 8);
	msgpack_pack_array(&h.pk, 0);
	ok(hdecode(&h, &dec) == -1, "ext type 2 refused");
	is_str(err, "records[0].ops[0].vals[0]: ext type 2 not allowed", "reason");

	/* Huge counts: refused from the header alone, nothing allocated. */
	hand_init(&h);
	henv(&h, 7, MSG_VERSION, MSG_PATCHES);
	hkey(&h, "records");
	msgpack_sbuffer_write(&h.sb, "\xdd\xff\xff\xff\xff", 5);
	ok(hdecode(&h, &dec) == -1, "an array header of 2^32-1 records refused");
	is_str(err, "records: 4294967295 items over the limit 10000", "reason");

	hand_init(&h);
	henv(&h, 7, MSG_VERSION, MSG_PATCHES);
	hkey(&h, "records");
	msgpack_sbuffer_write(&h.sb, "\xdd\x00\x00\x27\x10", 5);	/* 10000, no body */
	ok(hdecode(&h, &dec) == -1, "10000 records promised, none sent: refused");
	is_str(err, "records: truncated", "reason");

	hand_init(&h);
	henv(&h, 7, MSG_VERSION, MSG_END);
	hkey(&h, "records");
	msgpack_sbuffer_write(&h.sb, "\xdf\xff\xff\xff\xff", 5);
	ok(hdecode(&h, &dec) == -1, "a map of 2^32-1 keys refused");

	hand_init(&h);
	henv(&h, 7, MSG_VERSION, MSG_USERS);
	hkey(&h, "cols");
	msgpack_sbuffer_write(&h.sb, "\x91\xdb\xff\xff\xff\xff", 6);
	ok(hdecode(&h, &dec) == -1, "a 4 GiB string header refused");
	is_str(err, "cols[0]: string of 4294967295 bytes over the limit 1048576", "reason");

	hand_init(&h);
	msgpack_sbuffer_write(&h.sb, "\xdf\x00\x01\x00\x00", 5);
	ok(hdecode(&h, &dec) == -1, "an envelope of 65536 keys refused");

	/* Keys in another order: records before kind, skipped then read. */
	hand_init(&h);
	msgpack_pack_map(&h.pk, 7);
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_uint64(&h.pk, 42);
	hkey(&h, "src");
	msgpack_pack_map(&h.pk, 3);
	hkey(&h, "list"); hkey(&h, "l");
	hkey(&h, "goal"); hkey(&h, "g");
	hkey(&h, "conn"); hkey(&h, "c");
	hkey(&h, "seq_first");
	msgpack_pack_uint64(&h.pk, 9);
	hkey(&h, "lane");
	msgpack_pack_uint64(&h.pk, 2);
	hkey(&h, "run");
	msgpack_pack_uint64(&h.pk, 5);
	hkey(&h, "kind");
	msgpack_pack_int(&h.pk, MSG_END);
	hkey(&h, "v");
	msgpack_pack_int(&h.pk, MSG_VERSION);
	ok(hdecode(&h, &dec) == 0, "keys in reverse order decode (%s)", err);
	is_int(dec.kind, MSG_END, "kind");
	is_int(dec.u.end.total, 42, "total");
	ok(str_eq(dec.src.conn, "c"), "src.conn");
	msg_batch_clear(&dec);

	/* Deep nesting inside a skipped records value. */
	hand_init(&h);
	msgpack_pack_map(&h.pk, 1);
	hkey(&h, "records");
	for (int i = 0; i < 100; i++)
		msgpack_pack_array(&h.pk, 1);
	msgpack_pack_nil(&h.pk);
	ok(hdecode(&h, &dec) == -1, "nesting 100 deep refused");
	is_str(err, "records: nested deeper than 8", "reason");
}

static void
test_flips(struct buf *out)
{
	struct msg_batch dec;
	struct buf	 re;
	char		*copy;
	int		 decoded = 0, reencoded = 0, seeds = 20000;

	sample(out);
	buf_init(&re, MSG_MAX_BYTES);
	for (int seed = 1; seed <= seeds; seed++) {
		rng_state = (uint64_t)seed;
		copy = malloc(out->len);
		memcpy(copy, out->data, out->len);
		for (int k = 1 + (int)(rng() % 4); k > 0; k--) {
			size_t at = rng() % out->len;
			if (rng() % 2)
				copy[at] ^= (char)(1u << (rng() % 8));
			else
				copy[at] = (char)rng();
		}
		if (msg_decode(copy, out->len, &dec, err, sizeof(err)) == 0) {
			decoded++;
			buf_reset(&re);
			/* Whatever decodes is a batch the encoder accepts. */
			if (msg_encode(&dec, &re, err, sizeof(err)) == 0)
				reencoded++;
			msg_batch_clear(&dec);
		}
		free(copy);
	}
	is_int(reencoded, decoded, "%d byte-flipped copies: %d decoded, each re-encodes",
	    seeds, decoded);
	buf_clear(&re);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not a timed assertion: a figure for the log, and a large round trip. */
static void
bench_users(void)
{
	enum { ROWS = 1000, COLS = 20, ITER = 200 };
	struct msg_batch b, dec;
	struct msg_row	*rows = calloc(ROWS, sizeof(*rows));
	struct str	*cells = calloc(ROWS * COLS, sizeof(*cells));
	struct str	 cols[COLS];
	char		*text = malloc(ROWS * COLS * 24);
	struct buf	 out;
	double		 t0, t1, t2;
	int		 fails = 0;

	for (int c = 0; c < COLS; c++)
		cols[c] = str_c("Column Name");
	for (int r = 0; r < ROWS; r++) {
		for (int c = 0; c < COLS; c++) {
			char *p = text + (r * COLS + c) * 24;
			int n = snprintf(p, 24, "user%d-value-%d@x.com", r, c);
			cells[r * COLS + c] = (struct str){ p, (uint32_t)n };
		}
		rows[r] = (struct msg_row){ (uint64_t)r + 2, COLS, cells + r * COLS };
	}
	fill_env(&b, MSG_USERS);
	b.u.users = (struct msg_users){ COLS, cols, ROWS, rows };
	buf_init(&out, MSG_MAX_BYTES);
	t0 = now_s();
	for (int i = 0; i < ITER; i++) {
		buf_reset(&out);
		fails += msg_encode(&b, &out, err, sizeof(err)) != 0;
	}
	t1 = now_s();
	for (int i = 0; i < ITER; i++) {
		fails += msg_decode(out.data, out.len, &dec, err, sizeof(err)) != 0;
		if (i == ITER - 1)
			ok(batch_same(&b, &dec), "1000x20 users batch round trips");
		msg_batch_clear(&dec);
	}
	t2 = now_s();
	is_int(fails, 0, "no failures in %d encodes and decodes", ITER);
	printf("# users 1000 rows x 20 cols = %zu bytes; encode %.0f rows/s, "
	    "decode %.0f rows/s, both %.0f rows/s\n", out.len,
	    ROWS * ITER / (t1 - t0), ROWS * ITER / (t2 - t1), ROWS * ITER / (t2 - t0));
	buf_clear(&out);
	free(rows);
	free(cells);
	free(text);
}

/* The run's announcement tag (runauth.h) in the envelope, and the tag itself. */
static void
test_auth(struct buf *out)
{
	struct msg_batch b, dec;
	struct hand	 h;
	char		 t1[RUNAUTH_HEX + 1], t2[RUNAUTH_HEX + 1];

	ok(runauth_tag("s3cret", "acme", 4, 7, t1) == 0 && strlen(t1) == RUNAUTH_HEX,
	    "a tag is 32 hex digits");
	ok(runauth_tag("s3cret", "acme", 4, 7, t2) == 0 && strcmp(t1, t2) == 0,
	    "the same tag for the same secret, connection and run");
	ok(runauth_check("s3cret", "acme", 4, 7, t1, RUNAUTH_HEX), "it checks");
	ok(!runauth_check("s3cret", "acme", 4, 8, t1, RUNAUTH_HEX), "not for run 8");
	ok(!runauth_check("s3cret", "acmf", 4, 7, t1, RUNAUTH_HEX),
	    "not for another connection");
	ok(!runauth_check("guess", "acme", 4, 7, t1, RUNAUTH_HEX), "not under another secret");
	ok(!runauth_check("s3cret", "acme", 4, 7, t1, 0), "a missing tag never checks");
	ok(!runauth_check(NULL, "acme", 4, 7, t1, RUNAUTH_HEX), "nor without a secret");
	/* "acme1" + run 7 and "acme" + run 17 must not collide. */
	ok(runauth_tag("s3cret", "acme1", 5, 7, t2) == 0 &&
	    !runauth_check("s3cret", "acme", 4, 17, t2, RUNAUTH_HEX),
	    "the connection and the run are kept apart");

	fill_env(&b, MSG_END);
	b.u.end.total = 9;
	b.auth = str_c(t1);
	round_trip(&b, out, "end with a run tag");
	b.auth = str_c("not hex");
	buf_reset(out);
	ok(msg_encode(&b, out, err, sizeof(err)) == -1, "a tag that is not hex is not encoded");
	hand_init(&h);
	henv(&h, 8, MSG_VERSION, MSG_END);
	hkey(&h, "auth");
	hkey(&h, "zz");
	hkey(&h, "records");
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_array(&h.pk, 1);
	msgpack_pack_uint64(&h.pk, 5);
	ok(hdecode(&h, &dec) == -1, "a tag that is not hex is refused");
	is_str(err, "auth: not a tag (1 to 64 hex digits)", "reason");
}

int
main(void)
{
	struct buf	 out;

	buf_init(&out, MSG_MAX_BYTES);
	test_kinds();
	test_round_trips(&out);
	test_bounds(&out);
	test_truncation(&out);
	test_not_aliased(&out);
	test_hostile();
	test_digests(&out);
	test_auth(&out);
	test_flips(&out);
	bench_users();
	buf_clear(&out);
	return done_testing();
}
