/* tests/unit/t_store.c: the LMDB profile store and the profile model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>
#include <msgpack.h>

#include "tap.h"

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "profile.h"
#include "store.h"

static char	 tmpdir[] = "/tmp/t_store.XXXXXX";

static void
text(struct val *v, const char *s)
{
	v->type = VAL_TEXT;
	v->u.s = (struct str){ s, (uint32_t)strlen(s) };
}

static void
number(struct val *v, int64_t i)
{
	v->type = VAL_NUMBER;
	v->u.i = i;
}

static int
rule(struct profile *p, struct arena *a, int r, const char *name, enum val_type t,
    int multi, const struct val *v, uint32_t n)
{
	return profile_rule_apply(p, a, r, name, strlen(name), t, multi, v, n);
}

static const char *
json(const struct profile *p, int ids)
{
	static struct buf b = { NULL, 0, 0, 1 << 20 };

	buf_reset(&b);
	profile_json(p, ids, &b);
	return b.data ? b.data : "";
}

static void
test_profile(void)
{
	struct arena	 a;
	struct profile	 p, q;
	struct val	 v[3];
	struct buf	 enc;
	char		 err[128], hex[PROFILE_ID_HEX];
	uint64_t	 id;

	arena_init(&a);
	profile_init(&p);
	p.id = 0x0100000000010002ull;
	p.created = 1626189720000LL;	/* 2021-07-13T15:22:00Z */
	p.updated = p.created;

	text(&v[0], "a@x.org");
	is_int(rule(&p, &a, RULE_SET, "email", VAL_TEXT, 0, v, 1), PROFILE_RULE_OK, "set");
	text(&v[0], "b@x.org");
	rule(&p, &a, RULE_SET_IF_EMPTY, "email", VAL_TEXT, 0, v, 1);
	is_str(json(&p, 0), "{\"properties\":{\"email\":\"a@x.org\"}}", "set_if_empty keeps");
	text(&v[0], "l1");
	text(&v[1], "l2");
	text(&v[2], "l1");
	rule(&p, &a, RULE_ADD, "lists", VAL_TEXT, 1, v, 3);
	rule(&p, &a, RULE_ADD, "lists", VAL_TEXT, 1, v + 1, 1);
	number(&v[0], 5);
	rule(&p, &a, RULE_SUM, "opens", VAL_NUMBER, 0, v, 1);
	rule(&p, &a, RULE_SUM, "opens", VAL_NUMBER, 0, v, 1);
	v[0].type = VAL_DATETIME;
	v[0].u.i = 1626189720000LL;
	rule(&p, &a, RULE_SET, "last_open", VAL_DATETIME, 0, v, 1);
	v[0].type = VAL_DECIMAL;
	v[0].u.d = 2.5;
	rule(&p, &a, RULE_SET, "score", VAL_DECIMAL, 0, v, 1);
	v[0].type = VAL_BOOL;
	v[0].u.b = 1;
	rule(&p, &a, RULE_SET, "vip", VAL_BOOL, 0, v, 1);
	text(&v[0], "q\"\n");
	rule(&p, &a, RULE_SET, "note", VAL_TEXT, 0, v, 1);
	is_str(json(&p, 0), "{\"properties\":{\"email\":\"a@x.org\","
	    "\"last_open\":\"2021-07-13T15:22:00.000Z\",\"lists\":[\"l1\",\"l2\"],"
	    "\"note\":\"q\\\"\\n\",\"opens\":10,\"score\":2.5,\"vip\":true}}",
	    "rules and canonical JSON");
	is_str(json(&p, 1), "{\"created\":\"2021-07-13T15:22:00.000Z\","
	    "\"id\":\"0100000000010002\",\"properties\":{\"email\":\"a@x.org\","
	    "\"last_open\":\"2021-07-13T15:22:00.000Z\",\"lists\":[\"l1\",\"l2\"],"
	    "\"note\":\"q\\\"\\n\",\"opens\":10,\"score\":2.5,\"vip\":true},"
	    "\"updated\":\"2021-07-13T15:22:00.000Z\"}", "JSON with ids");

	number(&v[0], INT64_MAX);
	is_int(rule(&p, &a, RULE_SUM, "opens", VAL_NUMBER, 0, v, 1), PROFILE_RULE_OVERFLOW,
	    "sum overflow is reported");
	is_int(profile_prop_find(&p, "opens", 5)->vals[0].u.i, 10, "overflow leaves the value");
	is_int(rule(&p, &a, RULE_SUM, "email", VAL_NUMBER, 0, v, 1), PROFILE_RULE_NAN,
	    "sum on text");

	{
		struct profile	 m;

		profile_init(&m);
		v[0].type = VAL_DECIMAL;
		v[0].u.d = 1000.08;
		rule(&m, &a, RULE_SUM, "ltv", VAL_DECIMAL, 0, v, 1);
		v[0].u.d = 334.3;
		rule(&m, &a, RULE_SUM, "ltv", VAL_DECIMAL, 0, v, 1);
		is_str(json(&m, 0), "{\"properties\":{\"ltv\":1334.38}}",
		    "a decimal sum of 1000.08 and 334.3");
		for (int k = 0; k < 1000; k++) {
			v[0].u.d = 0.1;
			rule(&m, &a, RULE_SUM, "ltv", VAL_DECIMAL, 0, v, 1);
		}
		is_str(json(&m, 0), "{\"properties\":{\"ltv\":1434.38}}",
		    "a thousand sums of 0.1 do not drift");
	}

	{
		/* Exchange marks: added to a copy, not to the profile it came from. */
		struct profile c = p;

		ok(profile_mark_add(&c, &a, "c\x1fg", 3) == 0 && c.nmarks == 1 &&
		    p.nmarks == 0, "a mark added to a copy only");
		p = c;
		ok(profile_mark_add(&p, &a, "c\x1fh", 3) == 0 && c.nmarks == 1 &&
		    profile_mark_has(&p, "c\x1fg", 3) && profile_mark_has(&p, "c\x1fh", 3) &&
		    !profile_mark_has(&p, "c\x1f", 2) && !profile_mark_has(&c, "c\x1fh", 3),
		    "two marks, each found, no prefix of one");
	}
	buf_init(&enc, 1 << 20);
	ok(profile_encode(&p, &enc) == 0, "encode");
	is_int((unsigned char)enc.data[0], 0x97, "with marks: a 7-element array");
	ok(profile_decode(enc.data, enc.len, &q, &a, err, sizeof(err)) == 0, "decode");
	ok(profile_equal(&p, &q), "round trip equal");
	ok(q.nmarks == 2 && profile_mark_has(&q, "c\x1fg", 3) && profile_mark_has(&q, "c\x1fh", 3),
	    "the marks round trip");
	{
		char *pj = strdup(json(&p, 1));

		is_str(json(&q, 1), pj, "round trip JSON");
		free(pj);
	}
	ok(profile_decode(enc.data, enc.len - 1, &q, &a, err, sizeof(err)) == -1,
	    "truncated bytes rejected");
	{
		/* Every cut of the stored form is refused, never read past. */
		size_t bad = 0;
		char *cut = malloc(enc.len + 1);

		for (size_t n = 0; n < enc.len; n++) {
			memcpy(cut, enc.data, n);
			if (profile_decode(cut, n, &q, &a, err, sizeof(err)) != -1)
				bad++;
		}
		is_int((long long)bad, 0, "every truncation of %zu bytes rejected", enc.len);
		memcpy(cut, enc.data, enc.len);
		cut[enc.len] = 0;
		ok(profile_decode(cut, enc.len + 1, &q, &a, err, sizeof(err)) == -1 &&
		    strstr(err, "after the end") != NULL, "a byte after the end rejected: %s", err);
		cut[0] = (char)0x95;	/* a 5-element array */
		ok(profile_decode(cut, enc.len, &q, &a, err, sizeof(err)) == -1,
		    "wrong shape rejected: %s", err);
		/* The marks array (last, 2 marks of 3 bytes) emptied, then a mark not a string. */
		cut[0] = (char)0x97;
		cut[enc.len - 9] = (char)0x90;
		ok(profile_decode(cut, enc.len - 8, &q, &a, err, sizeof(err)) == -1 &&
		    strstr(err, "exchange marks") != NULL, "no marks in a 7-element form: %s", err);
		cut[enc.len - 9] = (char)0x92;
		cut[enc.len - 8] = 0x01;
		ok(profile_decode(cut, enc.len, &q, &a, err, sizeof(err)) == -1 &&
		    strstr(err, "exchange mark 0") != NULL, "a mark not a string: %s", err);
		free(cut);
	}
	{
		/* Integers of every width and sign, and the extremes, round trip. */
		struct profile r;
		const int64_t ns[] = { 0, 1, 127, 128, -1, -32, -33, -129, 65536, -70000,
		    4294967296LL, -4294967297LL, INT64_MAX, INT64_MIN };
		struct val nv[sizeof(ns) / sizeof(ns[0])];
		struct buf e2;
		int same;

		profile_init(&r);
		r.id = UINT64_MAX;
		r.created = -1;
		r.updated = INT64_MIN;
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
			number(&nv[i], ns[i]);
		is_int(rule(&r, &a, RULE_SET, "n", VAL_NUMBER, 1, nv, sizeof(ns) / sizeof(ns[0])),
		    PROFILE_RULE_OK, "fourteen numbers set");
		buf_init(&e2, 1 << 16);
		ok(profile_encode(&r, &e2) == 0 &&
		    profile_decode(e2.data, e2.len, &q, &a, err, sizeof(err)) == 0,
		    "integers decode");
		same = q.id == UINT64_MAX && q.created == -1 && q.updated == INT64_MIN;
		ok(same && profile_equal(&r, &q), "integers round trip");
		buf_clear(&e2);
	}
	text(&v[0], "c@x.org");
	rule(&q, &a, RULE_SET, "email", VAL_TEXT, 0, v, 1);
	ok(!profile_equal(&p, &q), "changed is not equal");

	ok(profile_id_parse(profile_id_fmt(0xabcdef0123456789ull, hex), &id) == 0 &&
	    id == 0xabcdef0123456789ull, "id hex round trip %s", hex);
	ok(profile_id_parse("xyz", &id) == -1, "bad id rejected");
	buf_clear(&enc);
	arena_clear(&a);
}

