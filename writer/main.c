/* writer/main.c: sailsync-writer's own options; the daemon and the read-only commands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "writer.h"

#define PROG "sailsync-writer"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sailsync-writer -c CONFIG --lane L [-n] [--in URI] [--acks URI|none]\n"
	    "                       [--log-level LEVEL] [--log-format F]\n"
	    "       sailsync-writer -c CONFIG dump [--no-ids]\n"
	    "       sailsync-writer -c CONFIG show ID|PROP=VALUE\n"
	    "       sailsync-writer -c CONFIG stats --run N\n"
	    "       sailsync-writer -c CONFIG relane [--from N]\n"
	    "  -c CONFIG          configuration file\n"
	    "  -n                 check the configuration and exit\n"
	    "  --lane L           the lane this writer owns (store.path/lane-L)\n"
	    "  --in URI           read PATCHES here instead of pipeline.lanes[L]\n"
	    "                     (file:PATH replays a capture, then exits)\n"
	    "  --acks URI|none    send ACKs here instead of pipeline.acks\n"
	    "  --log-level LEVEL  debug, info, warn or error (default info)\n"
	    "  --log-format F     text (default) or json: one object per line\n"
	    "  dump               every profile as canonical JSON lines, sorted;\n"
	    "                     --no-ids leaves out id, created and updated\n"
	    "  show               one profile by id or identifier\n"
	    "  stats --run N      the stored statistics of run N as JSON\n"
	    "  relane             rewrite store.path, written with another lane count\n"
	    "                     (--from N, or as the store records it), with\n"
	    "                     pipeline.lanes' count; the writers must be stopped\n"
	    "dump, show and stats only read, and are safe while writers run.\n");
}


static int
parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
	char	*end;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno || *end || *out > max ? -1 : 0;
}

struct args {
	const char		*in, *acks, *cmd, *what;
	unsigned long long	 lane, run, from;
	int			 have_lane, have_run, no_ids;
};

static int
option(void *arg, int argc, char **argv, int *i)
{
	struct args	*g = arg;
	const char	*s = argv[*i];

	if (strcmp(s, "--lane") == 0) {
		if (parse_u64(daemon_arg(PROG, argc, argv, i, usage), 255, &g->lane) == -1) {
			fprintf(stderr, "sailsync-writer: bad lane %s\n", argv[*i]);
			exit(EX_USAGE);
		}
		g->have_lane = 1;
	} else if (strcmp(s, "--in") == 0)
		g->in = daemon_arg(PROG, argc, argv, i, usage);
	else if (strcmp(s, "--acks") == 0)
		g->acks = daemon_arg(PROG, argc, argv, i, usage);
	else if (strcmp(s, "--no-ids") == 0)
		g->no_ids = 1;
	else if (strcmp(s, "--run") == 0) {
		if (parse_u64(daemon_arg(PROG, argc, argv, i, usage), ~0ull, &g->run) == -1) {
			fprintf(stderr, "sailsync-writer: bad run %s\n", argv[*i]);
			exit(EX_USAGE);
		}
		g->have_run = 1;
	} else if (strcmp(s, "--from") == 0) {
		if (parse_u64(daemon_arg(PROG, argc, argv, i, usage), 255, &g->from) == -1 ||
		    g->from == 0) {
			fprintf(stderr, "sailsync-writer: bad lane count %s\n", argv[*i]);
			exit(EX_USAGE);
		}
	} else if (g->cmd == NULL && (strcmp(s, "dump") == 0 || strcmp(s, "show") == 0 ||
	    strcmp(s, "stats") == 0 || strcmp(s, "relane") == 0))
		g->cmd = s;
	else if (g->cmd != NULL && strcmp(g->cmd, "show") == 0 && g->what == NULL)
		g->what = s;
	else
		return -1;
	return 0;
}

static int
args_ok(void *arg, int check)
{
	struct args	*g = arg;

	if ((g->cmd == NULL && !g->have_lane && !check) ||
	    (g->cmd != NULL && strcmp(g->cmd, "show") == 0 && g->what == NULL) ||
	    (g->cmd != NULL && strcmp(g->cmd, "stats") == 0 && !g->have_run) ||
	    (g->from != 0 && (g->cmd == NULL || strcmp(g->cmd, "relane") != 0)))
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct args	 g;
	struct daemon_spec spec = { PROG, "writer", usage, option, args_ok, NULL, &g };
	struct daemon	 d;
	int		 rc;

	memset(&g, 0, sizeof(g));
	daemon_start(&spec, argc, argv, &d);
	if (g.cmd == NULL && g.lane >= d.conf.store.lanes) {
		fatalx(EX_CONFIG, "lane %llu out of range: store.lanes is %u", g.lane,
		    d.conf.store.lanes);
	}
	if (g.cmd == NULL)
		rc = writer_serve(&d.conf, (unsigned)g.lane, g.in, g.acks);
	else if (strcmp(g.cmd, "dump") == 0)
		rc = writer_dump(&d.conf, g.no_ids, stdout);
	else if (strcmp(g.cmd, "show") == 0)
		rc = writer_show(&d.conf, g.what, stdout);
	else if (strcmp(g.cmd, "relane") == 0)
		rc = writer_relane(&d.conf, (unsigned)g.from, stdout);
	else
		rc = writer_stats(&d.conf, g.run, stdout);
	return daemon_end(&d, rc);
}
