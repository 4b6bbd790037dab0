/*
 * fetcher/coord_http.c: owns the status server: the HTML status page, its
 * JSON twin, Prometheus /metrics and run-now over HTTP (libmicrohttpd).
 *
 * Everything shown is read from files at each request: the run records
 * (state_dir/CONN/runs/ID.json), the queue (state_dir/CONN/queue/), the
 * ledger of the run in progress, the supervisor's pid files and, for a
 * profile, the store opened read-only.  So the page is never staler than
 * the disk, survives a coordinator restart, and needs no lock.
 *
 * Changing state (run now) needs the token from status.token_file: as
 * "Authorization: Bearer TOKEN" for the API, or as the HttpOnly,
 * SameSite=Strict cookie that GET /login?token=TOKEN sets for the page, so
 * another site cannot make a browser press the button.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "coord.h"
#include "coord_http.h"
#include "fetcher.h"
#include "file.h"
#include "log.h"
#include "profile.h"
#include "sched.h"
#include "store.h"
#include "timefmt.h"

#if MHD_VERSION < 0x00097002
#define MHD_RESULT int
#else
#define MHD_RESULT enum MHD_Result
#endif

#define HTTP_RUNS_SHOWN		50	/* newest run records shown per connection */
#define HTTP_NEXT_RUNS		3
#define HTTP_PAGE_MAX		(8u << 20)
#define HTTP_RECORD_MAX		(4u << 20)

struct coord_http {
	struct MHD_Daemon	*d;
	const struct conf	*c;
	unsigned		 port;
};

/* Reads a whole small file; NULL when missing or too large.  Caller frees. */
static char *
file_read(const char *path, size_t max)
{
	FILE	*f;
	char	*p;
	long	 n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 || (size_t)n > max ||
	    fseek(f, 0, SEEK_SET) == -1 || (p = malloc((size_t)n + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	if (fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		fclose(f);
		return NULL;
	}
	p[n] = '\0';
	fclose(f);
	return p;
}

static json_t *
json_file(const char *path)
{
	char	*t = file_read(path, HTTP_RECORD_MAX);
	json_t	*j;

	if (t == NULL)
		return NULL;
	j = json_loads(t, 0, NULL);
	free(t);
	return j;
}

static int
str_asc(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The run requests waiting in state_dir/CONN/queue, oldest first. */
static json_t *
queue_json(const char *conndir)
{
	char		 dir[2400], path[2800];
	char		*names[256];
	size_t		 n = 0;
	DIR		*d;
	struct dirent	*e;
	json_t		*out = json_array(), *r;

	snprintf(dir, sizeof(dir), "%s/queue", conndir);
	if ((d = opendir(dir)) == NULL)
		return out;
	while ((e = readdir(d)) != NULL && n < 256) {
		size_t l = strlen(e->d_name);

		/* NAME.tmp is a request not yet made (see coord.c). */
		if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
			continue;
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(names[0]), str_asc);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((r = json_file(path)) != NULL && json_is_object(r))
			json_array_append(out, r);
		json_decref(r);
		free(names[i]);
	}
	return out;
}

static json_t *
iso(int64_t ms)
{
	char	 t[32];

	return json_string(time_fmt_iso_ms(ms, t));
}

/*
 * Everything the page shows about one connection:
 * {name, enabled, schedule, next_runs, queued, running, runs (newest
 * first, at most HTTP_RUNS_SHOWN), runs_total, exchange [{goal, unique}],
 * last_success}.
 */
static json_t *
conn_json(const struct conf *c, const struct conf_conn *cn)
{
	char		 dir[2200], path[2400];
	json_t		*o = json_object(), *runs = json_array(), *exch = json_array();
	json_t		*next = json_array(), *led, *r, *g;
	uint64_t	*ids;
	size_t		 n, i, k;
	int64_t		 last_ok = -1;

	json_object_set_new(o, "name", json_string(cn->name));
	json_object_set_new(o, "enabled", json_boolean(cn->enabled));
	json_object_set_new(o, "schedule", cn->schedule ? json_string(cn->schedule) :
	    json_null());
	if (cn->schedule != NULL) {
		struct sched	 s;
		char		 err[256];
		int64_t		 t = time_now_ms() / 1000, nx;

		if (sched_parse(cn->schedule, &s, err, sizeof(err)) == 0)
			for (i = 0; i < HTTP_NEXT_RUNS; i++) {
				if (sched_next(&s, cn->timezone, t, &nx) == -1)
					break;
				json_array_append_new(next, iso(nx * 1000));
				t = nx;
			}
	}
	json_object_set_new(o, "next_runs", next);
	snprintf(dir, sizeof(dir), "%s/%s", c->pipe.state_dir ? c->pipe.state_dir : ".",
	    cn->name);
	json_object_set_new(o, "queued", queue_json(dir));
	snprintf(path, sizeof(path), "%s/ledger.json", dir);
	led = json_file(path);
	r = led ? json_object_get(led, "run") : NULL;
	if (json_is_object(r) && json_is_string(json_object_get(r, "state")) &&
	    strcmp(json_string_value(json_object_get(r, "state")), "done") != 0 &&
	    strcmp(json_string_value(json_object_get(r, "state")), "failed") != 0)
		json_object_set_new(o, "running", json_pack("{s:O, s:O, s:O}", "run",
		    json_object_get(r, "id"), "state", json_object_get(r, "state"),
		    "started", json_object_get(r, "started")));
	else
		json_object_set_new(o, "running", json_null());
	json_decref(led);

	if (coord_history_ids(dir, &ids, &n) == -1)
		n = 0;
	json_object_set_new(o, "runs_total", json_integer((json_int_t)n));
	for (i = 0; i < n; i++) {
		const char *st;

		/* Newest first: the ids come oldest first. */
		snprintf(path, sizeof(path), "%s/runs/%" PRIu64 ".json", dir, ids[n - 1 - i]);
		if ((r = json_file(path)) == NULL || !json_is_object(r)) {
			json_decref(r);
			continue;
		}
		st = json_string_value(json_object_get(r, "status"));
		if (last_ok < 0 && st != NULL && strcmp(st, "ok") == 0 &&
		    json_is_integer(json_object_get(r, "started")))
			last_ok = json_integer_value(json_object_get(r, "started")) +
			    (json_is_integer(json_object_get(r, "duration_ms")) ?
			    json_integer_value(json_object_get(r, "duration_ms")) : 0);
		/* Data exchange: each goal's count from its newest record. */
		json_array_foreach(json_object_get(r, "goals"), k, g) {
			const char	*gn = json_string_value(json_object_get(g, "name"));
			size_t		 m;
			json_t		*e;
			int		 seen = 0;

			if (gn == NULL || !json_is_integer(json_object_get(g, "unique")))
				continue;
			json_array_foreach(exch, m, e)
				if (strcmp(json_string_value(json_object_get(e, "goal")), gn) == 0)
					seen = 1;
			if (!seen)
				json_array_append_new(exch, json_pack("{s:s, s:O}", "goal", gn,
				    "unique", json_object_get(g, "unique")));
		}
		if (json_array_size(runs) < HTTP_RUNS_SHOWN)
			json_array_append(runs, r);
		json_decref(r);
	}
	free(ids);
	json_object_set_new(o, "runs", runs);
	json_object_set_new(o, "exchange", exch);
	json_object_set_new(o, "last_success", last_ok >= 0 ? json_integer(last_ok) :
	    json_null());
	return o;
}

static json_t *
status_json(const struct conf *c)
{
	json_t	*conns = json_array();

	for (size_t i = 0; i < c->nconns; i++)
		json_array_append_new(conns, conn_json(c, &c->conns[i]));
	return json_pack("{s:o, s:o}", "generated", iso(time_now_ms()), "connections", conns);
}

/* HTML text: & < > " ' escaped. */
static void
h(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': buf_addstr(b, "&amp;"); break;
		case '<': buf_addstr(b, "&lt;"); break;
		case '>': buf_addstr(b, "&gt;"); break;
		case '"': buf_addstr(b, "&quot;"); break;
		case '\'': buf_addstr(b, "&#39;"); break;
		default: buf_add(b, s, 1);
		}
	}
}

