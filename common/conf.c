/* common/conf.c: owns loading and validating the JSON configuration file. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "chan.h"
#include "conf.h"
#include "digest.h"
#include "log.h"
#include "msg.h"
#include "timefmt.h"

#define CONF_FILE_MAX	(16u << 20)	/* a config file larger than this is a mistake */
#define CONF_DEPTH	16		/* deepest JSON path the schema has, with room */
#define CONF_NAME_MAX	64		/* connection and goal names */
#define CONF_PROP_MAX	128		/* property names */
#define CONF_ARRAY_MAX	10000		/* any one array */
#define SECRET_MAX	4096
#define IPC_PATH_MAX	107		/* sizeof(sun_path) - 1 */
#define LANES_MAX	64

/*
 * The loader walks the parsed document keeping the JSON path of the value
 * it is looking at.  jansson keeps no positions for values, so an error
 * re-scans the original text along that path (loc_find) to report the
 * line and column an editor shows.
 */
struct seg {
	const char	*key;		/* NULL: an array index */
	size_t		 idx;
};

struct cctx {
	const char	*file;		/* as the caller named it */
	const char	*text;
	size_t		 len;
	char		*dir;		/* absolute directory of the file */
	struct seg	 path[CONF_DEPTH];
	int		 depth;
	char		*err;
	size_t		 errlen;
};

enum conf_at { AT_VALUE, AT_KEY };

static void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n ? n : 1, size)) == NULL)
		fatal_oom("conf");
	return p;
}

static void
push_key(struct cctx *cx, const char *key)
{
	if (cx->depth == CONF_DEPTH)
		panic("conf: path deeper than %d", CONF_DEPTH);
	cx->path[cx->depth].key = key;
	cx->path[cx->depth].idx = 0;
	cx->depth++;
}

static void
push_idx(struct cctx *cx, size_t idx)
{
	if (cx->depth == CONF_DEPTH)
		panic("conf: path deeper than %d", CONF_DEPTH);
	cx->path[cx->depth].key = NULL;
	cx->path[cx->depth].idx = idx;
	cx->depth++;
}

static void
pop(struct cctx *cx)
{
	if (cx->depth == 0)
		panic("conf: path underflow");
	cx->depth--;
}

/* The locator: a lenient scanner over text jansson has already accepted. */

struct jscan {
	const char	*p;
	const char	*end;
};

static void
js_ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' ||
	    *s->p == '\r'))
		s->p++;
}

static int
js_hex4(const char *p, unsigned *out)
{
	unsigned	 v = 0;

	for (int i = 0; i < 4; i++) {
		char	 c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/*
 * Scans a string at s->p, decoding it into out (outlen bytes, may be 0).
 * Returns the decoded length (which may exceed outlen: then out holds a
 * prefix), or -1 on malformed text.
 */
static long
js_string(struct jscan *s, char *out, size_t outlen)
{
	size_t		 n = 0;
	unsigned	 cp, lo;
	char		 u[4];
	int		 ul;

	if (s->p >= s->end || *s->p != '"')
		return -1;
	s->p++;
	while (s->p < s->end && *s->p != '"') {
		if (*s->p != '\\') {
			if (n < outlen)
				out[n] = *s->p;
			n++;
			s->p++;
			continue;
		}
		if (s->end - s->p < 2)
			return -1;
		s->p++;
		switch (*s->p) {
		case 'b': u[0] = '\b'; ul = 1; break;
		case 'f': u[0] = '\f'; ul = 1; break;
		case 'n': u[0] = '\n'; ul = 1; break;
		case 'r': u[0] = '\r'; ul = 1; break;
		case 't': u[0] = '\t'; ul = 1; break;
		case 'u':
			if (s->end - s->p < 5 || js_hex4(s->p + 1, &cp) == -1)
				return -1;
			s->p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && s->end - s->p >= 7 &&
			    s->p[1] == '\\' && s->p[2] == 'u' &&
			    js_hex4(s->p + 3, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				s->p += 6;
			}
			if (cp < 0x80) {
				u[0] = (char)cp;
				ul = 1;
			} else if (cp < 0x800) {
				u[0] = (char)(0xc0 | (cp >> 6));
				u[1] = (char)(0x80 | (cp & 0x3f));
				ul = 2;
			} else if (cp < 0x10000) {
				u[0] = (char)(0xe0 | (cp >> 12));
				u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[2] = (char)(0x80 | (cp & 0x3f));
				ul = 3;
			} else {
				u[0] = (char)(0xf0 | (cp >> 18));
				u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
				u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[3] = (char)(0x80 | (cp & 0x3f));
				ul = 4;
			}
			break;
		default:	/* \" \\ \/ */
			u[0] = *s->p;
			ul = 1;
			break;
		}
		s->p++;
		for (int i = 0; i < ul; i++, n++)
			if (n < outlen)
				out[n] = u[i];
	}
	if (s->p >= s->end)
		return -1;
	s->p++;
	return n > LONG_MAX ? -1 : (long)n;
}

static int
js_skip(struct jscan *s, int depth)
{
	char	 close;

	js_ws(s);
	if (s->p >= s->end || depth > 64)
		return -1;
	if (*s->p == '"')
		return js_string(s, NULL, 0) < 0 ? -1 : 0;
	if (*s->p != '{' && *s->p != '[') {
		/* number, true, false, null */
		while (s->p < s->end && *s->p != ',' && *s->p != '}' && *s->p != ']' &&
		    *s->p != ' ' && *s->p != '\t' && *s->p != '\n' && *s->p != '\r')
			s->p++;
		return 0;
	}
	close = *s->p == '{' ? '}' : ']';
	s->p++;
	js_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return 0;
	}
	for (;;) {
		if (close == '}') {
			js_ws(s);
			if (js_string(s, NULL, 0) < 0)
				return -1;
			js_ws(s);
			if (s->p >= s->end || *s->p++ != ':')
				return -1;
		}
		if (js_skip(s, depth + 1) == -1)
			return -1;
		js_ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == close) {
			s->p++;
			return 0;
		}
		if (*s->p++ != ',')
			return -1;
	}
}

/*
 * Returns the offset in cx->text of the value at cx->path (or of its key,
 * for AT_KEY).  When the path cannot be followed to the end, the deepest
 * value reached is the answer.
 */
static size_t
loc_find(const struct cctx *cx, enum conf_at at)
{
	struct jscan	 s = { cx->text, cx->text + cx->len };
	const char	*best;
	char		 key[512];
	long		 kl;
	int		 i;

	js_ws(&s);
	best = s.p;
	for (i = 0; i < cx->depth; i++) {
		const struct seg *g = &cx->path[i];
		const char	*kpos = NULL;

		js_ws(&s);
		if (s.p >= s.end)
			break;
		if (g->key != NULL) {
			if (*s.p != '{')
				break;
			s.p++;
			for (;;) {
				js_ws(&s);
				kpos = s.p;
				if ((kl = js_string(&s, key, sizeof(key))) < 0)
					goto out;
				js_ws(&s);
				if (s.p >= s.end || *s.p++ != ':')
					goto out;
				if ((size_t)kl == strlen(g->key) && (size_t)kl <= sizeof(key) &&
				    memcmp(key, g->key, (size_t)kl) == 0)
					break;
				if (js_skip(&s, 0) == -1)
					goto out;
				js_ws(&s);
				if (s.p >= s.end || *s.p++ != ',')
					goto out;
			}
		} else {
			if (*s.p != '[')
				break;
			s.p++;
			for (size_t k = 0; k < g->idx; k++) {
				if (js_skip(&s, 0) == -1)
					goto out;
				js_ws(&s);
				if (s.p >= s.end || *s.p++ != ',')
					goto out;
			}
		}
		js_ws(&s);
		best = (at == AT_KEY && i == cx->depth - 1 && kpos != NULL) ? kpos : s.p;
	}
out:
	return (size_t)(best - cx->text);
}

/* Line and column (1-based, counted in UTF-8 characters) of offset. */
static void
loc_linecol(const struct cctx *cx, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < cx->len; i++) {
		unsigned char	 c = (unsigned char)cx->text[i];

		if (c == '\n') {
			(*line)++;
			*col = 1;
		} else if ((c & 0xc0) != 0x80)
			(*col)++;
	}
}

static int
path_is_ident(const char *k)
{
	if (*k == '\0')
		return 0;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		    (*k >= '0' && *k <= '9') || *k == '_' || *k == '$' || *k == '-'))
			return 0;
	return 1;
}

/* Quotes s for a message: "..." with escapes, cut at 64 bytes. */
static const char *
quote(const char *s, char *out, size_t outlen)
{
	size_t	 n = 0, i;

	if (outlen < 8)
		panic("conf: quote buffer too small");
	out[n++] = '"';
	for (i = 0; s[i] != '\0' && n + 6 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 64) {
			out[n++] = '.';
			out[n++] = '.';
			out[n++] = '.';
			break;
		}
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", c);
		} else
			out[n++] = (char)c;
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}

