/* tests/sim/sim_http.c: the simulator's HTTP side (API, downloads, admin). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "sim.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_Result;
#define MHD_RESULT int
#else
#define MHD_RESULT enum MHD_Result
#endif

struct param {
	char		*key;
	struct buf	 val;
};

/* One request's upload, kept between the access handler's calls. */
struct req {
	struct MHD_PostProcessor *pp;
	struct param	*params;
	size_t		 nparams;
	struct buf	 raw;		/* admin JSON body */
	int		 file_fd;	/* the multipart "file" part, on disk */
	char		*file_path;	/* unlinked at the end unless a job took it */
	int		 file_err;
	int		 has_file;
	int		 multipart;
	int		 too_big;
	int		 bad_form;
	size_t		 total;
};

/* What the caller gets back; body is malloc'd. */
struct answer {
	unsigned	 status;
	char		*body;
	size_t		 len;
	const char	*type;
	int		 rate;		/* add the X-Rate-Limit headers */
	long		 limit, remaining;
	int64_t		 reset;
	double		 cut;		/* < 1: close after this fraction */
	long		 slow_ms;
};

static struct param *
param_get(struct req *r, const char *key)
{
	size_t	 i;

	for (i = r->nparams; i > 0; i--)
		if (strcmp(r->params[i - 1].key, key) == 0)
			return &r->params[i - 1];
	return NULL;
}

static struct param *
param_set(struct req *r, const char *key)
{
	struct param	*p, *np;

	if ((p = param_get(r, key)) != NULL) {
		buf_reset(&p->val);
		return p;
	}
	if (r->nparams >= 64)
		return NULL;
	if ((np = realloc(r->params, (r->nparams + 1) * sizeof(*np))) == NULL)
		return NULL;
	r->params = np;
	p = &r->params[r->nparams];
	if ((p->key = strdup(key)) == NULL)
		return NULL;
	buf_init(&p->val, SIM_BODY_MAX);
	buf_add(&p->val, "", 0);
	r->nparams++;
	return p;
}

static void
req_free(struct req *r)
{
	size_t	 i;

	if (r->pp)
		MHD_destroy_post_processor(r->pp);
	for (i = 0; i < r->nparams; i++) {
		free(r->params[i].key);
		buf_clear(&r->params[i].val);
	}
	free(r->params);
	buf_clear(&r->raw);
	if (r->file_fd != -1)
		close(r->file_fd);
	if (r->file_path != NULL)
		unlink(r->file_path);
	free(r->file_path);
	free(r);
}

/*
 * Streams the upload to a file in the simulator's directory, so its size
 * costs disk, not memory.  Returns 0, or -1 (errno set).
 */
static int
file_write(struct req *r, const char *data, size_t size)
{
	char	 path[512];
	ssize_t	 w;

	if (r->file_err)
		return -1;
	if (r->file_fd == -1) {
		snprintf(path, sizeof(path), "%s/upload-XXXXXX", sim.tmpdir);
		if ((r->file_fd = mkstemp(path)) == -1)
			return -1;
		if ((r->file_path = strdup(path)) == NULL)
			fatalx(70, "out of memory");
	}
	while (size > 0) {
		if ((w = write(r->file_fd, data, size)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += w;
		size -= (size_t)w;
	}
	return 0;
}

static MHD_RESULT
post_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
    const char *ctype, const char *enc, const char *data, uint64_t off, size_t size)
{
	struct req	*r = cls;
	struct param	*p;

	(void)kind; (void)ctype; (void)enc;
	if (key == NULL)
		return MHD_YES;
	if (filename != NULL) {
		/* File parts are not signed; only "file" is kept. */
		if (strcmp(key, "file") == 0) {
			r->has_file = 1;
			if (file_write(r, data, size) == -1)
				r->file_err = 1;
		}
		return MHD_YES;
	}
	if (off == 0 || (p = param_get(r, key)) == NULL)
		p = param_set(r, key);
	if (p == NULL || buf_add(&p->val, data, size) == -1)
		r->too_big = 1;
	return r->too_big ? MHD_NO : MHD_YES;
}

static MHD_RESULT
get_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct req	*r = cls;
	struct param	*p;

	(void)kind;
	if (key == NULL)
		return MHD_YES;
	if ((p = param_set(r, key)) == NULL ||
	    (value && buf_addstr(&p->val, value) == -1))
		r->too_big = 1;
	return MHD_YES;
}

static void
answer_json(struct answer *a, unsigned status, json_t *o)
{
	a->status = status;
	a->body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (a->body == NULL)
		panic("json_dumps");
	a->len = strlen(a->body);
	a->type = "application/json";
}

static void
answer_error(struct answer *a, unsigned status, int code, const char *msg)
{
	answer_json(a, status, json_pack("{s:i, s:s}", "error", code, "errormsg", msg));
}

static void
answer_text(struct answer *a, unsigned status, const char *text)
{
	a->status = status;
	if ((a->body = strdup(text)) == NULL)
		fatalx(70, "out of memory");
	a->len = strlen(text);
	a->type = "text/plain";
}

static void
count_request(const char *method, const char *endpoint)
{
	char	 k[64];
	json_t	*v;

	snprintf(k, sizeof(k), "%s %s", method, endpoint);
	v = json_object_get(sim.counters, k);
	json_object_set_new(sim.counters, k,
	    json_integer(v ? json_integer_value(v) + 1 : 1));
}

