/* common/log.h: one line per event on stderr, "stage: what key=value ...". */
#ifndef SAILSYNC_LOG_H
#define SAILSYNC_LOG_H

#include <stdarg.h>
#include <stdnoreturn.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERR = 3 };

/* Names the stage that prefixes every line; level is the lowest one shown. */
void log_init(const char *stage, enum log_level level);
/* Parses "debug|info|warn|error"; returns -1 on an unknown name. */
int log_level_parse(const char *name, enum log_level *out);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends " error=\"<strerror(errno)>\""; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Environment failures: log one line and exit with a sysexits.h code. */
noreturn void fatal(int ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
noreturn void fatalx(int ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A broken invariant: log and abort() so a core is left. */
noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Quotes s for a key=value field into out (always NUL-terminated): bare when
 * it has no space, quote, '=' or control byte; otherwise in double quotes
 * with \" \\ \n escaped.  Truncates to outlen.  Returns out.
 */
const char *log_quote(const char *s, char *out, size_t outlen);

#endif