static void
path_render(const struct cctx *cx, int depth, char *out, size_t outlen)
{
	size_t	 n = 0;
	char	 q[96];

	out[0] = '\0';
	if (depth == 0) {
		snprintf(out, outlen, "(top level)");
		return;
	}
	for (int i = 0; i < depth && n < outlen; i++) {
		const struct seg *g = &cx->path[i];
		int	 w;

		if (g->key == NULL)
			w = snprintf(out + n, outlen - n, "[%zu]", g->idx);
		else if (path_is_ident(g->key))
			w = snprintf(out + n, outlen - n, "%s%s", i ? "." : "", g->key);
		else
			w = snprintf(out + n, outlen - n, "[%s]",
			    quote(g->key, q, sizeof(q)));
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* Writes "FILE:LINE:COL: PATH: message" to cx->err.  Returns -1. */
static int
fail(struct cctx *cx, enum conf_at at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
fail(struct cctx *cx, enum conf_at at, const char *fmt, ...)
{
	char	 msg[512], path[512];
	va_list	 ap;
	int	 line, col;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	path_render(cx, cx->depth, path, sizeof(path));
	loc_linecol(cx, loc_find(cx, at), &line, &col);
	snprintf(cx->err, cx->errlen, "%s:%d:%d: %s: %s", cx->file, line, col,
	    path, msg);
	return -1;
}

/* Fails at the key key of the current object (pushes and pops it). */
static int
fail_key(struct cctx *cx, const char *key, enum conf_at at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int
fail_key(struct cctx *cx, const char *key, enum conf_at at, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	push_key(cx, key);
	fail(cx, at, "%s", msg);
	pop(cx);
	return -1;
}

/* Typed accessors.  Each returns 1 when the key is present, 0 when absent, -1 on error. */

static int
need_object(struct cctx *cx, json_t *v)
{
	if (!json_is_object(v))
		return fail(cx, AT_VALUE, "must be an object");
	return 0;
}

/* Rejects keys of o not in allowed (a NULL-terminated list). */
static int
check_keys(struct cctx *cx, json_t *o, const char *const *allowed)
{
	const char	*k;
	json_t		*v;
	char		 expect[512];
	size_t		 i, n;

	json_object_foreach(o, k, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (allowed[i] != NULL)
			continue;
		for (i = 0, n = 0; allowed[i] != NULL && n < sizeof(expect); i++)
			n += (size_t)snprintf(expect + n, sizeof(expect) - n, "%s%s",
			    i ? ", " : "", allowed[i]);
		return fail_key(cx, k, AT_KEY, "unknown key (expected %s)", expect);
	}
	return 0;
}

static int
missing(struct cctx *cx, const char *key)
{
	return fail(cx, AT_VALUE, "missing required key \"%s\"", key);
}

/* A non-empty string; null counts as absent unless required. */
static int
get_str(struct cctx *cx, json_t *o, const char *key, int required, const char **out)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || (json_is_null(v) && !required)) {
		if (required)
			return missing(cx, key);
		return 0;
	}
	if (!json_is_string(v))
		return fail_key(cx, key, AT_VALUE, "must be a string");
	if (json_string_length(v) == 0)
		return fail_key(cx, key, AT_VALUE, "must not be empty");
	*out = json_string_value(v);
	return 1;
}

static int
get_uint(struct cctx *cx, json_t *o, const char *key, uint64_t min, uint64_t max,
    uint64_t *out)
{
	json_t		*v = json_object_get(o, key);
	json_int_t	 i;

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return fail_key(cx, key, AT_VALUE, "must be an integer");
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return fail_key(cx, key, AT_VALUE, "must be between %llu and %llu",
		    (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)i;
	return 1;
}

static int
get_bool(struct cctx *cx, json_t *o, const char *key, int *out)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return fail_key(cx, key, AT_VALUE, "must be true or false");
	*out = json_is_true(v);
	return 1;
}

/* An array of distinct non-empty strings, copied into *out. */
static int
get_strv(struct cctx *cx, json_t *o, const char *key, char ***out, size_t *nout)
{
	json_t	*v = json_object_get(o, key), *e;
	size_t	 i, j;
	char	 q[96];

	if (v == NULL || json_is_null(v))
		return 0;
	push_key(cx, key);
	if (!json_is_array(v)) {
		fail(cx, AT_VALUE, "must be an array of strings");
		pop(cx);
		return -1;
	}
	if (json_array_size(v) > CONF_ARRAY_MAX) {
		fail(cx, AT_VALUE, "has more than %d entries", CONF_ARRAY_MAX);
		pop(cx);
		return -1;
	}
	*out = xcalloc(json_array_size(v), sizeof(char *));
	*nout = json_array_size(v);
	json_array_foreach(v, i, e) {
		push_idx(cx, i);
		if (!json_is_string(e) || json_string_length(e) == 0) {
			fail(cx, AT_VALUE, "must be a non-empty string");
			goto bad;
		}
		for (j = 0; j < i; j++)
			if (strcmp((*out)[j], json_string_value(e)) == 0) {
				fail(cx, AT_VALUE, "duplicate %s",
				    quote(json_string_value(e), q, sizeof(q)));
				goto bad;
			}
		(*out)[i] = xstrdup(json_string_value(e));
		pop(cx);
	}
	pop(cx);
	return 1;
bad:
	pop(cx);
	pop(cx);
	return -1;
}

/* Paths. */

/* A relative path is taken from the config file's directory. */
static char *
resolve(const struct cctx *cx, const char *p)
{
	char	*out;
	size_t	 n;

	if (p[0] == '/')
		return xstrdup(p);
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	n = strlen(cx->dir) + 1 + strlen(p) + 1;
	out = xcalloc(1, n);
	snprintf(out, n, "%s/%s", cx->dir, p);
	return out;
}

/* ipc://PATH, tcp://HOST:PORT or file:PATH; relative paths resolved. */
static int
resolve_chan(struct cctx *cx, const char *uri, char **out)
{
	char	*p, q[96];
	size_t	 n;

	if (strncmp(uri, "ipc://", 6) == 0 && uri[6] != '\0') {
		p = resolve(cx, uri + 6);
		if (strlen(p) > IPC_PATH_MAX) {
			free(p);
			return fail(cx, AT_VALUE, "%s: the socket path is longer than "
			    "%d bytes once resolved; use a shorter or absolute path",
			    quote(uri, q, sizeof(q)), IPC_PATH_MAX);
		}
		n = strlen(p) + 7;
		*out = xcalloc(1, n);
		snprintf(*out, n, "ipc://%s", p);
		free(p);
		return 0;
	}
	if (strncmp(uri, "tcp://", 6) == 0 && strchr(uri + 6, ':') != NULL) {
		*out = xstrdup(uri);
		return 0;
	}
	if (strncmp(uri, "file:", 5) == 0 && uri[5] != '\0') {
		p = resolve(cx, uri + 5);
		n = strlen(p) + 6;
		*out = xcalloc(1, n);
		snprintf(*out, n, "file:%s", p);
		free(p);
		return 0;
	}
	return fail(cx, AT_VALUE, "unsupported channel %s (expected ipc://PATH, "
	    "tcp://HOST:PORT or file:PATH)", quote(uri, q, sizeof(q)));
}

static int
get_chan(struct cctx *cx, json_t *o, const char *key, const char *def, char **out)
{
	const char	*s = def;
	int		 r;

	if ((r = get_str(cx, o, key, 0, &s)) == -1)
		return -1;
	push_key(cx, key);
	r = resolve_chan(cx, s, out);
	pop(cx);
	return r;
}

/* Names of connections and goals end up in file names and log lines. */
static int
name_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > CONF_NAME_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

static int
get_name(struct cctx *cx, json_t *o, const char **out)
{
	char	 q[96];

	if (get_str(cx, o, "name", 1, out) == -1)
		return -1;
	if (!name_ok(*out))
		return fail_key(cx, "name", AT_VALUE, "%s is not a valid name "
		    "(letters, digits, '_', '-', '.'; at most %d)",
		    quote(*out, q, sizeof(q)), CONF_NAME_MAX);
	return 0;
}

/* Store. */

static int
prop_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int	 r = memcmp(a, b, alen < blen ? alen : blen);

	if (r != 0)
		return r;
	return alen < blen ? -1 : alen > blen;
}

static int
prop_qsort_cmp(const void *a, const void *b)
{
	const struct conf_prop *pa = a, *pb = b;

	return prop_cmp(pa->name, strlen(pa->name), pb->name, strlen(pb->name));
}

static const struct {
	const char	*name;
	enum val_type	 type;
	int		 multi, unique;
} builtins[] = {
	{ "sailthru_profile_id", VAL_TEXT, 0, 1 },
	{ "$segments", VAL_TEXT, 1, 0 },
	{ "$consents", VAL_TEXT, 1, 0 },
	{ "$refused", VAL_TEXT, 1, 0 },
	{ "$interactions", VAL_TEXT, 1, 0 },
	{ "$permission", VAL_TEXT, 0, 0 },
};
#define NBUILTINS (sizeof(builtins) / sizeof(builtins[0]))

static int
load_prop(struct cctx *cx, const char *name, json_t *spec, struct conf_prop *p)
{
	static const char *const keys[] = { "type", "multi", "unique", NULL };
	const char	*t;
	char		 q[96];

	if (name[0] == '\0' || strlen(name) > CONF_PROP_MAX)
		return fail(cx, AT_KEY, "property names must have 1 to %d bytes",
		    CONF_PROP_MAX);
	for (const char *s = name; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return fail(cx, AT_KEY, "property names cannot contain "
			    "control characters");
	if (name[0] == '$')
		return fail(cx, AT_KEY, "names starting with '$' are reserved for "
		    "built-in properties");
	if (need_object(cx, spec) == -1 || check_keys(cx, spec, keys) == -1 ||
	    get_str(cx, spec, "type", 1, &t) == -1 ||
	    get_bool(cx, spec, "multi", &p->multi) == -1 ||
	    get_bool(cx, spec, "unique", &p->unique) == -1)
		return -1;
	if (val_type_parse(t, &p->type) == -1)
		return fail_key(cx, "type", AT_VALUE, "unknown type %s (expected text, "
		    "number, decimal, datetime, boolean)", quote(t, q, sizeof(q)));
	if (p->unique && (p->multi || (p->type != VAL_TEXT && p->type != VAL_NUMBER)))
		return fail_key(cx, "unique", AT_VALUE, "only a single-valued text or "
		    "number property can be a unique identifier");
	if (strcmp(name, "sailthru_profile_id") == 0 &&
	    (p->type != VAL_TEXT || p->multi || !p->unique))
		return fail(cx, AT_KEY, "sailthru_profile_id holds the Sailthru ID: it "
		    "must be {\"type\": \"text\", \"unique\": true}");
	p->name = xstrdup(name);
	return 0;
}

static int
load_props(struct cctx *cx, json_t *st, struct conf_store *s)
{
	json_t		*props = json_object_get(st, "properties"), *spec;
	const char	*name;
	size_t		 i, cap;
	int		 rc = 0;

	if (props != NULL) {
		push_key(cx, "properties");
		if (need_object(cx, props) == -1) {
			pop(cx);
			return -1;
		}
		pop(cx);
	}
	cap = (props ? json_object_size(props) : 0) + NBUILTINS;
	s->props = xcalloc(cap, sizeof(*s->props));
	if (props != NULL) {
		push_key(cx, "properties");
		json_object_foreach(props, name, spec) {
			push_key(cx, name);
			rc = load_prop(cx, name, spec, &s->props[s->nprops]);
			pop(cx);
			if (rc == -1)
				break;
			s->nprops++;
		}
		pop(cx);
		if (rc == -1)
			return -1;
	}
	for (i = 0; i < NBUILTINS; i++) {
		size_t	 j;

		for (j = 0; j < s->nprops; j++)
			if (strcmp(s->props[j].name, builtins[i].name) == 0)
				break;
		if (j < s->nprops)
			continue;
		s->props[s->nprops].name = xstrdup(builtins[i].name);
		s->props[s->nprops].type = builtins[i].type;
		s->props[s->nprops].multi = builtins[i].multi;
		s->props[s->nprops].unique = builtins[i].unique;
		s->nprops++;
	}
	/* Sorted by name: conf_prop_find runs once per field of every record. */
	qsort(s->props, s->nprops, sizeof(*s->props), prop_qsort_cmp);
	return 0;
}

static const struct conf_prop *
prop_get(const struct conf_store *s, const char *name)
{
	return conf_prop_find(s, name, strlen(name));
}

static int	 load_segments(struct cctx *, json_t *, struct conf_store *);

static int
load_store(struct cctx *cx, json_t *st, struct conf_store *s)
{
	static const char *const keys[] = { "path", "map_size_mb", "commit_rows",
	    "commit_ms", "txn_mb", "index_stage", "filter_mb", "durable", "properties", "merge",
	    "segments", NULL };
	const char	*path = "var/store";
	uint64_t	 mb = 1024, rows = 100000, ms = 300, txn = CONF_TXN_MB;
	uint64_t	 stage = CONF_INDEX_STAGE, fmb = CONF_FILTER_MB;
	const struct conf_prop *p;
	char		 q[96];
	int		 r;

	s->durable = 1;
	if (st != NULL) {
		if (need_object(cx, st) == -1 || check_keys(cx, st, keys) == -1 ||
		    get_str(cx, st, "path", 0, &path) == -1 ||
		    get_uint(cx, st, "map_size_mb", 1, 1ull << 24, &mb) == -1 ||
		    get_uint(cx, st, "commit_rows", 1, 10000000, &rows) == -1 ||
		    get_uint(cx, st, "commit_ms", 1, 600000, &ms) == -1 ||
		    get_uint(cx, st, "txn_mb", 16, 512, &txn) == -1 ||
		    get_uint(cx, st, "index_stage", 1, 100000000, &stage) == -1 ||
		    get_uint(cx, st, "filter_mb", 1, 4096, &fmb) == -1 ||
		    get_bool(cx, st, "durable", &s->durable) == -1)
			return -1;
	}
	s->path = resolve(cx, path);
	s->map_size = mb << 20;
	s->commit_rows = (uint32_t)rows;
	s->commit_ms = (uint32_t)ms;
	s->txn_mb = (uint32_t)txn;
	s->index_stage = (uint32_t)stage;
	s->filter_mb = (uint32_t)fmb;
	if (load_props(cx, st, s) == -1)
		return -1;
	if (st != NULL && load_segments(cx, json_object_get(st, "segments"), s) == -1)
		return -1;
	if (st == NULL || (r = get_strv(cx, st, "merge", &s->merge, &s->nmerge)) == 0)
		return 0;
	if (r == -1)
		return -1;
	push_key(cx, "merge");
	for (size_t i = 0; i < s->nmerge; i++) {
		push_idx(cx, i);
		if ((p = prop_get(s, s->merge[i])) == NULL)
			return fail(cx, AT_VALUE, "unknown property %s",
			    quote(s->merge[i], q, sizeof(q)));
		if (!p->unique)
			return fail(cx, AT_VALUE, "%s is not a unique identifier "
			    "(only unique properties can merge profiles)",
			    quote(s->merge[i], q, sizeof(q)));
		pop(cx);
	}
	pop(cx);
	return 0;
}

/* Pipeline. */

static int	 load_secret_file(struct cctx *, const char *, char **);

/*
 * pipeline.curve: the pipeline's one CURVE keypair.  The secret key comes
 * from a file with the same checks as a connection's secret_file (owner,
 * mode 0600) and must be the public key's.  Keys are checked by chan.c,
 * which owns zmq.
 */
static int
load_curve(struct cctx *cx, json_t *cv, struct conf_pipeline *pp)
{
	static const char *const keys[] = { "public_key", "secret_key_file", NULL };
	const char	*pub, *file;
	char		 why[256];
	int		 r;

	if (cv == NULL || json_is_null(cv))
		return 0;
	push_key(cx, "curve");
	if (need_object(cx, cv) == -1 || check_keys(cx, cv, keys) == -1 ||
	    get_str(cx, cv, "public_key", 1, &pub) == -1 ||
	    get_str(cx, cv, "secret_key_file", 1, &file) == -1)
		return -1;
	if (chan_curve_check(pub, NULL, why, sizeof(why)) == -1)
		return fail_key(cx, "public_key", AT_VALUE, "%s", why);
	push_key(cx, "secret_key_file");
	r = load_secret_file(cx, file, &pp->curve_secret);
	if (r == 0 && chan_curve_check(pub, pp->curve_secret, why, sizeof(why)) == -1)
		r = fail(cx, AT_VALUE, "%s", why);
	if (r == -1)
		return -1;
	pop(cx);
	pp->curve_public = xstrdup(pub);
	pop(cx);
	return 0;
}

/*
 * A plain tcp:// channel (no pipeline.curve) beyond loopback lets anyone
 * who reaches the port inject profiles: refused unless allow_plain_tcp.
 * The channel layer refuses such a bind too (a command-line channel); here
 * it is a configuration error at its place, so no stage starts on it.
 */
static int
plain_tcp_refused(const struct conf_pipeline *pp, const char *uri)
{
	return uri != NULL && pp->curve_public == NULL && !pp->allow_plain_tcp &&
	    strncmp(uri, "tcp://", 6) == 0 && !chan_tcp_loopback(uri);
}

#define PLAIN_TCP_REFUSED "plain tcp:// beyond loopback lets anyone who " \
	"reaches the port inject profiles; set pipeline.curve (or " \
	"pipeline.allow_plain_tcp)"

static int
load_pipeline(struct cctx *cx, json_t *pl, struct conf_pipeline *pp)
{
	static const char *const keys[] = { "users", "acks", "lanes", "batch_rows",
	    "window", "resend_ms", "state_dir", "export_state", "export", "export_results",
	    "curve", "allow_plain_tcp", "history", NULL };
	uint64_t	 rows = 1000, window = 64, resend = 5000, history = 200;
	const char	*state = "var/fetcher", *xstate = "var/exporter", *s;
	json_t		*lanes, *e;
	size_t		 i, j;
	char		 q[96];

	if (pl != NULL && (need_object(cx, pl) == -1 || check_keys(cx, pl, keys) == -1 ||
	    get_uint(cx, pl, "batch_rows", 1, MSG_MAX_RECORDS, &rows) == -1 ||
	    get_uint(cx, pl, "window", 1, 4096, &window) == -1 ||
	    get_uint(cx, pl, "resend_ms", 10, 3600000, &resend) == -1 ||
	    get_uint(cx, pl, "history", 1, 1000000, &history) == -1 ||
	    get_bool(cx, pl, "allow_plain_tcp", &pp->allow_plain_tcp) == -1 ||
	    get_str(cx, pl, "state_dir", 0, &state) == -1 ||
	    get_str(cx, pl, "export_state", 0, &xstate) == -1))
		return -1;
	pp->export_state = resolve(cx, xstate);
	pp->history = (unsigned)history;
	pp->batch_rows = (unsigned)rows;
	pp->window = (unsigned)window;
	pp->resend_ms = (unsigned)resend;
	pp->state_dir = resolve(cx, state);
	if (pl != NULL && load_curve(cx, json_object_get(pl, "curve"), pp) == -1)
		return -1;
	if (get_chan(cx, pl, "users", "ipc://var/run/users", &pp->users) == -1 ||
	    get_chan(cx, pl, "acks", "ipc://var/run/acks", &pp->acks) == -1)
		return -1;
	if (plain_tcp_refused(pp, pp->users))
		return fail_key(cx, "users", AT_VALUE, PLAIN_TCP_REFUSED);
	if (plain_tcp_refused(pp, pp->acks))
		return fail_key(cx, "acks", AT_VALUE, PLAIN_TCP_REFUSED);
	/* The long-lived exporter: both channels, or neither (a child per run). */
	if (pl != NULL && (json_object_get(pl, "export") != NULL) !=
	    (json_object_get(pl, "export_results") != NULL))
		return fail_key(cx, json_object_get(pl, "export") ? "export" :
		    "export_results", AT_KEY, "set both export and export_results, "
		    "or neither");
	if (pl != NULL && json_object_get(pl, "export") != NULL &&
	    (get_str(cx, pl, "export", 1, &s) == -1 ||
	    get_str(cx, pl, "export_results", 1, &s) == -1 ||
	    get_chan(cx, pl, "export", NULL, &pp->export) == -1 ||
	    get_chan(cx, pl, "export_results", NULL, &pp->export_results) == -1))
		return -1;
	if (pp->export != NULL && (strcmp(pp->export, pp->export_results) == 0 ||
	    strcmp(pp->export, pp->users) == 0 || strcmp(pp->export, pp->acks) == 0 ||
	    strcmp(pp->export_results, pp->users) == 0 ||
	    strcmp(pp->export_results, pp->acks) == 0))
		return fail_key(cx, "export", AT_VALUE, "export and export_results must "
		    "differ from each other and from users and acks");
	if (plain_tcp_refused(pp, pp->export))
		return fail_key(cx, "export", AT_VALUE, PLAIN_TCP_REFUSED);
	if (plain_tcp_refused(pp, pp->export_results))
		return fail_key(cx, "export_results", AT_VALUE, PLAIN_TCP_REFUSED);
	lanes = pl ? json_object_get(pl, "lanes") : NULL;
	if (lanes == NULL) {
		pp->lanes = xcalloc(1, sizeof(char *));
		pp->nlanes = 1;
		push_key(cx, "lanes");
		if (resolve_chan(cx, "ipc://var/run/lane-0", &pp->lanes[0]) == -1)
			return -1;
		pop(cx);
		return 0;
	}
	push_key(cx, "lanes");
	if (!json_is_array(lanes) || json_array_size(lanes) < 1 ||
	    json_array_size(lanes) > LANES_MAX) {
		fail(cx, AT_VALUE, "must be an array of 1 to %d channels", LANES_MAX);
		pop(cx);
		return -1;
	}
	pp->lanes = xcalloc(json_array_size(lanes), sizeof(char *));
	pp->nlanes = json_array_size(lanes);
	json_array_foreach(lanes, i, e) {
		push_idx(cx, i);
		if (!json_is_string(e) || json_string_length(e) == 0)
			return fail(cx, AT_VALUE, "must be a non-empty string");
		if (resolve_chan(cx, json_string_value(e), &pp->lanes[i]) == -1)
			return -1;
		if (plain_tcp_refused(pp, pp->lanes[i]))
			return fail(cx, AT_VALUE, PLAIN_TCP_REFUSED);
		for (j = 0; j < i; j++)
			if (strcmp(pp->lanes[j], pp->lanes[i]) == 0)
				return fail(cx, AT_VALUE, "%s is also lanes[%zu]",
				    quote(json_string_value(e), q, sizeof(q)), j);
		if (strcmp(pp->lanes[i], pp->users) == 0 ||
		    strcmp(pp->lanes[i], pp->acks) == 0)
			return fail(cx, AT_VALUE, "%s is also used by users or acks",
			    quote(json_string_value(e), q, sizeof(q)));
		pop(cx);
	}
	pop(cx);
	if (strcmp(pp->users, pp->acks) == 0)
		return fail_key(cx, "acks", AT_VALUE, "must differ from users");
	return 0;
}

/* Connections and goals. */

static int
rule_parse(const char *s)
{
	if (strcmp(s, "set") == 0)
		return RULE_SET;
	if (strcmp(s, "set_if_empty") == 0)
		return RULE_SET_IF_EMPTY;
	if (strcmp(s, "add") == 0)
		return RULE_ADD;
	if (strcmp(s, "sum") == 0)
		return RULE_SUM;
	return -1;
}

/* Looks up the property named at key in o; it must be declared. */
static int
get_prop(struct cctx *cx, const struct conf_store *st, json_t *o, const char *key,
    int required, const struct conf_prop **out)
{
	const char	*name;
	char		 q[96];
	int		 r;

	if ((r = get_str(cx, o, key, required, &name)) <= 0)
		return r;
	if ((*out = prop_get(st, name)) == NULL)
		return fail_key(cx, key, AT_VALUE, "unknown property %s (declare it "
		    "in store.properties)", quote(name, q, sizeof(q)));
	return 1;
}

/* Segments. */

/*
 * Reads the JSON value v as a value of property p's type into out (text
 * copied with malloc).  Datetimes are ISO-8601 or RFC 2822 text, read in
 * UTC when they carry no zone.
 */
static int
cond_val(struct cctx *cx, const struct conf_prop *p, json_t *v, struct val *out)
{
	const char	*s;

	memset(out, 0, sizeof(*out));
	out->type = p->type;
	switch (p->type) {
	case VAL_TEXT:
		if (!json_is_string(v))
			return fail(cx, AT_VALUE, "must be a string (%s is text)", p->name);
		out->u.s.p = xstrdup(json_string_value(v));
		out->u.s.len = (uint32_t)strlen(out->u.s.p);
		return 0;
	case VAL_NUMBER:
		if (!json_is_integer(v))
			return fail(cx, AT_VALUE, "must be an integer (%s is a number)",
			    p->name);
		out->u.i = json_integer_value(v);
		return 0;
	case VAL_DECIMAL:
		if (!json_is_number(v))
			return fail(cx, AT_VALUE, "must be a number (%s is a decimal)",
			    p->name);
		out->u.d = json_number_value(v);
		return 0;
	case VAL_DATETIME:
		if (!json_is_string(v) || (s = json_string_value(v), time_parse(s,
		    strlen(s), NULL, &out->u.i) == -1))
			return fail(cx, AT_VALUE, "must be a date such as "
			    "\"2021-07-13\" or \"2021-07-13T15:22:00Z\" (%s is a datetime)",
			    p->name);
		return 0;
	case VAL_BOOL:
		if (!json_is_boolean(v))
			return fail(cx, AT_VALUE, "must be true or false (%s is a boolean)",
			    p->name);
		out->u.b = json_is_true(v);
		return 0;
	default:
		return fail(cx, AT_VALUE, "property %s has no type", p->name);
	}
}

static void
cond_val_clear(struct val *v)
{
	if (v->type == VAL_TEXT)
		free((char *)(uintptr_t)v->u.s.p);
	memset(v, 0, sizeof(*v));
}

static int
load_cond(struct cctx *cx, const struct conf_store *st, json_t *o, struct conf_cond *cc)
{
	static const char *const keys[] = { "property", "equals", "one_of", "exists",
	    "missing", "min", "max", "within_days", "contains", NULL };
	static const char *const ops[] = { "equals", "one_of", "exists", "missing",
	    "min", "max", "within_days", "contains", NULL };
	const struct conf_prop *p;
	const char	*op = NULL;
	json_t		*v, *e;
	uint64_t	 days;
	size_t		 i;
	char		 q[96];
	int		 b;

	if (need_object(cx, o) == -1 || check_keys(cx, o, keys) == -1 ||
	    get_prop(cx, st, o, "property", 1, &p) == -1)
		return -1;
	cc->property = xstrdup(p->name);
	for (i = 0; ops[i] != NULL; i++) {
		if (json_object_get(o, ops[i]) == NULL)
			continue;
		/* min and max go together; any other pair is a mistake. */
		if (op != NULL && !(strcmp(op, "min") == 0 && strcmp(ops[i], "max") == 0))
			return fail_key(cx, ops[i], AT_KEY, "one test per condition "
			    "(%s is set too)", op);
		if (op == NULL)
			op = ops[i];
	}
	if (op == NULL)
		return fail(cx, AT_VALUE, "missing a test (one of equals, one_of, "
		    "exists, missing, min/max, within_days, contains)");
	if (strcmp(op, "contains") == 0 && !p->multi)
		return fail_key(cx, op, AT_KEY, "\"contains\" needs a multi-valued "
		    "property (%s is single-valued; use equals)", quote(p->name, q,
		    sizeof(q)));
	if ((strcmp(op, "equals") == 0 || strcmp(op, "one_of") == 0 ||
	    strcmp(op, "min") == 0 || strcmp(op, "max") == 0 ||
	    strcmp(op, "within_days") == 0) && p->multi)
		return fail_key(cx, op, AT_KEY, "%s needs a single-valued property "
		    "(%s is multi-valued; use contains)", quote(op, q, sizeof(q)),
		    p->name);
	push_key(cx, op);
	v = json_object_get(o, op);
	if (strcmp(op, "equals") == 0 || strcmp(op, "contains") == 0) {
		cc->op = op[0] == 'e' ? COND_EQUALS : COND_CONTAINS;
		cc->vals = xcalloc(1, sizeof(*cc->vals));
		cc->nvals = 1;
		if (cond_val(cx, p, v, &cc->vals[0]) == -1)
			return -1;
	} else if (strcmp(op, "one_of") == 0) {
		cc->op = COND_ONE_OF;
		if (!json_is_array(v) || json_array_size(v) == 0 ||
		    json_array_size(v) > CONF_ARRAY_MAX)
			return fail(cx, AT_VALUE, "must be an array of 1 to %d values",
			    CONF_ARRAY_MAX);
		cc->vals = xcalloc(json_array_size(v), sizeof(*cc->vals));
		json_array_foreach(v, i, e) {
			push_idx(cx, i);
			if (cond_val(cx, p, e, &cc->vals[i]) == -1)
				return -1;
			cc->nvals++;
			pop(cx);
		}
	} else if (strcmp(op, "exists") == 0 || strcmp(op, "missing") == 0) {
		cc->op = op[0] == 'e' ? COND_EXISTS : COND_MISSING;
		if (!json_is_true(v))
			return fail(cx, AT_VALUE, "must be true");
	} else if (strcmp(op, "within_days") == 0) {
		cc->op = COND_WITHIN_DAYS;
		pop(cx);
		if (p->type != VAL_DATETIME)
			return fail_key(cx, op, AT_KEY, "\"within_days\" needs a datetime "
			    "property (%s is %s)", p->name, val_type_name(p->type));
		if (get_uint(cx, o, op, 1, 36500, &days) == -1)
			return -1;
		cc->days = (int64_t)days;
		push_key(cx, op);
	} else {
		cc->op = COND_RANGE;
		pop(cx);
		if (p->type != VAL_NUMBER && p->type != VAL_DECIMAL &&
		    p->type != VAL_DATETIME)
			return fail_key(cx, op, AT_KEY, "min and max need a number, "
			    "decimal or datetime property (%s is %s)", p->name,
			    val_type_name(p->type));
		for (b = 0; b < 2; b++) {
			const char *k = b ? "max" : "min";

			if ((v = json_object_get(o, k)) == NULL)
				continue;
			push_key(cx, k);
			if (cond_val(cx, p, v, b ? &cc->max : &cc->min) == -1)
				return -1;
			pop(cx);
			*(b ? &cc->has_max : &cc->has_min) = 1;
		}
		push_key(cx, op);
	}
	pop(cx);
	return 0;
}

static int
load_segment(struct cctx *cx, const struct conf_store *st, const char *name, json_t *o,
    struct conf_segment *sg)
{
	static const char *const keys[] = { "all", "any", NULL };
	const char	*which;
	json_t		*conds, *c;
	size_t		 i;
	char		 q[96];

	if (!name_ok(name))
		return fail(cx, AT_KEY, "%s is not a valid segment name (letters, "
		    "digits, '_', '-', '.'; at most %d)", quote(name, q, sizeof(q)),
		    CONF_NAME_MAX);
	sg->name = xstrdup(name);
	if (need_object(cx, o) == -1 || check_keys(cx, o, keys) == -1)
		return -1;
	if (json_object_get(o, "all") != NULL && json_object_get(o, "any") != NULL)
		return fail_key(cx, "any", AT_KEY, "set one of all, any");
	if ((conds = json_object_get(o, "all")) != NULL)
		which = "all";
	else if ((conds = json_object_get(o, "any")) != NULL)
		which = "any";
	else
		return fail(cx, AT_VALUE, "missing \"all\" or \"any\" (a list of "
		    "conditions)");
	sg->any = which[1] == 'n';
	push_key(cx, which);
	if (!json_is_array(conds) || json_array_size(conds) == 0 ||
	    json_array_size(conds) > CONF_ARRAY_MAX)
		return fail(cx, AT_VALUE, "must be an array of 1 to %d conditions",
		    CONF_ARRAY_MAX);
	sg->conds = xcalloc(json_array_size(conds), sizeof(*sg->conds));
	json_array_foreach(conds, i, c) {
		push_idx(cx, i);
		sg->nconds++;
		if (load_cond(cx, st, c, &sg->conds[i]) == -1)
			return -1;
		pop(cx);
	}
	pop(cx);
	return 0;
}

static int
load_segments(struct cctx *cx, json_t *segs, struct conf_store *s)
{
	const char	*name;
	json_t		*o;

	if (segs == NULL || json_is_null(segs))
		return 0;
	push_key(cx, "segments");
	if (need_object(cx, segs) == -1)
		return -1;
	s->segments = xcalloc(json_object_size(segs), sizeof(*s->segments));
	json_object_foreach(segs, name, o) {
		push_key(cx, name);
		s->nsegments++;
		if (load_segment(cx, s, name, o, &s->segments[s->nsegments - 1]) == -1)
			return -1;
		pop(cx);
	}
	pop(cx);
	return 0;
}

static int
load_mapping(struct cctx *cx, const struct conf_store *st, json_t *m,
    struct conf_mapping *cm)
{
	static const char *const keys[] = { "column", "property", "rule", NULL };
	const struct conf_prop *p;
	const char	*col, *rule = "set";
	char		 q[96], q2[96];

	if (need_object(cx, m) == -1 || check_keys(cx, m, keys) == -1 ||
	    get_str(cx, m, "column", 1, &col) == -1 ||
	    get_prop(cx, st, m, "property", 1, &p) == -1 ||
	    get_str(cx, m, "rule", 0, &rule) == -1)
		return -1;
	cm->column = xstrdup(col);
	cm->property = xstrdup(p->name);
	if ((cm->rule = rule_parse(rule)) == -1)
		return fail_key(cx, "rule", AT_VALUE, "unknown rule %s (expected set, "
		    "set_if_empty, add, sum)", quote(rule, q, sizeof(q)));
	if (cm->rule == RULE_SUM &&
	    (p->multi || (p->type != VAL_NUMBER && p->type != VAL_DECIMAL)))
		return fail_key(cx, "rule", AT_VALUE, "rule \"sum\" needs a "
		    "single-valued number or decimal property (%s is %s%s)",
		    quote(p->name, q2, sizeof(q2)), p->multi ? "multi-valued " : "",
		    val_type_name(p->type));
	if (cm->rule == RULE_ADD && !p->multi)
		return fail_key(cx, "rule", AT_VALUE, "rule \"add\" needs a "
		    "multi-valued property (%s is single-valued)",
		    quote(p->name, q2, sizeof(q2)));
	return 0;
}

/* Export goals. */

static const char *const export_sources[] = { NULL, "id", "segments", "lifecycles",
    "property", "interactions", "permission", "text" };

const char *
conf_export_key_name(int key)
{
	switch (key) {
	case KEY_EMAIL: return "email";
	case KEY_SID: return "sid";
	case KEY_EXTID: return "extid";
	default: return NULL;
	}
}

/*
 * Sailthru var names: letters, digits and '_' (what templates can use),
 * at most 64 bytes.
 */
static int
var_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > CONF_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static int
load_export_map(struct cctx *cx, const struct conf_store *st, json_t *m,
    struct conf_export_map *em)
{
	static const char *const keys[] = { "var", "source", "property", "text",
	    "segments", NULL };
	const struct conf_prop *p;
	const char	*var, *src;
	char		 q[96];
	size_t		 i;
	int		 r;

	if (need_object(cx, m) == -1 || check_keys(cx, m, keys) == -1 ||
	    get_str(cx, m, "var", 1, &var) == -1 ||
	    get_str(cx, m, "source", 1, &src) == -1)
		return -1;
	if (!var_ok(var))
		return fail_key(cx, "var", AT_VALUE, "%s is not a Sailthru var name "
		    "(letters, digits, '_'; at most %d)", quote(var, q, sizeof(q)),
		    CONF_NAME_MAX);
	em->var = xstrdup(var);
	for (i = 1; i < sizeof(export_sources) / sizeof(export_sources[0]); i++)
		if (strcmp(src, export_sources[i]) == 0)
			break;
	if (i == sizeof(export_sources) / sizeof(export_sources[0]))
		return fail_key(cx, "source", AT_VALUE, "unknown source %s (expected "
		    "id, segments, lifecycles, property, interactions, permission, "
		    "text)", quote(src, q, sizeof(q)));
	em->source = (int)i;
	/* Each source takes exactly its own argument key. */
	if (em->source != SRC_PROPERTY && json_object_get(m, "property") != NULL)
		return fail_key(cx, "property", AT_KEY, "only for source \"property\"");
	if (em->source != SRC_TEXT && json_object_get(m, "text") != NULL)
		return fail_key(cx, "text", AT_KEY, "only for source \"text\"");
	if (em->source != SRC_SEGMENTS && json_object_get(m, "segments") != NULL)
		return fail_key(cx, "segments", AT_KEY, "only for source \"segments\"");
	switch (em->source) {
	case SRC_PROPERTY:
		if (get_prop(cx, st, m, "property", 1, &p) == -1)
			return -1;
		em->property = xstrdup(p->name);
		break;
	case SRC_TEXT:
		if (json_object_get(m, "text") == NULL)
			return missing(cx, "text");
		if (!json_is_string(json_object_get(m, "text")))
			return fail_key(cx, "text", AT_VALUE, "must be a string");
		em->text = xstrdup(json_string_value(json_object_get(m, "text")));
		break;
	case SRC_SEGMENTS:
		if ((r = get_strv(cx, m, "segments", &em->segments, &em->nsegments)) == -1)
			return -1;
		if (r == 1 && em->nsegments == 0)
			return fail_key(cx, "segments", AT_VALUE, "must name at least one "
			    "segment (leave it out for all)");
		break;
	}
	return 0;
}

static int
load_export_goal(struct cctx *cx, const struct conf_store *st, json_t *g,
    struct conf_goal *cg)
{
	static const char *const keys[] = { "name", "type", "segment", "link",
	    "create_users", "lists", "remove_when_left", "mappings", "stage", "caps",
	    "touchpoint", "removal_guard", "bulk_min", "bulk_lookups", NULL };
	static const char *const link_keys[] = { "property", "key", NULL };
	static const char *const stage_keys[] = { "lifecycle", "stages", NULL };
	static const char *const cap_keys[] = { "week", "month", "quarter", NULL };
	static const char *const touch_keys[] = { "event", "property", NULL };
	const struct conf_prop *p;
	const char	*s;
	json_t		*o, *m;
	uint64_t	 u;
	size_t		 i, j;
	char		 q[96];
	int		 r;

	if (check_keys(cx, g, keys) == -1 || get_name(cx, g, &s) == -1)
		return -1;
	cg->name = xstrdup(s);
	if (get_str(cx, g, "segment", 1, &s) == -1)
		return -1;
	if (!name_ok(s))
		return fail_key(cx, "segment", AT_VALUE, "%s is not a valid segment name",
		    quote(s, q, sizeof(q)));
	cg->segment = xstrdup(s);
	if (get_bool(cx, g, "create_users", &cg->create_users) == -1 ||
	    get_bool(cx, g, "remove_when_left", &cg->remove_when_left) == -1 ||
	    get_strv(cx, g, "lists", &cg->lists, &cg->nlists) == -1)
		return -1;
	if (cg->remove_when_left && cg->nlists == 0)
		return fail_key(cx, "remove_when_left", AT_VALUE, "needs \"lists\" "
		    "to remove users from");

	if ((o = json_object_get(g, "link")) == NULL)
		return missing(cx, "link");
	push_key(cx, "link");
	if (need_object(cx, o) == -1 || check_keys(cx, o, link_keys) == -1 ||
	    get_prop(cx, st, o, "property", 1, &p) == -1 ||
	    get_str(cx, o, "key", 1, &s) == -1)
		return -1;
	if (!p->unique)
		return fail_key(cx, "property", AT_VALUE, "%s is not a unique "
		    "identifier (set \"unique\": true on it to link by it)",
		    quote(p->name, q, sizeof(q)));
	cg->link_property = xstrdup(p->name);
	for (r = KEY_EMAIL; r <= KEY_EXTID; r++)
		if (strcmp(s, conf_export_key_name(r)) == 0)
			cg->link_key = r;
	if (cg->link_key == 0)
		return fail_key(cx, "key", AT_VALUE, "unknown Sailthru key %s (expected "
		    "email, sid, extid)", quote(s, q, sizeof(q)));
	if (cg->create_users && cg->link_key != KEY_EMAIL) {
		pop(cx);
		return fail_key(cx, "create_users", AT_VALUE, "Sailthru creates users "
		    "by email only; link on \"key\": \"email\" to create users");
	}
	pop(cx);

	if ((o = json_object_get(g, "stage")) != NULL && !json_is_null(o)) {
		push_key(cx, "stage");
		if (need_object(cx, o) == -1 || check_keys(cx, o, stage_keys) == -1 ||
		    get_str(cx, o, "lifecycle", 1, &s) == -1)
			return -1;
		if (!name_ok(s))
			return fail_key(cx, "lifecycle", AT_VALUE, "%s is not a valid "
			    "lifecycle name", quote(s, q, sizeof(q)));
		cg->stage_lifecycle = xstrdup(s);
		if ((r = get_strv(cx, o, "stages", &cg->stages, &cg->nstages)) == -1)
			return -1;
		if (r == 0)
			return missing(cx, "stages");
		if (cg->nstages == 0)
			return fail_key(cx, "stages", AT_VALUE, "must name at least one stage");
		pop(cx);
	}
	if ((o = json_object_get(g, "caps")) != NULL && !json_is_null(o)) {
		push_key(cx, "caps");
		if (need_object(cx, o) == -1 || check_keys(cx, o, cap_keys) == -1)
			return -1;
		for (i = 0; cap_keys[i] != NULL; i++) {
			uint32_t *cap = i == 0 ? &cg->cap_week : i == 1 ?
			    &cg->cap_month : &cg->cap_quarter;

			if ((r = get_uint(cx, o, cap_keys[i], 1, 1000000, &u)) == -1)
				return -1;
			if (r == 1)
				*cap = (uint32_t)u;
		}
		if (json_object_size(o) == 0)
			return fail(cx, AT_VALUE, "set at least one of week, month, quarter");
		pop(cx);
	}
	cg->touch = TOUCH_EXPORT;
	if ((o = json_object_get(g, "touchpoint")) != NULL && !json_is_null(o)) {
		push_key(cx, "touchpoint");
		if (need_object(cx, o) == -1 || check_keys(cx, o, touch_keys) == -1 ||
		    get_str(cx, o, "event", 1, &s) == -1)
			return -1;
		if (strcmp(s, "export") == 0)
			cg->touch = TOUCH_EXPORT;
		else if (strcmp(s, "email_opened") == 0)
			cg->touch = TOUCH_OPENED;
		else if (strcmp(s, "email_clicked") == 0)
			cg->touch = TOUCH_CLICKED;
		else
			return fail_key(cx, "event", AT_VALUE, "unknown event %s (expected "
			    "export, email_opened, email_clicked)", quote(s, q, sizeof(q)));
		if ((r = get_prop(cx, st, o, "property", cg->touch != TOUCH_EXPORT,
		    &p)) == -1)
			return -1;
		if (r == 1 && cg->touch == TOUCH_EXPORT)
			return fail_key(cx, "property", AT_KEY, "only for email_opened "
			    "and email_clicked");
		if (r == 1 && (p->type != VAL_DATETIME || p->multi))
			return fail_key(cx, "property", AT_VALUE, "%s must be a "
			    "single-valued datetime property (the time of the last %s, "
			    "e.g. mapped from \"%s\")", quote(p->name, q, sizeof(q)),
			    cg->touch == TOUCH_OPENED ? "open" : "click",
			    cg->touch == TOUCH_OPENED ? "Last Open" : "Last Click");
		if (r == 1)
			cg->touch_property = xstrdup(p->name);
		pop(cx);
	}
	cg->removal_guard = 0.5;
	if ((o = json_object_get(g, "removal_guard")) != NULL) {
		if (!json_is_number(o) || json_number_value(o) < 0 ||
		    json_number_value(o) > 1)
			return fail_key(cx, "removal_guard", AT_VALUE, "must be a share "
			    "between 0 and 1");
		cg->removal_guard = json_number_value(o);
	}
	u = 1000;
	if (get_uint(cx, g, "bulk_min", 1, 100000000, &u) == -1)
		return -1;
	cg->bulk_min = (uint32_t)u;
	u = 1000;
	if (get_uint(cx, g, "bulk_lookups", 0, 100000000, &u) == -1)
		return -1;
	cg->bulk_lookups = (uint32_t)u;

	if ((m = json_object_get(g, "mappings")) == NULL || json_is_null(m))
		return 0;
	push_key(cx, "mappings");
	if (!json_is_array(m) || json_array_size(m) > CONF_ARRAY_MAX)
		return fail(cx, AT_VALUE, "must be an array of at most %d mappings",
		    CONF_ARRAY_MAX);
	cg->emaps = xcalloc(json_array_size(m), sizeof(*cg->emaps));
	json_array_foreach(m, i, o) {
		push_idx(cx, i);
		cg->nemaps++;
		if (load_export_map(cx, st, o, &cg->emaps[i]) == -1)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(cg->emaps[j].var, cg->emaps[i].var) == 0)
				return fail_key(cx, "var", AT_VALUE, "var %s is also "
				    "mappings[%zu]", quote(cg->emaps[i].var, q, sizeof(q)), j);
		pop(cx);
	}
	pop(cx);
	return 0;
}

static int
load_goal(struct cctx *cx, const struct conf_store *st, json_t *g, struct conf_goal *cg)
{
	static const char *const import_keys[] = { "name", "type", "lists",
	    "create_profiles", "list_property", "link", "mappings", NULL };
	static const char *const file_keys[] = { "name", "type", "path", "format",
	    "create_profiles", "link", "mappings", NULL };
	static const char *const link_keys[] = { "column", "property", NULL };
	const struct conf_prop *p;
	const char	*type, *name, *s;
	json_t		*link, *maps, *m;
	size_t		 i, n;
	char		 q[96], q2[96];
	int		 r;

	if (need_object(cx, g) == -1 || get_str(cx, g, "type", 1, &type) == -1)
		return -1;
	if (strcmp(type, "import") == 0)
		cg->kind = GOAL_IMPORT;
	else if (strcmp(type, "file") == 0)
		cg->kind = GOAL_FILE;
	else if (strcmp(type, "export") == 0) {
		cg->kind = GOAL_EXPORT;
		return load_export_goal(cx, st, g, cg);
	} else
		return fail_key(cx, "type", AT_VALUE, "unknown goal type %s (expected "
		    "import, file, export)", quote(type, q, sizeof(q)));
	if (check_keys(cx, g, cg->kind == GOAL_IMPORT ? import_keys : file_keys) == -1 ||
	    get_name(cx, g, &name) == -1 ||
	    get_bool(cx, g, "create_profiles", &cg->create) == -1)
		return -1;
	cg->name = xstrdup(name);

	if (cg->kind == GOAL_IMPORT) {
		if ((r = get_strv(cx, g, "lists", &cg->lists, &cg->nlists)) == -1)
			return -1;
		if (r == 0)
			return missing(cx, "lists");
		if (cg->nlists == 0)
			return fail_key(cx, "lists", AT_VALUE, "must name at least one list");
		if ((r = get_prop(cx, st, g, "list_property", 0, &p)) == -1)
			return -1;
		if (r == 1 && (p->type != VAL_TEXT || !p->multi))
			return fail_key(cx, "list_property", AT_VALUE, "%s must be a "
			    "multi-valued text property to collect list names",
			    quote(p->name, q, sizeof(q)));
		if (r == 1)
			cg->list_property = xstrdup(p->name);
	} else {
		if (get_str(cx, g, "path", 1, &s) == -1)
			return -1;
		cg->path = resolve(cx, s);
		n = strlen(s);
		if ((r = get_str(cx, g, "format", 0, &s)) == -1)
			return -1;
		if (r == 1) {
			if (strcmp(s, "csv") == 0)
				cg->format = FMT_CSV;
			else if (strcmp(s, "jsonl") == 0)
				cg->format = FMT_JSONL;
			else
				return fail_key(cx, "format", AT_VALUE, "unknown format "
				    "%s (expected csv, jsonl)", quote(s, q, sizeof(q)));
		} else {
			s = json_string_value(json_object_get(g, "path"));
			if (n >= 4 && strcmp(s + n - 4, ".csv") == 0)
				cg->format = FMT_CSV;
			else if ((n >= 6 && strcmp(s + n - 6, ".jsonl") == 0) ||
			    (n >= 7 && strcmp(s + n - 7, ".ndjson") == 0))
				cg->format = FMT_JSONL;
			else
				return fail_key(cx, "path", AT_VALUE, "cannot tell the "
				    "format of %s from its name; set \"format\" (csv "
				    "or jsonl)", quote(s, q, sizeof(q)));
		}
	}

	if ((link = json_object_get(g, "link")) == NULL)
		return missing(cx, "link");
	push_key(cx, "link");
	if (need_object(cx, link) == -1 || check_keys(cx, link, link_keys) == -1 ||
	    get_str(cx, link, "column", 1, &s) == -1 ||
	    get_prop(cx, st, link, "property", 1, &p) == -1)
		return -1;
	if (!p->unique)
		return fail_key(cx, "property", AT_VALUE, "%s is not a unique "
		    "identifier (set \"unique\": true on it to link by it)",
		    quote(p->name, q2, sizeof(q2)));
	cg->link_column = xstrdup(s);
	cg->link_property = xstrdup(p->name);
	pop(cx);

	if ((maps = json_object_get(g, "mappings")) == NULL || json_is_null(maps))
		return 0;
	push_key(cx, "mappings");
	if (!json_is_array(maps) || json_array_size(maps) > CONF_ARRAY_MAX)
		return fail(cx, AT_VALUE, "must be an array of at most %d mappings",
		    CONF_ARRAY_MAX);
	cg->maps = xcalloc(json_array_size(maps), sizeof(*cg->maps));
	cg->nmaps = json_array_size(maps);
	json_array_foreach(maps, i, m) {
		push_idx(cx, i);
		if (load_mapping(cx, st, m, &cg->maps[i]) == -1)
			return -1;
		pop(cx);
	}
	pop(cx);
	return 0;
}

static int
load_secret_file(struct cctx *cx, const char *given, char **out)
{
	char		*path = resolve(cx, given), buf[SECRET_MAX + 1], q[96];
	struct stat	 sb;
	ssize_t		 n;
	size_t		 len = 0, b = 0;
	int		 fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		fail(cx, AT_VALUE, "cannot open %s: %s", quote(path, q, sizeof(q)),
		    strerror(errno));
		goto out;
	}
	/* Checked on the open descriptor, so the file read is the file checked. */
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		fail(cx, AT_VALUE, "%s is not a regular file", quote(path, q, sizeof(q)));
		goto out;
	}
	if (sb.st_uid != geteuid()) {
		fail(cx, AT_VALUE, "%s is owned by uid %u, not by this user (uid %u)",
		    quote(path, q, sizeof(q)), (unsigned)sb.st_uid, (unsigned)geteuid());
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		fail(cx, AT_VALUE, "%s: mode %04o is too open (must be 0600)",
		    quote(path, q, sizeof(q)), (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fail(cx, AT_VALUE, "cannot read %s: %s", quote(path, q, sizeof(q)),
			    strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	if (len > SECRET_MAX) {
		fail(cx, AT_VALUE, "%s is larger than %d bytes", quote(path, q, sizeof(q)),
		    SECRET_MAX);
		goto out;
	}
	/* One line: surrounding blanks and the final newline are not the secret. */
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	while (b < len && (buf[b] == ' ' || buf[b] == '\t'))
		b++;
	if (b == len) {
		fail(cx, AT_VALUE, "%s is empty", quote(path, q, sizeof(q)));
		goto out;
	}
	if (memchr(buf + b, '\0', len - b) != NULL || memchr(buf + b, '\n', len - b)) {
		fail(cx, AT_VALUE, "%s must hold the secret on one line",
		    quote(path, q, sizeof(q)));
		goto out;
	}
	*out = xcalloc(1, len - b + 1);
	memcpy(*out, buf + b, len - b);
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	if (fd != -1)
		close(fd);
	free(path);
	return rc;
}

static int
load_secret(struct cctx *cx, json_t *o, struct conf_conn *cn)
{
	static const char *const kinds[] = { "secret", "secret_file", "secret_env" };
	const char	*which = NULL, *s, *env;
	int		 r;

	for (size_t i = 0; i < 3; i++) {
		json_t	*v = json_object_get(o, kinds[i]);

		if (v == NULL || json_is_null(v))
			continue;
		if (which != NULL)
			return fail_key(cx, kinds[i], AT_KEY, "set only one of secret, "
			    "secret_file, secret_env (%s is set too)", which);
		which = kinds[i];
	}
	if (which == NULL)
		return fail(cx, AT_VALUE, "missing secret (set one of secret, "
		    "secret_file, secret_env)");
	if ((r = get_str(cx, o, which, 1, &s)) == -1)
		return -1;
	if (strcmp(which, "secret") == 0) {
		cn->secret = xstrdup(s);
		return 0;
	}
	push_key(cx, which);
	if (strcmp(which, "secret_file") == 0) {
		r = load_secret_file(cx, s, &cn->secret);
	} else if ((env = getenv(s)) == NULL || *env == '\0') {
		r = fail(cx, AT_VALUE, "environment variable %s is not set", s);
	} else {
		cn->secret = xstrdup(env);
		r = 0;
	}
	pop(cx);
	return r;
}

/*
 * url for a message: a "user:password@" before the host is replaced by
 * "***@", so an error about the URL never shows its password.
 */
static const char *
url_redact(const char *url, char *out, size_t outlen)
{
	const char	*s = strstr(url, "://"), *host = s ? s + 3 : url;
	const char	*end = host + strcspn(host, "/?#"), *at = NULL;

	for (const char *p = host; p < end; p++)
		if (*p == '@')
			at = p;
	if (at == NULL)
		snprintf(out, outlen, "%s", url);
	else
		snprintf(out, outlen, "%.*s***%s", (int)(host - url), url, at);
	return out;
}

/* An http:// or https:// URL with a host. */
static int
url_http_ok(const char *url)
{
	return (strncmp(url, "https://", 8) == 0 && url[8] != '\0' && url[8] != '/') ||
	    (strncmp(url, "http://", 7) == 0 && url[7] != '\0' && url[7] != '/');
}

/* notify, notify_on and webhook: who is told about a finished run. */
static int
load_notify(struct cctx *cx, const struct conf *c, json_t *o, struct conf_conn *cn)
{
	const char	*s;
	char		 q[96];
	int		 r;

	if (get_strv(cx, o, "notify", &cn->notify, &cn->nnotify) == -1)
		return -1;
	for (size_t i = 0; i < cn->nnotify; i++) {
		const char *at = strchr(cn->notify[i], '@');

		if (at == NULL || at == cn->notify[i] || at[1] == '\0' ||
		    strpbrk(cn->notify[i], " <>\r\n,") != NULL) {
			push_key(cx, "notify");
			push_idx(cx, i);
			fail(cx, AT_VALUE, "%s is not an email address",
			    quote(cn->notify[i], q, sizeof(q)));
			cx->depth -= 2;
			return -1;
		}
	}
	if (cn->nnotify > 0 && c->smtp.url == NULL)
		return fail_key(cx, "notify", AT_VALUE, "email notifications need the "
		    "top-level \"smtp\" object (the mail relay to send them through)");
	cn->notify_on = NOTIFY_ALWAYS;
	if ((r = get_str(cx, o, "notify_on", 0, &s)) == -1)
		return -1;
	if (r == 1 && strcmp(s, "failure") == 0)
		cn->notify_on = NOTIFY_FAILURE;
	else if (r == 1 && strcmp(s, "always") != 0)
		return fail_key(cx, "notify_on", AT_VALUE, "unknown value %s (expected "
		    "always, failure)", quote(s, q, sizeof(q)));
	if ((r = get_str(cx, o, "webhook", 0, &s)) == -1)
		return -1;
	if (r == 1 && !url_http_ok(s))
		return fail_key(cx, "webhook", AT_VALUE, "%s is not an http:// or "
		    "https:// URL", quote(s, q, sizeof(q)));
	if (r == 1)
		cn->webhook = xstrdup(s);
	return 0;
}

static int
load_conn(struct cctx *cx, const struct conf *c, json_t *o, struct conf_conn *cn)
{
	const struct conf_store *st = &c->store;
	static const char *const keys[] = { "name", "api_key", "secret", "secret_file",
	    "secret_env", "timezone", "enabled", "base_url", "ca_file", "notify",
	    "notify_on", "webhook", "consent_objectives", "schedule", "poll_cap_s",
	    "goals", NULL };
	const char	*s, *tz = "UTC", *url = "https://api.sailthru.com";
	uint64_t	 cap = 7200;
	json_t		*goals, *g;
	int64_t		 ms;
	size_t		 i, j, n;
	char		 q[96];
	int		 r;

	if (need_object(cx, o) == -1 || check_keys(cx, o, keys) == -1 ||
	    get_name(cx, o, &s) == -1)
		return -1;
	cn->name = xstrdup(s);
	cn->enabled = 1;
	if (get_str(cx, o, "api_key", 1, &s) == -1)
		return -1;
	cn->api_key = xstrdup(s);
	if (load_secret(cx, o, cn) == -1)
		return -1;

	if (get_str(cx, o, "timezone", 0, &tz) == -1)
		return -1;
	/* Accept exactly the zones time_parse can use. */
	if (strcmp(tz, "UTC") != 0 && time_parse("2000-01-01", 10, tz, &ms) == -1)
		return fail_key(cx, "timezone", AT_VALUE, "unknown time zone %s (expected "
		    "an IANA name such as America/New_York, or UTC)", quote(tz, q, sizeof(q)));
	cn->timezone = xstrdup(tz);

	if (get_bool(cx, o, "enabled", &cn->enabled) == -1 ||
	    get_str(cx, o, "base_url", 0, &url) == -1)
		return -1;
	if (!url_http_ok(url)) {
		char red[1024];

		return fail_key(cx, "base_url", AT_VALUE, "%s is not an http:// or "
		    "https:// URL", quote(url_redact(url, red, sizeof(red)), q, sizeof(q)));
	}
	cn->base_url = xstrdup(url);
	for (n = strlen(cn->base_url); n > 0 && cn->base_url[n - 1] == '/'; n--)
		cn->base_url[n - 1] = '\0';

	if ((r = get_str(cx, o, "ca_file", 0, &s)) == -1)
		return -1;
	if (r == 1) {
		cn->ca_file = resolve(cx, s);
		if (access(cn->ca_file, R_OK) == -1)
			return fail_key(cx, "ca_file", AT_VALUE, "cannot read %s: %s",
			    quote(cn->ca_file, q, sizeof(q)), strerror(errno));
	}
	if (load_notify(cx, c, o, cn) == -1)
		return -1;
	if (get_strv(cx, o, "consent_objectives", &cn->objectives, &cn->nobjectives) == -1)
		return -1;
	if ((r = get_str(cx, o, "schedule", 0, &s)) == -1)
		return -1;
	if (r == 1) {
		char	 e[400];

		if (sched_parse(s, &cn->sched, e, sizeof(e)) == -1)
			return fail_key(cx, "schedule", AT_VALUE, "%s", e);
		cn->schedule = xstrdup(s);
	}
	if (get_uint(cx, o, "poll_cap_s", 1, 7 * 86400, &cap) == -1)
		return -1;
	cn->poll_cap_s = (unsigned)cap;

	/* No goals is valid here: the fetcher refuses to run such a connection. */
	if ((goals = json_object_get(o, "goals")) == NULL || json_is_null(goals))
		return 0;
	push_key(cx, "goals");
	if (!json_is_array(goals) || json_array_size(goals) > CONF_ARRAY_MAX)
		return fail(cx, AT_VALUE, "must be an array of goals");
	cn->goals = xcalloc(json_array_size(goals), sizeof(*cn->goals));
	cn->ngoals = json_array_size(goals);
	json_array_foreach(goals, i, g) {
		push_idx(cx, i);
		if (load_goal(cx, st, g, &cn->goals[i]) == -1)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(cn->goals[j].name, cn->goals[i].name) == 0)
				return fail_key(cx, "name", AT_VALUE, "duplicate goal name "
				    "%s (also goals[%zu])", quote(cn->goals[i].name, q,
				    sizeof(q)), j);
		pop(cx);
	}
	pop(cx);
	return 0;
}

/*
 * smtp: the relay notification mail goes through.  smtp:// requires
 * STARTTLS unless "starttls" is false, and a password never travels
 * without TLS; smtps:// is TLS from the start.
 */
static int
load_smtp(struct cctx *cx, json_t *o, struct conf_smtp *sm)
{
	static const char *const keys[] = { "url", "from", "username",
	    "password_file", "starttls", "ca_file", NULL };
	const char	*s;
	char		 q[96];
	int		 r, tls;

	if (o == NULL || json_is_null(o))
		return 0;
	push_key(cx, "smtp");
	if (need_object(cx, o) == -1 || check_keys(cx, o, keys) == -1 ||
	    get_str(cx, o, "url", 1, &s) == -1)
		return -1;
	tls = strncmp(s, "smtps://", 8) == 0;
	if (!((tls && s[8] != '\0' && s[8] != '/') ||
	    (strncmp(s, "smtp://", 7) == 0 && s[7] != '\0' && s[7] != '/')))
		return fail_key(cx, "url", AT_VALUE, "%s is not an smtp:// or smtps:// "
		    "URL", quote(s, q, sizeof(q)));
	sm->url = xstrdup(s);
	if (get_str(cx, o, "from", 1, &s) == -1)
		return -1;
	if (strchr(s, '@') == NULL || strpbrk(s, " <>\r\n,") != NULL)
		return fail_key(cx, "from", AT_VALUE, "%s is not an email address",
		    quote(s, q, sizeof(q)));
	sm->from = xstrdup(s);
	sm->starttls = 1;
	if (get_bool(cx, o, "starttls", &sm->starttls) == -1)
		return -1;
	if ((r = get_str(cx, o, "ca_file", 0, &s)) == -1)
		return -1;
	if (r == 1) {
		sm->ca_file = resolve(cx, s);
		if (access(sm->ca_file, R_OK) == -1)
			return fail_key(cx, "ca_file", AT_VALUE, "cannot read %s: %s",
			    quote(sm->ca_file, q, sizeof(q)), strerror(errno));
	}
	if ((r = get_str(cx, o, "username", 0, &s)) == -1)
		return -1;
	if (r == 1) {
		sm->username = xstrdup(s);
		if (get_str(cx, o, "password_file", 1, &s) == -1)
			return -1;
		if (!tls && !sm->starttls)
			return fail_key(cx, "starttls", AT_VALUE, "must be true when a "
			    "username is set: the password would travel in clear");
		push_key(cx, "password_file");
		if (load_secret_file(cx, s, &sm->password) == -1)
			return -1;
		pop(cx);
	} else if (json_object_get(o, "password_file") != NULL)
		return fail_key(cx, "password_file", AT_KEY, "needs \"username\"");
	pop(cx);
	return 0;
}

/*
 * status: the coordinator's HTTP server.  Loopback unless told otherwise;
 * whatever the address, changing state (run now) needs the token.
 */
static int
load_status(struct cctx *cx, json_t *o, struct conf_status *st)
{
	static const char *const keys[] = { "listen", "token_file", "token_env", NULL };
	const char	*s = "127.0.0.1:8686", *colon, *which, *env;
	char		 q[96], host[64];
	int		 r;
	struct in_addr	 in;
	long		 port;
	char		*end;

	if (o == NULL || json_is_null(o))
		return 0;
	push_key(cx, "status");
	if (need_object(cx, o) == -1 || check_keys(cx, o, keys) == -1 ||
	    get_str(cx, o, "listen", 0, &s) == -1)
		return -1;
	colon = strrchr(s, ':');
	port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host) || colon[1] == '\0' ||
	    *end != '\0' || port < 0 || port > 65535)
		return fail_key(cx, "listen", AT_VALUE, "%s is not HOST:PORT (an IPv4 "
		    "address and a port, e.g. 127.0.0.1:8686)", quote(s, q, sizeof(q)));
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (inet_pton(AF_INET, host, &in) != 1)
		return fail_key(cx, "listen", AT_VALUE, "%s is not an IPv4 address",
		    quote(host, q, sizeof(q)));
	st->listen = xstrdup(s);
	/* The token, like a connection's secret: from a 0600 file or the environment. */
	which = json_object_get(o, "token_env") != NULL ? "token_env" : "token_file";
	if (json_object_get(o, "token_env") != NULL &&
	    json_object_get(o, "token_file") != NULL)
		return fail_key(cx, "token_env", AT_KEY, "set only one of token_file, "
		    "token_env");
	if ((r = get_str(cx, o, which, 0, &s)) == -1)
		return -1;
	if (r == 0)
		return fail(cx, AT_VALUE, "missing token (set token_file or token_env)");
	push_key(cx, which);
	if (strcmp(which, "token_file") == 0) {
		if (load_secret_file(cx, s, &st->token) == -1)
			return -1;
	} else if ((env = getenv(s)) == NULL || *env == '\0')
		return fail(cx, AT_VALUE, "environment variable %s is not set", s);
	else
		st->token = xstrdup(env);
	pop(cx);
	if (strlen(st->token) < 16)
		return fail_key(cx, which, AT_VALUE, "the token must be at least "
		    "16 characters");
	pop(cx);
	return 0;
}