static struct sim_rate *
rate_slot(const char *method, const char *endpoint)
{
	char	 k[32];
	size_t	 i;

	snprintf(k, sizeof(k), "%s %s", method, endpoint);
	for (i = 0; i < sim.nrates; i++)
		if (strcmp(sim.rates[i].key, k) == 0)
			return &sim.rates[i];
	if (sim.nrates == sizeof(sim.rates) / sizeof(sim.rates[0]))
		panic("rate table full");
	memset(&sim.rates[sim.nrates], 0, sizeof(sim.rates[0]));
	snprintf(sim.rates[sim.nrates].key, sizeof(sim.rates[0].key), "%s", k);
	return &sim.rates[sim.nrates++];
}

/* The limit before any /_sim/rate: --rate for this key, else --rate-limit. */
static long
rate_default(const char *key)
{
	size_t	 i;

	for (i = 0; i < sim.o.nrates; i++)
		if (strcmp(sim.o.rates[i].key, key) == 0)
			return sim.o.rates[i].limit;
	return sim.o.rate_limit;
}

/* Fills a's rate headers; counts this call when take; 1 when over the limit. */
static int
rate_take(struct answer *a, const char *method, const char *endpoint, int take)
{
	struct sim_rate	*r = rate_slot(method, endpoint);
	int64_t		 now = time(NULL), w;

	w = now - now % sim.o.rate_window_s;
	if (r->window != w) {
		r->window = w;
		r->used = 0;
	}
	if (take)
		r->used++;
	a->rate = 1;
	a->limit = r->limit > 0 ? r->limit : rate_default(r->key);
	a->remaining = a->limit - r->used;
	if (a->remaining < 0)
		a->remaining = 0;
	a->reset = w + sim.o.rate_window_s;
	return r->used > a->limit;
}

/*
 * The fault for this call, if any: every fault that matches counts the
 * call; the first one due fires.  job_error faults only fire at job
 * creation (job names the kind being created), and nothing else does there.
 */
static int
fault_take(const char *endpoint, const char *method, const char *job,
    struct sim_fault *out)
{
	size_t	 i, j;
	int	 hit = 0;

	for (i = 0; i < sim.nfaults; i++) {
		struct sim_fault *f = &sim.faults[i];

		if ((strcmp(f->kind, "job_error") == 0) != (job != NULL))
			continue;
		if (job != NULL && f->job[0] && strcmp(f->job, job))
			continue;
		if (strcmp(f->endpoint, endpoint) || (f->method[0] &&
		    strcmp(f->method, method)))
			continue;
		if (f->skip > 0) {
			f->skip--;
			continue;
		}
		if (hit)
			continue;
		*out = *f;
		hit = 1;
		f->count--;
	}
	for (i = j = 0; i < sim.nfaults; i++)
		if (sim.faults[i].count > 0)
			sim.faults[j++] = sim.faults[i];
	sim.nfaults = j;
	return hit;
}

static int
sig_ok(struct req *r)
{
	const char	**vals;
	struct param	*k, *s;
	struct buf	 b;
	size_t		 i, n = 0;
	char		 h[33];
	int		 ok;

	k = param_get(r, "api_key");
	s = param_get(r, "sig");
	if (k == NULL || s == NULL || strcmp(k->val.data, sim.o.key) != 0)
		return 0;
	if ((vals = calloc(r->nparams + 1, sizeof(*vals))) == NULL)
		fatalx(70, "out of memory");
	for (i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].key, "sig") != 0)
			vals[n++] = r->params[i].val.data;
	for (i = 1; i < n; i++) {
		const char *t = vals[i];
		size_t j = i;

		for (; j > 0 && strcmp(vals[j - 1], t) > 0; j--)
			vals[j] = vals[j - 1];
		vals[j] = t;
	}
	buf_init(&b, SIM_BODY_MAX * 4);
	buf_addstr(&b, sim.o.secret);
	for (i = 0; i < n; i++)
		if (buf_addstr(&b, vals[i]) == -1)
			break;
	md5_hex(b.data, b.len, h);
	buf_clear(&b);
	free(vals);
	ok = strlen(s->val.data) == 32 && strcasecmp(h, s->val.data) == 0;
	return ok;
}

/* GET and DELETE /user: the user args name, or NULL with the error answered. */
static struct sim_user *
user_lookup(struct answer *a, json_t *args)
{
	struct sim_user	*u;
	json_t		*jid, *jkey;
	const char	*key;
	char		 msg[256];

	jid = json_object_get(args, "id");
	jkey = json_object_get(args, "key");
	if (!json_is_string(jid) || json_string_length(jid) == 0) {
		answer_error(a, 400, 2, "Missing required parameter: id");
		return NULL;
	}
	if (jkey && !json_is_string(jkey)) {
		answer_error(a, 400, 2, "Invalid key");
		return NULL;
	}
	key = jkey ? json_string_value(jkey) :
	    strchr(json_string_value(jid), '@') ? "email" : "sid";
	if (strcmp(key, "email") && strcmp(key, "sid") && strcmp(key, "extid")) {
		answer_error(a, 400, 2, "Invalid key: must be email, sid or extid");
		return NULL;
	}
	if ((u = sim_user_find(key, json_string_value(jid))) == NULL) {
		snprintf(msg, sizeof(msg), "User not found with %s: %.128s", key,
		    json_string_value(jid));
		answer_error(a, 400, 99, msg);
	}
	return u;
}

