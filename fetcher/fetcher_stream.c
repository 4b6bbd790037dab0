/* fetcher/fetcher_stream.c: numbers spool rows per lane, sends USERS batches in a window, follows ACKs. */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "chan.h"
#include "fetcher.h"
#include "ident.h"
#include "log.h"
#include "runauth.h"
#include "timefmt.h"

#define WAKE_MS		100		/* longest blocking step: signals are seen this fast */
#define CKPT_MS		1000		/* acked seqs reach the ledger this often */
#define TTY_MS		500
#define LOG_MS		5000
#define BATCH_BYTES	(8u << 20)	/* flush a batch that grows past this */
#define SKIP_LOGS	10		/* bad rows logged one by one per part */
#define RESEND_MULT_MAX	8

/* One encoded batch waiting for its acknowledgement. */
struct sent_batch {
	uint64_t	 first, last;
	char		*data;
	size_t		 len;
};

/* One writer lane as the stream sees it: numbering, the batch being filled, the window. */
struct lane_out {
	uint64_t	 seq;		/* last sequence number given out */
	/* The batch being filled: per row u64 line, u32 n, n x (u32 len, bytes). */
	uint64_t	 pfirst;
	uint32_t	 prows;
	struct buf	 pdata;
	/* Sent, not yet acknowledged, oldest first. */
	struct sent_batch	*win;
	size_t		 nwin;
	int64_t		 stall_since;	/* last ack progress (or first send) */
	unsigned	 mult;		/* resend interval multiplier while stalled */
};

struct stream {
	struct fetcher_ctx *x;
	struct chan	*users, *acks;
	int		 capture;	/* users is a file: no acks, no window */
	unsigned	 nlanes;
	unsigned	 window;
	struct lane_out	*lanes;
	const struct fetcher_part *part;	/* being read */
	const struct conf_goal *goal;
	uint32_t	 ncols;
	const struct str *cols;
	int		 link;		/* link column index, -1 none */
	char		*norm;		/* normalized link value */
	struct buf	 enc, rx;
	uint64_t	 bytes_before;	/* spool bytes of parts already read */
	uint64_t	 bytes_total;
	uint64_t	 bytes_now;	/* of the part being read */
	int64_t		 next_ckpt, next_progress;
	int		 dirty, tty, shown;
	int		 lockfd;
	char		 auth[RUNAUTH_HEX + 1];	/* the run's tag (runauth.h) */
	/* Where the time went (us), logged at the end for make bench. */
	int64_t		 t_parse, t_encode, t_send, t_wait;
};

static void
stream_checkpoint(struct stream *s, int force)
{
	struct fetcher_ledger *l = &s->x->led;

	if (!force && (!s->dirty || time_mono_ms() < s->next_ckpt))
		return;
	for (unsigned i = 0; i < s->nlanes; i++)
		l->lanes[i].total = s->lanes[i].seq > l->lanes[i].total ?
		    s->lanes[i].seq : l->lanes[i].total;
	fetcher_ctx_checkpoint(s->x);
	s->dirty = 0;
	s->next_ckpt = time_mono_ms() + CKPT_MS;
}

static void
progress(struct stream *s, int final)
{
	struct fetcher_ledger *l = &s->x->led;
	uint64_t mapped = 0, written = 0, done;
	int64_t	 now = time_mono_ms(), el = now - s->x->start_mono;
	double	 rate;
	char	 eta[32] = "-";

	if (!final && now < s->next_progress)
		return;
	if (final && !s->shown)
		return;
	s->next_progress = now + (s->tty ? TTY_MS : LOG_MS);
	for (unsigned i = 0; i < s->nlanes; i++) {
		mapped += l->lanes[i].received > l->lanes[i].acked ?
		    l->lanes[i].received : l->lanes[i].acked;
		written += l->lanes[i].acked;
	}
	rate = el > 0 ? (double)s->x->rows * 1000.0 / (double)el : 0;
	done = s->bytes_before + s->bytes_now;
	if (done > 0 && s->bytes_total > done && el > 0)
		snprintf(eta, sizeof(eta), "%llds", (long long)((double)el / 1000.0 *
		    (double)(s->bytes_total - done) / (double)done));
	if (s->tty) {
		fprintf(stderr, "\rfetched %" PRIu64 "  mapped %" PRIu64 "  written %"
		    PRIu64 "  %.0f rows/s  ETA %s   %s", s->x->rows, mapped, written,
		    rate, eta, final ? "\n" : "");
		fflush(stderr);
		s->shown = 1;
	} else if (!final)
		log_info("progress run=%" PRIu64 " fetched=%" PRIu64 " mapped=%" PRIu64
		    " written=%" PRIu64 " rate=%.0f eta=%s", l->run, s->x->rows, mapped,
		    written, rate, eta);
}

