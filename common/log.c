/* common/log.c: owns the stage name and level of this process's log lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char	*log_stage = "sailsync";
static enum log_level	 log_min = LOG_INFO;

void
log_init(const char *stage, enum log_level level)
{
	log_stage = stage;
	log_min = level;
}

int
log_level_parse(const char *name, enum log_level *out)
{
	static const char *names[] = { "debug", "info", "warn", "error" };

	for (int i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
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

static void log_vline(enum log_level, const char *, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
log_vline(enum log_level lv, const char *suffix, const char *fmt, va_list ap)
{
	char	 line[4096];
	int	 n;

	if (lv < log_min)
		return;
	n = snprintf(line, sizeof(line), "%s: ", log_stage);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line, so lines of concurrent stages do not interleave. */
	if (suffix)
		fprintf(stderr, "%s%s\n", line, suffix);
	else
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
panic(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_ERR, " (panic)", fmt, ap);
	va_end(ap);
	abort();
}