static void
api_user(struct answer *a, const char *method, json_t *args)
{
	struct sim_user	*u;
	json_t		*o, *f;
	char		 msg[256];
	int		 code, st;

	if (strcmp(method, "GET") == 0) {
		if ((u = user_lookup(a, args)) == NULL)
			return;
		f = json_object_get(args, "fields");
		answer_json(a, 200, sim_user_json(u, json_is_object(f) ? f : NULL));
		return;
	}
	if (strcmp(method, "DELETE") == 0) {
		if ((u = user_lookup(a, args)) == NULL)
			return;
		sim_user_delete(u);
		answer_json(a, 200, json_pack("{s:b}", "ok", 1));
		return;
	}
	if (strcmp(method, "POST") == 0) {
		if ((st = sim_user_post(args, &u, &code, msg, sizeof(msg))) != 0) {
			answer_error(a, (unsigned)st, code, msg);
			return;
		}
		o = json_pack("{s:b}", "ok", 1);
		f = json_object_get(args, "fields");
		if (json_is_object(f) && json_is_true(json_object_get(f, "keys")) == 0 &&
		    json_integer_value(json_object_get(f, "keys")) == 0)
			f = NULL;
		if (json_is_object(f))
			json_object_set_new(o, "keys", sim_user_keys(u));
		answer_json(a, 200, o);
		return;
	}
	answer_error(a, 400, 2, "Unsupported method for user");
}

static int
truthy(json_t *v)
{
	return json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0) ||
	    (json_is_string(v) && strcmp(json_string_value(v), "1") == 0);
}

/*
 * POST /list {"list", "primary", "vars", "public_name"}: creates a natural
 * list or updates one, and answers the list object.  Smart-list queries are
 * not simulated, so "query" is refused rather than ignored.
 */
static void
list_post(struct answer *a, json_t *args, const long *counts)
{
	json_t		*l, *v;
	struct sim_list	*sl;
	ssize_t		 i;
	size_t		 li;
	long		 count = 0;

	l = json_object_get(args, "list");
	if (!json_is_string(l) || json_string_length(l) == 0) {
		answer_error(a, 400, 2, "Missing required parameter: list");
		return;
	}
	if (strchr(json_string_value(l), '$') != NULL) {
		answer_error(a, 400, 2, "Invalid list name: no $ allowed");
		return;
	}
	if (json_object_get(args, "query") != NULL) {
		answer_error(a, 400, 2, "Smart list queries are not simulated");
		return;
	}
	if ((v = json_object_get(args, "vars")) != NULL && !json_is_object(v)) {
		answer_error(a, 400, 2, "Invalid vars: an object is required");
		return;
	}
	if ((v = json_object_get(args, "public_name")) != NULL && !json_is_string(v)) {
		answer_error(a, 400, 2, "Invalid public_name");
		return;
	}
	if ((i = sim_list_find(json_string_value(l))) >= 0)
		count = counts[i];
	li = sim_list_add(json_string_value(l), 0);
	sl = &sim.lists[li];
	if ((v = json_object_get(args, "primary")) != NULL)
		sl->primary = truthy(v);
	if ((v = json_object_get(args, "vars")) != NULL)
		json_object_update(sl->vars, v);
	if ((v = json_object_get(args, "public_name")) != NULL) {
		free(sl->public_name);
		if ((sl->public_name = strdup(json_string_value(v))) == NULL)
			fatalx(70, "out of memory");
	}
	log_info("list %s list=%s", i < 0 ? "created" : "updated", sl->name);
	answer_json(a, 200, sim_list_object(li, count, 0));
}

static void
api_list(struct answer *a, const char *method, json_t *args)
{
	json_t		*l, *id, *arr, *f;
	long		*counts;
	ssize_t		 i;
	char		 msg[256];

	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
		answer_error(a, 400, 2, "Unsupported method for list");
		return;
	}
	l = json_object_get(args, "list");
	id = json_object_get(args, "list_id");
	if ((l && !json_is_string(l)) || (id && !json_is_string(id))) {
		answer_error(a, 400, 2, "Invalid list");
		return;
	}
	counts = sim_list_counts();
	if (strcmp(method, "POST") == 0) {
		list_post(a, args, counts);
		free(counts);
		return;
	}
	if ((l && json_string_length(l) > 0) || (id && json_string_length(id) > 0)) {
		i = l && json_string_length(l) > 0 ? sim_list_find(json_string_value(l)) :
		    sim_list_find_id(json_string_value(id));
		f = json_object_get(args, "fields");
		if (i < 0) {
			snprintf(msg, sizeof(msg), "Unknown list: %.128s",
			    json_string_value(l && json_string_length(l) > 0 ? l : id));
			answer_error(a, 404, 15, msg);
		} else
			answer_json(a, 200, sim_list_object((size_t)i, counts[i],
			    truthy(json_object_get(f, "vars"))));
		free(counts);
		return;
	}
	arr = json_array();
	for (i = 0; i < (ssize_t)sim.nlists; i++)
		json_array_append_new(arr, sim_list_json((size_t)i, counts[i]));
	free(counts);
	answer_json(a, 200, json_pack("{s:o}", "lists", arr));
}

