/* writer/writer_serve.c: owns the writer daemon loop: input channel, group commit timing, ACK sends, signals. */
#include <sys/eventfd.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "chan.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "msg.h"
#include "timefmt.h"
#include "writer.h"

static volatile sig_atomic_t stop;

/*
 * What a crash costs, step by step: the writer applies a group of batches
 * in one LMDB write transaction (profiles, identifier index, the run's
 * applied sequence number, its stats and exchange counts together),
 * commits it, and only then sends ACKs for it.
 *   - Crash while applying (transaction open): the group is gone whole;
 *     nothing of it was acknowledged, so the fetcher still holds those
 *     batches and resends them (our HELLO at restart, or its stall timer).
 *     They apply again from the old applied point: no row lost, none twice.
 *   - Crash inside the commit: LMDB's meta page is the switch; either the
 *     whole group with its applied point is there, or none of it.  The
 *     first case is the next one; the second the one above.
 *   - Crash after the commit, before the ACK left: the group is on disk
 *     but the fetcher does not know it; it resends, the writer finds every
 *     record at or below its applied point, counts them as duplicates,
 *     applies nothing, and acknowledges the point (ack_due).
 *   - Crash after the ACK left, before the fetcher read it: the same.
 *   - Stats and exchange counts are in the group's transaction, so a
 *     resend never counts a row twice; an ACK whose exchange count cannot
 *     be read is dropped, never sent as 0 (writer_ack_next).
 *   - With store.durable false the commit is not fsynced: a killed writer
 *     loses nothing (the page cache survives it), but a power cut can lose
 *     groups already acknowledged.  That is the one case where an ACK may
 *     cover lost work, and why durable is the default.
 */


/*
 * Where ACKs go.  They are sent without blocking: ACKs are cumulative, so
 * one dropped at a full queue is covered by the next.  But the last ACK
 * of a run has no next.  The fetcher binds acks when its run starts, and
 * our connect is retried every 100 ms; with ZMQ_IMMEDIATE (chan.c) an ACK
 * sent before that finds no peer and is not queued.  A 10-row run lost
 * its only ACK that way and the fetcher waited pipeline.resend_ms (5 s)
 * before sending its window again and hearing it.  So an ACK that was
 * not sent is due again, and tried every WRITER_ACK_RETRY_MS for up to
 * half of resend_ms; after that the fetcher's resend asks anew.
 */
struct ackout {
	struct chan	*chan;
	struct buf	 b;
	int64_t		 retry_until;	/* monotonic ms; 0: every ACK went out */
	unsigned	 resend_ms;
};

/*
 * The receiving thread.  Decoding the input took about a twentieth of
 * the writer's time (1.1 to 1.4 s of a 21 s import of 1M rows), on the
 * thread that applies and commits, which is the pipeline's bottleneck.
 * Another thread now receives and decodes the next batches while this
 * one applies and commits (a commit mostly waits for the disk), and hands
 * them over in order through a short queue: INQ_MAX batches, after which
 * it stops reading and ZeroMQ's queue holds the rest, as before.  Nothing
 * else changes: batches are applied in the order they came, and
 * acknowledged only after their commit, so one decoded but not applied
 * when the writer stops or dies was never acknowledged and is resent.
 * The input socket is used by that thread alone from its start to its
 * end (ZeroMQ sockets are not shared between threads).
 */
#define INQ_MAX		8
#define INQ_POLL_MS	100	/* how often the receiver looks for quit */

/* What the receiver got: chan_recv's result and, for a frame, msg_decode's. */
struct initem {
	int		 r;		/* chan_recv: 0 or CHAN_* */
	int		 err;		/* errno with CHAN_ERR */
	int		 rc;		/* msg_decode: 0 or -1 */
	size_t		 len;		/* the frame's bytes */
	unsigned char	*raw;		/* a copy of them (writer_frame_copy), or NULL */
	int64_t		 decode_us;
	struct msg_batch b;
	char		 why[256];	/* msg_decode's reason */
};

struct inq {
	struct chan	*in;
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 room;		/* an item was taken, or quit */
	int		 efd;		/* readable when an item was added */
	struct initem	 items[INQ_MAX];
	size_t		 head, n;
	int		 quit;
};

