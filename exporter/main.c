/*
 * exporter/main.c: the export stage's command line.  Export goals (segment
 * profiles to Sailthru users and lists) are not built yet; until they are,
 * the exporter validates the configuration and says so plainly instead of
 * pretending to run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"

#define PROG "sailsync-exporter"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sailsync-exporter -c CONFIG [-n] [--log-level LEVEL] [--log-format text|json]\n"
	    "  -c CONFIG          the sailsync configuration file\n"
	    "  -n                 check the configuration and exit\n"
	    "  --log-level LEVEL  debug, info, warn or error (default info)\n"
	    "  --log-format F     text (default) or json: one object per line\n"
	    "Export goals are not available in this version; the exporter only\n"
	    "checks the configuration.\n");
}

int
main(int argc, char **argv)
{
	struct daemon_spec spec = { PROG, "exporter", usage, NULL, NULL, NULL, NULL };
	struct daemon	 d;

	daemon_start(&spec, argc, argv, &d);
	daemon_end(&d, 0);
	fatalx(EX_UNAVAILABLE, "export goals are not available in this version");
}