static void
api_job(struct answer *a, const char *method, json_t *args, struct req *r)
{
	struct sim_fault f;
	struct sim_job	*j;
	json_t		*jt, *l, *id;
	const char	*kind;
	char		 msg[256];

	if (strcmp(method, "GET") == 0) {
		id = json_object_get(args, "job_id");
		if (!json_is_string(id) || json_string_length(id) == 0) {
			answer_error(a, 400, 2, "Missing required parameter: job_id");
			return;
		}
		if ((j = sim_job_find(json_string_value(id))) == NULL) {
			snprintf(msg, sizeof(msg), "Job not found: %.64s", json_string_value(id));
			answer_error(a, 400, 99, msg);
			return;
		}
		answer_json(a, 200, sim_job_json(j));
		return;
	}
	if (strcmp(method, "POST") != 0) {
		answer_error(a, 400, 2, "Unsupported method for job");
		return;
	}
	jt = json_object_get(args, "job");
	if (!json_is_string(jt)) {
		answer_error(a, 400, 2, "Missing required parameter: job");
		return;
	}
	kind = json_string_value(jt);
	if (strcmp(kind, "export_list_data") == 0) {
		l = json_object_get(args, "list");
		if (!json_is_string(l) || json_string_length(l) == 0) {
			answer_error(a, 400, 2, "Missing required parameter: list");
			return;
		}
		if (sim_list_find(json_string_value(l)) < 0) {
			snprintf(msg, sizeof(msg), "Unknown list: %.128s", json_string_value(l));
			answer_error(a, 404, 15, msg);
			return;
		}
		j = sim_job_new(JOB_EXPORT);
		j->list = strdup(json_string_value(l));
		snprintf(msg, sizeof(msg), "List Data Exporter: %.128s", j->list);
		j->name = strdup(msg);
		if (fault_take("job", "POST", "export_list_data", &f))
			j->fail = 1;
	} else if (strcmp(kind, "update") == 0) {
		if (!r->has_file) {
			answer_error(a, 400, 2, "Missing required parameter: file");
			return;
		}
		if (r->file_err) {
			log_warn("cannot store the upload");
			answer_error(a, 500, 9, "Internal error: the upload could not be stored");
			return;
		}
		j = sim_job_new(JOB_UPDATE);
		j->name = strdup("Bulk User Update");
		if (r->file_path == NULL) {
			/* An empty file part: no line to apply. */
			char path[512];
			int fd;

			snprintf(path, sizeof(path), "%s/upload-XXXXXX", sim.tmpdir);
			if ((fd = mkstemp(path)) == -1)
				fatal(73, "cannot create an upload file");
			close(fd);
			r->file_path = strdup(path);
		}
		close(r->file_fd);
		r->file_fd = -1;
		j->upload_path = r->file_path;	/* the job owns it now */
		r->file_path = NULL;
		if (fault_take("job", "POST", "update", &f)) {
			j->fail = 1;
			j->fail_after = f.fraction;
		}
		sim_update_start(j);
	} else {
		snprintf(msg, sizeof(msg), "Unsupported job type: %.64s", kind);
		answer_error(a, 400, 2, msg);
		return;
	}
	log_info("job created job=%s kind=%s", j->id, kind);
	answer_json(a, 200, json_pack("{s:s, s:s, s:s}", "job_id", j->id, "name", j->name,
	    "status", "pending"));
}

/* Signed API calls: /user, /list, /job. */
static void
api(struct answer *a, struct MHD_Connection *c, const char *method,
    const char *endpoint, struct req *r)
{
	struct sim_fault f;
	struct param	*p;
	json_error_t	 je;
	json_t		*args;
	char		 msg[256];

	(void)c;
	count_request(method, endpoint);
	if (!sig_ok(r)) {
		rate_take(a, method, endpoint, 0);
		answer_error(a, 401, 5, "Authentication failed");
		return;
	}
	if (rate_take(a, method, endpoint, 1)) {
		answer_error(a, 429, 43, "Too many requests");
		return;
	}
	if (fault_take(endpoint, method, NULL, &f)) {
		log_info("fault endpoint=%s method=%s kind=%s", endpoint, method, f.kind);
		if (strcmp(f.kind, "http500") == 0) {
			answer_error(a, 500, 9, "Internal server error");
			return;
		}
		if (strcmp(f.kind, "error9") == 0) {
			answer_error(a, 200, 9, "Internal error, please retry");
			return;
		}
		if (strcmp(f.kind, "http429") == 0) {
			a->remaining = 0;
			answer_error(a, 429, 43, "Too many requests");
			return;
		}
		if (strcmp(f.kind, "slow") == 0)
			a->slow_ms = f.ms;
		if (strcmp(f.kind, "cut") == 0)
			a->cut = f.fraction;
	}
	if ((p = param_get(r, "format")) != NULL && strcmp(p->val.data, "json") != 0) {
		answer_error(a, 400, 2, "Unsupported format: only json");
		return;
	}
	p = param_get(r, "json");
	if (p == NULL) {
		args = json_object();
	} else if ((args = json_loadb(p->val.data, p->val.len, 0, &je)) == NULL ||
	    !json_is_object(args)) {
		snprintf(msg, sizeof(msg), "Invalid json: %s",
		    args ? "an object is required" : je.text);
		json_decref(args);
		answer_error(a, 400, 2, msg);
		return;
	}
	if (strcmp(endpoint, "user") == 0)
		api_user(a, method, args);
	else if (strcmp(endpoint, "list") == 0)
		api_list(a, method, args);
	else
		api_job(a, method, args, r);
	json_decref(args);
}

/*
 * POST /_sim/activity {"email"|"sid"|"extid": ID, "open": DATE, "click": DATE}:
 * what an email open or click after a send does to a user: the last open or
 * click time, and one more open or click.  Answers the user's activity.
 */