/* Sends one frame, servicing nothing; 0, CHAN_TIMEOUT, or -1. */
static int
send_frame(struct stream *s, const char *p, size_t len, int timeout_ms)
{
	int64_t	 t = time_mono_us();
	int	 r = chan_send(s->users, p, len, timeout_ms);

	s->t_send += time_mono_us() - t;
	if (r == CHAN_ERR) {
		if (errno == EINTR)
			return CHAN_TIMEOUT;
		log_warn("send failed uri=%s", chan_uri(s->users));
		return -1;
	}
	return r;
}

/*
 * The configuration this run maps and writes under: the mapper's and the
 * writer's digests of the connection, as this process loaded the file.  A
 * stage holding another configuration re-reads the file, or refuses.
 */
static void
stream_digests(struct stream *s, struct msg_batch *b)
{
	b->conf.mapper = str_c(s->x->cn->digest[CONF_DIGEST_MAPPER]);
	b->conf.writer = str_c(s->x->cn->digest[CONF_DIGEST_WRITER]);
	/* The run's announcement: writers apply nothing of a run without it. */
	b->auth = str_c(s->auth);
}

/* END for lane: no records past its total (once every part is read). */
static void
send_end(struct stream *s, unsigned lane)
{
	struct msg_batch b;
	struct buf e;
	char	 err[200];

	memset(&b, 0, sizeof(b));
	b.kind = MSG_END;
	b.v = MSG_VERSION;
	b.run = s->x->led.run;
	b.lane = lane;
	b.src.conn = (struct str){ s->x->cn->name, (uint32_t)strlen(s->x->cn->name) };
	stream_digests(s, &b);
	b.u.end.total = s->lanes[lane].seq;
	/* Its own buffer: this may run while s->enc holds a batch being sent. */
	buf_init(&e, 1024);
	if (msg_encode(&b, &e, err, sizeof(err)) == -1)
		panic("END does not encode: %s", err);
	(void)send_frame(s, e.data, e.len, WAKE_MS);
	buf_clear(&e);
}

/* Sends the lane's unacknowledged batches again, oldest first. */
static void
resend(struct stream *s, unsigned lane, const char *why)
{
	struct lane_out *ln = &s->lanes[lane];
	size_t	 n = 0;

	if (ln->nwin == 0)
		return;
	log_info("resend lane=%u from_seq=%" PRIu64 " batches=%zu reason=%s", lane,
	    ln->win[0].first, ln->nwin, why);
	for (size_t i = 0; i < ln->nwin; i++, n++)
		if (send_frame(s, ln->win[i].data, ln->win[i].len, WAKE_MS) != 0)
			break;	/* the rest goes on the next stall */
	if (n == ln->nwin && s->x->led.totals_known)
		send_end(s, lane);
}

static void
handle_ack(struct stream *s, const struct msg_batch *b)
{
	struct fetcher_lane *l;
	struct lane_out *ln;
	const struct msg_ack *a = &b->u.ack;
	size_t	 k;

	if (b->run != s->x->led.run) {
		log_debug("ack of another run ignored run=%" PRIu64 " lane=%u", b->run,
		    b->lane);
		return;
	}
	if (b->lane >= s->nlanes) {
		log_warnx("ack for an unknown lane ignored lane=%u lanes=%u", b->lane,
		    s->nlanes);
		return;
	}
	l = &s->x->led.lanes[b->lane];
	ln = &s->lanes[b->lane];
	/*
	 * No writer can have applied or received what this run never
	 * numbered: such an ACK is forged, or from a writer of another
	 * store, and taking it would end the run "ok" with counts the store
	 * does not hold.  A resumed run is different: an earlier process
	 * sent rows this one has not numbered again yet (its checkpoint
	 * lags), so a true ACK may run ahead of ln->seq, and refusing it
	 * would leave the window full for good.  There the check cannot
	 * tell true from forged and is not made.
	 */
	if (!s->x->resumed && (a->applied > ln->seq || a->received > ln->seq)) {
		log_warnx("impossible ack dropped run=%" PRIu64 " lane=%u applied=%"
		    PRIu64 " received=%" PRIu64 " numbered=%" PRIu64, b->run, b->lane,
		    a->applied, a->received, ln->seq);
		return;
	}
	if (a->received > l->received)
		l->received = a->received;
	/* Stats are cumulative: keep the newest. */
	if (a->nstats > 0 && a->applied >= l->stats_applied) {
		for (uint32_t i = 0; i < a->nstats; i++)
			stats_copy(stats_array_get(&l->stats, &l->nstats, a->stats[i].goal),
			    &a->stats[i]);
		l->stats_applied = a->applied;
		s->dirty = 1;
	}
	if (a->applied <= l->acked)
		return;
	l->acked = a->applied;
	s->dirty = 1;
	ln->stall_since = time_mono_ms();
	ln->mult = 1;
	for (k = 0; k < ln->nwin && ln->win[k].last <= l->acked; k++)
		free(ln->win[k].data);
	if (k > 0) {
		memmove(ln->win, ln->win + k, (ln->nwin - k) * sizeof(*ln->win));
		ln->nwin -= k;
	}
}

