/* fetcher/coord.c: owns the run queue: run requests written by run-now and the schedule, read by the coordinator. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coord.h"
#include "fetcher.h"
#include "file.h"
#include "timefmt.h"

/*
 * A run request is one small JSON file in pipeline.state_dir/CONN/queue/:
 *
 *   {"trigger": "manual", "requested": <ms since the epoch>}
 *
 * named <requested ms, 16 digits>-<pid>-<n>.json so that the names sort in
 * the order the requests were made.  It is written as NAME.tmp, fsynced,
 * renamed to NAME and the directory fsynced (file_write_durable):
 * - crash before the rename: only NAME.tmp exists, which the coordinator
 *   ignores; the caller was not told the run is queued.
 * - crash after the rename: the request is whole and will run.
 * The coordinator removes a request only after the run it started has been
 * recorded in the history, so a crash in between runs it again (a run is
 * resumed from its ledger, not repeated).
 */

static unsigned	coord_seq;

int
coord_enqueue(const struct conf *c, const char *conn, const char *trigger,
    char *err, size_t errlen)
{
	const struct conf_conn *cn;
	char	 dir[2200], path[2400], body[160];
	int64_t	 now = time_now_ms();

	if (conn == NULL || (cn = conf_conn_find(c, conn, strlen(conn))) == NULL) {
		snprintf(err, errlen, "no connection named \"%s\"", conn ? conn : "");
		return -1;
	}
	if (trigger == NULL || (strcmp(trigger, COORD_TRIGGER_SCHEDULE) != 0 &&
	    strcmp(trigger, COORD_TRIGGER_MANUAL) != 0)) {
		snprintf(err, errlen, "unknown trigger \"%s\" (expected schedule, manual)",
		    trigger ? trigger : "");
		return -1;
	}
	if (c->pipe.state_dir == NULL) {
		snprintf(err, errlen, "pipeline.state_dir is not set");
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/%s/queue", c->pipe.state_dir, cn->name);
	if (file_mkdirs(dir, 0700) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%016" PRId64 "-%ld-%u.json", dir, now,
	    (long)getpid(), coord_seq++);
	snprintf(body, sizeof(body), "{\"trigger\": \"%s\", \"requested\": %" PRId64 "}\n",
	    trigger, now);
	if (file_write_durable(path, body, strlen(body)) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
