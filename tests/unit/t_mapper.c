/* tests/unit/t_mapper.c: mapping of USERS rows into PATCHES, checked exactly. */
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "../../mapper/mapper.h"
#include "msg.h"

static const char *conf_json =
"{\n"
"  \"store\": {\n"
"    \"path\": \"store\",\n"
"    \"properties\": {\n"
"      \"email\": {\"type\": \"text\", \"unique\": true},\n"
"      \"extid\": {\"type\": \"text\", \"unique\": true},\n"
"      \"name\": {\"type\": \"text\"},\n"
"      \"nick\": {\"type\": \"text\"},\n"
"      \"opens\": {\"type\": \"number\"},\n"
"      \"count\": {\"type\": \"number\"},\n"
"      \"revenue\": {\"type\": \"decimal\"},\n"
"      \"last_open\": {\"type\": \"datetime\"},\n"
"      \"vip\": {\"type\": \"boolean\"},\n"
"      \"tags\": {\"type\": \"text\", \"multi\": true},\n"
"      \"scores\": {\"type\": \"number\", \"multi\": true},\n"
"      \"lists\": {\"type\": \"text\", \"multi\": true}\n"
"    }\n"
"  },\n"
"  \"connections\": [{\n"
"    \"name\": \"acme\", \"api_key\": \"k\", \"secret\": \"s\",\n"
"    \"timezone\": \"America/New_York\",\n"
"    \"goals\": [\n"
"      {\"name\": \"members\", \"type\": \"import\", \"lists\": [\"Main\"],\n"
"       \"list_property\": \"lists\",\n"
"       \"link\": {\"column\": \"Email\", \"property\": \"email\"},\n"
"       \"mappings\": [\n"
"         {\"column\": \"Name\", \"property\": \"name\"},\n"
"         {\"column\": \"Nick\", \"property\": \"nick\", \"rule\": \"set_if_empty\"},\n"
"         {\"column\": \"Opens\", \"property\": \"opens\", \"rule\": \"sum\"},\n"
"         {\"column\": \"Count\", \"property\": \"count\"},\n"
"         {\"column\": \"Revenue\", \"property\": \"revenue\"},\n"
"         {\"column\": \"Last Open\", \"property\": \"last_open\"},\n"
"         {\"column\": \"VIP\", \"property\": \"vip\"},\n"
"         {\"column\": \"Tag\", \"property\": \"tags\", \"rule\": \"add\"},\n"
"         {\"column\": \"Ext\", \"property\": \"extid\"}\n"
"       ]},\n"
"      {\"name\": \"bysid\", \"type\": \"import\", \"lists\": [\"Main\"],\n"
"       \"create_profiles\": true,\n"
"       \"link\": {\"column\": \"Profile Id\", \"property\": \"sailthru_profile_id\"},\n"
"       \"mappings\": [{\"column\": \"Email\", \"property\": \"email\"}]},\n"
"      {\"name\": \"file\", \"type\": \"file\", \"path\": \"people.jsonl\",\n"
"       \"create_profiles\": true,\n"
"       \"link\": {\"column\": \"email\", \"property\": \"email\"},\n"
"       \"mappings\": [\n"
"         {\"column\": \"name\", \"property\": \"name\"},\n"
"         {\"column\": \"tags\", \"property\": \"tags\", \"rule\": \"add\"},\n"
"         {\"column\": \"scores\", \"property\": \"scores\"},\n"
"         {\"column\": \"opens\", \"property\": \"opens\", \"rule\": \"sum\"},\n"
"         {\"column\": \"revenue\", \"property\": \"revenue\"},\n"
"         {\"column\": \"vip\", \"property\": \"vip\"},\n"
"         {\"column\": \"last_open\", \"property\": \"last_open\"},\n"
"         {\"column\": \"extid\", \"property\": \"extid\"}\n"
"       ]}\n"
"    ]\n"
"  }]\n"
"}\n";

