/* fetcher/main.c: sailsync-fetcher's arguments and signals. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "chan.h"
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
	    "       sailsync-fetcher -c CONFIG [--log-level L] [--log-format F] status\n"
	    "           [--port-file FILE]\n"
	    "  -c CONFIG            configuration file\n"
	    "  -n                   check the configuration and exit\n"
	    "  run CONNECTION       run the connection's import goals now (or resume\n"
	    "                       its interrupted run) and wait until they are written\n"
	    "  --users URI          send USERS batches here instead of pipeline.users\n"
	    "                       (file:PATH writes a capture and does not wait for acks)\n"
	    "  --acks URI           receive acknowledgements here instead of pipeline.acks\n"
	    "  --no-progress        no progress line on a terminal\n"
	    "  --summary-json FILE  also write the run summary as JSON to FILE\n"
	    "  status               serve the status page, JSON and /metrics on\n"
	    "                       status.listen until SIGTERM (the status server alone)\n"
	    "  --port-file FILE     status: write the port listened on to FILE\n"
	    "  --log-level LEVEL    debug, info, warn or error (default info)\n"
	    "  --log-format F       text (default) or json: one object per line\n"
	    "exit: 0 done, 1 some lists failed, 64 usage, 65 a local file changed under\n"
	    "a resumed run, 69 Sailthru unavailable, 74 I/O, 75 interrupted (rerun to\n"
	    "resume), 77 authorization failed, 78 configuration\n");
}


int
main(int argc, char **argv)
{
	const char		*cfile = NULL, *cmd = NULL, *conn = NULL, *port_file = NULL;
	enum log_level		 level = LOG_INFO;
	struct fetcher_opts	 o;
	struct conf		 conf;
	const struct conf_conn	*cn;
	char			 err[1024];
	int			 check = 0, rc;

	memset(&o, 0, sizeof(o));
	o.progress = 1;
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[a], "-c") == 0)
			cfile = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(argv[a], "-n") == 0)
			check = 1;
		else if (strcmp(argv[a], "--users") == 0)
			o.users = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(argv[a], "--acks") == 0)
			o.acks = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(argv[a], "--summary-json") == 0)
			o.summary_json = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(argv[a], "--port-file") == 0)
			port_file = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(argv[a], "--no-progress") == 0)
			o.progress = 0;
		else if (strcmp(argv[a], "--log-format") == 0)
			daemon_log_format(PROG, daemon_arg(PROG, argc, argv, &a, usage));
		else if (strcmp(argv[a], "--log-level") == 0) {
			const char *l = daemon_arg(PROG, argc, argv, &a, usage);

			if (log_level_parse(l, &level) == -1) {
				fprintf(stderr, "sailsync-fetcher: unknown log level %s\n", l);
				return EX_USAGE;
			}
		} else if (argv[a][0] == '-') {
			fprintf(stderr, "sailsync-fetcher: unknown argument %s\n", argv[a]);
			usage(stderr);
			return EX_USAGE;
		} else if (cmd == NULL)
			cmd = argv[a];
		else if (conn == NULL)
			conn = argv[a];
		else {
			fprintf(stderr, "sailsync-fetcher: unexpected argument %s\n", argv[a]);
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (cfile == NULL || (!check && (cmd == NULL || (strcmp(cmd, "run") == 0 &&
	    conn == NULL) || (strcmp(cmd, "status") == 0 && conn != NULL) ||
	    (strcmp(cmd, "run") != 0 && strcmp(cmd, "status") != 0)))) {
		usage(stderr);
		return EX_USAGE;
	}
	log_init("fetcher", level);
	if (conf_load(cfile, &conf, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s", err);
	/* tcp:// channels use CURVE when pipeline.curve is set. */
	if (conf.pipe.curve_public != NULL && chan_curve_set(conf.pipe.curve_public,
	    conf.pipe.curve_secret, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s: pipeline.curve: %s", cfile, err);
	if (!check && strcmp(cmd, "status") == 0) {
		daemon_stop_signals(&fetcher_stop);
		rc = coord_http_serve(&conf, port_file, &fetcher_stop);
		conf_clear(&conf);
		return rc;
	}
	if (check && conn == NULL) {
		printf("%s: configuration ok\n", cfile);
		conf_clear(&conf);
		return 0;
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

	daemon_stop_signals(&fetcher_stop);

	rc = coord_run(&conf, cn, &o);
	chan_shutdown();
	conf_clear(&conf);
	return rc;
}
