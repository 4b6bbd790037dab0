/*
 * fetcher/coord.h: the coordinator: the run queue, schedules and the run
 * history of every connection.  The fetcher's other modules only fetch.
 */
#ifndef SAILSYNC_COORD_H
#define SAILSYNC_COORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
 * The run's summary, printed on out (NULL: not printed), returned as JSON
 * text (malloc'd, caller frees) for runs/<id>.json and --summary-json.
 * *status is set to force when not NULL ("failed", "abandoned"), else to
 * "ok", "partial" or "failed" from the parts; error (NULL: none) is the
 * record's "error".
 */
char	*coord_summary(struct fetcher_ctx *x, const char *force, const char *error,
	    const char **status, FILE *out);

/*
 * Durably writes run's record (json) as conndir/runs/RUN.json, then removes
 * the oldest records beyond keep (0: keep all).  An I/O failure is fatal.
 */
void	 coord_history_write(const char *conndir, uint64_t run, const char *json,
	    unsigned keep);
/*
 * The run ids that have a record under conndir/runs, oldest first, into
 * *ids (malloc'd, caller frees) and *n.  Returns 0 (no directory: none),
 * or -1 with errno set.
 */
int	 coord_history_ids(const char *conndir, uint64_t **ids, size_t *n);

/* The long-lived coordinator (`sailsync-fetcher coordinator`). */
struct coord_opts {
	double		 clock_scale;	/* >1 runs the schedule clock faster (tests); 0: 1 */
	int64_t		 clock_start;	/* the schedule clock's start (UTC s); 0: now */
	unsigned	 tick_ms;	/* how often queues and schedules are looked at (0: 200) */
};

/*
 * Follows every connection until fetcher_stop: queues a run when its
 * schedule says so (a run missed while stopped: once, at start), and
 * starts the oldest queued run of each connection in a child process when
 * none of that connection is running.  On stop, running runs get SIGTERM
 * and are waited for (they checkpoint and resume at the next start).
 * Returns 0; environment failures are fatal.
 */
int	 coord_serve(const struct conf *c, const struct coord_opts *o);

/*
 * The next scheduled run recorded under conndir for schedule (the text),
 * into *next (UTC s).  Returns 0, or -1 when there is none for that text.
 */
int	 coord_sched_load(const char *conndir, const char *schedule, int64_t *next);

/*
 * `runs`: with which NULL, connection cn's next scheduled runs and its run
 * records newest first; with which a run id, that run in full, with its
 * last five created or updated profiles read from the store (read-only):
 * id, identifier and the values of the properties the goal writes.
 * as_json prints the records as JSON instead.  Returns 0 or an exit code.
 */
int	 coord_runs_print(const struct conf *c, const struct conf_conn *cn,
	    const char *which, int as_json, FILE *out);

#endif