/*
 * The stored form as msgpack-c's packer writes it (what profile_encode
 * wrote before it wrote the bytes itself): stores written either way
 * must hold the same bytes.
 */
static void
ref_pack_val(msgpack_packer *pk, const struct val *v)
{
	switch (v->type) {
	case VAL_TEXT:
		msgpack_pack_str(pk, v->u.s.len);
		msgpack_pack_str_body(pk, v->u.s.p, v->u.s.len);
		break;
	case VAL_NUMBER:
	case VAL_DATETIME:
		msgpack_pack_int64(pk, v->u.i);
		break;
	case VAL_DECIMAL:
		msgpack_pack_double(pk, v->u.d);
		break;
	case VAL_BOOL:
		if (v->u.b)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		break;
	default:
		msgpack_pack_nil(pk);
		break;
	}
}

static void
ref_encode(const struct profile *p, msgpack_sbuffer *sb)
{
	msgpack_packer	 pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 6);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint64(&pk, p->id);
	msgpack_pack_int64(&pk, p->created);
	msgpack_pack_int64(&pk, p->updated);
	msgpack_pack_uint64(&pk, p->redirect);
	msgpack_pack_array(&pk, p->nprops);
	for (uint32_t i = 0; i < p->nprops; i++) {
		const struct profile_prop *pp = &p->props[i];

		msgpack_pack_array(&pk, 4);
		msgpack_pack_str(&pk, pp->name.len);
		msgpack_pack_str_body(&pk, pp->name.p, pp->name.len);
		msgpack_pack_uint8(&pk, (uint8_t)pp->type);
		msgpack_pack_uint8(&pk, pp->multi);
		msgpack_pack_array(&pk, pp->nvals);
		for (uint32_t j = 0; j < pp->nvals; j++)
			ref_pack_val(&pk, &pp->vals[j]);
	}
}

/* 1 when profile_encode of p gives msgpack-c's bytes (after a prefix in the buffer). */
static int
same_bytes(const struct profile *p)
{
	msgpack_sbuffer	 sb;
	struct buf	 b;
	int		 same;

	msgpack_sbuffer_init(&sb);
	ref_encode(p, &sb);
	buf_init(&b, 1u << 24);
	buf_add(&b, "xy", 2);
	same = profile_encode(p, &b) == 0 && b.len == sb.size + 2 &&
	    memcmp(b.data + 2, sb.data, sb.size) == 0 && b.data[b.len] == '\0';
	buf_clear(&b);
	msgpack_sbuffer_destroy(&sb);
	return same;
}

static void
test_encode_bytes(void)
{
	static const int64_t ns[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
	    4294967295LL, 4294967296LL, INT64_MAX, -1, -32, -33, -128, -129, -32768,
	    -32769, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN };
	static const size_t lens[] = { 0, 1, 31, 32, 255, 256, 65535, 65536, 70000 };
	static const uint64_t ids[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
	    4294967295ULL, 4294967296ULL, UINT64_MAX };
	struct arena	 a;
	struct profile	 p;
	struct val	 v[64];
	struct buf	 small;
	char		*big, name[32];
	int		 bad = 0;

	arena_init(&a);
	big = malloc(70001);
	memset(big, 'x', 70000);
	big[70000] = '\0';

	profile_init(&p);
	ok(same_bytes(&p), "an empty profile: msgpack-c's bytes");
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		p.id = ids[i];
		p.redirect = ids[sizeof(ids) / sizeof(ids[0]) - 1 - i];
		p.created = ns[i];
		p.updated = ns[sizeof(ns) / sizeof(ns[0]) - 1 - i];
		bad += !same_bytes(&p);
	}
	is_int(bad, 0, "ids, redirects and times of every width: msgpack-c's bytes");

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		number(&v[i], ns[i]);
	rule(&p, &a, RULE_SET, "n", VAL_NUMBER, 1, v, sizeof(ns) / sizeof(ns[0]));
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		v[i].type = VAL_DATETIME;
	rule(&p, &a, RULE_SET, "t", VAL_DATETIME, 1, v, sizeof(ns) / sizeof(ns[0]));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		v[i].type = VAL_TEXT;
		v[i].u.s.p = big;
		v[i].u.s.len = (uint32_t)lens[i];
	}
	rule(&p, &a, RULE_SET, "s", VAL_TEXT, 1, v, sizeof(lens) / sizeof(lens[0]));
	v[0].type = VAL_DECIMAL;
	v[0].u.d = -1334.38;
	v[1].type = VAL_DECIMAL;
	v[1].u.d = 0.5;
	rule(&p, &a, RULE_SET, "d", VAL_DECIMAL, 1, v, 2);
	v[0].type = VAL_BOOL;
	v[0].u.b = 1;
	v[1].type = VAL_BOOL;
	v[1].u.b = 0;
	rule(&p, &a, RULE_SET, "b", VAL_BOOL, 1, v, 2);
	for (int k = 0; k < 40; k++) {		/* past 15 properties */
		snprintf(name, sizeof(name), "p%02d", k);
		text(&v[0], "v");
		rule(&p, &a, RULE_SET, name, VAL_TEXT, 0, v, 1);
	}
	big[300] = '\0';			/* a property name of 300 bytes */
	text(&v[0], "v");
	rule(&p, &a, RULE_SET, big, VAL_TEXT, 0, v, 1);
	big[300] = 'x';
	ok(same_bytes(&p), "every value type and header width: msgpack-c's bytes");

	/* A buffer that cannot hold it: refused, left as it was. */
	buf_init(&small, 100);
	buf_add(&small, "ab", 2);
	ok(profile_encode(&p, &small) == -1 && small.len == 2 && strcmp(small.data, "ab") == 0,
	    "over the buffer's cap: refused, the buffer unchanged");
	buf_clear(&small);
	free(big);
	arena_clear(&a);
}

static struct conf_store
conf_for(const char *sub, uint64_t map)
{
	struct conf_store cs;
	static char path[8][256];
	static int n;

	memset(&cs, 0, sizeof(cs));
	snprintf(path[n % 8], sizeof(path[0]), "%s/%s", tmpdir, sub);
	cs.path = path[n++ % 8];
	cs.map_size = map;
	cs.lanes = 1;
	cs.durable = 0;
	return cs;
}

static int
collect(const struct profile *p, void *arg)
{
	uint64_t *ids = arg;

	ids[++ids[0]] = p->id;
	return 0;
}

/* Which properties turned one profile into another: changed, added, removed. */
static void
test_diff(void)
{
	struct arena	 a;
	struct profile	 p, q;
	struct val	 v[2];
	struct buf	 enc, d;
	char		 err[128];

	arena_init(&a);
	profile_init(&p);
	text(&v[0], "a@x.org");
	rule(&p, &a, RULE_SET, "email", VAL_TEXT, 0, v, 1);
	text(&v[0], "Oslo");
	rule(&p, &a, RULE_SET, "city", VAL_TEXT, 0, v, 1);
	text(&v[0], "l1");
	rule(&p, &a, RULE_ADD, "lists", VAL_TEXT, 1, v, 1);
	number(&v[0], 5);
	rule(&p, &a, RULE_SUM, "opens", VAL_NUMBER, 0, v, 1);
	buf_init(&enc, 1 << 20);
	buf_init(&d, 4096);
	profile_encode(&p, &enc);
	ok(profile_decode(enc.data, enc.len, &q, &a, err, sizeof(err)) == 0, "a copy");
	text(&v[0], "l2");
	rule(&q, &a, RULE_ADD, "lists", VAL_TEXT, 1, v, 1);
	number(&v[0], 1);
	rule(&q, &a, RULE_SUM, "opens", VAL_NUMBER, 0, v, 1);
	rule(&q, &a, RULE_SET, "city", VAL_TEXT, 0, v, 0);	/* no values: removed */
	text(&v[0], "Ann");
	rule(&q, &a, RULE_SET, "name", VAL_TEXT, 0, v, 1);
	is_int(profile_diff_names(&p, &q, &d), 0, "diff");
	is_str(d.data, "-4:city+5:lists+4:name+5:opens",
	    "changed, added and removed properties; the same left out");
	buf_reset(&d);
	profile_diff_names(&p, &p, &d);
	ok(d.len == 0, "no change: nothing");
	buf_reset(&d);
	profile_diff_names(NULL, &p, &d);
	is_str(d.data, "+4:city+5:email+5:lists+5:opens", "a new profile: every property");
	buf_reset(&d);
	is_int(profile_prop_json(profile_prop_find(&q, "lists", 5), &d), 0, "one property");
	is_str(d.data, "\"lists\":[\"l1\",\"l2\"]", "as in the profile JSON");
	buf_clear(&enc);
	buf_clear(&d);
	arena_clear(&a);
}