static struct conf conf;
static struct mapper *m;

/* ---- building USERS batches by hand ---- */

static void
users_new(struct msg_batch *b, const char *goal, const char *const *cols)
{
	uint32_t	 n = 0;

	memset(b, 0, sizeof(*b));
	arena_init(&b->arena);
	b->kind = MSG_USERS;
	b->v = MSG_VERSION;
	b->run = 7;
	b->lane = 1;
	b->seq_first = 101;
	b->src.conn = str_c("acme");
	b->src.goal = str_c(goal);
	b->src.list = str_c("Main");
	while (cols[n])
		n++;
	b->u.users.ncols = n;
	b->u.users.cols = arena_alloc(&b->arena, (n + 1) * sizeof(struct str));
	for (uint32_t i = 0; i < n; i++)
		b->u.users.cols[i] = str_c(cols[i]);
	b->u.users.rows = arena_alloc(&b->arena, 64 * sizeof(struct msg_row));
}

static void
users_row(struct msg_batch *b, const char *const *vals)
{
	struct msg_row	*r = &b->u.users.rows[b->u.users.nrows];
	uint32_t	 n = 0;

	while (vals[n])
		n++;
	r->line = b->u.users.nrows + 2;
	r->nvals = n;
	r->vals = arena_alloc(&b->arena, (n + 1) * sizeof(struct str));
	for (uint32_t i = 0; i < n; i++)
		r->vals[i] = str_c(vals[i]);
	b->u.users.nrows++;
}

/* ---- rendering a patch as one comparable line ---- */

static char line[8192];

static void
put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
put(const char *fmt, ...)
{
	size_t	 n = strlen(line);
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
}

static void
put_val(const struct val *v)
{
	switch (v->type) {
	case VAL_TEXT:
		put("'%.*s'", (int)v->u.s.len, v->u.s.p);
		break;
	case VAL_NUMBER:
		put("%" PRId64, v->u.i);
		break;
	case VAL_DECIMAL:
		put("%.17g", v->u.d);
		break;
	case VAL_DATETIME:
		put("@%" PRId64, v->u.i);
		break;
	case VAL_BOOL:
		put("%s", v->u.b ? "true" : "false");
		break;
	default:
		put("?%d", (int)v->type);
	}
}

/* "ids=p:v,... ops=op prop=v|v; ... notes=a,b" or "skip=reason". */
static const char *
render(const struct msg_patch *p)
{
	line[0] = '\0';
	if (p->skip.len) {
		put("skip=%.*s", (int)p->skip.len, p->skip.p);
		return line;
	}
	put("ids=");
	for (uint32_t i = 0; i < p->nids; i++)
		put("%s%.*s:%.*s", i ? "," : "", (int)p->ids[i].prop.len,
		    p->ids[i].prop.p, (int)p->ids[i].value.len, p->ids[i].value.p);
	put(" ops=");
	for (uint32_t i = 0; i < p->nops; i++) {
		const struct msg_op *o = &p->ops[i];

		put("%s%s %.*s=", i ? "; " : "", patch_op_name(o->op),
		    (int)o->prop.len, o->prop.p);
		for (uint32_t k = 0; k < o->nvals; k++) {
			if (k)
				put("|");
			put_val(&o->vals[k]);
		}
	}
	if (p->nnotes) {
		put(" notes=");
		for (uint32_t i = 0; i < p->nnotes; i++)
			put("%s%.*s", i ? "," : "", (int)p->notes[i].len, p->notes[i].p);
	}
	return line;
}

static const char *const members_cols[] = {
	"Profile Id", "Email", "Name", "Nick", "Opens", "Count", "Revenue",
	"Last Open", "VIP", "Tag", "Ext", "Email", NULL,
};