static const char *
jstr(json_t *o, const char *k, const char *def)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : def;
}

static json_int_t
jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static void
page_head(struct buf *b, const char *title, int refresh)
{
	buf_addstr(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
	if (refresh)
		buf_printf(b, "<meta http-equiv=\"refresh\" content=\"%d\">", refresh);
	buf_addstr(b, "<title>");
	h(b, title);
	buf_addstr(b, "</title><style>"
	    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
	    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
	    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
	    "th{background:#f3f3f3}.ok{color:#060}.failed,.refused,.abandoned{color:#a00}"
	    ".partial{color:#a60}.queued,.running{color:#036}"
	    "section{border-top:2px solid #ddd;margin-top:1.5em}"
	    "pre{background:#f7f7f7;padding:1em;overflow:auto}</style></head><body>\n");
}

/* One goal's counters as "created 3, updated 1, ...". */
static void
goal_counts(struct buf *b, json_t *g)
{
	const char	*k;
	json_t		*v;
	int		 n = 0;

	json_object_foreach(g, k, v) {
		if (!json_is_integer(v) || strcmp(k, "unique") == 0)
			continue;
		buf_printf(b, "%s%s %" JSON_INTEGER_FORMAT, n++ ? ", " : "", k,
		    json_integer_value(v));
	}
}

static void
page_conn(struct buf *b, json_t *o, int authed)
{
	const char	*name = jstr(o, "name", "?");
	json_t		*v, *r, *g;
	size_t		 i, k;
	char		 t[32];

	buf_printf(b, "<section id=\"conn-");
	h(b, name);
	buf_addstr(b, "\"><h2>");
	h(b, name);
	buf_printf(b, " <small class=\"%s\">%s</small></h2>\n",
	    json_is_true(json_object_get(o, "enabled")) ? "ok" : "failed",
	    json_is_true(json_object_get(o, "enabled")) ? "on" : "off");
	buf_addstr(b, "<p>Schedule: ");
	if (json_is_string(json_object_get(o, "schedule"))) {
		h(b, jstr(o, "schedule", ""));
		buf_addstr(b, "; next runs: ");
		json_array_foreach(json_object_get(o, "next_runs"), i, v) {
			buf_addstr(b, i ? ", " : "");
			h(b, json_string_value(v));
		}
		if (json_array_size(json_object_get(o, "next_runs")) == 0)
			buf_addstr(b, "none");
	} else
		buf_addstr(b, "none (runs on demand)");
	buf_addstr(b, "</p>\n");
	if (authed && json_is_true(json_object_get(o, "enabled"))) {
		buf_addstr(b, "<form class=\"runnow\" method=\"post\" action=\"/connections/");
		h(b, name);
		buf_addstr(b, "/run\"><button type=\"submit\" id=\"run-now-");
		h(b, name);
		buf_addstr(b, "\">Run now</button></form>\n");
	} else if (!authed)
		buf_addstr(b, "<p><small>Sign in (<code>/login?token=TOKEN</code>) to run "
		    "it now.</small></p>\n");

	buf_addstr(b, "<h3>Data exchange</h3><table class=\"exchange\"><tr><th>Goal</th>"
	    "<th>Unique profiles ever</th></tr>\n");
	json_array_foreach(json_object_get(o, "exchange"), i, v) {
		buf_addstr(b, "<tr><td>");
		h(b, jstr(v, "goal", "?"));
		buf_printf(b, "</td><td>%" JSON_INTEGER_FORMAT "</td></tr>\n", jint(v, "unique"));
	}
	buf_addstr(b, "</table>\n");

	buf_printf(b, "<h3>Runs</h3><table class=\"runs\"><tr><th>Run</th><th>Trigger</th>"
	    "<th>Status</th><th>Started</th><th>Duration</th><th>Rows</th><th>Goals</th>"
	    "<th>Error</th></tr>\n");
	json_array_foreach(json_object_get(o, "queued"), i, v) {
		buf_printf(b, "<tr class=\"queued-run\"><td>-</td><td>");
		h(b, jstr(v, "trigger", "?"));
		buf_printf(b, "</td><td class=\"queued\">queued</td><td>requested %s</td>"
		    "<td></td><td></td><td></td><td></td></tr>\n",
		    time_fmt_iso_ms(jint(v, "requested"), t));
	}
	if (json_is_object(v = json_object_get(o, "running")))
		buf_printf(b, "<tr class=\"running-run\"><td>%" JSON_INTEGER_FORMAT "</td>"
		    "<td></td><td class=\"running\">running (%s)</td><td>%s</td><td></td>"
		    "<td></td><td></td><td></td></tr>\n", jint(v, "run"),
		    jstr(v, "state", "?"), time_fmt_iso_ms(jint(v, "started"), t));
	json_array_foreach(json_object_get(o, "runs"), i, r) {
		const char *st = jstr(r, "status", "unknown");

		buf_printf(b, "<tr class=\"run\"><td><a href=\"/runs/");
		h(b, name);
		buf_printf(b, "/%" JSON_INTEGER_FORMAT "\">%" JSON_INTEGER_FORMAT "</a></td><td>",
		    jint(r, "run"), jint(r, "run"));
		h(b, jstr(r, "trigger", "manual"));
		buf_addstr(b, "</td><td class=\"");
		h(b, st);
		buf_addstr(b, "\">");
		h(b, st);
		buf_printf(b, "</td><td>%s</td><td>%.1f s</td><td>%" JSON_INTEGER_FORMAT
		    "</td><td>", time_fmt_iso_ms(jint(r, "started"), t),
		    (double)jint(r, "duration_ms") / 1000.0, jint(r, "rows"));
		json_array_foreach(json_object_get(r, "goals"), k, g) {
			buf_addstr(b, k ? "<br>" : "");
			h(b, jstr(g, "name", "?"));
			buf_addstr(b, ": ");
			goal_counts(b, g);
		}
		buf_addstr(b, "</td><td>");
		h(b, jstr(r, "error", ""));
		buf_addstr(b, "</td></tr>\n");
	}
	buf_addstr(b, "</table></section>\n");
}

static char *
page_index(const struct conf *c, int authed, size_t *len)
{
	struct buf	 b;
	json_t		*st = status_json(c), *o;
	size_t		 i;

	buf_init(&b, HTTP_PAGE_MAX);
	page_head(&b, "sailsync status", 5);
	buf_printf(&b, "<h1>sailsync</h1><p>Generated %s. <a href=\"/api/status\">JSON</a> "
	    "&middot; <a href=\"/metrics\">metrics</a></p>\n", jstr(st, "generated", ""));
	if (c->nconns == 0)
		buf_addstr(&b, "<p>No connection is configured.</p>\n");
	json_array_foreach(json_object_get(st, "connections"), i, o)
		page_conn(&b, o, authed);
	buf_addstr(&b, "</body></html>\n");
	json_decref(st);
	return buf_detach(&b, len);
}

/* A JSON value as compact text into the page (escaped). */
static void
h_json(struct buf *b, json_t *v)
{
	char	*t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	h(b, t ? t : "?");
	free(t);
}

/*
 * A goal's last created or updated profiles: each linked to its profile
 * view, with its identifiers and what the run changed on it (the
 * properties it set, with their new values, or removed); a record without
 * the changes (written before they were kept) lists the ids.
 */
static void
page_last(struct buf *b, json_t *g)
{
	json_t	*last = json_object_get(g, "last"), *lc, *v, *p;
	const char *k;
	size_t	 i;

	buf_addstr(b, "<h3>Last created or updated profiles</h3>\n");
	if (json_array_size(last) == 0) {
		buf_addstr(b, "<p>none</p>\n");
		return;
	}
	buf_addstr(b, "<table class=\"last\"><tr><th>Profile</th><th>Identifier</th>"
	    "<th>Changed by this run</th></tr>\n");
	json_array_foreach(last, i, v) {
		const char *id = json_is_string(v) ? json_string_value(v) : jstr(v, "id", "?");
		size_t	 n = 0;

		lc = json_array_get(json_object_get(g, "last_changes"), i);
		buf_addstr(b, "<tr><td><a class=\"profile\" href=\"/profiles/");
		h(b, id);
		buf_addstr(b, "\">");
		h(b, id);
		buf_addstr(b, "</a></td><td class=\"identifier\">");
		json_object_foreach(json_object_get(lc, "identifier"), k, p) {
			buf_addstr(b, n++ ? "<br>" : "");
			h(b, k);
			buf_addstr(b, " ");
			h_json(b, p);
		}
		buf_addstr(b, "</td><td class=\"changed\">");
		if (!json_is_object(json_object_get(lc, "changed")))
			buf_addstr(b, "not recorded");
		else if (json_object_size(json_object_get(lc, "changed")) == 0)
			buf_addstr(b, "no property (merged, or identifiers only)");
		n = 0;
		json_object_foreach(json_object_get(lc, "changed"), k, p) {
			buf_addstr(b, n++ ? "<br>" : "");
			h(b, k);
			buf_addstr(b, ": ");
			if (json_is_null(p))
				buf_addstr(b, "(removed)");
			else
				h_json(b, p);
		}
		if (json_integer_value(json_object_get(lc, "omitted")) > 0)
			buf_printf(b, "<br>and %" JSON_INTEGER_FORMAT " more",
			    json_integer_value(json_object_get(lc, "omitted")));
		buf_addstr(b, "</td></tr>\n");
	}
	buf_addstr(b, "</table>\n");
}

static char *
page_run(const char *conn, json_t *r, size_t *len)
{
	struct buf	 b;
	json_t		*g, *v, *p;
	size_t		 k, i;
	char		 t[32], title[160];

	buf_init(&b, HTTP_PAGE_MAX);
	snprintf(title, sizeof(title), "run %" JSON_INTEGER_FORMAT " of %s", jint(r, "run"),
	    conn);
	page_head(&b, title, 0);
	buf_addstr(&b, "<p><a href=\"/\">&larr; status</a></p><h1>");
	h(&b, title);
	buf_addstr(&b, "</h1>\n<table><tr><th>Status</th><td class=\"");
	h(&b, jstr(r, "status", ""));
	buf_addstr(&b, "\">");
	h(&b, jstr(r, "status", "unknown"));
	buf_printf(&b, "</td></tr><tr><th>Trigger</th><td>");
	h(&b, jstr(r, "trigger", "manual"));
	buf_printf(&b, "</td></tr><tr><th>Started</th><td>%s</td></tr><tr><th>Duration</th>"
	    "<td>%.1f s</td></tr><tr><th>Rows</th><td>%" JSON_INTEGER_FORMAT "</td></tr>"
	    "<tr><th>Error</th><td>", time_fmt_iso_ms(jint(r, "started"), t),
	    (double)jint(r, "duration_ms") / 1000.0, jint(r, "rows"));
	h(&b, jstr(r, "error", ""));
	buf_addstr(&b, "</td></tr></table>\n");
	json_array_foreach(json_object_get(r, "goals"), k, g) {
		buf_addstr(&b, "<h2>Goal ");
		h(&b, jstr(g, "name", "?"));
		buf_addstr(&b, "</h2><p>");
		goal_counts(&b, g);
		buf_printf(&b, "; unique profiles ever %" JSON_INTEGER_FORMAT "</p>\n",
		    jint(g, "unique"));
		if (json_object_size(json_object_get(g, "reasons")) > 0) {
			const char *rk;

			buf_addstr(&b, "<p>Skipped because: ");
			i = 0;
			json_object_foreach(json_object_get(g, "reasons"), rk, v) {
				buf_addstr(&b, i++ ? ", " : "");
				h(&b, rk);
				buf_printf(&b, " %" JSON_INTEGER_FORMAT, json_is_integer(v) ?
				    json_integer_value(v) : 0);
			}
			buf_addstr(&b, "</p>\n");
		}
		buf_addstr(&b, "<table class=\"parts\"><tr><th>List or file</th><th>Rows</th>"
		    "<th>Status</th><th>Error</th></tr>\n");
		json_array_foreach(json_object_get(g, "parts"), i, p) {
			buf_addstr(&b, "<tr><td>");
			h(&b, jstr(p, "list", "?"));
			buf_printf(&b, "</td><td>%" JSON_INTEGER_FORMAT "</td><td>",
			    jint(p, "rows"));
			h(&b, jstr(p, "status", ""));
			buf_addstr(&b, "</td><td>");
			h(&b, jstr(p, "error", ""));
			buf_addstr(&b, "</td></tr>\n");
		}
		buf_addstr(&b, "</table>\n");
		page_last(&b, g);
	}
	buf_addstr(&b, "</body></html>\n");
	return buf_detach(&b, len);
}

/*
 * The profile id (16 hex digits) as JSON text from the lane that holds it, read-only.
 * Returns malloc'd text, or NULL (not found, or the store cannot be read).
 */
static char *
profile_text(const struct conf *c, const char *hex)
{
	struct profile	 p;
	struct arena	 a;
	struct buf	 b;
	uint64_t	 id;
	char		 *out = NULL;
	size_t		 len;

	if (profile_id_parse(hex, &id) == -1)
		return NULL;
	arena_init(&a);
	buf_init(&b, 16u << 20);
	if (store_profile_find(&c->store, id, &p, &a) == 0 && profile_json(&p, 1, &b) == 0)
		out = buf_detach(&b, &len);
	buf_clear(&b);
	arena_clear(&a);
	return out;
}

static char *
page_profile(const char *hex, const char *text, size_t *len)
{
	struct buf	 b;
	json_t		*j = json_loads(text, 0, NULL);
	char		*pretty = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	char		 title[64];

	snprintf(title, sizeof(title), "profile %s", hex);
	buf_init(&b, HTTP_PAGE_MAX);
	page_head(&b, title, 0);
	buf_addstr(&b, "<p><a href=\"/\">&larr; status</a></p><h1>");
	h(&b, title);
	buf_addstr(&b, "</h1><pre class=\"profile\">");
	h(&b, pretty ? pretty : text);
	buf_addstr(&b, "</pre></body></html>\n");
	free(pretty);
	json_decref(j);
	return buf_detach(&b, len);
}

/* Prometheus label value: \ " and newline escaped. */
static void
lv(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			buf_addstr(b, "\\n");
		else
			buf_add(b, s, 1);
	}
}

