/*
 * exporter/exporter_serve.c: owns the long-lived exporter: EXPORT_REQUEST
 * in on pipeline.export, one run of the connection's export goals, and
 * EXPORT_RESULT out on pipeline.export_results.
 *
 * Requests may arrive more than once (the run driver resends until it has
 * every goal's result, because ZeroMQ loses what a dead process held).  So
 * the outcome of each (connection, run) is written, before any result is
 * sent, to pipeline.export_state/results/CONN-RUN.json (temporary file,
 * fsync, rename): a repeated request is answered from that file without
 * exporting again.  What a crash costs:
 * - before the file is renamed: the export's own cursor resumes it when
 *   the driver's resend arrives at the restarted exporter;
 * - after: the resend is answered from the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "chan.h"
#include "exporter.h"
#include "log.h"
#include "msg.h"

#define SERVE_WAKE_MS	500

static void
result_path(const struct conf *c, const char *conn, uint64_t run, char *out,
    size_t outlen)
{
	snprintf(out, outlen, "%s/results/%s-%" PRIu64 ".json", c->pipe.export_state,
	    conn, run);
}

/* Writes text to path through path.tmp, fsync and rename.  0 or -1. */
static int
durable_write(const char *path, const char *text)
{
	char	 tmp[4400], dir[4400], *slash;
	size_t	 len = strlen(text);
	int	 fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1)
		return -1;
	ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	if (close(fd) == -1 || !ok || rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	/* The rename is durable once the directory is. */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

/* Sends one EXPORT_RESULT per goal of the summary root. */
static int
send_results(struct chan *out, const char *conn, uint64_t run, json_t *root)
{
	struct msg_batch b;
	struct buf	 enc;
	json_t		*g;
	size_t		 i;
	char		 err[256];
	int		 rc = 0;

	buf_init(&enc, MSG_MAX_BYTES);
	json_array_foreach(json_object_get(root, "goals"), i, g) {
		memset(&b, 0, sizeof(b));
		b.kind = MSG_EXPORT_RESULT;
		b.v = MSG_VERSION;
		b.run = run;
		b.src.conn = str_c(conn);
		b.src.goal = str_c(json_string_value(json_object_get(g, "name")));
		b.u.eres.goal = b.src.goal;
		b.u.eres.exported = (uint64_t)json_integer_value(json_object_get(g, "exported"));
		b.u.eres.skipped = (uint64_t)json_integer_value(json_object_get(g, "skipped"));
		b.u.eres.failed = (uint64_t)json_integer_value(json_object_get(g, "failed"));
		b.u.eres.error = str_c(json_string_value(json_object_get(g, "error")));
		buf_reset(&enc);
		if (msg_encode(&b, &enc, err, sizeof(err)) == -1) {
			log_warnx("cannot encode a result: %s", err);
			rc = -1;
			continue;
		}
		if (chan_send(out, enc.data, enc.len, 5000) != 0) {
			log_warnx("cannot send a result connection=%s run=%" PRIu64, conn, run);
			rc = -1;
		}
	}
	buf_clear(&enc);
	return rc;
}

/*
 * The summary of one export run of conn: every export goal's stats.  A goal
 * that did not run (the export was stopped) is absent; returns the exit
 * code of exporter_run.
 */
static int
run_one(const struct conf *c, const struct conf_conn *cn, const struct msg_batch *b,
    json_t **root)
{
	struct exporter_opts o;
	struct export_stats *st;
	size_t	 n = 0, ng = b->u.ereq.ngoals;
	char	**goals;
	json_t	*ga;
	FILE	*devnull;
	int	 rc;

	memset(&o, 0, sizeof(o));
	if ((st = calloc(cn->ngoals ? cn->ngoals : 1, sizeof(*st))) == NULL ||
	    (goals = calloc(ng ? ng : 1, sizeof(*goals))) == NULL)
		fatalx(EX_OSERR, "out of memory");
	/* Decoded strings are NUL-terminated; none: every export goal. */
	for (size_t i = 0; i < ng; i++)
		goals[i] = (char *)(uintptr_t)b->u.ereq.goals[i].p;
	rc = exporter_run(c, cn, goals, ng, &o, st, &n);
	free(goals);
	*root = json_object();
	ga = json_array();
	/* The human lines go nowhere: the run driver prints its own summary. */
	devnull = fopen("/dev/null", "w");
	for (size_t i = 0; i < n; i++)
		json_array_append_new(ga, exporter_stats_json(&st[i], devnull ? devnull : stderr));
	if (devnull)
		fclose(devnull);
	json_object_set_new(*root, "connection", json_string(cn->name));
	json_object_set_new(*root, "status", json_string(exporter_status(st, n)));
	json_object_set_new(*root, "goals", ga);
	free(st);
	return rc;
}

static void
handle(const struct conf *c, struct chan *out, const struct msg_batch *b)
{
	const struct conf_conn *cn;
	char	 conn[128], path[4300], *text;
	json_t	*root;
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
	result_path(c, conn, b->run, path, sizeof(path));
	if ((root = json_load_file(path, 0, NULL)) != NULL) {
		/* Done already: a resent request gets the same answer. */
		log_info("export request answered again connection=%s run=%" PRIu64, conn,
		    b->run);
		send_results(out, conn, b->run, root);
		json_decref(root);
		return;
	}
	log_info("export request connection=%s run=%" PRIu64, conn, b->run);
	rc = run_one(c, cn, b, &root);
	if (rc == EX_TEMPFAIL || exporter_stop) {
		/* No answer: the driver resends and the cursor resumes the export. */
		json_decref(root);
		return;
	}
	if (rc != 0)
		json_object_set_new(root, "status", json_string("failed"));
	if (rc != 0 && json_array_size(json_object_get(root, "goals")) == 0) {
		/* Nothing ran: say so once per goal, so the driver stops waiting. */
		for (size_t i = 0; i < cn->ngoals; i++) {
			json_t	*g;

			if (cn->goals[i].kind != GOAL_EXPORT)
				continue;
			g = json_object();
			json_object_set_new(g, "name", json_string(cn->goals[i].name));
			json_object_set_new(g, "type", json_string("export"));
			json_object_set_new(g, "error", json_sprintf("the exporter could "
			    "not run (exit %d; see its log)", rc));
			json_array_append_new(json_object_get(root, "goals"), g);
		}
	}
	if ((text = json_dumps(root, JSON_COMPACT)) == NULL ||
	    durable_write(path, text) == -1)
		log_warn("cannot record export results path=%s", path);
	free(text);
	send_results(out, conn, b->run, root);
	json_decref(root);
}

int
exporter_serve(const struct conf *c)
{
	struct chan	*in = NULL, *out = NULL;
	struct msg_batch b;
	struct buf	 rx;
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
		else
			handle(c, out, &b);
		msg_batch_clear(&b);
	}
	buf_clear(&rx);
	chan_close(&in);
	chan_close(&out);
	return rc;
}
