/* fetcher/coord_run.c: one run of a connection, as the coordinator drives it: plan, lock, ledger, fetch, stream, record. */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "coord.h"
#include "export_client.h"
#include "fetcher.h"
#include "file.h"
#include "log.h"
#include "notify.h"
#include "sailthru.h"
#include "stats.h"
#include "timefmt.h"

/* The parts the configuration asks for, in order. */
static void
parts_from_conf(const struct conf_conn *cn, struct fetcher_part **out, size_t *n)
{
	struct fetcher_part *v = NULL;
	size_t	 k = 0, cap = 0;

	for (size_t g = 0; g < cn->ngoals; g++) {
		const struct conf_goal *goal = &cn->goals[g];
		size_t	 m = goal->kind == GOAL_IMPORT ? goal->nlists :
		    goal->kind == GOAL_FILE ? 1 : 0;

		for (size_t i = 0; i < m; i++) {
			if (k == cap) {
				cap = cap ? cap * 2 : 8;
				if ((v = realloc(v, cap * sizeof(*v))) == NULL)
					fatal_oom("coord_run");
			}
			memset(&v[k], 0, sizeof(v[k]));
			v[k].goal = xstrdup(goal->name);
			v[k].index = (uint32_t)i;
			v[k].file = goal->kind == GOAL_FILE;
			v[k].list = xstrdup(v[k].file ? goal->path : goal->lists[i]);
			v[k].format = v[k].file && goal->format == FMT_JSONL ?
			    FMT_JSONL : FMT_CSV;
			v[k].email_count = -1;
			k++;
		}
	}
	*out = v;
	*n = k;
}

/* Does the ledger's unfinished run still match the configuration? */
static int
run_matches(const struct fetcher_ledger *l, const struct fetcher_part *p, size_t n,
    size_t nlanes)
{
	if (l->nparts != n || l->nlanes != nlanes)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(l->parts[i].goal, p[i].goal) != 0 ||
		    strcmp(l->parts[i].list, p[i].list) != 0 ||
		    l->parts[i].file != p[i].file || l->parts[i].index != p[i].index)
			return 0;
	return 1;
}

static void
parts_free(struct fetcher_part *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].goal);
		free(p[i].list);
	}
	free(p);
}

/*
 * --retry-failed on a run that ended: the same run (same id, same record)
 * again, for its lists that failed before any of their rows was numbered.
 * The lists that were imported are not read again (PART_DONE), so their
 * sum and add columns count once; the retried lists' rows are numbered
 * after what each lane had (lanes[].base), so the writers, whose applied
 * point for the run is that total, apply them once too.  A list that
 * failed after some of its rows were imported is not retried: its rows
 * would be applied twice.  Returns 0 (the run is open again), -1 when
 * there is nothing to retry (said), or an exit code.
 */
