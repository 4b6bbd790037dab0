/* tests/sim/sim_state.c: the simulator's users, lists and jobs, and the seed. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "sim.h"

struct sim sim;

/* A deleted slot of an smap; never a real key. */
static const char smap_tomb[] = "";

void
md5_hex(const void *p, size_t n, char out[33])
{
	unsigned char	 d[EVP_MAX_MD_SIZE];
	unsigned int	 dlen = 0, i;
	static const char hex[] = "0123456789abcdef";

	if (EVP_Digest(p, n, d, &dlen, EVP_md5(), NULL) != 1 || dlen != 16)
		panic("md5 failed");
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[32] = '\0';
}

/* A 24-hex id, a pure function of what and salt (deterministic runs). */
void
sim_id(const char *what, const char *salt, char out[25])
{
	struct buf	 b;
	char		 h[33];

	buf_init(&b, 1 << 20);
	if (buf_printf(&b, "%s\n%s", what, salt) == -1)
		panic("id buffer");
	md5_hex(b.data, b.len, h);
	buf_clear(&b);
	memcpy(out, h, 24);
	out[24] = '\0';
}

static uint64_t
smap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static ssize_t
smap_slot(const struct smap *m, const char *k)
{
	size_t	 i;

	if (m->cap == 0)
		return -1;
	for (i = smap_hash(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == NULL)
			return -1;
		if (m->keys[i] != smap_tomb && strcmp(m->keys[i], k) == 0)
			return (ssize_t)i;
	}
}

static int
smap_get(const struct smap *m, const char *k, size_t *v)
{
	ssize_t	 i = smap_slot(m, k);

	if (i < 0)
		return 0;
	*v = m->vals[i];
	return 1;
}

static void smap_put(struct smap *m, const char *k, size_t v);