/*
 * Stage liveness from the supervisor's pid files ($SAILSYNC_RUN, else sup/
 * beside the configuration): 1 when NAME.child names a live process.
 */
static void
metrics_stages(struct buf *b, const struct conf *c)
{
	char		 dir[2200], path[2600], *slash;
	const char	*env = getenv("SAILSYNC_RUN");
	DIR		*d;
	struct dirent	*e;

	if (env != NULL)
		snprintf(dir, sizeof(dir), "%s", env);
	else {
		snprintf(dir, sizeof(dir), "%s", c->file);
		if ((slash = strrchr(dir, '/')) != NULL)
			snprintf(slash + 1, sizeof(dir) - (size_t)(slash + 1 - dir), "sup");
		else
			snprintf(dir, sizeof(dir), "sup");
	}
	buf_addstr(b, "# HELP sailsync_stage_up 1 when a supervised stage's process is "
	    "alive (deploy/sailsync pid files).\n# TYPE sailsync_stage_up gauge\n");
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t	 l = strlen(e->d_name);
		char	*t;
		long	 pid;
		int	 up;

		if (l < 5 || strcmp(e->d_name + l - 4, ".pid") != 0 || e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%.*s.child", dir, (int)(l - 4), e->d_name);
		t = file_read(path, 64);
		pid = t ? strtol(t, NULL, 10) : 0;
		up = pid > 0 && kill((pid_t)pid, 0) == 0;
		free(t);
		buf_addstr(b, "sailsync_stage_up{stage=\"");
		buf_printf(b, "%.*s", (int)(l - 4), e->d_name);
		buf_printf(b, "\"} %d\n", up);
	}
	closedir(d);
}

