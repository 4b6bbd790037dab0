/*
 * common/store.h: the profile store, one LMDB environment per writer lane
 * at <store.path>/lane-<L>.
 *
 * Named databases:
 *   profiles	8-byte big-endian id -> msgpack profile (profile.h)
 *   ident	prop \x1f normalized value -> 8-byte big-endian id
 *   ident_runs	4-byte big-endian run number, prop \x1f normalized value
 *		-> 8-byte big-endian id: entries not yet folded into ident,
 *		in sorted runs (a newer run's entry of a key is newer, and
 *		any is newer than ident's; store_ident_fold).  Lanes before
 *		schema 4 had ident_stage (plain keys), which a writer moves
 *		into run 0
 *   profile_runs	4-byte big-endian run number, 8-byte big-endian id ->
 *		msgpack profile: updates of profiles made in earlier
 *		transactions, not yet folded into profiles, in runs as
 *		ident_runs (store_profile_fold); lanes before schema 5 have
 *		none
 *   applied	8-byte run, 4-byte lane (big-endian) -> 8-byte last applied seq
 *   runstats	8-byte run, 4-byte lane, conn \x1f goal -> msgpack, the
 *		encoding of msg_stats_encode (stats.h, msg.h)
 *   exchange	conn \x1f goal -> 8-byte count of the profiles (ids) that
 *		carry the goal's exchange mark (profile.h), kept in step with
 *		them; in a lane written before schema 3, the marks themselves:
 *		conn \x1f goal \x1f 8-byte id -> 8-byte first time (ms)
 *   meta	"schema" -> 4-byte version, "idctr" -> 8-byte last profile id
 *
 * One write transaction at a time per store (LMDB allows one writer), and
 * any number of read-only stores in other processes while it runs.  Every
 * call below that reads or writes data needs an open transaction: a write
 * one (store_begin) or a read one (store_read_begin).
 *
 * Return codes: 0, STORE_NOTFOUND, STORE_FULL (the map is full: abort,
 * store_grow, redo the work, commit again), STORE_NOSPACE (the disk or the
 * file size limit is full, logged as "no space": the transaction is gone
 * and nothing of it is on disk; retry once there is space), STORE_ERR
 * (logged).
 */
#ifndef SAILSYNC_STORE_H
#define SAILSYNC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "profile.h"
#include "stats.h"

#define STORE_NOTFOUND	1
#define STORE_ERR	(-1)
#define STORE_FULL	(-2)
#define STORE_NOSPACE	(-3)

#define STORE_SCHEMA		5	/* 2: ident_stage; 3: marks in profiles; 4: runs;
					   5: profile_runs */
#define STORE_REDIRECT_DEPTH	16	/* redirects followed before giving up */

/* store_open flags */
#define STORE_RDONLY	1

struct store;

/*
 * Opens (creating the directories and databases unless STORE_RDONLY) the
 * environment of lane under cs->path, clears stale reader slots.  Read-only
 * opening of a lane that was never written fails with errno ENOENT.
 * Returns NULL with a one-line reason in err.  cs must outlive the store.
 */
struct store	*store_open(const struct conf_store *cs, unsigned lane, int flags,
		    char *err, size_t errlen);
/* Aborts any open transaction, closes, frees and NULLs *s. */
void		 store_close(struct store **s);
unsigned	 store_lane(const struct store *s);
uint64_t	 store_map_size(const struct store *s);

/* Write transactions. */
int		 store_begin(struct store *s);
/*
 * Writes the id counter and commits; durable (fsync) unless
 * conf.store.durable is 0.  On STORE_FULL or STORE_ERR the transaction is
 * gone (aborted).
 */
int		 store_commit(struct store *s);
void		 store_abort(struct store *s);
#define STORE_PAGE_BYTES	4096	/* LMDB's page on the platforms we build for */
/*
 * The pages the open write transaction has dirtied, estimated (0 when none
 * is open; txn_cost in store.c): puts at the tail of a key range (new
 * profiles) cost their bytes over half a page; puts anywhere else in the
 * profiles, index and exchange trees the
 * distinct leaves and parents they hit at random, plus the bytes they
 * add; large values their overflow pages.  Dirty pages are heap until the
 * commit; the writer scales this by what its last commits wrote against
 * it to bound them (store.txn_mb).
 */
uint64_t	 store_txn_pages(const struct store *s);
/*
 * Bytes of heap the store holds besides LMDB's: the identifiers waiting
 * to be staged (pend), and its filters (of the identifiers, of the two
 * stages' runs: within store.filter_mb, store.c).
 */
uint64_t	 store_pend_bytes(const struct store *s);
uint64_t	 store_filter_bytes(const struct store *s);
/*
 * What this handle's commits have cost: the pages they wrote, as the
 * kernel counted what the thread wrote during them (the meta page
 * included; 0 without the kernel's I/O accounting); the time they spent
 * off the CPU, waiting for the disk (or for a core); and how many times
 * writeback was started while they wrote (durable writable stores: see
 * the flusher in store.c).
 */