static int
retry_open(struct fetcher_ctx *x, const struct fetcher_part *want, size_t nwant,
    size_t nlanes)
{
	struct fetcher_ledger *l = &x->led;
	size_t	 n = 0;
	char	 q[300];

	if (l->run == 0) {
		log_warnx("connection %s has no run to retry", x->cn->name);
		return EX_DATAERR;
	}
	if (strcmp(l->state, "done") != 0) {
		log_warnx("run %" PRIu64 " of %s could not go on (state %s): a retry "
		    "cannot tell what it imported; run the connection again", l->run,
		    x->cn->name, l->state);
		return EX_DATAERR;
	}
	if (!run_matches(l, want, nwant, nlanes)) {
		log_warnx("run %" PRIu64 " of %s cannot be retried: the goals, lists or "
		    "lanes changed since it ran; run the connection again", l->run,
		    x->cn->name);
		return EX_CONFIG;
	}
	for (size_t i = 0; i < l->nparts; i++) {
		struct fetcher_part *p = &l->parts[i];

		if (p->status != PART_FAILED) {
			p->status = PART_DONE;
			continue;
		}
		if (p->rows > 0) {
			log_warnx("not retried run=%" PRIu64 " list=%s: %" PRIu64 " of its "
			    "rows were imported before it failed", l->run,
			    log_quote(p->list, q, sizeof(q)), p->rows);
			continue;
		}
		free(p->job_id);
		free(p->spool);
		free(p->error);
		free(p->warning);
		p->job_id = p->spool = p->error = p->warning = NULL;
		p->status = PART_NEW;
		p->attempts = 0;
		p->skipped = 0;
		p->email_count = -1;
		n++;
	}
	if (n == 0) {
		log_info("nothing to retry run=%" PRIu64 " connection=%s: no list failed "
		    "before its rows were read", l->run, x->cn->name);
		return -1;
	}
	for (size_t i = 0; i < l->nlanes; i++)
		l->lanes[i].base = l->lanes[i].total;
	l->totals_known = 0;
	/* What the earlier passes set aside stays counted; the retried lists add theirs. */
	for (size_t i = 0; i < l->nskips_base; i++)
		stats_clear(&l->skips_base[i]);
	free(l->skips_base);
	l->skips_base = l->skips;
	l->nskips_base = l->nskips;
	l->skips = NULL;
	l->nskips = 0;
	l->retries++;
	snprintf(l->state, sizeof(l->state), "fetching");
	fetcher_ctx_checkpoint(x);
	log_info("run retried run=%" PRIu64 " connection=%s lists=%zu retry=%u", l->run,
	    x->cn->name, n, l->retries);
	return 0;
}

/*
 * Starts a new run, or resumes the unfinished one, or (--retry-failed)
 * opens the last one again.  0, -1 when the coordinator's request this
 * process serves was already run or there is nothing to retry (nothing
 * to do), or an exit code.
 */
static int
run_open(struct fetcher_ctx *x)
{
	struct fetcher_part *want;
	size_t	 nwant;
	char	 err[600];
	unsigned nlanes = (unsigned)x->conf->pipe.nlanes;

	if (fetcher_ledger_load(x->ledger_path, &x->led, err, sizeof(err)) == -1) {
		if (errno != ENOENT) {
			log_warnx("cannot read ledger: %s", err);
			return EX_IOERR;
		}
		memset(&x->led, 0, sizeof(x->led));
		x->led.conn = xstrdup(x->cn->name);
	}
	parts_from_conf(x->cn, &want, &nwant);
	/*
	 * The request was run already: its run closed but was stopped or
	 * killed before its request file went.  Running it again would be
	 * an extra run.
	 */
	if ((strcmp(x->led.state, "done") == 0 || strcmp(x->led.state, "failed") == 0) &&
	    x->opts->request != NULL && x->led.request != NULL &&
	    strcmp(x->led.request, x->opts->request) == 0) {
		log_info("request already run request=%s run=%" PRIu64 " connection=%s",
		    x->opts->request, x->led.run, x->cn->name);
		parts_free(want, nwant);
		return -1;
	}
	/* --retry-failed on an unfinished run resumes it, as any rerun does. */
	if (x->opts->retry_failed && !(x->led.run != 0 &&
	    (strcmp(x->led.state, "fetching") == 0 || strcmp(x->led.state,
	    "streaming") == 0 || strcmp(x->led.state, "exporting") == 0))) {
		int r = retry_open(x, want, nwant, nlanes);

		parts_free(want, nwant);
		return r;
	}
	if (x->led.run != 0 && (strcmp(x->led.state, "fetching") == 0 ||
	    strcmp(x->led.state, "streaming") == 0 ||
	    strcmp(x->led.state, "exporting") == 0)) {
		if (run_matches(&x->led, want, nwant, nlanes)) {
			log_info("run resumed run=%" PRIu64 " connection=%s state=%s",
			    x->led.run, x->cn->name, x->led.state);
			x->resumed = 1;
			parts_free(want, nwant);
			return 0;
		}
		log_warnx("run %" PRIu64 " abandoned: the goals, lists or lanes changed "
		    "since it started", x->led.run);
		{
			const char *st;
			char	*json = coord_summary(x, "abandoned", "the goals, lists or "
			    "lanes changed since it started", &st, NULL);

			coord_history_write(x->dir, x->led.run, json, x->conf->pipe.history);
			notify_run(x->conf, x->cn, json);
			free(json);
		}
	}
	/* A new run. */
	{
		uint64_t id = x->led.last_run;
		char	*conn = x->led.conn;

		x->led.conn = NULL;
		fetcher_ledger_clear(&x->led);
		x->led.conn = conn;
		if (fetcher_run_id_next(x->conf->pipe.state_dir, &id) == -1) {
			log_warn("cannot take a run id state_dir=%s",
			    x->conf->pipe.state_dir);
			parts_free(want, nwant);
			return EX_IOERR;
		}
		x->led.run = x->led.last_run = id;
		x->led.request = x->opts->request ? xstrdup(x->opts->request) : NULL;
	}
	snprintf(x->led.state, sizeof(x->led.state), "fetching");
	x->led.started_ms = time_now_ms();
	x->led.parts = want;
	x->led.nparts = nwant;
	x->led.nlanes = nlanes;
	if ((x->led.lanes = calloc(nlanes, sizeof(*x->led.lanes))) == NULL)
		fatal_oom("coord_run");
	fetcher_ctx_checkpoint(x);
	fetcher_spool_sweep(x, 1);
	log_info("run started run=%" PRIu64 " connection=%s parts=%zu lanes=%u",
	    x->led.run, x->cn->name, nwant, nlanes);
	return 0;
}