/*
 * The metric families of /metrics, per connection.  The text format wants
 * each family's samples together under its HELP and TYPE, so samples are
 * gathered per family first and written family by family.
 */
enum { M_ENABLED, M_QUEUED, M_RUNNING, M_RECORDED, M_DUR_SUM, M_DUR_COUNT, M_LAST_RUN,
    M_LAST_OK, M_ROWS, M_PROFILES, M_N };
static const char *const m_head[M_N] = {
	"# HELP sailsync_connection_enabled 1 when the connection is on.\n"
	"# TYPE sailsync_connection_enabled gauge\n",
	"# HELP sailsync_runs_queued Run requests waiting.\n"
	"# TYPE sailsync_runs_queued gauge\n",
	"# HELP sailsync_run_in_progress 1 while a run is in progress.\n"
	"# TYPE sailsync_run_in_progress gauge\n",
	"# HELP sailsync_runs_recorded Runs in the history, by status.\n"
	"# TYPE sailsync_runs_recorded gauge\n",
	"# HELP sailsync_run_duration_seconds Durations of the recorded runs.\n"
	"# TYPE sailsync_run_duration_seconds summary\n",
	"",
	"# HELP sailsync_last_run_timestamp_seconds When the newest recorded run started.\n"
	"# TYPE sailsync_last_run_timestamp_seconds gauge\n",
	"# HELP sailsync_last_success_timestamp_seconds When the newest ok run ended.\n"
	"# TYPE sailsync_last_success_timestamp_seconds gauge\n",
	"# HELP sailsync_goal_rows Rows of the newest run, by goal and outcome.\n"
	"# TYPE sailsync_goal_rows gauge\n",
	"# HELP sailsync_goal_profiles Unique profiles the goal ever exchanged.\n"
	"# TYPE sailsync_goal_profiles gauge\n",
};
static const char *const m_name[M_N] = {
	"sailsync_connection_enabled", "sailsync_runs_queued", "sailsync_run_in_progress",
	"sailsync_runs_recorded", "sailsync_run_duration_seconds_sum",
	"sailsync_run_duration_seconds_count", "sailsync_last_run_timestamp_seconds",
	"sailsync_last_success_timestamp_seconds", "sailsync_goal_rows",
	"sailsync_goal_profiles",
};