static int
load_conns(struct cctx *cx, json_t *conns, struct conf *c)
{
	json_t	*o;
	size_t	 i, j;
	char	 q[96];

	if (conns == NULL || json_is_null(conns))
		return 0;
	push_key(cx, "connections");
	if (!json_is_array(conns) || json_array_size(conns) > CONF_ARRAY_MAX)
		return fail(cx, AT_VALUE, "must be an array of connections");
	c->conns = xcalloc(json_array_size(conns), sizeof(*c->conns));
	c->nconns = json_array_size(conns);
	json_array_foreach(conns, i, o) {
		push_idx(cx, i);
		if (load_conn(cx, c, o, &c->conns[i]) == -1)
			return -1;
		for (j = 0; j < i; j++)
			if (strcmp(c->conns[j].name, c->conns[i].name) == 0)
				return fail_key(cx, "name", AT_VALUE, "duplicate connection "
				    "name %s (also connections[%zu])",
				    quote(c->conns[i].name, q, sizeof(q)), j);
		pop(cx);
	}
	pop(cx);
	return 0;
}

/* Reads the whole file (capped) into a NUL-terminated buffer. */
static char *
read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE	*f;
	char	*p;
	size_t	 n = 0, cap = 8192, r;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	p = xcalloc(1, cap + 1);
	while ((r = fread(p + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			if (cap >= CONF_FILE_MAX) {
				snprintf(err, errlen, "%s: larger than %u bytes", path,
				    CONF_FILE_MAX);
				goto bad;
			}
			cap *= 2;
			if ((p = realloc(p, cap + 1)) == NULL)
				fatal_oom("conf");
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto bad;
	}
	fclose(f);
	p[n] = '\0';
	*len = n;
	return p;
bad:
	fclose(f);
	free(p);
	return NULL;
}

static char *
conf_dir(const char *path)
{
	char	*copy = xstrdup(path), *slash, *abs;

	if ((slash = strrchr(copy, '/')) == NULL) {
		free(copy);
		copy = xstrdup(".");
	} else if (slash == copy)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((abs = realpath(copy, NULL)) == NULL) {
		/* The file was just read, so this is unexpected; keep what we have. */
		return copy;
	}
	free(copy);
	return abs;
}

/*
 * Configuration digests (conf.h says which parts).  Each part is a small
 * JSON object made from the file's own values, dumped with sorted keys and
 * hashed; built after the whole file was checked, so every value is valid.
 */

/* A copy of object o without the listed keys (NULL: none); NULL stays NULL. */
static json_t *
digest_obj_without(json_t *o, const char *const *drop)
{
	json_t	*r;

	if (o == NULL)
		return json_null();
	if (!json_is_object(o))
		return json_incref(o);
	r = json_copy(o);
	for (size_t i = 0; drop != NULL && drop[i] != NULL; i++)
		json_object_del(r, drop[i]);
	return r;
}

/* The goals of connection o of one kind: export goals (exports 1) or the others. */
static json_t *
digest_goals(json_t *o, int exports, const char *const *drop)
{
	json_t	*r = json_array(), *g;
	size_t	 i;
	const char *type;

	json_array_foreach(json_object_get(o, "goals"), i, g) {
		type = json_string_value(json_object_get(g, "type"));
		if ((type != NULL && strcmp(type, "export") == 0) == (exports != 0))
			json_array_append_new(r, digest_obj_without(g, drop));
	}
	return r;
}

static json_t *
digest_get(json_t *o, const char *key)
{
	json_t	*v = o != NULL ? json_object_get(o, key) : NULL;

	return v != NULL ? json_incref(v) : json_null();
}

/* The part of the file stage `which` depends on for connection o (cn loaded from it). */
static json_t *
digest_part(json_t *root, json_t *o, const struct conf *c, const struct conf_conn *cn,
    int which)
{
	static const char *const mapper_goal_drop[] = { "lists", "path", "format", NULL };
	static const char *const exporter_conn_drop[] = { "notify", "notify_on",
	    "webhook", "schedule", "goals", NULL };
	json_t	*st = json_object_get(root, "store"), *part, *conn;

	part = json_object();
	json_object_set_new(part, "for", json_string(conf_digest_name(which)));
	json_object_set_new(part, "properties", digest_get(st, "properties"));
	switch (which) {
	case CONF_DIGEST_MAPPER:
		conn = json_object();
		json_object_set_new(conn, "name", json_string(cn->name));
		json_object_set_new(conn, "timezone", digest_get(o, "timezone"));
		json_object_set_new(conn, "goals", digest_goals(o, 0, mapper_goal_drop));
		break;
	case CONF_DIGEST_WRITER:
		json_object_set_new(part, "merge", digest_get(st, "merge"));
		conn = json_object();
		json_object_set_new(conn, "name", json_string(cn->name));
		json_object_set_new(conn, "consent_objectives",
		    digest_get(o, "consent_objectives"));
		break;
	default:
		/* As written: the same file read on two hosts gives one digest. */
		json_object_set_new(part, "path", digest_get(st, "path"));
		json_object_set_new(part, "merge", digest_get(st, "merge"));
		json_object_set_new(part, "segments", digest_get(st, "segments"));
		json_object_set_new(part, "lanes", json_integer(c->store.lanes));
		conn = digest_obj_without(o, exporter_conn_drop);
		json_object_set_new(conn, "goals", digest_goals(o, 1, NULL));
		/*
		 * The secret a file holds, so that a new one reaches the
		 * exporter; not one from the environment, which may rightly
		 * differ between the processes that load the file.
		 */
		if (json_object_get(o, "secret_file") != NULL && cn->secret != NULL)
			json_object_set_new(conn, "secret_file_holds",
			    json_string(cn->secret));
		break;
	}
	json_object_set_new(part, "connection", conn);
	return part;
}

static void
digest_conns(json_t *root, struct conf *c)
{
	json_t	*conns = json_object_get(root, "connections"), *part;
	char	*text;

	for (size_t i = 0; i < c->nconns; i++) {
		for (int w = 0; w < CONF_NDIGESTS; w++) {
			part = digest_part(root, json_array_get(conns, i), c, &c->conns[i], w);
			if ((text = json_dumps(part, JSON_SORT_KEYS | JSON_COMPACT |
			    JSON_ENCODE_ANY)) == NULL)
				fatal_oom("conf");
			digest_hex(text, strlen(text), c->conns[i].digest[w]);
			explicit_bzero(text, strlen(text));	/* may hold a secret */
			free(text);
			json_decref(part);
		}
	}
}

const char *
conf_digest_name(int which)
{
	switch (which) {
	case CONF_DIGEST_MAPPER:
		return "mapper";
	case CONF_DIGEST_WRITER:
		return "writer";
	case CONF_DIGEST_EXPORTER:
		return "exporter";
	}
	return "?";
}

const char *
conf_digest(const struct conf *c, int which, const char *conn, size_t len)
{
	const struct conf_conn *cn = conf_conn_find(c, conn ? conn : "", conn ? len : 0);

	if (cn == NULL || which < 0 || which >= CONF_NDIGESTS)
		return CONF_DIGEST_NONE;
	return cn->digest[which];
}

int
conf_digest_reload(const char *path, int which, const char *conn, size_t connlen,
    const char *want, size_t wantlen, struct conf *out, char *have, size_t havelen,
    char *err, size_t errlen)
{
	const char	*d;

	if (conf_load(path, out, err, errlen) == -1)
		return -1;
	d = conf_digest(out, which, conn, connlen);
	if (strlen(d) == wantlen && memcmp(d, want, wantlen) == 0)
		return 0;
	snprintf(have, havelen, "%s", d);
	conf_clear(out);
	return 1;
}

int
conf_load(const char *path, struct conf *c, char *err, size_t errlen)
{
	static const char *const keys[] = { "store", "pipeline", "smtp", "status",
	    "connections",
	    NULL };
	struct cctx	 cx;
	json_error_t	 jerr;
	json_t		*root;
	char		*text, *near;
	size_t		 len;
	int		 rc = -1;

	memset(c, 0, sizeof(*c));
	memset(&cx, 0, sizeof(cx));
	if ((text = read_file(path, &len, err, errlen)) == NULL)
		return -1;
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		/*
		 * jansson quotes the text near the error, which may be part of
		 * a secret; the position is enough.
		 */
		if ((near = strstr(jerr.text, " near '")) != NULL &&
		    strcmp(near, " near end of file") != 0)
			*near = '\0';
		snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column,
		    jerr.text);
		free(text);
		return -1;
	}
	cx.file = path;
	cx.text = text;
	cx.len = len;
	cx.err = err;
	cx.errlen = errlen;
	cx.dir = conf_dir(path);
	c->file = xstrdup(path);

	if (need_object(&cx, root) == -1 || check_keys(&cx, root, keys) == -1)
		goto out;
	push_key(&cx, "store");
	if (load_store(&cx, json_object_get(root, "store"), &c->store) == -1)
		goto out;
	pop(&cx);
	push_key(&cx, "pipeline");
	if (load_pipeline(&cx, json_object_get(root, "pipeline"), &c->pipe) == -1)
		goto out;
	pop(&cx);
	c->store.lanes = (unsigned)c->pipe.nlanes;
	if (load_smtp(&cx, json_object_get(root, "smtp"), &c->smtp) == -1 ||
	    load_status(&cx, json_object_get(root, "status"), &c->status) == -1)
		goto out;
	if (load_conns(&cx, json_object_get(root, "connections"), c) == -1)
		goto out;
	digest_conns(root, c);
	rc = 0;
