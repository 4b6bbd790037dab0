/*
 * common/daemon.c: owns a stage's start-up (common options, log,
 * configuration, CURVE keys, -n), the stop flag that SIGTERM and SIGINT
 * raise, and option values.  In the spirit of Postfix's single_server_main:
 * a stage's main only names its own options and then does its work.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "chan.h"
#include "daemon.h"

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

/*
 * By default glibc maps large blocks (a batch, its decoded strings; from
 * 128 KiB, a threshold that moves with what is freed) afresh and unmaps
 * them on free, and trims the heap's top as soon as a little of it is
 * free: a stage that takes and frees such blocks for every batch faults
 * the same memory in again and again, each fault costing 13 to 21 us on
 * the virtual machines we measured (the writer took 126,000 to 188,000
 * page faults over a 1M-row import, the mapper 40,000 to 78,000; with
 * this, about 100,000 and 3,000).  Blocks up to 32 MiB come from the
 * heap instead, and the heap keeps up to 64 MiB of free memory at its
 * top.  The writer still returns its free memory when idle
 * (daemon_heap_release).
 */
void
daemon_heap_keep(void)
{
	mallopt(M_MMAP_THRESHOLD, DAEMON_HEAP_MMAP);
	mallopt(M_TRIM_THRESHOLD, DAEMON_HEAP_TRIM);
}

/* The anonymous resident memory (heap, stacks) of this process, KiB; -1. */
static long
rss_anon_kb(void)
{
	FILE	*f;
	char	 line[128];
	long	 kb = -1;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "RssAnon: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

void
daemon_heap_release(void)
{
	long	 before = rss_anon_kb();

	malloc_trim(0);
	log_info("idle: free memory returned rss_anon_kb=%ld before=%ld", rss_anon_kb(),
	    before);
}

static void
daemon_usage_exit(const struct daemon_spec *spec)
{
	spec->usage(stderr);
	exit(EX_USAGE);
}

void
daemon_start(const struct daemon_spec *spec, int argc, char **argv, struct daemon *d)
{
	char	 err[1024];
	int	 check = 0;

	memset(d, 0, sizeof(*d));
	d->level = LOG_INFO;
	for (int a = 1; a < argc; a++) {
		const char *s = argv[a];

		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			spec->usage(stdout);
			exit(0);
		} else if (strcmp(s, "-c") == 0)
			d->path = daemon_arg(spec->prog, argc, argv, &a, spec->usage);
		else if (strcmp(s, "-n") == 0)
			check = 1;
		else if (strcmp(s, "--curve-keygen") == 0)
			exit(daemon_curve_keygen(spec->prog,
			    daemon_arg(spec->prog, argc, argv, &a, spec->usage)));
		else if (strcmp(s, "--log-format") == 0)
			daemon_log_format(spec->prog,
			    daemon_arg(spec->prog, argc, argv, &a, spec->usage));
		else if (strcmp(s, "--log-level") == 0) {
			const char *l = daemon_arg(spec->prog, argc, argv, &a, spec->usage);

			if (log_level_parse(l, &d->level) == -1) {
				fprintf(stderr, "%s: unknown log level %s\n", spec->prog, l);
				exit(EX_USAGE);
			}
		} else if (spec->option == NULL || spec->option(spec->arg, argc, argv, &a) == -1) {
			fprintf(stderr, "%s: unknown argument %s\n", spec->prog, s);
			daemon_usage_exit(spec);
		}
	}
	if (d->path == NULL || (spec->args_ok != NULL && spec->args_ok(spec->arg, check) == -1))
		daemon_usage_exit(spec);
	/*
	 * umask 077, before anything is created: the store, spool, ledger,
	 * run history and ipc sockets hold personal data, so they are 0600
	 * (directories 0700) whatever umask the stage was started with.
	 */
	umask(077);
	daemon_heap_keep();
	log_init(spec->stage, d->level);
	if (conf_load(d->path, &d->conf, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s", err);
	/*
	 * tcp:// channels use CURVE when pipeline.curve is set; without it
	 * each one opened is a warning, and a bind beyond loopback is refused
	 * unless pipeline.allow_plain_tcp.
	 */
	chan_plain_tcp_allow(d->conf.pipe.allow_plain_tcp);
	if (d->conf.pipe.curve_public != NULL && chan_curve_set(d->conf.pipe.curve_public,
	    d->conf.pipe.curve_secret, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s: pipeline.curve: %s", d->path, err);
	if (spec->configured != NULL)
		spec->configured(spec->arg, d->path, &d->conf);
	if (check) {
		printf("%s: configuration ok\n", d->path);
		exit(daemon_end(d, 0));
	}
}

int
daemon_end(struct daemon *d, int rc)
{
	chan_shutdown();
	conf_clear(&d->conf);
	return rc;
}

/*
 * A keypair for pipeline.curve.  The secret key goes to a new file (O_EXCL:
 * an existing key is never overwritten) with mode 0600, fsynced; the
 * public key, which is not secret, to stdout.
 */
int
daemon_curve_keygen(const char *prog, const char *path)
{
	char	 pub[41], sec[41], err[256];
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd, bad, e, rc = 0;

	if (chan_curve_keypair(pub, sec, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return EX_SOFTWARE;
	}
	sec[40] = '\n';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1) {
		fprintf(stderr, "%s: cannot create %s: %s\n", prog, path, strerror(errno));
		explicit_bzero(sec, sizeof(sec));
		return EX_CANTCREAT;
	}
	while (off < sizeof(sec)) {
		if ((n = write(fd, sec + off, sizeof(sec) - off)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	bad = off < sizeof(sec) || fsync(fd) == -1;
	e = errno;
	if (close(fd) == -1 && !bad) {
		bad = 1;
		e = errno;
	}
	if (bad) {
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(e));
		unlink(path);
		rc = EX_IOERR;
	} else
		printf("%s\n", pub);
	explicit_bzero(sec, sizeof(sec));
	return rc;
}
