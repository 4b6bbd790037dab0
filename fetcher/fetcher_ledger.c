/* fetcher/fetcher_ledger.c: the run ledger on disk and the run id counter. */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "fetcher.h"
#include "file.h"
#include "log.h"
#include "profile.h"
#include "stats.h"

/*
 * What a crash costs, step by step.  The ledger is only ever replaced
 * whole, by rename, after the new bytes are fsynced; the directory is
 * fsynced after the rename so the new name survives a power cut
 * (file_write_durable).  So a reader sees either the old ledger or the
 * new one, never a mix.
 *   - Crash before a job id is recorded: the rerun starts another export
 *     job; the first one is simply never read.
 *   - Crash after the job id is recorded: the rerun polls the same job.
 *   - Crash during a download: the client resumes path.part; a spool that
 *     exists under its final name is complete (it is renamed only after
 *     fsync), so the rerun uses it even if the ledger missed the change.
 *   - Crash while streaming: the acked sequence numbers in the ledger are
 *     at most a second old; everything above them is sent again and the
 *     writers drop what they already applied.
 *   - Crash after runs/<id>.json but before the ledger says "done": the
 *     rerun finds every lane acked, and writes the same summary again.
 */

const char *
fetcher_part_status_name(int st)
{
	switch (st) {
	case PART_NEW:		return "new";
	case PART_JOB:		return "job";
	case PART_READY:	return "ready";
	case PART_FAILED:	return "failed";
	case PART_DONE:		return "done";
	}
	return "unknown";
}

static int
part_status_parse(const char *s)
{
	for (int st = PART_NEW; st <= PART_DONE; st++)
		if (strcmp(s, fetcher_part_status_name(st)) == 0)
			return st;
	return -1;
}

void
fetcher_safe_name(const char *s, char *out, size_t outlen)
{
	size_t	 o = 0;

	if (outlen == 0)
		return;
	for (; *s && o + 1 < outlen; s++) {
		char c = *s;

		out[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ?
		    c : '_';
	}
	if (o == 0 && outlen > 1)
		out[o++] = '_';
	else if (o > 0 && out[0] == '.')
		out[0] = '_';	/* never ".", ".." or a hidden file */
	out[o] = '\0';
}

/*
 * Run ids are unique across the whole state directory, so two connections
 * never share one: the counter file holds the last id handed out and is
 * read and replaced under an exclusive lock on a separate lock file (the
 * counter file itself is replaced by rename, which a lock on it would not
 * survive).
 */
int
fetcher_run_id_next(const char *state_dir, uint64_t *id)
{
	char		 lock[4096], path[4096], buf[32];
	unsigned long long last = 0;
	FILE		*fp;
	int		 fd, rc = -1, e;

	snprintf(lock, sizeof(lock), "%s/run-id.lock", state_dir);
	snprintf(path, sizeof(path), "%s/run-id", state_dir);
	if ((fd = open(lock, O_RDWR | O_CREAT, 0600)) == -1)
		return -1;
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR)
			goto out;
	if ((fp = fopen(path, "r")) != NULL) {
		if (fscanf(fp, "%llu", &last) != 1) {
			fclose(fp);
			errno = EINVAL;
			goto out;
		}
		fclose(fp);
	} else if (errno != ENOENT)
		goto out;
	/* A ledger may already know a higher id (counter file lost). */
	if (*id > last)
		last = *id;
	last++;
	snprintf(buf, sizeof(buf), "%llu\n", last);
	if (file_write_durable(path, buf, strlen(buf)) == -1)
		goto out;
	*id = last;
	rc = 0;
out:
	e = errno;
	close(fd);	/* releases the lock */
	errno = e;
	return rc;
}

void
fetcher_ledger_clear(struct fetcher_ledger *l)
{
	free(l->conn);
	for (size_t i = 0; i < l->nparts; i++) {
		struct fetcher_part *p = &l->parts[i];

		free(p->goal);
		free(p->list);
		free(p->job_id);
		free(p->spool);
		free(p->error);
		free(p->warning);
	}
	free(l->parts);
	free(l->request);
	for (size_t i = 0; i < l->nlanes; i++) {
		for (size_t j = 0; j < l->lanes[i].nstats; j++)
			stats_clear(&l->lanes[i].stats[j]);
		free(l->lanes[i].stats);
	}
	free(l->lanes);
	for (size_t i = 0; i < l->nskips; i++)
		stats_clear(&l->skips[i]);
	free(l->skips);
	for (size_t i = 0; i < l->nskips_base; i++)
		stats_clear(&l->skips_base[i]);
	free(l->skips_base);
	memset(l, 0, sizeof(*l));
}