/* Starts a sample of family f for connection name: `NAME{connection="..."`. */
static struct buf *
m_start(struct buf *m, int f, const char *name)
{
	buf_printf(&m[f], "%s{connection=\"", m_name[f]);
	lv(&m[f], name);
	buf_addstr(&m[f], "\"");
	return &m[f];
}

static void
m_label(struct buf *b, const char *k, const char *v)
{
	buf_printf(b, ",%s=\"", k);
	lv(b, v);
	buf_addstr(b, "\"");
}

static char *
page_metrics(const struct conf *c, size_t *len)
{
	struct buf	 b, m[M_N], *x;
	json_t		*st = status_json(c), *o, *r, *g, *v;
	size_t		 i, j, k;
	const char	*key;

	buf_init(&b, HTTP_PAGE_MAX);
	for (i = 0; i < M_N; i++)
		buf_init(&m[i], HTTP_PAGE_MAX);
	buf_addstr(&b, "# HELP sailsync_up 1 while the status server answers.\n"
	    "# TYPE sailsync_up gauge\nsailsync_up 1\n");
	metrics_stages(&b, c);
	json_array_foreach(json_object_get(st, "connections"), i, o) {
		const char	*name = jstr(o, "name", "?");
		struct status_count { const char *s; int n; } counts[8];
		size_t		 nc = 0, c2;
		double		 sum = 0;

		buf_printf(m_start(m, M_ENABLED, name), "} %d\n",
		    json_is_true(json_object_get(o, "enabled")));
		buf_printf(m_start(m, M_QUEUED, name), "} %zu\n",
		    json_array_size(json_object_get(o, "queued")));
		buf_printf(m_start(m, M_RUNNING, name), "} %d\n",
		    json_is_object(json_object_get(o, "running")));
		json_array_foreach(json_object_get(o, "runs"), j, r) {
			const char *s = jstr(r, "status", "unknown");

			for (c2 = 0; c2 < nc && strcmp(counts[c2].s, s) != 0; c2++)
				;
			if (c2 == nc && nc < 8)
				counts[nc++] = (struct status_count){ s, 0 };
			if (c2 < 8)
				counts[c2].n++;
			sum += (double)jint(r, "duration_ms") / 1000.0;
		}
		for (c2 = 0; c2 < nc; c2++) {
			x = m_start(m, M_RECORDED, name);
			m_label(x, "status", counts[c2].s);
			buf_printf(x, "} %d\n", counts[c2].n);
		}
		buf_printf(m_start(m, M_DUR_SUM, name), "} %.3f\n", sum);
		buf_printf(m_start(m, M_DUR_COUNT, name), "} %zu\n",
		    json_array_size(json_object_get(o, "runs")));
		if ((r = json_array_get(json_object_get(o, "runs"), 0)) != NULL) {
			buf_printf(m_start(m, M_LAST_RUN, name), "} %.3f\n",
			    (double)jint(r, "started") / 1000.0);
			json_array_foreach(json_object_get(r, "goals"), j, g)
				json_object_foreach(g, key, v) {
					if (!json_is_integer(v) || strcmp(key, "unique") == 0)
						continue;
					x = m_start(m, M_ROWS, name);
					m_label(x, "goal", jstr(g, "name", "?"));
					m_label(x, "outcome", key);
					buf_printf(x, "} %" JSON_INTEGER_FORMAT "\n",
					    json_integer_value(v));
				}
		}
		if (json_is_integer(json_object_get(o, "last_success")))
			buf_printf(m_start(m, M_LAST_OK, name), "} %.3f\n",
			    (double)jint(o, "last_success") / 1000.0);
		json_array_foreach(json_object_get(o, "exchange"), k, v) {
			x = m_start(m, M_PROFILES, name);
			m_label(x, "goal", jstr(v, "goal", "?"));
			buf_printf(x, "} %" JSON_INTEGER_FORMAT "\n", jint(v, "unique"));
		}
	}
	for (i = 0; i < M_N; i++) {
		buf_addstr(&b, m_head[i]);
		if (m[i].len > 0)
			buf_add(&b, m[i].data, m[i].len);
		buf_clear(&m[i]);
	}
	json_decref(st);
	return buf_detach(&b, len);
}

