/*
 * common/log.h: one line per event on stderr.  Text (the default):
 *   2026-12-01T21:41:28.123Z info fetcher: run started run=7 connection=demo
 * JSON (--log-format json), one object per line, for log collectors:
 *   {"ts":"2026-12-01T21:41:28.123Z","level":"info","stage":"fetcher",
 *    "msg":"run started","run":"7","connection":"demo"}
 */
#ifndef SAILSYNC_LOG_H
#define SAILSYNC_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdnoreturn.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERR = 3 };
enum log_format { LOG_TEXT = 0, LOG_JSON = 1 };

/* Names the stage that prefixes every line; level is the lowest one shown. */
void log_init(const char *stage, enum log_level level);
/* Parses "debug|info|warn|error"; returns -1 on an unknown name. */
int log_level_parse(const char *name, enum log_level *out);
/*
 * Sets the line format (default LOG_TEXT, or SAILSYNC_LOG_FORMAT from the
 * environment when log_init runs).  log_format_parse takes "text|json" and
 * returns -1 on an unknown name.
 */
void log_format_set(enum log_format f);
int log_format_parse(const char *name, enum log_format *out);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends " error=\"<strerror(errno)>\""; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Environment failures: log one line and exit with a sysexits.h code. */
noreturn void fatal(int ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
noreturn void fatalx(int ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Out of memory, everywhere the same: an environment failure, not a bug,
 * so one line "out of memory what=WHAT" and exit 71 (EX_OSERR), no core.
 * Callers that can report it instead (a decoder's error string, a
 * constructor returning NULL with err set) may do so.
 */
noreturn void fatal_oom(const char *what);
/* A broken invariant: log and abort() so a core is left. */
noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The text of the last warning or error logged (without the stage
 * prefix), even one below the shown level; "" when there was none.  Points
 * into a static buffer that the next warning overwrites.
 */
const char *log_last(void);

/*
 * Quotes s for a key=value field into out (always NUL-terminated): bare when
 * it has no space, quote, '=' or control byte; otherwise in double quotes
 * with \" \\ \n escaped.  Truncates to outlen.  Returns out.
 */
const char *log_quote(const char *s, char *out, size_t outlen);

#endif