static void
test_store(void)
{
	struct conf_store cs = conf_for("s1", 0);
	struct store	*s, *r;
	struct arena	 a;
	struct profile	 p, q;
	struct val	 v;
	uint64_t	 ids[8] = { 0 }, got[16] = { 0 }, id, seq;
	char		 err[256];

	arena_init(&a);
	s = store_open(&cs, 3, 0, err, sizeof(err));
	ok(s != NULL, "open lane 3: %s", s ? "" : err);
	if (s == NULL)
		return;
	ok(store_begin(s) == 0, "begin");
	for (int i = 0; i < 5; i++) {
		ids[i] = store_id_next(s);
		is_int(ids[i] >> 56, 3, "id carries the lane");
		if (i)
			ok(ids[i] > ids[i - 1], "ids increase");
	}
	/* Put in reverse so iteration order is not insertion order. */
	for (int i = 4; i >= 0; i--) {
		profile_init(&p);
		p.id = ids[i];
		p.created = p.updated = 1000 + i;
		number(&v, i);
		profile_rule_apply(&p, &a, RULE_SET, "n", 1, VAL_NUMBER, 0, &v, 1);
		is_int(store_profile_put(s, &p), 0, "put %d", i);
	}
	ok(store_profile_get(s, ids[2], &q, &a) == 0 &&
	    profile_prop_find(&q, "n", 1)->vals[0].u.i == 2, "get");
	is_int(store_profile_get(s, ids[4] + 1, &q, &a), STORE_NOTFOUND, "missing id");

	is_int(store_ident_put(s, "email", 5, "a@x.org", 7, ids[1]), 0, "ident put");
	ok(store_ident_get(s, "email", 5, "a@x.org", 7, &id) == 0 && id == ids[1], "ident get");
	is_int(store_ident_get(s, "email", 5, "b@x.org", 7, &id), STORE_NOTFOUND, "ident miss");
	{
		char long_v[2000];

		memset(long_v, 'x', sizeof(long_v));
		long_v[1999] = 'y';
		is_int(store_ident_put(s, "extid", 5, long_v, sizeof(long_v), ids[0]), 0,
		    "long ident value put");
		long_v[1999] = 'z';
		is_int(store_ident_get(s, "extid", 5, long_v, sizeof(long_v), &id),
		    STORE_NOTFOUND, "long values differing at the end differ");
		long_v[1999] = 'y';
		ok(store_ident_get(s, "extid", 5, long_v, sizeof(long_v), &id) == 0 &&
		    id == ids[0], "long ident value get");
	}
	is_int(store_ident_del(s, "email", 5, "a@x.org", 7), 0, "ident del");
	is_int(store_ident_get(s, "email", 5, "a@x.org", 7, &id), STORE_NOTFOUND, "deleted");
	is_int(store_ident_del(s, "email", 5, "a@x.org", 7), STORE_NOTFOUND, "del again");

	/* ids[3] merged into ids[1]; ids[4] into ids[3]: a chain. */
	profile_init(&p);
	p.id = ids[3];
	p.redirect = ids[1];
	store_profile_put(s, &p);
	p.id = ids[4];
	p.redirect = ids[3];
	store_profile_put(s, &p);
	ok(store_profile_get(s, ids[4], &q, &a) == 0 && q.id == ids[1],
	    "redirect chain resolves to the survivor");
	ok(store_profile_get_raw(s, ids[4], &q, &a) == 0 && q.redirect == ids[3],
	    "raw get sees the redirect");
	/* A loop must not hang. */
	p.id = ids[0];
	p.redirect = ids[0];
	store_profile_put(s, &p);
	is_int(store_profile_get(s, ids[0], &q, &a), STORE_NOTFOUND, "redirect loop bounded");

	store_applied_get(s, 7, &seq);
	is_int(seq, 0, "applied starts at 0");
	store_applied_put(s, 7, 1234);
	store_applied_get(s, 7, &seq);
	is_int(seq, 1234, "applied read back");

	{
		struct stats st, *all;
		size_t n;

		stats_init(&st, "c1", 2, "g1", 2);
		st.created = 3;
		st.skipped = 2;
		stats_reason_add(&st, "no_match", 8, 1);
		stats_reason_add(&st, "invalid_json", 12, 1);
		stats_reason_add(&st, "no_match", 8, 4);
		for (uint64_t i = 1; i <= 7; i++)
			stats_last_push(&st, i);
		stats_last_push(&st, 5);
		is_int(st.nlast, 5, "five last ids");
		ok(st.last[0] == 5 && st.last[1] == 7 && st.last[2] == 6 && st.last[3] == 4 &&
		    st.last[4] == 3, "last ids newest first, distinct");
		is_int(store_stats_put(s, 7, &st), 0, "stats put");
		stats_clear(&st);
		stats_init(&st, "c1", 2, "g2", 2);
		st.updated = 9;
		store_stats_put(s, 7, &st);
		store_stats_put(s, 8, &st);
		stats_clear(&st);
		ok(store_stats_load(s, 7, &all, &n) == 0 && n == 2, "stats of run 7: 2 goals");
		if (n == 2) {
			is_str(all[0].goal, "g1", "goal order");
			is_int(all[0].created, 3, "created");
			is_int(all[0].nreasons, 2, "reasons");
			is_str(all[0].reasons[1].reason, "no_match", "reasons sorted");
			is_int(all[0].reasons[1].n, 5, "reason count");
			is_int(all[0].last[0], 5, "last ids stored");
			is_int(all[1].updated, 9, "second goal");
		}
		store_stats_free(all, n);
	}

	{
		/* A mark as a lane written before schema 3 keeps it. */
		unsigned char mk[14] = "c1\x1fg1\x1f", vb[8] = { 0 };

		is_int(store_exchange_marked(s, "c1", 2, "g1", 2, ids[1]), 0,
		    "no mark in the exchange tree");
		store_be64_put(mk + 6, ids[1]);
		is_int(store_raw_put(s, STORE_DB_EXCHANGE, mk, 14, vb, 8), 0, "an old mark");
		is_int(store_exchange_marked(s, "c1", 2, "g1", 2, ids[1]), 1, "found");
		is_int(store_exchange_marked(s, "c1", 2, "g2", 2, ids[1]), 0,
		    "not another goal's");
		is_int(store_exchange_marked(s, "c1", 2, "g1", 2, ids[0]), 0,
		    "nor another id's");
	}
	store_exchange_count_put(s, "c1", 2, "g1", 2, 1);
	store_exchange_count_get(s, "c1", 2, "g1", 2, &seq);
	is_int(seq, 1, "exchange count");

	ok(store_commit(s) == 0, "commit");

	/* A read-only store sees the committed data while the writer is open. */
	ok(store_begin(s) == 0, "second txn");
	profile_init(&p);
	p.id = store_id_next(s);
	ok(p.id > ids[4], "ids keep increasing across transactions");
	store_profile_put(s, &p);
	store_abort(s);

	store_read_begin(s);
	ok(store_profile_each(s, collect, got) == 0, "iterate");
	store_read_end(s);
	is_int(got[0], 5, "aborted put is gone");
	ok(got[1] == ids[0] && got[2] == ids[1] && got[3] == ids[2] && got[4] == ids[3] &&
	    got[5] == ids[4], "iteration in id order");
	store_close(&s);
	ok(s == NULL, "close nulls");

	r = store_open(&cs, 3, STORE_RDONLY, err, sizeof(err));
	ok(r != NULL, "read-only open: %s", r ? "" : err);
	if (r) {
		store_read_begin(r);
		ok(store_ident_get(r, "extid", 5, "xy", 2, &id) == STORE_NOTFOUND,
		    "read-only ident miss");
		store_applied_get(r, 7, &seq);
		is_int(seq, 1234, "read-only applied");
		store_read_end(r);
		store_close(&r);
	}
	errno = 0;
	r = store_open(&cs, 9, STORE_RDONLY, err, sizeof(err));
	ok(r == NULL && errno == ENOENT, "read-only open of an unwritten lane: ENOENT");

	/* A reader killed inside a transaction leaves a stale slot; open clears it. */
	s = store_open(&cs, 3, 0, err, sizeof(err));
	{
		pid_t pid = fork();

		if (pid == 0) {
			struct store *c = store_open(&cs, 3, STORE_RDONLY, err, sizeof(err));

			if (c)
				store_read_begin(c);
			_exit(c ? 0 : 1);	/* no close: the slot stays */
		}
		int st = 0;

		waitpid(pid, &st, 0);
		ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child reader held a snapshot");
	}
	store_close(&s);
	s = store_open(&cs, 3, 0, err, sizeof(err));
	ok(s != NULL, "reopen after a dead reader");
	store_close(&s);
	arena_clear(&a);
}