/* Maps one members row with the header above; returns its rendering. */
static const char *
map_one(const char *const *vals)
{
	static struct msg_batch out;
	struct msg_batch in;
	char		 err[256];

	msg_batch_clear(&out);
	memset(&out, 0, sizeof(out));
	users_new(&in, "members", members_cols);
	users_row(&in, vals);
	if (mapper_map(m, &in, &out, err, sizeof(err)) == -1) {
		snprintf(line, sizeof(line), "error: %s", err);
		msg_batch_clear(&in);
		return line;
	}
	msg_batch_clear(&in);
	if (out.u.patches.n != 1)
		return "wrong record count";
	return render(&out.u.patches.recs[0]);
}

static void
test_csv_rules(void)
{
	is_str(map_one((const char *[]){ "5f1a2b3c4d5e6f7a8b9c0d1e", " Foo@Example.COM ",
	    "Foo Bar", "foo", "3", "12", "3.25", "2021-03-31 22:15:07", "Yes",
	    "red", "X-1", "second@example.com", NULL }),
	    "ids=email:foo@example.com,sailthru_profile_id:5f1a2b3c4d5e6f7a8b9c0d1e,"
	    "extid:X-1 ops=set sailthru_profile_id='5f1a2b3c4d5e6f7a8b9c0d1e'; "
	    "set email='foo@example.com'; add lists='Main'; set name='Foo Bar'; "
	    "set_if_empty nick='foo'; sum opens=3; set count=12; set revenue=3.25; "
	    "set last_open=@1617243307000; set vip=true; add tags='red'; "
	    "set extid='X-1'",
	    "every rule, each type converted, link normalized, first Email wins");

	is_str(map_one((const char *[]){ "", "a@b.co", "", "", "", "", "", "", "",
	    "", "", "", NULL }),
	    "ids=email:a@b.co ops=set email='a@b.co'; add lists='Main'",
	    "empty cells give no op and no note; no Profile Id, no id");

	is_str(map_one((const char *[]){ "  ", "a@b.co", "  Spaced  ", "", " -3 ",
	    "12.0", "1e3", "Wed, 31 Mar 2021 22:15:07 -0400", "f", "", "", "", NULL }),
	    "ids=email:a@b.co ops=set email='a@b.co'; add lists='Main'; "
	    "set name='  Spaced  '; sum opens=-3; set count=12; set revenue=1000; "
	    "set last_open=@1617243307000; set vip=false",
	    "text as is, signed sums, integral decimals as numbers, RFC 2822 dates");
}

static void
test_csv_notes(void)
{
	is_str(map_one((const char *[]){ "", "a@b.co", "", "", "abc", "1,234",
	    "1.2.3", "yesterday", "maybe", "", "", "", NULL }),
	    "ids=email:a@b.co ops=set email='a@b.co'; add lists='Main' "
	    "notes=sum_not_a_number:opens,invalid_number:count,"
	    "invalid_decimal:revenue,invalid_datetime:last_open,invalid_boolean:vip",
	    "values that do not convert become notes and no op");
	is_str(map_one((const char *[]){ "", "a@b.co", "", "", "2.5", "12.5",
	    "", "", "", "", "", "", NULL }),
	    "ids=email:a@b.co ops=set email='a@b.co'; add lists='Main' "
	    "notes=sum_not_a_number:opens,invalid_number:count",
	    "a fraction is not a number");
}

static void
test_csv_skips(void)
{
	is_str(map_one((const char *[]){ "5f1a", "", "Foo", "", "", "", "", "",
	    "", "", "", "", NULL }), "skip=no_identifier", "no link value: skipped");
	is_str(map_one((const char *[]){ "5f1a", " \t ", "Foo", "", "", "", "",
	    "", "", "", "", "", NULL }), "skip=no_identifier",
	    "white space only link value: skipped");
	is_str(map_one((const char *[]){ "5f1a", "a@b.co", "Foo", NULL }),
	    "skip=ragged_row", "a row shorter than the header: skipped");
}

