/* fetcher/fetcher.c: fetching a run's lists: authorization, export jobs, polling, spools; local files checked. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "fetcher.h"
#include "file.h"
#include "log.h"
#include "sailthru.h"
#include "timefmt.h"

volatile sig_atomic_t fetcher_stop;

#define JOB_ATTEMPTS	4		/* export jobs per list: the first and 3 more */
#define POLL_FIRST_MS	1000
#define POLL_MAX_MS	30000

static void
part_fail(struct fetcher_ctx *x, struct fetcher_part *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
part_fail(struct fetcher_ctx *x, struct fetcher_part *p, const char *fmt, ...)
{
	char	 msg[600], qg[300], ql[300], qm[700];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(p->error);
	p->error = xstrdup(msg);
	p->status = PART_FAILED;
	log_warnx("part failed run=%" PRIu64 " goal=%s list=%s error=%s", x->led.run,
	    log_quote(p->goal, qg, sizeof(qg)), log_quote(p->list, ql, sizeof(ql)),
	    log_quote(msg, qm, sizeof(qm)));
	fetcher_ctx_checkpoint(x);
}

/*
 * Maps a Sailthru failure that concerns the whole run to an exit code
 * (after one line), or returns 0 when it concerns only the item at hand.
 */
static int
api_fatal(const char *what, const struct sailthru_error *e)
{
	char	 q[600];

	switch (e->cls) {
	case SAILTHRU_EAUTH:
		log_warnx("authorization failed for %s: %s", what,
		    log_quote(e->msg, q, sizeof(q)));
		return EX_NOPERM;
	case SAILTHRU_ERATE:
	case SAILTHRU_ERETRY:
		log_warnx("Sailthru unavailable at %s (%s): %s", what,
		    sailthru_class_name(e->cls), log_quote(e->msg, q, sizeof(q)));
		return EX_UNAVAILABLE;
	case SAILTHRU_ECONFIG:
		log_warnx("Sailthru client configuration: %s: %s", what,
		    log_quote(e->msg, q, sizeof(q)));
		return EX_CONFIG;
	}
	return 0;
}

/*
 * The key must reach list, user and job.  A "not found" answer from user
 * and job proves the endpoint was reached and the signature accepted.
 */
static int
auth_check(struct fetcher_ctx *x)
{
	static const struct {
		const char *endpoint, *json;
	} probes[] = {
		{ "list", "{}" },
		{ "user", "{\"id\":\"authcheck@sailsync.invalid\"}" },
		{ "job", "{\"job_id\":\"000000000000000000000000\"}" },
	};
	struct sailthru_error e;
	char	*body;
	int	 rc;

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		body = NULL;
		memset(&e, 0, sizeof(e));
		if (sailthru_call(x->api, "GET", probes[i].endpoint, probes[i].json,
		    &body, &e) == 0) {
			free(body);
			continue;
		}
		if (e.cls == SAILTHRU_ENOTFOUND || e.cls == SAILTHRU_EPERM)
			continue;
		if ((rc = api_fatal(probes[i].endpoint, &e)) != 0)
			return rc;
	}
	log_info("authorized connection=%s endpoints=list,user,job", x->cn->name);
	return 0;
}

static void
spool_path(struct fetcher_ctx *x, const struct fetcher_part *p, char *out, size_t outlen)
{
	char	 g[256];

	fetcher_safe_name(p->goal, g, sizeof(g));
	snprintf(out, outlen, "%s/spool/%" PRIu64 "-%s-%u.csv", x->dir, x->led.run, g,
	    p->index);
}