static void
admin_activity(struct answer *a, json_t *b)
{
	static const char *const keys[] = { "email", "sid", "extid" };
	struct sim_user	*u = NULL;
	json_t		*o, *f, *jo, *jc;
	time_t		 open = 0, click = 0;
	size_t		 i, n = 0;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(b, keys[i]);

		if (v == NULL)
			continue;
		n++;
		if (json_is_string(v))
			u = sim_user_find(keys[i], json_string_value(v));
	}
	jo = json_object_get(b, "open");
	jc = json_object_get(b, "click");
	if (n != 1 || (jo == NULL && jc == NULL) ||
	    sim_time_parse(jo, &open) == -1 || sim_time_parse(jc, &click) == -1) {
		answer_error(a, 400, 2, "activity wants one of email, sid, extid and "
		    "open and/or click as YYYY-MM-DD[ HH:MM:SS] or epoch seconds");
		return;
	}
	if (u == NULL) {
		answer_error(a, 400, 99, "User not found");
		return;
	}
	if (open) {
		u->last_open = open;
		u->opens++;
	}
	if (click) {
		u->last_click = click;
		u->clicks++;
	}
	f = json_pack("{s:i, s:i}", "activity", 1, "engagement", 1);
	o = sim_user_json(u, f);
	json_decref(f);
	json_object_set_new(o, "opens", json_integer(u->opens));
	json_object_set_new(o, "clicks", json_integer(u->clicks));
	answer_json(a, 200, o);
}

static void
admin(struct answer *a, const char *method, const char *url, struct req *r)
{
	json_error_t	 je;
	json_t		*b = NULL, *v;
	struct sim_fault f;
	struct sim_rate	*rt;
	const char	*s;
	size_t		 i;

	if (strcmp(method, "GET") == 0 && strcmp(url, "/_sim/state") == 0) {
		answer_json(a, 200, sim_state_json());
		return;
	}
	if (strcmp(method, "GET") == 0 && strcmp(url, "/_sim/summary") == 0) {
		answer_json(a, 200, sim_summary_json());
		return;
	}
	if (strcmp(method, "POST") != 0) {
		answer_error(a, 404, 2, "Unknown admin call");
		return;
	}
	if (r->raw.len > 0 && ((b = json_loadb(r->raw.data, r->raw.len, 0, &je)) == NULL ||
	    !json_is_object(b))) {
		json_decref(b);
		answer_error(a, 400, 2, "Invalid json body");
		return;
	}
	if (b == NULL)
		b = json_object();
	if (strcmp(url, "/_sim/reset") == 0) {
		sim.nfaults = 0;
		sim.nrates = 0;
		json_object_clear(sim.counters);
		answer_json(a, 200, json_pack("{s:b}", "ok", 1));
	} else if (strcmp(url, "/_sim/expire") == 0) {
		for (i = 0; i < sim.njobs; i++)
			sim.jobs[i]->expires = time(NULL) - 1;
		answer_json(a, 200, json_pack("{s:b}", "ok", 1));
	} else if (strcmp(url, "/_sim/activity") == 0) {
		admin_activity(a, b);
	} else if (strcmp(url, "/_sim/rate") == 0) {
		s = json_string_value(json_object_get(b, "endpoint"));
		v = json_object_get(b, "limit");
		if (s == NULL || (strcmp(s, "user") && strcmp(s, "list") && strcmp(s, "job")) ||
		    !json_is_integer(v) ||
		    json_string_value(json_object_get(b, "method")) == NULL) {
			answer_error(a, 400, 2, "rate wants endpoint, method, limit");
		} else {
			rt = rate_slot(json_string_value(json_object_get(b, "method")), s);
			rt->limit = (long)json_integer_value(v);
			answer_json(a, 200, json_pack("{s:b}", "ok", 1));
		}
	} else if (strcmp(url, "/_sim/fault") == 0) {
		memset(&f, 0, sizeof(f));
		s = json_string_value(json_object_get(b, "endpoint"));
		snprintf(f.endpoint, sizeof(f.endpoint), "%s", s ? s : "");
		s = json_string_value(json_object_get(b, "method"));
		snprintf(f.method, sizeof(f.method), "%s", s ? s : "");
		s = json_string_value(json_object_get(b, "kind"));
		snprintf(f.kind, sizeof(f.kind), "%s", s ? s : "");
		s = json_string_value(json_object_get(b, "job"));
		snprintf(f.job, sizeof(f.job), "%s", s ? s : "");
		if (strcmp(f.kind, "job_error") == 0) {
			if (f.endpoint[0] == '\0')
				snprintf(f.endpoint, sizeof(f.endpoint), "job");
			if (f.method[0] == '\0')
				snprintf(f.method, sizeof(f.method), "POST");
		}
		f.skip = (v = json_object_get(b, "nth")) ? (long)json_integer_value(v) - 1 : 0;
		f.count = (v = json_object_get(b, "count")) ? (long)json_integer_value(v) : 1;
		f.ms = (v = json_object_get(b, "ms")) ? (long)json_integer_value(v) : 1000;
		/* A failing update job applies nothing unless told a share. */
		f.fraction = (v = json_object_get(b, "fraction")) ? json_number_value(v) :
		    strcmp(f.kind, "job_error") == 0 ? 0 : 0.5;
		if ((strcmp(f.endpoint, "user") && strcmp(f.endpoint, "list") &&
		    strcmp(f.endpoint, "job") && strcmp(f.endpoint, "download")) ||
		    (f.method[0] && strcmp(f.method, "GET") && strcmp(f.method, "POST") &&
		    strcmp(f.method, "DELETE")) ||
		    (strcmp(f.kind, "http500") && strcmp(f.kind, "error9") &&
		    strcmp(f.kind, "slow") && strcmp(f.kind, "cut") &&
		    strcmp(f.kind, "job_error") && strcmp(f.kind, "http429")) ||
		    (f.job[0] && strcmp(f.job, "update") && strcmp(f.job, "export_list_data")) ||
		    f.skip < 0 || f.count < 1 || f.ms < 0 || f.ms > 600000 ||
		    f.fraction < 0 || f.fraction >= 1) {
			answer_error(a, 400, 2, "fault wants endpoint user|list|job|download, "
			    "method GET|POST|DELETE, kind http500|error9|slow|cut|job_error|http429, "
			    "job update|export_list_data, nth >= 1, count >= 1, "
			    "0 <= ms <= 600000, 0 <= fraction < 1");
		} else if (sim.nfaults >= 256) {
			answer_error(a, 400, 2, "too many faults");
		} else {
			struct sim_fault *nf = realloc(sim.faults,
			    (sim.nfaults + 1) * sizeof(*nf));

			if (nf == NULL)
				fatalx(70, "out of memory");
			sim.faults = nf;
			sim.faults[sim.nfaults++] = f;
			answer_json(a, 200, json_pack("{s:b}", "ok", 1));
		}
	} else
		answer_error(a, 404, 2, "Unknown admin call");
	json_decref(b);
}