static void *
inq_main(void *arg)
{
	struct inq	*q = arg;
	struct initem	*it;
	struct buf	 msg;
	uint64_t	 one = 1;
	size_t		 tail;
	int		 r, quit, end = 0;

	buf_init(&msg, MSG_MAX_BYTES);
	while (!end) {
		pthread_mutex_lock(&q->mu);
		while (q->n == INQ_MAX && !q->quit)
			pthread_cond_wait(&q->room, &q->mu);
		quit = q->quit;
		/* Only this thread adds: the slot stays free until n counts it. */
		tail = (q->head + q->n) % INQ_MAX;
		pthread_mutex_unlock(&q->mu);
		if (quit)
			break;
		r = chan_recv(q->in, &msg, INQ_POLL_MS);
		if (r == CHAN_TIMEOUT || (r == CHAN_ERR && errno == EINTR))
			continue;
		it = &q->items[tail];
		it->r = r;
		it->err = errno;
		it->len = msg.len;
		if (r == 0) {
			int64_t t = time_mono_us();

			it->rc = msg_decode(msg.data, msg.len, &it->b, it->why,
			    sizeof(it->why));
			it->raw = it->rc == 0 ? writer_frame_copy(&it->b, msg.data,
			    msg.len) : NULL;
			it->decode_us = time_mono_us() - t;
		}
		end = r == CHAN_EOF || r == CHAN_ETRUNC ||
		    (r == CHAN_ERR && it->err != E2BIG);
		pthread_mutex_lock(&q->mu);
		q->n++;
		pthread_mutex_unlock(&q->mu);
		if (write(q->efd, &one, sizeof(one)) != sizeof(one))
			log_warn("writer: cannot wake the main thread");
	}
	buf_clear(&msg);
	return NULL;
}

/* Starts the receiver on in, with every signal left to the main thread. */
static int
inq_start(struct inq *q, struct chan *in)
{
	sigset_t	 all, old;
	int		 rc;

	memset(q, 0, sizeof(*q));
	q->in = in;
	if ((q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1)
		return -1;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->room, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&q->thread, NULL, inq_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(q->efd);
		errno = rc;
		return -1;
	}
	return 0;
}

/*
 * The next item into *it, waiting up to timeout_ms.  Returns 0 (an item)
 * or CHAN_TIMEOUT (none in time, or a signal came: the caller looks at
 * its stop flag), as chan_recv did here.
 */
static int
inq_next(struct inq *q, struct initem *it, int timeout_ms)
{
	struct pollfd	 pfd = { .fd = q->efd, .events = POLLIN };
	int64_t		 deadline = time_mono_ms() + timeout_ms, wait;
	uint64_t	 v;
	int		 got;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		if ((got = q->n > 0)) {
			*it = q->items[q->head];
			q->head = (q->head + 1) % INQ_MAX;
			q->n--;
			pthread_cond_signal(&q->room);
		}
		pthread_mutex_unlock(&q->mu);
		if (got)
			return 0;
		if ((wait = deadline - time_mono_ms()) <= 0)
			return CHAN_TIMEOUT;
		/* A wake-up may be for an item already taken: look again. */
		if (poll(&pfd, 1, (int)wait) == -1)
			return CHAN_TIMEOUT;
		if (read(q->efd, &v, sizeof(v)) == -1 && errno != EAGAIN)
			return CHAN_TIMEOUT;
	}
}

/* Stops the receiver; batches it decoded and nobody applied are freed. */
static void
inq_stop(struct inq *q)
{
	pthread_mutex_lock(&q->mu);
	q->quit = 1;
	pthread_cond_broadcast(&q->room);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	for (; q->n > 0; q->n--, q->head = (q->head + 1) % INQ_MAX) {
		struct initem *it = &q->items[q->head];

		if (it->r == 0 && it->rc == 0) {
			msg_batch_clear(&it->b);
			free(it->raw);
		}
	}
	close(q->efd);
	pthread_cond_destroy(&q->room);
	pthread_mutex_destroy(&q->mu);
}

/* Sends every ACK that is due (see struct ackout). */
static void
send_acks(struct writer *w, struct ackout *ao)
{
	int	 rc;

	while ((rc = writer_ack_next(w, &ao->b)) != 0) {
		if (rc < 0 || ao->chan == NULL)
			continue;
		rc = chan_send(ao->chan, ao->b.data, ao->b.len, 0);
		if (rc == CHAN_ERR)
			log_warn("cannot send ack uri=%s", chan_uri(ao->chan));
		else if (rc == CHAN_TIMEOUT)
			writer_ack_unsent(w);
	}
	if (writer_ack_rearm(w) == 0)
		ao->retry_until = 0;
	else if (ao->retry_until == 0)
		ao->retry_until = time_mono_ms() + ao->resend_ms / 2;
	else if (time_mono_ms() >= ao->retry_until) {
		while (writer_ack_next(w, &ao->b) != 0)
			;	/* given up: the fetcher's resend asks again */
		ao->retry_until = 0;
	}
}