/* Ledger JSON: see the comment in fetcher_ledger_save. */
static json_t *
stats_to_json(const struct stats *s, uint64_t applied)
{
	json_t	*o = json_object(), *r = json_object(), *last = json_array();
	json_t	*chg = json_array();

	for (size_t i = 0; i < s->nreasons; i++)
		json_object_set_new(r, s->reasons[i].reason,
		    json_integer((json_int_t)s->reasons[i].n));
	for (uint32_t i = 0; i < s->nlast; i++) {
		char	 h[PROFILE_ID_HEX];

		json_array_append_new(last, json_string(profile_id_fmt(s->last[i], h)));
		json_array_append_new(chg, s->changes[i] ? json_string(s->changes[i]) :
		    json_null());
	}
	json_object_set_new(o, "goal", json_string(s->goal ? s->goal : ""));
	json_object_set_new(o, "applied", json_integer((json_int_t)applied));
	for (size_t i = 0; i < STATS_NCOUNTERS; i++)
		json_object_set_new(o, stats_counter_name(i),
		    json_integer((json_int_t)stats_counter_get(s, i)));
	json_object_set_new(o, "reasons", r);
	json_object_set_new(o, "last", last);
	json_object_set_new(o, "changes", chg);
	json_object_set_new(o, "unique", json_integer((json_int_t)s->unique));
	return o;
}

static uint64_t
ju64(json_t *o, const char *k)
{
	json_t	*v = json_object_get(o, k);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    (uint64_t)json_integer_value(v) : 0;
}

