/* common/msg.c: owns the message kind table and the msgpack batch codec. */
/*
 * Wire layout, MSG_VERSION 2 (1 had EXPORT_RESULT as [goal, exported,
 * skipped, failed, error]).  A batch is one msgpack map:
 *
 *   {"v": 1, "kind": int, "run": uint, "lane": uint, "seq_first": uint,
 *    "src": {"conn": str, "goal": str, "list": str},
 *    "conf": {"mapper": str, "writer": str, "exporter": str},
 *					optional, and each member too: the
 *					configuration digests (1..64 hex)
 *    "auth": str,			optional: the run's announcement
 *					tag (runauth.h), 1..64 hex
 *    "cols": [str, ...],			USERS only, and required there
 *    "records": [record, ...]}
 *
 * Keys may come in any order (the encoder writes them as above); unknown or
 * repeated keys are rejected.  Records are arrays, by kind:
 *
 *   USERS	    [line, val, val, ...]	one per source row; vals are str,
 *					as many as the row has (not always ncols)
 *   PATCHES	    [line, skip, create, ids, ops, notes]
 *		      skip   str ("" = not skipped)      create  bool
 *		      ids    [[prop, value], ...]
 *		      ops    [[op, prop, [val, ...]], ...]  op is enum patch_op
 *		      notes  [str, ...]
 *   ACK	    exactly one record: [applied, received, [stats, ...]]
 *		      stats  [goal, counter, ..., [[reason, n], ...], [last, ...],
 *			      unique]; last is an id, or [id, changes] (str:
 *			      what the run's last change to it did, see
 *			      struct stats); the counters of STATS_COUNTERS in table
 *			      order (msg_stats_encode)
 *   HELLO	    exactly one record: [stage, pid, started]
 *   END	    exactly one record: [total]
 *   EXPORT_REQUEST one str record per goal
 *   EXPORT_RESULT  exactly one record: [stats, mode, error], stats as in
 *		      ACK (the goal's name first), mode and error str
 *
 * Typed values (struct val): nil -> nil, text -> str, number -> int,
 * decimal -> float 64, boolean -> bool, datetime -> ext type 1 holding an
 * 8-byte big-endian int64 of milliseconds since the epoch.
 *
 * The encoder is a msgpack_packer whose write callback appends to the
 * caller's struct buf, so a batch costs no allocation beyond buffer growth.
 * The decoder is a hand-written bounded reader rather than msgpack_unpack:
 * msgpack-c sizes its arrays from the header counts of the input, which a
 * hostile 5-byte array header turns into a multi-gigabyte allocation.  Here
 * every count is checked against its MSG_MAX_* bound and against the bytes
 * left before anything is allocated, the schema fixes the depth, and every
 * string is copied into one pool in the batch's arena (each string costs at
 * least one header byte on the wire, so len + 1 bytes always suffice).
 * It is also the faster one.  Measured 2026-12-01 on the 2-core build
 * machine, a USERS batch of 1000 rows x 20 columns (266 KB): msg_decode
 * 0.34-0.49 ms (copies and checks included), msgpack_unpack into a zone
 * 2.8-5.5 ms (no copy, no schema check); and a 5-byte array header
 * claiming 2^32-1 items makes msgpack_unpack attempt an allocation of
 * that many objects (MSGPACK_UNPACK_NOMEM_ERROR), where msg_decode
 * refuses it at once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "buf.h"
#include "digest.h"
#include "log.h"
#include "msg.h"

/* The kind table, expanded. */

const char *
msg_kind_name(int kind)
{
	switch (kind) {
#define MSG_NAME(n, id, name, rcv) case id: return name;
	MSG_KINDS(MSG_NAME)
#undef MSG_NAME
	}
	return NULL;
}

int
msg_kind_valid(int kind)
{
	return msg_kind_name(kind) != NULL;
}

int
msg_kind_accepts(int kind, enum stage receiver)
{
	switch (kind) {
#define MSG_RCV(n, id, name, rcv) case id: return ((rcv) & receiver) != 0;
	MSG_KINDS(MSG_RCV)
#undef MSG_RCV
	}
	return 0;
}

static const char *op_names[] = {
	[OP_SET] = "set", [OP_SET_IF_EMPTY] = "set_if_empty",
	[OP_ADD] = "add", [OP_SUM] = "sum",
};
#define OP_MAX OP_SUM

const char *
patch_op_name(int op)
{
	if (op < OP_SET || op > OP_MAX)
		return NULL;
	return op_names[op];
}

int
patch_op_parse(const char *name, int *op)
{
	for (int i = OP_SET; i <= OP_MAX; i++) {
		if (strcmp(name, op_names[i]) == 0) {
			*op = i;
			return 0;
		}
	}
	return -1;
}

uint32_t
msg_batch_count(const struct msg_batch *b)
{
	switch (b->kind) {
	case MSG_USERS:
		return b->u.users.nrows;
	case MSG_PATCHES:
		return b->u.patches.n;
	default:
		return 0;
	}
}

/*
 * Error text with a path.  A leaf sets the reason ("truncated"); each
 * level on the way out puts its own component in front, giving
 * "records[3].ops[1].op: op 9 unknown".  Only error paths pay for this.
 */
struct errpath {
	char	 msg[256];
	int	 pathed;	/* msg already starts with a path component */
};

