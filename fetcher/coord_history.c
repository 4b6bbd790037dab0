/* fetcher/coord_history.c: owns the run history: runs/ID.json records, their bound, and reading them back. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "coord.h"
#include "fetcher.h"
#include "file.h"
#include "log.h"
#include "profile.h"
#include "sched.h"
#include "stats.h"
#include "store.h"
#include "timefmt.h"

static int
id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
coord_history_ids(const char *conndir, uint64_t **ids, size_t *n)
{
	char	 d[2300];
	DIR	*dp;
	struct dirent *de;
	uint64_t *v = NULL;
	size_t	 k = 0, cap = 0;

	*ids = NULL;
	*n = 0;
	snprintf(d, sizeof(d), "%s/runs", conndir);
	if ((dp = opendir(d)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(dp)) != NULL) {
		char	*end;
		unsigned long long id;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		id = strtoull(de->d_name, &end, 10);
		/* Only whole records: ID.json, never ID.json.tmp. */
		if (strcmp(end, ".json") != 0)
			continue;
		if (k == cap) {
			cap = cap ? cap * 2 : 64;
			if ((v = realloc(v, cap * sizeof(*v))) == NULL)
				fatal(EX_OSERR, "out of memory");
		}
		v[k++] = id;
	}
	closedir(dp);
	if (k > 1)
		qsort(v, k, sizeof(*v), id_cmp);
	*ids = v;
	*n = k;
	return 0;
}

void
coord_history_write(const char *conndir, uint64_t run, const char *json, unsigned keep)
{
	char	 path[2400];
	uint64_t *ids;
	size_t	 n;

	snprintf(path, sizeof(path), "%s/runs/%" PRIu64 ".json", conndir, run);
	if (file_write_durable(path, json, strlen(json)) == -1)
		fatal(EX_IOERR, "cannot write run history path=%s", path);
	/* Bounded: the oldest records go once there are more than keep. */
	if (keep == 0 || coord_history_ids(conndir, &ids, &n) == -1)
		return;
	for (size_t i = 0; i + keep < n; i++) {
		snprintf(path, sizeof(path), "%s/runs/%" PRIu64 ".json", conndir, ids[i]);
		if (unlink(path) == 0)
			log_debug("run record removed path=%s", path);
	}
	free(ids);
}

/* "2026-12-01 16:58:01 -05:00": t (UTC ms) on the wall clock of tz. */
static char *
local_fmt(int64_t ms, const char *tz, char *out, size_t outlen)
{
	int32_t	 off = 0;
	int64_t	 s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000), l, day, y;
	int	 m, d, sod;

	if (time_utc_offset(tz, s, &off) == -1)
		off = 0;
	l = s + off;
	day = l >= 0 ? l / 86400 : -((-l + 86399) / 86400);
	sod = (int)(l - day * 86400);
	time_civil_from_days(day, &y, &m, &d);
	snprintf(out, outlen, "%04lld-%02d-%02d %02d:%02d:%02d %c%02d:%02d", (long long)y,
	    m, d, sod / 3600, sod / 60 % 60, sod % 60, off < 0 ? '-' : '+',
	    (off < 0 ? -off : off) / 3600, (off < 0 ? -off : off) / 60 % 60);
	return out;
}

/* The next n scheduled runs (UTC s) into out; returns how many. */
static size_t
next_runs(const struct conf_conn *cn, const char *conndir, int64_t *out, size_t n)
{
	int64_t	 t = time_now_ms() / 1000, saved;
	size_t	 k = 0;

	if (cn->schedule == NULL || !cn->enabled)
		return 0;
	/* The coordinator's own record, when it has one for this schedule. */
	if (coord_sched_load(conndir, cn->schedule, &saved) == 0 && saved > t) {
		out[k++] = saved;
		t = saved;
	}
	while (k < n && sched_next(&cn->sched, cn->timezone, t, &out[k]) == 0)
		t = out[k++];
	return k;
}

static json_t *
record_load(const char *conndir, uint64_t id)
{
	char	 path[2400];
	json_error_t je;

	snprintf(path, sizeof(path), "%s/runs/%" PRIu64 ".json", conndir, id);
	return json_load_file(path, 0, &je);
}

static const char *
jstr(json_t *o, const char *k, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : dflt;
}

/* A JSON value on one line (compact; a string quoted). */
static void
print_value(json_t *v, FILE *out)
{
	char	*t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	fputs(t ? t : "?", out);
	free(t);
}

/*
 * One profile of a run's "last_changes": its id and identifiers, then what
 * the run's last change to it did: each property it set, with the new
 * values, or removed.
 */
static void
show_change(json_t *lc, FILE *out)
{
	json_t	*v;
	const char *k;
	const char *sep = "  ";

	fprintf(out, "    %s", jstr(lc, "id", "?"));
	json_object_foreach(json_object_get(lc, "identifier"), k, v) {
		fprintf(out, "%s%s ", sep, k);
		print_value(v, out);
		sep = ", ";
	}
	fprintf(out, "\n");
	if (json_object_size(json_object_get(lc, "changed")) == 0)
		fprintf(out, "      (no property changed: merged or identifiers only)\n");
	json_object_foreach(json_object_get(lc, "changed"), k, v) {
		fprintf(out, "      %s: ", k);
		if (json_is_null(v))
			fprintf(out, "(removed)");
		else
			print_value(v, out);
		fprintf(out, "\n");
	}
	if (json_integer_value(json_object_get(lc, "omitted")) > 0)
		fprintf(out, "      ... and %" JSON_INTEGER_FORMAT " more properties\n",
		    json_integer_value(json_object_get(lc, "omitted")));
}

