/* common/notify.h: tells people about a finished run, by mail and by webhook. */
#ifndef SAILSYNC_NOTIFY_H
#define SAILSYNC_NOTIFY_H

#include "conf.h"

/*
 * Tells connection cn's `notify` addresses (one mail through c->smtp) and
 * its `webhook` (one JSON POST) about a run, given the run's history
 * record (the text of runs/ID.json).  Nothing is sent when cn->notify_on
 * is NOTIFY_FAILURE and the record's status is "ok".  Blocks for at most
 * about a minute per delivery.  A failed delivery is logged (never with a
 * password) and does not change the run: the caller goes on whatever this
 * returns.  Returns the number of deliveries that failed.
 */
int	 notify_run(const struct conf *c, const struct conf_conn *cn,
	    const char *record_json);

/*
 * The subject line and the plain-text body (lines end in "\n") that
 * notify_run sends for record_json.  Returns the body and sets *subject;
 * both malloc'd, the caller frees them.  NULL when record_json is not a
 * JSON object.
 */
char	*notify_text(const char *record_json, char **subject);

#endif
