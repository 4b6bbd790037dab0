/*
 * writer/writer.h: the writer stage, the only process that writes profiles.
 *
 * A writer owns one lane's store.  PATCHES batches go in (writer_submit or
 * writer_input); it applies their records in sequence order per (run,
 * lane) into one open write transaction, holding batches that arrive
 * early and ignoring records at or below the applied point, which it
 * stores in the same transaction as the profile changes (exactly once).
 * writer_commit makes a group durable; only then do ACKs for it become
 * available (writer_ack_next), so an ACK never covers a record a crash
 * could still lose.
 *
 * Single-threaded: one struct writer per lane per process.
 */
#ifndef SAILSYNC_WRITER_H
#define SAILSYNC_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "conf.h"
#include "msg.h"

/* Held (early) batches per lane: WRITER_HOLD_FACTOR x pipeline.window. */
#define WRITER_HOLD_FACTOR	4
/*
 * And at most this many bytes held (frames, or decoded batches when no
 * frame came with them), and nothing further ahead of
 * the applied point than WRITER_HOLD_FACTOR windows of pipeline.batch_rows:
 * the fetcher never sends past its window, so a batch beyond that comes
 * from no fetcher, and holding it would only cost memory.
 */
#define WRITER_HOLD_BYTES	((size_t)256 << 20)
/* Input idle this long with uncommitted records: commit. */
#define WRITER_IDLE_MS		10
/* An ACK that found no fetcher connected is tried again this often. */
#define WRITER_ACK_RETRY_MS	20

struct writer;

/* Running totals, for logs and benchmarks. */
struct writer_counters {
	uint64_t	 batches;	/* accepted PATCHES batches */
	uint64_t	 records;	/* records applied (each seq once) */
	uint64_t	 dropped;	/* malformed / misrouted / overflowing batches */
	uint64_t	 duplicates;	/* batches entirely at or below applied */
	uint64_t	 refused;	/* made under another configuration (conf_follow.h) */
	uint64_t	 unannounced;	/* PATCHES without their run's tag (runauth.h) */
	uint64_t	 commits;
	uint64_t	 redos;		/* groups redone after the map grew */
	uint64_t	 grows;		/* map doublings, ahead of a group or for a redo */
	/* Where the time went (us), for make bench's profile. */
	int64_t		 decode_us;	/* msg_decode of the input */
	int64_t		 apply_us;	/* writer_submit */
	int64_t		 commit_us;	/* writer_commit */
	uint64_t	 commit_pages;	/* pages its commits wrote (store_io) */
	uint64_t	 commit_pages_max; /* the most one commit wrote */
	uint64_t	 store_heap_max; /* store_pend_bytes at its largest, at a commit */
	uint64_t	 filter_max;	/* store_filter_bytes at its largest, likewise */
	int64_t		 commit_wait_us; /* of commit_us, off the CPU (store_io) */
	uint64_t	 folds;		/* writer_fold steps that moved entries */
	uint64_t	 folded;	/* staged entries they moved (identifiers, profiles) */
	int64_t		 fold_us;	/* writer_fold */
	uint64_t	 fold_pages;	/* pages its steps wrote */
	int64_t		 fold_wait_us;	/* of fold_us, off the CPU in its commits */
	uint64_t	 writebacks;	/* started while commits wrote (store_io) */
};

/*
 * Opens lane's store (creating it).  c must outlive the writer (which may
 * put a reloaded configuration in its place for batches made under the
 * file's newer one: common/conf_follow.h).  Returns
 * NULL with a one-line reason in err (an environment problem: exit 74 or
 * 78).
 */
struct writer	*writer_open(const struct conf *c, unsigned lane, char *err,
		    size_t errlen);
/* Aborts uncommitted work (it will be resent), closes, frees, NULLs *w. */
void		 writer_close(struct writer **w);

/*
 * Takes over the decoded batch *b (its arena and everything in it; *b is
 * left empty, as after msg_batch_clear) and applies what is in order.
 * A batch of the wrong kind or lane is logged and dropped; one made under
 * another configuration reloads the file first (committing the open
 * group) or is refused, unapplied and unacknowledged (conf_follow.h).  Returns 0, or
 * -1 when the store failed (environment: the caller exits; uncommitted
 * work is lost and will be resent).
 */
int		 writer_submit(struct writer *w, struct msg_batch *b);
/*
 * Decodes one received frame p..p+len (not kept) and submits it; a
 * malformed one is logged with its reason and dropped.  Returns as
 * writer_submit.
 */
int		 writer_input(struct writer *w, const void *p, size_t len);
/*
 * writer_input after its msg_decode, for a caller that decoded the frame
 * itself (writer_serve's receiving thread): rc, *b and err are what
 * msg_decode gave for a frame of len bytes, decode_us what it took; raw,
 * when not NULL, a copy of the frame from writer_frame_copy, which the
 * writer keeps instead of *b while the batch is held (decoding it again
 * on its turn) and once it is applied (to apply it again should the
 * group be redone).  Takes over *b and raw as writer_submit does b.
 */
