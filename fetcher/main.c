/* fetcher/main.c: sailsync-fetcher's arguments and signals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "conf.h"
#include "coord.h"
#include "coord_http.h"
#include "daemon.h"
#include "fetcher.h"
#include "log.h"

#define PROG "sailsync-fetcher"


static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sailsync-fetcher -c CONFIG [-n] [--log-level L] [--log-format F] run CONNECTION\n"
	    "           [--users URI] [--acks URI] [--no-progress] [--summary-json FILE]\n"
	    "           [--retry-failed]\n"
	    "       sailsync-fetcher -c CONFIG [--log-level L] [--log-format F] status\n"
	    "           [--port-file FILE]\n"
	    "       sailsync-fetcher -c CONFIG coordinator [--clock-scale N] [--clock-start SECS]\n"
	    "       sailsync-fetcher -c CONFIG run-now CONNECTION\n"
	    "       sailsync-fetcher -c CONFIG runs CONNECTION [ID] [--json]\n"
	    "  -c CONFIG            configuration file\n"
	    "  -n                   check the configuration and exit\n"
	    "  run CONNECTION       run the connection's import goals now (or resume\n"
	    "                       its interrupted run) and wait until they are written\n"
	    "  --users URI          send USERS batches here instead of pipeline.users\n"
	    "                       (file:PATH writes a capture and does not wait for acks)\n"
	    "  --acks URI           receive acknowledgements here instead of pipeline.acks\n"
	    "  --no-progress        no progress line on a terminal\n"
	    "  --summary-json FILE  also write the run summary as JSON to FILE\n"
	    "  --retry-failed       run the lists of the last run that failed again, in\n"
	    "                       that run, without importing the others a second time\n"
	    "  status               serve the status page, JSON and /metrics on\n"
	    "                       status.listen until SIGTERM (the status server alone)\n"
	    "  --port-file FILE     status: write the port listened on to FILE\n"
	    "  coordinator          the long-lived coordinator: runs connections on\n"
	    "                       their schedules and the runs queued by run-now,\n"
	    "                       one at a time per connection\n"
	    "  --clock-scale N      coordinator: run the schedule clock N times faster\n"
	    "                       (for tests and drills)\n"
	    "  --clock-start SECS   coordinator: start the schedule clock at these UNIX\n"
	    "                       seconds instead of now (for tests and drills)\n"
	    "  run-now CONNECTION   queue a run for the coordinator and return\n"
	    "  runs CONNECTION [ID] the run history (newest first) and next runs, or one run\n"
	    "  --json               runs: print JSON\n"
	    "  --log-level LEVEL    debug, info, warn or error (default info)\n"
	    "  --log-format F       text (default) or json: one object per line\n"
	    "exit: 0 done, 1 some lists failed, 64 usage, 65 a local file changed under\n"
	    "a resumed run, 69 Sailthru unavailable, 74 I/O, 75 interrupted (rerun to\n"
	    "resume), 77 authorization failed, 78 configuration\n");
}


struct args {
	const char		*cmd, *conn, *port_file, *id;
	struct fetcher_opts	 o;
	struct coord_opts	 co;
	int			 json;
	const struct conf_conn	*cn;
};

static int
option(void *arg, int argc, char **argv, int *i)
{
	struct args	*g = arg;
	const char	*s = argv[*i];

	if (strcmp(s, "--users") == 0)
		g->o.users = daemon_arg(PROG, argc, argv, i, usage);
	else if (strcmp(s, "--acks") == 0)
		g->o.acks = daemon_arg(PROG, argc, argv, i, usage);
	else if (strcmp(s, "--summary-json") == 0)
		g->o.summary_json = daemon_arg(PROG, argc, argv, i, usage);
	else if (strcmp(s, "--port-file") == 0)
		g->port_file = daemon_arg(PROG, argc, argv, i, usage);
	else if (strcmp(s, "--no-progress") == 0)
		g->o.progress = 0;
	else if (strcmp(s, "--retry-failed") == 0)
		g->o.retry_failed = 1;
	else if (strcmp(s, "--json") == 0)
		g->json = 1;
	else if (strcmp(s, "--clock-start") == 0) {
		const char *v = daemon_arg(PROG, argc, argv, i, usage);
		char	*end;

		g->co.clock_start = strtoll(v, &end, 10);
		if (*end != '\0' || g->co.clock_start <= 0) {
			fprintf(stderr, "%s: --clock-start: expected UNIX seconds\n", PROG);
			exit(EX_USAGE);
		}
	} else if (strcmp(s, "--clock-scale") == 0) {
		const char *v = daemon_arg(PROG, argc, argv, i, usage);
		char	*end;

		g->co.clock_scale = strtod(v, &end);
		if (*end != '\0' || !(g->co.clock_scale >= 1 && g->co.clock_scale <= 1e6)) {
			fprintf(stderr, "%s: --clock-scale: expected a number from 1 to "
			    "1000000\n", PROG);
			exit(EX_USAGE);
		}
	} else if (s[0] == '-')
		return -1;
	else if (g->cmd == NULL)
		g->cmd = s;
	else if (g->conn == NULL)
		g->conn = s;
	else if (g->id == NULL && strcmp(g->cmd, "runs") == 0)
		g->id = s;
	else
		return -1;
	return 0;
}

static int
args_ok(void *arg, int check)
{
	struct args	*g = arg;

	if (check)
		return 0;
	if (g->cmd != NULL && (strcmp(g->cmd, "run") == 0 ||
	    strcmp(g->cmd, "run-now") == 0 || strcmp(g->cmd, "runs") == 0))
		return g->conn != NULL ? 0 : -1;
	if (g->cmd != NULL && (strcmp(g->cmd, "status") == 0 ||
	    strcmp(g->cmd, "coordinator") == 0))
		return g->conn == NULL ? 0 : -1;
	return -1;
}

static void
configured(void *arg, const char *path, const struct conf *c)
{
	struct args	*g = arg;

	if (g->conn != NULL &&
	    (g->cn = conf_conn_find(c, g->conn, strlen(g->conn))) == NULL)
		fatalx(EX_CONFIG, "%s: no connection named \"%s\"", path, g->conn);
}

int
main(int argc, char **argv)
{
	struct args	 g = { .o = { .progress = 1 } };
	struct daemon_spec spec = { PROG, "fetcher", usage, option, args_ok, configured, &g };
	struct daemon	 d;

	daemon_start(&spec, argc, argv, &d);
	if (strcmp(g.cmd, "run-now") == 0) {
		char	 err[1024];

		if (coord_enqueue(&d.conf, g.cn->name, COORD_TRIGGER_MANUAL, err,
		    sizeof(err)) == -1)
			fatalx(EX_IOERR, "%s", err);
		printf("run of %s queued (manual); the coordinator starts it\n", g.cn->name);
		return daemon_end(&d, 0);
	}
	if (strcmp(g.cmd, "runs") == 0)
		return daemon_end(&d, coord_runs_print(&d.conf, g.cn, g.id, g.json, stdout));
	daemon_stop_signals(&fetcher_stop);
	if (strcmp(g.cmd, "status") == 0)
		return daemon_end(&d, coord_http_serve(&d.conf, g.port_file, &fetcher_stop));
	if (strcmp(g.cmd, "coordinator") == 0)
		return daemon_end(&d, coord_serve(&d.conf, &g.co));
	g.o.trigger = COORD_TRIGGER_MANUAL;
	return daemon_end(&d, coord_run(&d.conf, g.cn, &g.o));
}
