/*
 * common/export_client.h: how a run driver has a connection's export goals
 * run, after its imports are fully acknowledged.
 */
#ifndef SAILSYNC_EXPORT_CLIENT_H
#define SAILSYNC_EXPORT_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

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
 * a resend never exports twice).  *summary is then the exporter's JSON
 * summary of the run (malloc'd), read from its record when this host can,
 * else built from the results.  Returns 0, EX_TEMPFAIL when *stop was set,
 * or -1 with a reason in err.
 */
int	 export_client_request(const struct conf *c, const char *conn, uint64_t run,
	    volatile sig_atomic_t *stop, char **summary, char *err, size_t errlen);

#endif