int		 writer_decoded(struct writer *w, int rc, struct msg_batch *b,
		    unsigned char *raw, size_t len, const char *err, int64_t decode_us);
/*
 * A malloc'd copy of the len bytes at p that *b was decoded from, for
 * writer_decoded; NULL for a batch the writer does not apply (not
 * PATCHES), or without memory.  Thread-safe.
 */
unsigned char	*writer_frame_copy(const struct msg_batch *b, const void *p, size_t len);

/* Records applied in the open transaction, not yet committed. */
uint64_t	 writer_uncommitted(const struct writer *w);
/*
 * Milliseconds until the group must be committed by time (conf.store.
 * commit_ms, or four times the last commit's duration when longer), or by
 * commit_rows or store.txn_mb (0 then); -1 when nothing is
 * uncommitted.
 */
int64_t		 writer_due_in(const struct writer *w);
/*
 * Commits the open transaction (growing the map and redoing the group if
 * it is full).  ACKs for every run it covered become available.  Returns
 * 0 (also when there was nothing to commit) or -1 (store failure).
 */
int		 writer_commit(struct writer *w);
/*
 * 1 when the last store failure was STORE_NOSPACE (disk or file size
 * limit full): the caller exits with EX_TEMPFAIL, nothing uncommitted was
 * acknowledged, and a restart once there is space resumes from the
 * committed point.
 */
int		 writer_no_space(const struct writer *w);

/*
 * Encodes the next ACK due into out (reset first): kind ACK for (run,
 * lane) with applied (committed), received and this run's per-goal stats.
 * Returns 1 when one was written, 0 when none is due, -1 on an encoding
 * failure or when the exchange count cannot be read (logged; that ACK is
 * dropped, never sent wrong: acks are cumulative, and a resend of an
 * applied batch makes the next one due).
 */
int		 writer_ack_next(struct writer *w, struct buf *out);
/*
 * The ACK writer_ack_next just gave was not sent (no fetcher connected
 * yet, or its queue full): writer_ack_rearm makes every such ACK due again
 * and returns how many, once the caller is done taking ACKs.
 */
void		 writer_ack_unsent(struct writer *w);
int		 writer_ack_rearm(struct writer *w);
/* Encodes the HELLO this writer sends on start into out (reset first). */
int		 writer_hello(struct writer *w, struct buf *out);

/*
 * One step of folding staged identifiers into the index
 * (store_ident_fold), between groups (no-op while one is open): at most
 * half of store.txn_mb of changed pages, by the store's estimate, and one
 * durable commit.  Call after each
 * commit; returns 1 while the fold goes on, 0 when there is nothing to
 * fold, -1 when the store failed (logged; writer_no_space tells a full
 * disk).
 */
int		 writer_fold(struct writer *w);

const struct writer_counters *writer_counters(const struct writer *w);
/* Batches held, waiting for a gap before them to fill. */
size_t		 writer_held(const struct writer *w);

/*
 * Read-only queries over every lane's store, safe while writers run
 * (writer_query.c).  Each returns an exit code: 0, 65 (not found / bad
 * argument), 74 (store unreadable).
 *
 * writer_dump: every profile (redirects excluded) as canonical JSON lines,
 * sorted bytewise; no_ids drops id, created and updated.
 * writer_show: one profile by 16-hex id (a merged-away id resolves to the
 * survivor) or by PROP=VALUE through the ident index.
 * writer_stats: the stored stats of run, summed over lanes, as JSON.
 */
int		 writer_dump(const struct conf *c, int no_ids, FILE *out);
int		 writer_show(const struct conf *c, const char *what, FILE *out);
int		 writer_stats(const struct conf *c, uint64_t run, FILE *out);

/*
 * Re-lanes the store offline (writer_relane.c): rewrites store.path, written
 * with `from` lanes (0: as its lane-0 records), as a store of the
 * configuration's lane count, each profile in the lane the fetcher routes
 * its rows to; built beside it, swapped in at once, the old one kept at
 * store.path.pre-relane.TIME.  Refuses while a writer holds a lane.  Prints
 * what it moved to out.  Returns an exit code: 0; 64 (no or wrong --from);
 * 65 (undecodable data, or a lane written after the count changed); 66;
 * 73; 74; 75 (a writer runs).
 */
int		 writer_relane(const struct conf *c, unsigned from, FILE *out);

/*
 * The daemon (writer_serve.c): binds pipeline.lanes[lane] or reads in_uri,
 * sends ACKs to pipeline.acks or acks_uri ("none": no ACKs), until SIGTERM
 * or the end of a replay.  Returns the exit code (65 also when a replay
 * had batches refused as made under another configuration).
 */
int		 writer_serve(const struct conf *c, unsigned lane, const char *in_uri,
		    const char *acks_uri);

#endif