static void
handle(struct stream *s, const struct buf *m)
{
	struct msg_batch b;
	char	 err[300];

	if (msg_decode(m->data, m->len, &b, err, sizeof(err)) == -1) {
		log_warnx("bad message on acks dropped bytes=%zu reason=%s", m->len, err);
		return;
	}
	switch (b.kind) {
	case MSG_ACK:
		handle_ack(s, &b);
		break;
	case MSG_HELLO:
		if (b.lane < s->nlanes)
			resend(s, b.lane, "hello");
		break;
	default:
		log_warnx("unexpected message on acks dropped kind=%s",
		    msg_kind_name(b.kind) ? msg_kind_name(b.kind) : "?");
		break;
	}
	msg_batch_clear(&b);
}

/*
 * Waits up to timeout_ms for ACKs and HELLOs and handles every one that
 * came; resends stalled lanes; checkpoints; shows progress.
 */
static void
service(struct stream *s, int timeout_ms)
{
	int64_t	 now, t0 = time_mono_us();

	if (s->acks) {
		int r = chan_poll(&s->acks, 1, timeout_ms);

		if (r == 0)
			for (int i = 0; i < 1000; i++) {
				r = chan_recv(s->acks, &s->rx, 0);
				if (r == 0)
					handle(s, &s->rx);
				else if (r == CHAN_ERR && errno == E2BIG)
					log_warnx("oversized message on acks dropped");
				else if (r == CHAN_EOF || r == CHAN_ETRUNC) {
					/* A replayed acks file is spent: stop polling it. */
					log_info("acks replay ended uri=%s%s",
					    chan_uri(s->acks), r == CHAN_ETRUNC ?
					    " (cut short)" : "");
					chan_close(&s->acks);
					break;
				} else
					break;
			}
	} else if (timeout_ms > 0 && !s->capture) {
		usleep((useconds_t)timeout_ms * 1000);
	}
	now = time_mono_ms();
	for (unsigned i = 0; i < s->nlanes && !s->capture; i++) {
		struct lane_out *ln = &s->lanes[i];
		int64_t	 wait = (int64_t)s->x->conf->pipe.resend_ms * ln->mult;

		if (ln->nwin == 0 || now - ln->stall_since < wait)
			continue;
		resend(s, i, "stalled");
		ln->stall_since = now;
		if (ln->mult < RESEND_MULT_MAX)
			ln->mult *= 2;
	}
	stream_checkpoint(s, 0);
	progress(s, 0);
	s->t_wait += time_mono_us() - t0;
}

