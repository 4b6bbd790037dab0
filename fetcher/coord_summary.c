/* fetcher/coord_summary.c: a run's summary, as text on stdout and as JSON for the history. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "buf.h"
#include "coord.h"
#include "fetcher.h"
#include "log.h"
#include "profile.h"
#include "stats.h"
#include "timefmt.h"

/*
 * Per goal: the writers' figures merged over the lanes, plus what the
 * fetcher set aside itself (bad rows, and the rows of failed lists, as
 * far as Sailthru told their size).
 */
/* fprintf, or nothing when out is NULL. */
static void
out_printf(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
out_printf(FILE *out, const char *fmt, ...)
{
	va_list	 ap;

	if (out == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
}

static void
goal_stats(struct fetcher_ctx *x, const char *goal, struct stats *out)
{
	stats_init(out, NULL, 0, goal, strlen(goal));
	for (size_t i = 0; i < x->led.nlanes; i++)
		for (size_t j = 0; j < x->led.lanes[i].nstats; j++)
			if (strcmp(x->led.lanes[i].stats[j].goal, goal) == 0)
				stats_merge(out, &x->led.lanes[i].stats[j]);
	for (size_t i = 0; i < x->led.nskips; i++)
		if (strcmp(x->led.skips[i].goal, goal) == 0)
			stats_merge(out, &x->led.skips[i]);
	for (size_t i = 0; i < x->led.nparts; i++) {
		const struct fetcher_part *p = &x->led.parts[i];

		if (strcmp(p->goal, goal) != 0 || p->status != PART_FAILED)
			continue;
		/* A list that failed outright: its members were not imported. */
		if (p->rows == 0 && p->email_count > 0) {
			out->skipped += (uint64_t)p->email_count;
			stats_reason_add(out, "list_failed", strlen("list_failed"),
			    (uint64_t)p->email_count);
		}
	}
}

/* The goal's lines of the printed summary. */
static void
goal_print(struct fetcher_ctx *x, const struct stats *st, FILE *out)
{
	const char	*sep = ": ";

	out_printf(out, "goal %s", st->goal);
	for (size_t i = 0; i < STATS_NCOUNTERS; i++) {
		if (!(stats_counter_kinds(i) & STATS_IMPORT))
			continue;
		out_printf(out, "%s%s %" PRIu64, sep, stats_counter_name(i),
		    stats_counter_get(st, i));
		sep = ", ";
	}
	for (size_t i = 0; i < st->nreasons; i++)
		out_printf(out, "%s%s %" PRIu64, i ? ", " : " (", st->reasons[i].reason,
		    st->reasons[i].n);
	out_printf(out, "%s; unique profiles %" PRIu64 "\n", st->nreasons ? ")" : "",
	    st->unique);
	if (st->nlast > 0) {
		out_printf(out, "  last changed:");
		for (uint32_t i = 0; i < st->nlast; i++) {
			char	 h[PROFILE_ID_HEX];

			out_printf(out, " %s", profile_id_fmt(st->last[i], h));
		}
		out_printf(out, "\n");
	}
	for (size_t i = 0; i < x->led.nparts; i++) {
		const struct fetcher_part *p = &x->led.parts[i];

		if (strcmp(p->goal, st->goal) != 0)
			continue;
		if (p->warning)
			out_printf(out, "  %s \"%s\": warning: %s\n", p->file ? "file" :
			    "list", p->list, p->warning);
		if (p->status == PART_FAILED)
			out_printf(out, "  %s \"%s\": failed: %s\n", p->file ? "file" : "list",
			    p->list, p->error ? p->error : "?");
		else
			out_printf(out, "  %s \"%s\": %" PRIu64 " rows\n", p->file ? "file" : "list",
			    p->list, p->rows);
	}
}

/* The goal's object in the run's JSON: {"name", figures..., "parts"}. */
static json_t *
goal_json(struct fetcher_ctx *x, const struct stats *st)
{
	json_t		*o = json_object(), *fig, *parts = json_array();
	json_error_t	 jerr;
	struct buf	 b;

	json_object_set_new(o, "name", json_string(st->goal));
	buf_init(&b, 1u << 20);
	if (buf_addstr(&b, "{") == -1 || stats_json(st, STATS_IMPORT, &b) == -1 ||
	    buf_addstr(&b, "}") == -1)
		fatal_oom("coord_summary");
	if ((fig = json_loadb(b.data, b.len, 0, &jerr)) == NULL)
		panic("summary: stats JSON does not parse: %s", jerr.text);
	json_object_update(o, fig);
	json_decref(fig);
	buf_clear(&b);
	for (size_t i = 0; i < x->led.nparts; i++) {
		const struct fetcher_part *p = &x->led.parts[i];
		json_t	*po;

		if (strcmp(p->goal, st->goal) != 0)
			continue;
		po = json_object();
		json_object_set_new(po, "list", json_string(p->list));
		json_object_set_new(po, "rows", json_integer((json_int_t)p->rows));
		json_object_set_new(po, "status", json_string(
		    p->status == PART_FAILED ? "failed" : "ok"));
		json_object_set_new(po, "error", p->error ? json_string(p->error) : json_null());
		json_object_set_new(po, "warning", p->warning ?
		    json_string(p->warning) : json_null());
		json_array_append_new(parts, po);
	}
	json_object_set_new(o, "parts", parts);
	return o;
}

/* The exporter's summary (NULL when it left none); new reference. */
static json_t *
export_root(struct fetcher_ctx *x)
{
	return x->export_json ? json_loads(x->export_json, 0, NULL) : NULL;
}

/*
 * The run's status with its export goals: lowered when an export failed;
 * an export-only run takes the exporter's (ok, empty, partial, failed).
 */
static void
export_status(struct fetcher_ctx *x, const char **status)
{
	json_t		*root;
	const char	*st = "failed";

	if (x->export_json == NULL && x->export_error[0] == '\0')
		return;
	root = export_root(x);
	if (root != NULL && json_is_string(json_object_get(root, "status")))
		st = json_string_value(json_object_get(root, "status"));
	if (x->led.nparts == 0)
		*status = strcmp(st, "ok") == 0 ? "ok" : strcmp(st, "empty") == 0 ?
		    "empty" : strcmp(st, "partial") == 0 ? "partial" : "failed";
	else if (strcmp(st, "partial") == 0 || strcmp(st, "failed") == 0)
		*status = strcmp(*status, "failed") == 0 && strcmp(st, "failed") == 0 ?
		    "failed" : "partial";
	json_decref(root);
}

/*
 * The exporter's lines as it printed them (export.out: the child's stdout,
 * or written from the long-lived exporter's results), and its goals
 * appended to the run's.
 */
static void
export_goals(struct fetcher_ctx *x, json_t *goals, FILE *out)
{
	json_t	*root, *g;
	char	 path[2400], line[1024];
	size_t	 i;
	FILE	*f;

	if (x->export_json == NULL && x->export_error[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/export.out", x->dir);
	if (out != NULL && x->export_json != NULL && (f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			fputs(line, out);
		fclose(f);
	}
	if ((root = export_root(x)) == NULL) {
		if (out != NULL)
			fprintf(out, "export goals failed: %s\n", x->export_error[0] ?
		    x->export_error : "the exporter's summary is unreadable");
		return;
	}
	json_array_foreach(json_object_get(root, "goals"), i, g)
		json_array_append(goals, g);
	json_decref(root);
}

char *
coord_summary(struct fetcher_ctx *x, const char *force, const char *error,
    const char **status, FILE *out)
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
	*status = force ? force : nfail == 0 ? "ok" : nok == 0 ? "failed" : "partial";
	if (force == NULL)
		export_status(x, status);
	if (dur < 1)
		dur = 1;
	rate = (double)rows * 1000.0 / (double)dur;
	out_printf(out, "run %" PRIu64 " connection %s: %s, %" PRIu64 " rows in %.1f s "
	    "(%.0f rows/s)\n", x->led.run, x->cn->name, *status, rows,
	    (double)dur / 1000.0, rate);
	for (size_t g = 0; g < x->cn->ngoals; g++) {
		const struct conf_goal *goal = &x->cn->goals[g];
		struct stats st;

		if (goal->kind != GOAL_IMPORT && goal->kind != GOAL_FILE)
			continue;
		goal_stats(x, goal->name, &st);
		goal_print(x, &st, out);
		json_array_append_new(goals, goal_json(x, &st));
		stats_clear(&st);
	}
	export_goals(x, goals, out);
	json_object_set_new(root, "run", json_integer((json_int_t)x->led.run));
	json_object_set_new(root, "connection", json_string(x->cn->name));
	json_object_set_new(root, "trigger", json_string(x->opts->trigger ?
	    x->opts->trigger : COORD_TRIGGER_MANUAL));
	json_object_set_new(root, "status", json_string(*status));
	json_object_set_new(root, "error", error ? json_string(error) : json_null());
	json_object_set_new(root, "started", json_integer(x->led.started_ms));
	json_object_set_new(root, "duration_ms", json_integer(dur));
	json_object_set_new(root, "rows", json_integer((json_int_t)rows));
	json_object_set_new(root, "rows_per_s", json_real(rate));
	if (x->led.retries > 0)
		json_object_set_new(root, "retries", json_integer(x->led.retries));
	json_object_set_new(root, "goals", goals);
	if (out != NULL)
		fflush(out);
	text = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		fatal_oom("coord_summary");
	return text;
}
