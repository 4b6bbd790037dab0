/* common/daemon.h: what every stage's main does alike. */
#ifndef SAILSYNC_DAEMON_H
#define SAILSYNC_DAEMON_H

#include <signal.h>

/*
 * SIGTERM and SIGINT set *stop to 1 (the stage finishes its current batch
 * and exits); SIGPIPE is ignored.  The handlers are installed without
 * SA_RESTART, so a blocked receive, send or sleep returns early and the
 * caller sees *stop.
 */
void	 daemon_stop_signals(volatile sig_atomic_t *stop);

#endif