static int64_t
ji64(json_t *o, const char *k, int64_t dflt)
{
	json_t	*v = json_object_get(o, k);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static char *
jstr(json_t *o, const char *k)
{
	json_t	*v = json_object_get(o, k);

	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

/* Returns the "applied" the stats came with. */
static uint64_t
stats_parse(json_t *o, struct stats *s)
{
	json_t		*r, *v, *last, *chg;
	const char	*k, *goal;
	size_t		 i;

	goal = json_string_value(json_object_get(o, "goal"));
	stats_init(s, NULL, 0, goal ? goal : "", goal ? strlen(goal) : 0);
	for (i = 0; i < STATS_NCOUNTERS; i++)
		*stats_counter(s, i) = ju64(o, stats_counter_name(i));
	s->unique = ju64(o, "unique");
	if ((r = json_object_get(o, "reasons")) != NULL && json_is_object(r))
		json_object_foreach(r, k, v)
			if (json_is_integer(v))
				stats_reason_add(s, k, strlen(k), (uint64_t)json_integer_value(v));
	chg = json_object_get(o, "changes");
	if ((last = json_object_get(o, "last")) != NULL && json_is_array(last))
		json_array_foreach(last, i, v)
			if (json_is_string(v) && s->nlast < STATS_LAST_IDS) {
				const char *c = json_string_value(json_array_get(chg, i));

				s->changes[s->nlast] = c ? xstrdup(c) : NULL;
				s->last[s->nlast++] = strtoull(json_string_value(v), NULL, 16);
			}
	return ju64(o, "applied");
}

/*
 * {"version":1, "connection":C, "last_run":N,
 *  "run": {"id":N, "state":S, "started":MS, "request":NAME, "totals_known":bool,
 *    "parts":[{"goal","index","list","file","format","status","job_id",
 *              "spool","error","attempts","size","mtime","email_count",
 *              "rows","skipped","warning"}],
 *    "lanes":[{"acked":N,"total":N,"base":N,"stats":[{goal stats}]}],
 *    "skips":[{goal stats}], "retries":N, "skips_base":[{goal stats}]}}
 * A retried run (--retry-failed) numbers each lane after "base", what its
 * earlier passes numbered, and starts its skips from "skips_base".
 * (goal stats: the counters, "reasons", "last" ids, "changes" beside
 * them (text or null, see struct stats), "unique", "applied")
 * A part's rows, skipped and warning and the run's skips (rows the
 * fetcher set aside) are counted again whenever the spools are read; they
 * are kept for a run resumed at its exports, which reads none.
 * "run" is null when the connection has no run yet.
 */
int
fetcher_ledger_save(const char *path, const struct fetcher_ledger *l)
{
	json_t	*root = json_object(), *run, *parts, *lanes, *skips;
	char	*text;
	int	 rc, e;

	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "connection", json_string(l->conn ? l->conn : ""));
	json_object_set_new(root, "last_run", json_integer((json_int_t)l->last_run));
	if (l->run == 0) {
		json_object_set_new(root, "run", json_null());
		goto write;
	}
	run = json_object();
	json_object_set_new(run, "id", json_integer((json_int_t)l->run));
	json_object_set_new(run, "state", json_string(l->state));
	json_object_set_new(run, "started", json_integer(l->started_ms));
	if (l->request)
		json_object_set_new(run, "request", json_string(l->request));
	json_object_set_new(run, "totals_known", json_boolean(l->totals_known));
	parts = json_array();
	for (size_t i = 0; i < l->nparts; i++) {
		const struct fetcher_part *p = &l->parts[i];
		json_t	*o = json_object();

		json_object_set_new(o, "goal", json_string(p->goal));
		json_object_set_new(o, "index", json_integer(p->index));
		json_object_set_new(o, "list", json_string(p->list));
		json_object_set_new(o, "file", json_boolean(p->file));
		json_object_set_new(o, "format", json_string(p->format == FMT_JSONL ?
		    "jsonl" : "csv"));
		json_object_set_new(o, "status", json_string(
		    fetcher_part_status_name(p->status)));
		if (p->job_id)
			json_object_set_new(o, "job_id", json_string(p->job_id));
		if (p->spool)
			json_object_set_new(o, "spool", json_string(p->spool));
		if (p->error)
			json_object_set_new(o, "error", json_string(p->error));
		json_object_set_new(o, "attempts", json_integer(p->attempts));
		json_object_set_new(o, "size", json_integer(p->size));
		json_object_set_new(o, "mtime", json_integer(p->mtime));
		json_object_set_new(o, "email_count", json_integer(p->email_count));
		json_object_set_new(o, "rows", json_integer((json_int_t)p->rows));
		json_object_set_new(o, "skipped", json_integer((json_int_t)p->skipped));
		if (p->warning)
			json_object_set_new(o, "warning", json_string(p->warning));
		json_array_append_new(parts, o);
	}
	json_object_set_new(run, "parts", parts);
	lanes = json_array();
	for (size_t i = 0; i < l->nlanes; i++) {
		json_t	*o = json_object(), *st = json_array();

		json_object_set_new(o, "acked", json_integer((json_int_t)l->lanes[i].acked));
		json_object_set_new(o, "total", json_integer((json_int_t)l->lanes[i].total));
		json_object_set_new(o, "base", json_integer((json_int_t)l->lanes[i].base));
		for (size_t j = 0; j < l->lanes[i].nstats; j++)
			json_array_append_new(st, stats_to_json(&l->lanes[i].stats[j],
			    l->lanes[i].stats_applied));
		json_object_set_new(o, "stats", st);
		json_array_append_new(lanes, o);
	}
	json_object_set_new(run, "lanes", lanes);
	skips = json_array();
	for (size_t i = 0; i < l->nskips; i++)
		json_array_append_new(skips, stats_to_json(&l->skips[i], 0));
	json_object_set_new(run, "skips", skips);
	if (l->retries > 0) {
		json_object_set_new(run, "retries", json_integer(l->retries));
		skips = json_array();
		for (size_t i = 0; i < l->nskips_base; i++)
			json_array_append_new(skips, stats_to_json(&l->skips_base[i], 0));
		json_object_set_new(run, "skips_base", skips);
	}
	json_object_set_new(root, "run", run);
write:
	text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rc = file_write_durable(path, text, strlen(text));
	e = errno;
	free(text);
	errno = e;
	return rc;
}

int
fetcher_ledger_load(const char *path, struct fetcher_ledger *l, char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*root, *run, *parts, *lanes, *skips, *v;
	const char	*s;
	size_t		 i;

	memset(l, 0, sizeof(*l));
	if ((root = json_load_file(path, 0, &je)) == NULL) {
		if (access(path, F_OK) == -1 && errno == ENOENT) {
			snprintf(err, errlen, "%s: no ledger", path);
			errno = ENOENT;
			return -1;
		}
		snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		errno = EINVAL;
		return -1;
	}
	if (!json_is_object(root) || ji64(root, "version", 0) != 1) {
		snprintf(err, errlen, "%s: not a version 1 ledger", path);
		json_decref(root);
		errno = EINVAL;
		return -1;
	}
	l->conn = jstr(root, "connection");
	l->last_run = ju64(root, "last_run");
	run = json_object_get(root, "run");
	if (!json_is_object(run))
		goto done;
	l->run = ju64(run, "id");
	s = json_string_value(json_object_get(run, "state"));
	snprintf(l->state, sizeof(l->state), "%s", s ? s : "failed");
	l->started_ms = ji64(run, "started", 0);
	l->request = jstr(run, "request");
	l->totals_known = json_is_true(json_object_get(run, "totals_known"));
	parts = json_object_get(run, "parts");
	if (json_is_array(parts) && json_array_size(parts) > 0) {
		l->nparts = json_array_size(parts);
		if ((l->parts = calloc(l->nparts, sizeof(*l->parts))) == NULL)
			fatal_oom("fetcher_ledger");
		json_array_foreach(parts, i, v) {
			struct fetcher_part *p = &l->parts[i];
			const char *st = json_string_value(json_object_get(v, "status"));
			const char *fmt = json_string_value(json_object_get(v, "format"));

			p->goal = jstr(v, "goal");
			p->list = jstr(v, "list");
			if (p->goal == NULL || p->list == NULL || st == NULL ||
			    (p->status = part_status_parse(st)) == -1) {
				snprintf(err, errlen, "%s: run.parts[%zu]: bad part", path, i);
				json_decref(root);
				fetcher_ledger_clear(l);
				errno = EINVAL;
				return -1;
			}
			p->index = (uint32_t)ju64(v, "index");
			p->file = json_is_true(json_object_get(v, "file"));
			p->format = fmt && strcmp(fmt, "jsonl") == 0 ? FMT_JSONL : FMT_CSV;
			p->job_id = jstr(v, "job_id");
			p->spool = jstr(v, "spool");
			p->error = jstr(v, "error");
			p->attempts = (uint32_t)ju64(v, "attempts");
			p->size = ji64(v, "size", 0);
			p->mtime = ji64(v, "mtime", 0);
			p->email_count = ji64(v, "email_count", -1);
			p->rows = ju64(v, "rows");
			p->skipped = ju64(v, "skipped");
			p->warning = jstr(v, "warning");
		}
	}
	lanes = json_object_get(run, "lanes");
	if (json_is_array(lanes) && json_array_size(lanes) > 0) {
		l->nlanes = json_array_size(lanes);
		if ((l->lanes = calloc(l->nlanes, sizeof(*l->lanes))) == NULL)
			fatal_oom("fetcher_ledger");
		json_array_foreach(lanes, i, v) {
			struct fetcher_lane *ln = &l->lanes[i];
			json_t	*st = json_object_get(v, "stats"), *o;
			size_t	 j;

			ln->acked = ju64(v, "acked");
			ln->total = ju64(v, "total");
			ln->base = ju64(v, "base");
			if (!json_is_array(st) || json_array_size(st) == 0)
				continue;
			ln->nstats = json_array_size(st);
			if ((ln->stats = calloc(ln->nstats, sizeof(*ln->stats))) == NULL)
				fatal_oom("fetcher_ledger");
			json_array_foreach(st, j, o) {
				uint64_t applied = stats_parse(o, &ln->stats[j]);

				if (applied > ln->stats_applied)
					ln->stats_applied = applied;
			}
		}
	}
	skips = json_object_get(run, "skips");
	if (json_is_array(skips) && json_array_size(skips) > 0) {
		l->nskips = json_array_size(skips);
		if ((l->skips = calloc(l->nskips, sizeof(*l->skips))) == NULL)
			fatal_oom("fetcher_ledger");
		json_array_foreach(skips, i, v)
			stats_parse(v, &l->skips[i]);
	}
	l->retries = (uint32_t)ju64(run, "retries");
	skips = json_object_get(run, "skips_base");
	if (json_is_array(skips) && json_array_size(skips) > 0) {
		l->nskips_base = json_array_size(skips);
		if ((l->skips_base = calloc(l->nskips_base, sizeof(*l->skips_base))) == NULL)
			fatal_oom("fetcher_ledger");
		json_array_foreach(skips, i, v)
			stats_parse(v, &l->skips_base[i]);
	}
done:
	json_decref(root);
	return 0;
}

void
fetcher_ctx_checkpoint(struct fetcher_ctx *x)
{
	if (fetcher_ledger_save(x->ledger_path, &x->led) == -1)
		fatal(EX_IOERR, "cannot write ledger path=%s", x->ledger_path);
}

struct stats *
fetcher_ctx_skips(struct fetcher_ctx *x, const char *goal)
{
	return stats_array_get(&x->led.skips, &x->led.nskips, goal);
}