static int ep_fail(struct errpath *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static int ep_at(struct errpath *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
ep_fail(struct errpath *e, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->pathed = 0;
	return -1;
}

static int
ep_at(struct errpath *e, const char *fmt, ...)
{
	char	 comp[64], tmp[sizeof(comp) + 2 + sizeof(e->msg)];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(comp, sizeof(comp), fmt, ap);
	va_end(ap);
	/* An index ("[2]") glues to the name before it: "ops[2].op". */
	snprintf(tmp, sizeof(tmp), "%s%s%s", comp,
	    !e->pathed ? ": " : e->msg[0] == '[' ? "" : ".", e->msg);
	tmp[sizeof(e->msg) - 1] = '\0';	/* truncate, keeping the front */
	memcpy(e->msg, tmp, sizeof(e->msg));
	e->pathed = 1;
	return -1;
}

static void
ep_out(const struct errpath *e, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", e->msg);
}

/* Encoder. */

struct enc {
	msgpack_packer	 pk;
	struct buf	*out;
	size_t		 start;
	int		 full;		/* sticky: 1 over MSG_MAX_BYTES, 2 buf refused */
	int		 full_errno;
	struct errpath	 e;
};

static int
enc_write(void *data, const char *p, size_t n)
{
	struct enc	*en = data;
	struct buf	*b = en->out;

	if (n == 0)		/* an empty str body may come with p == NULL */
		return 0;
	/*
	 * The fast path: room in the buf, under both limits.  The buf's NUL
	 * terminator is written once, when the batch is done.
	 */
	if (b->cap - b->len > n && b->len + n <= b->max &&
	    b->len + n - en->start <= MSG_MAX_BYTES) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		return 0;
	}
	if (en->full)
		return -1;
	if (n > MSG_MAX_BYTES || en->out->len - en->start > MSG_MAX_BYTES - n) {
		en->full = 1;
		return -1;
	}
	if (buf_add(en->out, p, n) == -1) {
		en->full = 2;
		en->full_errno = errno;
		return -1;
	}
	return 0;
}

static int
enc_str(struct enc *en, struct str s)
{
	if (s.len > MSG_MAX_STR)
		return ep_fail(&en->e, "string of %u bytes over the limit %u",
		    s.len, MSG_MAX_STR);
	msgpack_pack_str(&en->pk, s.len);
	msgpack_pack_str_body(&en->pk, s.p, s.len);
	return 0;
}

static void
enc_key(struct enc *en, const char *k)
{
	size_t	 n = strlen(k);

	msgpack_pack_str(&en->pk, n);
	msgpack_pack_str_body(&en->pk, k, n);
}

static int
enc_count(struct enc *en, uint32_t n, uint32_t max, const char *what)
{
	if (n > max)
		return ep_fail(&en->e, "%s: %u over the limit %u", what, n, max);
	msgpack_pack_array(&en->pk, n);
	return 0;
}

static int
enc_val(struct enc *en, const struct val *v)
{
	unsigned char	 be[8];
	uint64_t	 u;

	switch (v->type) {
	case VAL_NIL:
		msgpack_pack_nil(&en->pk);
		return 0;
	case VAL_TEXT:
		return enc_str(en, v->u.s);
	case VAL_NUMBER:
		msgpack_pack_int64(&en->pk, v->u.i);
		return 0;
	case VAL_DECIMAL:
		msgpack_pack_double(&en->pk, v->u.d);
		return 0;
	case VAL_BOOL:
		if (v->u.b)
			msgpack_pack_true(&en->pk);
		else
			msgpack_pack_false(&en->pk);
		return 0;
	case VAL_DATETIME:
		u = (uint64_t)v->u.i;
		for (int i = 7; i >= 0; i--, u >>= 8)
			be[i] = (unsigned char)u;
		msgpack_pack_ext(&en->pk, 8, 1);
		msgpack_pack_ext_body(&en->pk, be, 8);
		return 0;
	}
	return ep_fail(&en->e, "value type %d unknown", (int)v->type);
}

static int
enc_users(struct enc *en, const struct msg_users *u)
{
	const struct msg_row *r;

	enc_key(en, "cols");
	if (enc_count(en, u->ncols, MSG_MAX_FIELDS, "cols") == -1)
		return -1;
	for (uint32_t i = 0; i < u->ncols; i++)
		if (enc_str(en, u->cols[i]) == -1)
			return ep_at(&en->e, "cols[%u]", i);
	enc_key(en, "records");
	if (enc_count(en, u->nrows, MSG_MAX_RECORDS, "records") == -1)
		return -1;
	for (uint32_t i = 0; i < u->nrows; i++) {
		r = &u->rows[i];
		if (r->nvals > MSG_MAX_FIELDS) {
			ep_fail(&en->e, "%u values over the limit %u",
			    r->nvals, MSG_MAX_FIELDS);
			return ep_at(&en->e, "records[%u]", i);
		}
		msgpack_pack_array(&en->pk, r->nvals + 1);
		msgpack_pack_uint64(&en->pk, r->line);
		for (uint32_t j = 0; j < r->nvals; j++)
			if (enc_str(en, r->vals[j]) == -1) {
				ep_at(&en->e, "[%u]", j + 1);
				return ep_at(&en->e, "records[%u]", i);
			}
	}
	return 0;
}

static int
enc_patch(struct enc *en, const struct msg_patch *p)
{
	const struct msg_op *o;

	msgpack_pack_array(&en->pk, 6);
	msgpack_pack_uint64(&en->pk, p->line);
	if (enc_str(en, p->skip) == -1)
		return ep_at(&en->e, "skip");
	if (p->create)
		msgpack_pack_true(&en->pk);
	else
		msgpack_pack_false(&en->pk);
	if (enc_count(en, p->nids, MSG_MAX_FIELDS, "ids") == -1)
		return -1;
	for (uint32_t i = 0; i < p->nids; i++) {
		msgpack_pack_array(&en->pk, 2);
		if (enc_str(en, p->ids[i].prop) == -1 ||
		    enc_str(en, p->ids[i].value) == -1)
			return ep_at(&en->e, "ids[%u]", i);
	}
	if (enc_count(en, p->nops, MSG_MAX_FIELDS, "ops") == -1)
		return -1;
	for (uint32_t i = 0; i < p->nops; i++) {
		o = &p->ops[i];
		if (patch_op_name(o->op) == NULL) {
			ep_fail(&en->e, "op %d unknown", o->op);
			return ep_at(&en->e, "ops[%u]", i);
		}
		msgpack_pack_array(&en->pk, 3);
		msgpack_pack_uint8(&en->pk, o->op);
		if (enc_str(en, o->prop) == -1)
			return ep_at(&en->e, "ops[%u]", i);
		if (enc_count(en, o->nvals, MSG_MAX_FIELDS, "vals") == -1)
			return ep_at(&en->e, "ops[%u]", i);
		for (uint32_t j = 0; j < o->nvals; j++)
			if (enc_val(en, &o->vals[j]) == -1) {
				ep_at(&en->e, "vals[%u]", j);
				return ep_at(&en->e, "ops[%u]", i);
			}
	}
	if (enc_count(en, p->nnotes, MSG_MAX_FIELDS, "notes") == -1)
		return -1;
	for (uint32_t i = 0; i < p->nnotes; i++)
		if (enc_str(en, p->notes[i]) == -1)
			return ep_at(&en->e, "notes[%u]", i);
	return 0;
}

static int
enc_stats(struct enc *en, const struct stats *s)
{
	msgpack_pack_array(&en->pk, 4 + STATS_NCOUNTERS);
	if (enc_str(en, str_c(s->goal)) == -1)
		return ep_at(&en->e, "goal");
	for (size_t i = 0; i < STATS_NCOUNTERS; i++)
		msgpack_pack_uint64(&en->pk, stats_counter_get(s, i));
	if (enc_count(en, s->nreasons > UINT32_MAX ? UINT32_MAX : (uint32_t)s->nreasons,
	    MSG_MAX_FIELDS, "reasons") == -1)
		return -1;
	for (uint32_t i = 0; i < s->nreasons; i++) {
		msgpack_pack_array(&en->pk, 2);
		if (enc_str(en, str_c(s->reasons[i].reason)) == -1)
			return ep_at(&en->e, "reasons[%u]", i);
		msgpack_pack_uint64(&en->pk, s->reasons[i].n);
	}
	if (enc_count(en, s->nlast, STATS_LAST_IDS, "last") == -1)
		return -1;
	for (uint32_t i = 0; i < s->nlast; i++) {
		if (s->changes[i] == NULL) {
			msgpack_pack_uint64(&en->pk, s->last[i]);
			continue;
		}
		msgpack_pack_array(&en->pk, 2);
		msgpack_pack_uint64(&en->pk, s->last[i]);
		if (enc_str(en, str_c(s->changes[i])) == -1)
			return ep_at(&en->e, "last[%u]", i);
	}
	msgpack_pack_uint64(&en->pk, s->unique);
	return 0;
}

static int
enc_records(struct enc *en, const struct msg_batch *b)
{
	const struct msg_ack *a;

	if (b->kind == MSG_USERS)
		return enc_users(en, &b->u.users);
	enc_key(en, "records");
	switch (b->kind) {
	case MSG_PATCHES:
		if (enc_count(en, b->u.patches.n, MSG_MAX_RECORDS, "records") == -1)
			return -1;
		for (uint32_t i = 0; i < b->u.patches.n; i++)
			if (enc_patch(en, &b->u.patches.recs[i]) == -1)
				return ep_at(&en->e, "records[%u]", i);
		return 0;
	case MSG_ACK:
		a = &b->u.ack;
		msgpack_pack_array(&en->pk, 1);
		msgpack_pack_array(&en->pk, 3);
		msgpack_pack_uint64(&en->pk, a->applied);
		msgpack_pack_uint64(&en->pk, a->received);
		if (enc_count(en, a->nstats, MSG_MAX_FIELDS, "stats") == -1)
			return ep_at(&en->e, "records[0]");
		for (uint32_t i = 0; i < a->nstats; i++)
			if (enc_stats(en, &a->stats[i]) == -1) {
				ep_at(&en->e, "stats[%u]", i);
				return ep_at(&en->e, "records[0]");
			}
		return 0;
	case MSG_HELLO:
		msgpack_pack_array(&en->pk, 1);
		msgpack_pack_array(&en->pk, 3);
		if (enc_str(en, b->u.hello.stage) == -1)
			return ep_at(&en->e, "records[0].stage");
		msgpack_pack_uint64(&en->pk, b->u.hello.pid);
		msgpack_pack_uint64(&en->pk, b->u.hello.started);
		return 0;
	case MSG_END:
		msgpack_pack_array(&en->pk, 1);
		msgpack_pack_array(&en->pk, 1);
		msgpack_pack_uint64(&en->pk, b->u.end.total);
		return 0;
	case MSG_EXPORT_REQUEST:
		if (enc_count(en, b->u.ereq.ngoals, MSG_MAX_FIELDS, "records") == -1)
			return -1;
		for (uint32_t i = 0; i < b->u.ereq.ngoals; i++)
			if (enc_str(en, b->u.ereq.goals[i]) == -1)
				return ep_at(&en->e, "records[%u]", i);
		return 0;
	case MSG_EXPORT_RESULT:
		msgpack_pack_array(&en->pk, 1);
		msgpack_pack_array(&en->pk, 3);
		if (enc_stats(en, &b->u.eres.st) == -1)
			return ep_at(&en->e, "records[0].stats");
		if (enc_str(en, b->u.eres.mode) == -1)
			return ep_at(&en->e, "records[0].mode");
		if (enc_str(en, b->u.eres.error) == -1)
			return ep_at(&en->e, "records[0].error");
		return 0;
	}
	return ep_fail(&en->e, "kind %d unknown", b->kind);
}

static void
enc_begin(struct enc *en, struct buf *out)
{
	en->out = out;
	en->start = out->len;
	en->full = en->full_errno = 0;
	en->e.msg[0] = '\0';
	en->e.pathed = 0;
	msgpack_packer_init(&en->pk, en, enc_write);
}

/* Returns 0, or -1 leaving out as it was and the reason in err. */
static int
enc_end(struct enc *en, int rc, char *err, size_t errlen)
{
	struct buf	*out = en->out;

	if (rc == 0 && !en->full) {
		if (out->data)
			out->data[out->len] = '\0';
		return 0;
	}
	if (rc == 0) {
		if (en->full == 1)
			ep_fail(&en->e, "batch over the limit of %u bytes", MSG_MAX_BYTES);
		else if (en->full_errno == E2BIG)
			ep_fail(&en->e, "batch over the buffer's limit of %zu bytes",
			    out->max);
		else
			ep_fail(&en->e, "out of memory");
		errno = en->full == 2 ? en->full_errno : E2BIG;
	}
	/* Leave out as it was. */
	out->len = en->start;
	if (out->data)
		out->data[out->len] = '\0';
	ep_out(&en->e, err, errlen);
	return -1;
}

static int
enc_batch(struct enc *en, const struct msg_batch *b)
{
	const struct str *dg[3] = { &b->conf.mapper, &b->conf.writer, &b->conf.exporter };
	static const char *const dgname[3] = { "mapper", "writer", "exporter" };
	uint32_t	 ndg = 0;

	if (!msg_kind_valid(b->kind))
		return ep_fail(&en->e, "kind %d unknown", b->kind);
	for (int i = 0; i < 3; i++) {
		if (dg[i]->len == 0)
			continue;
		if (!digest_valid(dg[i]->p, dg[i]->len))
			return ep_fail(&en->e, "conf.%s: not a digest", dgname[i]);
		ndg++;
	}
	if (b->auth.len && !digest_valid(b->auth.p, b->auth.len))
		return ep_fail(&en->e, "auth: not a tag");
	/* No digest, no key: such a batch encodes as it did before digests. */
	msgpack_pack_map(&en->pk, (b->kind == MSG_USERS ? 8 : 7) + (ndg ? 1 : 0) +
	    (b->auth.len ? 1 : 0));
	enc_key(en, "v");
	msgpack_pack_uint32(&en->pk, MSG_VERSION);
	enc_key(en, "kind");
	msgpack_pack_uint32(&en->pk, (uint32_t)b->kind);
	enc_key(en, "run");
	msgpack_pack_uint64(&en->pk, b->run);
	enc_key(en, "lane");
	msgpack_pack_uint32(&en->pk, b->lane);
	enc_key(en, "seq_first");
	msgpack_pack_uint64(&en->pk, b->seq_first);
	enc_key(en, "src");
	msgpack_pack_map(&en->pk, 3);
	enc_key(en, "conn");
	if (enc_str(en, b->src.conn) == -1)
		return ep_at(&en->e, "src.conn");
	enc_key(en, "goal");
	if (enc_str(en, b->src.goal) == -1)
		return ep_at(&en->e, "src.goal");
	enc_key(en, "list");
	if (enc_str(en, b->src.list) == -1)
		return ep_at(&en->e, "src.list");
	if (ndg) {
		enc_key(en, "conf");
		msgpack_pack_map(&en->pk, ndg);
		for (int i = 0; i < 3; i++) {
			if (dg[i]->len == 0)
				continue;
			enc_key(en, dgname[i]);
			enc_str(en, *dg[i]);
		}
	}
	if (b->auth.len) {
		enc_key(en, "auth");
		enc_str(en, b->auth);
	}
	return enc_records(en, b);
}

int
msg_encode(const struct msg_batch *b, struct buf *out, char *err, size_t errlen)
{
	struct enc	 en;

	enc_begin(&en, out);
	return enc_end(&en, enc_batch(&en, b), err, errlen);
}

int
msg_stats_encode(const struct stats *st, struct buf *out, char *err, size_t errlen)
{
	struct enc	 en;

	enc_begin(&en, out);
	return enc_end(&en, enc_stats(&en, st), err, errlen);
}

/* Decoder. */

struct rd {
	const uint8_t	*p, *end;
	char		*pool, *pool_end;	/* string bytes, in the arena */
	struct arena	*a;
	struct errpath	 e;
};

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static size_t
rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static int
rd_trunc(struct rd *r)
{
	return ep_fail(&r->e, "truncated");
}

/* A short name of the msgpack type that starts with byte t, for errors. */
static const char *
mp_type(uint8_t t)
{
	if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3))
		return "int";
	if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf)
		return "map";
	if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd)
		return "array";
	if ((t & 0xe0) == 0xa0 || (t >= 0xd9 && t <= 0xdb))
		return "str";
	switch (t) {
	case 0xc0: return "nil";
	case 0xc2: case 0xc3: return "bool";
	case 0xc4: case 0xc5: case 0xc6: return "bin";
	case 0xca: case 0xcb: return "float";
	case 0xc1: return "reserved byte";
	default: return "ext";
	}
}

