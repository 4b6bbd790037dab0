/* fetcher/coord.c: owns the coordinator: the run queue, schedules firing, and one run at a time per connection. */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "chan.h"
#include "coord.h"
#include "fetcher.h"
#include "file.h"
#include "log.h"
#include "sched.h"
#include "timefmt.h"

/*
 * A run request is one small JSON file in pipeline.state_dir/CONN/queue/:
 *
 *   {"trigger": "manual", "requested": <ms since the epoch>}
 *
 * named <requested ms, 16 digits>-<pid>-<n>.json so that the names sort in
 * the order the requests were made.  It is written as NAME.tmp, fsynced,
 * renamed to NAME and the directory fsynced (file_write_durable):
 * - crash before the rename: only NAME.tmp exists, which the coordinator
 *   ignores; the caller was not told the run is queued.
 * - crash after the rename: the request is whole and will run.
 * The run's process names its request in the ledger when it starts the
 * run, and removes it right after the run is recorded and the ledger says
 * "done" or "failed" (an interrupted run, exit 75, keeps it, so the next
 * start resumes that run from its ledger).  A crash between the ledger's
 * "done" and the removal leaves a request that the ledger names as done:
 * the next process for it sees that and only removes it (no extra run).
 *
 * A run's process dies with its coordinator (PR_SET_PDEATHSIG: a SIGTERM,
 * so it checkpoints and exits 75), and does not hold the coordinator's
 * lock: a coordinator killed with SIGKILL and started again takes the lock
 * at once, finds the request still queued and resumes that run from its
 * ledger, where before the orphan went on alone and the restarted
 * coordinator could not start until it ended.
 */

#define COORD_RETRY_S	10	/* pause before resuming a run that was killed */

static unsigned	coord_seq;
static int	coord_lockfd = -1;	/* the coordinator's lock (coord_serve) */