static void
test_map_full(void)
{
	struct conf_store cs = conf_for("full", 64 << 10);
	struct store	*s;
	struct arena	 a;
	struct profile	 p;
	struct val	 v;
	char		 err[256], big[900];
	int		 i, rc = 0, grown = 0, n = 3000;
	uint64_t	 first = 0, map0;

	arena_init(&a);
	memset(big, 'b', sizeof(big));
	s = store_open(&cs, 0, 0, err, sizeof(err));
	ok(s != NULL, "open tiny map");
	if (s == NULL)
		return;
	map0 = store_map_size(s);
	/* Each attempt redoes the whole batch, as the writer does. */
	for (;;) {
		rc = store_begin(s);
		for (i = 0; i < n && rc == 0; i++) {
			profile_init(&p);
			p.id = store_id_next(s);
			if (i == 0)
				first = p.id;
			v.type = VAL_TEXT;
			v.u.s = (struct str){ big, sizeof(big) };
			profile_rule_apply(&p, &a, RULE_SET, "blob", 4, VAL_TEXT, 0, &v, 1);
			rc = store_profile_put(s, &p);
			if (rc == 0)
				rc = store_ident_put(s, "k", 1, (char *)&i, sizeof(i), p.id);
		}
		if (rc == 0)
			rc = store_commit(s);
		if (rc != STORE_FULL)
			break;
		store_abort(s);
		if (store_grow(s) != 0 || ++grown > 20)
			break;
	}
	is_int(rc, 0, "batch committed after growing");
	ok(grown > 0, "the map grew %d times", grown);
	ok(store_map_size(s) > map0, "map size %llu > %llu",
	    (unsigned long long)store_map_size(s), (unsigned long long)map0);
	store_read_begin(s);
	{
		uint64_t cnt[4096] = { 0 }, id;

		store_profile_each(s, collect, cnt);
		is_int(cnt[0], n, "all %d profiles stored once", n);
		ok(cnt[1] >= first, "ids from the last attempt");
		i = n - 1;
		ok(store_ident_get(s, "k", 1, (char *)&i, sizeof(i), &id) == 0 && id == cnt[n],
		    "last ident entry");
	}
	store_read_end(s);
	store_close(&s);
	arena_clear(&a);
}

/*
 * Writeback during durable commits: a thread starts the disk's work
 * while the commit still copies pages (store.c, the flusher).  It runs
 * only while a commit does, so the test commits until it has seen one
 * (a loaded machine may keep it off the CPU for a short commit); a
 * store that does not sync has none.  Every record stays readable.
 */
static void
test_writeback(void)
{
	struct store	*s;
	struct arena	 a;
	struct profile	 p;
	struct val	 v;
	char		 err[256], big[2000];
	int		 commits = 0, n = 0, rc = 0;
	uint64_t	 cnt[64 * 1000 + 1];

	arena_init(&a);
	memset(big, 'w', sizeof(big));
	for (int durable = 1; durable >= 0; durable--) {
		struct conf_store cs = conf_for(durable ? "wb-durable" : "wb-nosync", 0);

		cs.durable = durable;
		if ((s = store_open(&cs, 0, 0, err, sizeof(err))) == NULL) {
			ok(0, "open %s: %s", cs.path, err);
			continue;
		}
		commits = n = 0;
		while (rc == 0 && commits < (durable ? 60 : 4) &&
		    (!durable || store_io(s)->writebacks == 0)) {
			rc = store_begin(s);
			for (int i = 0; i < 1000 && rc == 0; i++, n++) {
				profile_init(&p);
				p.id = store_id_next(s);
				v.type = VAL_TEXT;
				v.u.s = (struct str){ big, sizeof(big) };
				profile_rule_apply(&p, &a, RULE_SET, "blob", 4, VAL_TEXT, 0, &v, 1);
				rc = store_profile_put(s, &p);
			}
			if (rc == 0 && (rc = store_commit(s)) == 0)
				commits++;
			arena_clear(&a);
		}
		is_int(rc, 0, "%s: %d commits of 1,000 profiles of 2 KB", cs.path, commits);
		if (durable)
			ok(store_io(s)->writebacks > 0, "durable: writeback started %llu times "
			    "while %d commits wrote", (unsigned long long)store_io(s)->writebacks,
			    commits);
		else
			ok(store_io(s)->writebacks == 0, "durable false: no writeback "
			    "thread (%llu)", (unsigned long long)store_io(s)->writebacks);
		ok(store_io(s)->pages >= (uint64_t)n / 2 && store_io(s)->wait_us >= 0,
		    "%llu pages written for %d profiles, %lld us off the CPU",
		    (unsigned long long)store_io(s)->pages, n,
		    (long long)store_io(s)->wait_us);
		store_close(&s);
		if ((s = store_open(&cs, 0, STORE_RDONLY, err, sizeof(err))) == NULL) {
			ok(0, "reopen %s: %s", cs.path, err);
			continue;
		}
		cnt[0] = 0;
		store_read_begin(s);
		store_profile_each(s, collect, cnt);
		store_read_end(s);
		is_int(cnt[0], n, "reopened: all %d profiles there", n);
		store_close(&s);
	}
	arena_clear(&a);
}

/*
 * The dirty-page estimate that bounds the writer's transactions: a page
 * for each write into the middle of a tree, bytes for new profiles (with
 * their exchange marks) appended at the end and for updates staged in a
 * run.
 */
static void
test_txn_pages(void)
{
	struct conf_store cs = conf_for("pages", 0);
	struct store	*s;
	struct arena	 a;
	struct profile	 p;
	struct val	 v;
	uint64_t	 ids[100], before, moved, left;
	char		 err[256], key[32], big[10000];

	arena_init(&a);
	if ((s = store_open(&cs, 0, 0, err, sizeof(err))) == NULL) {
		ok(0, "open: %s", err);
		return;
	}
	is_int((long long)store_txn_pages(s), 0, "no transaction, no pages");
	ok(store_begin(s) == 0, "begin");
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "u%d@x.org", i);
		store_ident_put(s, "email", 5, key, strlen(key), 1);
	}
	before = store_txn_pages(s);
	ok(before >= 1 && before <= 6, "100 index writes, staged in a new run: %llu pages "
	    "(they fill a leaf or two)", (unsigned long long)before);
	for (int i = 0; i < 100; i++) {
		profile_init(&p);
		p.id = ids[i] = store_id_next(s);
		number(&v, i);
		profile_rule_apply(&p, &a, RULE_SET, "n", 1, VAL_NUMBER, 0, &v, 1);
		profile_mark_add(&p, &a, "c\x1fg", 3);
		is_int(store_profile_put(s, &p), 0, "new profile %d", i);
	}
	ok(store_txn_pages(s) - before <= 6, "100 new profiles with marks, appended: %llu pages more",
	    (unsigned long long)(store_txn_pages(s) - before));
	is_int(store_commit(s), 0, "commit");

	ok(store_begin(s) == 0, "begin again");
	profile_init(&p);
	p.id = ids[7];
	store_profile_put(s, &p);
	before = store_txn_pages(s);
	ok(before <= 1, "an update of a profile made before, staged: its bytes (%llu pages)",
	    (unsigned long long)before);
	memset(big, 'b', sizeof(big));
	v.type = VAL_TEXT;
	v.u.s.p = big;
	v.u.s.len = sizeof(big);
	p.id = ids[8];
	profile_rule_apply(&p, &a, RULE_SET, "t", 1, VAL_TEXT, 0, &v, 1);
	store_profile_put(s, &p);
	ok(store_txn_pages(s) - before >= 3 && store_txn_pages(s) - before <= 5,
	    "a 10 kB update: its 3 overflow pages, at most one leaf more (%llu)",
	    (unsigned long long)(store_txn_pages(s) - before));
	store_abort(s);
	is_int((long long)store_txn_pages(s), 0, "aborted, no pages");

	/*
	 * 20,000 profiles (appended, about 160 leaves): a few updates at
	 * random cost about a leaf each; thousands cannot dirty more leaves
	 * than the tree has, plus what they add.
	 */
	ok(store_begin(s) == 0, "begin: a large tree");
	for (int i = 0; i < 20000; i++) {
		profile_init(&p);
		p.id = store_id_next(s);
		if (i < 100)
			ids[i] = p.id;
		number(&v, i);
		profile_rule_apply(&p, &a, RULE_SET, "n", 1, VAL_NUMBER, 0, &v, 1);
		store_profile_put(s, &p);
	}
	is_int(store_commit(s), 0, "commit 20,000 profiles");
	ok(store_begin(s) == 0, "begin: updates at random");
	for (int i = 0; i < 5000; i++) {
		profile_init(&p);
		p.id = ids[0] + (uint64_t)((i * 2654435761u) % 20000);
		number(&v, i);
		profile_rule_apply(&p, &a, RULE_SET, "n", 1, VAL_NUMBER, 0, &v, 1);
		store_profile_put(s, &p);
		if (i == 49) {
			before = store_txn_pages(s);
			ok(before <= 2, "50 updates at random, staged: %llu pages",
			    (unsigned long long)before);
		}
	}
	before = store_txn_pages(s);
	ok(before >= 60 && before <= 200, "5,000 staged: their bytes, %llu pages, not 5,000",
	    (unsigned long long)before);
	store_abort(s);

	/*
	 * 20,000 identifiers folded into the index (about 130 leaves): a few
	 * deletes at random cost about a leaf each; thousands cannot dirty
	 * more leaves than the tree has, plus what they add.
	 */
	ok(store_begin(s) == 0, "begin: an index");
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "%08d@old.org", i);
		store_ident_put(s, "email", 5, key, strlen(key), 3);
	}
	is_int(store_commit(s), 0, "commit 20,000 identifiers");
	while (store_ident_fold(s, 100000, &moved, &left) == 1)
		;
	is_int((long long)left, 0, "folded into the index");
	ok(store_begin(s) == 0, "begin: deletes at random");
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "%08u@old.org", (unsigned)((i * 2654435761u) % 20000));
		store_ident_del(s, "email", 5, key, strlen(key));
		if (i == 49) {
			before = store_txn_pages(s);
			ok(before >= 40 && before <= 60, "50 deletes at random: %llu pages",
			    (unsigned long long)before);
		}
	}
	before = store_txn_pages(s);
	ok(before >= 100 && before <= 400, "5,000 deletes into the index's leaves: %llu pages, "
	    "not 5,000", (unsigned long long)before);
	store_abort(s);

	/* New identifiers go into a run of their own, in key order: their bytes. */
	ok(store_begin(s) == 0, "begin: identifiers");
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "%08x@new.org", (unsigned)(i * 2246822519u));
		store_ident_put(s, "email", 5, key, strlen(key), 2);
	}
	before = store_txn_pages(s);
	ok(before >= 80 && before <= 200, "5,000 new identifiers: %llu pages, not 5,000",
	    (unsigned long long)before);
	store_abort(s);
	store_close(&s);
	arena_clear(&a);
}