static int
rd_type(struct rd *r, const char *want)
{
	if (r->p >= r->end)
		return rd_trunc(r);
	return ep_fail(&r->e, "expected %s, got %s", want, mp_type(*r->p));
}

/*
 * Reads any msgpack integer.  *neg is set when the value is negative, in
 * which case *u holds it as an int64 bit pattern.
 */
static int
rd_anyint(struct rd *r, uint64_t *u, int *neg)
{
	const uint8_t	*p = r->p;
	size_t		 n;
	int64_t		 s;

	if (p >= r->end)
		return rd_trunc(r);
	*neg = 0;
	if (*p <= 0x7f) {
		*u = *p;
		r->p++;
		return 0;
	}
	if (*p >= 0xe0) {
		*u = (uint64_t)(int64_t)(int8_t)*p;
		*neg = 1;
		r->p++;
		return 0;
	}
	switch (*p) {
	case 0xcc: case 0xd0: n = 1; break;
	case 0xcd: case 0xd1: n = 2; break;
	case 0xce: case 0xd2: n = 4; break;
	case 0xcf: case 0xd3: n = 8; break;
	default:
		return rd_type(r, "int");
	}
	if (rd_left(r) < 1 + n)
		return rd_trunc(r);
	switch (*p) {
	case 0xcc: *u = p[1]; break;
	case 0xcd: *u = be16(p + 1); break;
	case 0xce: *u = be32(p + 1); break;
	case 0xcf: *u = be64(p + 1); break;
	default:
		switch (n) {
		case 1: s = (int8_t)p[1]; break;
		case 2: s = (int16_t)be16(p + 1); break;
		case 4: s = (int32_t)be32(p + 1); break;
		default: s = (int64_t)be64(p + 1); break;
		}
		*u = (uint64_t)s;
		*neg = s < 0;
	}
	r->p += 1 + n;
	return 0;
}