static void
test_batch(void)
{
	static const char *const cols[] = { "Email", "Profile Id", "Opens", NULL };
	struct msg_batch in, out, back;
	struct buf	 enc;
	char		 err[256];
	int		 r;

	users_new(&in, "members", cols);
	users_row(&in, (const char *[]){ "one@x.org", "sid1", "1", NULL });
	users_row(&in, (const char *[]){ "", "sid2", "2", NULL });
	users_row(&in, (const char *[]){ "THREE@x.org", "", "x", NULL });
	memset(&out, 0, sizeof(out));
	r = mapper_map(m, &in, &out, err, sizeof(err));
	is_int(r, 0, "batch maps");
	is_int(out.kind, MSG_PATCHES, "kind is PATCHES");
	is_int(out.run, 7, "run copied");
	is_int(out.lane, 1, "lane copied");
	is_int(out.seq_first, 101, "seq_first copied");
	ok(str_eq(out.src.conn, "acme") && str_eq(out.src.goal, "members") &&
	    str_eq(out.src.list, "Main"), "src copied");
	is_int(out.u.patches.n, 3, "one record per row");
	is_int(out.u.patches.recs[1].line, 3, "line kept");
	is_int(out.u.patches.recs[0].create, 0, "create follows the goal");
	is_str(render(&out.u.patches.recs[2]),
	    "ids=email:three@x.org ops=set email='three@x.org'; add lists='Main' "
	    "notes=sum_not_a_number:opens", "cached header: columns in another order");
	/* Nothing may point into the USERS batch. */
	msg_batch_clear(&in);

	buf_init(&enc, MSG_MAX_BYTES);
	r = msg_encode(&out, &enc, err, sizeof(err));
	is_int(r, 0, "patches encode");
	memset(&back, 0, sizeof(back));
	r = msg_decode(enc.data, enc.len, &back, err, sizeof(err));
	is_int(r, 0, "patches decode");
	if (r == 0) {
		is_int(back.u.patches.n, 3, "decoded record count");
		is_str(render(&back.u.patches.recs[0]),
		    "ids=email:one@x.org,sailthru_profile_id:sid1 ops=set "
		    "sailthru_profile_id='sid1'; set email='one@x.org'; "
		    "add lists='Main'; sum opens=1", "round trip of a record");
		is_str(render(&back.u.patches.recs[1]), "skip=no_identifier",
		    "round trip of a skip");
		msg_batch_clear(&back);
	}
	buf_clear(&enc);
	msg_batch_clear(&out);

	/* A header without the link column: every row is skipped. */
	users_new(&in, "members", (const char *const[]){ "Profile Id", "Name", NULL });
	users_row(&in, (const char *[]){ "sid", "N", NULL });
	memset(&out, 0, sizeof(out));
	r = mapper_map(m, &in, &out, err, sizeof(err));
	is_int(r, 0, "header without link column maps");
	is_str(out.u.patches.n ? render(&out.u.patches.recs[0]) : "", "skip=no_identifier",
	    "header without link column: no_identifier");
	msg_batch_clear(&out);
	msg_batch_clear(&in);

	/* Link on Profile Id: no duplicate id or op; create flag set. */
	users_new(&in, "bysid", (const char *const[]){ "Profile Id", "Email", NULL });
	users_row(&in, (const char *[]){ " sid9 ", "Z@Y.com", NULL });
	memset(&out, 0, sizeof(out));
	r = mapper_map(m, &in, &out, err, sizeof(err));
	is_int(r, 0, "sid-linked goal maps");
	is_str(render(&out.u.patches.recs[0]),
	    "ids=sailthru_profile_id:sid9,email:z@y.com ops=set "
	    "sailthru_profile_id='sid9'; set email='z@y.com'",
	    "link on Profile Id: ids[0] is the sid, email a second id");
	is_int(out.u.patches.recs[0].create, 1, "create_profiles gives create");
	msg_batch_clear(&out);
	msg_batch_clear(&in);
}