/* Constant-time comparison with the configured token. */
static int
token_ok(const struct conf *c, const char *t)
{
	size_t	 n;

	if (t == NULL || c->status.token == NULL)
		return 0;
	n = strlen(c->status.token);
	return strlen(t) == n && CRYPTO_memcmp(t, c->status.token, n) == 0;
}

static int
authed(const struct conf *c, struct MHD_Connection *mc)
{
	const char *a = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);

	if (a != NULL && strncmp(a, "Bearer ", 7) == 0)
		return token_ok(c, a + 7);
	return token_ok(c, MHD_lookup_connection_value(mc, MHD_COOKIE_KIND,
	    "sailsync_token"));
}

static MHD_RESULT
reply(struct MHD_Connection *mc, unsigned status, const char *type, char *body,
    size_t len, const char *location, const char *cookie)
{
	struct MHD_Response	*r;
	MHD_RESULT		 rc;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'");
	if (location)
		MHD_add_response_header(r, "Location", location);
	if (cookie)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	rc = MHD_queue_response(mc, status, r);
	MHD_destroy_response(r);
	return rc;
}

static MHD_RESULT
reply_json(struct MHD_Connection *mc, unsigned status, json_t *j)
{
	char	*t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (t == NULL)
		return MHD_NO;
	return reply(mc, status, "application/json", t, strlen(t), NULL, NULL);
}

