/* tests/sim/sim_export.c: list export CSVs and bulk update jobs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	json_t		*names;
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
		if (u->deleted || j == u->nlists)
			continue;
		json_object_foreach(u->vars, k, v)
			json_object_set_new(names, k, json_true());
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
		for (j = 0; j < ncols; j++) {
			buf_add(&row, ",", 1);
			csv_var(&row, json_object_get(u->vars, cols[j]));
		}
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

/*
 * Applies an update job's NDJSON, line by line, like POST /user.  Bad
 * lines go to the job's error report.  Returns -1 only when the report
 * cannot be written.
 */
int
sim_update_apply(struct sim_job *j)
{
	struct buf	 rep;
	json_error_t	 je;
	json_t		*o;
	const char	*p, *end, *nl;
	char		 msg[256], path[512];
	long		 line = 0;
	int		 code;
	FILE		*f;

	buf_init(&rep, 64u << 20);
	buf_addstr(&rep, "line,error\n");
	p = j->upload ? j->upload : "";
	end = p + j->upload_len;
	for (; p < end; p = nl + 1) {
		const char *q;

		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		line++;
		for (q = p; q < nl && (*q == ' ' || *q == '\t' || *q == '\r'); q++)
			;
		if (q == nl)
			continue;
		j->rows++;
		msg[0] = '\0';
		if ((o = json_loadb(p, (size_t)(nl - p), 0, &je)) == NULL)
			snprintf(msg, sizeof(msg), "invalid json: %s", je.text);
		else if (!json_is_object(o))
			snprintf(msg, sizeof(msg), "invalid json: not an object");
		else if (sim_user_post(o, NULL, &code, msg, sizeof(msg)) == 0)
			msg[0] = '\0';	/* applied; on failure msg says why */
		json_decref(o);
		if (msg[0] != '\0') {
			j->bad++;
			buf_printf(&rep, "%ld,", line);
			csv_str(&rep, msg);
			buf_add(&rep, "\n", 1);
		}
	}
	free(j->upload);
	j->upload = NULL;
	j->upload_len = 0;
	if (j->bad) {
		snprintf(path, sizeof(path), "%s/report-%s.csv", sim.tmpdir, j->id);
		int wrote = 0;

		if ((f = fopen(path, "w")) != NULL) {
			wrote = fwrite(rep.data, 1, rep.len, f) == rep.len;
			if (fclose(f) == EOF)
				wrote = 0;
		}
		if (!wrote) {
			log_warn("cannot write error report path=%s", path);
			buf_clear(&rep);
			return -1;
		}
		j->report_path = strdup(path);
	}
	buf_clear(&rep);
	return 0;
}
