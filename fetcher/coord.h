/*
 * fetcher/coord.h: the coordinator: the run queue, schedules and the run
 * history of every connection.  The fetcher's other modules only fetch.
 */
#ifndef SAILSYNC_COORD_H
#define SAILSYNC_COORD_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

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

#endif
