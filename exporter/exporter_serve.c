/*
 * exporter/exporter_serve.c: owns the long-lived exporter: EXPORT_REQUEST
 * in on pipeline.export, one run of the connection's export goals, and
 * EXPORT_RESULT out on pipeline.export_results.
 *
 * Requests may arrive more than once (the run driver resends until it has
 * every goal's result, because ZeroMQ loses what a dead process held).  So
 * the outcome of each (connection, run) is recorded, before any result is
 * sent, as a capture of its EXPORT_RESULT messages at
 * pipeline.export_state/results/CONN-RUN.cap (written to a temporary
 * name, fsynced and renamed by the file: channel): a repeated request is
 * answered by sending that capture's messages again, without exporting
 * again.  What a crash costs:
 * - before the capture is renamed: the export's own cursor resumes it when
 *   the driver's resend arrives at the restarted exporter;
 * - after: the resend is answered from the capture.
 * The results carry every figure of a goal, so the run driver needs
 * nothing from this host's files.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "chan.h"
#include "conf_follow.h"
#include "exporter.h"
#include "log.h"
#include "msg.h"

#define SERVE_WAKE_MS	500

static void
result_path(const struct conf *c, const char *conn, uint64_t run, char *out,
    size_t outlen)
{
	snprintf(out, outlen, "file:%s/results/%s-%" PRIu64 ".cap", c->pipe.export_state,
	    conn, run);
}

/*
 * Sends the recorded results of a run again, frame by frame.  Returns 0,
 * or -1 when there is no whole record (then the run is not done).
 */