/* A body served in pieces, so a "cut" fault can end it early. */
struct stream {
	int		 fd;		/* -1: mem */
	char		*mem;
	uint64_t	 start, len, cut_at;
};

static ssize_t
stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream	*s = cls;
	uint64_t	 n;
	ssize_t		 got;

	if (pos >= s->cut_at)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos >= s->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = s->len - pos;
	if (n > s->cut_at - pos)
		n = s->cut_at - pos;
	if (n > max)
		n = max;
	if (s->fd == -1) {
		memcpy(out, s->mem + s->start + pos, n);
		return (ssize_t)n;
	}
	got = pread(s->fd, out, n, (off_t)(s->start + pos));
	if (got <= 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return got;
}

static void
stream_free(void *cls)
{
	struct stream	*s = cls;

	if (s->fd != -1)
		close(s->fd);
	free(s->mem);
	free(s);
}

/* Parses a single "bytes=a-b" range; 0 ok, 1 no range, -1 unsatisfiable. */
static int
range_parse(const char *h, uint64_t size, uint64_t *start, uint64_t *len)
{
	unsigned long long a, b;
	char	*end;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0)
		return 1;
	h += 6;
	if (strchr(h, ','))
		return 1;	/* multiple ranges: serve the whole body */
	if (*h == '-') {
		b = strtoull(h + 1, &end, 10);
		if (end == h + 1 || *end != '\0' || b == 0 || size == 0)
			return -1;
		if (b > size)
			b = size;
		*start = size - b;
		*len = b;
		return 0;
	}
	a = strtoull(h, &end, 10);
	if (end == h || *end != '-')
		return 1;
	h = end + 1;
	if (*h == '\0')
		b = size ? size - 1 : 0;
	else {
		b = strtoull(h, &end, 10);
		if (*end != '\0' || b < a)
			return 1;
		if (b >= size)
			b = size - 1;
	}
	if (a >= size)
		return -1;
	*start = a;
	*len = b - a + 1;
	return 0;
}