static int
count_ident(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	uint64_t *n = arg;

	(void)k;
	(void)vl;
	n[0]++;
	if (kl == 11 && memcmp(k, "email\x1fk0007", 11) == 0)
		n[1] = store_be64_get(v);
	return 0;
}

/* All 1,000 keys k0000..k0999 resolve to 1000 + i. */
static int
all_resolve(struct store *s)
{
	char	 key[16];
	uint64_t id;
	int	 good = 0;

	if (store_read_begin(s) != 0)
		return -1;
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		good += store_ident_get(s, "email", 5, key, 5, &id) == 0 &&
		    id == 1000 + (uint64_t)i;
	}
	store_read_end(s);
	return good;
}

/*
 * Opens the LMDB environment of a lane at path and begins a transaction
 * (flags: 0 or MDB_RDONLY), as an older build would: 1 when both worked.
 */
static int
lane_begin(const char *path, unsigned flags, MDB_env **env, MDB_txn **txn)
{
	return mdb_env_create(env) == 0 && mdb_env_set_maxdbs(*env, 10) == 0 &&
	    mdb_env_open(*env, path, flags, 0644) == 0 &&
	    mdb_txn_begin(*env, NULL, flags, txn) == 0;
}

/*
 * Records schema version in the meta tree of txn (lane_begin), commits
 * and closes env: 1 when that worked.
 */
static int
lane_schema_commit(MDB_env *env, MDB_txn *txn, unsigned char version)
{
	unsigned char	 b[4] = { 0, 0, 0, version };
	MDB_val		 k = { 6, (void *)(uintptr_t)"schema" }, v = { 4, b };
	MDB_dbi		 dbi;
	int		 done;

	if ((done = mdb_dbi_open(txn, "meta", 0, &dbi) == 0 &&
	    mdb_put(txn, dbi, &k, &v, 0) == 0))
		done = mdb_txn_commit(txn) == 0;
	else
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return done;
}

/*
 * The identifier stage: new entries are staged, a fold moves them into the
 * index in key order over several bounded commits, and at every point each
 * entry resolves, a staged entry shadows the index's, a delete removes
 * both, and raw iteration yields each key once.  A schema 3 lane's
 * ident_stage answers read-only and becomes run 0 for a writer; a schema
 * 1 lane opens (read-only, as it is; writable, upgraded); a newer schema
 * does not.
 */
#define FILTER_KEYS	800000

