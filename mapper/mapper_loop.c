/*
 * mapper/mapper_loop.c: owns the mapper daemon's receive - map - forward
 * loop and its reaction to bad input, backpressure and shutdown.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "chan.h"
#include "log.h"
#include "mapper.h"
#include "msg.h"
#include "timefmt.h"

#define LOOP_WAKE_MS	500	/* how often a blocked wait looks at *stop */

struct loop_stats {
	uint64_t	 batches, rows, forwarded, dropped, refused;
	/* Where the time went (us), logged at stop for make bench. */
	int64_t		 idle, decode, map, encode, send;
};

/*
 * Sends p..p+len on c, waiting while the HWM is full (backpressure).
 * Returns 0 when sent, 1 when a stop was requested first (the batch stays
 * unacknowledged, so the fetcher resends it), -1 on a channel error.
 */
static int
loop_send(struct chan *c, const void *p, size_t len, volatile sig_atomic_t *stop)
{
	for (;;) {
		int r = chan_send(c, p, len, LOOP_WAKE_MS);

		if (r == 0)
			return 0;
		if (r == CHAN_ERR && errno != EINTR) {
			log_warn("send failed uri=%s", chan_uri(c));
			return -1;
		}
		if (*stop)
			return 1;
	}
}

/* Picks the output of a batch for `lane`; NULL (logged) when out of range. */
static struct chan *
loop_out(struct chan **outs, size_t nouts, int single, const struct msg_batch *b)
{
	if (single)
		return outs[0];
	if (b->lane < nouts)
		return outs[b->lane];
	log_warnx("dropped batch for unknown lane kind=%s run=%" PRIu64 " lane=%" PRIu32
	    " seq_first=%" PRIu64 " lanes=%zu", msg_kind_name(b->kind), b->run,
	    b->lane, b->seq_first, nouts);
	return NULL;
}

/*
 * Handles one decoded batch.  Returns 0 (sent or dropped), 1 stop requested
 * during a blocked send, -1 channel error.
 */
static int
loop_batch(struct mapper *m, const struct buf *rx, const struct msg_batch *b,
    struct buf *tx, struct chan **outs, size_t nouts, int single,
    volatile sig_atomic_t *stop, struct loop_stats *st)
{
	struct msg_batch out;
	struct chan	*c;
	char		 err[256];
	int64_t		 t;
	int		 r;

	if (!msg_kind_accepts(b->kind, STAGE_MAPPER)) {
		log_warnx("dropped batch not meant for the mapper kind=%s run=%" PRIu64
		    " lane=%" PRIu32, msg_kind_name(b->kind), b->run, b->lane);
		st->dropped++;
		return 0;
	}
	if ((c = loop_out(outs, nouts, single, b)) == NULL) {
		st->dropped++;
		return 0;
	}
	if (b->kind != MSG_USERS) {
		/* END (and any other pass-through kind) goes on unchanged. */
		if (b->kind == MSG_END)
			mapper_flush_log(m, b->run);
		if ((r = loop_send(c, rx->data, rx->len, stop)) == 0)
			st->forwarded++;
		return r;
	}

	if (mapper_conf_check(m, b) == -1) {
		/* Refused, not mapped: unacknowledged, the fetcher sends it again. */
		st->refused++;
		return 0;
	}
	memset(&out, 0, sizeof(out));
	arena_init(&out.arena);
	t = time_mono_us();
	r = mapper_map(m, b, &out, err, sizeof(err));
	st->map += time_mono_us() - t;
	if (r == -1) {
		/*
		 * Dropped, not skipped: the rows stay unacknowledged and come
		 * back when the fetcher resends, e.g. after the mapper has been
		 * restarted with the configuration that knows the goal.
		 */
		log_warnx("dropped batch reason=\"%s\" run=%" PRIu64 " lane=%" PRIu32
		    " seq_first=%" PRIu64 " rows=%" PRIu32, err, b->run, b->lane,
		    b->seq_first, msg_batch_count(b));
		st->dropped++;
		return 0;
	}
	buf_reset(tx);
	t = time_mono_us();
	r = msg_encode(&out, tx, err, sizeof(err));
	st->encode += time_mono_us() - t;
	if (r == -1) {
		log_warnx("dropped batch, cannot encode patches reason=\"%s\" run=%"
		    PRIu64 " lane=%" PRIu32 " seq_first=%" PRIu64, err, b->run,
		    b->lane, b->seq_first);
		msg_batch_clear(&out);
		st->dropped++;
		return 0;
	}
	st->batches++;
	st->rows += out.u.patches.n;
	msg_batch_clear(&out);
	log_debug("mapped run=%" PRIu64 " lane=%" PRIu32 " seq_first=%" PRIu64
	    " rows=%" PRIu32 " bytes=%zu", b->run, b->lane, b->seq_first,
	    msg_batch_count(b), tx->len);
	t = time_mono_us();
	r = loop_send(c, tx->data, tx->len, stop);
	st->send += time_mono_us() - t;
	return r;
}

