/* writer/main.c: sailsync-writer's arguments; the daemon and the read-only commands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "chan.h"
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

int
main(int argc, char **argv)
{
	const char	*cfile = NULL, *in_uri = NULL, *acks_uri = NULL, *cmd = NULL;
	const char	*what = NULL;
	enum log_level	 level = LOG_INFO;
	unsigned long long lane = 0, run = 0;
	struct conf	 conf;
	int		 check = 0, have_lane = 0, have_run = 0, no_ids = 0, rc;
	char		 err[512];

	for (int a = 1; a < argc; a++) {
		const char *s = argv[a];

		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(s, "-c") == 0)
			cfile = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(s, "-n") == 0)
			check = 1;
		else if (strcmp(s, "--lane") == 0) {
			if (parse_u64(daemon_arg(PROG, argc, argv, &a, usage), 255, &lane) == -1) {
				fprintf(stderr, "sailsync-writer: bad lane %s\n", argv[a]);
				return EX_USAGE;
			}
			have_lane = 1;
		} else if (strcmp(s, "--in") == 0)
			in_uri = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(s, "--acks") == 0)
			acks_uri = daemon_arg(PROG, argc, argv, &a, usage);
		else if (strcmp(s, "--no-ids") == 0)
			no_ids = 1;
		else if (strcmp(s, "--run") == 0) {
			if (parse_u64(daemon_arg(PROG, argc, argv, &a, usage), ~0ull, &run) == -1) {
				fprintf(stderr, "sailsync-writer: bad run %s\n", argv[a]);
				return EX_USAGE;
			}
			have_run = 1;
		} else if (strcmp(s, "--log-format") == 0)
			daemon_log_format(PROG, daemon_arg(PROG, argc, argv, &a, usage));
		else if (strcmp(s, "--log-level") == 0) {
			const char *l = daemon_arg(PROG, argc, argv, &a, usage);

			if (log_level_parse(l, &level) == -1) {
				fprintf(stderr, "sailsync-writer: unknown log level %s\n", l);
				return EX_USAGE;
			}
		} else if (cmd == NULL && (strcmp(s, "dump") == 0 || strcmp(s, "show") == 0 ||
		    strcmp(s, "stats") == 0))
			cmd = s;
		else if (cmd != NULL && strcmp(cmd, "show") == 0 && what == NULL)
			what = s;
		else {
			fprintf(stderr, "sailsync-writer: unknown argument %s\n", s);
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (cfile == NULL || (cmd == NULL && !have_lane && !check) ||
	    (cmd != NULL && strcmp(cmd, "show") == 0 && what == NULL) ||
	    (cmd != NULL && strcmp(cmd, "stats") == 0 && !have_run)) {
		usage(stderr);
		return EX_USAGE;
	}
	log_init("writer", level);
	if (conf_load(cfile, &conf, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s", err);
	/* tcp:// channels use CURVE when pipeline.curve is set. */
	if (conf.pipe.curve_public != NULL && chan_curve_set(conf.pipe.curve_public,
	    conf.pipe.curve_secret, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s: pipeline.curve: %s", cfile, err);
	if (check) {
		printf("%s: configuration ok\n", cfile);
		conf_clear(&conf);
		return 0;
	}
	if (cmd == NULL && lane >= conf.store.lanes) {
		conf_clear(&conf);
		fatalx(EX_CONFIG, "lane %llu out of range: store.lanes is %u", lane,
		    conf.store.lanes);
	}
	if (cmd == NULL)
		rc = writer_serve(&conf, (unsigned)lane, in_uri, acks_uri);
	else if (strcmp(cmd, "dump") == 0)
		rc = writer_dump(&conf, no_ids, stdout);
	else if (strcmp(cmd, "show") == 0)
		rc = writer_show(&conf, what, stdout);
	else
		rc = writer_stats(&conf, run, stdout);
	conf_clear(&conf);
	return rc;
}