static MHD_RESULT
reply_text(struct MHD_Connection *mc, unsigned status, const char *msg)
{
	size_t	 n = strlen(msg);
	char	*t = malloc(n + 2);

	if (t == NULL)
		return MHD_NO;
	memcpy(t, msg, n);
	memcpy(t + n, "\n", 2);
	return reply(mc, status, "text/plain; charset=utf-8", t, strlen(t), NULL, NULL);
}

/* "/PREFIX/CONN/SUFFIX" → conn (a configured name) or NULL. */
static const struct conf_conn *
url_conn(const struct conf *c, const char *url, const char *prefix, const char **rest)
{
	size_t		 n = strlen(prefix);
	const char	*p, *slash;

	if (strncmp(url, prefix, n) != 0)
		return NULL;
	p = url + n;
	slash = strchr(p, '/');
	*rest = slash ? slash : p + strlen(p);
	return conf_conn_find(c, p, (size_t)(*rest - p));
}

/* A run record by connection and id, or NULL. */
static json_t *
record_get(const struct conf *c, const struct conf_conn *cn, const char *id)
{
	char		 path[2600], *end;
	unsigned long long v;

	if (*id < '0' || *id > '9')
		return NULL;
	v = strtoull(id, &end, 10);
	if (*end != '\0')
		return NULL;
	snprintf(path, sizeof(path), "%s/%s/runs/%llu.json", c->pipe.state_dir ?
	    c->pipe.state_dir : ".", cn->name, v);
	return json_file(path);
}

static MHD_RESULT
run_now(struct coord_http *hs, struct MHD_Connection *mc, const struct conf_conn *cn,
    int form)
{
	const char	*origin, *host;
	char		 err[600], loc[200], *q;

	if (!authed(hs->c, mc))
		return form ? reply_text(mc, 401, "sign in first: /login?token=TOKEN") :
		    reply_json(mc, 401, json_pack("{s:s}", "error",
		    "missing or wrong token (Authorization: Bearer TOKEN)"));
	/* A form post from another origin is not ours, whatever cookie it carries. */
	origin = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin");
	host = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Host");
	if (origin != NULL && strcmp(origin, "null") != 0 && (host == NULL ||
	    strncmp(origin, "http://", 7) != 0 || strcmp(origin + 7, host) != 0))
		return reply_text(mc, 403, "cross-origin request refused");
	if (!cn->enabled)
		return form ? reply_text(mc, 409, "the connection is off") :
		    reply_json(mc, 409, json_pack("{s:s}", "error", "the connection is off"));
	if (coord_enqueue(hs->c, cn->name, COORD_TRIGGER_MANUAL, err, sizeof(err)) == -1) {
		log_warnx("status: run now failed connection=%s error=%s", cn->name, err);
		return form ? reply_text(mc, 500, err) :
		    reply_json(mc, 500, json_pack("{s:s}", "error", err));
	}
	log_info("status: run queued connection=%s trigger=manual", cn->name);
	if (!form)
		return reply_json(mc, 202, json_pack("{s:b, s:s}", "queued", 1,
		    "connection", cn->name));
	snprintf(loc, sizeof(loc), "/#conn-%s", cn->name);
	if ((q = strdup("queued\n")) == NULL)
		return MHD_NO;
	return reply(mc, 303, "text/plain", q, strlen(q), loc, NULL);
}