static int
rd_u64(struct rd *r, uint64_t *v)
{
	int	 neg;

	if (r->p < r->end && *r->p <= 0x7f) {	/* the common case */
		*v = *r->p++;
		return 0;
	}
	if (rd_anyint(r, v, &neg) == -1)
		return -1;
	if (neg)
		return ep_fail(&r->e, "negative %lld", (long long)(int64_t)*v);
	return 0;
}

static int
rd_u32(struct rd *r, uint32_t *v)
{
	uint64_t	 u;

	if (rd_u64(r, &u) == -1)
		return -1;
	if (u > UINT32_MAX)
		return ep_fail(&r->e, "%llu out of range", (unsigned long long)u);
	*v = (uint32_t)u;
	return 0;
}

static int
rd_i64(struct rd *r, int64_t *v)
{
	uint64_t	 u;
	int		 neg;

	if (rd_anyint(r, &u, &neg) == -1)
		return -1;
	if (!neg && u > INT64_MAX)
		return ep_fail(&r->e, "%llu out of range", (unsigned long long)u);
	*v = (int64_t)u;
	return 0;
}

static int
rd_bool(struct rd *r, int *v)
{
	if (r->p < r->end && (*r->p == 0xc2 || *r->p == 0xc3)) {
		*v = *r->p++ == 0xc3;
		return 0;
	}
	return rd_type(r, "bool");
}

/* Reads a str header: its length, without consuming the body. */
static int
rd_strhdr(struct rd *r, uint32_t *len)
{
	const uint8_t	*p = r->p;
	uint32_t	 n;

	if (p >= r->end)
		return rd_trunc(r);
	if ((*p & 0xe0) == 0xa0) {
		n = *p & 0x1f;
		p += 1;
	} else if (*p == 0xd9) {
		if (rd_left(r) < 2)
			return rd_trunc(r);
		n = p[1];
		p += 2;
	} else if (*p == 0xda) {
		if (rd_left(r) < 3)
			return rd_trunc(r);
		n = be16(p + 1);
		p += 3;
	} else if (*p == 0xdb) {
		if (rd_left(r) < 5)
			return rd_trunc(r);
		n = be32(p + 1);
		p += 5;
	} else
		return rd_type(r, "str");
	if (n > MSG_MAX_STR)
		return ep_fail(&r->e, "string of %u bytes over the limit %u",
		    n, MSG_MAX_STR);
	if ((size_t)(r->end - p) < n)
		return rd_trunc(r);
	r->p = p;
	*len = n;
	return 0;
}

/* A key from the wire, printable and short, for an error. */
static const char *
key_show(const char *k, uint32_t n, char *out, size_t outlen)
{
	size_t	 i;

	for (i = 0; i < n && i + 1 < outlen; i++)
		out[i] = k[i] >= 0x20 && k[i] < 0x7f && k[i] != '"' ? k[i] : '?';
	out[i] = '\0';
	return out;
}

/* Reads a str and copies it, NUL-terminated, into the pool. */
static int
rd_str(struct rd *r, struct str *s)
{
	uint32_t	 n;

	if (rd_strhdr(r, &n) == -1)
		return -1;
	/* Cannot happen: every string spent a header byte on the wire. */
	if ((size_t)(r->pool_end - r->pool) < (size_t)n + 1)
		panic("msg: string pool exhausted");
	memcpy(r->pool, r->p, n);
	r->pool[n] = '\0';
	s->p = r->pool;
	s->len = n;
	r->pool += n + 1;
	r->p += n;
	return 0;
}

/*
 * Reads an array or map header (fixtag is 0x90 or 0x80; the 16- and 32-bit
 * forms follow it as 0xdc/0xdd or 0xde/0xdf).  The count must be <= max and
 * fit the bytes left, each item taking at least `item` bytes.
 */
