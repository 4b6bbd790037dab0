/* tests/tools/sailthru-cli.c: drives the Sailthru client from the shell (tests, operators). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "sailthru.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: sailthru-cli --base URL --key KEY (--secret S | --secret-env VAR)\n"
	    "           [--ca-file F] [--timeout-ms N] [--connect-timeout-ms N]\n"
	    "           [--max-attempts N] [--backoff-ms N] [--backoff-cap-ms N]\n"
	    "           [--repeat N] [--poll-timeout-s N] [--log-level L] CMD ...\n"
	    "commands:\n"
	    "  call METHOD ENDPOINT JSON   one API call; prints the body\n"
	    "  lists                       prints name, list_id, type, email_count\n"
	    "  export LIST                 export_list_data job; prints export_url\n"
	    "  job JOB_ID                  waits for a job; prints it as JSON\n"
	    "  download URL PATH           resumable download; prints the size\n"
	    "  upload JOB FILE [JSON]      multipart job upload; prints job_id\n"
	    "  rate METHOD ENDPOINT [JSON] one call; prints the rate-limit state\n");
	exit(EX_USAGE);
}

static int
exit_code(int cls)
{
	switch (cls) {
	case SAILTHRU_EAUTH:		return EX_NOPERM;
	case SAILTHRU_ENOTFOUND:	return EX_NOINPUT;
	case SAILTHRU_ERATE:
	case SAILTHRU_ERETRY:		return EX_TEMPFAIL;
	case SAILTHRU_ECONFIG:		return EX_CONFIG;
	default:			return EX_DATAERR;
	}
}

/* The one-line error format the tests parse. */
static int
fail(const struct sailthru_error *e)
{
	fprintf(stderr, "sailthru-cli: %s http=%ld code=%d: %s\n",
	    sailthru_class_name(e->cls), e->http, e->code, e->msg);
	return exit_code(e->cls);
}

static long
num(const char *s, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "sailthru-cli: bad %s: %s\n", what, s);
		exit(EX_USAGE);
	}
	return v;
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
is_pending(const char *status)
{
	return strcmp(status, "completed") != 0 && strcmp(status, "error") != 0 &&
	    strcmp(status, "failed") != 0;
}

/* Polls job_id until it leaves pending; 0 with j filled, or an exit code. */
static int
job_wait(struct sailthru *c, const char *job_id, long timeout_s, struct sailthru_job *j)
{
	struct sailthru_error	 e;
	time_t			 until = time(NULL) + timeout_s;
	long			 wait = 100;

	for (;;) {
		if (sailthru_job_get(c, job_id, j, &e) == -1)
			return fail(&e);
		if (!is_pending(j->status))
			return 0;
		sailthru_job_clear(j);
		if (time(NULL) >= until) {
			fprintf(stderr, "sailthru-cli: job %s still pending after %ld s\n",
			    job_id, timeout_s);
			return EX_TEMPFAIL;
		}
		sleep_ms(wait);
		wait = wait * 2 > 2000 ? 2000 : wait * 2;
	}
}

static void
print_job(const char *job_id, const struct sailthru_job *j)
{
	json_t	*o = json_object();
	char	*s;

	json_object_set_new(o, "job_id", json_string(job_id));
	json_object_set_new(o, "status", json_string(j->status));
	if (j->export_url)
		json_object_set_new(o, "export_url", json_string(j->export_url));
	if (j->error_report_url)
		json_object_set_new(o, "error_report_url", json_string(j->error_report_url));
	if (j->error)
		json_object_set_new(o, "error", json_string(j->error));
	s = json_dumps(o, JSON_COMPACT);
	printf("%s\n", s);
	free(s);
	json_decref(o);
}

static void
progress_none(void *arg, uint64_t bytes)
{
	(void)arg;
	(void)bytes;
}