/*
 * Records the run (status from its parts, or force with error) and closes
 * it: history record first, then the ledger says state ("done" or
 * "failed"), so a crash in between records it again, never loses it.
 * Then the coordinator's request goes (the ledger now says it was run),
 * then the spools, and the people to notify are told.  Returns
 * FETCHER_EXIT_OK for "ok" and "empty", FETCHER_EXIT_FAILED for "failed"
 * (nothing imported or exported), FETCHER_EXIT_PARTIAL for the others.
 */
static int
run_close(struct fetcher_ctx *x, const char *force, const char *error, const char *state)
{
	const char *status;
	char	*json, q[600];
	FILE	*fp;

	json = coord_summary(x, force, error, &status, x->opts->quiet ? NULL :
	    x->opts->summary_out ? x->opts->summary_out : stdout);
	coord_history_write(x->dir, x->led.run, json, x->conf->pipe.history);
	snprintf(x->led.state, sizeof(x->led.state), "%s", state);
	fetcher_ctx_checkpoint(x);
	if (x->led.request != NULL) {
		char	 req[2400];

		snprintf(req, sizeof(req), "%s/queue/%s", x->dir, x->led.request);
		if (unlink(req) == -1 && errno != ENOENT)
			log_warn("cannot remove run request path=%s", req);
	}
	fetcher_spool_sweep(x, 0);
	if (x->opts->summary_json) {
		if ((fp = fopen(x->opts->summary_json, "w")) == NULL ||
		    fputs(json, fp) == EOF || fputc('\n', fp) == EOF ||
		    fclose(fp) == EOF)
			fatal(EX_IOERR, "cannot write summary path=%s",
			    x->opts->summary_json);
	}
	log_info("run finished run=%" PRIu64 " connection=%s status=%s%s%s", x->led.run,
	    x->cn->name, status, error ? " error=" : "",
	    error ? log_quote(error, q, sizeof(q)) : "");
	/* After the record is durable; a failed notification never fails the run. */
	notify_run(x->conf, x->cn, json);
	free(json);
	if (strcmp(status, "ok") == 0 || strcmp(status, "empty") == 0)
		return FETCHER_EXIT_OK;
	return strcmp(status, "failed") == 0 ? FETCHER_EXIT_FAILED :
	    FETCHER_EXIT_PARTIAL;
}

/*
 * A run refused before it started (disabled, nothing to run): recorded
 * with a run id of its own, no goals, and why.
 */