/* Encodes lane's pending batch and sends it (after waiting for room). */
static int
flush(struct stream *s, unsigned lane)
{
	struct lane_out	*ln = &s->lanes[lane];
	struct msg_batch b;
	struct msg_row	*rows;
	struct str	*vals;
	struct sent_batch	 w;
	const char	*p;
	char		 err[300];
	uint64_t	 acked;
	uint32_t	 nv = 0;
	int64_t		 t;
	int		 r;

	if (ln->prows == 0)
		return 0;
	if ((rows = calloc(ln->prows, sizeof(*rows))) == NULL ||
	    (vals = calloc((size_t)ln->prows * (s->ncols ? s->ncols : 1),
	    sizeof(*vals))) == NULL)
		fatal_oom("fetcher_stream");
	p = ln->pdata.data;
	for (uint32_t i = 0; i < ln->prows; i++) {
		uint32_t n;

		memcpy(&rows[i].line, p, 8);
		memcpy(&n, p + 8, 4);
		p += 12;
		rows[i].nvals = n;
		rows[i].vals = vals + nv;
		for (uint32_t j = 0; j < n; j++, nv++) {
			memcpy(&vals[nv].len, p, 4);
			vals[nv].p = p + 4;
			p += 4 + vals[nv].len + 1;
		}
	}
	memset(&b, 0, sizeof(b));
	b.kind = MSG_USERS;
	b.v = MSG_VERSION;
	b.run = s->x->led.run;
	b.lane = lane;
	b.seq_first = ln->pfirst;
	b.src.conn = (struct str){ s->x->cn->name, (uint32_t)strlen(s->x->cn->name) };
	b.src.goal = (struct str){ s->part->goal, (uint32_t)strlen(s->part->goal) };
	b.src.list = (struct str){ s->part->list, (uint32_t)strlen(s->part->list) };
	stream_digests(s, &b);
	b.u.users.ncols = s->ncols;
	b.u.users.cols = (struct str *)(uintptr_t)s->cols;
	b.u.users.nrows = ln->prows;
	b.u.users.rows = rows;
	buf_reset(&s->enc);
	t = time_mono_us();
	r = msg_encode(&b, &s->enc, err, sizeof(err));
	s->t_encode += time_mono_us() - t;
	free(rows);
	free(vals);
	w.first = ln->pfirst;
	w.last = ln->pfirst + ln->prows - 1;
	ln->prows = 0;
	buf_reset(&ln->pdata);
	if (r == -1)
		panic("USERS batch does not encode lane=%u seq=%" PRIu64 ": %s", lane,
		    w.first, err);
	acked = s->x->led.lanes[lane].acked;
	/* Already applied before a restart: numbered again, never re-sent. */
	if (!s->capture && w.last <= acked)
		return 0;
	while (!s->capture && ln->nwin >= s->window) {
		if (fetcher_stop)
			return EX_TEMPFAIL;
		service(s, WAKE_MS);
	}
	if (!s->capture) {
		if ((w.data = malloc(s->enc.len)) == NULL)
			fatal_oom("fetcher_stream");
		memcpy(w.data, s->enc.data, s->enc.len);
		w.len = s->enc.len;
		if (ln->nwin == 0)
			ln->stall_since = time_mono_ms();
		ln->win[ln->nwin++] = w;
	}
	for (;;) {
		if (fetcher_stop)
			return EX_TEMPFAIL;
		r = send_frame(s, s->enc.data, s->enc.len, WAKE_MS);
		if (r == 0)
			break;
		if (r == -1)
			return EX_IOERR;
		/* No mapper takes it yet: keep following acks meanwhile. */
		if (!s->capture)
			service(s, 0);
	}
	return 0;
}

/* The row's link value (ident.h), normalized into s->norm; 0 when none. */
static size_t
link_value(struct stream *s, const struct fetcher_row *row)
{
	const char *prop = s->goal->link_property ? s->goal->link_property : "";

	if (s->part->format == FMT_JSONL)
		return row->nvals < 1 ? 0 : ident_link_json(prop, s->goal->link_column,
		    row->vals[0].p, row->vals[0].len, s->norm, FETCHER_FIELD_MAX + 1);
	return ident_link_csv(prop, row->vals, row->nvals, s->link, s->norm,
	    FETCHER_FIELD_MAX + 1);
}

static int
add_row(struct stream *s, const struct fetcher_row *row)
{
	struct lane_out *ln;
	unsigned lane;
	size_t	 n;
	uint32_t nv = row->nvals;

	n = link_value(s, row);
	lane = n ? ident_lane(s->norm, n, s->nlanes) : 0;
	ln = &s->lanes[lane];
	if (ln->prows == 0)
		ln->pfirst = ln->seq + 1;
	ln->seq++;
	s->x->rows++;
	if (buf_add(&ln->pdata, &row->line, 8) == -1 || buf_add(&ln->pdata, &nv, 4) == -1)
		fatal_oom("fetcher_stream");
	for (uint32_t i = 0; i < nv; i++) {
		uint32_t l = row->vals[i].len;

		if (buf_add(&ln->pdata, &l, 4) == -1 ||
		    buf_add(&ln->pdata, row->vals[i].p, l) == -1 ||
		    buf_add(&ln->pdata, "", 1) == -1)
			fatal_oom("fetcher_stream");
	}
	ln->prows++;
	if (ln->prows >= s->x->conf->pipe.batch_rows || ln->pdata.len >= BATCH_BYTES)
		return flush(s, lane);
	return 0;
}

