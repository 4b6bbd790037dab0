/* tests/sim/sim_export.c: list export CSVs and bulk update jobs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "sim.h"

/* Sailthru's export columns before the custom vars, in its order. */
static const char *const export_cols[] = {
	"Profile Id", "Email Hash", "Email", "Engagement", "Lists",
	"Profile Created Date", "Signup", "Opens", "Clicks", "Last Open",
	"Last Click",
};

/* Appends s as one CSV field, quoted when it holds a comma, quote or newline. */
void
csv_field(struct buf *b, const char *s, size_t n)
{
	size_t	 i;
	int	 q = 0;

	for (i = 0; i < n && !q; i++)
		q = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!q) {
		if (buf_add(b, s, n) == -1)
			panic("csv row too large");
		return;
	}
	buf_add(b, "\"", 1);
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			buf_add(b, "\"", 1);
		if (buf_add(b, &s[i], 1) == -1)
			panic("csv row too large");
	}
	buf_add(b, "\"", 1);
}

static void
csv_str(struct buf *b, const char *s)
{
	csv_field(b, s, strlen(s));
}

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A var's value as export text: strings bare, everything else as JSON. */
static void
csv_var(struct buf *b, json_t *v)
{
	char	*s;

	if (v == NULL || json_is_null(v))
		return;
	if (json_is_string(v)) {
		csv_field(b, json_string_value(v), json_string_length(v));
		return;
	}
	if ((s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL)
		panic("json_dumps");
	csv_str(b, s);
	free(s);
}

/*
 * Writes the export of list to path, streaming row by row.  Returns 0, or
 * -1 with errno set.
 */
int
sim_export_write(const char *list, const char *path, long *rows)
{
	json_t		*names, *uv;
	const char	*k, **cols = NULL;
	json_t		*v;
	struct buf	 row, lists;
	size_t		 i, j, ncols = 0;
	ssize_t		 li = sim_list_find(list);
	FILE		*f;
	char		 t[64], h[33];
	int		 rc = 0;

	*rows = 0;
	if (li < 0) {
		errno = ENOENT;
		return -1;
	}
	/* Pass one: the union of the members' vars, sorted by name. */
	names = json_object();
	for (i = 0; i < sim.nusers; i++) {
		struct sim_user *u = sim.users[i];

		for (j = 0; !u->deleted && j < u->nlists; j++)
			if (u->lists[j].list == (size_t)li)
				break;
		if (u->deleted || j == u->nlists || u->vars == NULL)
			continue;
		uv = sim_user_vars(u);
		json_object_foreach(uv, k, v)
			json_object_set_new(names, k, json_true());
		json_decref(uv);
	}
	if ((cols = calloc(json_object_size(names) + 1, sizeof(*cols))) == NULL)
		fatalx(70, "out of memory");
	json_object_foreach(names, k, v)
		cols[ncols++] = k;
	qsort(cols, ncols, sizeof(*cols), strp_cmp);

	if ((f = fopen(path, "w")) == NULL) {
		free(cols);
		json_decref(names);
		return -1;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	buf_init(&row, 16u << 20);
	buf_init(&lists, 1u << 20);
	for (i = 0; i < sizeof(export_cols) / sizeof(export_cols[0]); i++) {
		if (i)
			buf_add(&row, ",", 1);
		csv_str(&row, export_cols[i]);
	}
	for (i = 0; i < ncols; i++) {
		buf_add(&row, ",", 1);
		csv_str(&row, cols[i]);
	}
	buf_add(&row, "\n", 1);
	fwrite(row.data, 1, row.len, f);

	/* Pass two: one row per member. */
	for (i = 0; i < sim.nusers; i++) {
		struct sim_user *u = sim.users[i];
		struct sim_member *m = NULL;

		for (j = 0; !u->deleted && j < u->nlists; j++)
			if (u->lists[j].list == (size_t)li)
				m = &u->lists[j];
		if (m == NULL)
			continue;
		buf_reset(&row);
		buf_reset(&lists);
		buf_add(&lists, "", 0);
		for (j = 0; j < u->nlists; j++) {
			if (j)
				buf_add(&lists, ",", 1);
			buf_addstr(&lists, sim.lists[u->lists[j].list].name);
		}
		md5_hex(u->email, strlen(u->email), h);
		buf_printf(&row, "%s,%s,", u->sid, h);
		csv_str(&row, u->email);
		buf_add(&row, ",", 1);
		csv_str(&row, u->engagement);
		/* Sailthru always quotes the list names. */
		buf_add(&row, ",\"", 2);
		for (j = 0; j < lists.len; j++) {
			if (lists.data[j] == '"')
				buf_add(&row, "\"", 1);
			buf_add(&row, &lists.data[j], 1);
		}
		buf_add(&row, "\",", 2);
		buf_addstr(&row, sim_time_iso(u->created, t, sizeof(t)));
		buf_add(&row, ",", 1);
		csv_str(&row, sim_time_rfc2822(m->signup, t, sizeof(t)));
		buf_printf(&row, ",%ld,%ld,", u->opens, u->clicks);
		csv_str(&row, sim_time_rfc2822(u->last_open, t, sizeof(t)));
		buf_add(&row, ",", 1);
		csv_str(&row, sim_time_rfc2822(u->last_click, t, sizeof(t)));
		uv = sim_user_vars(u);
		for (j = 0; j < ncols; j++) {
			buf_add(&row, ",", 1);
			csv_var(&row, json_object_get(uv, cols[j]));
		}
		json_decref(uv);
		buf_add(&row, "\n", 1);
		fwrite(row.data, 1, row.len, f);
		(*rows)++;
	}
	buf_clear(&row);
	buf_clear(&lists);
	free(cols);
	json_decref(names);
	if (ferror(f))
		rc = -1;
	if (fclose(f) == EOF)
		rc = -1;
	return rc;
}

/* Update lines are parsed outside sim.lock, then applied under it in batches. */
#define UPDATE_BATCH	512

struct update_line {
	long	 line;
	json_t	*o;		/* NULL: msg says why */
	char	 msg[256];
};

/* Appends "LINE,why" to the error report, opening it on the first failure. */
static int
update_report(FILE **rep, const char *path, long line, const char *msg)
{
	struct buf	 b;
	int		 rc = 0;

	if (*rep == NULL) {
		if ((*rep = fopen(path, "w")) == NULL)
			return -1;
		setvbuf(*rep, NULL, _IOFBF, 1 << 16);
		fputs("line,error\n", *rep);
	}
	buf_init(&b, 1 << 16);
	buf_printf(&b, "%ld,", line);
	csv_str(&b, msg);
	buf_add(&b, "\n", 1);
	if (fwrite(b.data, 1, b.len, *rep) != b.len)
		rc = -1;
	buf_clear(&b);
	return rc;
}

/*
 * An update job's thread: reads the NDJSON file line by line, each line a
 * POST /user-shaped object, and applies it as POST /user does.  Bad lines
 * go to the error report with their line number and the reason.  A job
 * hit by a job_error fault applies only the lines in the first fail_after
 * share of the file, then ends in error, as a job that died part way.
 */
static void *
update_worker(void *arg)
{
	struct sim_job		*j = arg;
	struct update_line	*batch;
	struct stat		 sb;
	json_error_t		 je;
	FILE			*in, *rep = NULL;
	char			*line = NULL, path[512];
	const char		*upath;
	size_t			 cap = 0, n, i;
	ssize_t			 len;
	long			 lineno = 0, rows = 0, bad = 0;
	off_t			 pos = 0, limit = -1;
	int			 code, ioerr = 0, stop = 0, eof = 0;

	pthread_mutex_lock(&sim.lock);
	snprintf(path, sizeof(path), "%s/report-%s.csv", sim.tmpdir, j->id);
	upath = j->upload_path;
	pthread_mutex_unlock(&sim.lock);

	if ((batch = calloc(UPDATE_BATCH, sizeof(*batch))) == NULL)
		fatalx(70, "out of memory");
	if ((in = fopen(upath, "r")) == NULL) {
		log_warn("cannot read update file job=%s", j->id);
		ioerr = 1;
		eof = 1;
	} else {
		setvbuf(in, NULL, _IOFBF, 1 << 20);
		if (j->fail && fstat(fileno(in), &sb) == 0)
			limit = (off_t)((double)sb.st_size * j->fail_after);
	}
	while (!eof && !stop) {
		for (n = 0; n < UPDATE_BATCH; ) {
			const char *q;

			if ((len = getline(&line, &cap, in)) == -1 ||
			    (limit >= 0 && pos + len > limit)) {
				eof = 1;
				break;
			}
			pos += len;
			lineno++;
			for (q = line; *q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'; q++)
				;
			if (*q == '\0')
				continue;
			rows++;
			batch[n].line = lineno;
			batch[n].msg[0] = '\0';
			if ((batch[n].o = json_loadb(line, (size_t)len, 0, &je)) == NULL)
				snprintf(batch[n].msg, sizeof(batch[n].msg),
				    "invalid json: %s", je.text);
			else if (!json_is_object(batch[n].o)) {
				json_decref(batch[n].o);
				batch[n].o = NULL;
				snprintf(batch[n].msg, sizeof(batch[n].msg),
				    "invalid json: not an object");
			}
			n++;
		}
		pthread_mutex_lock(&sim.lock);
		stop = sim.stopping;
		for (i = 0; i < n && !stop; i++) {
			if (batch[i].o != NULL && sim_user_post(batch[i].o, NULL, &code,
			    batch[i].msg, sizeof(batch[i].msg)) == 0)
				batch[i].msg[0] = '\0';
		}
		pthread_mutex_unlock(&sim.lock);
		for (i = 0; i < n; i++) {
			json_decref(batch[i].o);
			batch[i].o = NULL;
			if (batch[i].msg[0] == '\0' || stop)
				continue;
			bad++;
			if (update_report(&rep, path, batch[i].line, batch[i].msg) == -1)
				ioerr = 1;
		}
	}
	free(line);
	free(batch);
	if (in != NULL && ferror(in))
		ioerr = 1;
	if (in != NULL)
		fclose(in);
	if (rep != NULL && fclose(rep) == EOF)
		ioerr = 1;
	if (ioerr)
		log_warn("update job i/o failed job=%s", j->id);

	pthread_mutex_lock(&sim.lock);
	j->rows = rows;
	j->bad = bad;
	if (rep != NULL && (j->report_path = strdup(path)) == NULL)
		fatalx(70, "out of memory");
	if (ioerr)
		j->fail = 1;
	j->applied = 1;
	pthread_mutex_unlock(&sim.lock);
	log_info("update applied job=%s rows=%ld bad=%ld", j->id, rows, bad);
	return NULL;
}

void
sim_update_start(struct sim_job *j)
{
	int	 e;

	if ((e = pthread_create(&j->worker, NULL, update_worker, j)) != 0) {
		errno = e;
		fatal(71, "cannot start an update thread");
	}
	j->has_worker = 1;
}

void
sim_update_stop_all(void)
{
	size_t	 i, n;

	pthread_mutex_lock(&sim.lock);
	sim.stopping = 1;
	n = sim.njobs;
	pthread_mutex_unlock(&sim.lock);
	/* No request runs any more, so the job table no longer changes. */
	for (i = 0; i < n; i++)
		if (sim.jobs[i]->has_worker) {
			pthread_join(sim.jobs[i]->worker, NULL);
			sim.jobs[i]->has_worker = 0;
		}
}