struct store_io {
	uint64_t	 pages;
	int64_t		 wait_us;
	uint64_t	 writebacks;
};
const struct store_io *store_io(const struct store *s);
/* Doubles the map size; only with no transaction open. */
int		 store_grow(struct store *s);
/*
 * Grows the map, with no transaction open, until pages more pages fit
 * past the last one in use: a transaction that finds the map full is
 * aborted and its work done again after store_grow.  Returns how many
 * times it doubled the map, or a store error.
 */
int		 store_reserve(struct store *s, uint64_t pages);

/* A read snapshot (for dump, show, stats; also in a read-only store). */
int		 store_read_begin(struct store *s);
void		 store_read_end(struct store *s);

/*
 * A new profile id, time-ordered and strictly increasing:
 * (lane << 56) | (ms since 2020-01-01 << 16) | counter.  Needs a write
 * transaction; the counter is stored by store_commit.
 */
uint64_t	 store_id_next(struct store *s);
/*
 * 1 when profile id a was made after id b (compares the time and counter
 * bits, whatever the lanes), else 0.
 */
int		 store_id_newer(uint64_t a, uint64_t b);
/* The lane whose store made profile id. */
unsigned	 store_id_lane(uint64_t id);

/*
 * Reads profile id into p, following redirects (at most
 * STORE_REDIRECT_DEPTH): p->id is then the survivor's id.  Strings are
 * copied into a.  Returns 0, STORE_NOTFOUND (no such id, or a redirect
 * chain that ends nowhere or is too long), STORE_ERR (undecodable bytes,
 * logged with the id).
 */
int		 store_profile_get(struct store *s, uint64_t id, struct profile *p,
		    struct arena *a);
/*
 * Reads profile id as store_profile_get does, from whichever lane of cs
 * holds it, read-only: first the lane its id names (where it was made),
 * then the others (re-laning moves profiles, never their ids).  Returns 0,
 * STORE_NOTFOUND, or STORE_ERR when no lane could be read.
 */
int		 store_profile_find(const struct conf_store *cs, uint64_t id,
		    struct profile *p, struct arena *a);
/* Reads exactly the record of id (a redirect stays a redirect). */
int		 store_profile_get_raw(struct store *s, uint64_t id, struct profile *p,
		    struct arena *a);
/* Stores p under p->id. */
int		 store_profile_put(struct store *s, const struct profile *p);
/*
 * Calls fn for every record in id order (redirects included; check
 * p->redirect).  The profile and its strings live until fn returns.
 * Stops early when fn returns non-zero and returns that value.
 */
int		 store_profile_each(struct store *s,
		    int (*fn)(const struct profile *p, void *arg), void *arg);

/* ident: prop \x1f value -> id. */
int		 store_ident_get(struct store *s, const char *prop, size_t plen,
		    const char *val, size_t vlen, uint64_t *id);
int		 store_ident_put(struct store *s, const char *prop, size_t plen,
		    const char *val, size_t vlen, uint64_t id);
/* Deletes the entry; STORE_NOTFOUND when there was none. */
int		 store_ident_del(struct store *s, const char *prop, size_t plen,
		    const char *val, size_t vlen);
/*
 * store_ident_put stages entries; this folds them into the index, in its
 * own write transactions (none may be open).  A fold starts once the
 * stage holds cs->index_stage entries and half as many as the index (but
 * no more than its share of cs->filter_mb allows: store.c), or 64 runs
 * wait, and merges the runs it found into the index in key order,
 * the newest entry of each key, at most about max_pages of changed pages
 * per call, each call one durable commit.  Returns 1 when the fold goes on
 * (call again, between groups), 0 when there is nothing (more) to fold,
 * or a store code (STORE_FULL: grow and call again); *moved and *left
 * are the entries moved and still staged.  A fold that stops half way
 * (a crash, a stop) leaves every entry in one of the two trees.
 */
int		 store_ident_fold(struct store *s, uint64_t max_pages, uint64_t *moved,
		    uint64_t *left);
/*
 * store_profile_put stages the updates of profiles made in earlier
 * transactions (new ones go straight into profiles); this folds them into
 * profiles in id order as store_ident_fold does, once the stage holds
 * cs->index_stage entries and twice as many as profiles has leaves (but
 * no more than its share of cs->filter_mb allows: store.c), or 64 runs
 * wait.  Returns and leaves what store_ident_fold does.
 */
int		 store_profile_fold(struct store *s, uint64_t max_pages, uint64_t *moved,
		    uint64_t *left);

/* applied: last applied sequence number of (run, this lane); 0 when none. */
int		 store_applied_get(struct store *s, uint64_t run, uint64_t *seq);
int		 store_applied_put(struct store *s, uint64_t run, uint64_t seq);