static void
test_errors(void)
{
	struct msg_batch in, out;
	char		 err[256];

	users_new(&in, "nosuch", members_cols);
	memset(&out, 0, sizeof(out));
	is_int(mapper_map(m, &in, &out, err, sizeof(err)), -1, "unknown goal fails");
	ok(strstr(err, "unknown goal") && strstr(err, "nosuch"), "reason names the goal: %s", err);
	is_int(out.u.patches.n, 0, "out left empty");
	in.src.conn = str_c("other");
	is_int(mapper_map(m, &in, &out, err, sizeof(err)), -1, "unknown connection fails");
	ok(strstr(err, "unknown connection") != NULL, "reason: %s", err);
	in.src.conn = str_c("acme");
	in.src.goal = str_c("members");
	in.kind = MSG_END;
	is_int(mapper_map(m, &in, &out, err, sizeof(err)), -1, "not a USERS batch fails");
	msg_batch_clear(&in);
	msg_batch_clear(&out);
}

static const char *
map_json(const char *text)
{
	static struct msg_batch out;
	struct msg_batch in;
	char		 err[256];

	msg_batch_clear(&out);
	memset(&out, 0, sizeof(out));
	users_new(&in, "file", (const char *const[]){ "json", NULL });
	in.src.list = str_c("people.jsonl");
	users_row(&in, (const char *[]){ text, NULL });
	if (mapper_map(m, &in, &out, err, sizeof(err)) == -1) {
		snprintf(line, sizeof(line), "error: %s", err);
		msg_batch_clear(&in);
		return line;
	}
	msg_batch_clear(&in);
	return render(&out.u.patches.recs[0]);
}

static void
test_json(void)
{
	is_str(map_json("{\"email\": \" Ann@Example.com\", \"name\": \"Ann\", "
	    "\"tags\": [\"a\", \"b\"], \"scores\": [1, \"2\", 3.0], \"opens\": 4, "
	    "\"revenue\": 2, \"vip\": true, \"last_open\": \"2021-07-13T15:22:00Z\", "
	    "\"extid\": 77, \"Profile Id\": \"sidA\", \"other\": {\"x\": 1}}"),
	    "ids=email:ann@example.com,sailthru_profile_id:sidA,extid:77 ops=set "
	    "sailthru_profile_id='sidA'; set email='ann@example.com'; set name='Ann'; "
	    "add tags='a'|'b'; set scores=1|2|3; sum opens=4; set revenue=2; "
	    "set vip=true; set last_open=@1626189720000; set extid='77'",
	    "JSON keys as columns, arrays and typed JSON values");
	is_str(map_json("{\"email\": \"x@y.z\", \"segments\": [\"s1\", \"s2\"], "
	    "\"consents\": [\"news\"], \"refused\": [\"ads\"], \"permission\": "
	    "\"full\", \"interactions\": [\"i1\"], \"lifecycles\": "
	    "{\"onboarding\": \"active\"}}"),
	    "ids=email:x@y.z ops=set email='x@y.z'; set $segments='s1'|'s2'; "
	    "set $consents='news'; set $refused='ads'; set $permission='full'; "
	    "set $interactions='i1'; set $lifecycle.onboarding='active'",
	    "special keys set the built-in properties");
	is_str(map_json("{\"email\": [\"first@x.org\", \"second@x.org\"], "
	    "\"name\": [\"N1\", \"N2\"], \"opens\": \"many\", \"vip\": \"perhaps\", "
	    "\"scores\": [1, \"x\", 2.5], \"revenue\": null, \"tags\": []}"),
	    "ids=email:first@x.org ops=set email='first@x.org'; set name='N1'; "
	    "set scores=1 notes=invalid_number:scores,invalid_number:scores,"
	    "sum_not_a_number:opens,invalid_boolean:vip",
	    "single-valued take the first; bad values and elements become notes");
	is_str(map_json("{\"email\": \"x@y.z\", \"name\": {\"first\": \"A\"}, "
	    "\"vip\": 1, \"last_open\": 1626189720}"),
	    "ids=email:x@y.z ops=set email='x@y.z'; set vip=true; "
	    "set last_open=@1626189720000 notes=invalid_text:name",
	    "objects do not convert; 1 is true; numbers are UNIX seconds for dates");
	is_str(map_json("{\"email\": \"x@y.z\""), "skip=invalid_json", "invalid JSON skipped");
	is_str(map_json(""), "skip=invalid_json", "empty line skipped");
	is_str(map_json("[1, 2]"), "skip=not_an_object", "an array is not an object");
	is_str(map_json("\"text\""), "skip=not_an_object", "a string is not an object");
	is_str(map_json("{\"name\": \"no email\"}"), "skip=no_identifier",
	    "JSON row without the link key skipped");
	is_str(map_json("{\"email\": true}"), "skip=no_identifier",
	    "a boolean is no identifier");
}

