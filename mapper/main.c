/* mapper/main.c: sailsync-mapper's arguments, channels and signals. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "chan.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "mapper.h"

#define PROG "sailsync-mapper"

static volatile sig_atomic_t stop;


static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sailsync-mapper -c CONFIG [-n] [--in URI] [--out URI] "
	    "[--log-level LEVEL] [--log-format F]\n"
	    "       sailsync-mapper --curve-keygen FILE\n"
	    "  -c CONFIG          configuration file\n"
	    "  -n                 check the configuration and exit\n"
	    "  --in URI           read USERS batches here instead of pipeline.users\n"
	    "                     (file:PATH replays a capture)\n"
	    "  --out URI          send every batch here instead of pipeline.lanes\n"
	    "                     (file:PATH writes a capture)\n"
	    "  --log-level LEVEL  debug, info, warn or error (default info)\n"
	    "  --log-format F     text (default) or json: one object per line\n"
	    "  --curve-keygen FILE  write a new CURVE secret key to FILE (mode 0600,\n"
	    "                     which must not exist) and print its public key\n");
}


static struct chan *
open_or_die(const char *uri, enum chan_dir dir, enum chan_side side)
{
	struct chan	*c;
	char		 err[256];

	if ((c = chan_open(uri, dir, side, 0, err, sizeof(err))) == NULL)
		fatalx(strncmp(uri, "file:", 5) == 0 ? 74 : 69,
		    "cannot open channel uri=%s reason=\"%s\"", uri, err);
	return c;
}

/*
 * --curve-keygen: a keypair for pipeline.curve.  The secret key goes to a
 * new file (O_EXCL: an existing key is never overwritten) with mode 0600,
 * fsynced; the public key, which is not secret, to stdout.
 */
static int
curve_keygen(const char *path)
{
	char	 pub[41], sec[41], err[256];
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd, bad, e, rc = 0;

	if (chan_curve_keypair(pub, sec, err, sizeof(err)) == -1) {
		fprintf(stderr, "sailsync-mapper: %s\n", err);
		return EX_SOFTWARE;
	}
	sec[40] = '\n';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1) {
		fprintf(stderr, "sailsync-mapper: cannot create %s: %s\n", path,
		    strerror(errno));
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
		fprintf(stderr, "sailsync-mapper: cannot write %s: %s\n", path,
		    strerror(e));
		unlink(path);
		rc = EX_IOERR;
	} else
		printf("%s\n", pub);
	explicit_bzero(sec, sizeof(sec));
	return rc;
}

int
main(int argc, char **argv)
{
	const char	*cfile = NULL, *in_uri = NULL, *out_uri = NULL;
	enum log_level	 level = LOG_INFO;
	struct conf	 conf;
	struct chan	*in, **outs;
	struct mapper	*m;
	size_t		 nouts, i;
	int		 check = 0, rc;
	char		 err[512];

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[a], "-c") == 0)
			cfile = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(argv[a], "-n") == 0)
			check = 1;
		else if (strcmp(argv[a], "--curve-keygen") == 0)
			return curve_keygen(daemon_arg(PROG, argc, argv, &a, usage));
		else if (strcmp(argv[a], "--in") == 0)
			in_uri = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(argv[a], "--out") == 0)
			out_uri = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(argv[a], "--log-format") == 0)
			daemon_log_format(PROG, daemon_arg(PROG, argc, argv, &a, usage));
		else if (strcmp(argv[a], "--log-level") == 0) {
			const char *l = daemon_arg(PROG, argc, argv, &a, usage);

			if (log_level_parse(l, &level) == -1) {
				fprintf(stderr, "sailsync-mapper: unknown log level %s\n", l);
				return 64;
			}
		} else {
			fprintf(stderr, "sailsync-mapper: unknown argument %s\n", argv[a]);
			usage(stderr);
			return 64;
		}
	}
	if (cfile == NULL) {
		usage(stderr);
		return 64;
	}
	log_init("mapper", level);
	if (conf_load(cfile, &conf, err, sizeof(err)) == -1)
		fatalx(78, "%s", err);
	/* tcp:// channels use CURVE when pipeline.curve is set. */
	if (conf.pipe.curve_public != NULL && chan_curve_set(conf.pipe.curve_public,
	    conf.pipe.curve_secret, err, sizeof(err)) == -1)
		fatalx(78, "%s: pipeline.curve: %s", cfile, err);
	if (check) {
		printf("%s: configuration ok\n", cfile);
		conf_clear(&conf);
		return 0;
	}

	daemon_stop_signals(&stop);

	in = open_or_die(in_uri ? in_uri : conf.pipe.users, CHAN_IN, CHAN_CONNECT);
	nouts = out_uri ? 1 : conf.pipe.nlanes;
	if ((outs = calloc(nouts, sizeof(*outs))) == NULL)
		fatal(70, "out of memory");
	for (i = 0; i < nouts; i++)
		outs[i] = open_or_die(out_uri ? out_uri : conf.pipe.lanes[i],
		    CHAN_OUT, CHAN_CONNECT);
	log_info("started in=%s lanes=%zu out=%s", chan_uri(in),
	    conf.pipe.nlanes, out_uri ? out_uri : "pipeline.lanes");

	m = mapper_new(&conf);
	rc = mapper_loop(m, in, outs, nouts, out_uri != NULL, &stop);
	mapper_destroy(&m);

	/* Closing a file: output seals the capture: every frame in it is whole. */
	for (i = 0; i < nouts; i++)
		if (chan_close(&outs[i]) == -1 && rc == 0) {
			log_warn("cannot close output");
			rc = 74;
		}
	free(outs);
	chan_close(&in);
	chan_shutdown();
	conf_clear(&conf);
	return rc;
}