int
main(int argc, char **argv)
{
	struct sailthru_opts	 o;
	struct sailthru_error	 e;
	struct sailthru		*c;
	enum log_level		 lv = LOG_INFO;
	const char		*secret_env = NULL, *cmd;
	char			 err[512], *body;
	long			 repeat = 1, poll_timeout = 600;
	int			 i, rc = 0;

	memset(&o, 0, sizeof(o));
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char	*opt = argv[i], *v;

		if (strcmp(opt, "--help") == 0)
			usage();
		if (i + 1 >= argc)
			usage();
		v = argv[++i];
		if (strcmp(opt, "--base") == 0)
			o.base_url = v;
		else if (strcmp(opt, "--key") == 0)
			o.api_key = v;
		else if (strcmp(opt, "--secret") == 0)
			o.secret = v;
		else if (strcmp(opt, "--secret-env") == 0)
			secret_env = v;
		else if (strcmp(opt, "--ca-file") == 0)
			o.ca_file = v;
		else if (strcmp(opt, "--timeout-ms") == 0)
			o.timeout_ms = num(v, "timeout");
		else if (strcmp(opt, "--connect-timeout-ms") == 0)
			o.connect_timeout_ms = num(v, "connect timeout");
		else if (strcmp(opt, "--max-attempts") == 0)
			o.max_attempts = (int)num(v, "max attempts");
		else if (strcmp(opt, "--backoff-ms") == 0)
			o.backoff_base_ms = num(v, "backoff");
		else if (strcmp(opt, "--backoff-cap-ms") == 0)
			o.backoff_cap_ms = num(v, "backoff cap");
		else if (strcmp(opt, "--repeat") == 0)
			repeat = num(v, "repeat");
		else if (strcmp(opt, "--poll-timeout-s") == 0)
			poll_timeout = num(v, "poll timeout");
		else if (strcmp(opt, "--log-level") == 0) {
			if (log_level_parse(v, &lv) == -1)
				usage();
		} else
			usage();
	}
	if (i >= argc)
		usage();
	cmd = argv[i++];
	argc -= i;
	argv += i;
	log_init("sailthru-cli", lv);
	if (secret_env != NULL) {
		if ((o.secret = getenv(secret_env)) == NULL || *o.secret == '\0') {
			fprintf(stderr, "sailthru-cli: environment variable %s is empty\n",
			    secret_env);
			return EX_CONFIG;
		}
	}
	if (o.base_url == NULL || o.api_key == NULL || o.secret == NULL)
		usage();
	if ((c = sailthru_new(&o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sailthru-cli: config http=0 code=0: %s\n", err);
		return EX_CONFIG;
	}

	if (strcmp(cmd, "call") == 0 && argc == 3) {
		for (long k = 0; k < repeat && rc == 0; k++) {
			if (sailthru_call(c, argv[0], argv[1], argv[2], &body, &e) == -1)
				rc = fail(&e);
			else {
				printf("%s\n", body);
				free(body);
			}
		}
	} else if (strcmp(cmd, "lists") == 0 && argc == 0) {
		struct sailthru_list	*l;
		size_t			 n;

		if (sailthru_list_all(c, &l, &n, &e) == -1)
			rc = fail(&e);
		else {
			for (size_t k = 0; k < n; k++)
				printf("%s\t%s\t%s\t%lld\n", l[k].name,
				    l[k].list_id ? l[k].list_id : "",
				    l[k].type ? l[k].type : "", (long long)l[k].email_count);
			sailthru_lists_free(l, n);
		}
	} else if (strcmp(cmd, "export") == 0 && argc == 1) {
		struct sailthru_job	 j;
		char			*job_id;

		if (sailthru_job_export_list(c, argv[0], &job_id, &e) == -1)
			rc = fail(&e);
		else {
			if ((rc = job_wait(c, job_id, poll_timeout, &j)) == 0) {
				if (strcmp(j.status, "completed") != 0 || j.export_url == NULL) {
					fprintf(stderr, "sailthru-cli: job %s ended status=%s%s%s\n",
					    job_id, j.status, j.error ? " error=" : "",
					    j.error ? j.error : "");
					rc = EX_DATAERR;
				} else
					printf("%s\n", j.export_url);
				sailthru_job_clear(&j);
			}
			free(job_id);
		}
	} else if (strcmp(cmd, "job") == 0 && argc == 1) {
		struct sailthru_job	 j;

		if ((rc = job_wait(c, argv[0], poll_timeout, &j)) == 0) {
			print_job(argv[0], &j);
			if (strcmp(j.status, "completed") != 0)
				rc = EX_DATAERR;
			sailthru_job_clear(&j);
		}
	} else if (strcmp(cmd, "download") == 0 && argc == 2) {
		if (sailthru_download(c, argv[0], argv[1], progress_none, NULL, &e) == -1)
			rc = fail(&e);
		else
			printf("downloaded %s\n", argv[1]);
	} else if (strcmp(cmd, "upload") == 0 && (argc == 2 || argc == 3)) {
		json_t		*args;
		json_error_t	 jerr;
		char		*json, *job_id;

		args = json_loads(argc == 3 ? argv[2] : "{}", 0, &jerr);
		if (!json_is_object(args)) {
			fprintf(stderr, "sailthru-cli: JSON must be an object: %s\n", jerr.text);
			json_decref(args);
			sailthru_destroy(&c);
			return EX_USAGE;
		}
		json_object_set_new(args, "job", json_string(argv[0]));
		json = json_dumps(args, JSON_COMPACT);
		json_decref(args);
		if (sailthru_job_upload(c, json, argv[1], &job_id, &e) == -1)
			rc = fail(&e);
		else {
			printf("%s\n", job_id);
			free(job_id);
		}
		free(json);
	} else if (strcmp(cmd, "rate") == 0 && (argc == 2 || argc == 3)) {
		struct sailthru_rate	 r;

		for (long k = 0; k < repeat && rc == 0; k++) {
			if (sailthru_call(c, argv[0], argv[1], argc == 3 ? argv[2] : "{}",
			    &body, &e) == -1)
				rc = fail(&e);
			free(body);
		}
		sailthru_rate_get(c, argv[0], argv[1], &r);
		if (r.known)
			printf("limit=%ld remaining=%ld reset=%lld\n", r.limit, r.remaining,
			    (long long)r.reset);
		else
			printf("unknown\n");
	} else {
		sailthru_destroy(&c);
		usage();
	}
	sailthru_destroy(&c);
	return rc;
}
