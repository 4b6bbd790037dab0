/*
 * common/daemon.h: what every stage's main does alike: the common options,
 * the log, the configuration, the CURVE keys, -n, the stop signals.
 */
#ifndef SAILSYNC_DAEMON_H
#define SAILSYNC_DAEMON_H

#include <signal.h>
#include <stdio.h>

#include "conf.h"
#include "log.h"

/*
 * A stage's part of start-up.  daemon_start parses the options every stage
 * has:
 *   -c CONFIG, -n, --log-level LEVEL, --log-format text|json, -h/--help,
 *   --curve-keygen FILE (a new pipeline keypair; needs no configuration)
 * and hands any other argument to option().  Then it sets the umask to
 * 077 (what a stage creates is personal data), starts the log as
 * `stage`, loads CONFIG (exit 78 with the loader's one line), sets the
 * pipeline's CURVE keypair from pipeline.curve (exit 78), calls configured()
 * and, with -n, prints "CONFIG: configuration ok" and exits 0.
 */
struct daemon_spec {
	const char	*prog;		/* "sailsync-mapper": messages */
	const char	*stage;		/* "mapper": the log prefix */
	void		(*usage)(FILE *);
	/*
	 * argv[*i] is not a common option: consume it (take a value with
	 * daemon_arg) and return 0, or return -1 when it is unknown (the
	 * skeleton prints usage and exits 64).  NULL: no options of its own.
	 */
	int		(*option)(void *arg, int argc, char **argv, int *i);
	/*
	 * After parsing, before the configuration is read: return -1 when the
	 * arguments are incomplete (usage, exit 64).  check is 1 with -n.
	 * NULL: nothing to check.
	 */
	int		(*args_ok)(void *arg, int check);
	/*
	 * With the configuration loaded (also with -n): the stage's own checks
	 * of it; exit with fatalx(EX_CONFIG, ...) on a problem.  NULL: none.
	 */
	void		(*configured)(void *arg, const char *path, const struct conf *c);
	void		*arg;
};

struct daemon {
	const char	*path;		/* -c */
	enum log_level	 level;
	struct conf	 conf;		/* loaded; daemon_end clears it */
};

/* Returns only for a run (not -n, --help, --curve-keygen or an error). */
void	 daemon_start(const struct daemon_spec *spec, int argc, char **argv,
	    struct daemon *d);
/* Closes the channels' context and clears d->conf.  Returns rc. */
int	 daemon_end(struct daemon *d, int rc);

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

/*
 * The heap's policy (daemon_start sets it): blocks up to DAEMON_HEAP_MMAP
 * come from the heap, not from mmap, and free memory at its top stays
 * until more than DAEMON_HEAP_TRIM of it is free, so a stage reuses the
 * memory of one batch for the next instead of faulting it in again.
 * daemon_heap_release returns every free page to the system and logs the
 * anonymous RSS after and before (the writer calls it when its input has
 * been quiet for a second).
 */
#define DAEMON_HEAP_MMAP	(32 << 20)	/* glibc's largest on 64-bit */
#define DAEMON_HEAP_TRIM	(64 << 20)
void	 daemon_heap_keep(void);
void	 daemon_heap_release(void);

/*
 * Writes a new CURVE secret key to path (created, never overwritten, mode
 * 0600, fsynced) and prints the public key on stdout.  Returns an exit
 * code: 0, 70 (no keypair), 73 (cannot create path), 74 (cannot write it).
 */
int	 daemon_curve_keygen(const char *prog, const char *path);

#endif