static void
test_parse(void)
{
	int64_t	 i = 0;
	double	 d = 0;
	int	 b = -1;

	ok(map_parse_int("9223372036854775807", 19, &i) == 0 && i == INT64_MAX, "int max");
	ok(map_parse_int("-9223372036854775808", 20, &i) == 0 && i == INT64_MIN, "int min");
	ok(map_parse_int("9223372036854775808", 19, &i) == -1, "int overflow rejected");
	ok(map_parse_int("+7", 2, &i) == 0 && i == 7, "plus sign");
	ok(map_parse_int("7.", 2, &i) == -1, "bare point rejected");
	ok(map_parse_int("-", 1, &i) == -1, "sign alone rejected");
	ok(map_parse_int("0x10", 4, &i) == -1, "hex rejected");
	ok(map_parse_decimal("0.1", 3, &d) == 0 && d == 0.1, "0.1 exact");
	ok(map_parse_decimal("-2.5e-3", 7, &d) == 0 && d == -0.0025, "exponent");
	ok(map_parse_decimal(".5", 2, &d) == 0 && d == 0.5, "leading point");
	ok(map_parse_decimal("123456789012345678901234", 24, &d) == 0 &&
	    d == 123456789012345678901234.0, "long mantissa via slow path");
	ok(map_parse_decimal("1e400", 5, &d) == -1, "overflow rejected");
	ok(map_parse_decimal("nan", 3, &d) == -1, "nan rejected");
	ok(map_parse_decimal("1,5", 3, &d) == -1, "comma rejected");
	ok(map_parse_decimal("1e", 2, &d) == -1, "empty exponent rejected");
	ok(map_parse_bool("TRUE", 4, &b) == 0 && b == 1, "TRUE");
	ok(map_parse_bool(" No ", 4, &b) == 0 && b == 0, "No");
	ok(map_parse_bool("T", 1, &b) == 0 && b == 1, "T");
	ok(map_parse_bool("2", 1, &b) == -1, "2 is not a boolean");
	ok(map_parse_bool("tru", 3, &b) == -1, "prefix is not a boolean");
}