static int
rd_container(struct rd *r, uint32_t *n, uint32_t max, uint8_t fixtag,
    uint8_t tag16, size_t item, const char *what, const char *unit)
{
	const uint8_t	*p = r->p;
	size_t		 h;

	if (p >= r->end)
		return rd_trunc(r);
	if ((*p & 0xf0) == fixtag) {
		*n = *p & 0x0f;
		h = 1;
	} else if (*p == tag16) {
		if (rd_left(r) < 3)
			return rd_trunc(r);
		*n = be16(p + 1);
		h = 3;
	} else if (*p == tag16 + 1) {
		if (rd_left(r) < 5)
			return rd_trunc(r);
		*n = be32(p + 1);
		h = 5;
	} else
		return rd_type(r, what);
	if (*n > max)
		return ep_fail(&r->e, "%u %s over the limit %u", *n, unit, max);
	if (*n > (rd_left(r) - h) / item)
		return rd_trunc(r);
	r->p += h;
	return 0;
}

/* Reads an array header; every item takes at least one byte. */
static int
rd_array(struct rd *r, uint32_t *n, uint32_t max)
{
	return rd_container(r, n, max, 0x90, 0xdc, 1, "array", "items");
}

/* An array of exactly n items. */
static int
rd_tuple(struct rd *r, uint32_t n)
{
	uint32_t	 got;

	if (rd_array(r, &got, MSG_MAX_FIELDS) == -1)
		return -1;
	if (got != n)
		return ep_fail(&r->e, "expected %u items, got %u", n, got);
	return 0;
}

static int
rd_map(struct rd *r, uint32_t *n, uint32_t max)
{
	return rd_container(r, n, max, 0x80, 0xde, 2, "map", "keys");
}

/* Skips one object of any type; depth bounds the nesting. */
static int
rd_skip(struct rd *r, int depth)
{
	const uint8_t	*p = r->p;
	uint64_t	 items = 0, u;
	uint32_t	 n;
	size_t		 body = 0;
	int		 neg;

	if (depth > MSG_MAX_DEPTH)
		return ep_fail(&r->e, "nested deeper than %d", MSG_MAX_DEPTH);
	if (p >= r->end)
		return rd_trunc(r);
	if (*p <= 0x7f || *p >= 0xe0 || (*p >= 0xcc && *p <= 0xd3))
		return rd_anyint(r, &u, &neg);
	if ((*p & 0xe0) == 0xa0 || (*p >= 0xd9 && *p <= 0xdb)) {
		if (rd_strhdr(r, &n) == -1)
			return -1;
		r->p += n;
		return 0;
	}
	if ((*p & 0xf0) == 0x90 || *p == 0xdc || *p == 0xdd) {
		if (rd_array(r, &n, UINT32_MAX) == -1)
			return -1;
		items = n;
	} else if ((*p & 0xf0) == 0x80 || *p == 0xde || *p == 0xdf) {
		if (rd_map(r, &n, UINT32_MAX) == -1)
			return -1;
		items = 2 * (uint64_t)n;
	} else {
		switch (*p) {
		case 0xc0: case 0xc2: case 0xc3:
			r->p++;
			return 0;
		case 0xca: body = 5; break;
		case 0xcb: body = 9; break;
		case 0xd4: body = 3; break;
		case 0xd5: body = 4; break;
		case 0xd6: body = 6; break;
		case 0xd7: body = 10; break;
		case 0xd8: body = 18; break;
		case 0xc4: case 0xc7:
			if (rd_left(r) < 2)
				return rd_trunc(r);
			body = 2 + p[1] + (*p == 0xc7);
			break;
		case 0xc5: case 0xc8:
			if (rd_left(r) < 3)
				return rd_trunc(r);
			body = 3 + (size_t)be16(p + 1) + (*p == 0xc8);
			break;
		case 0xc6: case 0xc9:
			if (rd_left(r) < 5)
				return rd_trunc(r);
			body = 5 + (size_t)be32(p + 1) + (*p == 0xc9);
			break;
		default:
			return ep_fail(&r->e, "reserved byte 0x%02x", *p);
		}
		if (rd_left(r) < body)
			return rd_trunc(r);
		r->p += body;
		return 0;
	}
	for (uint64_t i = 0; i < items; i++)
		if (rd_skip(r, depth + 1) == -1)
			return -1;
	return 0;
}

static int
rd_val(struct rd *r, struct val *v)
{
	const uint8_t	*p = r->p;
	uint64_t	 u;
	uint32_t	 f;
	float		 fl;

	if (p >= r->end)
		return rd_trunc(r);
	switch (*p) {
	case 0xc0:
		v->type = VAL_NIL;
		r->p++;
		return 0;
	case 0xc2: case 0xc3:
		v->type = VAL_BOOL;
		v->u.b = *p == 0xc3;
		r->p++;
		return 0;
	case 0xca:
		if (rd_left(r) < 5)
			return rd_trunc(r);
		f = be32(p + 1);
		memcpy(&fl, &f, sizeof(fl));
		v->type = VAL_DECIMAL;
		v->u.d = fl;
		r->p += 5;
		return 0;
	case 0xcb:
		if (rd_left(r) < 9)
			return rd_trunc(r);
		u = be64(p + 1);
		v->type = VAL_DECIMAL;
		memcpy(&v->u.d, &u, sizeof(v->u.d));
		r->p += 9;
		return 0;
	case 0xd7:	/* fixext 8 */
	case 0xc7:	/* ext 8 */
		if (*p == 0xc7) {
			if (rd_left(r) < 3)
				return rd_trunc(r);
			if (p[1] != 8)
				return ep_fail(&r->e, "ext of %u bytes not allowed", p[1]);
			p++;
		}
		if ((size_t)(r->end - p) < 10)
			return rd_trunc(r);
		if (p[1] != 1)
			return ep_fail(&r->e, "ext type %d not allowed", (int8_t)p[1]);
		v->type = VAL_DATETIME;
		v->u.i = (int64_t)be64(p + 2);
		r->p = p + 10;
		return 0;
	}
	if ((*p & 0xe0) == 0xa0 || (*p >= 0xd9 && *p <= 0xdb)) {
		v->type = VAL_TEXT;
		return rd_str(r, &v->u.s);
	}
	if (*p <= 0x7f || *p >= 0xe0 || (*p >= 0xcc && *p <= 0xd3)) {
		v->type = VAL_NUMBER;
		return rd_i64(r, &v->u.i);
	}
	return ep_fail(&r->e, "%s is not a value", mp_type(*p));
}

/* A field of a fixed tuple: on failure the error path names it. */
static int
rd_u64_named(struct rd *r, uint64_t *v, const char *name)
{
	return rd_u64(r, v) == -1 ? ep_at(&r->e, "%s", name) : 0;
}

static int
rd_str_named(struct rd *r, struct str *s, const char *name)
{
	return rd_str(r, s) == -1 ? ep_at(&r->e, "%s", name) : 0;
}

/* An array of strings into *out (arena); n <= max. */
static int
rd_strs(struct rd *r, struct str **out, uint32_t *n, uint32_t max)
{
	if (rd_array(r, n, max) == -1)
		return -1;
	*out = *n ? arena_alloc(r->a, *n * sizeof(**out)) : NULL;
	for (uint32_t i = 0; i < *n; i++)
		if (rd_str(r, &(*out)[i]) == -1)
			return ep_at(&r->e, "[%u]", i);
	return 0;
}

