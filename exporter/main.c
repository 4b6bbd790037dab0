/* exporter/main.c: sailsync-exporter's arguments and signals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "chan.h"
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
	    "                       are skipped; call nothing that writes, record nothing\n"
	    "  --force              go past the removal guard\n"
	    "  --summary-json FILE  also write the summary as JSON to FILE\n"
	    "  --log-level LEVEL    debug, info, warn or error (default info)\n"
	    "  --log-format F       text (default) or json: one object per line\n"
	    "exit: 0 done, 1 some users or a goal failed, 64 usage, 69 Sailthru\n"
	    "unavailable, 74 I/O, 75 interrupted (rerun to resume), 77 authorization\n"
	    "failed, 78 configuration\n");
}

int
main(int argc, char **argv)
{
	const char		*cfile = NULL, *cmd = NULL, *conn = NULL, *sjson = NULL;
	char			*goals[MAX_GOALS];
	size_t			 ngoals = 0, nst = 0;
	enum log_level		 level = LOG_INFO;
	struct exporter_opts	 o;
	struct export_stats	*st;
	struct conf		 conf;
	const struct conf_conn	*cn;
	const char		*status;
	json_t			*root, *ga;
	char			 err[1024];
	int			 check = 0, rc;
	FILE			*fp;

	memset(&o, 0, sizeof(o));
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[a], "-c") == 0)
			cfile = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(argv[a], "-n") == 0)
			check = 1;
		else if (strcmp(argv[a], "--goal") == 0) {
			if (ngoals == MAX_GOALS)
				fatalx(EX_USAGE, "at most %d --goal", MAX_GOALS);
			goals[ngoals++] = (char *)(uintptr_t)daemon_arg(PROG, argc, argv,
			    &a, usage);
		} else if (strcmp(argv[a], "--dry-run") == 0)
			o.dry_run = 1;
		else if (strcmp(argv[a], "--force") == 0)
			o.force = 1;
		else if (strcmp(argv[a], "--summary-json") == 0)
			sjson = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(argv[a], "--log-format") == 0)
			daemon_log_format(PROG, daemon_arg(PROG, argc, argv, &a, usage));
		else if (strcmp(argv[a], "--log-level") == 0) {
			const char *l = daemon_arg(PROG, argc, argv, &a, usage);

			if (log_level_parse(l, &level) == -1) {
				fprintf(stderr, "%s: unknown log level %s\n", PROG, l);
				return EX_USAGE;
			}
		} else if (argv[a][0] == '-') {
			fprintf(stderr, "%s: unknown argument %s\n", PROG, argv[a]);
			usage(stderr);
			return EX_USAGE;
		} else if (cmd == NULL)
			cmd = argv[a];
		else if (conn == NULL)
			conn = argv[a];
		else {
			fprintf(stderr, "%s: unexpected argument %s\n", PROG, argv[a]);
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (cfile == NULL || (cmd != NULL && (strcmp(cmd, "run") != 0 || conn == NULL))) {
		usage(stderr);
		return EX_USAGE;
	}
	log_init("exporter", level);
	if (conf_load(cfile, &conf, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s", err);
	if (check && conn == NULL) {
		printf("%s: configuration ok\n", cfile);
		conf_clear(&conf);
		return 0;
	}
	if (cmd == NULL) {
		if (conf.pipe.export == NULL) {
			conf_clear(&conf);
			fatalx(EX_CONFIG, "%s: pipeline.export and pipeline.export_results "
			    "are needed to serve export requests", cfile);
		}
		/* tcp:// channels use CURVE when pipeline.curve is set. */
		if (conf.pipe.curve_public != NULL && chan_curve_set(conf.pipe.curve_public,
		    conf.pipe.curve_secret, err, sizeof(err)) == -1)
			fatalx(EX_CONFIG, "%s: pipeline.curve: %s", cfile, err);
		daemon_stop_signals(&exporter_stop);
		rc = exporter_serve(&conf);
		chan_shutdown();
		conf_clear(&conf);
		return rc;
	}
	if ((cn = conf_conn_find(&conf, conn, strlen(conn))) == NULL) {
		conf_clear(&conf);
		fatalx(EX_CONFIG, "%s: no connection named \"%s\"", cfile, conn);
	}
	if (check) {
		printf("%s: configuration ok\n", cfile);
		conf_clear(&conf);
		return 0;
	}
	if (!cn->enabled) {
		conf_clear(&conf);
		fatalx(EX_CONFIG, "connection %s is disabled; not running it", conn);
	}
	daemon_stop_signals(&exporter_stop);
	if ((st = calloc(cn->ngoals ? cn->ngoals : 1, sizeof(*st))) == NULL)
		fatalx(EX_OSERR, "out of memory");
	rc = exporter_run(&conf, cn, goals, ngoals, &o, st, &nst);
	if (rc == 0 && nst == 0) {
		log_warnx("connection %s has no export goal; nothing to run", conn);
		rc = EX_CONFIG;
	}
	if (rc == 0) {
		status = o.dry_run ? "dry_run" : exporter_status(st, nst);
		printf("export connection %s: %s\n", conn, status);
		root = json_object();
		ga = json_array();
		for (size_t i = 0; i < nst; i++)
			json_array_append_new(ga, exporter_stats_json(&st[i], stdout));
		json_object_set_new(root, "connection", json_string(conn));
		json_object_set_new(root, "status", json_string(status));
		json_object_set_new(root, "goals", ga);
		if (sjson != NULL && ((fp = fopen(sjson, "w")) == NULL ||
		    json_dumpf(root, fp, JSON_COMPACT) == -1 || fputc('\n', fp) == EOF ||
		    fclose(fp) == EOF))
			fatal(EX_IOERR, "cannot write summary path=%s", sjson);
		json_decref(root);
		if (strcmp(status, "partial") == 0 || strcmp(status, "failed") == 0)
			rc = 1;
	}
	free(st);
	conf_clear(&conf);
	return rc;
}
