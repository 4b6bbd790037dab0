/*
 * fetcher/coord.h: the coordinator: the run queue, schedules and the run
 * history of every connection.  The fetcher's other modules only fetch.
 */
#ifndef SAILSYNC_COORD_H
#define SAILSYNC_COORD_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "fetcher.h"

/* What started a run. */
#define COORD_TRIGGER_SCHEDULE	"schedule"
#define COORD_TRIGGER_MANUAL	"manual"

/*
 * Durably queues a run of connection conn: a request file
 * pipeline.state_dir/CONN/queue/<ms>-<pid>-<n>.json, written to a
 * temporary name, fsynced and renamed, so a request the caller was told
 * about survives a crash.  trigger is COORD_TRIGGER_SCHEDULE or
 * COORD_TRIGGER_MANUAL.  The coordinator (`sailsync-fetcher coordinator`)
 * picks requests up oldest first, one run at a time per connection.
 * Returns 0, or -1 with a one-line reason in err (unknown connection or
 * trigger, or an I/O error).
 */
int	 coord_enqueue(const struct conf *c, const char *conn, const char *trigger,
	    char *err, size_t errlen);

/*
 * Runs connection cn now (or resumes its unfinished run): its import goals
 * through the pipeline, and waits until they are fully acknowledged; a
 * second run of the same connection waits for the first (a lock under
 * state_dir).  Records the run in runs/ID.json.  Returns an exit code:
 * 0, 1 (some part failed), 65 (a local file changed under a resumed run),
 * 69, 74, 75 (interrupted), 77, 78.
 */
int	 coord_run(const struct conf *c, const struct conf_conn *cn,
	    const struct fetcher_opts *o);

/*
 * The run's summary, printed on stdout, returned as JSON text (malloc'd,
 * caller frees) for runs/<id>.json and --summary-json.  *status is set to
 * "ok", "partial" or "failed".
 */
char	*coord_summary(struct fetcher_ctx *x, const char **status, FILE *out);

#endif