static void
test_stage(void)
{
	struct conf_store cs = conf_for("stage", 0);
	struct store	*s, *r;
	uint64_t	 id, moved, left, total = 0, n[2];
	char		 err[256], key[16], path[300];
	int		 rc, steps = 0, good_each = 1;
	MDB_env		*env;
	MDB_txn		*txn;
	MDB_dbi		 dbi;
	MDB_val		 k, v;
	MDB_stat	 ms;

	cs.index_stage = 100;
	if ((s = store_open(&cs, 0, 0, err, sizeof(err))) == NULL) {
		ok(0, "open: %s", err);
		return;
	}
	is_int(store_ident_fold(s, 1000, &moved, &left), 0, "empty: nothing to fold");
	ok(store_begin(s) == 0, "begin");
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		store_ident_put(s, "email", 5, key, 5, 1000 + (uint64_t)i);
	}
	ok(store_ident_get(s, "email", 5, "k0500", 5, &id) == 0 && id == 1500,
	    "staged: found in the transaction");
	is_int(store_commit(s), 0, "commit");
	is_int(all_resolve(s), 1000, "staged: all 1,000 found after the commit");
	/* Small steps: about 8 pages of the index each. */
	while ((rc = store_ident_fold(s, 8, &moved, &left)) == 1) {
		total += moved;
		steps++;
		if (all_resolve(s) != 1000)
			good_each = 0;
		if (steps == 2) {
			/* Between steps: a new entry, and one shadowing a folded key. */
			ok(store_begin(s) == 0, "begin between fold steps");
			is_int(store_ident_put(s, "email", 5, "k0007", 5, 7), 0,
			    "stage a newer entry for a folded key");
			is_int(store_ident_put(s, "email", 5, "zz", 2, 9), 0, "stage one more");
			is_int(store_commit(s), 0, "commit");
			ok(store_read_begin(s) == 0 && store_ident_get(s, "email", 5, "k0007", 5,
			    &id) == 0 && id == 7, "the staged entry shadows the folded one");
			n[0] = n[1] = 0;
			store_raw_each(s, STORE_DB_IDENT, count_ident, n);
			store_read_end(s);
			ok(n[0] == 1001 && n[1] == 7, "raw iteration: each key once, the "
			    "staged value (%llu keys, k0007 -> %llu)", (unsigned long long)n[0],
			    (unsigned long long)n[1]);
			ok(store_begin(s) == 0, "begin");
			is_int(store_ident_put(s, "email", 5, "k0007", 5, 1007), 0, "put it back");
			is_int(store_commit(s), 0, "commit");
		}
	}
	total += moved;
	is_int(rc, 0, "the fold ends");
	ok(steps >= 3, "in several bounded steps (%d)", steps);
	ok(good_each, "every entry resolves after every step");
	ok(total >= 1000, "moved every entry at least once (%llu)", (unsigned long long)total);
	is_int(all_resolve(s), 1000, "all found after the fold");
	ok(store_read_begin(s) == 0 && store_ident_get(s, "email", 5, "zz", 2, &id) == 0 &&
	    id == 9, "the entry staged during the fold resolves");
	n[0] = n[1] = 0;
	store_raw_each(s, STORE_DB_IDENT, count_ident, n);
	store_read_end(s);
	ok(n[0] == 1001 && n[1] == 1007, "raw iteration after the fold: %llu keys",
	    (unsigned long long)n[0]);
	is_int(store_ident_fold(s, 1000, &moved, &left), 0, "below the threshold: no fold");
	is_int((long long)left, 2, "the two entries staged during the fold wait for the next");

	ok(store_begin(s) == 0, "begin: delete");
	is_int(store_ident_put(s, "email", 5, "k0001", 5, 5), 0, "stage over a folded key");
	is_int(store_ident_del(s, "email", 5, "k0001", 5), 0, "delete it");
	is_int(store_ident_get(s, "email", 5, "k0001", 5, &id), STORE_NOTFOUND,
	    "gone from both trees");
	is_int(store_ident_del(s, "email", 5, "k0001", 5), STORE_NOTFOUND, "delete again");
	is_int(store_ident_del(s, "email", 5, "zz", 2), 0, "delete a staged-only key");
	is_int(store_ident_get(s, "email", 5, "zz", 2, &id), STORE_NOTFOUND, "gone");
	store_abort(s);
	store_close(&s);

	/*
	 * The writer's filter of identifier keys: built from the trees at a
	 * write transaction's first lookup, told of every put after that,
	 * and built again once it has twice the keys it was built with and
	 * more than one for 5 of its bits (here, with store.filter_mb 1, at
	 * about 671,000 keys), at the same size: the writer's filters stay
	 * within store.filter_mb, however full, and no entry may ever be
	 * ruled out.
	 */
	cs.filter_mb = 1;
	s = store_open(&cs, 0, 0, err, sizeof(err));
	ok(s != NULL && store_begin(s) == 0, "reopen, begin");
	ok(store_ident_get(s, "email", 5, "k0999", 5, &id) == 0 && id == 1999,
	    "an entry from before the filter was built");
	is_int(store_ident_get(s, "email", 5, "nobody", 6, &id), STORE_NOTFOUND, "a miss");
	for (int i = 0; i < FILTER_KEYS; i++) {
		snprintf(key, sizeof(key), "f%06d", i);
		if (store_ident_put(s, "email", 5, key, 7, (uint64_t)i + 1) != 0)
			break;
		if (i % 997 == 0 && (store_ident_get(s, "email", 5, key, 7, &id) != 0 ||
		    id != (uint64_t)i + 1))
			good_each = 0;
	}
	ok(good_each, "each entry found right after its put, across rebuilds");
	is_int(store_commit(s), 0, "commit 800,000");
	ok(store_begin(s) == 0, "begin");
	rc = 0;
	for (int i = 0; i < FILTER_KEYS; i++) {
		snprintf(key, sizeof(key), "f%06d", i);
		rc += store_ident_get(s, "email", 5, key, 7, &id) == 0 && id == (uint64_t)i + 1;
	}
	is_int(rc, FILTER_KEYS, "all 800,000 found");
	rc = 0;
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "g%06d", i);
		rc += store_ident_get(s, "email", 5, key, 7, &id) == STORE_NOTFOUND;
	}
	is_int(rc, 10000, "and 10,000 others not");
	ok(store_filter_bytes(s) <= (1u << 20), "the filters within store.filter_mb: %llu bytes",
	    (unsigned long long)store_filter_bytes(s));
	cs.filter_mb = 0;
	store_abort(s);
	store_close(&s);

	/*
	 * A schema 3 lane: ident_stage of plain keys, newer than ident's.
	 * Read-only, it answers from there; a writer moves it into run 0.
	 */
	snprintf(path, sizeof(path), "%s/lane-0", cs.path);
	ok(lane_begin(path, 0, &env, &txn),
	    "open the lane with LMDB");
	ok(mdb_dbi_open(txn, "ident_runs", 0, &dbi) == 0 && mdb_drop(txn, dbi, 1) == 0,
	    "drop ident_runs");
	ok(mdb_dbi_open(txn, "ident_stage", MDB_CREATE, &dbi) == 0, "create ident_stage");
	k.mv_data = "email\x1fk0005";
	k.mv_size = 11;
	v.mv_data = "\0\0\0\0\0\0\0\5";
	v.mv_size = 8;
	ok(mdb_put(txn, dbi, &k, &v, 0) == 0, "stage k0005 -> 5 over the index's 1005");
	k.mv_data = "email\x1fonly";
	k.mv_size = 10;
	v.mv_data = "\0\0\0\0\0\0\0\x4d";
	ok(mdb_put(txn, dbi, &k, &v, 0) == 0, "stage only -> 77");
	ok(mdb_dbi_open(txn, "meta", 0, &dbi) == 0, "meta");
	k.mv_data = "schema";
	k.mv_size = 6;
	v.mv_data = "\0\0\0\3";
	v.mv_size = 4;
	ok(mdb_put(txn, dbi, &k, &v, 0) == 0 && mdb_txn_commit(txn) == 0, "schema 3");
	mdb_env_close(env);
	for (int pass = 0; pass < 2; pass++) {
		const char *how = pass ? "after a writer moved it" : "read-only";

		if (pass == 1) {
			s = store_open(&cs, 0, 0, err, sizeof(err));
			ok(s != NULL, "a writer opens the schema 3 lane%s%s", s ? "" : ": ",
			    s ? "" : err);
			store_close(&s);
		}
		r = store_open(&cs, 0, STORE_RDONLY, err, sizeof(err));
		ok(r != NULL, "%s: opens%s%s", how, r ? "" : ": ", r ? "" : err);
		if (r == NULL)
			continue;
		ok(store_read_begin(r) == 0 && store_ident_get(r, "email", 5, "k0005", 5,
		    &id) == 0 && id == 5, "%s: the staged k0005 shadows the index's", how);
		ok(store_ident_get(r, "email", 5, "only", 4, &id) == 0 && id == 77,
		    "%s: a staged-only key resolves", how);
		ok(store_ident_get(r, "email", 5, "k0006", 5, &id) == 0 && id == 1006,
		    "%s: the index answers the rest", how);
		n[0] = n[1] = 0;
		store_raw_each(r, STORE_DB_IDENT, count_ident, n);
		store_read_end(r);
		/* The 1,000 k keys and only (the runs were dropped). */
		ok(n[0] == 1001, "%s: raw iteration, each key once (%llu)", how,
		    (unsigned long long)n[0]);
		store_close(&r);
	}
	ok(lane_begin(path, 0, &env, &txn),
	    "open the lane with LMDB");
	is_int(mdb_dbi_open(txn, "ident_stage", 0, &dbi), MDB_NOTFOUND, "ident_stage is gone");
	ok(mdb_dbi_open(txn, "ident_runs", 0, &dbi) == 0 &&
	    mdb_stat(txn, dbi, &ms) == 0 && ms.ms_entries == 2, "its 2 entries are in ident_runs");

	/* A schema 1 lane: no stage at all, meta schema 1. */
	ok(mdb_drop(txn, dbi, 1) == 0, "drop ident_runs");
	ok(mdb_dbi_open(txn, "meta", 0, &dbi) == 0, "meta");
	k.mv_data = "schema";
	k.mv_size = 6;
	v.mv_data = "\0\0\0\1";
	v.mv_size = 4;
	ok(mdb_put(txn, dbi, &k, &v, 0) == 0 && mdb_txn_commit(txn) == 0, "schema 1");
	mdb_env_close(env);
	r = store_open(&cs, 0, STORE_RDONLY, err, sizeof(err));
	ok(r != NULL, "a schema 1 lane opens read-only%s%s", r ? "" : ": ", r ? "" : err);
	if (r) {
		/* k0005 was folded before: its index entry, 1005. */
		is_int(all_resolve(r), 1000, "and its index answers");
		store_close(&r);
	}
	s = store_open(&cs, 0, 0, err, sizeof(err));
	ok(s != NULL, "a writer opens it%s%s", s ? "" : ": ", s ? "" : err);
	if (s) {
		ok(store_begin(s) == 0 && store_ident_put(s, "email", 5, "new", 3, 3) == 0 &&
		    store_commit(s) == 0, "and stages into it");
		ok(store_read_begin(s) == 0 && store_ident_get(s, "email", 5, "new", 3, &id) == 0 &&
		    id == 3, "the new entry resolves");
		store_read_end(s);
		store_close(&s);
	}
	ok(lane_begin(path, 0, &env, &txn) &&
	    mdb_dbi_open(txn, "meta", 0, &dbi) == 0 && mdb_get(txn, dbi, &k, &v) == 0,
	    "read the schema");
	ok(v.mv_size == 4 && memcmp(v.mv_data, "\0\0\0\5", 4) == 0, "upgraded to 5");
	v.mv_data = "\0\0\0\6";
	ok(mdb_put(txn, dbi, &k, &v, 0) == 0 && mdb_txn_commit(txn) == 0, "schema 6");
	mdb_env_close(env);
	s = store_open(&cs, 0, 0, err, sizeof(err));
	ok(s == NULL && strstr(err, "unknown schema version") != NULL,
	    "a newer schema is refused: %s", s ? "opened" : err);
	store_close(&s);
}

/*
 * What profile i of pstage_check holds: n = i, then 10000 + i for every
 * even one (staged), then 20000 + i for every sixth; the profile of
 * ids[7] redirected to ids[3] in between.
 */
static int64_t
pstage_want(int i, int round)
{
	if (round >= 2 && i % 6 == 0)
		return 20000 + i;
	if (round >= 1 && i % 2 == 0)
		return 10000 + i;
	return i;
}

struct pstage_seen {
	const uint64_t	*ids;
	int		 n, round, good, ascending, redirects;
	uint64_t	 last;
};

static int
pstage_each(const struct profile *p, void *arg)
{
	struct pstage_seen *ps = arg;
	const struct profile_prop *pp = profile_prop_find(p, "n", 1);
	int		 i = ps->n++;

	if (ps->n > 1 && p->id <= ps->last)
		ps->ascending = 0;
	ps->last = p->id;
	if (p->redirect != 0) {
		ps->redirects++;
		ps->good += p->id == ps->ids[7] && p->redirect == ps->ids[3];
		return 0;
	}
	while (i < 3000 && ps->ids[i] != p->id)
		i++;
	ps->good += i < 3000 && pp != NULL && pp->vals[0].u.i == pstage_want(i,
	    ps->round);
	return 0;
}

/*
 * Puts n = base + per * i into profile i of ids, for every step-th i, in
 * the open write transaction.
 */
static void
pstage_put(struct store *s, const uint64_t *ids, int step, int64_t base, int per)
{
	struct profile	 p;
	struct arena	 a;
	struct val	 v;

	arena_init(&a);
	for (int i = 0; i < 3000; i += step) {
		profile_init(&p);
		p.id = ids[i];
		number(&v, base + per * i);
		rule(&p, &a, RULE_SET, "n", VAL_NUMBER, 0, &v, 1);
		store_profile_put(s, &p);
		arena_clear(&a);
	}
}

/*
 * Every profile resolves to its newest value (ids[7] to ids[3]), and
 * iteration yields each record once, in id order.  Returns how many of
 * the 3,000 resolve right plus how many iteration saw right, or -1.
 */
static int
pstage_check(struct store *s, const uint64_t *ids, int round)
{
	struct pstage_seen ps = { ids, 0, round, 0, 1, 0, 0 };
	struct profile	 q;
	struct arena	 a;
	int		 good = 0;

	arena_init(&a);
	if (store_read_begin(s) != 0)
		return -1;
	for (int i = 0; i < 3000; i++) {
		const struct profile_prop *pp;
		int	 want = i == 7 && round >= 1 ? 3 : i;

		if (store_profile_get(s, ids[i], &q, &a) == 0 && q.id == ids[want] &&
		    (pp = profile_prop_find(&q, "n", 1)) != NULL &&
		    pp->vals[0].u.i == pstage_want(want, round))
			good++;
	}
	if (store_profile_each(s, pstage_each, &ps) != 0 || ps.n != 3000 ||
	    !ps.ascending || ps.redirects != (round >= 1))
		good = -1;
	else
		good += ps.good;
	store_read_end(s);
	arena_clear(&a);
	return good;
}