static uint64_t
record_refused(const struct conf *c, const struct conf_conn *cn,
    const struct fetcher_opts *o, const char *why)
{
	char	 dir[2200], d[2300];
	uint64_t id = 0;
	json_t	*r;
	char	*json;

	if (c->pipe.state_dir == NULL)
		return 0;
	snprintf(dir, sizeof(dir), "%s/%s", c->pipe.state_dir, cn->name);
	snprintf(d, sizeof(d), "%s/runs", dir);
	if (file_mkdirs(d, 0700) == -1)
		fatal(EX_CANTCREAT, "cannot create directory path=%s", d);
	if (fetcher_run_id_next(c->pipe.state_dir, &id) == -1)
		fatal(EX_IOERR, "cannot take a run id state_dir=%s", c->pipe.state_dir);
	r = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:i, s:i, s:f, s:[]}",
	    "run", (json_int_t)id, "connection", cn->name, "trigger",
	    o->trigger ? o->trigger : COORD_TRIGGER_MANUAL, "status", "refused",
	    "error", why, "started", (json_int_t)time_now_ms(), "duration_ms", 0,
	    "rows", 0, "rows_per_s", 0.0, "goals");
	if (r == NULL || (json = json_dumps(r, JSON_PRESERVE_ORDER | JSON_COMPACT)) == NULL)
		fatal(EX_OSERR, "out of memory");
	json_decref(r);
	coord_history_write(dir, id, json, c->pipe.history);
	notify_run(c, cn, json);
	free(json);
	return id;
}