int
coord_enqueue(const struct conf *c, const char *conn, const char *trigger,
    char *err, size_t errlen)
{
	const struct conf_conn *cn;
	char	 dir[2200], path[2400], body[160];
	int64_t	 now = time_now_ms();

	if (conn == NULL || (cn = conf_conn_find(c, conn, strlen(conn))) == NULL) {
		snprintf(err, errlen, "no connection named \"%s\"", conn ? conn : "");
		return -1;
	}
	if (trigger == NULL || (strcmp(trigger, COORD_TRIGGER_SCHEDULE) != 0 &&
	    strcmp(trigger, COORD_TRIGGER_MANUAL) != 0)) {
		snprintf(err, errlen, "unknown trigger \"%s\" (expected schedule, manual)",
		    trigger ? trigger : "");
		return -1;
	}
	if (c->pipe.state_dir == NULL) {
		snprintf(err, errlen, "pipeline.state_dir is not set");
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/%s/queue", c->pipe.state_dir, cn->name);
	if (file_mkdirs(dir, 0700) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%016" PRId64 "-%ld-%u.json", dir, now,
	    (long)getpid(), coord_seq++);
	snprintf(body, sizeof(body), "{\"trigger\": \"%s\", \"requested\": %" PRId64 "}\n",
	    trigger, now);
	if (file_write_durable(path, body, strlen(body)) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The oldest request in dir (conndir/queue) into name (its file name) and
 * its trigger into trigger.  Returns 1, 0 when the queue is empty, -1 on
 * an error.  A request that is not JSON with a known trigger is set aside
 * as NAME.bad with one line, so it cannot block the queue.
 */
static int
queue_oldest(const char *conndir, char *name, size_t namelen, char *trigger,
    size_t triggerlen)
{
	char	 q[2300], path[2600], best[256] = "";
	DIR	*dp;
	struct dirent *de;

	snprintf(q, sizeof(q), "%s/queue", conndir);
	for (;;) {
		json_t	*j;
		json_error_t je;
		const char *t;
		size_t	 len;

		best[0] = '\0';
		if ((dp = opendir(q)) == NULL)
			return errno == ENOENT ? 0 : -1;
		while ((de = readdir(dp)) != NULL) {
			len = strlen(de->d_name);
			if (de->d_name[0] == '.' || len < 6 || len >= sizeof(best) ||
			    strcmp(de->d_name + len - 5, ".json") != 0)
				continue;
			if (best[0] == '\0' || strcmp(de->d_name, best) < 0)
				snprintf(best, sizeof(best), "%s", de->d_name);
		}
		closedir(dp);
		if (best[0] == '\0')
			return 0;
		snprintf(path, sizeof(path), "%s/%s", q, best);
		j = json_load_file(path, 0, &je);
		t = j ? json_string_value(json_object_get(j, "trigger")) : NULL;
		if (t != NULL && (strcmp(t, COORD_TRIGGER_MANUAL) == 0 ||
		    strcmp(t, COORD_TRIGGER_SCHEDULE) == 0)) {
			snprintf(name, namelen, "%s", best);
			snprintf(trigger, triggerlen, "%s", t);
			json_decref(j);
			return 1;
		}
		json_decref(j);
		{
			char	 bad[2700];

			snprintf(bad, sizeof(bad), "%s.bad", path);
			log_warnx("run request set aside path=%s: not a request", path);
			if (rename(path, bad) == -1)
				return -1;
		}
	}
}

/* Is a request with trigger "schedule" queued? */
static int
queue_has_schedule(const char *conndir)
{
	char	 q[2300], path[2600];
	DIR	*dp;
	struct dirent *de;
	int	 found = 0;

	snprintf(q, sizeof(q), "%s/queue", conndir);
	if ((dp = opendir(q)) == NULL)
		return 0;
	while (!found && (de = readdir(dp)) != NULL) {
		json_t	*j;
		json_error_t je;
		const char *t;

		if (de->d_name[0] == '.' || strstr(de->d_name, ".json") == NULL ||
		    strstr(de->d_name, ".tmp") != NULL || strstr(de->d_name, ".bad") != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", q, de->d_name);
		if ((j = json_load_file(path, 0, &je)) == NULL)
			continue;
		t = json_string_value(json_object_get(j, "trigger"));
		found = t != NULL && strcmp(t, COORD_TRIGGER_SCHEDULE) == 0;
		json_decref(j);
	}
	closedir(dp);
	return found;
}

int
coord_sched_load(const char *conndir, const char *schedule, int64_t *next)
{
	char	 path[2300];
	json_t	*j;
	json_error_t je;
	const char *s;
	int	 rc = -1;

	snprintf(path, sizeof(path), "%s/schedule.json", conndir);
	if ((j = json_load_file(path, 0, &je)) == NULL)
		return -1;
	s = json_string_value(json_object_get(j, "schedule"));
	if (s != NULL && schedule != NULL && strcmp(s, schedule) == 0 &&
	    json_is_integer(json_object_get(j, "next"))) {
		*next = json_integer_value(json_object_get(j, "next"));
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* Durably records the next scheduled run, so a restart knows what it missed. */
static void
sched_save(const char *conndir, const char *schedule, int64_t next)
{
	char	 path[2300], iso[40], *text;
	json_t	*j;

	snprintf(path, sizeof(path), "%s/schedule.json", conndir);
	j = json_pack("{s:s, s:I, s:s}", "schedule", schedule, "next", (json_int_t)next,
	    "next_utc", time_fmt_iso_ms(next * 1000, iso));
	if (j == NULL || (text = json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT)) == NULL)
		fatal(EX_OSERR, "out of memory");
	json_decref(j);
	if (file_write_durable(path, text, strlen(text)) == -1)
		fatal(EX_IOERR, "cannot write schedule state path=%s", path);
	free(text);
}

/* One connection as the coordinator follows it. */
struct cslot {
	const struct conf_conn *cn;
	char		 dir[2200];	/* state_dir/CONN */
	int64_t		 next;		/* next scheduled run (coordinator clock, s); 0: none */
	pid_t		 pid;		/* the run in progress, 0: none */
	pid_t		 parent;	/* the coordinator, for the run's process */
	char		 req[256];	/* its request file */
	int64_t		 hold_ms;	/* no run starts before (mono ms): after a crash */
};

struct cclock {
	int64_t		 base;		/* coordinator seconds at mono0 */
	int64_t		 mono0;
	double		 scale;
};

/* The coordinator's clock: real time, or compressed for tests. */
static int64_t
clock_now(const struct cclock *k)
{
	return k->base + (int64_t)((double)(time_mono_ms() - k->mono0) * k->scale / 1000.0);
}

static void
slot_schedule_next(struct cslot *s, int64_t now)
{
	char	 iso[40];

	if (sched_next(&s->cn->sched, s->cn->timezone, now, &s->next) == -1)
		fatalx(EX_CONFIG, "connection %s: cannot compute its next run", s->cn->name);
	sched_save(s->dir, s->cn->schedule, s->next);
	log_info("next run connection=%s at=%s", s->cn->name,
	    time_fmt_iso_ms(s->next * 1000, iso));
}

/* Starts the oldest queued run of s in a child process. */
static void
slot_start(const struct conf *c, struct cslot *s)
{
	char	 trigger[32], name[256];
	pid_t	 pid;
	int	 r;

	if ((r = queue_oldest(s->dir, name, sizeof(name), trigger, sizeof(trigger))) <= 0) {
		if (r == -1)
			log_warn("cannot read the run queue of connection=%s", s->cn->name);
		return;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		log_warn("cannot start a run of connection=%s", s->cn->name);
		return;
	}
	if (pid == 0) {
		struct fetcher_opts o;
		struct conf	 now;
		const struct conf *rc_conf = c;
		const struct conf_conn *rc_cn = s->cn;
		char	 err[1024];
		int	 rc, loaded;

		/*
		 * The coordinator's lock is the coordinator's: a run must not
		 * keep a restarted coordinator out.  And the run stops with
		 * its coordinator (SIGTERM: it checkpoints, exit 75), so a
		 * killed coordinator's run is resumed by the next one, never
		 * left running alone; a coordinator already gone: not started.
		 */
		close(coord_lockfd);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != s->parent)
			_exit(EX_TEMPFAIL);
		/*
		 * The run reads the file as it is now, as `sailsync run` does,
		 * not the one this coordinator started with: its batches carry
		 * that configuration's digests, and the mappers and writers
		 * follow it.  A file that does not load, or that lost the
		 * connection, leaves the run on the coordinator's configuration.
		 */
		if ((loaded = conf_load(c->file, &now, err, sizeof(err)) == 0) &&
		    (rc_cn = conf_conn_find(&now, s->cn->name, strlen(s->cn->name))) != NULL)
			rc_conf = &now;
		else {
			log_warnx("configuration not read again connection=%s: %s; the run "
			    "uses the coordinator's configuration", s->cn->name, !loaded ?
			    err : "the file no longer has the connection");
			rc_cn = s->cn;
		}
		memset(&o, 0, sizeof(o));
		o.trigger = trigger;
		o.quiet = 1;
		o.request = name;
		rc = coord_run(rc_conf, rc_cn, &o);
		chan_shutdown();
		if (rc != EX_TEMPFAIL) {
			char	 path[2600];

			snprintf(path, sizeof(path), "%s/queue/%s", s->dir, name);
			if (unlink(path) == -1 && errno != ENOENT)
				log_warn("cannot remove run request path=%s", path);
		}
		fflush(stdout);
		_exit(rc);
	}
	s->pid = pid;
	snprintf(s->req, sizeof(s->req), "%s", name);
	log_info("run started connection=%s trigger=%s pid=%ld", s->cn->name, trigger,
	    (long)pid);
}

/* A run's process ended: its request is done unless it was interrupted. */
static void
slot_reap(struct cslot *s, int status)
{
	char	 path[2600];
	int	 rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	s->pid = 0;
	if (rc == EX_TEMPFAIL) {
		log_info("run interrupted connection=%s; it resumes at the next start",
		    s->cn->name);
		return;
	}
	if (WIFSIGNALED(status)) {
		/*
		 * Killed (SIGKILL, the OOM killer, a crash) before it could
		 * record anything: its request stays, and the run is resumed
		 * from its ledger after a pause, so a run that crashes at once
		 * cannot spin.
		 */
		log_warnx("run killed connection=%s signal=%d; resuming it in %d s",
		    s->cn->name, WTERMSIG(status), COORD_RETRY_S);
		s->hold_ms = time_mono_ms() + COORD_RETRY_S * 1000;
		return;
	}
	log_info("run ended connection=%s exit=%d", s->cn->name, rc);
	/* The run removed its request; not if it died before it could. */
	snprintf(path, sizeof(path), "%s/queue/%s", s->dir, s->req);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("cannot remove run request path=%s", path);
}

/* A file's identity and time, to see it change. */
struct fstamp {
	int64_t		 mtime_ns, size, ino;
};

static void
fstamp_get(const char *path, struct fstamp *f)
{
	struct stat	 st;

	memset(f, 0, sizeof(*f));
	if (stat(path, &st) == 0) {
		f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		f->size = (int64_t)st.st_size;
		f->ino = (int64_t)st.st_ino;
	}
}

/*
 * The configuration file changed under the coordinator: its connections
 * and schedules follow the file (the runs read it anyway when they start).
 * Returns the slots for nc, each connection keeping its run in progress,
 * its request and, when its schedule and on/off are unchanged, its next
 * time (else one computed from now); the old slots are freed.  NULL (old
 * kept, reason logged) when nc cannot be followed: it moves
 * pipeline.state_dir, or it drops a connection whose run is going (*retry
 * set: the reload waits for that run to end; waited: said so already).
 */
static struct cslot *
slots_reload(const struct conf *cur, const struct conf *nc, struct cslot *old,
    size_t nold, size_t *n, int64_t now, int *retry, int waited)
{
	struct cslot	*ns;
	char		 d[2300];

	if (strcmp(cur->pipe.state_dir, nc->pipe.state_dir) != 0) {
		log_warnx("configuration not followed: pipeline.state_dir changed; "
		    "restart the coordinator");
		return NULL;
	}
	for (size_t i = 0; i < nold; i++)
		if (old[i].pid != 0 && conf_conn_find(nc, old[i].cn->name,
		    strlen(old[i].cn->name)) == NULL) {
			if (!waited)
				log_info("configuration reload waits for the run of "
				    "connection=%s, which the file no longer has",
				    old[i].cn->name);
			*retry = 1;
			return NULL;
		}
	if ((ns = calloc(nc->nconns ? nc->nconns : 1, sizeof(*ns))) == NULL)
		fatal(EX_OSERR, "out of memory");
	for (size_t i = 0; i < nc->nconns; i++) {
		struct cslot	*s = &ns[i], *o = NULL;

		s->cn = &nc->conns[i];
		for (size_t j = 0; j < nold; j++)
			if (strcmp(old[j].cn->name, s->cn->name) == 0)
				o = &old[j];
		if (o != NULL) {
			*s = *o;
			s->cn = &nc->conns[i];
		} else {
			s->parent = getpid();
			snprintf(s->dir, sizeof(s->dir), "%s/%s", nc->pipe.state_dir,
			    s->cn->name);
			snprintf(d, sizeof(d), "%s/queue", s->dir);
			if (file_mkdirs(d, 0700) == -1)
				fatal(EX_CANTCREAT, "cannot create directory path=%s", d);
		}
		if (s->cn->schedule == NULL || !s->cn->enabled)
			s->next = 0;
		else if (o == NULL || !o->cn->enabled || o->cn->schedule == NULL ||
		    strcmp(o->cn->schedule, s->cn->schedule) != 0 ||
		    strcmp(o->cn->timezone, s->cn->timezone) != 0)
			slot_schedule_next(s, now);
	}
	free(old);
	*n = nc->nconns;
	return ns;
}

int
coord_serve(const struct conf *c, const struct coord_opts *o)
{
	struct cslot *slots;
	struct cclock k;
	size_t	 n = c->nconns;
	char	 err[600];
	int	 running, waiting = 0;
	/* The configuration followed: c, then the file's as it changes. */
	const struct conf *cur = c;
	struct conf *own = NULL;
	struct fstamp seen;
	int64_t	 checked;

	if (c->pipe.state_dir == NULL)
		fatalx(EX_CONFIG, "pipeline.state_dir is needed to coordinate runs");
	/* One coordinator per state directory: two would start each request twice. */
	{
		char	 lock[2300];
		int	 fd;

		if (file_mkdirs(c->pipe.state_dir, 0700) == -1)
			fatal(EX_CANTCREAT, "cannot create directory path=%s", c->pipe.state_dir);
		snprintf(lock, sizeof(lock), "%s/coordinator.lock", c->pipe.state_dir);
		if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
			fatal(EX_IOERR, "cannot open lock path=%s", lock);
		if (flock(fd, LOCK_EX | LOCK_NB) == -1)
			fatalx(EX_UNAVAILABLE, "another coordinator is running state_dir=%s",
			    c->pipe.state_dir);
		/* Held (fd left open) for the life of the process; not by its runs. */
		coord_lockfd = fd;
	}
	k.mono0 = time_mono_ms();
	k.base = o->clock_start ? o->clock_start : time_now_ms() / 1000;
	k.scale = o->clock_scale > 0 ? o->clock_scale : 1.0;
	if ((slots = calloc(n ? n : 1, sizeof(*slots))) == NULL)
		fatal(EX_OSERR, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct cslot *s = &slots[i];
		int64_t	 now = clock_now(&k), saved;
		char	 d[2300];

		s->cn = &c->conns[i];
		s->parent = getpid();
		snprintf(s->dir, sizeof(s->dir), "%s/%s", c->pipe.state_dir, s->cn->name);
		snprintf(d, sizeof(d), "%s/queue", s->dir);
		if (file_mkdirs(d, 0700) == -1)
			fatal(EX_CANTCREAT, "cannot create directory path=%s", d);
		if (s->cn->schedule == NULL || !s->cn->enabled)
			continue;
		/*
		 * A run missed while the coordinator was down runs once now,
		 * however many runs were missed, unless one is already queued.
		 */
		if (coord_sched_load(s->dir, s->cn->schedule, &saved) == 0 && saved <= now) {
			log_info("missed run connection=%s while stopped; running it once",
			    s->cn->name);
			if (!queue_has_schedule(s->dir) && coord_enqueue(c, s->cn->name,
			    COORD_TRIGGER_SCHEDULE, err, sizeof(err)) == -1)
				fatalx(EX_IOERR, "%s", err);
		} else if (coord_sched_load(s->dir, s->cn->schedule, &saved) == 0) {
			s->next = saved;
			continue;
		}
		slot_schedule_next(s, now);
	}
	log_info("coordinator started connections=%zu clock_scale=%g", n, k.scale);
	fstamp_get(c->file, &seen);
	checked = time_mono_ms();

	while (!fetcher_stop) {
		int64_t	 now = clock_now(&k);
		pid_t	 pid;
		int	 status;

		/* Once a second: has the configuration file changed? */
		if (time_mono_ms() - checked >= 1000) {
			struct fstamp	 f;
			struct conf	*nc;
			struct cslot	*ns;
			int		 retry = 0;

			checked = time_mono_ms();
			fstamp_get(c->file, &f);
			if (memcmp(&f, &seen, sizeof(f)) != 0) {
				if ((nc = calloc(1, sizeof(*nc))) == NULL)
					fatal(EX_OSERR, "out of memory");
				if (conf_load(c->file, nc, err, sizeof(err)) == -1) {
					log_warnx("configuration not reloaded: %s; the "
					    "coordinator keeps the one it has", err);
					free(nc);
				} else if ((ns = slots_reload(cur, nc, slots, n, &n, now,
				    &retry, waiting)) == NULL) {
					conf_clear(nc);
					free(nc);
				} else {
					slots = ns;
					if (own != NULL) {
						conf_clear(own);
						free(own);
					}
					cur = own = nc;
					log_info("configuration reloaded file=%s connections=%zu",
					    c->file, n);
				}
				/* A reload that waits for a run is tried again. */
				waiting = retry;
				if (!retry)
					seen = f;
			}
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			for (size_t i = 0; i < n; i++)
				if (slots[i].pid == pid)
					slot_reap(&slots[i], status);
		for (size_t i = 0; i < n && !fetcher_stop; i++) {
			struct cslot *s = &slots[i];

			if (s->next != 0 && now >= s->next) {
				if (coord_enqueue(cur, s->cn->name, COORD_TRIGGER_SCHEDULE, err,
				    sizeof(err)) == -1)
					fatalx(EX_IOERR, "%s", err);
				log_info("run queued connection=%s trigger=schedule",
				    s->cn->name);
				/* From now, not from the slot: a late tick never piles runs up. */
				slot_schedule_next(s, now);
			}
			/* Runs of one connection queue, never overlap. */
			if (s->pid == 0 && time_mono_ms() >= s->hold_ms)
				slot_start(cur, s);
		}
		{
			struct timespec ts = { 0, (long)(o->tick_ms ? o->tick_ms : 200) * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	/* Stopped: each run finishes its batch and checkpoints (exit 75). */
	for (size_t i = 0; i < n; i++)
		if (slots[i].pid != 0)
			kill(slots[i].pid, SIGTERM);
	do {
		pid_t	 pid;
		int	 status;

		running = 0;
		if ((pid = waitpid(-1, &status, 0)) > 0)
			for (size_t i = 0; i < n; i++)
				if (slots[i].pid == pid)
					slot_reap(&slots[i], status);
		for (size_t i = 0; i < n; i++)
			running += slots[i].pid != 0;
	} while (running > 0);
	free(slots);
	if (own != NULL) {
		conf_clear(own);
		free(own);
	}
	log_info("coordinator stopped");
	return 0;
}