/*
 * A CSV part must open with a header that holds the goal's link column.
 * An empty export, an HTML error page served in its place, or a header
 * without the link column fails the part before a row is numbered: every
 * row would be skipped, and the run must not say ok.  Returns 0, or -1
 * with the reason in err.
 */
static int
header_check(const struct stream *s, char *err, size_t errlen)
{
	const char *lc = s->goal->link_column;

	if (lc == NULL || s->link >= 0)
		return 0;
	if (s->ncols == 0)
		snprintf(err, errlen, "the export is empty: no header row, so no "
		    "link column \"%s\"", lc);
	else if (s->cols[0].len > 0 && s->cols[0].p[0] == '<')
		snprintf(err, errlen, "the export is not CSV (it starts with \"<\", "
		    "an HTML page?): no link column \"%s\"", lc);
	else
		snprintf(err, errlen, "the export's header has no link column \"%s\"",
		    lc);
	return -1;
}

/*
 * Mapping columns the header lacks: the part is imported, but those
 * properties are never written, which the run summary says (part->warning).
 */
static void
header_warn(const struct stream *s, struct fetcher_part *p, const char *qg,
    const char *ql)
{
	struct buf w;
	size_t	   n = 0;

	buf_init(&w, 4096);
	for (size_t m = 0; m < s->goal->nmaps; m++) {
		const char *c = s->goal->maps[m].column;

		/* The mapper finds a mapping's column the same way. */
		if (ident_column_find(s->cols, s->ncols, c) >= 0)
			continue;
		if (buf_printf(&w, "%s\"%s\"", n++ ? ", " : "", c) == -1)
			break;	/* over the cap: the first ones are named */
	}
	free(p->warning);
	p->warning = NULL;
	if (n > 0) {
		const char *names = w.data ? w.data : "";
		char	    q[700];

		p->warning = malloc(w.len + 64);
		if (p->warning == NULL)
			fatal_oom("fetcher_stream");
		snprintf(p->warning, w.len + 64, "mapping column%s not in the export: %s",
		    n > 1 ? "s" : "", names);
		log_warnx("mapping column missing run=%" PRIu64 " goal=%s list=%s "
		    "columns=%s", s->x->led.run, qg, ql, log_quote(names, q, sizeof(q)));
	}
	buf_clear(&w);
}

