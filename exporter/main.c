/* exporter/main.c: sailsync-exporter's own options; the daemon, or one run of a connection's export goals. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "conf.h"
#include "daemon.h"
#include "exporter.h"
#include "log.h"

#define PROG "sailsync-exporter"
#define MAX_GOALS 256

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sailsync-exporter -c CONFIG [-n] [--log-level L] [--log-format F]\n"
	    "       sailsync-exporter -c CONFIG [--log-level L] [--log-format F] run CONNECTION\n"
	    "           [--goal NAME]... [--dry-run] [--force] [--summary-json FILE]\n"
	    "  -c CONFIG            configuration file\n"
	    "  -n                   check the configuration and exit\n"
	    "  (no command)         serve export requests from pipeline.export, answer\n"
	    "                       on pipeline.export_results, until SIGTERM\n"
	    "  run CONNECTION       run the connection's export goals now, in this\n"
	    "                       process (or resume its interrupted export)\n"
	    "  --goal NAME          only this export goal (repeatable)\n"
	    "  --dry-run            print per profile what would be sent and why others\n"
	    "                       are skipped, and the users that would leave the\n"
	    "                       goal's lists; call nothing that writes, record nothing\n"
	    "  --force              go past the removal guard\n"
	    "  --summary-json FILE  also write the summary as JSON to FILE\n"
	    "  --log-level LEVEL    debug, info, warn or error (default info)\n"
	    "  --log-format F       text (default) or json: one object per line\n"
	    "exit: 0 done, 1 some users or a goal failed, 64 usage, 69 Sailthru\n"
	    "unavailable, 74 I/O, 75 interrupted (rerun to resume), 77 authorization\n"
	    "failed, 78 configuration\n");
}

struct args {
	const char		*cmd, *conn, *sjson;
	char			*goals[MAX_GOALS];
	size_t			 ngoals;
	struct exporter_opts	 o;
	int			 check;
};

static int
option(void *arg, int argc, char **argv, int *i)
{
	struct args	*g = arg;
	const char	*s = argv[*i];

	if (strcmp(s, "--goal") == 0) {
		if (g->ngoals == MAX_GOALS) {
			fprintf(stderr, "%s: at most %d --goal\n", PROG, MAX_GOALS);
			exit(EX_USAGE);
		}
		g->goals[g->ngoals++] = (char *)(uintptr_t)daemon_arg(PROG, argc, argv, i,
		    usage);
	} else if (strcmp(s, "--dry-run") == 0)
		g->o.dry_run = 1;
	else if (strcmp(s, "--force") == 0)
		g->o.force = 1;
	else if (strcmp(s, "--summary-json") == 0)
		g->sjson = daemon_arg(PROG, argc, argv, i, usage);
	else if (s[0] == '-')
		return -1;
	else if (g->cmd == NULL)
		g->cmd = s;
	else if (g->conn == NULL)
		g->conn = s;
	else
		return -1;
	return 0;
}

static int
args_ok(void *arg, int check)
{
	struct args	*g = arg;

	g->check = check;
	return g->cmd != NULL && (strcmp(g->cmd, "run") != 0 || g->conn == NULL) ? -1 : 0;
}

static void
configured(void *arg, const char *path, const struct conf *c)
{
	struct args	*g = arg;
	const struct conf_conn *cn;

	if (g->conn == NULL) {
		if (!g->check && c->pipe.export == NULL)
			fatalx(EX_CONFIG, "%s: pipeline.export and pipeline.export_results "
			    "are needed to serve export requests", path);
		return;
	}
	if ((cn = conf_conn_find(c, g->conn, strlen(g->conn))) == NULL)
		fatalx(EX_CONFIG, "%s: no connection named \"%s\"", path, g->conn);
	if (!g->check && !cn->enabled)
		fatalx(EX_CONFIG, "connection %s is disabled; not running it", g->conn);
}

/* run CONNECTION: the export goals now, the summary on stdout (and as JSON). */
static int
run(const struct conf *c, struct args *g)
{
	const struct conf_conn *cn = conf_conn_find(c, g->conn, strlen(g->conn));
	struct export_result *res;
	const char	*status;
	size_t		 n = 0;
	char		*summary;
	FILE		*fp;
	int		 rc;

	if ((res = calloc(cn->ngoals ? cn->ngoals : 1, sizeof(*res))) == NULL)
		fatal_oom("exporter");
	rc = exporter_run(c, cn, g->goals, g->ngoals, &g->o, res, &n);
	if (rc == 0 && n == 0) {
		log_warnx("connection %s has no export goal; nothing to run", g->conn);
		rc = EX_CONFIG;
	}
	if (rc == 0) {
		status = g->o.dry_run ? "dry_run" : export_results_status(res, n);
		summary = export_summary(g->conn, status, res, n, stdout);
		if (g->sjson != NULL && ((fp = fopen(g->sjson, "w")) == NULL ||
		    fprintf(fp, "%s\n", summary) < 0 || fclose(fp) == EOF))
			fatal(EX_IOERR, "cannot write summary path=%s", g->sjson);
		free(summary);
		if (strcmp(status, "partial") == 0 || strcmp(status, "failed") == 0)
			rc = 1;
	}
	for (size_t i = 0; i < n; i++)
		export_result_clear(&res[i]);
	free(res);
	return rc;
}

int
main(int argc, char **argv)
{
	struct args	 g;
	struct daemon_spec spec = { PROG, "exporter", usage, option, args_ok, configured,
	    &g };
	struct daemon	 d;

	memset(&g, 0, sizeof(g));
	daemon_start(&spec, argc, argv, &d);
	daemon_stop_signals(&exporter_stop);
	if (g.cmd == NULL)
		return daemon_end(&d, exporter_serve(&d.conf));
	return daemon_end(&d, run(&d.conf, &g));
}