/* Takes the connection's lock; a second run of it waits (runs queue). */
static int
conn_lock(struct fetcher_ctx *x)
{
	char	 path[2200];
	int	 fd;

	snprintf(path, sizeof(path), "%s/lock", x->dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		fatal(EX_IOERR, "cannot open lock path=%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	log_info("waiting for the current run of connection=%s", x->cn->name);
	while (flock(fd, LOCK_EX) == -1) {
		if (errno != EINTR)
			fatal(EX_IOERR, "cannot lock path=%s", path);
		if (fetcher_stop)
			fatalx(EX_TEMPFAIL, "interrupted while waiting for the lock");
	}
	return fd;
}

static int
has_kind(const struct conf_conn *cn, int kind)
{
	for (size_t g = 0; g < cn->ngoals; g++)
		if (cn->goals[g].kind == kind || (kind == GOAL_IMPORT &&
		    cn->goals[g].kind == GOAL_FILE))
			return 1;
	return 0;
}

/*
 * The export goals, once every import is acknowledged: the exporter runs
 * them (resuming its own interrupted export) and reports per goal.  A run
 * stopped here is resumed in state "exporting", without importing again.
 * Returns 0 (the outcome, failed or not, is in x->export_json or
 * x->export_error) or EX_TEMPFAIL.
 */
static int
run_exports(struct fetcher_ctx *x)
{
	char	 out[2400], json[2400], err[512];
	int	 rc;

	snprintf(out, sizeof(out), "%s/export.out", x->dir);
	snprintf(json, sizeof(json), "%s/export.json", x->dir);
	unlink(out);
	/* The long-lived exporter when there is one, else a child for this run. */
	if (x->conf->pipe.export != NULL)
		rc = export_client_request(x->conf, x->cn->name, x->led.run, &fetcher_stop,
		    out, &x->export_json, err, sizeof(err));
	else
		rc = export_client_run(x->conf->file, x->cn->name, out, json,
		    &x->export_json, err, sizeof(err));
	if (rc == EX_TEMPFAIL || fetcher_stop)
		return EX_TEMPFAIL;
	if (rc == -1)
		snprintf(x->export_error, sizeof(x->export_error), "%s", err);
	else if (rc != 0 && rc != 1)
		snprintf(x->export_error, sizeof(x->export_error), "the exporter "
		    "exited with status %d (see its log)", rc);
	return 0;
}

int
coord_run(const struct conf *c, const struct conf_conn *cn, const struct fetcher_opts *o)
{
	struct fetcher_ctx x;
	char	 name[256], d[2200];
	int	 rc, lockfd, closed = 0;

	/* Recorded first, so that the one line can give the run id. */
	if (!cn->enabled) {
		log_warnx("connection %s is disabled; not running it (run %" PRIu64
		    " recorded as refused)", cn->name, record_refused(c, cn, o,
		    "the connection is disabled"));
		return EX_CONFIG;
	}
	if (!has_kind(cn, GOAL_IMPORT) && !has_kind(cn, GOAL_EXPORT)) {
		log_warnx("connection %s has no import, file or export goal; nothing to "
		    "run (run %" PRIu64 " recorded as refused)", cn->name,
		    record_refused(c, cn, o, "the connection has no import, file or export goal"));
		return EX_CONFIG;
	}
	if (c->pipe.state_dir == NULL || c->pipe.nlanes == 0) {
		log_warnx("pipeline.state_dir and pipeline.lanes are needed to run");
		return EX_CONFIG;
	}
	memset(&x, 0, sizeof(x));
	x.conf = c;
	x.cn = cn;
	x.opts = o;
	x.start_mono = time_mono_ms();
	fetcher_safe_name(cn->name, name, sizeof(name));
	snprintf(x.dir, sizeof(x.dir), "%s/%s", c->pipe.state_dir, name);
	snprintf(x.ledger_path, sizeof(x.ledger_path), "%s/ledger.json", x.dir);
	snprintf(d, sizeof(d), "%s/spool", x.dir);
	if (file_mkdirs(d, 0700) == -1)
		fatal(EX_CANTCREAT, "cannot create directory path=%s", d);
	snprintf(d, sizeof(d), "%s/runs", x.dir);
	if (file_mkdirs(d, 0700) == -1)
		fatal(EX_CANTCREAT, "cannot create directory path=%s", d);
	lockfd = conn_lock(&x);

	if ((rc = run_open(&x)) != 0) {
		if (rc == -1) {
			rc = 0;
			closed = 1;
		}
		goto out;
	}
	if (strcmp(x.led.state, "exporting") != 0) {
		if ((rc = fetcher_fetch(&x)) != 0)
			goto out;
		snprintf(x.led.state, sizeof(x.led.state), "streaming");
		fetcher_ctx_checkpoint(&x);
		if (x.led.nparts > 0 && (rc = fetcher_stream(&x)) != 0)
			goto out;
	}
	/* Imports first, then exports: they see what the imports wrote. */
	if (has_kind(cn, GOAL_EXPORT)) {
		snprintf(x.led.state, sizeof(x.led.state), "exporting");
		fetcher_ctx_checkpoint(&x);
		if ((rc = run_exports(&x)) != 0)
			goto out;
	}
	rc = run_close(&x, NULL, NULL, "done");
	closed = 1;
out:
	/* A stop that comes after the record (while notifying) interrupts nothing. */
	if (!closed && (rc == EX_TEMPFAIL || fetcher_stop)) {
		if (x.led.run != 0)
			fetcher_ctx_checkpoint(&x);
		log_warnx("interrupted; rerun to resume run=%" PRIu64, x.led.run);
		rc = EX_TEMPFAIL;
	} else if (rc != FETCHER_EXIT_OK && rc != FETCHER_EXIT_PARTIAL &&
	    rc != FETCHER_EXIT_FAILED && x.led.run != 0 &&
	    (strcmp(x.led.state, "fetching") == 0 || strcmp(x.led.state, "streaming") == 0 ||
	    strcmp(x.led.state, "exporting") == 0)) {
		char	 why[512];

		/*
		 * The run cannot go on (a changed local file, Sailthru refusing
		 * the key or unavailable, a configuration error): it is closed
		 * as failed with the reason logged last, and the next run of
		 * the connection starts afresh.
		 */
		snprintf(why, sizeof(why), "%s", log_last()[0] ? log_last() :
		    "the run stopped");
		run_close(&x, "failed", why, "failed");
	}
	sailthru_destroy(&x.api);
	fetcher_ledger_clear(&x.led);
	free(x.export_json);
	close(lockfd);
	return rc;
}

