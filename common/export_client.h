/*
 * common/export_client.h: how a run driver has a connection's export goals
 * run, after its imports are fully acknowledged; and an export goal's
 * outcome, as the exporter reports it and the run driver records it.
 */
#ifndef SAILSYNC_EXPORT_CLIENT_H
#define SAILSYNC_EXPORT_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "stats.h"

/*
 * One export goal's outcome in one run: its figures (the STATS_EXPORT
 * counters, skip reasons, the last exported profile ids and the unique
 * profiles the goal ever exported), how its users went, and why it
 * failed as a whole.
 */
struct export_result {
	struct stats	 st;		/* st.goal is the goal's name; conn NULL */
	char		 mode[8];	/* "user", "bulk" or "" (nothing sent) */
	char		 error[512];	/* "" unless the goal failed as a whole */
};

/* Zeroes r and names its goal. */
void		 export_result_init(struct export_result *r, const char *goal);
/* Frees what r owns and zeroes it. */
void		 export_result_clear(struct export_result *r);

/*
 * The status of an export run with these goals: "ok" (something was
 * written and nothing failed), "empty" (nothing to write), "partial" or
 * "failed" (users rejected or failed, or a goal failed, beside or without
 * anything written).
 */
const char	*export_results_status(const struct export_result *r, size_t n);

/*
 * The summary of an export run of connection conn: prints "export
 * connection CONN: STATUS" and each goal's lines (figures, skip reasons,
 * last exported ids, error) to out, unless out is NULL, and returns the
 * same as JSON text, {"connection", "status", "goals": [{"name", "type":
 * "export", counters..., "reasons", "last", "unique", "mode", "error"}]}
 * (malloc'd; the caller frees).  status NULL: export_results_status.
 */
char		*export_summary(const char *conn, const char *status,
		    const struct export_result *r, size_t n, FILE *out);

/*
 * Runs `sailsync-exporter -c CONF run CONN --summary-json JSON_PATH` as a
 * child process (the binary next to the running one, else from PATH),
 * with its stdout (the human summary) written to out_path, and waits for
 * it.  Returns the exporter's exit status (0 done, 1 some users or a goal
 * failed, 75 interrupted: rerun to resume, ...), EX_TEMPFAIL when it was
 * killed by a signal, or -1 with a reason in err when it could not start.
 * On 0 and 1, *summary holds the JSON summary (malloc'd, caller frees).
 */
int	 export_client_run(const char *conf_path, const char *conn, const char *out_path,
	    const char *json_path, char **summary, char *err, size_t errlen);

/*
 * The same through the long-lived exporter (when pipeline.export is set):
 * sends EXPORT_REQUEST for run of connection conn on pipeline.export and
 * waits on pipeline.export_results (bound here) for one EXPORT_RESULT per
 * export goal of conn, resending the request with a growing pause while
 * none comes (the exporter answers a repeated request from its record, so
 * a resend never exports twice).  The results carry every figure, so the
 * exporter may run on another host.  Then writes the summary's lines to
 * out_path, as the child's stdout would be, and sets *summary to its JSON
 * (export_summary; malloc'd).  Returns 0, EX_TEMPFAIL when *stop was set,
 * or -1 with a reason in err.
 */
int	 export_client_request(const struct conf *c, const char *conn, uint64_t run,
	    volatile sig_atomic_t *stop, const char *out_path, char **summary, char *err,
	    size_t errlen);

#endif