static int
rd_users(struct rd *r, struct msg_users *u)
{
	struct msg_row	*row;
	uint32_t	 n;

	if (rd_array(r, &u->nrows, MSG_MAX_RECORDS) == -1)
		return -1;
	u->rows = u->nrows ? arena_alloc(r->a, u->nrows * sizeof(*u->rows)) : NULL;
	for (uint32_t i = 0; i < u->nrows; i++) {
		row = &u->rows[i];
		if (rd_array(r, &n, MSG_MAX_FIELDS + 1) == -1)
			return ep_at(&r->e, "[%u]", i);
		if (n == 0) {
			ep_fail(&r->e, "empty row, no line");
			return ep_at(&r->e, "[%u]", i);
		}
		if (rd_u64(r, &row->line) == -1) {
			ep_at(&r->e, "line");
			return ep_at(&r->e, "[%u]", i);
		}
		row->nvals = n - 1;
		row->vals = n > 1 ? arena_alloc(r->a, row->nvals * sizeof(*row->vals)) : NULL;
		for (uint32_t j = 0; j < row->nvals; j++)
			if (rd_str(r, &row->vals[j]) == -1) {
				ep_at(&r->e, "[%u]", j + 1);
				return ep_at(&r->e, "[%u]", i);
			}
	}
	return 0;
}

static int
rd_patch(struct rd *r, struct msg_patch *pa)
{
	struct msg_op	*o;
	uint32_t	 op = 0;
	int		 b = 0;

	if (rd_tuple(r, 6) == -1)
		return -1;
	if (rd_u64(r, &pa->line) == -1)
		return ep_at(&r->e, "line");
	if (rd_str(r, &pa->skip) == -1)
		return ep_at(&r->e, "skip");
	if (rd_bool(r, &b) == -1)
		return ep_at(&r->e, "create");
	pa->create = (uint8_t)b;

	if (rd_array(r, &pa->nids, MSG_MAX_FIELDS) == -1)
		return ep_at(&r->e, "ids");
	/*
	 * Not cleared: every field of each element is read below before the
	 * batch is used, and a batch that fails to decode is thrown away
	 * (clearing the ids, ops and values was 1.4% of the writer's CPU).
	 */
	pa->ids = pa->nids ? arena_take(r->a, pa->nids * sizeof(*pa->ids)) : NULL;
	for (uint32_t i = 0; i < pa->nids; i++) {
		if (rd_tuple(r, 2) == -1)
			return ep_at(&r->e, "ids[%u]", i);
		if (rd_str(r, &pa->ids[i].prop) == -1) {
			ep_at(&r->e, "prop");
			return ep_at(&r->e, "ids[%u]", i);
		}
		if (rd_str(r, &pa->ids[i].value) == -1) {
			ep_at(&r->e, "value");
			return ep_at(&r->e, "ids[%u]", i);
		}
	}

	if (rd_array(r, &pa->nops, MSG_MAX_FIELDS) == -1)
		return ep_at(&r->e, "ops");
	pa->ops = pa->nops ? arena_take(r->a, pa->nops * sizeof(*pa->ops)) : NULL;
	for (uint32_t i = 0; i < pa->nops; i++) {
		o = &pa->ops[i];
		if (rd_tuple(r, 3) == -1)
			return ep_at(&r->e, "ops[%u]", i);
		if (rd_u32(r, &op) == -1) {
			ep_at(&r->e, "op");
			return ep_at(&r->e, "ops[%u]", i);
		}
		if (patch_op_name((int)op) == NULL) {
			ep_fail(&r->e, "unknown op %u", op);
			ep_at(&r->e, "op");
			return ep_at(&r->e, "ops[%u]", i);
		}
		o->op = (uint8_t)op;
		if (rd_str(r, &o->prop) == -1) {
			ep_at(&r->e, "prop");
			return ep_at(&r->e, "ops[%u]", i);
		}
		if (rd_array(r, &o->nvals, MSG_MAX_FIELDS) == -1) {
			ep_at(&r->e, "vals");
			return ep_at(&r->e, "ops[%u]", i);
		}
		o->vals = o->nvals ? arena_take(r->a, o->nvals * sizeof(*o->vals)) : NULL;
		for (uint32_t j = 0; j < o->nvals; j++)
			if (rd_val(r, &o->vals[j]) == -1) {
				ep_at(&r->e, "vals[%u]", j);
				return ep_at(&r->e, "ops[%u]", i);
			}
	}

	if (rd_strs(r, &pa->notes, &pa->nnotes, MSG_MAX_FIELDS) == -1)
		return ep_at(&r->e, "notes");
	return 0;
}

/*
 * A stats value's reasons, as [[reason, n], ...] (or, as_map, the first
 * runstats layout's {reason: n}), then its [last id, ...].
 */
static int
rd_stats_reasons_last(struct rd *r, struct stats *s, int as_map)
{
	uint32_t	 n;
	struct str	 t;

	if ((as_map ? rd_map(r, &n, MSG_MAX_FIELDS) : rd_array(r, &n, MSG_MAX_FIELDS)) == -1)
		return ep_at(&r->e, "reasons");
	s->nreasons = s->capreasons = n;
	s->reasons = n ? arena_alloc(r->a, n * sizeof(*s->reasons)) : NULL;
	for (uint32_t i = 0; i < n; i++) {
		if ((!as_map && rd_tuple(r, 2) == -1) || rd_str(r, &t) == -1)
			return ep_at(&r->e, "reasons[%u]", i);
		s->reasons[i].reason = (char *)t.p;	/* NUL-terminated in the pool */
		if (rd_u64(r, &s->reasons[i].n) == -1)
			return ep_at(&r->e, "reasons[%u]", i);
	}
	if (rd_array(r, &s->nlast, STATS_LAST_IDS) == -1)
		return ep_at(&r->e, "last");
	for (uint32_t i = 0; i < s->nlast; i++) {
		/* An id alone (no changes known), or [id, changes]. */
		int	 pair = r->p < r->end && ((*r->p & 0xf0) == 0x90 ||
		    *r->p == 0xdc || *r->p == 0xdd);

		if ((pair && rd_tuple(r, 2) == -1) || rd_u64(r, &s->last[i]) == -1)
			return ep_at(&r->e, "last[%u]", i);
		if (pair) {
			if (rd_str(r, &t) == -1)
				return ep_at(&r->e, "last[%u]", i);
			s->changes[i] = (char *)t.p;	/* NUL-terminated in the pool */
		}
	}
	return 0;
}

/*
 * One goal's stats (see msg_stats_encode) into s, strings and reasons in
 * the arena.  Counters the value does not have (it was written before
 * they were added) stay 0.
 */