/*
 * One profile of a run's "last" list when its change is not known (a
 * record written before changes were kept, an export goal): its id, then
 * the goal's properties as the store holds them now.
 */
static void
show_last(const struct conf *c, const struct conf_goal *g, const char *hex, FILE *out)
{
	struct profile	 p;
	struct arena	 a;
	struct buf	 b;
	uint64_t	 id;
	int		 found = 0, rc;

	fprintf(out, "    %s", hex);
	if (profile_id_parse(hex, &id) == -1) {
		fprintf(out, " (not a profile id)\n");
		return;
	}
	/* Read-only, as any reader of a running writer's store. */
	arena_init(&a);
	buf_init(&b, 1u << 20);
	if ((rc = store_profile_find(&c->store, id, &p, &a)) == 0)
		found = 1;
	if (rc == STORE_ERR)
		fprintf(out, " (store not readable)\n");
	else if (!found)
		fprintf(out, " (no longer in the store)\n");
	else {
		char	 now[PROFILE_ID_HEX];

		if (p.id != id)
			fprintf(out, " (merged into %s)", profile_id_fmt(p.id, now));
		fprintf(out, "\n");
		/* The goal's identifier first, then what its mappings write. */
		for (size_t i = 0; g != NULL && i < g->nmaps + 2; i++) {
			const char *name = i == 0 ? g->link_property : i == 1 ?
			    g->list_property : g->maps[i - 2].property;
			struct profile_prop *pp;
			int	 dup = 0;

			if (name == NULL)
				continue;
			for (size_t j = 0; j + 2 < i; j++)
				dup |= strcmp(g->maps[j].property, name) == 0;
			if (dup || (i >= 2 && (strcmp(name, g->link_property) == 0 ||
			    (g->list_property && strcmp(name, g->list_property) == 0))))
				continue;
			if ((pp = profile_prop_find(&p, name, strlen(name))) == NULL)
				continue;
			buf_reset(&b);
			for (uint32_t v = 0; v < pp->nvals; v++) {
				if (v > 0)
					buf_add(&b, ", ", 2);
				val_json(&pp->vals[v], &b);
			}
			buf_add(&b, "", 1);
			fprintf(out, "      %s%s: %s\n", name, i == 0 ? " (identifier)" : "",
			    b.data);
		}
	}
	buf_clear(&b);
	arena_clear(&a);
}

static void
print_run(const struct conf *c, const struct conf_conn *cn, json_t *r, FILE *out)
{
	json_t	*goals = json_object_get(r, "goals"), *g;
	size_t	 i;
	char	 t[64];

	fprintf(out, "run %" JSON_INTEGER_FORMAT " of connection %s: %s (trigger %s)\n",
	    json_integer_value(json_object_get(r, "run")), cn->name,
	    jstr(r, "status", "?"), jstr(r, "trigger", "manual"));
	fprintf(out, "  started %s, %.1f s, %" JSON_INTEGER_FORMAT " rows\n",
	    local_fmt(json_integer_value(json_object_get(r, "started")), cn->timezone, t,
	    sizeof(t)), (double)json_integer_value(json_object_get(r, "duration_ms")) / 1000.0,
	    json_integer_value(json_object_get(r, "rows")));
	if (json_string_value(json_object_get(r, "error")))
		fprintf(out, "  error: %s\n", jstr(r, "error", ""));
	json_array_foreach(goals, i, g) {
		const struct conf_goal *cg = NULL;
		json_t	*reasons = json_object_get(g, "reasons"), *v, *last, *p;
		const char *k;
		size_t	 j;
		int	 kinds;

		for (size_t n = 0; n < cn->ngoals; n++)
			if (strcmp(cn->goals[n].name, jstr(g, "name", "")) == 0)
				cg = &cn->goals[n];
		kinds = strcmp(jstr(g, "type", ""), "export") == 0 ? STATS_EXPORT : STATS_IMPORT;
		fprintf(out, "  goal %s", jstr(g, "name", "?"));
		for (size_t c2 = 0, n2 = 0; c2 < STATS_NCOUNTERS; c2++)
			if (stats_counter_kinds(c2) & kinds)
				fprintf(out, "%s%s %" JSON_INTEGER_FORMAT, n2++ ? ", " : ": ",
				    stats_counter_name(c2), json_integer_value(
				    json_object_get(g, stats_counter_name(c2))));
		fprintf(out, "; unique profiles %" JSON_INTEGER_FORMAT "\n",
		    json_integer_value(json_object_get(g, "unique")));
		json_object_foreach(reasons, k, v)
			fprintf(out, "    skipped %s: %" JSON_INTEGER_FORMAT "\n", k,
			    json_integer_value(v));
		json_array_foreach(json_object_get(g, "parts"), j, p) {
			if (json_string_value(json_object_get(p, "error")))
				fprintf(out, "    %s: failed: %s\n", jstr(p, "list", "?"),
				    jstr(p, "error", ""));
			else
				fprintf(out, "    %s: %" JSON_INTEGER_FORMAT " rows\n",
				    jstr(p, "list", "?"), json_integer_value(
				    json_object_get(p, "rows")));
		}
		last = json_object_get(g, "last");
		if (json_array_size(last) > 0)
			fprintf(out, "  last %zu created or updated profiles of goal %s:\n",
			    json_array_size(last) > 5 ? (size_t)5 : json_array_size(last),
			    jstr(g, "name", "?"));
		json_array_foreach(last, j, v) {
			json_t	*lc = json_array_get(json_object_get(g, "last_changes"), j);

			if (j >= 5)
				break;
			if (json_is_object(json_object_get(lc, "changed")))
				show_change(lc, out);
			else if (json_string_value(v))
				show_last(c, cg, json_string_value(v), out);
		}
	}
}