static MHD_RESULT
handle(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_len, void **state)
{
	static int		 marker;
	struct coord_http	*hs = cls;
	const struct conf	*c = hs->c;
	const struct conf_conn	*cn;
	const char		*rest;
	char			*body, *t;
	size_t			 len;
	json_t			*r;

	(void)version;
	(void)upload;
	/* A POST body is not used: read it off and answer at the last call. */
	if (*state == NULL) {
		*state = &marker;
		return MHD_YES;
	}
	if (*upload_len != 0) {
		*upload_len = 0;
		return MHD_YES;
	}
	if (strcmp(method, "POST") == 0) {
		if ((cn = url_conn(c, url, "/api/connections/", &rest)) != NULL &&
		    strcmp(rest, "/run") == 0)
			return run_now(hs, mc, cn, 0);
		if ((cn = url_conn(c, url, "/connections/", &rest)) != NULL &&
		    strcmp(rest, "/run") == 0)
			return run_now(hs, mc, cn, 1);
		return reply_text(mc, 404, "not found");
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_text(mc, 405, "method not allowed");

	if (strcmp(url, "/") == 0) {
		body = page_index(c, authed(c, mc), &len);
		return reply(mc, 200, "text/html; charset=utf-8", body, len, NULL, NULL);
	}
	if (strcmp(url, "/login") == 0) {
		const char *tok = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND,
		    "token");
		char cookie[4200];

		if (!token_ok(c, tok))
			return reply_text(mc, 401, "wrong token");
		snprintf(cookie, sizeof(cookie), "sailsync_token=%s; Path=/; HttpOnly; "
		    "SameSite=Strict", tok);
		if ((t = strdup("signed in\n")) == NULL)
			return MHD_NO;
		return reply(mc, 303, "text/plain", t, strlen(t), "/", cookie);
	}
	if (strcmp(url, "/metrics") == 0) {
		body = page_metrics(c, &len);
		return reply(mc, 200, "text/plain; version=0.0.4; charset=utf-8", body, len,
		    NULL, NULL);
	}
	if (strcmp(url, "/api/status") == 0)
		return reply_json(mc, 200, status_json(c));
	if ((cn = url_conn(c, url, "/api/connections/", &rest)) != NULL &&
	    strncmp(rest, "/runs/", 6) == 0) {
		if ((r = record_get(c, cn, rest + 6)) == NULL)
			return reply_json(mc, 404, json_pack("{s:s}", "error", "no such run"));
		return reply_json(mc, 200, r);
	}
	if ((cn = url_conn(c, url, "/runs/", &rest)) != NULL && rest[0] == '/') {
		if ((r = record_get(c, cn, rest + 1)) == NULL)
			return reply_text(mc, 404, "no such run");
		body = page_run(cn->name, r, &len);
		json_decref(r);
		return reply(mc, 200, "text/html; charset=utf-8", body, len, NULL, NULL);
	}
	if (strncmp(url, "/profiles/", 10) == 0 || strncmp(url, "/api/profiles/", 14) == 0) {
		int	 api = url[1] == 'a';
		const char *id = url + (api ? 14 : 10);

		if ((t = profile_text(c, id)) == NULL)
			return reply_text(mc, 404, "no such profile");
		if (api)
			return reply(mc, 200, "application/json", t, strlen(t), NULL, NULL);
		body = page_profile(id, t, &len);
		free(t);
		return reply(mc, 200, "text/html; charset=utf-8", body, len, NULL, NULL);
	}
	return reply_text(mc, 404, "not found");
}

struct coord_http *
coord_http_start(const struct conf *c, char *err, size_t errlen)
{
	struct coord_http	*hs;
	struct sockaddr_in	 sa;
	const union MHD_DaemonInfo *info;
	char			 host[64];
	const char		*colon;

	if (c->status.listen == NULL) {
		snprintf(err, errlen, "status is not configured (no \"status\" object)");
		return NULL;
	}
	colon = strrchr(c->status.listen, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - c->status.listen),
	    c->status.listen);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, host, &sa.sin_addr);
	if ((hs = calloc(1, sizeof(*hs))) == NULL)
		fatal_oom("coord_http");
	hs->c = c;
	hs->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, handle, hs,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
	    MHD_OPTION_END);
	if (hs->d == NULL) {
		snprintf(err, errlen, "status: cannot listen on %s: %s", c->status.listen,
		    strerror(errno ? errno : EADDRINUSE));
		free(hs);
		return NULL;
	}
	info = MHD_get_daemon_info(hs->d, MHD_DAEMON_INFO_BIND_PORT);
	hs->port = info ? info->port : (unsigned)atoi(colon + 1);
	log_info("status: listening url=http://%s:%u/", host, hs->port);
	return hs;
}

unsigned
coord_http_port(const struct coord_http *hs)
{
	return hs->port;
}

void
coord_http_stop(struct coord_http **hs)
{
	if (*hs == NULL)
		return;
	MHD_stop_daemon((*hs)->d);
	free(*hs);
	*hs = NULL;
}

int
coord_http_serve(const struct conf *c, const char *port_file, volatile sig_atomic_t *stop)
{
	struct coord_http	*hs;
	char			 err[600], buf[32];

	if ((hs = coord_http_start(c, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		return c->status.listen == NULL ? EX_CONFIG : EX_UNAVAILABLE;
	}
	if (port_file != NULL) {
		snprintf(buf, sizeof(buf), "%u\n", hs->port);
		if (file_write_durable(port_file, buf, strlen(buf)) == -1) {
			log_warn("cannot write port file path=%s", port_file);
			coord_http_stop(&hs);
			return EX_CANTCREAT;
		}
	}
	/* Signals interrupt sleep: a SIGTERM is seen at once. */
	while (!*stop)
		sleep(1);
	coord_http_stop(&hs);
	log_info("status: stopped");
	return 0;
}