/*
 * Commits, then acknowledges: never an ACK for what a crash could lose.
 * Then, unless the writer is about to stop (fold 0), one step of folding
 * staged identifiers: a commit of its own, acknowledging nothing.
 */
static int
commit_and_ack(struct writer *w, struct ackout *ao, const char *why, int fold)
{
	uint64_t	 n = writer_uncommitted(w);

	if (writer_commit(w) != 0)
		return -1;
	if (n)
		log_debug("committed rows=%" PRIu64 " why=%s", n, why);
	send_acks(w, ao);
	if (fold && writer_fold(w) == -1)
		return -1;
	return 0;
}

int
writer_serve(const struct conf *c, unsigned lane, const char *in_uri, const char *acks_uri)
{
	struct writer	*w;
	struct chan	*in;
	struct ackout	 ao = { .chan = NULL, .retry_until = 0 };
	struct inq	 q;
	struct initem	 it;
	char		 err[512];
	int		 rc = 0, r, worked = 0;
	int64_t		 t, idle_us = 0;
	const struct writer_counters *k;

	if (in_uri == NULL && lane < c->pipe.nlanes)
		in_uri = c->pipe.lanes[lane];
	if (in_uri == NULL) {
		log_warnx("no input: pipeline.lanes has no lane %u", lane);
		return EX_CONFIG;
	}
	if (acks_uri == NULL)
		acks_uri = c->pipe.acks;
	if (acks_uri != NULL && strcmp(acks_uri, "none") == 0)
		acks_uri = NULL;
	if ((w = writer_open(c, lane, err, sizeof(err))) == NULL) {
		/*
		 * No space: exit 75, which the supervisor does not restart in
		 * a loop.  Another writer holding the lane: 75 too, it is not
		 * this one's to fix by retrying.
		 */
		int nospace = errno == ENOSPC || errno == EDQUOT || errno == EFBIG;
		int busy = errno == EBUSY;
		int lanes = errno == EDOM;	/* lane count changed: configuration */

		log_warnx("%s%s", nospace ? "no space: " : "", err);
		if (lanes)
			return EX_CONFIG;
		return nospace || busy ? EX_TEMPFAIL : EX_IOERR;
	}

	daemon_stop_signals(&stop);

	if ((in = chan_open(in_uri, CHAN_IN, CHAN_BIND, 0, err, sizeof(err))) == NULL) {
		log_warnx("cannot open input uri=%s reason=\"%s\"", in_uri, err);
		writer_close(&w);
		return strncmp(in_uri, "file:", 5) == 0 ? EX_NOINPUT : EX_UNAVAILABLE;
	}
	if (acks_uri != NULL &&
	    (ao.chan = chan_open(acks_uri, CHAN_OUT, CHAN_CONNECT, 0, err, sizeof(err))) == NULL) {
		log_warnx("cannot open acks uri=%s reason=\"%s\"", acks_uri, err);
		chan_close(&in);
		writer_close(&w);
		return EX_UNAVAILABLE;
	}
	buf_init(&ao.b, MSG_MAX_BYTES);
	ao.resend_ms = c->pipe.resend_ms;
	/* HELLO: the fetcher resends whatever this lane has not acknowledged. */
	if (ao.chan != NULL && writer_hello(w, &ao.b) == 0 &&
	    chan_send(ao.chan, ao.b.data, ao.b.len, 0) == CHAN_ERR)
		log_warn("cannot send hello uri=%s", acks_uri);
	if (inq_start(&q, in) == -1) {
		log_warn("cannot start the receiving thread lane=%u", lane);
		buf_clear(&ao.b);
		chan_close(&ao.chan);
		chan_close(&in);
		writer_close(&w);
		return EX_OSERR;
	}
	log_info("started lane=%u in=%s acks=%s", lane, in_uri, acks_uri ? acks_uri : "none");

	while (!stop) {
		int64_t	 due = writer_due_in(w);
		int	 timeout;

		if (due == 0) {
			if (commit_and_ack(w, &ao, "size_or_time", 1) != 0) {
				rc = EX_IOERR;
				break;
			}
			continue;
		}
		/* With work pending, a short quiet spell means the input is idle. */
		timeout = due < 0 ? 1000 : (int)(due < WRITER_IDLE_MS ? due : WRITER_IDLE_MS);
		if (ao.retry_until && timeout > WRITER_ACK_RETRY_MS)
			timeout = WRITER_ACK_RETRY_MS;	/* an unsent ACK: try it again soon */
		t = time_mono_us();
		if ((r = inq_next(&q, &it, timeout)) == 0) {
			r = it.r;
			errno = it.err;
		}
		idle_us += time_mono_us() - t;
		if (r == 0) {
			worked = 1;
			if (writer_decoded(w, it.rc, &it.b, it.raw, it.len, it.why, it.decode_us) != 0) {
				rc = EX_IOERR;
				break;
			}
			send_acks(w, &ao);	/* answers to resends of applied batches */
			continue;
		}
		if (r == CHAN_TIMEOUT) {
			/* Also ends a transaction that only answered resends. */
			if (commit_and_ack(w, &ao, "idle", 1) != 0) {
				rc = EX_IOERR;
				break;
			}
			/* Quiet for a second with all committed: free memory back. */
			if (due < 0 && worked) {
				daemon_heap_release();
				worked = 0;
			}
			continue;
		}
		if (r == CHAN_EOF || r == CHAN_ETRUNC) {
			/* A replay ends: keep what its whole frames gave. */
			if (writer_held(w))
				log_warnx("replay ended with batches waiting for a gap"
				    " lane=%u held=%zu", lane, writer_held(w));
			if (commit_and_ack(w, &ao, "end", 0) != 0)
				rc = EX_IOERR;
			else if (r == CHAN_ETRUNC) {
				log_warnx("capture truncated uri=%s", in_uri);
				rc = EX_DATAERR;
			} else if (writer_counters(w)->refused > 0) {
				/* Not a replay that worked: those rows are not applied. */
				log_warnx("replay refused batches=%" PRIu64 ": made under "
				    "another configuration (see above), not applied",
				    writer_counters(w)->refused);
				rc = EX_DATAERR;
			}
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == E2BIG) {
			log_warnx("dropped oversized message lane=%u", lane);
			continue;
		}
		log_warn("cannot receive uri=%s", in_uri);
		rc = EX_IOERR;
		break;
	}
	inq_stop(&q);
	if (stop && rc == 0 && commit_and_ack(w, &ao, "stop", 0) != 0)
		rc = EX_IOERR;
	/*
	 * A full disk is not fixed by restarting: exit 75, which the
	 * supervisor and the systemd unit do not restart in a loop.  Nothing
	 * uncommitted was acknowledged; once there is space a restart says
	 * HELLO and the fetcher resends from the committed point.
	 */
	if (rc == EX_IOERR && writer_no_space(w)) {
		log_warnx("no space lane=%u: exiting; free space on the store's"
		    " filesystem, then start the writer again", lane);
		rc = EX_TEMPFAIL;
	}
	k = writer_counters(w);
	log_info("stopped lane=%u batches=%" PRIu64 " records=%" PRIu64 " dropped=%" PRIu64
	    " duplicates=%" PRIu64 " refused=%" PRIu64 " unannounced=%" PRIu64
	    " commits=%" PRIu64 " redos=%" PRIu64 " grows=%" PRIu64 " idle_ms=%" PRId64
	    " decode_ms=%" PRId64 " apply_ms=%" PRId64 " commit_ms=%" PRId64
	    " commit_wait_ms=%" PRId64 " commit_pages=%" PRIu64 " commit_pages_max=%" PRIu64
	    " store_heap_kib=%" PRIu64 " filter_kib=%" PRIu64 " folds=%" PRIu64
	    " folded=%" PRIu64 " fold_ms=%" PRId64 " fold_wait_ms=%" PRId64
	    " fold_pages=%" PRIu64 " writebacks=%" PRIu64, lane,
	    k->batches, k->records, k->dropped, k->duplicates, k->refused,
	    k->unannounced, k->commits, k->redos, k->grows,
	    idle_us / 1000, k->decode_us / 1000, k->apply_us / 1000, k->commit_us / 1000,
	    k->commit_wait_us / 1000, k->commit_pages, k->commit_pages_max,
	    k->store_heap_max / 1024, k->filter_max / 1024, k->folds, k->folded,
	    k->fold_us / 1000, k->fold_wait_us / 1000, k->fold_pages, k->writebacks);
	writer_close(&w);
	buf_clear(&ao.b);
	chan_close(&ao.chan);
	chan_close(&in);
	chan_shutdown();
	return rc;
}