int
coord_runs_print(const struct conf *c, const struct conf_conn *cn, const char *which,
    int as_json, FILE *out)
{
	char	 dir[2200], t[64], iso[40];
	uint64_t *ids;
	size_t	 n, nn;
	int64_t	 next[3];
	json_t	*root, *runs, *r, *jn;

	if (c->pipe.state_dir == NULL) {
		log_warnx("pipeline.state_dir is not set");
		return EX_CONFIG;
	}
	snprintf(dir, sizeof(dir), "%s/%s", c->pipe.state_dir, cn->name);
	if (which != NULL) {
		char	*end;
		unsigned long long id = strtoull(which, &end, 10);

		if (*which < '0' || *which > '9' || *end != '\0') {
			log_warnx("runs: \"%s\" is not a run id", which);
			return EX_USAGE;
		}
		if ((r = record_load(dir, id)) == NULL) {
			log_warnx("runs: connection %s has no run %llu", cn->name, id);
			return EX_DATAERR;
		}
		if (as_json) {
			char	*s = json_dumps(r, JSON_PRESERVE_ORDER | JSON_INDENT(2));

			fprintf(out, "%s\n", s ? s : "null");
			free(s);
		} else
			print_run(c, cn, r, out);
		json_decref(r);
		return fflush(out) == 0 ? 0 : EX_IOERR;
	}
	if (coord_history_ids(dir, &ids, &n) == -1) {
		log_warn("runs: cannot read %s/runs", dir);
		return EX_IOERR;
	}
	nn = next_runs(cn, dir, next, 3);
	root = json_object();
	runs = json_array();
	jn = json_array();
	for (size_t i = 0; i < nn; i++)
		json_array_append_new(jn, json_string(time_fmt_iso_ms(next[i] * 1000, iso)));
	if (!as_json) {
		fprintf(out, "connection %s (%s), schedule: %s\n", cn->name, cn->timezone,
		    cn->schedule ? cn->schedule : "none (run on demand)");
		if (!cn->enabled)
			fprintf(out, "disabled: runs are refused\n");
		for (size_t i = 0; i < nn; i++)
			fprintf(out, "%s %s\n", i == 0 ? "next runs:" : "          ",
			    local_fmt(next[i] * 1000, cn->timezone, t, sizeof(t)));
		fprintf(out, "%-8s %-9s %-26s %9s %-9s %9s  %s\n", "run", "trigger",
		    "started", "duration", "status", "rows", "error");
	}
	/* Newest first. */
	for (size_t i = n; i-- > 0;) {
		if ((r = record_load(dir, ids[i])) == NULL)
			continue;
		if (as_json)
			json_array_append(runs, r);
		else
			fprintf(out, "%-8" PRIu64 " %-9s %-26s %7.1f s %-9s %9" JSON_INTEGER_FORMAT
			    "  %s\n", ids[i], jstr(r, "trigger", "manual"),
			    local_fmt(json_integer_value(json_object_get(r, "started")),
			    cn->timezone, t, sizeof(t)),
			    (double)json_integer_value(json_object_get(r, "duration_ms")) / 1000.0,
			    jstr(r, "status", "?"), json_integer_value(json_object_get(r, "rows")),
			    jstr(r, "error", ""));
		json_decref(r);
	}
	if (as_json) {
		char	*s;

		json_object_set_new(root, "connection", json_string(cn->name));
		json_object_set_new(root, "timezone", json_string(cn->timezone));
		json_object_set_new(root, "schedule", cn->schedule ?
		    json_string(cn->schedule) : json_null());
		json_object_set_new(root, "enabled", json_boolean(cn->enabled));
		json_object_set_new(root, "next", jn);
		json_object_set_new(root, "runs", runs);
		s = json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(2));
		fprintf(out, "%s\n", s ? s : "null");
		free(s);
	} else {
		json_decref(jn);
		json_decref(runs);
	}
	json_decref(root);
	free(ids);
	return fflush(out) == 0 ? 0 : EX_IOERR;
}