static void
smap_grow(struct smap *m)
{
	struct smap	 n;
	size_t		 i;

	n.cap = m->cap ? m->cap * 2 : 1024;
	n.len = 0;
	if ((n.keys = calloc(n.cap, sizeof(*n.keys))) == NULL ||
	    (n.vals = calloc(n.cap, sizeof(*n.vals))) == NULL)
		fatalx(70, "out of memory");
	for (i = 0; i < m->cap; i++)
		if (m->keys[i] != NULL && m->keys[i] != smap_tomb)
			smap_put(&n, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = n;
}

/* k must stay valid while it is in the map. */
static void
smap_put(struct smap *m, const char *k, size_t v)
{
	ssize_t	 s;
	size_t	 i;

	if ((s = smap_slot(m, k)) >= 0) {
		m->keys[s] = k;
		m->vals[s] = v;
		return;
	}
	/* len counts tombstones too, so probes always find a NULL. */
	if ((m->len + 1) * 2 > m->cap)
		smap_grow(m);
	for (i = smap_hash(k) & (m->cap - 1); m->keys[i] != NULL &&
	    m->keys[i] != smap_tomb; i = (i + 1) & (m->cap - 1))
		;
	if (m->keys[i] == NULL)
		m->len++;
	m->keys[i] = k;
	m->vals[i] = v;
}

static void
smap_del(struct smap *m, const char *k)
{
	ssize_t	 s = smap_slot(m, k);

	if (s >= 0)
		m->keys[s] = smap_tomb;
}

static void
smap_clear(struct smap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

static void *
xrealloc(void *p, size_t n, size_t sz)
{
	if (sz && n > SIZE_MAX / sz)
		fatalx(70, "allocation overflow");
	if ((p = realloc(p, n * sz > 0 ? n * sz : 1)) == NULL)
		fatalx(70, "out of memory");
	return p;
}

/* Sailthru keeps emails trimmed and lowercased. */
static char *
email_norm(const char *s)
{
	size_t	 n, i;
	char	*p;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if ((p = strndup(s, n)) == NULL)
		fatalx(70, "out of memory");
	for (i = 0; i < n; i++)
		p[i] = (char)tolower((unsigned char)p[i]);
	return p;
}

/* Sailthru's account time zone is New York; a fixed offset keeps runs stable. */
#define SIM_TZ_OFF	(-4 * 3600)

char *
sim_time_rfc2822(time_t t, char *out, size_t len)
{
	struct tm	 tm;
	time_t		 l = t + SIM_TZ_OFF;

	if (t == 0) {
		if (len)
			out[0] = '\0';
		return out;
	}
	gmtime_r(&l, &tm);
	strftime(out, len, "%a, %d %b %Y %H:%M:%S -0400", &tm);
	return out;
}

char *
sim_time_iso(time_t t, char *out, size_t len)
{
	struct tm	 tm;
	time_t		 l = t + SIM_TZ_OFF;

	if (t == 0) {
		if (len)
			out[0] = '\0';
		return out;
	}
	gmtime_r(&l, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
	return out;
}

/* Seed dates: epoch seconds, "YYYY-MM-DD", "YYYY-MM-DD[ T]HH:MM:SS[Z]" (UTC). */
int
sim_time_parse(json_t *v, time_t *out)
{
	struct tm	 tm;
	const char	*s;
	int		 n = 0;

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*out = (time_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (*s == '\0')
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) != 3)
		return -1;
	s += n;
	if (*s == ' ' || *s == 'T') {
		if (sscanf(s + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
		    &n) != 3)
			return -1;
		s += 1 + n;
	}
	if (*s == 'Z')
		s++;
	if (*s != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = timegm(&tm);
	return 0;
}

/* Lines after the header: GET /list's email_count for a --export-file list. */
static long
count_rows(const char *path)
{
	char	 b[65536];
	size_t	 n, i;
	long	 lines = 0;
	FILE	*f;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while ((n = fread(b, 1, sizeof(b), f)) > 0)
		for (i = 0; i < n; i++)
			lines += b[i] == '\n';
	fclose(f);
	return lines > 0 ? lines - 1 : 0;
}

void
sim_init(const struct sim_opts *o)
{
	char	*tmp;
	size_t	 i;

	memset(&sim, 0, sizeof(sim));
	pthread_mutex_init(&sim.lock, NULL);
	sim.o = *o;
	if ((sim.counters = json_object()) == NULL)
		fatalx(70, "out of memory");
	tmp = getenv("TMPDIR");
	snprintf(sim.tmpdir, sizeof(sim.tmpdir), "%s/sailthru-sim.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(sim.tmpdir) == NULL)
		fatal(73, "cannot create a temporary directory path=%s", sim.tmpdir);
	for (i = 0; i < o->nexport_files; i++) {
		char *eq = strchr(o->export_files[i], '=');

		if (eq == NULL || eq == o->export_files[i] || eq[1] == '\0')
			fatalx(64, "--export-file wants LIST=PATH, got %s",
			    o->export_files[i]);
		if (access(eq + 1, R_OK) == -1)
			fatal(66, "cannot read export file path=%s", eq + 1);
		sim.export_files[i][0] = xstrdup(o->export_files[i]);
		sim.export_files[i][0][eq - o->export_files[i]] = '\0';
		sim.export_files[i][1] = xstrdup(eq + 1);
		sim.export_rows[i] = count_rows(eq + 1);
		sim.nexport_files++;
	}
}

void
sim_clear(void)
{
	size_t	 i;

	for (i = 0; i < sim.njobs; i++) {
		struct sim_job *j = sim.jobs[i];

		if (j->own_path && j->path)
			unlink(j->path);
		if (j->report_path)
			unlink(j->report_path);
		free(j->path);
		free(j->report_path);
		free(j->name);
		free(j->list);
		if (j->upload_path)
			unlink(j->upload_path);
		free(j->upload_path);
		free(j);
	}
	free(sim.jobs);
	rmdir(sim.tmpdir);
	for (i = 0; i < sim.nusers; i++) {
		struct sim_user *u = sim.users[i];

		free(u->email);
		free(u->extid);
		free(u->vars);
		free(u->lists);
		free(u);
	}
	free(sim.users);
	for (i = 0; i < sim.nlists; i++) {
		free(sim.lists[i].name);
		free(sim.lists[i].public_name);
		json_decref(sim.lists[i].vars);
	}
	free(sim.lists);
	free(sim.faults);
	for (i = 0; i < sim.nexport_files; i++) {
		free(sim.export_files[i][0]);
		free(sim.export_files[i][1]);
	}
	smap_clear(&sim.by_email);
	smap_clear(&sim.by_sid);
	smap_clear(&sim.by_extid);
	json_decref(sim.counters);
	pthread_mutex_destroy(&sim.lock);
}

ssize_t
sim_list_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < sim.nlists; i++)
		if (strcmp(sim.lists[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

ssize_t
sim_list_find_id(const char *id)
{
	size_t	 i;

	for (i = 0; i < sim.nlists; i++)
		if (strcmp(sim.lists[i].id, id) == 0)
			return (ssize_t)i;
	return -1;
}

size_t
sim_list_add(const char *name, int smart)
{
	struct sim_list	*l;
	ssize_t		 i;

	if ((i = sim_list_find(name)) >= 0)
		return (size_t)i;
	sim.lists = xrealloc(sim.lists, sim.nlists + 1, sizeof(*sim.lists));
	l = &sim.lists[sim.nlists];
	memset(l, 0, sizeof(*l));
	sim_id("list", name, l->id);
	l->name = xstrdup(name);
	l->smart = smart;
	if ((l->vars = json_object()) == NULL)
		fatalx(70, "out of memory");
	l->created = time(NULL);
	return sim.nlists++;
}

json_t *
sim_user_vars(const struct sim_user *u)
{
	json_t	*o;

	if (u->vars == NULL)
		o = json_object();
	else if ((o = json_loads(u->vars, 0, NULL)) == NULL)
		panic("stored vars do not parse");
	if (o == NULL)
		fatalx(70, "out of memory");
	return o;
}

/* Stores vars (an object, not kept) as u's vars. */
static void
user_vars_store(struct sim_user *u, json_t *vars)
{
	free(u->vars);
	u->vars = NULL;
	if (json_object_size(vars) == 0)
		return;
	if ((u->vars = json_dumps(vars, JSON_COMPACT)) == NULL)
		fatalx(70, "out of memory");
}

/* Sets each of vars (an object) on u, like POST /user; absent=old values win. */
static void
user_vars_update(struct sim_user *u, json_t *vars, int keep_old)
{
	json_t		*cur;
	const char	*k;
	json_t		*v;

	if (json_object_size(vars) == 0)
		return;
	if (u->vars == NULL) {
		user_vars_store(u, vars);
		return;
	}
	cur = sim_user_vars(u);
	if (keep_old)
		json_object_update_missing(cur, vars);
	else
		json_object_foreach(vars, k, v)
			json_object_set(cur, k, v);
	user_vars_store(u, cur);
	json_decref(cur);
}

static struct sim_member *
user_member(struct sim_user *u, size_t list)
{
	size_t	 i;

	for (i = 0; i < u->nlists; i++)
		if (u->lists[i].list == list)
			return &u->lists[i];
	return NULL;
}

static void
user_join(struct sim_user *u, size_t list, time_t signup)
{
	if (user_member(u, list) != NULL)
		return;
	u->lists = xrealloc(u->lists, u->nlists + 1, sizeof(*u->lists));
	u->lists[u->nlists].list = list;
	u->lists[u->nlists].signup = signup ? signup : time(NULL);
	u->nlists++;
}

static void
user_leave(struct sim_user *u, size_t list)
{
	struct sim_member *m = user_member(u, list);

	if (m == NULL)
		return;
	*m = u->lists[--u->nlists];
}

/* Creates a user with the normalized email; a new sid unless sid is given. */
static struct sim_user *
user_new(const char *email, const char *sid)
{
	struct sim_user	*u;
	char		 h[33];
	size_t		 dummy;
	unsigned	 n;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		fatalx(70, "out of memory");
	u->email = xstrdup(email);
	if (sid != NULL) {
		snprintf(u->sid, sizeof(u->sid), "%s", sid);
	} else {
		/* Deterministic from the email; a collision takes the next salt. */
		for (n = 0;; n++) {
			char salt[16];

			snprintf(salt, sizeof(salt), "%u", n);
			sim_id(email, salt, u->sid);
			if (!smap_get(&sim.by_sid, u->sid, &dummy))
				break;
		}
	}
	md5_hex(email, strlen(email), h);
	memcpy(u->cookie, h, sizeof(u->cookie));
	snprintf(u->engagement, sizeof(u->engagement), "new");
	snprintf(u->optout, sizeof(u->optout), "none");
	u->created = time(NULL);
	if (sim.nusers == sim.capusers) {
		sim.capusers = sim.capusers ? sim.capusers * 2 : 256;
		sim.users = xrealloc(sim.users, sim.capusers, sizeof(*sim.users));
	}
	sim.users[sim.nusers] = u;
	smap_put(&sim.by_email, u->email, sim.nusers);
	smap_put(&sim.by_sid, u->sid, sim.nusers);
	sim.nusers++;
	return u;
}

struct sim_user *
sim_user_find(const char *key, const char *id)
{
	struct sim_user	*u = NULL;
	size_t		 i;
	char		*n;

	if (strcmp(key, "email") == 0) {
		n = email_norm(id);
		if (smap_get(&sim.by_email, n, &i))
			u = sim.users[i];
		free(n);
	} else if (strcmp(key, "sid") == 0) {
		if (smap_get(&sim.by_sid, id, &i))
			u = sim.users[i];
	} else if (strcmp(key, "extid") == 0) {
		if (smap_get(&sim.by_extid, id, &i))
			u = sim.users[i];
	}
	return u;
}

static size_t
user_index(const struct sim_user *u)
{
	size_t	 i;

	if (smap_get(&sim.by_sid, u->sid, &i))
		return i;
	panic("user sid=%s not indexed", u->sid);
}

/* Folds v into u (u's values win) and retires v. */
static void
user_merge(struct sim_user *u, struct sim_user *v)
{
	size_t		 i;

	if (v->vars != NULL) {
		json_t *vv = sim_user_vars(v);

		user_vars_update(u, vv, 1);
		json_decref(vv);
	}
	for (i = 0; i < v->nlists; i++)
		user_join(u, v->lists[i].list, v->lists[i].signup);
	u->opens += v->opens;
	u->clicks += v->clicks;
	sim_user_delete(v);
}

#define FAIL(st, c, ...) do {					\
	*code = (c);						\
	snprintf(msg, msglen, __VA_ARGS__);			\
	return (st);						\
} while (0)

static const char *
default_key(const char *id)
{
	return strchr(id, '@') ? "email" : "sid";
}

int
sim_user_post(json_t *args, struct sim_user **out, int *code, char *msg, size_t msglen)
{
	json_t		*jid, *jkey, *keys, *vars, *lists, *fields, *opt, *v;
	const char	*id, *key, *k, *conflict = "error";
	struct sim_user	*u, *other;
	char		*n;

	if (out)
		*out = NULL;
	if (!json_is_object(args))
		FAIL(400, 2, "Invalid json: an object is required");
	jid = json_object_get(args, "id");
	if (!json_is_string(jid) || json_string_length(jid) == 0)
		FAIL(400, 2, "Missing required parameter: id");
	id = json_string_value(jid);
	jkey = json_object_get(args, "key");
	if (jkey != NULL && !json_is_string(jkey))
		FAIL(400, 2, "Invalid key");
	key = jkey ? json_string_value(jkey) : default_key(id);
	if (strcmp(key, "email") && strcmp(key, "sid") && strcmp(key, "extid"))
		FAIL(400, 2, "Invalid key: %.64s", key);
	keys = json_object_get(args, "keys");
	vars = json_object_get(args, "vars");
	lists = json_object_get(args, "lists");
	fields = json_object_get(args, "fields");
	opt = json_object_get(args, "optout_email");
	if ((v = json_object_get(args, "keysconflict")) != NULL) {
		if (!json_is_string(v) || (strcmp(json_string_value(v), "error") &&
		    strcmp(json_string_value(v), "merge")))
			FAIL(400, 2, "Invalid keysconflict: must be error or merge");
		conflict = json_string_value(v);
	}
	if (keys && !json_is_object(keys))
		FAIL(400, 2, "Invalid keys: an object is required");
	if (vars && !json_is_null(vars) && !json_is_object(vars))
		FAIL(400, 2, "Invalid vars: an object is required");
	if (lists && !json_is_null(lists) && !json_is_object(lists))
		FAIL(400, 2, "Invalid lists: an object is required");
	if (fields && !json_is_object(fields))
		FAIL(400, 2, "Invalid fields: an object is required");
	if (opt && (!json_is_string(opt) || (strcmp(json_string_value(opt), "none") &&
	    strcmp(json_string_value(opt), "all") &&
	    strcmp(json_string_value(opt), "basic") &&
	    strcmp(json_string_value(opt), "blast"))))
		FAIL(400, 2, "Invalid optout_email: none, all, basic or blast");
	/* Check everything that can fail before changing anything. */
	if (json_is_object(lists)) {
		json_object_foreach(lists, k, v) {
			ssize_t li;

			if (!json_is_integer(v) && !json_is_boolean(v) &&
			    !json_is_string(v))
				FAIL(400, 2, "Invalid lists value for %.64s", k);
			if (*k == '\0')
				FAIL(400, 2, "Invalid lists: empty list name");
			li = sim_list_find(k);
			if (li >= 0 && sim.lists[li].smart)
				FAIL(400, 2, "Cannot change membership of smart list: %.64s", k);
		}
	}
	if (keys) {
		json_object_foreach(keys, k, v) {
			if (strcmp(k, "email") && strcmp(k, "extid") &&
			    strcmp(k, "sid") && strcmp(k, "cookie"))
				FAIL(400, 2, "Invalid keys: unknown key %.64s", k);
			if (!json_is_string(v) || json_string_length(v) == 0)
				FAIL(400, 2, "Invalid keys: %s must be a non-empty string", k);
			if (strcmp(k, "email") == 0 && !strchr(json_string_value(v), '@'))
				FAIL(400, 2, "Invalid email: %.128s", json_string_value(v));
		}
	}

	u = sim_user_find(key, id);
	if (u == NULL) {
		if (strcmp(key, "email"))
			FAIL(400, 99, "User not found with %s: %.128s", key, id);
		n = email_norm(id);
		if (strchr(n, '@') == NULL || strlen(n) < 3) {
			free(n);
			FAIL(400, 2, "Invalid email: %.128s", id);
		}
		u = user_new(n, NULL);
		free(n);
	}

	if (keys) {
		if ((v = json_object_get(keys, "email")) != NULL) {
			n = email_norm(json_string_value(v));
			other = sim_user_find("email", n);
			if (other && other != u && strcmp(conflict, "merge")) {
				free(n);
				FAIL(400, 2, "Key conflict: email %.128s belongs to another profile",
				    json_string_value(v));
			}
			if (other && other != u)
				user_merge(u, other);
			if (other != u) {
				smap_del(&sim.by_email, u->email);
				free(u->email);
				u->email = n;
				smap_put(&sim.by_email, u->email, user_index(u));
			} else
				free(n);
		}
		if ((v = json_object_get(keys, "extid")) != NULL) {
			const char *x = json_string_value(v);

			other = sim_user_find("extid", x);
			if (other && other != u && strcmp(conflict, "merge"))
				FAIL(400, 2, "Key conflict: extid %.128s belongs to another profile", x);
			if (other && other != u)
				user_merge(u, other);
			if (other != u) {
				if (u->extid)
					smap_del(&sim.by_extid, u->extid);
				free(u->extid);
				u->extid = xstrdup(x);
				smap_put(&sim.by_extid, u->extid, user_index(u));
			}
		}
	}
	/* A null var is a value like any other: Sailthru keeps it as null. */
	if (json_is_object(vars))
		user_vars_update(u, vars, 0);
	if (json_is_object(lists)) {
		json_object_foreach(lists, k, v) {
			int add;

			if (json_is_string(v))
				add = strcmp(json_string_value(v), "0") != 0 &&
				    json_string_length(v) > 0;
			else if (json_is_boolean(v))
				add = json_is_true(v);
			else
				add = json_integer_value(v) != 0;
			if (add)
				user_join(u, sim_list_add(k, 0), 0);
			else if (sim_list_find(k) >= 0)
				user_leave(u, (size_t)sim_list_find(k));
		}
	}
	if (opt)
		snprintf(u->optout, sizeof(u->optout), "%s", json_string_value(opt));
	if (out)
		*out = u;
	return 0;
}

json_t *
sim_user_keys(const struct sim_user *u)
{
	json_t	*k = json_pack("{s:s, s:s, s:s}", "sid", u->sid, "cookie", u->cookie,
	    "email", u->email);

	if (k && u->extid)
		json_object_set_new(k, "extid", json_string(u->extid));
	return k;
}

static int
want(json_t *fields, const char *name)
{
	json_t	*v;

	if (fields == NULL || json_object_size(fields) == 0)
		return strcmp(name, "activity") != 0;
	v = json_object_get(fields, name);
	return v && !json_is_false(v) && !json_is_null(v) &&
	    !(json_is_integer(v) && json_integer_value(v) == 0);
}

json_t *
sim_user_json(const struct sim_user *u, json_t *fields)
{
	json_t	*o, *l;
	char	 t[64];
	size_t	 i;

	if ((o = json_object()) == NULL)
		return NULL;
	if (want(fields, "keys"))
		json_object_set_new(o, "keys", sim_user_keys(u));
	if (want(fields, "vars"))
		json_object_set_new(o, "vars", sim_user_vars(u));
	if (want(fields, "lists") && u->nlists == 0) {
		/* Sailthru answers null, not {}, for a user on no list. */
		json_object_set_new(o, "lists", json_null());
	} else if (want(fields, "lists")) {
		l = json_object();
		for (i = 0; i < u->nlists; i++)
			json_object_set_new(l, sim.lists[u->lists[i].list].name,
			    json_string(sim_time_rfc2822(u->lists[i].signup, t, sizeof(t))));
		json_object_set_new(o, "lists", l);
	}
	if (want(fields, "engagement"))
		json_object_set_new(o, "engagement", json_string(u->engagement));
	if (want(fields, "optout_email"))
		json_object_set_new(o, "optout_email", json_string(u->optout));
	if (want(fields, "activity")) {
		json_t *a = json_object();

		json_object_set_new(a, "create_time",
		    json_string(sim_time_rfc2822(u->created, t, sizeof(t))));
		if (u->last_open)
			json_object_set_new(a, "open_time",
			    json_string(sim_time_rfc2822(u->last_open, t, sizeof(t))));
		if (u->last_click)
			json_object_set_new(a, "click_time",
			    json_string(sim_time_rfc2822(u->last_click, t, sizeof(t))));
		json_object_set_new(o, "activity", a);
	}
	return o;
}

long *
sim_list_counts(void)
{
	long	*c;
	size_t	 i, j;

	if ((c = calloc(sim.nlists + 1, sizeof(*c))) == NULL)
		fatalx(70, "out of memory");
	for (i = 0; i < sim.nusers; i++) {
		if (sim.users[i]->deleted)
			continue;
		for (j = 0; j < sim.users[i]->nlists; j++)
			c[sim.users[i]->lists[j].list]++;
	}
	for (i = 0; i < sim.nexport_files; i++) {
		ssize_t li = sim_list_find(sim.export_files[i][0]);

		if (li >= 0 && c[li] == 0)
			c[li] = sim.export_rows[i];
	}
	return c;
}

json_t *
sim_list_json(size_t i, long count)
{
	char	 t[64];

	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}",
	    "list_id", sim.lists[i].id, "name", sim.lists[i].name,
	    "type", sim.lists[i].smart ? "smart" : "normal",
	    "email_count", (json_int_t)count, "valid_count", (json_int_t)count,
	    "create_time", sim_time_rfc2822(sim.lists[i].created, t, sizeof(t)));
}

/* GET /list {"list": NAME} and POST /list answer this shape. */
json_t *
sim_list_object(size_t i, long count, int with_vars)
{
	struct sim_list	*l = &sim.lists[i];
	json_t		*o;
	char		 t[64];

	o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:b}",
	    "list_id", l->id, "list", l->name,
	    "create_time", sim_time_rfc2822(l->created, t, sizeof(t)),
	    "count", (json_int_t)count, "type", l->smart ? "smart" : "normal",
	    "primary", l->primary);
	if (o == NULL)
		fatalx(70, "out of memory");
	if (l->send_time)
		json_object_set_new(o, "send_time",
		    json_string(sim_time_rfc2822(l->send_time, t, sizeof(t))));
	if (with_vars) {
		json_object_set(o, "vars", l->vars);
		json_object_set_new(o, "public_name",
		    json_string(l->public_name ? l->public_name : l->name));
	}
	return o;
}

void
sim_user_delete(struct sim_user *u)
{
	smap_del(&sim.by_email, u->email);
	smap_del(&sim.by_sid, u->sid);
	if (u->extid)
		smap_del(&sim.by_extid, u->extid);
	u->deleted = 1;
}

struct sim_job *
sim_job_find(const char *id)
{
	size_t	 i;

	for (i = 0; i < sim.njobs; i++)
		if (strcmp(sim.jobs[i]->id, id) == 0)
			return sim.jobs[i];
	return NULL;
}

static void
sim_token(char out[33])
{
	char	 s[64];

	snprintf(s, sizeof(s), "%llu.%lld.%ld", (unsigned long long)++sim.seq,
	    (long long)time(NULL), (long)getpid());
	md5_hex(s, strlen(s), out);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct sim_job *
sim_job_new(enum sim_job_kind kind)
{
	struct sim_job	*j;
	char		 salt[64];

	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatalx(70, "out of memory");
	snprintf(salt, sizeof(salt), "%llu.%lld", (unsigned long long)++sim.seq,
	    (long long)time(NULL));
	sim_id("job", salt, j->id);
	j->kind = kind;
	j->status = JOB_PENDING;
	j->start_ms = now_ms();
	j->due_ms = j->start_ms + sim.o.job_delay_ms;
	sim.jobs = xrealloc(sim.jobs, sim.njobs + 1, sizeof(*sim.jobs));
	sim.jobs[sim.njobs++] = j;
	return j;
}

static const char *
export_file_for(const char *list)
{
	size_t	 i;

	for (i = 0; i < sim.nexport_files; i++)
		if (strcmp(sim.export_files[i][0], list) == 0)
			return sim.export_files[i][1];
	return NULL;
}

static void
job_finish(struct sim_job *j)
{
	char		 path[512];
	const char	*ef;

	j->end = time(NULL);
	j->expires = j->end + sim.o.url_ttl_s;
	if (j->fail) {
		j->status = JOB_ERROR;
		log_info("job failed by fault job=%s", j->id);
		return;
	}
	if (j->kind == JOB_EXPORT) {
		if ((ef = export_file_for(j->list)) != NULL) {
			j->path = xstrdup(ef);
		} else {
			snprintf(path, sizeof(path), "%s/export-%s.csv", sim.tmpdir, j->id);
			j->path = xstrdup(path);
			j->own_path = 1;
			if (sim_export_write(j->list, j->path, &j->rows) == -1) {
				log_warn("export failed job=%s", j->id);
				j->status = JOB_ERROR;
				return;
			}
		}
		sim_token(j->token);
	} else if (j->bad)
		sim_token(j->report_token);
	j->status = JOB_COMPLETED;
	log_info("job completed job=%s rows=%ld bad=%ld", j->id, j->rows, j->bad);
}

void
sim_jobs_tick(void)
{
	int64_t	 now = now_ms();
	size_t	 i;

	/* An update job also waits for its worker to apply the whole file. */
	for (i = 0; i < sim.njobs; i++)
		if (sim.jobs[i]->status == JOB_PENDING && sim.jobs[i]->due_ms <= now &&
		    (sim.jobs[i]->kind != JOB_UPDATE || sim.jobs[i]->applied))
			job_finish(sim.jobs[i]);
}

json_t *
sim_job_json(struct sim_job *j)
{
	json_t	*o;
	char	 t[64], url[256];
	int	 expired = time(NULL) >= j->expires;

	o = json_pack("{s:s, s:s, s:s, s:s}", "job_id", j->id, "name", j->name,
	    "status", j->status == JOB_PENDING ? "pending" :
	    j->status == JOB_COMPLETED ? "completed" : "error",
	    "start_time", sim_time_rfc2822((time_t)(j->start_ms / 1000), t, sizeof(t)));
	if (o == NULL)
		return NULL;
	if (j->list)
		json_object_set_new(o, "list", json_string(j->list));
	if (j->status != JOB_PENDING)
		json_object_set_new(o, "end_time",
		    json_string(sim_time_rfc2822(j->end, t, sizeof(t))));
	if (j->status == JOB_ERROR)
		json_object_set_new(o, "error_message",
		    json_string("The job failed; please try again"));
	if (j->status != JOB_COMPLETED)
		return o;
	if (j->kind == JOB_EXPORT) {
		snprintf(url, sizeof(url), "%s/_export/%s.csv", sim.base_url, j->token);
		json_object_set_new(o, "export_url", json_string(url));
		json_object_set_new(o, "filename", json_string("export.csv"));
	} else {
		json_object_set_new(o, "rows", json_integer(j->rows));
		json_object_set_new(o, "bad_rows", json_integer(j->bad));
		if (j->bad) {
			snprintf(url, sizeof(url), "%s/_report/%s.csv", sim.base_url,
			    j->report_token);
			json_object_set_new(o, "error_report_url", json_string(url));
		}
	}
	if (expired)
		json_object_set_new(o, "expired", json_true());
	return o;
}

/* The state dump's dates: UTC, so tests compare them with what they set. */
static char *
utc_iso(time_t t, char *out, size_t len)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

json_t *
sim_state_json(void)
{
	json_t	*st, *ls, *us, *js, *fs, *o, *m;
	long	*counts = sim_list_counts();
	size_t	 i, j;
	char	 t[64];

	st = json_object();
	ls = json_array();
	for (i = 0; i < sim.nlists; i++) {
		o = sim_list_json(i, counts[i]);
		m = json_array();
		for (j = 0; j < sim.nusers; j++)
			if (!sim.users[j]->deleted && user_member(sim.users[j], i))
				json_array_append_new(m, json_string(sim.users[j]->email));
		json_object_set_new(o, "members", m);
		json_array_append_new(ls, o);
	}
	free(counts);
	us = json_array();
	for (i = 0; i < sim.nusers; i++) {
		struct sim_user *u = sim.users[i];

		if (u->deleted)
			continue;
		m = json_array();
		for (j = 0; j < u->nlists; j++)
			json_array_append_new(m, json_string(sim.lists[u->lists[j].list].name));
		o = json_pack("{s:o, s:o, s:o, s:s, s:s, s:I, s:I}",
		    "keys", sim_user_keys(u), "vars", sim_user_vars(u), "lists", m,
		    "engagement", u->engagement, "optout_email", u->optout,
		    "opens", (json_int_t)u->opens, "clicks", (json_int_t)u->clicks);
		if (u->last_open)
			json_object_set_new(o, "last_open",
			    json_string(utc_iso(u->last_open, t, sizeof(t))));
		if (u->last_click)
			json_object_set_new(o, "last_click",
			    json_string(utc_iso(u->last_click, t, sizeof(t))));
		json_array_append_new(us, o);
	}
	js = json_array();
	for (i = 0; i < sim.njobs; i++) {
		o = sim_job_json(sim.jobs[i]);
		json_object_set_new(o, "job", json_string(sim.jobs[i]->kind == JOB_EXPORT ?
		    "export_list_data" : "update"));
		json_array_append_new(js, o);
	}
	fs = json_array();
	for (i = 0; i < sim.nfaults; i++) {
		struct sim_fault *f = &sim.faults[i];

		json_array_append_new(fs, json_pack("{s:s, s:s, s:I, s:I, s:s}",
		    "endpoint", f->endpoint, "method", f->method,
		    "nth", (json_int_t)(f->skip + 1), "count", (json_int_t)f->count,
		    "kind", f->kind));
	}
	json_object_set_new(st, "lists", ls);
	json_object_set_new(st, "users", us);
	json_object_set_new(st, "jobs", js);
	json_object_set_new(st, "faults", fs);
	json_object_set(st, "counters", sim.counters);
	return st;
}

json_t *
sim_summary_json(void)
{
	json_t	*st, *ls, *js, *o;
	long	*counts = sim_list_counts();
	size_t	 i, n = 0;

	for (i = 0; i < sim.nusers; i++)
		n += !sim.users[i]->deleted;
	ls = json_object();
	for (i = 0; i < sim.nlists; i++)
		json_object_set_new(ls, sim.lists[i].name, json_integer(counts[i]));
	free(counts);
	js = json_array();
	for (i = 0; i < sim.njobs; i++) {
		o = sim_job_json(sim.jobs[i]);
		json_object_set_new(o, "job", json_string(sim.jobs[i]->kind == JOB_EXPORT ?
		    "export_list_data" : "update"));
		json_array_append_new(js, o);
	}
	st = json_pack("{s:I, s:o, s:o}", "users", (json_int_t)n, "lists", ls, "jobs", js);
	json_object_set(st, "counters", sim.counters);
	return st;
}

static int
seed_user(json_t *ju, size_t idx, char *err, size_t errlen)
{
	json_t		*e, *sid, *v, *l;
	struct sim_user	*u;
	char		*email;
	time_t		 signup;
	size_t		 i;

	e = json_object_get(ju, "email");
	if (!json_is_string(e) || !strchr(json_string_value(e), '@')) {
		snprintf(err, errlen, "users[%zu]: email missing or invalid", idx);
		return -1;
	}
	email = email_norm(json_string_value(e));
	if (sim_user_find("email", email) != NULL) {
		snprintf(err, errlen, "users[%zu]: duplicate email", idx);
		free(email);
		return -1;
	}
	sid = json_object_get(ju, "sid");
	if (sid && (!json_is_string(sid) || json_string_length(sid) != 24 ||
	    sim_user_find("sid", json_string_value(sid)))) {
		snprintf(err, errlen, "users[%zu]: sid must be 24 hex and unique", idx);
		free(email);
		return -1;
	}
	u = user_new(email, sid ? json_string_value(sid) : NULL);
	free(email);
	if ((v = json_object_get(ju, "extid")) && json_is_string(v)) {
		if (sim_user_find("extid", json_string_value(v)) == NULL) {
			u->extid = xstrdup(json_string_value(v));
			smap_put(&sim.by_extid, u->extid, sim.nusers - 1);
		}
	}
	if ((v = json_object_get(ju, "vars")) && json_is_object(v))
		user_vars_update(u, v, 0);
	if ((v = json_object_get(ju, "engagement")) && json_is_string(v))
		snprintf(u->engagement, sizeof(u->engagement), "%s", json_string_value(v));
	if ((v = json_object_get(ju, "optout_email")) && json_is_string(v))
		snprintf(u->optout, sizeof(u->optout), "%s", json_string_value(v));
	u->opens = (long)json_integer_value(json_object_get(ju, "opens"));
	u->clicks = (long)json_integer_value(json_object_get(ju, "clicks"));
	if (sim_time_parse(json_object_get(ju, "created"), &u->created) == -1 ||
	    sim_time_parse(json_object_get(ju, "signup"), &signup) == -1 ||
	    sim_time_parse(json_object_get(ju, "last_open"), &u->last_open) == -1 ||
	    sim_time_parse(json_object_get(ju, "last_click"), &u->last_click) == -1) {
		snprintf(err, errlen, "users[%zu]: a date is not YYYY-MM-DD[ HH:MM:SS]", idx);
		return -1;
	}
	if (u->created == 0)
		u->created = time(NULL);
	if (signup == 0)
		signup = u->created;
	if ((l = json_object_get(ju, "lists")) && json_is_array(l)) {
		json_array_foreach(l, i, v)
			if (json_is_string(v) && json_string_length(v) > 0)
				user_join(u, sim_list_add(json_string_value(v), 0), signup);
	}
	return 0;
}

int
sim_seed_load(const char *path, char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*root, *v, *l, *t;
	size_t		 i, li;

	if ((root = json_load_file(path, 0, &je)) == NULL) {
		snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: not a JSON object", path);
		json_decref(root);
		return -1;
	}
	json_array_foreach(json_object_get(root, "lists"), i, l) {
		v = json_object_get(l, "name");
		t = json_object_get(l, "type");
		if (!json_is_string(v) || json_string_length(v) == 0) {
			snprintf(err, errlen, "%s: lists[%zu]: name missing", path, i);
			json_decref(root);
			return -1;
		}
		li = sim_list_add(json_string_value(v), 0);
		sim.lists[li].smart = json_is_string(t) &&
		    strcmp(json_string_value(t), "smart") == 0;
	}
	json_array_foreach(json_object_get(root, "users"), i, v) {
		if (seed_user(v, i, err, errlen) == -1) {
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	return 0;
}
