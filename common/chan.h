/*
 * common/chan.h: message channels named by URI.
 *
 *   ipc://PATH, tcp://HOST:PORT   ZeroMQ PUSH (out) / PULL (in).  A leading
 *                                 '@' binds, '>' connects; without one the
 *                                 caller's default applies (the stable side
 *                                 binds).  HWMs are explicit and non-zero,
 *                                 LINGER is set before close.
 *   file:PATH                     the same framed batches written to (out: a
 *                                 capture) or read from (in: a replay) a file.
 *
 * Capture file layout: the 16-byte header "SAILSYNC-CAP-01\n", then frames of
 * a 4-byte big-endian length and that many bytes, then the END frame (length
 * 0xffffffff followed by the 8-byte big-endian count of frames).  A file
 * without the END frame was cut short: chan_recv reports CHAN_ETRUNC after
 * the last whole frame.  An output capture is written to PATH.tmp, fsynced
 * and renamed to PATH on chan_close, so a capture that exists is whole.
 */
#ifndef SAILSYNC_CHAN_H
#define SAILSYNC_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum chan_dir { CHAN_IN, CHAN_OUT };
enum chan_side { CHAN_BIND, CHAN_CONNECT };

/* Return codes of chan_recv / chan_send besides 0 (a message moved). */
#define CHAN_TIMEOUT	1	/* nothing within the timeout / would block */
#define CHAN_EOF	2	/* replay: the END frame was read */
#define CHAN_ETRUNC	(-2)	/* replay: file cut short or corrupt */
#define CHAN_ERR	(-1)

struct chan;

/*
 * The HWM of a mapper's channels (its input and its lane outputs): a few
 * batches.  The fetcher's window (pipeline.window batches a lane) bounds
 * what is in flight, and the fetcher holds those batches anyway (to resend
 * them).  With the default HWM, what a writer busy in a commit had not
 * read yet piled up in the mapper, so its heap followed how long commits
 * took: its peak RSS was 23.5 MiB at 1M rows and 35.2 MiB at 5M.  With 8
 * the backlog waits in the fetcher's and the writer's queues (the same
 * batches, bounded by the window), and the mapper's peak was 21.0 and
 * 21.2 MiB (README, Benchmark).  A peer that disconnects while a
 * receiver's queue is full loses what is still in the socket.  The
 * fetcher, which feeds a mapper, stays until every batch is acknowledged
 * and resends what was lost; a mapper replaying a capture into a writer
 * exits as soon as it has sent, so the writer's input keeps the default.
 */
#define CHAN_HWM_STAGE	8

/*
 * Opens uri for dir; side is the default when the uri has no '@'/'>'.
 * hwm bounds the messages queued in each direction (0 means the default,
 * 1000).  Returns NULL with a reason in err.  The zmq context is one per
 * process and created on first use.
 */
struct chan	*chan_open(const char *uri, enum chan_dir dir, enum chan_side side,
		    int hwm, char *err, size_t errlen);
/*
 * Sends one message.  timeout_ms < 0 blocks, 0 never blocks.  Returns 0,
 * CHAN_TIMEOUT when the HWM stayed full, CHAN_ERR (errno set).
 */
int		 chan_send(struct chan *c, const void *p, size_t len, int timeout_ms);
/*
 * Receives one message into out (reset first).  Returns 0, CHAN_TIMEOUT,
 * CHAN_EOF, CHAN_ETRUNC or CHAN_ERR.  A message larger than out->max is
 * dropped with CHAN_ERR and errno E2BIG; the channel stays usable.
 */
int		 chan_recv(struct chan *c, struct buf *out, int timeout_ms);
/*
 * Waits until one of the n input channels has a message or timeout_ms
 * passes (file: channels are always ready).  Returns the index of a ready
 * channel, -1 on timeout, or -2 when interrupted by a signal.
 */
int		 chan_poll(struct chan **c, int n, int timeout_ms);
const char	*chan_uri(const struct chan *c);
/* Messages sent or received so far; for a replay, the whole frames read. */
uint64_t	 chan_count(const struct chan *c);
int		 chan_is_file(const struct chan *c);
/* Closes and frees; for a file: output, seals the capture (see above). */
int		 chan_close(struct chan **c);
/*
 * CURVE for tcp:// channels.  chan_curve_set sets the process's one
 * keypair (40-character Z85 strings, copied; pub NULL: off), before any
 * channel is opened: from then on a binding tcp:// socket is a CURVE server
 * that admits only clients holding the same keypair, and a connecting one
 * a client that expects the server to hold it.  ipc:// and file: are
 * unaffected.  Returns 0, or -1 with a reason in err (never the secret).
 */
int		 chan_curve_set(const char *pub, const char *sec, char *err,
		    size_t errlen);
/* Checks pub (and sec, unless NULL) are Z85 keys and sec is pub's.  0 or -1. */
int		 chan_curve_check(const char *pub, const char *sec, char *err,
		    size_t errlen);
/* A new keypair into pub and sec (41 bytes each, NUL-terminated).  0 or -1. */
int		 chan_curve_keypair(char *pub, char *sec, char *err, size_t errlen);
/*
 * Without a CURVE keypair a tcp:// channel is plain: whoever reaches the
 * port can inject or read records.  Every plain tcp:// channel opened is
 * logged as a warning, and a bind to an address other than loopback is
 * refused unless chan_plain_tcp_allow(1) was called (pipeline.allow_plain_tcp).
 */
void		 chan_plain_tcp_allow(int on);
/* 1 when the host of tcp://HOST:PORT is loopback (127.*, ::1, localhost). */
int		 chan_tcp_loopback(const char *uri);
/*
 * Closes the zmq context at exit, after every channel is closed (and stops
 * the CURVE ZAP handler).
 */
void		 chan_shutdown(void);

#endif