/* Starts an export job for p.  Returns 0 or an exit code. */
static int
job_start(struct fetcher_ctx *x, struct fetcher_part *p)
{
	struct sailthru_error e;
	char	*id = NULL, q[300];
	int	 rc;

	if (p->attempts >= JOB_ATTEMPTS) {
		part_fail(x, p, "list \"%s\": gave up after %u export jobs (export URL "
		    "expired, job vanished or failed each time)", p->list, p->attempts);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	if (sailthru_job_export_list(x->api, p->list, &id, &e) == -1) {
		if ((rc = api_fatal("job", &e)) != 0)
			return rc;
		part_fail(x, p, "list \"%s\": export job: %s", p->list, e.msg);
		return 0;
	}
	free(p->job_id);
	p->job_id = id;
	p->attempts++;
	p->status = PART_JOB;
	p->job_started_ms = time_mono_ms();
	p->next_poll_ms = p->job_started_ms + POLL_FIRST_MS;
	p->poll_wait_ms = POLL_FIRST_MS;
	/* Recorded before polling: a rerun polls this job instead of a new one. */
	fetcher_ctx_checkpoint(x);
	log_info("export job started run=%" PRIu64 " list=%s job_id=%s attempt=%u",
	    x->led.run, log_quote(p->list, q, sizeof(q)), id, p->attempts);
	return 0;
}

static int
part_ready(struct fetcher_ctx *x, struct fetcher_part *p, const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	if (p->spool == NULL || strcmp(p->spool, path) != 0) {
		free(p->spool);
		p->spool = xstrdup(path);
	}
	p->size = (int64_t)st.st_size;
	p->status = PART_READY;
	fetcher_ctx_checkpoint(x);
	return 0;
}

/* One poll of p's job, and the download once it is done.  0 or an exit code. */
static int
job_poll(struct fetcher_ctx *x, struct fetcher_part *p)
{
	struct sailthru_job j;
	struct sailthru_error e;
	char	 path[4096], q[300];
	int	 rc = 0;

	memset(&j, 0, sizeof(j));
	memset(&e, 0, sizeof(e));
	if (sailthru_job_get(x->api, p->job_id, &j, &e) == -1) {
		if ((rc = api_fatal("job", &e)) != 0)
			return rc;
		if (e.cls == SAILTHRU_ENOTFOUND) {
			log_warnx("export job vanished run=%" PRIu64 " list=%s job_id=%s",
			    x->led.run, log_quote(p->list, q, sizeof(q)), p->job_id);
			return job_start(x, p);
		}
		part_fail(x, p, "list \"%s\": job %s: %s", p->list, p->job_id, e.msg);
		return 0;
	}
	if (j.status && strcmp(j.status, "completed") == 0 && j.export_url) {
		spool_path(x, p, path, sizeof(path));
		memset(&e, 0, sizeof(e));
		if (sailthru_download(x->api, j.export_url, path, NULL, NULL, &e) == 0) {
			if (part_ready(x, p, path) == -1)
				fatal(EX_IOERR, "spool vanished path=%s", path);
			log_info("spool ready run=%" PRIu64 " list=%s bytes=%" PRId64,
			    x->led.run, log_quote(p->list, q, sizeof(q)), p->size);
		} else if (e.cls == SAILTHRU_ENOTFOUND) {
			log_warnx("export URL expired run=%" PRIu64 " list=%s jobs=%u",
			    x->led.run, log_quote(p->list, q, sizeof(q)), p->attempts);
			rc = job_start(x, p);
		} else if ((rc = api_fatal("download", &e)) == 0)
			part_fail(x, p, "list \"%s\": download: %s", p->list, e.msg);
	} else if (j.status && strcmp(j.status, "error") == 0) {
		/*
		 * Retried inside the run, so the lists that worked are not
		 * imported a second time by a rerun (their sum columns would
		 * count twice).  Bounded by JOB_ATTEMPTS jobs per list.
		 */
		if (p->attempts < JOB_ATTEMPTS) {
			char qe[300];

			log_warnx("export job failed, starting another run=%" PRIu64
			    " list=%s job_id=%s attempt=%u error=%s", x->led.run,
			    log_quote(p->list, q, sizeof(q)), p->job_id, p->attempts,
			    log_quote(j.error ? j.error : "no reason given", qe,
			    sizeof(qe)));
			rc = job_start(x, p);
		} else
			part_fail(x, p, "list \"%s\": export job failed: %s (%u jobs)",
			    p->list, j.error ? j.error : "no reason given", p->attempts);
	} else if (j.status && strcmp(j.status, "completed") == 0) {
		part_fail(x, p, "list \"%s\": export job completed without export_url",
		    p->list);
	} else if (time_mono_ms() - p->job_started_ms >=
	    (int64_t)x->cn->poll_cap_s * 1000) {
		part_fail(x, p, "list \"%s\": export job %s not done after %u s",
		    p->list, p->job_id, x->cn->poll_cap_s);
	} else {
		p->next_poll_ms = time_mono_ms() + p->poll_wait_ms;
		p->poll_wait_ms = p->poll_wait_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS :
		    p->poll_wait_ms * 2;
	}
	sailthru_job_clear(&j);
	return rc;
}

/* Sleeps ms in short slices so that a signal stops it promptly. */
static void
nap(int64_t ms)
{
	while (ms > 0 && !fetcher_stop) {
		struct timespec ts;
		int64_t	 d = ms > 100 ? 100 : ms;

		ts.tv_sec = 0;
		ts.tv_nsec = (long)d * 1000000L;
		nanosleep(&ts, NULL);
		ms -= d;
	}
}

/*
 * Brings every list part to READY or FAILED: resolves the names, starts
 * all export jobs, then polls them with backoff and downloads each export
 * once its job is done.  Returns 0 or an exit code.
 */
static int
fetch_lists(struct fetcher_ctx *x)
{
	struct sailthru_list *lists = NULL;
	struct sailthru_error e;
	size_t	 nlists = 0;
	int	 rc, pending;

	memset(&e, 0, sizeof(e));
	if (sailthru_list_all(x->api, &lists, &nlists, &e) == -1)
		return (rc = api_fatal("list", &e)) ? rc : EX_UNAVAILABLE;
	for (size_t i = 0; i < x->led.nparts; i++) {
		struct fetcher_part *p = &x->led.parts[i];
		size_t	 k;

		if (p->file || p->status == PART_READY || p->status == PART_FAILED ||
		    p->status == PART_DONE)
			continue;
		for (k = 0; k < nlists; k++)
			if (strcmp(lists[k].name, p->list) == 0)
				break;
		if (k == nlists) {
			p->email_count = 0;
			part_fail(x, p, "list \"%s\": unknown list", p->list);
			continue;
		}
		p->email_count = lists[k].email_count;
	}
	sailthru_lists_free(lists, nlists);

	/* Start every job first, so Sailthru works on them in parallel. */
	for (size_t i = 0; i < x->led.nparts; i++) {
		struct fetcher_part *p = &x->led.parts[i];

		if (fetcher_stop)
			return EX_TEMPFAIL;
		if (!p->file && p->status == PART_NEW && (rc = job_start(x, p)) != 0)
			return rc;
		if (p->status == PART_JOB && p->job_started_ms == 0) {
			char	 path[4096];

			/* A spool under its final name is whole (see the ledger). */
			spool_path(x, p, path, sizeof(path));
			if (part_ready(x, p, path) == 0)
				continue;
			/* Resumed: poll the job recorded by the killed run. */
			p->job_started_ms = time_mono_ms();
			p->next_poll_ms = p->job_started_ms;
			p->poll_wait_ms = POLL_FIRST_MS;
		}
	}
	for (;;) {
		int64_t	 now = time_mono_ms(), next = INT64_MAX;

		pending = 0;
		for (size_t i = 0; i < x->led.nparts; i++) {
			struct fetcher_part *p = &x->led.parts[i];

			if (fetcher_stop)
				return EX_TEMPFAIL;
			if (p->file || p->status != PART_JOB)
				continue;
			if (p->next_poll_ms <= now && (rc = job_poll(x, p)) != 0)
				return rc;
			if (p->status == PART_JOB) {
				pending++;
				if (p->next_poll_ms < next)
					next = p->next_poll_ms;
			}
		}
		if (pending == 0)
			return 0;
		nap(next - time_mono_ms());
	}
}

/*
 * A file goal's file is its own spool.  Its size and mtime are recorded
 * when the run starts; if a resumed run finds them changed, the sequence
 * numbers already sent no longer describe the file, so the run fails.
 * Returns 0, or EX_DATAERR after one line.
 */
static int
check_files(struct fetcher_ctx *x)
{
	for (size_t i = 0; i < x->led.nparts; i++) {
		struct fetcher_part *p = &x->led.parts[i];
		struct stat st;

		if (!p->file || p->status == PART_FAILED || p->status == PART_DONE)
			continue;
		if (stat(p->list, &st) == -1) {
			if (p->status == PART_READY) {
				log_warnx("file vanished under run=%" PRIu64 " path=%s",
				    x->led.run, p->list);
				return EX_DATAERR;
			}
			part_fail(x, p, "file \"%s\": %s", p->list, strerror(errno));
			continue;
		}
		if (p->status == PART_READY) {
			if ((int64_t)st.st_size != p->size ||
			    (int64_t)st.st_mtime != p->mtime) {
				log_warnx("file changed since run %" PRIu64 " started path=%s "
				    "size=%" PRId64 "->%lld mtime=%" PRId64 "->%lld; the run "
				    "cannot be resumed", x->led.run, p->list, p->size,
				    (long long)st.st_size, p->mtime, (long long)st.st_mtime);
				return EX_DATAERR;
			}
			continue;
		}
		p->size = (int64_t)st.st_size;
		p->mtime = (int64_t)st.st_mtime;
		free(p->spool);
		p->spool = xstrdup(p->list);
		p->status = PART_READY;
	}
	fetcher_ctx_checkpoint(x);
	return 0;
}

/* Does some list still need Sailthru (a job to start or to poll)? */
static int
needs_api(const struct fetcher_ledger *l)
{
	for (size_t i = 0; i < l->nparts; i++)
		if (!l->parts[i].file && (l->parts[i].status == PART_NEW ||
		    l->parts[i].status == PART_JOB))
			return 1;
	return 0;
}

void
fetcher_spool_sweep(struct fetcher_ctx *x, int keep_current)
{
	char	 d[2200], f[4400], pfx[32];
	DIR	*dp;
	struct dirent *de;

	snprintf(d, sizeof(d), "%s/spool", x->dir);
	snprintf(pfx, sizeof(pfx), "%" PRIu64 "-", x->led.run);
	if ((dp = opendir(d)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (keep_current && strncmp(de->d_name, pfx, strlen(pfx)) == 0)
			continue;
		snprintf(f, sizeof(f), "%s/%s", d, de->d_name);
		if (unlink(f) == 0)
			log_debug("spool removed path=%s", f);
	}
	closedir(dp);
}

int
fetcher_fetch(struct fetcher_ctx *x)
{
	struct sailthru_opts so;
	char	 err[600];
	int	 rc;

	if ((rc = check_files(x)) != 0)
		return rc;
	if (strcmp(x->led.state, "fetching") != 0 || !needs_api(&x->led))
		return 0;
	memset(&so, 0, sizeof(so));
	so.base_url = x->cn->base_url;
	so.api_key = x->cn->api_key;
	so.secret = x->cn->secret;
	so.ca_file = x->cn->ca_file;
	if ((x->api = sailthru_new(&so, err, sizeof(err))) == NULL) {
		log_warnx("connection %s: %s", x->cn->name, err);
		return EX_CONFIG;
	}
	if ((rc = auth_check(x)) != 0)
		return rc;
	return fetch_lists(x);
}
