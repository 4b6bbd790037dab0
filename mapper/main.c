/* mapper/main.c: sailsync-mapper's own options and channels. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

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

	if ((c = chan_open(uri, dir, side, CHAN_HWM_STAGE, err, sizeof(err))) == NULL)
		fatalx(strncmp(uri, "file:", 5) == 0 ? EX_IOERR : EX_UNAVAILABLE,
		    "cannot open channel uri=%s reason=\"%s\"", uri, err);
	return c;
}

struct args {
	const char	*in, *out;
};

static int
option(void *arg, int argc, char **argv, int *i)
{
	struct args	*g = arg;

	if (strcmp(argv[*i], "--in") == 0)
		g->in = daemon_arg(PROG, argc, argv, i, usage);
	else if (strcmp(argv[*i], "--out") == 0)
		g->out = daemon_arg(PROG, argc, argv, i, usage);
	else
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct args	 g = { NULL, NULL };
	struct daemon_spec spec = { PROG, "mapper", usage, option, NULL, NULL, &g };
	struct daemon	 d;
	struct chan	*in, **outs;
	struct mapper	*m;
	size_t		 nouts, i;
	int		 rc;

	daemon_start(&spec, argc, argv, &d);
	daemon_stop_signals(&stop);

	in = open_or_die(g.in ? g.in : d.conf.pipe.users, CHAN_IN, CHAN_CONNECT);
	nouts = g.out ? 1 : d.conf.pipe.nlanes;
	if ((outs = calloc(nouts, sizeof(*outs))) == NULL)
		fatal_oom("main");
	for (i = 0; i < nouts; i++)
		outs[i] = open_or_die(g.out ? g.out : d.conf.pipe.lanes[i],
		    CHAN_OUT, CHAN_CONNECT);
	log_info("started in=%s lanes=%zu out=%s", chan_uri(in),
	    d.conf.pipe.nlanes, g.out ? g.out : "pipeline.lanes");

	m = mapper_new(&d.conf);
	rc = mapper_loop(m, in, outs, nouts, g.out != NULL, &stop);
	mapper_destroy(&m);

	/* Closing a file: output seals the capture: every frame in it is whole. */
	for (i = 0; i < nouts; i++)
		if (chan_close(&outs[i]) == -1 && rc == 0) {
			log_warn("cannot close output");
			rc = EX_IOERR;
		}
	free(outs);
	chan_close(&in);
	return daemon_end(&d, rc);
}
