/*
 * exporter/main.c: the export stage's command line.  Export goals (segment
 * profiles to Sailthru users and lists) are not built yet; until they are,
 * the exporter validates the configuration and says so plainly instead of
 * pretending to run.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sailsync-exporter -c CONFIG [-n] [--log-level LEVEL] [--log-format text|json]\n"
	    "  -c CONFIG   the sailsync configuration file\n"
	    "  -n          check the configuration and exit\n"
	    "Export goals are not available in this version; the exporter only\n"
	    "checks the configuration.\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "log-format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*path = NULL;
	enum log_level	 lv = LOG_INFO;
	struct conf	 c;
	char		 err[1024];
	int		 ch, check = 0;

	log_init("exporter", LOG_INFO);
	while ((ch = getopt_long(argc, argv, "c:nh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'L':
			if (log_level_parse(optarg, &lv) == -1)
				fatalx(EX_USAGE, "unknown log level \"%s\"", optarg);
			log_init("exporter", lv);
			break;
		case 'F':
			daemon_log_format("sailsync-exporter", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (path == NULL) {
		usage(stderr);
		return EX_USAGE;
	}
	if (conf_load(path, &c, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s", err);
	conf_clear(&c);
	if (check) {
		log_info("configuration ok file=%s", path);
		return 0;
	}
	fatalx(EX_UNAVAILABLE, "export goals are not available in this version");
}
