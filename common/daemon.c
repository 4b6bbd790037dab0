/* common/daemon.c: owns the stop flag that SIGTERM and SIGINT raise, and option values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "daemon.h"
#include "log.h"

static volatile sig_atomic_t *daemon_stop;

static void
daemon_on_signal(int sig)
{
	(void)sig;
	if (daemon_stop)
		*daemon_stop = 1;
}

void
daemon_stop_signals(volatile sig_atomic_t *stop)
{
	struct sigaction sa;

	daemon_stop = stop;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = daemon_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

const char *
daemon_arg(const char *prog, int argc, char **argv, int *i, void (*usage)(FILE *))
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s: %s needs an argument\n", prog, argv[*i]);
		usage(stderr);
		exit(EX_USAGE);
	}
	return argv[++*i];
}

void
daemon_log_format(const char *prog, const char *value)
{
	enum log_format f;

	if (log_format_parse(value, &f) == -1) {
		fprintf(stderr, "%s: unknown log format %s (expected text, json)\n", prog,
		    value);
		exit(EX_USAGE);
	}
	log_format_set(f);
	/* Stages the supervisor starts later inherit the choice. */
	setenv("SAILSYNC_LOG_FORMAT", value, 1);
}