out:
	if (rc == -1)
		conf_clear(c);
	json_decref(root);
	free(cx.dir);
	free(text);
	return rc;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
conf_clear(struct conf *c)
{
	size_t	 i, j, k;

	free(c->file);
	free(c->store.path);
	for (i = 0; i < c->store.nprops; i++)
		free(c->store.props[i].name);
	free(c->store.props);
	strv_free(c->store.merge, c->store.nmerge);
	for (i = 0; i < c->store.nsegments; i++) {
		struct conf_segment *sg = &c->store.segments[i];

		for (j = 0; j < sg->nconds; j++) {
			struct conf_cond *cc = &sg->conds[j];

			free(cc->property);
			for (k = 0; k < cc->nvals; k++)
				cond_val_clear(&cc->vals[k]);
			free(cc->vals);
			cond_val_clear(&cc->min);
			cond_val_clear(&cc->max);
		}
		free(sg->conds);
		free(sg->name);
	}
	free(c->store.segments);
	free(c->pipe.users);
	free(c->pipe.acks);
	strv_free(c->pipe.lanes, c->pipe.nlanes);
	free(c->pipe.state_dir);
	free(c->pipe.export_state);
	free(c->pipe.export);
	free(c->pipe.export_results);
	free(c->pipe.curve_public);
	if (c->pipe.curve_secret != NULL) {
		explicit_bzero(c->pipe.curve_secret, strlen(c->pipe.curve_secret));
		free(c->pipe.curve_secret);
	}
	free(c->smtp.url);
	free(c->smtp.from);
	free(c->smtp.username);
	if (c->smtp.password != NULL) {
		explicit_bzero(c->smtp.password, strlen(c->smtp.password));
		free(c->smtp.password);
	}
	free(c->smtp.ca_file);
	free(c->status.listen);
	if (c->status.token != NULL) {
		explicit_bzero(c->status.token, strlen(c->status.token));
		free(c->status.token);
	}
	for (i = 0; i < c->nconns; i++) {
		struct conf_conn *cn = &c->conns[i];

		free(cn->name);
		free(cn->api_key);
		if (cn->secret != NULL) {
			explicit_bzero(cn->secret, strlen(cn->secret));
			free(cn->secret);
		}
		free(cn->timezone);
		free(cn->base_url);
		free(cn->ca_file);
		strv_free(cn->notify, cn->nnotify);
		free(cn->webhook);
		strv_free(cn->objectives, cn->nobjectives);
		free(cn->schedule);
		for (j = 0; j < cn->ngoals; j++) {
			struct conf_goal *g = &cn->goals[j];

			free(g->name);
			strv_free(g->lists, g->nlists);
			free(g->path);
			free(g->list_property);
			free(g->link_column);
			free(g->link_property);
			for (k = 0; k < g->nmaps; k++) {
				free(g->maps[k].column);
				free(g->maps[k].property);
			}
			free(g->maps);
			free(g->segment);
			for (k = 0; k < g->nemaps; k++) {
				free(g->emaps[k].var);
				free(g->emaps[k].property);
				free(g->emaps[k].text);
				strv_free(g->emaps[k].segments, g->emaps[k].nsegments);
			}
			free(g->emaps);
			free(g->stage_lifecycle);
			strv_free(g->stages, g->nstages);
			free(g->touch_property);
		}
		free(cn->goals);
	}
	free(c->conns);
	memset(c, 0, sizeof(*c));
}

const struct conf_prop *
conf_prop_find(const struct conf_store *s, const char *name, size_t len)
{
	size_t	 lo = 0, hi = s->nprops, mid;
	int	 r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = prop_cmp(s->props[mid].name, strlen(s->props[mid].name), name, len);
		if (r == 0)
			return &s->props[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct conf_conn *
conf_conn_find(const struct conf *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->nconns; i++)
		if (strlen(c->conns[i].name) == len &&
		    memcmp(c->conns[i].name, name, len) == 0)
			return &c->conns[i];
	return NULL;
}

const struct conf_goal *
conf_goal_find(const struct conf_conn *cn, const char *name, size_t len)
{
	for (size_t i = 0; i < cn->ngoals; i++)
		if (strlen(cn->goals[i].name) == len &&
		    memcmp(cn->goals[i].name, name, len) == 0)
			return &cn->goals[i];
	return NULL;
}

const struct conf_segment *
conf_segment_find(const struct conf_store *s, const char *name)
{
	for (size_t i = 0; i < s->nsegments; i++)
		if (strcmp(s->segments[i].name, name) == 0)
			return &s->segments[i];
	return NULL;
}
