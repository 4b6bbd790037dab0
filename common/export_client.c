/* common/export_client.c: owns having the exporter run a connection's export goals for a run driver, and collecting its summary. */
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

#include <jansson.h>

#include "chan.h"
#include "export_client.h"
#include "log.h"
#include "msg.h"
#include "timefmt.h"

#define SUMMARY_MAX	(16u << 20)

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
request_send(struct chan *out, const char *conn, uint64_t run, struct buf *enc)
{
	struct msg_batch b;
	char	 err[256];

	memset(&b, 0, sizeof(b));
	b.kind = MSG_EXPORT_REQUEST;
	b.v = MSG_VERSION;
	b.run = run;
	b.src.conn = str_c(conn);
	buf_reset(enc);
	if (msg_encode(&b, enc, err, sizeof(err)) == -1) {
		log_warnx("cannot encode an export request: %s", err);
		return -1;
	}
	/* Never blocks: a request the exporter cannot take now is resent. */
	return chan_send(out, enc->data, enc->len, 0) == CHAN_ERR ? -1 : 0;
}

int
export_client_request(const struct conf *c, const char *conn, uint64_t run,
    volatile sig_atomic_t *stop, char **summary, char *err, size_t errlen)
{
	const struct conf_conn *cn = conf_conn_find(c, conn, strlen(conn));
	struct chan	*in = NULL, *out = NULL;
	struct msg_batch b;
	struct buf	 enc, rx;
	json_t		*root = NULL, *goals;
	char		 path[4300], derr[256];
	size_t		 want = 0, got = 0;
	int64_t		 next, pause = 2000;
	int		 r, rc = -1;

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
	buf_init(&enc, 1u << 16);
	buf_init(&rx, MSG_MAX_BYTES);
	memset(&b, 0, sizeof(b));
	goals = json_array();
	log_info("export requested connection=%s run=%" PRIu64 " goals=%zu", conn, run, want);
	if (request_send(out, conn, run, &enc) == -1)
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
			request_send(out, conn, run, &enc);
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
		if (b.kind == MSG_EXPORT_RESULT && b.run == run && str_eq(b.src.conn, conn)) {
			json_t	*g = json_object();

			json_object_set_new(g, "name", json_string(b.u.eres.goal.p));
			json_object_set_new(g, "type", json_string("export"));
			json_object_set_new(g, "exported", json_integer((json_int_t)b.u.eres.exported));
			json_object_set_new(g, "skipped", json_integer((json_int_t)b.u.eres.skipped));
			json_object_set_new(g, "failed", json_integer((json_int_t)b.u.eres.failed));
			json_object_set_new(g, "error", b.u.eres.error.len ?
			    json_string(b.u.eres.error.p) : json_null());
			json_array_append_new(goals, g);
			got++;
		} else
			log_debug("export result of another run dropped run=%" PRIu64, b.run);
		msg_batch_clear(&b);
	}
	/* The whole summary, from the exporter's record when it is on this host. */
	snprintf(path, sizeof(path), "%s/results/%s-%" PRIu64 ".json",
	    c->pipe.export_state, conn, run);
	if ((root = json_load_file(path, 0, NULL)) == NULL) {
		root = json_object();
		json_object_set_new(root, "connection", json_string(conn));
		json_object_set(root, "goals", goals);
	}
	if ((*summary = json_dumps(root, JSON_COMPACT)) == NULL)
		snprintf(err, errlen, "out of memory");
	else
		rc = 0;
out:
	json_decref(root);
	json_decref(goals);
	msg_batch_clear(&b);
	buf_clear(&enc);
	buf_clear(&rx);
	chan_close(&out);
	chan_close(&in);
	return rc;
}
