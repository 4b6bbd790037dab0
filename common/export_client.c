/*
 * common/export_client.c: owns having the exporter run a connection's
 * export goals for a run driver, collecting its results, and the one form
 * of an export goal's outcome both sides print and record.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "chan.h"
#include "export_client.h"
#include "log.h"
#include "msg.h"
#include "profile.h"
#include "timefmt.h"

#define SUMMARY_MAX	(16u << 20)

void
export_result_init(struct export_result *r, const char *goal)
{
	memset(r, 0, sizeof(*r));
	stats_init(&r->st, NULL, 0, goal, strlen(goal));
}

void
export_result_clear(struct export_result *r)
{
	stats_clear(&r->st);
	memset(r, 0, sizeof(*r));
}

const char *
export_results_status(const struct export_result *r, size_t n)
{
	uint64_t done = 0, bad = 0;

	for (size_t i = 0; i < n; i++) {
		done += r[i].st.exported + r[i].st.removed;
		bad += r[i].st.failed + stats_reason_get(&r[i].st, "rejected") +
		    (r[i].error[0] != '\0');
	}
	if (bad > 0)
		return done > 0 ? "partial" : "failed";
	return done > 0 ? "ok" : "empty";
}

/* The goal's lines of the printed summary. */
static void
export_result_print(const struct export_result *r, FILE *out)
{
	const struct stats *st = &r->st;
	char	 h[PROFILE_ID_HEX];

	fprintf(out, "goal %s: exported %" PRIu64 " (users created %" PRIu64, st->goal,
	    st->exported, st->created);
	/* Sent by a bulk job without a lookup: whether Sailthru had them is unknown. */
	if (st->unverified > 0)
		fprintf(out, ", unverified %" PRIu64, st->unverified);
	fprintf(out, "), removed %" PRIu64 ", skipped %" PRIu64, st->removed, st->skipped);
	for (size_t i = 0; i < st->nreasons; i++)
		fprintf(out, "%s%s %" PRIu64, i ? ", " : " (", st->reasons[i].reason,
		    st->reasons[i].n);
	fprintf(out, "%s, failed %" PRIu64 "; unique profiles %" PRIu64 "\n",
	    st->nreasons ? ")" : "", st->failed, st->unique);
	if (st->nlast > 0) {
		fprintf(out, "  last exported:");
		for (uint32_t i = 0; i < st->nlast; i++)
			fprintf(out, " %s", profile_id_fmt(st->last[i], h));
		fprintf(out, "\n");
	}
	if (r->error[0] != '\0')
		fprintf(out, "  failed: %s\n", r->error);
}

/* A JSON string, or null for an empty one. */
static int
json_str_or_null(struct buf *b, const char *s)
{
	return s[0] == '\0' ? buf_addstr(b, "null") : val_json_str(b, s, strlen(s));
}

char *
export_summary(const char *conn, const char *status, const struct export_result *r,
    size_t n, FILE *out)
{
	struct buf	 b;
	int		 rc = 0;

	if (status == NULL)
		status = export_results_status(r, n);
	if (out != NULL) {
		fprintf(out, "export connection %s: %s\n", conn, status);
		for (size_t i = 0; i < n; i++)
			export_result_print(&r[i], out);
	}
	buf_init(&b, SUMMARY_MAX);
	rc |= buf_addstr(&b, "{\"connection\":");
	rc |= val_json_str(&b, conn, strlen(conn));
	rc |= buf_addstr(&b, ",\"status\":");
	rc |= val_json_str(&b, status, strlen(status));
	rc |= buf_addstr(&b, ",\"goals\":[");
	for (size_t i = 0; i < n; i++) {
		rc |= buf_addstr(&b, i ? ",{\"name\":" : "{\"name\":");
		rc |= val_json_str(&b, r[i].st.goal, strlen(r[i].st.goal));
		rc |= buf_addstr(&b, ",\"type\":\"export\",");
		rc |= stats_json(&r[i].st, STATS_EXPORT, &b);
		rc |= buf_addstr(&b, ",\"mode\":");
		rc |= json_str_or_null(&b, r[i].mode);
		rc |= buf_addstr(&b, ",\"error\":");
		rc |= json_str_or_null(&b, r[i].error);
		rc |= buf_addstr(&b, "}");
	}
	rc |= buf_addstr(&b, "]}");
	if (rc != 0)
		fatal_oom("export_summary");
	return buf_detach(&b, NULL);
}