static MHD_RESULT
queue(struct MHD_Connection *c, struct answer *a, const char *method,
    const char *url)
{
	struct MHD_Response	*resp;
	struct stream		*s;
	char			 v[32];
	MHD_RESULT		 rc;

	if (a->slow_ms > 0)
		usleep((useconds_t)a->slow_ms * 1000);
	/* Always through a stream, so a "cut" fault works on API answers too. */
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatalx(70, "out of memory");
	s->fd = -1;
	s->mem = a->body;
	s->len = a->len;
	s->cut_at = a->cut > 0 ? (uint64_t)((double)a->len * a->cut) : UINT64_MAX;
	a->body = NULL;
	resp = MHD_create_response_from_callback(s->len, 64 * 1024, stream_read, s,
	    stream_free);
	if (resp == NULL) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", a->type);
	if (a->rate) {
		snprintf(v, sizeof(v), "%ld", a->limit);
		MHD_add_response_header(resp, "X-Rate-Limit-Limit", v);
		snprintf(v, sizeof(v), "%ld", a->remaining);
		MHD_add_response_header(resp, "X-Rate-Limit-Remaining", v);
		snprintf(v, sizeof(v), "%" PRId64, a->reset);
		MHD_add_response_header(resp, "X-Rate-Limit-Reset", v);
	}
	if (sim.o.log_requests)
		log_info("request method=%s path=%s status=%u", method, url, a->status);
	rc = MHD_queue_response(c, a->status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* GET /_export/<token>.csv and /_report/<token>.csv. */
static MHD_RESULT
download(struct MHD_Connection *c, const char *method, const char *url)
{
	struct answer		 a;
	struct sim_fault	 f;
	struct MHD_Response	*resp;
	struct stream		*s;
	struct stat		 sb;
	const char		*tok = url + 9;
	char			*path = NULL, v[96];
	size_t			 i, n = strlen(tok);
	int			 expired = 0, fault = 0, rr;
	uint64_t		 start = 0, len;
	unsigned		 status = 200;
	MHD_RESULT		 rc;

	memset(&a, 0, sizeof(a));
	pthread_mutex_lock(&sim.lock);
	count_request("GET", "download");
	sim_jobs_tick();
	if (n == 36 && strcmp(tok + 32, ".csv") == 0) {
		for (i = 0; i < sim.njobs && path == NULL; i++) {
			struct sim_job *j = sim.jobs[i];

			if (url[2] == 'e' && j->path && j->token[0] &&
			    strncmp(j->token, tok, 32) == 0)
				path = strdup(j->path);
			else if (url[2] == 'r' && j->report_path &&
			    strncmp(j->report_token, tok, 32) == 0)
				path = strdup(j->report_path);
			if (path)
				expired = time(NULL) >= j->expires;
		}
	}
	if (path && !expired)
		fault = fault_take("download", "GET", NULL, &f);
	pthread_mutex_unlock(&sim.lock);

	if (path == NULL) {
		answer_text(&a, 404, "Not Found\n");
		return queue(c, &a, method, url);
	}
	if (expired) {
		free(path);
		answer_text(&a, 403, "Request has expired\n");
		return queue(c, &a, method, url);
	}
	if (fault) {
		log_info("fault endpoint=download kind=%s", f.kind);
		if (strcmp(f.kind, "http500") == 0 || strcmp(f.kind, "error9") == 0) {
			free(path);
			answer_text(&a, 500, "Internal Server Error\n");
			return queue(c, &a, method, url);
		}
		if (strcmp(f.kind, "http429") == 0) {
			free(path);
			answer_text(&a, 429, "Too Many Requests\n");
			return queue(c, &a, method, url);
		}
		if (strcmp(f.kind, "slow") == 0)
			usleep((useconds_t)f.ms * 1000);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatalx(70, "out of memory");
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (s->fd == -1 || fstat(s->fd, &sb) == -1) {
		log_warn("cannot open export");
		stream_free(s);
		answer_text(&a, 500, "Internal Server Error\n");
		return queue(c, &a, method, url);
	}
	len = (uint64_t)sb.st_size;
	rr = range_parse(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"),
	    (uint64_t)sb.st_size, &start, &len);
	if (rr == -1) {
		stream_free(s);
		answer_text(&a, 416, "Requested Range Not Satisfiable\n");
		a.type = "text/plain";
		snprintf(v, sizeof(v), "bytes */%lld", (long long)sb.st_size);
		if ((s = calloc(1, sizeof(*s))) == NULL)
			fatalx(70, "out of memory");
		s->fd = -1;
		s->mem = a.body;
		s->len = a.len;
		s->cut_at = UINT64_MAX;
		resp = MHD_create_response_from_callback(s->len, 4096, stream_read, s,
		    stream_free);
		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(resp, "Content-Range", v);
		rc = MHD_queue_response(c, 416, resp);
		MHD_destroy_response(resp);
		return rc;
	}
	if (rr == 1) {
		start = 0;
		len = (uint64_t)sb.st_size;
	} else
		status = 206;
	s->start = start;
	s->len = len;
	s->cut_at = fault && strcmp(f.kind, "cut") == 0 ?
	    (uint64_t)((double)len * f.fraction) : UINT64_MAX;
	resp = MHD_create_response_from_callback(len, 256 * 1024, stream_read, s,
	    stream_free);
	if (resp == NULL) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/csv");
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	if (status == 206) {
		snprintf(v, sizeof(v), "bytes %" PRIu64 "-%" PRIu64 "/%lld", start,
		    start + len - 1, (long long)sb.st_size);
		MHD_add_response_header(resp, "Content-Range", v);
	}
	if (sim.o.log_requests)
		log_info("request method=%s path=%s status=%u bytes=%" PRIu64,
		    method, url, status, len);
	rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static MHD_RESULT
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **ctx)
{
	struct req	*r = *ctx;
	struct answer	 a;
	const char	*ct, *endpoint = NULL;
	size_t		 cap;

	(void)cls; (void)version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		buf_init(&r->raw, SIM_BODY_MAX);
		r->file_fd = -1;
		ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
		r->multipart = ct && strncasecmp(ct, "multipart/form-data", 19) == 0;
		if (strcmp(method, "POST") == 0 && strncmp(url, "/_sim/", 6) != 0 && ct &&
		    (r->pp = MHD_create_post_processor(c, 64 * 1024, post_iter, r)) == NULL)
			r->bad_form = 1;
		*ctx = r;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		cap = r->multipart ? SIM_UPLOAD_MAX + SIM_BODY_MAX : SIM_BODY_MAX;
		r->total += *upload_size;
		if (r->total > cap)
			r->too_big = 1;
		if (!r->too_big && r->pp) {
			if (MHD_post_process(r->pp, upload, *upload_size) == MHD_NO &&
			    !r->too_big)
				r->bad_form = 1;
		} else if (!r->too_big && !r->pp) {
			if (buf_add(&r->raw, upload, *upload_size) == -1)
				r->too_big = 1;
		}
		*upload_size = 0;
		return MHD_YES;
	}

	memset(&a, 0, sizeof(a));
	if (r->too_big) {
		answer_error(&a, 413, 2, "Request body too large");
		return queue(c, &a, method, url);
	}
	if (strncmp(url, "/_export/", 9) == 0 || strncmp(url, "/_report/", 9) == 0) {
		if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
			answer_text(&a, 405, "Method Not Allowed\n");
			return queue(c, &a, method, url);
		}
		return download(c, method, url);
	}
	if (strncmp(url, "/_sim/", 6) == 0) {
		pthread_mutex_lock(&sim.lock);
		sim_jobs_tick();
		admin(&a, method, url, r);
		pthread_mutex_unlock(&sim.lock);
		return queue(c, &a, method, url);
	}
	if (strcmp(url, "/user") == 0 || strcmp(url, "/user/") == 0)
		endpoint = "user";
	else if (strcmp(url, "/list") == 0 || strcmp(url, "/list/") == 0)
		endpoint = "list";
	else if (strcmp(url, "/job") == 0 || strcmp(url, "/job/") == 0)
		endpoint = "job";
	if (endpoint == NULL) {
		answer_error(&a, 404, 2, "Unsupported action");
		return queue(c, &a, method, url);
	}
	if (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "DELETE")) {
		answer_error(&a, 405, 2, "Unsupported method");
		return queue(c, &a, method, url);
	}
	if (r->bad_form) {
		answer_error(&a, 400, 2, "Unreadable form body");
		return queue(c, &a, method, url);
	}
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, get_iter, r);
	if (r->too_big) {
		answer_error(&a, 413, 2, "Request too large");
		return queue(c, &a, method, url);
	}
	pthread_mutex_lock(&sim.lock);
	sim_jobs_tick();
	api(&a, c, method, endpoint, r);
	pthread_mutex_unlock(&sim.lock);
	return queue(c, &a, method, url);
}