/*
 * Updates of profiles made in earlier transactions are staged
 * (profile_runs) and folded into profiles in id order: reads see the
 * newest value at every point, for the writer and read-only; iteration
 * yields each record once; an abort takes back what it staged; a fold in
 * small steps, with updates between them, ends with nothing staged and
 * every value as it was; a lane written before schema 5 opens read-only
 * and a writer upgrades it.
 */
static void
test_profile_stage(void)
{
	struct conf_store cs = conf_for("pstage", 0);
	struct store	*s, *r;
	struct arena	 a;
	struct profile	 p;
	struct val	 v;
	uint64_t	 ids[3000], moved, left, total = 0;
	char		 err[256], path[300];
	int		 rc, steps = 0, good_each = 1;
	MDB_env		*env;
	MDB_txn		*txn;
	MDB_dbi		 dbi;
	MDB_val		 k, mv;
	MDB_stat	 ms;

	arena_init(&a);
	cs.index_stage = 100;
	if ((s = store_open(&cs, 0, 0, err, sizeof(err))) == NULL) {
		ok(0, "open: %s", err);
		return;
	}
	/* Round 0: 3,000 new profiles, at the end of profiles. */
	ok(store_begin(s) == 0, "begin");
	for (int i = 0; i < 3000; i++) {
		profile_init(&p);
		p.id = ids[i] = store_id_next(s);
		number(&v, i);
		rule(&p, &a, RULE_SET, "n", VAL_NUMBER, 0, &v, 1);
		store_profile_put(s, &p);
		arena_clear(&a);
	}
	is_int(store_commit(s), 0, "commit 3,000 new profiles");
	is_int(store_profile_fold(s, 1000, &moved, &left), 0, "none staged: nothing to fold");
	is_int((long long)left, 0, "and none left");

	/* Round 1: the even ones updated, ids[7] redirected: staged. */
	ok(store_begin(s) == 0, "begin");
	pstage_put(s, ids, 2, 10000, 1);
	profile_init(&p);
	p.id = ids[7];
	p.redirect = ids[3];
	store_profile_put(s, &p);
	is_int(store_commit(s), 0, "commit the updates");
	is_int(pstage_check(s, ids, 1), 6000, "the writer reads the staged values");
	store_close(&s);
	r = store_open(&cs, 0, STORE_RDONLY, err, sizeof(err));
	ok(r != NULL, "read-only open%s%s", r ? "" : ": ", r ? "" : err);
	if (r) {
		is_int(pstage_check(r, ids, 1), 6000, "read-only, without filters: the same");
		store_close(&r);
	}
	if ((s = store_open(&cs, 0, 0, err, sizeof(err))) == NULL) {
		ok(0, "reopen: %s", err);
		return;
	}
	is_int(pstage_check(s, ids, 1), 6000, "the writer again: its runs listed, with filters");

	/* An abort takes its staged updates back. */
	ok(store_begin(s) == 0, "begin: updates to abort");
	pstage_put(s, ids, 1, -1, 0);
	store_abort(s);
	is_int(pstage_check(s, ids, 1), 6000, "aborted: the values as they were");

	/* The fold, in small steps; round 2's updates staged after the second. */
	while ((rc = store_profile_fold(s, 10, &moved, &left)) == 1) {
		total += moved;
		if (++steps == 2) {
			ok(store_begin(s) == 0, "begin between fold steps");
			pstage_put(s, ids, 6, 20000, 1);
			is_int(store_commit(s), 0, "commit round 2");
		}
		if (pstage_check(s, ids, steps >= 2 ? 2 : 1) != 6000)
			good_each = 0;
	}
	total += moved;
	is_int(rc, 0, "the fold ends");
	ok(steps >= 5, "in several bounded steps (%d)", steps);
	ok(good_each, "every value resolves after every step");
	is_int((long long)total, 1501, "each staged profile moved once");
	is_int((long long)left, 500, "round 2's updates wait for the next fold");
	is_int(pstage_check(s, ids, 2), 6000, "after the fold");
	total = 0;
	while ((rc = store_profile_fold(s, 1000, &moved, &left)) == 1)
		total += moved;
	total += moved;
	ok(rc == 0 && total == 500 && left == 0, "the next fold takes them (%llu, %llu left)",
	    (unsigned long long)total, (unsigned long long)left);
	is_int(pstage_check(s, ids, 2), 6000, "after it");
	store_close(&s);

	/* A lane before schema 5: no profile_runs. */
	snprintf(path, sizeof(path), "%s/lane-0", cs.path);
	ok(lane_begin(path, 0, &env, &txn),
	    "open the lane with LMDB");
	ok(mdb_dbi_open(txn, "profile_runs", 0, &dbi) == 0 &&
	    mdb_stat(txn, dbi, &ms) == 0 && ms.ms_entries == 0 &&
	    mdb_drop(txn, dbi, 1) == 0, "profile_runs is empty: drop it");
	ok(lane_schema_commit(env, txn, 4), "schema 4");
	r = store_open(&cs, 0, STORE_RDONLY, err, sizeof(err));
	ok(r != NULL, "a schema 4 lane opens read-only%s%s", r ? "" : ": ", r ? "" : err);
	if (r) {
		is_int(pstage_check(r, ids, 2), 6000, "and its profiles read");
		store_close(&r);
	}
	s = store_open(&cs, 0, 0, err, sizeof(err));
	ok(s != NULL, "a writer opens it%s%s", s ? "" : ": ", s ? "" : err);
	if (s) {
		ok(store_begin(s) == 0, "begin");
		pstage_put(s, ids, 6, 20000, 1);
		is_int(store_commit(s), 0, "and stages into it (round 2's values again)");
		is_int(pstage_check(s, ids, 2), 6000, "the staged values read");
		store_close(&s);
	}
	ok(lane_begin(path, MDB_RDONLY, &env, &txn) &&
	    mdb_dbi_open(txn, "profile_runs", 0, &dbi) == 0 &&
	    mdb_stat(txn, dbi, &ms) == 0 && ms.ms_entries == 500, "500 staged");
	k.mv_data = "schema";
	k.mv_size = 6;
	ok(mdb_dbi_open(txn, "meta", 0, &dbi) == 0 && mdb_get(txn, dbi, &k, &mv) == 0 &&
	    mv.mv_size == 4 && memcmp(mv.mv_data, "\0\0\0\5", 4) == 0, "upgraded to 5");
	mdb_txn_abort(txn);
	mdb_env_close(env);
	arena_clear(&a);
}

/*
 * What the runs keys r00000 to r19999 resolve to: three runs put i, then
 * 100000 + i over the even ones, then 300000 + i over every fourth; r00004
 * deleted.  Returns how many resolve right, with s keys (second run only).
 */
static int
runs_resolve(struct store *s)
{
	char	 key[16];
	uint64_t id, want;
	int	 good = 0, rc;

	if (store_read_begin(s) != 0)
		return -1;
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "r%05d", i);
		want = i % 4 == 0 ? 300000 + (uint64_t)i : i % 2 == 0 ? 100000 + (uint64_t)i :
		    (uint64_t)i;
		rc = store_ident_get(s, "email", 5, key, 6, &id);
		good += i == 4 ? rc == STORE_NOTFOUND : rc == 0 && id == want;
	}
	for (int i = 0; i < 10000; i += 7) {
		snprintf(key, sizeof(key), "s%05d", i);
		good += store_ident_get(s, "email", 5, key, 6, &id) == 0 &&
		    id == 200000 + (uint64_t)i;
	}
	store_read_end(s);
	return good;
}

/*
 * The stage's runs: each commit of at least RUN_SMALL (16,384) new keys
 * makes a run; a key in several resolves to the newest run's entry, for
 * the writer (with its filters) and for a read-only store (without); a
 * delete takes it out of all; an abort after a run was made leaves the
 * list as the store has it; the fold merges the runs, the newest entry of
 * each key, into the index.
 */
