/*
 * common/conf_follow.c: owns a long-lived stage's reload-or-refuse
 * decision for batches made under another configuration (conf_follow.h).
 */
#include <sys/stat.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf_follow.h"
#include "log.h"
#include "timefmt.h"

#define FOLLOW_LOG_EVERY_MS	30000	/* a refusal repeated by resends */

void
conf_follow_init(struct conf_follow *f, const struct conf *c, int which)
{
	memset(f, 0, sizeof(*f));
	f->c = c;
	f->which = which;
}

void
conf_follow_clear(struct conf_follow *f)
{
	if (f->own != NULL) {
		conf_clear(f->own);
		free(f->own);
	}
	memset(f, 0, sizeof(*f));
}

static struct str
batch_digest(const struct msg_batch *b, int which)
{
	switch (which) {
	case CONF_DIGEST_MAPPER:
		return b->conf.mapper;
	case CONF_DIGEST_WRITER:
		return b->conf.writer;
	default:
		return b->conf.exporter;
	}
}

void
conf_follow_adopt(struct conf_follow *f, struct conf *next)
{
	if (f->own != NULL) {
		conf_clear(f->own);
		free(f->own);
	}
	f->own = next;
	f->c = next;
	f->reloads++;
	memset(&f->last, 0, sizeof(f->last));
}

int
conf_follow_check(struct conf_follow *f, const struct msg_batch *b, struct conf **next)
{
	struct str	 want = batch_digest(b, f->which);
	const char	*have, *stage = conf_digest_name(f->which);
	char		 conn[129], w[65], file[DIGEST_HEX + 8], err[512], q[300];
	struct conf	*nc;
	struct stat	 st;
	int64_t		 now;
	int		 r;

	*next = NULL;
	if (want.len == 0)
		return CONF_FOLLOW_SAME;	/* made before digests: ours */
	snprintf(conn, sizeof(conn), "%.*s", (int)(b->src.conn.len < 128 ?
	    b->src.conn.len : 128), b->src.conn.p ? b->src.conn.p : "");
	snprintf(w, sizeof(w), "%.*s", (int)want.len, want.p);
	have = conf_digest(f->c, f->which, b->src.conn.p, b->src.conn.len);
	if (strcmp(have, w) == 0)
		return CONF_FOLLOW_SAME;

	/* The same refusal as the last one, and the file unchanged: no re-read. */
	if (stat(f->c->file, &st) == -1)
		memset(&st, 0, sizeof(st));
	if (f->last.why[0] != '\0' && strcmp(f->last.conn, conn) == 0 &&
	    strcmp(f->last.want, w) == 0 &&
	    f->last.mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 +
	    st.st_mtim.tv_nsec && f->last.size == (int64_t)st.st_size &&
	    f->last.ino == (int64_t)st.st_ino)
		goto refuse;

	if ((nc = calloc(1, sizeof(*nc))) == NULL)
		fatal_oom("conf_follow");
	r = conf_digest_reload(f->c->file, f->which, b->src.conn.p, b->src.conn.len,
	    want.p, want.len, nc, file, sizeof(file), err, sizeof(err));
	if (r == 0) {
		log_info("configuration reloaded file=%s connection=%s digest=%s was=%s"
		    " for=%s", f->c->file, log_quote(conn, q, sizeof(q)), w, have, stage);
		*next = nc;
		return CONF_FOLLOW_NEW;
	}
	free(nc);
	snprintf(f->last.conn, sizeof(f->last.conn), "%s", conn);
	snprintf(f->last.want, sizeof(f->last.want), "%s", w);
	f->last.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	f->last.size = (int64_t)st.st_size;
	f->last.ino = (int64_t)st.st_ino;
	f->last.logged_ms = 0;
	f->last.n = 0;
	if (r == 1)
		snprintf(f->last.why, sizeof(f->last.why), "the file %s has %s: the run "
		    "started under another configuration; stop the run and run it "
		    "again (it resumes under the file's), or put back the "
		    "configuration it started with", f->c->file, file);
	else
		snprintf(f->last.why, sizeof(f->last.why), "the file does not load now "
		    "(%s); fix it, and the batch is applied when it is sent again", err);
refuse:
	f->refused++;
	f->last.n++;
	now = time_mono_ms();
	if (f->last.logged_ms == 0 || now - f->last.logged_ms >= FOLLOW_LOG_EVERY_MS) {
		log_warnx("refused batch connection=%s run=%" PRIu64 " lane=%" PRIu32
		    " seq_first=%" PRIu64 " refused=%" PRIu64 ": it was made under "
		    "configuration %s (the %s's part), this %s has %s; %s",
		    log_quote(conn, q, sizeof(q)), b->run, b->lane, b->seq_first,
		    f->last.n, w, stage, stage, have, f->last.why);
		f->last.logged_ms = now;
		f->last.n = 0;
	}
	return CONF_FOLLOW_REFUSE;
}