static void
done(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode t)
{
	(void)cls; (void)c; (void)t;
	if (*ctx)
		req_free(*ctx);
	*ctx = NULL;
}

static char *
slurp(const char *path, char *err, size_t errlen)
{
	struct buf	 b;
	char		 chunk[4096];
	size_t		 n;
	FILE		*f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, 1 << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&b, chunk, n) == -1)
			break;
	fclose(f);
	buf_add(&b, "", 0);
	return buf_detach(&b, &n);
}

/* Parses HOST:PORT ([::1]:PORT for IPv6); refuses anything not loopback. */
static int
listen_addr(const char *spec, struct sockaddr_storage *ss, int *v6, char *host,
    size_t hostlen, char *err, size_t errlen)
{
	const char		*colon;
	char			*end;
	long			 port;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if ((colon = strrchr(spec, ':')) == NULL || colon == spec) {
		snprintf(err, errlen, "--listen wants HOST:PORT");
		return -1;
	}
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535) {
		snprintf(err, errlen, "--listen: bad port");
		return -1;
	}
	if (spec[0] == '[') {
		snprintf(host, hostlen, "%.*s", (int)(colon - spec - 2), spec + 1);
		if (colon[-1] != ']' || inet_pton(AF_INET6, host, &s6->sin6_addr) != 1 ||
		    !IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr)) {
			snprintf(err, errlen, "--listen: only loopback addresses are allowed");
			return -1;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*v6 = 1;
		return 0;
	}
	snprintf(host, hostlen, "%.*s", (int)(colon - spec), spec);
	if (strcmp(host, "localhost") == 0)
		snprintf(host, hostlen, "127.0.0.1");
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1 ||
	    (ntohl(s4->sin_addr.s_addr) >> 24) != 127) {
		snprintf(err, errlen, "--listen: only loopback addresses are allowed");
		return -1;
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*v6 = 0;
	return 0;
}

/* The TLS certificate and key: the daemon reads them until it stops. */
static char	*tls_cert, *tls_key;

static void
tls_free(void)
{
	free(tls_cert);
	free(tls_key);
	tls_cert = tls_key = NULL;
}

/*
 * Starts the daemon and fills sim.base_url.  Returns NULL with a reason in
 * err: a usage problem says "--", anything else is the environment.
 * sim_http_stop stops it.
 */
struct MHD_Daemon *
sim_http_start(char *err, size_t errlen)
{
	struct sockaddr_storage	 ss;
	struct MHD_Daemon	*d;
	const union MHD_DaemonInfo *info;
	unsigned		 flags = MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	char			 host[64];
	int			 v6 = 0, tls = 0;

	if (listen_addr(sim.o.listen, &ss, &v6, host, sizeof(host), err, errlen) == -1)
		return NULL;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (sim.o.tls_cert || sim.o.tls_key) {
		if (!sim.o.tls_cert || !sim.o.tls_key) {
			snprintf(err, errlen, "--tls-cert and --tls-key go together");
			return NULL;
		}
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, errlen, "libmicrohttpd was built without TLS");
			return NULL;
		}
		if ((tls_cert = slurp(sim.o.tls_cert, err, errlen)) == NULL ||
		    (tls_key = slurp(sim.o.tls_key, err, errlen)) == NULL) {
			tls_free();
			return NULL;
		}
		flags |= MHD_USE_TLS;
		tls = 1;
	}
	if (tls)
		d = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		    MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		    MHD_OPTION_HTTPS_MEM_CERT, tls_cert, MHD_OPTION_HTTPS_MEM_KEY, tls_key,
		    MHD_OPTION_END);
	else
		d = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		    MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		    MHD_OPTION_END);
	if (d == NULL) {
		tls_free();
		snprintf(err, errlen, "cannot listen on %s", sim.o.listen);
		return NULL;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || info->port == 0) {
		sim_http_stop(&d);
		snprintf(err, errlen, "cannot learn the bound port");
		return NULL;
	}
	snprintf(sim.base_url, sizeof(sim.base_url), v6 ? "%s://[%s]:%u" : "%s://%s:%u",
	    tls ? "https" : "http", host, (unsigned)info->port);
	return d;
}

void
sim_http_stop(struct MHD_Daemon **dp)
{
	if (*dp == NULL)
		return;
	MHD_stop_daemon(*dp);
	*dp = NULL;
	tls_free();
}
