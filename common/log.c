/* common/log.c: owns the stage name, level and format of this process's log lines. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char	*log_stage = "sailsync";
static enum log_level	 log_min = LOG_INFO;
static enum log_format	 log_fmt = LOG_TEXT;
static const char *const log_names[] = { "debug", "info", "warn", "error" };
/* The last warning or error, for a run's history record (never a secret: no log line holds one). */
static char		 log_last_line[512];
/* The writer's receiving thread and the ZAP handler log too (chan.c). */
static pthread_mutex_t	 log_last_lock = PTHREAD_MUTEX_INITIALIZER;

void
log_init(const char *stage, enum log_level level)
{
	const char	*env = getenv("SAILSYNC_LOG_FORMAT");

	log_stage = stage;
	log_min = level;
	if (env != NULL)
		log_format_parse(env, &log_fmt);
}

void
log_format_set(enum log_format f)
{
	log_fmt = f;
}

int
log_format_parse(const char *name, enum log_format *out)
{
	if (strcmp(name, "text") == 0)
		*out = LOG_TEXT;
	else if (strcmp(name, "json") == 0)
		*out = LOG_JSON;
	else
		return -1;
	return 0;
}

int
log_level_parse(const char *name, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *
log_quote(const char *s, char *out, size_t outlen)
{
	size_t	 o = 0;
	int	 bare = *s != '\0';

	for (const char *p = s; *p && bare; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' ||
		    (unsigned char)*p < 0x20 || *p == 0x7f)
			bare = 0;
	if (outlen == 0)
		return out;
	if (bare) {
		snprintf(out, outlen, "%s", s);
		return out;
	}
	if (o + 1 < outlen)
		out[o++] = '"';
	for (const char *p = s; *p && o + 3 < outlen; p++) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = *p;
		} else if (*p == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if ((unsigned char)*p < 0x20 || *p == 0x7f)
			out[o++] = '?';
		else
			out[o++] = *p;
	}
	if (o + 1 < outlen)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* Appends s to out as the inside of a JSON string. */
static size_t
json_esc(char *out, size_t o, size_t cap, const char *s, size_t n)
{
	for (size_t i = 0; i < n && o + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return o;
}

/*
 * A key=value field starting at p: a key of [A-Za-z0-9_.] then '=', the
 * value bare up to a space or in log_quote's double quotes.  Returns the
 * end of the field (at a space or NUL), or NULL when p is not one.
 */
static const char *
kv_scan(const char *p, const char **k, size_t *klen, const char **v, size_t *vlen,
    int *quoted)
{
	const char *q = p;

	while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
	    (*q >= '0' && *q <= '9') || *q == '_' || *q == '.')
		q++;
	if (q == p || *q != '=')
		return NULL;
	*k = p;
	*klen = (size_t)(q - p);
	q++;
	if (*q == '"') {
		*v = ++q;
		while (*q && *q != '"')
			q += (*q == '\\' && q[1]) ? 2 : 1;
		if (*q != '"')
			return NULL;
		*vlen = (size_t)(q - *v);
		*quoted = 1;
		q++;
	} else {
		*v = q;
		while (*q && *q != ' ')
			q++;
		*vlen = (size_t)(q - *v);
		*quoted = 0;
	}
	return (*q == ' ' || *q == '\0') ? q : NULL;
}

/*
 * The JSON form of one event: the text before the first key=value field
 * is "msg", every field after it a string member.  A line that does not
 * end in well-formed fields keeps its whole text in "msg".
 */
static void
log_json(char *out, size_t cap, const char *ts, enum log_level lv, const char *text)
{
	const char	*p, *start = NULL, *k, *v, *e;
	size_t		 o, klen, vlen;
	int		 quoted;

	for (p = text; *p; p++) {
		if (p != text && p[-1] != ' ')
			continue;
		for (e = p; e && *e; e = *e ? e + 1 : e)
			if ((e = kv_scan(e, &k, &klen, &v, &vlen, &quoted)) == NULL)
				break;
		if (e != NULL) {
			start = p;
			break;
		}
	}
	o = (size_t)snprintf(out, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"stage\":\"",
	    ts, log_names[lv]);
	o = json_esc(out, o, cap, log_stage, strlen(log_stage));
	o += (size_t)snprintf(out + o, cap - o, "\",\"msg\":\"");
	e = start ? start : text + strlen(text);
	while (e > text && e[-1] == ' ')
		e--;
	o = json_esc(out, o, cap, text, (size_t)(e - text));
	o += (size_t)snprintf(out + o, cap - o, "\"");
	for (p = start; p && *p && o + 8 < cap; p = *e ? e + 1 : e) {
		e = kv_scan(p, &k, &klen, &v, &vlen, &quoted);
		o += (size_t)snprintf(out + o, cap - o, ",\"");
		o = json_esc(out, o, cap, k, klen);
		o += (size_t)snprintf(out + o, cap - o, "\":\"");
		if (!quoted)
			o = json_esc(out, o, cap, v, vlen);
		else
			for (size_t i = 0; i < vlen && o + 8 < cap; i++) {
				/* Undo log_quote: \" \\ \n. */
				char c = v[i];

				if (c == '\\' && i + 1 < vlen) {
					c = v[++i];
					if (c == 'n') {
						o = json_esc(out, o, cap, "\n", 1);
						continue;
					}
				}
				o = json_esc(out, o, cap, &c, 1);
			}
		o += (size_t)snprintf(out + o, cap - o, "\"");
	}
	if (o + 2 >= cap)
		o = cap - 3;
	out[o++] = '}';
	out[o] = '\0';
}

static void log_vline(enum log_level, const char *, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
log_vline(enum log_level lv, const char *suffix, const char *fmt, va_list ap)
{
	char		 text[4096], line[8192], ts[32];
	struct timespec	 now;
	struct tm	 tm;
	int		 n;

	if (lv < log_min && lv < LOG_WARN)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n < 0)
		text[0] = '\0';
	if (suffix && strlen(text) + strlen(suffix) < sizeof(text))
		strcat(text, suffix);
	if (lv >= LOG_WARN) {
		pthread_mutex_lock(&log_last_lock);
		snprintf(log_last_line, sizeof(log_last_line), "%.*s",
		    (int)sizeof(log_last_line) - 1, text);
		pthread_mutex_unlock(&log_last_lock);
	}
	if (lv < log_min)
		return;
	if (log_fmt == LOG_JSON)
		log_json(line, sizeof(line), ts, lv, text);
	else
		snprintf(line, sizeof(line), "%s %s %s: %s", ts, log_names[lv], log_stage,
		    text);
	/* One write per line, so lines of concurrent stages do not interleave. */
	fprintf(stderr, "%s\n", line);
}

#define LOG_FN(fn, lv)					\
void							\
fn(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	log_vline(lv, NULL, fmt, ap);			\
	va_end(ap);					\
}
LOG_FN(log_debug, LOG_DEBUG)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warnx, LOG_WARN)

static const char *
errno_suffix(int e, char *out, size_t outlen)
{
	char	 q[256];

	snprintf(out, outlen, " error=%s", log_quote(strerror(e), q, sizeof(q)));
	return out;
}

void
log_warn(const char *fmt, ...)
{
	char	 sfx[300];
	int	 e = errno;
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_WARN, errno_suffix(e, sfx, sizeof(sfx)), fmt, ap);
	va_end(ap);
}

void
fatal(int ex, const char *fmt, ...)
{
	char	 sfx[300];
	int	 e = errno;
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_ERR, errno_suffix(e, sfx, sizeof(sfx)), fmt, ap);
	va_end(ap);
	exit(ex);
}

void
fatalx(int ex, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(ex);
}

void
fatal_oom(const char *what)
{
	fatalx(EX_OSERR, "out of memory what=%s", what);
}

void
panic(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_ERR, " (panic)", fmt, ap);
	va_end(ap);
	abort();
}

const char *
log_last(void)
{
	return log_last_line;
}