/* A bad column in every row of three batches: two log lines, not 3000. */
static void
test_log_volume(void)
{
	static const char *const cols[] = { "Email", "Opens", NULL };
	char		 path[] = "/tmp/t_mapper_log.XXXXXX", text[4096], email[32];
	int		 fd, saved, lines = 0;
	FILE		*f;

	if ((fd = mkstemp(path)) == -1 || (saved = dup(2)) == -1) {
		ok(0, "log capture");
		return;
	}
	fflush(stderr);
	dup2(fd, 2);
	log_init("t_mapper", LOG_WARN);
	for (int k = 0; k < 3; k++) {
		struct msg_batch in, out;
		char		 err[256];

		users_new(&in, "members", cols);
		in.run = 8;
		in.u.users.rows = arena_alloc(&in.arena, 1000 * sizeof(struct msg_row));
		for (int r = 0; r < 1000; r++) {
			snprintf(email, sizeof(email), "u%d@x.org", r);
			users_row(&in, (const char *[]){
			    arena_strndup(&in.arena, email, strlen(email)), "many", NULL });
		}
		memset(&out, 0, sizeof(out));
		mapper_map(m, &in, &out, err, sizeof(err));
		msg_batch_clear(&out);
		msg_batch_clear(&in);
	}
	mapper_flush_log(m, 8);
	mapper_flush_log(m, 8);		/* nothing new: no line */
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	log_init("t_mapper", LOG_ERR);
	text[0] = '\0';
	if ((f = fdopen(fd, "r")) != NULL) {
		char	 l[512];

		rewind(f);
		while (fgets(l, sizeof(l), f) != NULL) {
			lines++;
			if (strlen(text) + strlen(l) < sizeof(text))
				strcat(text, l);
		}
		fclose(f);
	}
	unlink(path);
	is_int(lines, 2, "3000 bad values: two log lines");
	ok(strstr(text, "field problem run=8 conn=acme goal=members column=Opens "
	    "reason=sum_not_a_number first_line=2 count=1000 total=1000") != NULL,
	    "first sighting logged with its line and the batch count");
	ok(strstr(text, "field problems run=8 conn=acme goal=members column=Opens "
	    "reason=sum_not_a_number first_line=2 count=2000 total=3000") != NULL,
	    "the rest summed when the run's END passes");
	if (lines != 2)
		printf("# log:\n%s", text);
}

/* rows/s of mapper_map on a 1000-row, 20-column batch; printed, not asserted. */
static void
bench(void)
{
	static const char *cols[21] = {
		"Profile Id", "Email", "Name", "Nick", "Opens", "Count", "Revenue",
		"Last Open", "VIP", "Tag", "Ext", "C11", "C12", "C13", "C14", "C15",
		"C16", "C17", "C18", "C19", NULL,
	};
	struct msg_batch in, out;
	struct timespec	 t0, t1;
	char		 err[256], email[64];
	int		 iters = 100;
	double		 s;

	users_new(&in, "members", cols);
	in.u.users.rows = arena_alloc(&in.arena, 1000 * sizeof(struct msg_row));
	for (int r = 0; r < 1000; r++) {
		snprintf(email, sizeof(email), "User%d@Example.com", r);
		users_row(&in, (const char *[]){ "5f1a2b3c4d5e6f7a8b9c0d1e",
		    arena_strndup(&in.arena, email, strlen(email)), "Some Name",
		    "nick", "12", "7", "3.25", "2021-03-31 22:15:07", "yes", "tag",
		    "X-1", "a", "b", "c", "d", "e", "f", "g", "h", "i", NULL });
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < iters; k++) {
		memset(&out, 0, sizeof(out));
		if (mapper_map(m, &in, &out, err, sizeof(err)) == -1)
			break;
		msg_batch_clear(&out);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# mapper_map: 1000 rows x 20 columns: %.0f rows/s\n", iters * 1000 / s);
	msg_batch_clear(&in);
}

int
main(void)
{
	char	 dir[] = "/tmp/t_mapper.XXXXXX", path[256], err[512];
	FILE	*f;

	log_init("t_mapper", LOG_ERR);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/sailsync.json", dir);
	if ((f = fopen(path, "w")) == NULL)
		return 1;
	fputs(conf_json, f);
	fclose(f);
	if (!ok(conf_load(path, &conf, err, sizeof(err)) == 0, "config loads")) {
		printf("# %s\n", err);
		return done_testing();
	}
	m = mapper_new(&conf);

	test_csv_rules();
	test_csv_notes();
	test_csv_skips();
	test_batch();
	test_errors();
	test_json();
	test_parse();
	test_log_volume();
	bench();

	mapper_destroy(&m);
	ok(m == NULL, "destroy nulls the pointer");
	conf_clear(&conf);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