/* The exporter binary beside the running one, or just its name (PATH). */
static void
exporter_path(char *out, size_t outlen)
{
	char	 self[PATH_MAX], *slash;
	ssize_t	 n;

	snprintf(out, outlen, "sailsync-exporter");
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		return;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return;
	*slash = '\0';
	if ((size_t)snprintf(out, outlen, "%s/sailsync-exporter", self) < outlen &&
	    access(out, X_OK) == 0)
		return;
	snprintf(out, outlen, "sailsync-exporter");
}

static char *
slurp(const char *path)
{
	struct stat	 st;
	char		*p;
	FILE		*f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fstat(fileno(f), &st) == -1 || st.st_size > SUMMARY_MAX ||
	    (p = malloc((size_t)st.st_size + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	if (fread(p, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(p);
		fclose(f);
		return NULL;
	}
	p[st.st_size] = '\0';
	fclose(f);
	return p;
}

int
export_client_run(const char *conf_path, const char *conn, const char *out_path,
    const char *json_path, char **summary, char *err, size_t errlen)
{
	char	 bin[PATH_MAX + 32];
	pid_t	 pid, w;
	int	 status, fd, rc;

	*summary = NULL;
	exporter_path(bin, sizeof(bin));
	unlink(json_path);
	if ((fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", out_path, strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "cannot fork the exporter: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (pid == 0) {
		char *const argv[] = { bin, "-c", (char *)(uintptr_t)conf_path, "run",
		    (char *)(uintptr_t)conn, "--summary-json", (char *)(uintptr_t)json_path,
		    NULL };

		/*
		 * The exporter dies with its run driver: a SIGKILL of the
		 * driver stops it (SIGTERM: it finishes its current call and
		 * keeps its cursor), so the rerun resumes the same export
		 * instead of racing an orphan.
		 */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() == 1 ||
		    dup2(fd, 1) == -1)
			_exit(EX_OSERR);
		signal(SIGPIPE, SIG_DFL);
		execvp(bin, argv);
		fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(fd);
	log_info("exporter started pid=%ld connection=%s", (long)pid, conn);
	/*
	 * A SIGTERM to the run driver reaches the exporter too when both are
	 * in one process group (a terminal, the supervisor); it then finishes
	 * its current call and exits 75, and so do we.
	 */
	while ((w = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	if (w == -1) {
		snprintf(err, errlen, "cannot wait for the exporter: %s", strerror(errno));
		return -1;
	}
	if (WIFSIGNALED(status)) {
		log_warnx("exporter killed signal=%d connection=%s", WTERMSIG(status), conn);
		return EX_TEMPFAIL;
	}
	rc = WEXITSTATUS(status);
	if (rc == 127) {
		snprintf(err, errlen, "cannot run %s", bin);
		return -1;
	}
	if ((rc == 0 || rc == 1) && (*summary = slurp(json_path)) == NULL) {
		snprintf(err, errlen, "the exporter left no summary at %s", json_path);
		return -1;
	}
	return rc;
}

static int
request_send(struct chan *out, const struct conf_conn *cn, uint64_t run, struct buf *enc)
{
	struct msg_batch b;
	char	 err[256];

	memset(&b, 0, sizeof(b));
	b.kind = MSG_EXPORT_REQUEST;
	b.v = MSG_VERSION;
	b.run = run;
	b.src.conn = str_c(cn->name);
	/* The exporter runs it under this configuration, or refuses. */
	b.conf.exporter = str_c(cn->digest[CONF_DIGEST_EXPORTER]);
	buf_reset(enc);
	if (msg_encode(&b, enc, err, sizeof(err)) == -1) {
		log_warnx("cannot encode an export request: %s", err);
		return -1;
	}
	/* Never blocks: a request the exporter cannot take now is resent. */
	return chan_send(out, enc->data, enc->len, 0) == CHAN_ERR ? -1 : 0;
}

/* The goal's slot among the export goals of cn, or -1 when it is not one. */
static int
goal_slot(const struct conf_conn *cn, const char *goal)
{
	int	 k = 0;

	for (size_t i = 0; i < cn->ngoals; i++) {
		if (cn->goals[i].kind != GOAL_EXPORT)
			continue;
		if (strcmp(cn->goals[i].name, goal) == 0)
			return k;
		k++;
	}
	return -1;
}

int
export_client_request(const struct conf *c, const char *conn, uint64_t run,
    volatile sig_atomic_t *stop, const char *out_path, char **summary, char *err,
    size_t errlen)
{
	const struct conf_conn *cn = conf_conn_find(c, conn, strlen(conn));
	struct export_result *res = NULL;
	struct chan	*in = NULL, *out = NULL;
	struct msg_batch b;
	struct buf	 enc, rx;
	char		 derr[256];
	unsigned char	*have = NULL;
	size_t		 want = 0, got = 0;
	int64_t		 next, pause = 2000;
	int		 r, k, rc = -1;
	FILE		*f;

	*summary = NULL;
	if (cn == NULL) {
		snprintf(err, errlen, "no connection named %s", conn);
		return -1;
	}
	for (size_t i = 0; i < cn->ngoals; i++)
		want += cn->goals[i].kind == GOAL_EXPORT;
	/* Results first: the exporter connects to it. */
	if ((in = chan_open(c->pipe.export_results, CHAN_IN, CHAN_BIND, 0, err,
	    errlen)) == NULL)
		return -1;
	if ((out = chan_open(c->pipe.export, CHAN_OUT, CHAN_CONNECT, 0, err,
	    errlen)) == NULL) {
		chan_close(&in);
		return -1;
	}
	if ((res = calloc(want ? want : 1, sizeof(*res))) == NULL ||
	    (have = calloc(want ? want : 1, 1)) == NULL)
		fatal_oom("export_client");
	buf_init(&enc, 1u << 16);
	buf_init(&rx, MSG_MAX_BYTES);
	memset(&b, 0, sizeof(b));
	log_info("export requested connection=%s run=%" PRIu64 " goals=%zu", conn, run, want);
	if (request_send(out, cn, run, &enc) == -1)
		log_warnx("export request not sent yet connection=%s", conn);
	next = time_mono_ms() + pause;
	while (got < want) {
		if (*stop) {
			rc = EX_TEMPFAIL;
			goto out;
		}
		r = chan_recv(in, &rx, 500);
		if (r == CHAN_TIMEOUT || (r == CHAN_ERR && errno == EINTR)) {
			if (time_mono_ms() < next)
				continue;
			/* Nothing yet: the exporter may have restarted and lost it. */
			request_send(out, cn, run, &enc);
			if ((pause *= 2) > 60000)
				pause = 60000;
			next = time_mono_ms() + pause;
			continue;
		}
		if (r != 0) {
			snprintf(err, errlen, "cannot receive export results");
			goto out;
		}
		if (msg_decode(rx.data, rx.len, &b, derr, sizeof(derr)) == -1) {
			log_warnx("malformed export result dropped reason=\"%s\"", derr);
			continue;
		}
		if (b.kind != MSG_EXPORT_RESULT || b.run != run || !str_eq(b.src.conn, conn))
			log_debug("export result of another run dropped run=%" PRIu64, b.run);
		else if ((k = goal_slot(cn, b.u.eres.st.goal)) == -1)
			log_warnx("export result of an unknown goal dropped goal=%.64s",
			    b.u.eres.st.goal);
		else if (!have[k]) {
			/* A resent request is answered again: the first answer counts. */
			stats_copy(&res[k].st, &b.u.eres.st);
			snprintf(res[k].mode, sizeof(res[k].mode), "%.*s",
			    (int)b.u.eres.mode.len, b.u.eres.mode.p);
			snprintf(res[k].error, sizeof(res[k].error), "%.*s",
			    (int)b.u.eres.error.len, b.u.eres.error.p);
			have[k] = 1;
			got++;
		}
		msg_batch_clear(&b);
	}
	/* The lines the exporter would have printed, where the summary reads them. */
	if ((f = fopen(out_path, "w")) == NULL) {
		snprintf(err, errlen, "cannot create %s: %s", out_path, strerror(errno));
		goto out;
	}
	*summary = export_summary(conn, NULL, res, want, f);
	if (fclose(f) == EOF)
		log_warn("cannot write path=%s", out_path);
	rc = 0;
out:
	for (size_t i = 0; i < want; i++)
		export_result_clear(&res[i]);
	free(res);
	free(have);
	msg_batch_clear(&b);
	buf_clear(&enc);
	buf_clear(&rx);
	chan_close(&out);
	chan_close(&in);
	return rc;
}