static int
rd_stats(struct rd *r, struct stats *s)
{
	uint32_t	 n;
	struct str	 t;

	memset(s, 0, sizeof(*s));
	if (rd_array(r, &n, MSG_MAX_FIELDS) == -1)
		return -1;
	if (n < 4 + STATS_NCOUNTERS_MIN || n > 4 + STATS_NCOUNTERS)
		return ep_fail(&r->e, "expected %u items, got %u", 4 + STATS_NCOUNTERS, n);
	if (rd_str(r, &t) == -1)
		return ep_at(&r->e, "goal");
	s->goal = (char *)t.p;	/* NUL-terminated in the pool */
	for (size_t i = 0; i < n - 4; i++)
		if (rd_u64(r, stats_counter(s, i)) == -1)
			return ep_at(&r->e, "%s", stats_counter_name(i));
	if (rd_stats_reasons_last(r, s, 0) == -1)
		return -1;
	if (rd_u64(r, &s->unique) == -1)
		return ep_at(&r->e, "unique");
	return 0;
}

/* The records of kinds that carry exactly one. */
static int
rd_single(struct rd *r, struct msg_batch *b)
{
	uint32_t	 n;

	if (rd_array(r, &n, MSG_MAX_RECORDS) == -1)
		return -1;
	if (n != 1)
		return ep_fail(&r->e, "%s needs exactly 1 record, got %u",
		    msg_kind_name(b->kind), n);
	switch (b->kind) {
	case MSG_ACK:
		if (rd_tuple(r, 3) == -1 ||
		    rd_u64_named(r, &b->u.ack.applied, "applied") == -1 ||
		    rd_u64_named(r, &b->u.ack.received, "received") == -1)
			goto fail;
		if (rd_array(r, &b->u.ack.nstats, MSG_MAX_FIELDS) == -1) {
			ep_at(&r->e, "stats");
			goto fail;
		}
		b->u.ack.stats = b->u.ack.nstats ? arena_alloc(r->a,
		    b->u.ack.nstats * sizeof(*b->u.ack.stats)) : NULL;
		for (uint32_t i = 0; i < b->u.ack.nstats; i++)
			if (rd_stats(r, &b->u.ack.stats[i]) == -1) {
				ep_at(&r->e, "stats[%u]", i);
				goto fail;
			}
		return 0;
	case MSG_HELLO:
		if (rd_tuple(r, 3) == -1 ||
		    rd_str_named(r, &b->u.hello.stage, "stage") == -1 ||
		    rd_u64_named(r, &b->u.hello.pid, "pid") == -1 ||
		    rd_u64_named(r, &b->u.hello.started, "started") == -1)
			goto fail;
		return 0;
	case MSG_END:
		if (rd_tuple(r, 1) == -1 ||
		    rd_u64_named(r, &b->u.end.total, "total") == -1)
			goto fail;
		return 0;
	case MSG_EXPORT_RESULT:
		if (rd_tuple(r, 3) == -1)
			goto fail;
		if (rd_stats(r, &b->u.eres.st) == -1) {
			ep_at(&r->e, "stats");
			goto fail;
		}
		if (rd_str_named(r, &b->u.eres.mode, "mode") == -1 ||
		    rd_str_named(r, &b->u.eres.error, "error") == -1)
			goto fail;
		return 0;
	default:
		panic("msg: rd_single kind %d", b->kind);
	}
 fail:
	return ep_at(&r->e, "[0]");
}

/* The value of "records" (b->kind is known and valid). */
static int
rd_records(struct rd *r, struct msg_batch *b)
{
	int	 rc;

	switch (b->kind) {
	case MSG_USERS:
		rc = rd_users(r, &b->u.users);
		break;
	case MSG_PATCHES:
		if ((rc = rd_array(r, &b->u.patches.n, MSG_MAX_RECORDS)) == -1)
			break;
		b->u.patches.recs = b->u.patches.n ? arena_alloc(r->a,
		    b->u.patches.n * sizeof(*b->u.patches.recs)) : NULL;
		for (uint32_t i = 0; i < b->u.patches.n; i++)
			if ((rc = rd_patch(r, &b->u.patches.recs[i])) == -1) {
				ep_at(&r->e, "[%u]", i);
				break;
			}
		break;
	case MSG_EXPORT_REQUEST:
		rc = rd_strs(r, &b->u.ereq.goals, &b->u.ereq.ngoals, MSG_MAX_FIELDS);
		break;
	default:
		rc = rd_single(r, b);
		break;
	}
	if (rc == -1)
		return ep_at(&r->e, "records");
	return 0;
}

/*
 * A map of up to three string members named names[0..2], read into
 * slots[i]; each at most once, the unknown refused.  Returns the bits of
 * the members seen (1 << i), or -1.  digests: each must be a digest.
 */
static int
rd_strmap(struct rd *r, const char *const names[3], struct str *slots[3], int digests)
{
	const char	*k;
	uint32_t	 n, klen;
	unsigned	 seen = 0;
	size_t		 j;
	char		 kbuf[33];

	if (rd_map(r, &n, 16) == -1)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		if (rd_strhdr(r, &klen) == -1)
			return ep_at(&r->e, "key");
		k = (const char *)r->p;
		r->p += klen;
		for (j = 0; j < 3; j++)
			if (strlen(names[j]) == klen && memcmp(k, names[j], klen) == 0)
				break;
		if (j == 3)
			return ep_fail(&r->e, "unknown key \"%s\"",
			    key_show(k, klen, kbuf, sizeof(kbuf)));
		if (seen & (1u << j))
			return ep_fail(&r->e, "repeated key %s", names[j]);
		seen |= 1u << j;
		if (rd_str(r, slots[j]) == -1)
			return ep_at(&r->e, "%s", names[j]);
		if (digests && !digest_valid(slots[j]->p, slots[j]->len))
			return ep_fail(&r->e, "%s: not a digest (1 to 64 hex digits)",
			    names[j]);
	}
	return (int)seen;
}

/* src: {conn, goal, list}, all three. */
static int
rd_src(struct rd *r, struct msg_src *src)
{
	static const char *const names[3] = { "conn", "goal", "list" };
	struct str	*slots[3] = { &src->conn, &src->goal, &src->list };
	int		 seen = rd_strmap(r, names, slots, 0);

	if (seen == -1)
		return -1;
	if (seen != 7)
		return ep_fail(&r->e, "missing %s", !(seen & 1) ? "conn" :
		    !(seen & 2) ? "goal" : "list");
	return 0;
}

/* conf: {mapper, writer, exporter}, each optional, each a digest. */
static int
rd_digests(struct rd *r, struct msg_digests *d)
{
	static const char *const names[3] = { "mapper", "writer", "exporter" };
	struct str	*slots[3] = { &d->mapper, &d->writer, &d->exporter };

	return rd_strmap(r, names, slots, 1) == -1 ? -1 : 0;
}

enum {
	K_V = 1, K_KIND = 2, K_RUN = 4, K_LANE = 8, K_SEQ = 16, K_SRC = 32,
	K_COLS = 64, K_RECORDS = 128, K_CONF = 256, K_AUTH = 512,
};

static const struct {
	const char	*name;
	unsigned	 bit;
} env_keys[] = {
	{ "v", K_V }, { "kind", K_KIND }, { "run", K_RUN }, { "lane", K_LANE },
	{ "seq_first", K_SEQ }, { "src", K_SRC }, { "cols", K_COLS },
	{ "records", K_RECORDS }, { "conf", K_CONF }, { "auth", K_AUTH },
};