int
mapper_loop(struct mapper *m, struct chan *in, struct chan **outs, size_t nouts,
    int single, volatile sig_atomic_t *stop)
{
	struct loop_stats st;
	struct buf	 rx, tx;
	struct msg_batch b;
	char		 err[256];
	int64_t		 t;
	int		 rc = 0, r;

	memset(&st, 0, sizeof(st));
	buf_init(&rx, MSG_MAX_BYTES);
	buf_init(&tx, MSG_MAX_BYTES);
	while (!*stop) {
		t = time_mono_us();
		r = chan_recv(in, &rx, LOOP_WAKE_MS);
		st.idle += time_mono_us() - t;
		if (r == CHAN_TIMEOUT)
			continue;
		if (r == CHAN_EOF) {
			log_info("replay finished uri=%s frames=%" PRIu64,
			    chan_uri(in), chan_count(in));
			if (st.refused > 0) {
				/* Not a replay that worked: those rows are not in the output. */
				log_warnx("replay refused batches=%" PRIu64 ": made under "
				    "another configuration (see above), not mapped",
				    st.refused);
				rc = EX_DATAERR;
			}
			break;
		}
		if (r == CHAN_ETRUNC) {
			log_warnx("replay cut short, mapped every whole batch before "
			    "the cut uri=%s frames=%" PRIu64, chan_uri(in),
			    chan_count(in));
			rc = EX_DATAERR;
			break;
		}
		if (r == CHAN_ERR) {
			if (errno == EINTR)
				continue;
			if (errno == E2BIG) {
				log_warnx("dropped oversized batch uri=%s max=%u",
				    chan_uri(in), MSG_MAX_BYTES);
				st.dropped++;
				continue;
			}
			log_warn("receive failed uri=%s", chan_uri(in));
			rc = EX_IOERR;
			break;
		}
		memset(&b, 0, sizeof(b));
		t = time_mono_us();
		r = msg_decode(rx.data, rx.len, &b, err, sizeof(err));
		st.decode += time_mono_us() - t;
		if (r == -1) {
			log_warnx("dropped malformed batch reason=\"%s\" bytes=%zu",
			    err, rx.len);
			st.dropped++;
			continue;
		}
		r = loop_batch(m, &rx, &b, &tx, outs, nouts, single, stop, &st);
		msg_batch_clear(&b);
		if (r == 1) {
			log_info("stopping with a batch unsent; it stays "
			    "unacknowledged and is resent");
			break;
		}
		if (r == -1) {
			rc = EX_IOERR;
			break;
		}
	}
	log_info("stopping batches=%" PRIu64 " rows=%" PRIu64
	    " forwarded=%" PRIu64 " dropped=%" PRIu64 " refused=%" PRIu64 " idle_ms=%" PRId64
	    " decode_ms=%" PRId64 " map_ms=%" PRId64 " encode_ms=%" PRId64
	    " send_ms=%" PRId64, st.batches, st.rows, st.forwarded, st.dropped, st.refused,
	    st.idle / 1000, st.decode / 1000, st.map / 1000, st.encode / 1000,
	    st.send / 1000);
	buf_clear(&rx);
	buf_clear(&tx);
	return rc;
}
