/* common/daemon.h: what every stage's main does alike. */
#ifndef SAILSYNC_DAEMON_H
#define SAILSYNC_DAEMON_H

#include <signal.h>
#include <stdio.h>

/*
 * SIGTERM and SIGINT set *stop to 1 (the stage finishes its current batch
 * and exits); SIGPIPE is ignored.  The handlers are installed without
 * SA_RESTART, so a blocked receive, send or sleep returns early and the
 * caller sees *stop.
 */
void	 daemon_stop_signals(volatile sig_atomic_t *stop);

/*
 * The value of the option at argv[*i], advancing *i past it.  When it is
 * missing, says so as "PROG: OPTION needs an argument", prints usage and
 * exits 64.
 */
const char	*daemon_arg(const char *prog, int argc, char **argv, int *i,
		    void (*usage)(FILE *));

/*
 * --log-format's value: sets the log line format ("text" or "json"), or
 * says "PROG: unknown log format F" and exits 64.
 */
void	 daemon_log_format(const char *prog, const char *value);

#endif
