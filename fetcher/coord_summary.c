/* fetcher/coord_summary.c: a run's summary, as text on stdout and as JSON for the history. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "coord.h"
#include "fetcher.h"
#include "log.h"
#include "timefmt.h"

/*
 * Per goal: the writers' figures merged over the lanes, plus what the
 * fetcher set aside itself (bad rows, and the rows of failed lists, as
 * far as Sailthru told their size).
 */
static void
goal_stats(struct fetcher_ctx *x, const char *goal, struct fetcher_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < x->led.nlanes; i++)
		for (size_t j = 0; j < x->led.lanes[i].nstats; j++)
			if (strcmp(x->led.lanes[i].stats[j].goal, goal) == 0)
				fetcher_stats_merge(out, &x->led.lanes[i].stats[j]);
	for (size_t i = 0; i < x->nfskip; i++)
		if (strcmp(x->fskip[i].goal, goal) == 0)
			fetcher_stats_merge(out, &x->fskip[i]);
	for (size_t i = 0; i < x->led.nparts; i++) {
		const struct fetcher_part *p = &x->led.parts[i];

		if (strcmp(p->goal, goal) != 0 || p->status != PART_FAILED)
			continue;
		/* A list that failed outright: its members were not imported. */
		if (p->rows == 0 && p->email_count > 0) {
			out->skipped += (uint64_t)p->email_count;
			fetcher_stats_reason_add(out, "list_failed", (uint64_t)p->email_count);
		}
	}
}

char *
coord_summary(struct fetcher_ctx *x, const char **status, FILE *out)
{
	json_t	*root = json_object(), *goals = json_array();
	size_t	 nok = 0, nfail = 0;
	int64_t	 dur = time_now_ms() - x->led.started_ms;
	uint64_t rows = 0;
	double	 rate;
	char	*text;

	for (size_t i = 0; i < x->led.nparts; i++) {
		if (x->led.parts[i].status == PART_FAILED)
			nfail++;
		else
			nok++;
		rows += x->led.parts[i].rows;
	}
	*status = nfail == 0 ? "ok" : nok == 0 ? "failed" : "partial";
	if (dur < 1)
		dur = 1;
	rate = (double)rows * 1000.0 / (double)dur;
	fprintf(out, "run %" PRIu64 " connection %s: %s, %" PRIu64 " rows in %.1f s "
	    "(%.0f rows/s)\n", x->led.run, x->cn->name, *status, rows,
	    (double)dur / 1000.0, rate);
	for (size_t g = 0; g < x->cn->ngoals; g++) {
		const struct conf_goal *goal = &x->cn->goals[g];
		struct fetcher_stats st;
		json_t	*o, *reasons = json_object(), *last = json_array(), *parts;

		if (goal->kind != GOAL_IMPORT && goal->kind != GOAL_FILE)
			continue;
		goal_stats(x, goal->name, &st);
		fprintf(out, "goal %s: created %" PRIu64 ", updated %" PRIu64
		    ", unchanged %" PRIu64 ", skipped %" PRIu64, goal->name, st.created,
		    st.updated, st.unchanged, st.skipped);
		for (size_t i = 0; i < st.nreasons; i++) {
			fprintf(out, "%s%s %" PRIu64, i ? ", " : " (", st.reasons[i].reason,
			    st.reasons[i].n);
			json_object_set_new(reasons, st.reasons[i].reason,
			    json_integer((json_int_t)st.reasons[i].n));
		}
		fprintf(out, "%s; unique profiles %" PRIu64 "\n", st.nreasons ? ")" : "",
		    st.unique);
		if (st.nlast > 0)
			fprintf(out, "  last changed:");
		for (uint32_t i = 0; i < st.nlast; i++) {
			char	 h[17];

			snprintf(h, sizeof(h), "%016" PRIx64, st.last[i]);
			fprintf(out, " %s", h);
			json_array_append_new(last, json_string(h));
		}
		if (st.nlast > 0)
			fprintf(out, "\n");
		o = json_object();
		json_object_set_new(o, "name", json_string(goal->name));
		json_object_set_new(o, "created", json_integer((json_int_t)st.created));
		json_object_set_new(o, "updated", json_integer((json_int_t)st.updated));
		json_object_set_new(o, "unchanged", json_integer((json_int_t)st.unchanged));
		json_object_set_new(o, "skipped", json_integer((json_int_t)st.skipped));
		json_object_set_new(o, "reasons", reasons);
		json_object_set_new(o, "last", last);
		json_object_set_new(o, "unique", json_integer((json_int_t)st.unique));
		parts = json_array();
		for (size_t i = 0; i < x->led.nparts; i++) {
			const struct fetcher_part *p = &x->led.parts[i];
			json_t	*po;

			if (strcmp(p->goal, goal->name) != 0)
				continue;
			po = json_object();
			json_object_set_new(po, "list", json_string(p->list));
			json_object_set_new(po, "rows", json_integer((json_int_t)p->rows));
			json_object_set_new(po, "status", json_string(
			    p->status == PART_FAILED ? "failed" : "ok"));
			json_object_set_new(po, "error", p->error ?
			    json_string(p->error) : json_null());
			json_array_append_new(parts, po);
			if (p->status == PART_FAILED)
				fprintf(out, "  %s \"%s\": failed: %s\n", p->file ? "file" :
				    "list", p->list, p->error ? p->error : "?");
			else
				fprintf(out, "  %s \"%s\": %" PRIu64 " rows\n", p->file ?
				    "file" : "list", p->list, p->rows);
		}
		json_object_set_new(o, "parts", parts);
		json_array_append_new(goals, o);
		fetcher_stats_clear(&st);
	}
	json_object_set_new(root, "run", json_integer((json_int_t)x->led.run));
	json_object_set_new(root, "connection", json_string(x->cn->name));
	json_object_set_new(root, "status", json_string(*status));
	json_object_set_new(root, "started", json_integer(x->led.started_ms));
	json_object_set_new(root, "duration_ms", json_integer(dur));
	json_object_set_new(root, "rows", json_integer((json_int_t)rows));
	json_object_set_new(root, "rows_per_s", json_real(rate));
	json_object_set_new(root, "goals", goals);
	fflush(out);
	text = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		fatal(EX_OSERR, "out of memory");
	return text;
}
