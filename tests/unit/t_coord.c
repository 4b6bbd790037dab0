/* tests/unit/t_coord.c: the coordinator's run queue (fetcher/coord.c). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "log.h"
#include "tap.h"
#include "../../fetcher/coord.h"

static char dir[] = "/tmp/t_coord.XXXXXX";

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The request files in the queue (not .tmp), sorted; returns the count. */
static size_t
queue_list(const char *q, char **names, size_t max)
{
	DIR	*dp;
	struct dirent *de;
	size_t	 n = 0;

	if ((dp = opendir(q)) == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL && n < max)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(dp);
	qsort(names, n, sizeof(*names), name_cmp);
	return n;
}

int
main(void)
{
	struct conf	 c;
	char		 path[300], q[300], err[600], *names[8];
	FILE		*fp;
	json_t		*j;
	json_error_t	 je;
	size_t		 n;

	log_init("t_coord", LOG_ERR);
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/sailsync.json", dir);
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fprintf(fp, "{\"pipeline\": {\"state_dir\": \"state\"},\n"
	    " \"connections\": [{\"name\": \"acme\", \"api_key\": \"k\", \"secret\": \"s\"}]}\n");
	fclose(fp);
	if (conf_load(path, &c, err, sizeof(err)) == -1) {
		printf("Bail out! %s\n", err);
		return 1;
	}

	is_int(coord_enqueue(&c, "nope", COORD_TRIGGER_MANUAL, err, sizeof(err)), -1,
	    "unknown connection refused");
	is_str(err, "no connection named \"nope\"", "... with its name");
	is_int(coord_enqueue(&c, "acme", "cron", err, sizeof(err)), -1,
	    "unknown trigger refused");
	is_str(err, "unknown trigger \"cron\" (expected schedule, manual)", "... with a reason");

	is_int(coord_enqueue(&c, "acme", COORD_TRIGGER_MANUAL, err, sizeof(err)), 0,
	    "manual run queued");
	is_int(coord_enqueue(&c, "acme", COORD_TRIGGER_SCHEDULE, err, sizeof(err)), 0,
	    "scheduled run queued");
	snprintf(q, sizeof(q), "%s/state/acme/queue", dir);
	n = queue_list(q, names, 8);
	is_int(n, 2, "two request files, no temporary left behind");
	if (n == 2) {
		char	 f[600];

		ok(strstr(names[0], ".json") != NULL && strstr(names[0], ".tmp") == NULL,
		    "request named .json: %s", names[0]);
		snprintf(f, sizeof(f), "%s/%s", q, names[0]);
		j = json_load_file(f, 0, &je);
		ok(j != NULL, "first request is JSON");
		is_str(json_string_value(json_object_get(j, "trigger")), "manual",
		    "names sort in request order: the manual one first");
		ok(json_integer_value(json_object_get(j, "requested")) > 1700000000000LL,
		    "request time in ms");
		json_decref(j);
		snprintf(f, sizeof(f), "%s/%s", q, names[1]);
		j = json_load_file(f, 0, &je);
		is_str(json_string_value(json_object_get(j, "trigger")), "schedule",
		    "then the scheduled one");
		json_decref(j);
		free(names[0]);
		free(names[1]);
	}
	conf_clear(&c);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return done_testing();
}