static int
rd_batch(struct rd *r, struct msg_batch *b)
{
	const uint8_t	*records = NULL, *after;
	const char	*k;
	uint64_t	 u;
	uint32_t	 n, klen;
	unsigned	 seen = 0, bit, need;
	size_t		 j;
	char		 kbuf[33];

	if (rd_map(r, &n, 16) == -1)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		if (rd_strhdr(r, &klen) == -1)
			return ep_at(&r->e, "key");
		k = (const char *)r->p;
		r->p += klen;
		for (j = 0; j < sizeof(env_keys) / sizeof(env_keys[0]); j++)
			if (strlen(env_keys[j].name) == klen &&
			    memcmp(env_keys[j].name, k, klen) == 0)
				break;
		if (j == sizeof(env_keys) / sizeof(env_keys[0]))
			return ep_fail(&r->e, "unknown key \"%s\"",
			    key_show(k, klen, kbuf, sizeof(kbuf)));
		bit = env_keys[j].bit;
		if (seen & bit)
			return ep_fail(&r->e, "repeated key %s", env_keys[j].name);
		seen |= bit;
		switch (bit) {
		case K_V:
			if (rd_u64(r, &u) == -1)
				return ep_at(&r->e, "v");
			if (u != MSG_VERSION)
				return ep_fail(&r->e, "version %llu not supported",
				    (unsigned long long)u);
			b->v = (uint32_t)u;
			break;
		case K_KIND:
			if (rd_u64(r, &u) == -1)
				return ep_at(&r->e, "kind");
			if (u > INT32_MAX || !msg_kind_valid((int)u))
				return ep_fail(&r->e, "kind %llu unknown",
				    (unsigned long long)u);
			b->kind = (int)u;
			break;
		case K_RUN:
			if (rd_u64(r, &b->run) == -1)
				return ep_at(&r->e, "run");
			break;
		case K_LANE:
			if (rd_u32(r, &b->lane) == -1)
				return ep_at(&r->e, "lane");
			break;
		case K_SEQ:
			if (rd_u64(r, &b->seq_first) == -1)
				return ep_at(&r->e, "seq_first");
			break;
		case K_SRC:
			if (rd_src(r, &b->src) == -1)
				return ep_at(&r->e, "src");
			break;
		case K_CONF:
			if (rd_digests(r, &b->conf) == -1)
				return ep_at(&r->e, "conf");
			break;
		case K_AUTH:
			if (rd_str(r, &b->auth) == -1)
				return ep_at(&r->e, "auth");
			if (!digest_valid(b->auth.p, b->auth.len))
				return ep_fail(&r->e, "auth: not a tag (1 to 64 hex digits)");
			break;
		case K_COLS:
			if (rd_strs(r, &b->u.users.cols, &b->u.users.ncols,
			    MSG_MAX_FIELDS) == -1)
				return ep_at(&r->e, "cols");
			break;
		case K_RECORDS:
			/* Needs the version and kind; they usually came first. */
			if ((seen & (K_V | K_KIND)) == (K_V | K_KIND)) {
				if (rd_records(r, b) == -1)
					return -1;
			} else {
				records = r->p;
				if (rd_skip(r, 1) == -1)
					return ep_at(&r->e, "records");
			}
			break;
		}
	}
	need = K_V | K_KIND | K_RUN | K_LANE | K_SEQ | K_SRC | K_RECORDS;
	for (j = 0; j < sizeof(env_keys) / sizeof(env_keys[0]); j++)
		if ((need & env_keys[j].bit) && !(seen & env_keys[j].bit))
			return ep_fail(&r->e, "missing %s", env_keys[j].name);
	if (b->kind == MSG_USERS && !(seen & K_COLS))
		return ep_fail(&r->e, "missing cols");
	if (b->kind != MSG_USERS && (seen & K_COLS))
		return ep_fail(&r->e, "cols in a %s batch", msg_kind_name(b->kind));
	if (records != NULL) {
		after = r->p;
		r->p = records;
		if (rd_records(r, b) == -1)
			return -1;
		r->p = after;
	}
	if (r->p != r->end)
		return ep_fail(&r->e, "%zu trailing bytes", rd_left(r));
	return 0;
}

int
msg_decode(const void *p, size_t len, struct msg_batch *b, char *err, size_t errlen)
{
	struct rd	 r;

	memset(b, 0, sizeof(*b));
	arena_init(&b->arena);
	r.e.msg[0] = '\0';
	r.e.pathed = 0;
	if (len > MSG_MAX_BYTES) {
		ep_fail(&r.e, "batch of %zu bytes over the limit %u", len, MSG_MAX_BYTES);
		ep_out(&r.e, err, errlen);
		return -1;
	}
	r.p = p;
	r.end = r.p + len;
	r.a = &b->arena;
	r.pool = arena_take(&b->arena, len + 1);
	r.pool_end = r.pool + len + 1;
	if (rd_batch(&r, b) == -1) {
		arena_clear(&b->arena);
		memset(b, 0, sizeof(*b));
		arena_init(&b->arena);
		ep_out(&r.e, err, errlen);
		return -1;
	}
	return 0;
}

/* The first runstats layout: [created, updated, unchanged, skipped, {reason: n}, [id, ...]]. */
static int
rd_stats_v0(struct rd *r, struct stats *s)
{
	memset(s, 0, sizeof(*s));
	if (rd_tuple(r, 6) == -1)
		return -1;
	for (size_t i = 0; i < 4; i++)
		if (rd_u64(r, stats_counter(s, i)) == -1)
			return ep_at(&r->e, "%s", stats_counter_name(i));
	return rd_stats_reasons_last(r, s, 1);
}

int
msg_stats_decode(const void *p, size_t len, struct stats *st, char *err, size_t errlen)
{
	struct rd	 r;
	struct arena	 a;
	struct stats	 tmp;
	int		 rc;

	memset(st, 0, sizeof(*st));
	r.e.msg[0] = '\0';
	r.e.pathed = 0;
	if (len > MSG_MAX_BYTES) {
		ep_fail(&r.e, "stats of %zu bytes over the limit %u", len, MSG_MAX_BYTES);
		ep_out(&r.e, err, errlen);
		return -1;
	}
	arena_init(&a);
	r.p = p;
	r.end = r.p + len;
	r.a = &a;
	r.pool = arena_take(&a, len + 1);
	r.pool_end = r.pool + len + 1;
	/* A fixarray of 6 can only be the first layout: stats have 8 or more. */
	if (len > 0 && r.p[0] == 0x96)
		rc = rd_stats_v0(&r, &tmp);
	else
		rc = rd_stats(&r, &tmp);
	if (rc == 0 && r.p != r.end)
		rc = ep_fail(&r.e, "%zu trailing bytes", rd_left(&r));
	if (rc == 0)
		stats_copy(st, &tmp);
	else
		ep_out(&r.e, err, errlen);
	arena_clear(&a);
	return rc;
}

void
msg_batch_clear(struct msg_batch *b)
{
	arena_clear(&b->arena);
	memset(b, 0, sizeof(*b));
	arena_init(&b->arena);
}