static int
stream_part(struct stream *s, struct fetcher_part *p)
{
	struct fetcher_src *src;
	struct fetcher_row row;
	struct stats *fs;
	char	 err[600], qg[300], ql[300], qd[200];
	int	 r, rc = 0;

	s->part = p;
	s->goal = conf_goal_find(s->x->cn, p->goal, strlen(p->goal));
	if (s->goal == NULL)
		panic("part of an unknown goal %s", p->goal);
	log_quote(p->goal, qg, sizeof(qg));
	log_quote(p->list, ql, sizeof(ql));
	if ((src = fetcher_src_open(p->spool, p->format, s->x->opts->chunk, err,
	    sizeof(err))) == NULL) {
		free(p->error);
		p->error = xstrdup(err);
		p->status = PART_FAILED;
		log_warnx("part failed run=%" PRIu64 " goal=%s list=%s error=%s",
		    s->x->led.run, qg, ql, log_quote(err, qd, sizeof(qd)));
		return 0;
	}
	s->ncols = fetcher_src_ncols(src);
	s->cols = fetcher_src_cols(src);
	s->link = s->goal->link_column ?
	    ident_column_find(s->cols, s->ncols, s->goal->link_column) : -1;
	if (p->format == FMT_CSV && header_check(s, err, sizeof(err)) == -1) {
		free(p->error);
		p->error = xstrdup(err);
		p->status = PART_FAILED;
		log_warnx("part failed run=%" PRIu64 " goal=%s list=%s error=%s",
		    s->x->led.run, qg, ql, log_quote(err, qd, sizeof(qd)));
		fetcher_src_close(&src);
		return 0;
	}
	if (p->format == FMT_CSV)
		header_warn(s, p, qg, ql);
	fs = fetcher_ctx_skips(s->x, p->goal);
	p->rows = p->skipped = 0;
	s->bytes_now = 0;
	for (;;) {
		int64_t t = time_mono_us();

		r = fetcher_src_next(src, &row);
		s->t_parse += time_mono_us() - t;
		if (r == FETCHER_END)
			break;
		if (fetcher_stop) {
			rc = EX_TEMPFAIL;
			break;
		}
		s->bytes_now = fetcher_src_offset(src);
		if (r == FETCHER_ERR) {
			/* What was read stands; the rest of the part is lost. */
			free(p->error);
			snprintf(err, sizeof(err), "%s: %s", p->spool, fetcher_src_error(src));
			p->error = xstrdup(err);
			p->status = PART_FAILED;
			log_warnx("part failed run=%" PRIu64 " goal=%s list=%s rows=%" PRIu64
			    " error=%s", s->x->led.run, qg, ql, p->rows,
			    log_quote(err, qd, sizeof(qd)));
			break;
		}
		if (r == FETCHER_SKIP) {
			if (p->skipped++ < SKIP_LOGS)
				log_warnx("row skipped run=%" PRIu64 " goal=%s list=%s row=%"
				    PRIu64 " reason=%s %s", s->x->led.run, qg, ql, row.line,
				    row.skip, row.detail);
			stats_reason_add(fs, row.skip, strlen(row.skip), 1);
			fs->skipped++;
			continue;
		}
		p->rows++;
		if ((rc = add_row(s, &row)) != 0)
			break;
		if ((s->x->rows & 1023) == 0)
			service(s, 0);
	}
	for (unsigned i = 0; rc == 0 && i < s->nlanes; i++)
		rc = flush(s, i);
	if (rc == 0) {
		s->bytes_before += (uint64_t)(p->size > 0 ? p->size : 0);
		s->bytes_now = 0;
		log_info("part read run=%" PRIu64 " goal=%s list=%s rows=%" PRIu64
		    " skipped=%" PRIu64, s->x->led.run, qg, ql, p->rows, p->skipped);
	}
	fetcher_src_close(&src);
	return rc;
}

static int
done(const struct stream *s)
{
	for (unsigned i = 0; i < s->nlanes; i++)
		if (s->x->led.lanes[i].acked < s->lanes[i].seq)
			return 0;
	return 1;
}