/*
 * Loads every goal's stats of run in this lane into a malloc'd array
 * (*out, *n), conn and goal set from the key; free with store_stats_free.
 * Returns 0 or STORE_ERR.
 */
int		 store_stats_load(struct store *s, uint64_t run, struct stats **out,
		    size_t *n);
void		 store_stats_free(struct stats *sts, size_t n);
/* Stores st (st->conn and st->goal name it) as run's stats in this lane. */
int		 store_stats_put(struct store *s, uint64_t run, const struct stats *st);

/*
 * Data exchange.  A profile carries its goals' marks (profile.h); the count
 * of distinct ids per (conn, goal) is read and written with
 * store_exchange_count_get/put in the same transaction, so callers can keep
 * it in memory for a group of records and write it once.
 * store_exchange_marked answers, in a write transaction, whether a lane
 * written before schema 3 marked id in its exchange tree: 1 or 0 (at once,
 * without a read, in a lane with no such marks), <0 on error.  A writer
 * checks it before putting a mark in a profile, so each id is counted once.
 */
int		 store_exchange_marked(struct store *s, const char *conn, size_t clen,
		    const char *goal, size_t glen, uint64_t id);
int		 store_exchange_count_get(struct store *s, const char *conn, size_t clen,
		    const char *goal, size_t glen, uint64_t *count);
int		 store_exchange_count_put(struct store *s, const char *conn, size_t clen,
		    const char *goal, size_t glen, uint64_t count);

/*
 * A key/value environment of its own at path (created): a stage's private
 * durable state.  One transaction at a time per handle.  Values returned
 * by store_kv_get and handed to store_kv_each's fn point into the
 * transaction and are valid only until it ends.  store_kv_each calls fn
 * for every key starting with prefix, in key order, while fn returns 0;
 * the write transaction it may run in must not be changed by fn.  Return
 * codes as above; every commit is durable (fsync).
 */
struct store_kv;
struct store_kv	*store_kv_open(const char *path, uint64_t map_size, char *err,
		    size_t errlen);
void		 store_kv_close(struct store_kv **kv);
int		 store_kv_begin(struct store_kv *kv, int write);
int		 store_kv_commit(struct store_kv *kv);
void		 store_kv_abort(struct store_kv *kv);
int		 store_kv_grow(struct store_kv *kv);
int		 store_kv_get(struct store_kv *kv, const void *key, size_t klen,
		    const void **val, size_t *vlen);
int		 store_kv_put(struct store_kv *kv, const void *key, size_t klen,
		    const void *val, size_t vlen);
int		 store_kv_del(struct store_kv *kv, const void *key, size_t klen);
int		 store_kv_each(struct store_kv *kv, const void *prefix, size_t plen,
		    int (*fn)(const void *key, size_t klen, const void *val, size_t vlen,
		    void *arg), void *arg);

/*
 * Raw records, for re-laning a store (writer_relane.c), which moves every
 * record of a lane to the lane it belongs to under another lane count and
 * so needs them as they are stored.  db is one of STORE_DB_*; the layouts
 * are those listed at the top of this file.  store_raw_each calls fn for
 * every record of db in key order (STORE_DB_IDENT: the folded entries the
 * stage does not hold, then the staged ones), within the open transaction (key and
 * value are valid until fn returns), and stops when fn returns non-zero,
 * returning that.  store_raw_put puts one record (write transaction).
 */
enum store_db {
	STORE_DB_PROFILES = 1,
	STORE_DB_IDENT,
	STORE_DB_APPLIED,
	STORE_DB_RUNSTATS,
	STORE_DB_EXCHANGE,
	STORE_DB_META,
};
int		 store_raw_each(struct store *s, int db, int (*fn)(const void *key,
		    size_t klen, const void *val, size_t vlen, void *arg), void *arg);
int		 store_raw_put(struct store *s, int db, const void *key, size_t klen,
		    const void *val, size_t vlen);
/*
 * Ids this store hands out from now on are above id (a re-laned store
 * holds ids made by other lanes' counters).  Write transaction; stored by
 * store_commit.
 */
void		 store_id_floor(struct store *s, uint64_t id);
/*
 * Takes the exclusive writer lock of the lane directory lanedir (the one
 * store_open takes for writing, LANEDIR/writer.lock, created).  Returns
 * the descriptor (the lock lasts until it is closed or the process
 * dies), or -1 with err set, and errno EBUSY when a writer holds it.
 */
int		 store_lane_lock(const char *lanedir, char *err, size_t errlen);

/*
 * The store's key and value byte order: 8-byte big-endian integers, so
 * keys sort numerically.  For callers that build keys or values for
 * store_kv (the exporter's state).
 */
void		 store_be64_put(unsigned char *p, uint64_t v);
uint64_t	 store_be64_get(const void *p);

#endif