static int
results_resend(struct chan *out, const char *uri)
{
	struct chan	*in;
	struct buf	 rx;
	char		 err[512];
	int		 r;

	if (access(uri + 5, R_OK) == -1)
		return -1;
	if ((in = chan_open(uri, CHAN_IN, CHAN_CONNECT, 0, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		return -1;
	}
	buf_init(&rx, MSG_MAX_BYTES);
	while ((r = chan_recv(in, &rx, 0)) == 0)
		if (chan_send(out, rx.data, rx.len, 5000) != 0)
			log_warnx("cannot send a result again uri=%s", uri);
	buf_clear(&rx);
	chan_close(&in);
	if (r != CHAN_EOF) {
		log_warnx("export results record damaged uri=%s", uri);
		return -1;
	}
	return 0;
}

/*
 * The outcome of one export run of cn: exporter_run, then one result per
 * export goal of the connection (a goal that could not run, or could not
 * finish, says so in its error).  Returns exporter_run's exit code; the
 * caller export_result_clears res[0..*n).
 */
static int
run_one(const struct conf *c, const struct conf_conn *cn, const struct msg_batch *b,
    struct export_result *res, size_t *n)
{
	struct exporter_opts o;
	size_t	 ng = b->u.ereq.ngoals;
	char	**goals;
	int	 rc;

	memset(&o, 0, sizeof(o));
	if ((goals = calloc(ng ? ng : 1, sizeof(*goals))) == NULL)
		fatal_oom("exporter_serve");
	/* Decoded strings are NUL-terminated; none: every export goal. */
	for (size_t i = 0; i < ng; i++)
		goals[i] = (char *)(uintptr_t)b->u.ereq.goals[i].p;
	*n = 0;
	rc = exporter_run(c, cn, goals, ng, &o, res, n);
	free(goals);
	if (rc == 0 || rc == EX_TEMPFAIL || exporter_stop)
		return rc;
	/* The goal that stopped the run, and those after it: the driver stops waiting. */
	if (*n > 0 && res[*n - 1].error[0] == '\0')
		snprintf(res[*n - 1].error, sizeof(res[*n - 1].error), "the exporter could "
		    "not finish this goal (exit %d; see its log)", rc);
	for (size_t i = 0; i < cn->ngoals; i++) {
		const struct conf_goal *g = &cn->goals[i];
		int	 seen = 0;

		for (size_t j = 0; j < *n && !seen; j++)
			seen = strcmp(res[j].st.goal, g->name) == 0;
		if (g->kind != GOAL_EXPORT || seen)
			continue;
		export_result_init(&res[*n], g->name);
		snprintf(res[*n].error, sizeof(res[*n].error), "the exporter could not run "
		    "(exit %d; see its log)", rc);
		(*n)++;
	}
	return rc;
}

/*
 * Records the results of a run (a capture at uri, sealed: fsync, rename),
 * then sends them.
 */
static void
results_send(struct chan *out, const char *uri, const char *conn, uint64_t run,
    const struct export_result *res, size_t n)
{
	struct msg_batch b;
	struct chan	*rec;
	struct buf	 enc;
	char		 err[512];

	if ((rec = chan_open(uri, CHAN_OUT, CHAN_BIND, 0, err, sizeof(err))) == NULL)
		log_warnx("cannot record export results: %s", err);
	buf_init(&enc, MSG_MAX_BYTES);
	for (size_t pass = 0; pass < 2; pass++) {
		/* Pass 0 records every result, pass 1 sends them once the record is whole. */
		for (size_t i = 0; i < n; i++) {
			memset(&b, 0, sizeof(b));
			b.kind = MSG_EXPORT_RESULT;
			b.v = MSG_VERSION;
			b.run = run;
			b.src.conn = str_c(conn);
			b.src.goal = str_c(res[i].st.goal);
			b.u.eres.st = res[i].st;
			b.u.eres.mode = str_c(res[i].mode);
			b.u.eres.error = str_c(res[i].error);
			buf_reset(&enc);
			if (msg_encode(&b, &enc, err, sizeof(err)) == -1) {
				log_warnx("cannot encode a result: %s", err);
				continue;
			}
			if (pass == 0 && rec != NULL && chan_send(rec, enc.data, enc.len, -1) != 0)
				log_warn("cannot record export results uri=%s", uri);
			if (pass == 1 && chan_send(out, enc.data, enc.len, 5000) != 0)
				log_warnx("cannot send a result connection=%s run=%" PRIu64,
				    conn, run);
		}
		if (pass == 0 && rec != NULL && chan_close(&rec) == -1)
			log_warnx("cannot record export results uri=%s", uri);
	}
	buf_clear(&enc);
}

static void
handle(const struct conf *c, struct chan *out, const struct msg_batch *b)
{
	const struct conf_conn *cn;
	struct export_result *res;
	char	 conn[128], uri[4300];
	size_t	 n = 0;
	int	 rc;

	if (b->src.conn.len == 0 || b->src.conn.len >= sizeof(conn)) {
		log_warnx("export request without a connection dropped run=%" PRIu64, b->run);
		return;
	}
	memcpy(conn, b->src.conn.p, b->src.conn.len);
	conn[b->src.conn.len] = '\0';
	if ((cn = conf_conn_find(c, conn, strlen(conn))) == NULL || !cn->enabled) {
		log_warnx("export request for an unknown or disabled connection dropped "
		    "connection=%.64s run=%" PRIu64, conn, b->run);
		return;
	}
	result_path(c, conn, b->run, uri, sizeof(uri));
	if (results_resend(out, uri) == 0) {
		/* Done already: a resent request gets the same answer. */
		log_info("export request answered again connection=%s run=%" PRIu64, conn,
		    b->run);
		return;
	}
	log_info("export request connection=%s run=%" PRIu64, conn, b->run);
	if ((res = calloc(cn->ngoals ? cn->ngoals : 1, sizeof(*res))) == NULL)
		fatal_oom("exporter_serve");
	rc = run_one(c, cn, b, res, &n);
	/* Interrupted: no answer; the driver resends and the cursor resumes the export. */
	if (rc != EX_TEMPFAIL && !exporter_stop)
		results_send(out, uri, conn, b->run, res, n);
	for (size_t i = 0; i < n; i++)
		export_result_clear(&res[i]);
	free(res);
}

int
exporter_serve(const struct conf *c)
{
	struct chan	*in = NULL, *out = NULL;
	struct msg_batch b;
	struct buf	 rx;
	struct conf_follow follow;
	struct conf	*next;
	char		 err[512], dir[4200];
	int		 rc = 0, r;

	snprintf(dir, sizeof(dir), "%s/results", c->pipe.export_state);
	if (mkdir(c->pipe.export_state, 0700) == -1 && errno != EEXIST) {
		log_warn("cannot create path=%s", c->pipe.export_state);
		return EX_CANTCREAT;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("cannot create path=%s", dir);
		return EX_CANTCREAT;
	}
	if ((in = chan_open(c->pipe.export, CHAN_IN, CHAN_BIND, 0, err, sizeof(err))) == NULL ||
	    (out = chan_open(c->pipe.export_results, CHAN_OUT, CHAN_CONNECT, 0, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s", err);
		chan_close(&in);
		return EX_UNAVAILABLE;
	}
	log_info("exporter ready requests=%s results=%s", c->pipe.export,
	    c->pipe.export_results);
	buf_init(&rx, MSG_MAX_BYTES);
	memset(&b, 0, sizeof(b));
	/*
	 * Requests carry the digest of the configuration the run driver
	 * loaded: a request made under another one reloads the file, or is
	 * left unanswered (the driver sends it again) until the two agree.
	 * Channels and the state directory stay as started.
	 */
	conf_follow_init(&follow, c, CONF_DIGEST_EXPORTER);
	while (!exporter_stop) {
		r = chan_recv(in, &rx, SERVE_WAKE_MS);
		if (r == CHAN_TIMEOUT || (r == CHAN_ERR && errno == EINTR))
			continue;
		if (r != 0) {
			log_warnx("cannot receive requests uri=%s", c->pipe.export);
			rc = EX_IOERR;
			break;
		}
		if (msg_decode(rx.data, rx.len, &b, err, sizeof(err)) == -1) {
			log_warnx("malformed request dropped reason=\"%s\"", err);
			continue;
		}
		if (b.kind != MSG_EXPORT_REQUEST)
			log_warnx("dropped a message not meant for the exporter kind=%s",
			    msg_kind_name(b.kind) ? msg_kind_name(b.kind) : "?");
		else if ((r = conf_follow_check(&follow, &b, &next)) != CONF_FOLLOW_REFUSE) {
			if (r == CONF_FOLLOW_NEW)
				conf_follow_adopt(&follow, next);
			handle(follow.c, out, &b);
		}
		msg_batch_clear(&b);
	}
	conf_follow_clear(&follow);
	buf_clear(&rx);
	chan_close(&in);
	chan_close(&out);
	return rc;
}