static void
test_runs(void)
{
	struct conf_store cs = conf_for("runs", 0);
	struct store	*s, *r;
	uint64_t	 id, moved, left, n[2], total = 0;
	char		 err[256], key[16];
	int		 rc, steps = 0, good_each = 1;
	const int	 all = 20000 + 10000 / 7 + 1;

	cs.index_stage = 1000;
	if ((s = store_open(&cs, 0, 0, err, sizeof(err))) == NULL) {
		ok(0, "open: %s", err);
		return;
	}
	for (int run = 0; run < 3; run++) {
		ok(store_begin(s) == 0, "begin run %d", run);
		for (int i = 0; i < 20000; i += run == 0 ? 1 : run == 1 ? 2 : 4) {
			snprintf(key, sizeof(key), "r%05d", i);
			store_ident_put(s, "email", 5, key, 6,
			    (uint64_t)i + (run == 0 ? 0 : run == 1 ? 100000 : 300000));
		}
		for (int i = 0; run == 1 && i < 10000; i++) {
			snprintf(key, sizeof(key), "s%05d", i);
			store_ident_put(s, "email", 5, key, 6, 200000 + (uint64_t)i);
		}
		is_int(store_commit(s), 0, "commit run %d", run);
	}
	ok(store_begin(s) == 0 && store_ident_del(s, "email", 5, "r00004", 6) == 0 &&
	    store_commit(s) == 0, "delete r00004, staged in all three runs");
	is_int(runs_resolve(s), all, "the writer: each key resolves to its newest entry");
	store_close(&s);
	r = store_open(&cs, 0, STORE_RDONLY, err, sizeof(err));
	ok(r != NULL, "read-only open");
	if (r) {
		is_int(runs_resolve(r), all, "read-only, without filters: the same");
		store_close(&r);
	}
	if ((s = store_open(&cs, 0, 0, err, sizeof(err))) == NULL) {
		ok(0, "reopen: %s", err);
		return;
	}
	is_int(runs_resolve(s), all, "the writer again: its runs listed, with filters");

	/* An abort after its pending keys became a run. */
	ok(store_begin(s) == 0, "begin: a run to abort");
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "t%05d", i);
		store_ident_put(s, "email", 5, key, 6, 1);
	}
	n[0] = n[1] = 0;
	store_raw_each(s, STORE_DB_IDENT, count_ident, n);
	ok(n[0] == 50000 - 1, "raw iteration in the transaction: %llu keys",
	    (unsigned long long)n[0]);
	store_abort(s);
	is_int(runs_resolve(s), all, "aborted: the runs as they were");
	ok(store_begin(s) == 0, "begin");
	is_int(store_ident_get(s, "email", 5, "t00001", 6, &id), STORE_NOTFOUND,
	    "the aborted run's keys are gone");
	ok(store_ident_put(s, "email", 5, "u", 1, 9) == 0 && store_commit(s) == 0,
	    "a put after it");

	/* The fold: the runs merged into the index. */
	while ((rc = store_ident_fold(s, 100, &moved, &left)) == 1) {
		total += moved;
		if (++steps % 10 == 0 && runs_resolve(s) != all)
			good_each = 0;
	}
	total += moved;
	is_int(rc, 0, "the fold ends");
	ok(steps > 10, "in bounded steps (%d)", steps);
	ok(good_each, "every tenth step, every key resolves");
	is_int((long long)total, 30000, "each key moved once (the newest)");
	is_int((long long)left, 0, "nothing staged");
	is_int(runs_resolve(s), all, "after the fold: each key resolves");
	ok(store_read_begin(s) == 0 && store_ident_get(s, "email", 5, "u", 1, &id) == 0 &&
	    id == 9, "the last put resolves");
	n[0] = n[1] = 0;
	store_raw_each(s, STORE_DB_IDENT, count_ident, n);
	store_read_end(s);
	ok(n[0] == 30000, "raw iteration: %llu keys", (unsigned long long)n[0]);
	store_close(&s);
}

/* Raw iteration: counts keys, checks they ascend, remembers "email\x1fp1". */
struct raw_seen {
	uint64_t	 n, p1;
	int		 ascending;
	unsigned char	 last[64];
	size_t		 lastlen;
};

static int
raw_seen_fn(const void *k, size_t kl, const void *v, size_t vl, void *arg)
{
	struct raw_seen	*r = arg;
	size_t		 m = kl < r->lastlen ? kl : r->lastlen;
	int		 c;

	(void)vl;
	if (r->n > 0) {
		c = memcmp(r->last, k, m);
		if (c > 0 || (c == 0 && r->lastlen >= kl))
			r->ascending = 0;
	}
	if (kl <= sizeof(r->last)) {
		memcpy(r->last, k, kl);
		r->lastlen = kl;
	}
	if (kl == 8 && memcmp(k, "email\x1fp1", 8) == 0)
		r->p1 = store_be64_get(v);
	r->n++;
	return 0;
}

/*
 * A write transaction's new identifiers wait in memory and go into the
 * stage in key order at the commit (store.c, struct pending): within the
 * transaction they are found, replaced and deleted as if staged; an abort
 * drops them; raw iteration and the commit see each key once.
 */
static void
test_pending(void)
{
	struct conf_store cs = conf_for("pending", 0);
	struct store	*s;
	struct raw_seen	 r;
	uint64_t	 id;
	char		 err[256], key[32];
	int		 good = 1;
	/* Shared prefixes, put out of order: LMDB's order is not this one. */
	static const char *keys[] = { "pb", "p", "p1", "pa", "p10", "p", "q", "o" };

	if ((s = store_open(&cs, 0, 0, err, sizeof(err))) == NULL) {
		ok(0, "open: %s", err);
		return;
	}
	ok(store_begin(s) == 0, "begin");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (store_ident_put(s, "email", 5, keys[i], strlen(keys[i]), 10 + i) != 0)
			good = 0;
	ok(good, "eight puts, one key twice");
	ok(store_ident_get(s, "email", 5, "p", 1, &id) == 0 && id == 15,
	    "the second put of a key wins in the transaction (%llu)", (unsigned long long)id);
	ok(store_ident_get(s, "email", 5, "p10", 3, &id) == 0 && id == 14,
	    "another found in the transaction");
	is_int(store_ident_del(s, "email", 5, "q", 1), 0, "delete a waiting key");
	is_int(store_ident_get(s, "email", 5, "q", 1, &id), STORE_NOTFOUND, "deleted");
	is_int(store_ident_del(s, "email", 5, "q", 1), STORE_NOTFOUND, "delete again");
	is_int(store_ident_del(s, "email", 5, "o", 1), 0, "delete another");
	is_int(store_ident_put(s, "email", 5, "o", 1, 99), 0, "and put it back");
	ok(store_ident_get(s, "email", 5, "o", 1, &id) == 0 && id == 99, "found again");
	memset(&r, 0, sizeof(r));
	r.ascending = 1;
	is_int(store_raw_each(s, STORE_DB_IDENT, raw_seen_fn, &r), 0,
	    "raw iteration in the transaction");
	ok(r.n == 6 && r.ascending && r.p1 == 12, "each key once, in order (%llu keys)",
	    (unsigned long long)r.n);
	is_int(store_ident_put(s, "email", 5, "p1", 2, 21), 0, "put over a staged key");
	ok(store_ident_get(s, "email", 5, "p1", 2, &id) == 0 && id == 21,
	    "the waiting entry shadows the staged one");
	is_int(store_commit(s), 0, "commit");

	ok(store_read_begin(s) == 0, "read");
	good = 1;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		uint64_t want = i == 0 ? 10 : i == 1 || i == 5 ? 15 : i == 2 ? 21 :
		    i == 3 ? 13 : i == 4 ? 14 : i == 7 ? 99 : 0;
		int rc = store_ident_get(s, "email", 5, keys[i], strlen(keys[i]), &id);

		if (want == 0 ? rc != STORE_NOTFOUND : rc != 0 || id != want) {
			printf("# %s: rc %d id %llu, want %llu\n", keys[i], rc,
			    (unsigned long long)id, (unsigned long long)want);
			good = 0;
		}
	}
	ok(good, "after the commit: the last value of each key, none of the deleted");
	memset(&r, 0, sizeof(r));
	r.ascending = 1;
	store_raw_each(s, STORE_DB_IDENT, raw_seen_fn, &r);
	store_read_end(s);
	ok(r.n == 6 && r.ascending && r.p1 == 21, "raw iteration after the commit: %llu keys",
	    (unsigned long long)r.n);

	ok(store_begin(s) == 0, "begin");
	is_int(store_ident_put(s, "email", 5, "gone", 4, 7), 0, "put");
	is_int(store_ident_put(s, "email", 5, "p", 1, 7), 0, "put over a committed key");
	store_abort(s);
	ok(store_read_begin(s) == 0, "read");
	is_int(store_ident_get(s, "email", 5, "gone", 4, &id), STORE_NOTFOUND,
	    "an aborted put is not found");
	ok(store_ident_get(s, "email", 5, "p", 1, &id) == 0 && id == 15,
	    "an aborted replacement leaves the committed value");
	store_read_end(s);

	/* More than wait in memory: staged in the middle of the transaction. */
	ok(store_begin(s) == 0, "begin");
	good = 1;
	for (int i = 0; i < 270000 && good; i++) {
		snprintf(key, sizeof(key), "m%06d", 269999 - i);
		if (store_ident_put(s, "email", 5, key, 7, (uint64_t)i + 1) != 0)
			good = 0;
	}
	ok(good, "270,000 puts in one transaction");
	ok(store_ident_get(s, "email", 5, "m269999", 7, &id) == 0 && id == 1,
	    "the first, staged before the commit");
	ok(store_ident_get(s, "email", 5, "m000000", 7, &id) == 0 && id == 270000,
	    "the last, still waiting");
	is_int(store_commit(s), 0, "commit");
	ok(store_read_begin(s) == 0, "read");
	good = 0;
	for (int i = 0; i < 270000; i += 997) {
		snprintf(key, sizeof(key), "m%06d", 269999 - i);
		good += store_ident_get(s, "email", 5, key, 7, &id) == 0 &&
		    id == (uint64_t)i + 1;
	}
	store_read_end(s);
	is_int(good, 271, "a sample of them found after the commit");
	store_close(&s);
}

int
main(void)
{
	char cmd[300];

	log_init("t_store", LOG_WARN);
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	test_profile();
	test_encode_bytes();
	test_diff();
	test_store();
	test_map_full();
	test_writeback();
	test_txn_pages();
	test_stage();
	test_runs();
	test_profile_stage();
	test_pending();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return done_testing();
}
