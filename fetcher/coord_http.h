/*
 * fetcher/coord_http.h: the coordinator's status server (libmicrohttpd):
 * the status page, the same data as JSON, Prometheus /metrics, and run-now.
 */
#ifndef SAILSYNC_COORD_HTTP_H
#define SAILSYNC_COORD_HTTP_H

#include <signal.h>
#include <stddef.h>

#include "conf.h"

struct coord_http;

/*
 * Starts serving c->status (listen address, token) on a thread of its own;
 * c must outlive the server.  The handlers only read the state directory
 * and the store (read-only) and queue runs with coord_enqueue, so they
 * need no lock with the coordinator.  Returns NULL with a one-line reason
 * in err (status not configured, cannot bind).  Stop with coord_http_stop.
 */
struct coord_http *coord_http_start(const struct conf *c, char *err, size_t errlen);
/* The port it listens on (the bound one when status.listen asked for 0). */
unsigned	 coord_http_port(const struct coord_http *h);
/* Stops serving (waits for requests in progress), frees and NULLs *h. */
void		 coord_http_stop(struct coord_http **h);

/*
 * Serves until *stop is set (SIGTERM), for `sailsync-fetcher status`: the
 * server alone, when no long-lived coordinator runs it.  port_file, when
 * not NULL, receives the bound port.  Returns an exit code.
 */
int		 coord_http_serve(const struct conf *c, const char *port_file,
		    volatile sig_atomic_t *stop);

#endif