static int
pipeline_lock(struct fetcher_ctx *x)
{
	char	 path[4096];
	int	 fd;

	snprintf(path, sizeof(path), "%s/pipeline.lock", x->conf->pipe.state_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		log_warn("cannot open lock path=%s", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	log_info("waiting for another connection's run to free the pipeline");
	while (flock(fd, LOCK_EX) == -1) {
		if (errno != EINTR || fetcher_stop) {
			if (!fetcher_stop)
				log_warn("cannot lock path=%s", path);
			close(fd);
			return -1;
		}
	}
	return fd;
}

int
fetcher_stream(struct fetcher_ctx *x)
{
	struct stream s;
	const struct conf_pipeline *pp = &x->conf->pipe;
	const char *uusers = x->opts->users ? x->opts->users : pp->users;
	const char *uacks = x->opts->acks ? x->opts->acks : pp->acks;
	char	 err[300];
	int	 rc = 0;

	memset(&s, 0, sizeof(s));
	s.lockfd = -1;
	s.x = x;
	s.nlanes = (unsigned)x->led.nlanes;
	s.window = pp->window ? pp->window : 64;
	s.capture = strncmp(uusers, "file:", 5) == 0;
	s.tty = x->opts->progress && isatty(2);
	if (runauth_tag(x->cn->secret, x->cn->name, strlen(x->cn->name), x->led.run,
	    s.auth) == -1)
		fatalx(EX_SOFTWARE, "cannot make the run's tag: no HMAC-SHA256");
	buf_init(&s.enc, MSG_MAX_BYTES);
	buf_init(&s.rx, MSG_MAX_BYTES);
	if ((s.lanes = calloc(s.nlanes, sizeof(*s.lanes))) == NULL ||
	    (s.norm = malloc(FETCHER_FIELD_MAX + 1)) == NULL)
		fatal_oom("fetcher_stream");
	for (unsigned i = 0; i < s.nlanes; i++) {
		buf_init(&s.lanes[i].pdata, BATCH_BYTES + FETCHER_ROW_MAX + 64);
		if ((s.lanes[i].win = calloc(s.window, sizeof(struct sent_batch))) == NULL)
			fatal_oom("fetcher_stream");
		s.lanes[i].mult = 1;
		/* A retried run numbers after what its earlier passes sent. */
		s.lanes[i].seq = x->led.lanes[i].base;
	}
	for (size_t i = 0; i < x->led.nparts; i++)
		if (x->led.parts[i].status == PART_READY)
			s.bytes_total += (uint64_t)(x->led.parts[i].size > 0 ?
			    x->led.parts[i].size : 0);
	/*
	 * Runs of different connections share pipeline.users and .acks, which
	 * only one process can bind: they take turns.
	 */
	if (!s.capture && (s.lockfd = pipeline_lock(x)) == -1) {
		rc = fetcher_stop ? EX_TEMPFAIL : EX_IOERR;
		goto out;
	}
	/* Acks first: writers reconnect to it and say HELLO. */
	if (!s.capture && (s.acks = chan_open(uacks, CHAN_IN, CHAN_BIND, 0, err,
	    sizeof(err))) == NULL) {
		log_warnx("cannot open acks uri=%s: %s", uacks, err);
		rc = EX_UNAVAILABLE;
		goto out;
	}
	if ((s.users = chan_open(uusers, CHAN_OUT, CHAN_BIND, 0, err, sizeof(err))) == NULL) {
		log_warnx("cannot open users uri=%s: %s", uusers, err);
		rc = EX_UNAVAILABLE;
		goto out;
	}
	s.next_ckpt = time_mono_ms() + CKPT_MS;
	s.next_progress = time_mono_ms() + (s.tty ? TTY_MS : LOG_MS);
	/* Every part is read from its start: what it set aside is counted again. */
	for (size_t i = 0; i < x->led.nskips; i++)
		stats_clear(&x->led.skips[i]);
	free(x->led.skips);
	x->led.skips = NULL;
	x->led.nskips = 0;
	/* ... on top of what the earlier passes of a retried run set aside. */
	for (size_t i = 0; i < x->led.nskips_base; i++)
		stats_merge(stats_array_get(&x->led.skips, &x->led.nskips,
		    x->led.skips_base[i].goal), &x->led.skips_base[i]);
	for (size_t i = 0; i < x->led.nparts && rc == 0; i++)
		if (x->led.parts[i].status == PART_READY)
			rc = stream_part(&s, &x->led.parts[i]);
	if (rc != 0)
		goto out;
	x->led.totals_known = 1;
	for (unsigned i = 0; i < s.nlanes; i++) {
		x->led.lanes[i].total = s.lanes[i].seq;
		send_end(&s, i);
	}
	stream_checkpoint(&s, 1);
	if (s.capture) {
		/* A capture is whole only once sealed. */
		if (chan_close(&s.users) == -1) {
			log_warn("cannot seal capture uri=%s", uusers);
			rc = EX_IOERR;
		}
		goto out;
	}
	log_info("all parts read run=%" PRIu64 " rows=%" PRIu64 "; waiting for "
	    "acknowledgements", x->led.run, x->rows);
	while (!done(&s)) {
		if (fetcher_stop) {
			rc = EX_TEMPFAIL;
			goto out;
		}
		service(&s, WAKE_MS);
	}
out:
	progress(&s, 1);
	log_info("stream done run=%" PRIu64 " rows=%" PRIu64 " parse_ms=%" PRId64
	    " encode_ms=%" PRId64 " send_ms=%" PRId64 " wait_ms=%" PRId64, x->led.run,
	    x->rows, s.t_parse / 1000, s.t_encode / 1000, s.t_send / 1000, s.t_wait / 1000);
	if (rc == 0 || rc == EX_TEMPFAIL)
		stream_checkpoint(&s, 1);
	if (s.users)
		chan_close(&s.users);
	if (s.acks)
		chan_close(&s.acks);
	if (s.lockfd != -1)
		close(s.lockfd);
	for (unsigned i = 0; i < s.nlanes; i++) {
		for (size_t k = 0; k < s.lanes[i].nwin; k++)
			free(s.lanes[i].win[k].data);
		free(s.lanes[i].win);
		buf_clear(&s.lanes[i].pdata);
	}
	free(s.lanes);
	free(s.norm);
	buf_clear(&s.enc);
	buf_clear(&s.rx);
	return rc;
}
