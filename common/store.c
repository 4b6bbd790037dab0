/* common/store.c: owns the LMDB environments of the profile store (the only file that sees LMDB). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <fcntl.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <msgpack.h>

#include "buf.h"
#include "file.h"
#include "log.h"
#include "msg.h"
#include "profile.h"
#include "store.h"
#include "timefmt.h"

#define STORE_DEFAULT_MAP	(1ull << 30)
#define STORE_KEY_MAX		480	/* below LMDB's 511-byte key limit */
#define STORE_EPOCH_MS		1577836800000LL	/* 2020-01-01T00:00:00Z */
#define STORE_NODE_BYTES	10	/* a leaf node's header and its slot in the page */

/*
 * The trees whose puts land anywhere in them: their dirty pages are
 * estimated from how many puts they took and how many pages they have
 * (txn_cost).  Puts into the other trees count a page each.
 */
enum { TREE_PROFILES, TREE_IDENT, TREE_STAGE, TREE_PSTAGE, TREE_EXCHANGE, STORE_NTREES,
    TREE_OTHER = STORE_NTREES };

/*
 * The identifier index in two trees: new entries go into a small one,
 * ident_runs, and are folded into ident, the large one, in key order once
 * the stage holds cs->index_stage entries and half as many as the index.  A
 * put into a large tree of random keys (emails) rewrites a leaf of its own
 * at the commit: at 5M rows a 39,000-row group rewrote 39,000 of the
 * index's 130,000 leaves.  Folded in key order, many staged entries share
 * each leaf, and each leaf is rewritten once per fold (README, Benchmark).
 *
 * The stage is itself a series of sorted runs (schema 4): its keys are a
 * 4-byte big-endian run number, then the identifier's key.  A commit's
 * new identifiers go, in key order, into a new run after the last one
 * (MDB_APPEND: full pages, written once), or into the newest run while it
 * holds fewer than RUN_SMALL (small groups do not make a run each).  As
 * one tree of plain keys, a group's new keys landed all over the stage,
 * and at 5M rows each group rewrote 5,000 to 12,000 of its leaves, a
 * number that grew with the index.  A key may be in several runs: the
 * newest run holds its newest entry.  A writable store keeps a filter of
 * each run's keys (struct run), so a lookup descends only into the runs
 * that may hold the key; a read-only one looks into every run.
 */
#define RUN_PREFIX		4	/* the run number before each staged key */
#define RUN_SMALL		16384	/* a run below this takes the next flush too */
#define RUNS_MAX		64	/* a fold starts once this many runs wait */
#define STORE_STAGE_SHARE	2	/* fold once the stage holds 1/2 of the index */

/*
 * Profile updates are staged the same way (schema 5): the profile of an
 * id that was made in an earlier transaction goes into a run of
 * profile_runs (key: run number, 8-byte id), and the runs are folded into
 * profiles in id order once they hold twice as many entries as profiles
 * has leaves (and at least cs->index_stage).  Put in place, nearly every
 * update rewrote a leaf of its own: at 5M rows 0.48 pages written a row
 * against 0.37 at 1M, in a tree of 361,000 leaves.  Staged, a run's
 * pages are new, and a fold rewrites each leaf it reaches once
 * for the two or so updates that fall in it.  New profiles (ids above
 * the last transaction's) still go to the end of profiles, where they
 * fill pages in order.
 */
#define PSTAGE_LEAVES		2	/* fold at this many entries a profiles leaf */

/*
 * The writer's filter of every identifier key in either tree (a Bloom
 * filter, 3 probes): a lookup it rules out reads no page.  Most lookups of
 * an import are of people not seen before, and each was a descent into a
 * large index, missing the cache and the TLB on the way (at 5M rows the
 * writer's apply took 88 s with the filter, 117 s without).  Built from
 * the trees at the first lookup of a write transaction, then every put
 * adds its key; deletes and aborted puts stay in it (only false
 * positives) until it is built again, once it has taken twice the keys
 * it was built with and more than one for STORE_FILTER_BITS_KEY / 2 of its
 * bits.  A build reads every key once: 81 ms at 210,000 keys, 1.7 s at
 * 3.4 million.
 *
 * The writer's filters (this one, and each stage's gate and runs' filters)
 * share a fixed budget, store.filter_mb, in the tenths FILTER_TENTHS_*:
 * sized by the keys they held, at 10 bits a key, they grew with the store
 * (5 MiB at 1M benchmark rows, 30 at 10M), and were most of the writer's
 * heap growth from 1M to 10M rows (159 to 193 MiB).  At the default 24
 * MiB this one has 9.6 MiB: 10 bits a key up to 8 million identifiers,
 * 6.7 at 12 million (false positives about 5%, each costing the descent
 * it would have cost without a filter).  A stage may hold at most what
 * its gate holds at 10 bits a key (stage_most), and its runs' filters
 * share their part at up to 16 bits a key.
 */
#define STORE_FILTER_BITS_KEY	10
#define STORE_FILTER_PROBES	3
#define RUN_FILTER_MAX_BITS_KEY	16
#define RUN_FILTER_MIN_BITS_KEY	4	/* fewer: no filter (15% false positives at 4) */
#define FILTER_TENTHS_INDEX	4	/* the filter of every identifier */
#define FILTER_TENTHS_IGATE	2	/* the identifier stage's gate */
#define FILTER_TENTHS_IRUNS	2	/* and its runs' filters */
#define FILTER_TENTHS_PGATE	1	/* the profile stage's gate */
#define FILTER_TENTHS_PRUNS	1	/* and its runs' filters */

struct filter {
	uint64_t	*words;
	uint64_t	 bits;		/* a multiple of 64 */
	uint64_t	 keys;		/* keys added since it was built */
	uint64_t	 limit;		/* stale past this many keys */
	int		 stale;		/* too full: build again */
	int		 off;		/* could not be built: lookups read the trees */
};

/* A run of the stage: its number, and a filter of its keys. */
struct run {
	uint32_t	 no;
	uint64_t	 entries;	/* put into it (counted when listed) */
	struct filter	 f;		/* words NULL: every lookup looks into it */
};

/*
 * New identifiers of the open write transaction, put into the stage in
 * key order when it commits, or once PEND_MAX of them or PEND_BYTES of
 * their keys wait (about 30 MiB of heap at most, the table and the sort
 * included).  Put one at a time, each was a descent into the stage at a
 * random key, missing the cache and the TLB on the way: at 5M rows 11.6%
 * of the writer's samples.  In key order, the entries that share a leaf
 * find it where the last one left the cursor.  Lookups and deletes see
 * them first (the newest entry of a key); an abort drops them with the
 * rest of the transaction.
 */
#define PEND_MAX	262144		/* entries waiting at most */
#define PEND_BYTES	(16u << 20)	/* and bytes of their keys */

struct pend_ent {
	uint64_t	 hash;
	uint64_t	 id;
	uint32_t	 off;		/* key bytes at keys.data + off */
	uint16_t	 len;
	uint16_t	 dead;		/* deleted since it was put */
};

struct pending {
	struct buf	 keys;
	struct pend_ent	*ents;
	size_t		 n, cap;
	uint32_t	*slots;		/* entry index + 1; 0: free */
	size_t		 nslots;	/* a power of two, at least twice n */
};

struct tree_puts {
	double		 leaves, branches, entries;	/* at the transaction's start */
	uint64_t	 puts;			/* in the middle of its keys */
};

/*
 * A stage of sorted runs and the large tree it is folded into: the
 * identifiers' (ident_runs into ident) and the profiles' (profile_runs
 * into profiles).  One set of functions serves both (runs_load,
 * stage_get, the merge, stage_fold); what differs is when a fold is due
 * (stage_most).
 */
struct staging {
	const char		*what;		/* what a failed fold logs */
	MDB_dbi			 dbi;		/* the runs */
	MDB_dbi			 into;		/* the tree they fold into */
	int			 tree, into_tree;	/* their TREE_* */
	int			 has;		/* 0: a lane before it, opened read-only */
	uint64_t		 gate_bits;	/* its shares of store.filter_mb */
	uint64_t		 runs_bits;
	struct run		*runs;		/* oldest first */
	struct filter		 gate;		/* every run's keys (runs_load) */
	size_t			 nruns, runs_cap;
	int			 runs_ok;	/* runs[] is the stage's (runs_load) */
	int			 folding;	/* a fold is under way, up to fold_key */
	uint32_t		 fold_hi;	/* it takes the runs up to this one */
	double			 fold_per;	/* its estimated pages per entry moved */
	unsigned char		 fold_key[STORE_KEY_MAX + 32];
	size_t			 fold_klen;	/* 0: from the first staged key */
};

struct store {
	const struct conf_store	*cs;
	unsigned		 lane;
	int			 rdonly;
	MDB_env			*env;
	MDB_dbi			 profiles, ident, applied, runstats, exchange, meta;
	MDB_dbi			 legacy;	/* ident_stage of schema 2 and 3 */
	int			 has_legacy;	/* such a lane's ident_stage, read-only */
	int			 tree_marks;	/* exchange marks of schema 2 or before */
	struct staging		 ist;		/* identifiers: ident_runs */
	struct staging		 pst;		/* profile updates: profile_runs */
	struct filter		 filter;	/* writable stores, once built */
	struct pending		 pend;		/* new identifiers not yet staged */
	MDB_txn			*txn;
	int			 txn_write;
	uint64_t		 txn_pages;	/* pages txn may have dirtied (txn_cost) */
	uint64_t		 tail_bytes;	/* bytes put at key-range tails in txn */
	uint64_t		 grow_bytes;	/* bytes put in the middle of trees */
	struct tree_puts	 trees[STORE_NTREES];
	uint64_t		 idctr;		/* last id handed out */
	uint64_t		 idctr_stored;	/* as in meta */
	struct store_io		 io;		/* what commits cost (store_io) */
	struct buf		 enc;		/* encoded values, reused */
	struct buf		 key;		/* built keys, reused */
	struct arena		 scratch;	/* for iteration */
	int			 lockfd;	/* writable: flock on writer.lock, else -1 */
	struct flusher		*flusher;	/* durable writable stores (flusher_start) */
	char			 path[4096];
};

static int	pend_flush(struct store *);
static void	runs_clear(struct staging *);
static uint64_t	filter_share(const struct store *, unsigned);
static uint64_t	stage_most(struct store *, const struct staging *);
static void	pend_reset(struct pending *);
static void	pend_free(struct pending *);

/*
 * Writeback started while a commit writes.  LMDB copies a commit's pages
 * into the page cache and then fdatasyncs: the disk gets nothing until
 * the last page is copied, and the committing thread then waits for all
 * of it, doing ext4's writeback work itself.  While a commit runs, this
 * thread asks the kernel every millisecond to start writing what is
 * dirty in the data file (sync_file_range WRITE: no wait, no barrier),
 * so the disk works while LMDB copies the rest and the writeback work
 * runs on another core.  It cannot reorder what reaches the disk: LMDB
 * writes the meta page only after its fdatasync returned, and a page
 * written early is one the commit writes anyway.  Durable writable
 * stores only; a process must not fork without exec while one is open.
 */
struct flusher {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	unsigned	 lane;
	int		 fd;
	int		 on;		/* a commit is under way */
	int		 quit;
	int		 off;		/* sync_file_range failed: no more */
	uint64_t	 writebacks;	/* sync_file_range calls made */
};

static void *
flusher_main(void *arg)
{
	struct flusher		*f = arg;
	struct timespec		 ms = { 0, 1000000 };
	int			 rc, e;

	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->on && !f->quit)
			pthread_cond_wait(&f->cv, &f->mu);
		if (f->quit)
			break;
		pthread_mutex_unlock(&f->mu);
		rc = file_writeback_start(f->fd);
		e = errno;
		if (rc == 0)
			nanosleep(&ms, NULL);
		pthread_mutex_lock(&f->mu);
		if (rc == 0)
			f->writebacks++;
		else if (e != EINTR) {
			log_warnx("store: cannot start writeback lane=%u: %s: commits "
			    "write back at their fdatasync", f->lane, strerror(e));
			f->off = 1;
			break;
		}
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* on: a commit starts (1) or has returned (0). */
static void
flusher_set(struct store *s, int on)
{
	struct flusher	*f = s->flusher;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->on = on && !f->off;
	s->io.writebacks = f->writebacks;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* Without a thread, commits write back at their fdatasync (logged). */
static void
flusher_start(struct store *s)
{
	struct flusher	*f;
	sigset_t	 all, old;
	int		 e;

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    mdb_env_get_fd(s->env, &f->fd) != 0) {
		free(f);
		log_warnx("store: no writeback thread lane=%u", s->lane);
		return;
	}
	f->lane = s->lane;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	/* Signals are the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&f->thread, NULL, flusher_main, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		log_warnx("store: no writeback thread lane=%u: %s", s->lane, strerror(e));
		pthread_mutex_destroy(&f->mu);
		pthread_cond_destroy(&f->cv);
		free(f);
		return;
	}
	s->flusher = f;
}

static void
flusher_stop(struct store *s)
{
	struct flusher	*f = s->flusher;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->quit = 1;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	s->io.writebacks = f->writebacks;
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
	s->flusher = NULL;
}

/*
 * One writing process per lane environment.  Two writers on one lane
 * each keep their own applied point in memory and commit over each
 * other, so a row can be counted twice (a replay beside the daemon).
 * The lock is flock(2) on LANE/writer.lock, held until store_close or
 * process death (kill -9 included: the kernel drops it), so a restart
 * never finds a stale lock.  Returns the fd, or -1 with err set and
 * errno EBUSY when another process holds it.
 */
int
store_lane_lock(const char *path, char *err, size_t errlen)
{
	char	 lp[4200];
	int	 fd;

	snprintf(lp, sizeof(lp), "%s/writer.lock", path);
	if ((fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "store: %s: %s", lp, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			snprintf(err, errlen, "store: %s is in use by another writer "
			    "(one process per lane; stop it first)", path);
		else
			snprintf(err, errlen, "store: lock %s: %s", lp, strerror(e));
		errno = e == EWOULDBLOCK ? EBUSY : e;
		return -1;
	}
	return fd;
}

void
store_be64_put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

uint64_t
store_be64_get(const void *vp)
{
	const unsigned char *p = vp;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
be32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint32_t
be32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Whether rc, from a write, means the disk, a quota or the file size limit
 * (RLIMIT_FSIZE with SIGXFSZ ignored: EFBIG) is full.  LMDB reports a
 * short write as EIO, and a write that fills the disk is short, so EIO
 * counts when the filesystem (or the size limit) has less room left than
 * the transaction could have needed; any other EIO is a disk error.
 */
static int
store_no_space(struct store *s, int rc)
{
	struct statvfs	 vfs;
	struct rlimit	 rl;
	struct stat	 st;
	MDB_stat	 ms;
	uint64_t	 need, have;
	int		 fd;

	if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG)
		return 1;
	if (rc != EIO || mdb_env_get_fd(s->env, &fd) != 0 || mdb_env_stat(s->env, &ms) != 0)
		return 0;
	need = (store_txn_pages(s) + 16) * ms.ms_psize;
	if (fstatvfs(fd, &vfs) == 0) {
		/* Root writes into the blocks reserved for it. */
		have = (uint64_t)(geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail) * vfs.f_frsize;
		if (have < need)
			return 1;
	}
	return getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    fstat(fd, &st) == 0 && (uint64_t)st.st_size + need > rl.rlim_cur;
}

/* Maps an LMDB return code to ours, logging what is not expected. */
static int
store_rc(struct store *s, int rc, const char *what)
{
	if (rc == 0)
		return 0;
	if (rc == MDB_NOTFOUND)
		return STORE_NOTFOUND;
	if (rc == MDB_MAP_FULL)
		return STORE_FULL;
	if (store_no_space(s, rc)) {
		log_warnx("store: no space lane=%u during=\"%s\" error=\"%s\"", s->lane,
		    what, mdb_strerror(rc));
		return STORE_NOSPACE;
	}
	log_warnx("store: %s failed lane=%u error=\"%s\"", what, s->lane, mdb_strerror(rc));
	return STORE_ERR;
}

/*
 * The environment of a lane and of a key/value store alike: created with
 * map_size (0: the default) and up to maxdbs named databases, opened with
 * flags and mode.  Returns 0 with the number of stale reader slots cleared
 * in *dead, or -1 with err set (and errno, when LMDB's error is a system
 * one: ENOENT, ENOSPC; callers tell them apart).  *envp may be set even on
 * failure: env_close it.
 */
static int
env_open(MDB_env **envp, const char *path, uint64_t map_size, unsigned maxdbs,
    unsigned flags, mode_t mode, int *dead, char *err, size_t errlen)
{
	int	 rc;

	*dead = 0;
	if ((rc = mdb_env_create(envp)) != 0) {
		snprintf(err, errlen, "store: env: %s", mdb_strerror(rc));
		return -1;
	}
	if (maxdbs > 0)
		mdb_env_set_maxdbs(*envp, maxdbs);
	mdb_env_set_mapsize(*envp, map_size ? map_size : STORE_DEFAULT_MAP);
	if ((rc = mdb_env_open(*envp, path, flags, mode)) != 0) {
		snprintf(err, errlen, "store: open %s: %s", path, mdb_strerror(rc));
		if (rc > 0)
			errno = rc;
		return -1;
	}
	/* Slots of readers that died (kill -9 of a dump) would pin old pages. */
	if (mdb_reader_check(*envp, dead) != 0)
		*dead = 0;
	return 0;
}

/* Aborts txn if any, then closes env if any. */
static void
env_close(MDB_env *env, MDB_txn *txn)
{
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
}

static int
env_txn_begin(MDB_env *env, unsigned flags, MDB_txn **txn)
{
	int	 rc;

	rc = mdb_txn_begin(env, NULL, flags, txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map: adopt its size and retry. */
		mdb_env_set_mapsize(env, 0);
		rc = mdb_txn_begin(env, NULL, flags, txn);
	}
	return rc;
}

/* 1 when an exchange key is a mark (conn \x1f goal \x1f id), not a count. */
static int
exchange_is_mark(const void *key, size_t klen)
{
	const char	*k = key, *s1 = memchr(k, 0x1f, klen);

	return s1 != NULL && memchr(s1 + 1, 0x1f, klen - (size_t)(s1 + 1 - k)) != NULL;
}

/*
 * Sets s->tree_marks when the exchange tree holds a mark, which only a
 * lane written before schema 3 has (or one re-laned from such a lane).  A
 * goal's count key sorts just before its marks, so this reads a key a goal
 * at most.
 */
static int
find_tree_marks(struct store *s, MDB_txn *txn)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	int		 rc;

	s->tree_marks = 0;
	if ((rc = mdb_cursor_open(txn, s->exchange, &c)) != 0)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !s->tree_marks;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		s->tree_marks = exchange_is_mark(k.mv_data, k.mv_size);
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/*
 * The ident_stage of a lane before schema 4, in txn: a writable store
 * moves its entries into run 0 of ident_runs, in key order, and deletes
 * it (one transaction with the rest of open_dbis); a read-only one looks
 * into it after the runs (has_legacy).  Returns 0 or an LMDB code.
 */
static int
open_legacy_stage(struct store *s, MDB_txn *txn)
{
	unsigned char	 kb[RUN_PREFIX + STORE_KEY_MAX + 32];
	MDB_cursor	*from, *to;
	MDB_val		 k, v, rk;
	size_t		 n = 0;
	int		 rc;

	if ((rc = mdb_dbi_open(txn, "ident_stage", 0, &s->legacy)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (s->rdonly) {
		s->has_legacy = 1;
		return 0;
	}
	if ((rc = mdb_cursor_open(txn, s->legacy, &from)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->ist.dbi, &to)) != 0) {
		mdb_cursor_close(from);
		return rc;
	}
	memset(kb, 0, RUN_PREFIX);
	for (rc = mdb_cursor_get(from, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(from, &k, &v, MDB_NEXT)) {
		if (k.mv_size > sizeof(kb) - RUN_PREFIX) {
			rc = MDB_BAD_VALSIZE;
			break;
		}
		memcpy(kb + RUN_PREFIX, k.mv_data, k.mv_size);
		rk.mv_data = kb;
		rk.mv_size = RUN_PREFIX + k.mv_size;
		if ((rc = mdb_cursor_put(to, &rk, &v, MDB_APPEND)) != 0)
			break;
		n++;
	}
	mdb_cursor_close(to);
	mdb_cursor_close(from);
	if (rc != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_drop(txn, s->legacy, 1)) != 0)
		return rc;
	log_info("store: %s: %zu staged identifiers moved into run 0 of ident_runs",
	    s->path, n);
	return 0;
}

static int
open_dbis(struct store *s, char *err, size_t errlen)
{
	struct {
		const char	*name;
		MDB_dbi		*dbi;
	} dbs[] = {
		{ "profiles", &s->profiles }, { "ident", &s->ident },
		{ "applied", &s->applied }, { "runstats", &s->runstats },
		{ "exchange", &s->exchange }, { "meta", &s->meta },
		{ "ident_runs", &s->ist.dbi }, { "profile_runs", &s->pst.dbi },
	};
	MDB_txn	*txn;
	MDB_val	 k, v;
	uint32_t schema = STORE_SCHEMA, had = 0;
	unsigned char sb[4];
	int	 rc;

	if ((rc = env_txn_begin(s->env, s->rdonly ? MDB_RDONLY : 0, &txn)) != 0) {
		snprintf(err, errlen, "store: %s: begin: %s", s->path, mdb_strerror(rc));
		return -1;
	}
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		rc = mdb_dbi_open(txn, dbs[i].name, s->rdonly ? 0 : MDB_CREATE, dbs[i].dbi);
		/* Read-only, before schema 4 (ident_stage) or 5: no runs. */
		if (rc == MDB_NOTFOUND && (dbs[i].dbi == &s->ist.dbi ||
		    dbs[i].dbi == &s->pst.dbi))
			continue;
		if (dbs[i].dbi == &s->ist.dbi)
			s->ist.has = rc == 0;
		if (dbs[i].dbi == &s->pst.dbi)
			s->pst.has = rc == 0;
		if (rc != 0) {
			snprintf(err, errlen, "store: %s: database %s: %s", s->path,
			    dbs[i].name, mdb_strerror(rc));
			mdb_txn_abort(txn);
			if (rc == MDB_NOTFOUND)
				errno = ENOENT;
			return -1;
		}
	}
	s->ist.into = s->ident;
	s->pst.into = s->profiles;
	if ((rc = open_legacy_stage(s, txn)) != 0) {
		snprintf(err, errlen, "store: %s: ident_stage: %s", s->path, mdb_strerror(rc));
		mdb_txn_abort(txn);
		return -1;
	}
	k.mv_data = "schema";
	k.mv_size = 6;
	/*
	 * Schema 2 added ident_stage (identifiers not yet folded into
	 * ident): a schema 1 lane is a schema 2 lane with nothing staged.
	 * Schema 3 keeps new exchange marks in the profiles: a schema 2
	 * lane's marks stay in the exchange tree, where store_exchange_marked
	 * still finds them.  Schema 4 stages in runs (ident_runs): a writer
	 * moves an older lane's ident_stage into run 0 (open_legacy_stage).
	 * So a writer opening an older lane only records the new version,
	 * after which earlier builds, which would not look in the stage's
	 * runs or count the profiles' marks, refuse it.  Schema 5 stages
	 * profile updates (profile_runs): an older lane has none staged.
	 */
	if ((rc = mdb_get(txn, s->meta, &k, &v)) == 0) {
		had = v.mv_size == 4 ? be32_get(v.mv_data) : 0;
		if (had == 0 || had > schema) {
			snprintf(err, errlen, "store: %s: unknown schema version", s->path);
			mdb_txn_abort(txn);
			return -1;
		}
	}
	if (!s->rdonly && had != schema) {
		if (had != 0)
			log_info("store: %s: schema %u -> %u", s->path, had, schema);
		be32(sb, schema);
		v.mv_data = sb;
		v.mv_size = 4;
		if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0) {
			snprintf(err, errlen, "store: %s: meta: %s", s->path, mdb_strerror(rc));
			mdb_txn_abort(txn);
			return -1;
		}
	}
	/*
	 * The lane count the store was written with.  Rows go to lanes by
	 * the hash of their link value modulo the count, so with another
	 * count a person's rows land in another lane and every profile is
	 * made again there.  A writer refuses to open the lane (errno EDOM).
	 */
	if (!s->rdonly) {
		uint32_t	 want = s->cs->lanes ? s->cs->lanes : 1;
		unsigned char	 lb[4];

		k.mv_data = "lanes";
		k.mv_size = 5;
		rc = mdb_get(txn, s->meta, &k, &v);
		if (rc == 0 && v.mv_size == 4 &&
		    memcmp(v.mv_data, (be32(lb, want), lb), 4) != 0) {
			unsigned char *h = v.mv_data;

			snprintf(err, errlen, "store: %s holds data written with %u "
			    "lanes; the configuration has %u (pipeline.lanes): every "
			    "profile would be made twice", s->path,
			    (unsigned)h[0] << 24 | (unsigned)h[1] << 16 |
			    (unsigned)h[2] << 8 | h[3], want);
			mdb_txn_abort(txn);
			errno = EDOM;
			return -1;
		}
		if (rc == MDB_NOTFOUND) {
			v.mv_data = (be32(lb, want), lb);
			v.mv_size = 4;
			if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0) {
				snprintf(err, errlen, "store: %s: meta: %s", s->path,
				    mdb_strerror(rc));
				mdb_txn_abort(txn);
				return -1;
			}
		}
	}
	k.mv_data = "idctr";
	k.mv_size = 5;
	if (mdb_get(txn, s->meta, &k, &v) == 0 && v.mv_size == 8)
		s->idctr = s->idctr_stored = store_be64_get(v.mv_data);
	if (!s->rdonly && (rc = find_tree_marks(s, txn)) != 0) {
		snprintf(err, errlen, "store: %s: exchange: %s", s->path, mdb_strerror(rc));
		mdb_txn_abort(txn);
		return -1;
	}
	/* Committing (a read-only one too) keeps the database handles open. */
	if ((rc = mdb_txn_commit(txn)) != 0) {
		snprintf(err, errlen, "store: %s: commit: %s", s->path, mdb_strerror(rc));
		if (rc > 0)
			errno = rc;
		return -1;
	}
	return 0;
}

struct store *
store_open(const struct conf_store *cs, unsigned lane, int flags, char *err, size_t errlen)
{
	struct store	*s;
	struct stat	 st;
	/*
	 * No MDB_WRITEMAP.  With it, dirty pages lived in the shared map,
	 * which kept them off the heap, but every durable commit msynced
	 * the whole map and every first write to a page after writeback
	 * faulted again; a 300k-row import took 75 s against 36 s without
	 * it (same machine, same load, 100k rows per commit), and a full
	 * disk under a sparse map file became SIGBUS on a page fault
	 * instead of an error.  Without it, a commit writes its dirty pages
	 * with pwritev, fdatasyncs the data file, then writes the meta page
	 * through an O_DSYNC descriptor: the two ordered barriers a
	 * copy-on-write commit needs, costing what was written, whatever
	 * the map size.  A full disk is ENOSPC from the commit
	 * (STORE_NOSPACE).  Dirty pages are heap until the commit, and LMDB
	 * keeps freed page buffers for reuse, so the writer's heap is set
	 * by its largest transaction: the writer bounds transactions by
	 * store_txn_pages (store.txn_mb, writer_due_in).
	 */
	unsigned	 eflags = MDB_NORDAHEAD;
	int		 dead = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return NULL;
	}
	s->cs = cs;
	s->lane = lane;
	s->lockfd = -1;
	s->rdonly = (flags & STORE_RDONLY) != 0;
	s->ist.what = "fold identifiers";
	s->ist.tree = TREE_STAGE;
	s->ist.into_tree = TREE_IDENT;
	s->pst.what = "fold profiles";
	s->pst.tree = TREE_PSTAGE;
	s->pst.into_tree = TREE_PROFILES;
	s->ist.gate_bits = filter_share(s, FILTER_TENTHS_IGATE);
	s->ist.runs_bits = filter_share(s, FILTER_TENTHS_IRUNS);
	s->pst.gate_bits = filter_share(s, FILTER_TENTHS_PGATE);
	s->pst.runs_bits = filter_share(s, FILTER_TENTHS_PRUNS);
	buf_init(&s->enc, 64u << 20);
	buf_init(&s->key, 64u << 10);
	buf_init(&s->pend.keys, PEND_BYTES + STORE_KEY_MAX + 32);
	arena_init(&s->scratch);
	if ((size_t)snprintf(s->path, sizeof(s->path), "%s/lane-%u", cs->path, lane) >=
	    sizeof(s->path)) {
		snprintf(err, errlen, "store: path too long");
		goto fail;
	}
	if (s->rdonly) {
		char	 data[4200];

		snprintf(data, sizeof(data), "%s/data.mdb", s->path);
		if (stat(data, &st) == -1) {
			snprintf(err, errlen, "store: %s: %s", s->path, strerror(errno));
			goto fail;
		}
		eflags |= MDB_RDONLY;
	} else {
		if (file_mkdirs(s->path, 0755) == -1) {
			snprintf(err, errlen, "store: mkdir %s: %s", s->path, strerror(errno));
			goto fail;
		}
		if ((s->lockfd = store_lane_lock(s->path, err, errlen)) == -1)
			goto fail;
		/*
		 * Durable by default: every commit is fsynced before the
		 * writer acknowledges it.  Without that, a crash could lose
		 * records the fetcher already dropped from its window.
		 */
		if (!cs->durable)
			eflags |= MDB_NOSYNC;
	}
	if (env_open(&s->env, s->path, cs->map_size, 10, eflags, 0644, &dead, err,
	    errlen) == -1)
		goto fail;
	if (dead > 0)
		log_info("store: cleared stale readers lane=%u n=%d", lane, dead);
	if (open_dbis(s, err, errlen) == -1)
		goto fail;
	if (!(eflags & (MDB_RDONLY | MDB_NOSYNC)))
		flusher_start(s);
	return s;
fail:
	{
		int e = errno;

		store_close(&s);
		errno = e;
	}
	return NULL;
}

void
store_close(struct store **sp)
{
	struct store *s = *sp;

	if (s == NULL)
		return;
	flusher_stop(s);
	env_close(s->env, s->txn);
	/* After the environment is closed: the next writer may open it. */
	if (s->lockfd != -1)
		close(s->lockfd);
	buf_clear(&s->enc);
	buf_clear(&s->key);
	pend_free(&s->pend);
	arena_clear(&s->scratch);
	free(s->filter.words);
	runs_clear(&s->ist);
	free(s->ist.runs);
	runs_clear(&s->pst);
	free(s->pst.runs);
	free(s);
	*sp = NULL;
}

unsigned
store_lane(const struct store *s)
{
	return s->lane;
}

uint64_t
store_map_size(const struct store *s)
{
	MDB_envinfo info;

	if (mdb_env_info(s->env, &info) != 0)
		return 0;
	return info.me_mapsize;
}

int
store_begin(struct store *s)
{
	int	 rc;

	if (s->txn)
		panic("store: begin with a transaction open lane=%u", s->lane);
	if (s->rdonly)
		panic("store: write transaction on a read-only store");
	if ((rc = env_txn_begin(s->env, 0, &s->txn)) != 0) {
		s->txn = NULL;
		return store_rc(s, rc, "begin");
	}
	s->txn_write = 1;
	s->txn_pages = 0;
	s->tail_bytes = 0;
	s->grow_bytes = 0;
	for (int i = 0; i < STORE_NTREES; i++) {
		MDB_dbi	 dbi = i == TREE_PROFILES ? s->profiles : i == TREE_IDENT ?
		    s->ident : i == TREE_STAGE ? s->ist.dbi : i == TREE_PSTAGE ?
		    s->pst.dbi : s->exchange;
		MDB_stat ms;

		memset(&s->trees[i], 0, sizeof(s->trees[i]));
		if (mdb_stat(s->txn, dbi, &ms) == 0) {
			s->trees[i].leaves = (double)ms.ms_leaf_pages;
			s->trees[i].branches = (double)ms.ms_branch_pages;
			s->trees[i].entries = (double)ms.ms_entries;
		}
	}
	s->idctr = s->idctr_stored;
	return 0;
}

/*
 * What a write may cost in dirty pages (store.h).  A value larger than a
 * page has overflow pages of its own.  A put at the tail of its key range
 * (the profile of an id handed out in this transaction: ids only grow)
 * lands beside the previous one: such puts
 * fill pages in order, and LMDB splits a full page in half, so they cost
 * their bytes over half a page.  Counting them a page each made the writer
 * commit every 10,000 rows of an import whose new profiles dirtied a few
 * hundred pages.
 *
 * A put in the middle of a tree dirties the leaf it lands on and that
 * leaf's parent, and grows the tree by its bytes (splits).  Counting a
 * page per put overstates a large transaction on a small tree (31,000 rows
 * put 37,000 index entries into 25,000 leaves, and most shared a leaf) and
 * understates one on a large tree, where the parents add up: the writer's
 * heap went from 239 MiB at 1M rows to 333 MiB at 10M under a 256 MiB
 * budget.  So the leaves and parents a tree's puts dirty are estimated as
 * distinct pages drawn at random: L(1 - e^(-n/L)) of L pages for n puts,
 * the expected count when the keys are spread evenly (index inserts of
 * random emails), and more than keys that cluster (which share pages).
 */
static void
txn_cost(struct store *s, int tree, int tail, size_t klen, size_t vlen)
{
	size_t	 bytes;

	if (vlen > STORE_PAGE_BYTES / 2) {
		/* LMDB puts it on overflow pages; the node keeps a page number. */
		s->txn_pages += (vlen + STORE_PAGE_BYTES - 1) / STORE_PAGE_BYTES;
		vlen = 8;
	}
	bytes = klen + vlen + STORE_NODE_BYTES;
	if (tail) {
		s->tail_bytes += bytes;
		return;
	}
	s->grow_bytes += bytes;
	if (tree == TREE_OTHER)
		s->txn_pages++;
	else
		s->trees[tree].puts++;
}

/* Expected distinct pages of npages hit by n puts at random (at least one). */
static uint64_t
pages_hit(double npages, uint64_t n)
{
	if (npages < 1)
		npages = 1;
	return (uint64_t)ceil(-npages * expm1(-(double)n / npages));
}

uint64_t
store_txn_pages(const struct store *s)
{
	uint64_t	 n;

	if (s->txn == NULL || !s->txn_write)
		return 0;
	n = s->txn_pages + (s->tail_bytes + s->grow_bytes) / (STORE_PAGE_BYTES / 2);
	for (int i = 0; i < STORE_NTREES; i++) {
		const struct tree_puts *t = &s->trees[i];

		if (t->puts)
			n += pages_hit(t->leaves, t->puts) + pages_hit(t->branches, t->puts) + 1;
	}
	return n;
}

/*
 * Bytes the calling thread has passed to write calls (wchar in its
 * /proc io file; 0 without one).  Not write_bytes: the kernel charges a
 * write for the whole cached folio it dirties, and ext4's are larger than
 * a page: 5.9 GB for the 1.99 GB a 1M-row import wrote (and the disk took).
 */
static uint64_t
wchar(void)
{
	char		 b[512], *p;
	ssize_t		 n;
	int		 fd;

	if ((fd = open("/proc/thread-self/io", O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	if ((p = strstr(b, "wchar: ")) == NULL)
		return 0;
	return strtoull(p + 7, NULL, 10);
}

/* Bytes of a filter's bit array (0 without one). */
static uint64_t
filter_bytes(const struct filter *f)
{
	return f->words ? f->bits / 8 : 0;
}

/* Bytes of a stage's filters. */
static uint64_t
staging_bytes(const struct staging *st)
{
	uint64_t	 n = filter_bytes(&st->gate);

	for (size_t i = 0; i < st->nruns; i++)
		n += filter_bytes(&st->runs[i].f);
	return n;
}

uint64_t
store_filter_bytes(const struct store *s)
{
	return filter_bytes(&s->filter) + staging_bytes(&s->ist) + staging_bytes(&s->pst);
}

uint64_t
store_pend_bytes(const struct store *s)
{
	return s->pend.keys.cap + s->pend.cap * sizeof(*s->pend.ents) +
	    s->pend.nslots * sizeof(*s->pend.slots);
}

const struct store_io *
store_io(const struct store *s)
{
	return &s->io;
}

int
store_commit(struct store *s)
{
	unsigned char	 b[8];
	MDB_val		 k, v;
	uint64_t	 wc, wc2;
	int64_t		 t, cpu, wait;
	int		 rc;

	if (s->txn == NULL || !s->txn_write)
		panic("store: commit without a write transaction");
	if ((rc = pend_flush(s)) != 0) {
		store_abort(s);
		return store_rc(s, rc, "stage identifiers");
	}
	if (s->idctr != s->idctr_stored) {
		store_be64_put(b, s->idctr);
		k.mv_data = "idctr";
		k.mv_size = 5;
		v.mv_data = b;
		v.mv_size = 8;
		if ((rc = mdb_put(s->txn, s->meta, &k, &v, 0)) != 0) {
			store_abort(s);
			return store_rc(s, rc, "put meta");
		}
	}
	/*
	 * LMDB writes the dirty pages, fdatasyncs, then writes the meta
	 * page synchronously (unless durable=false) before returning: once
	 * it returns 0 the group survives a crash, and only then may the
	 * writer acknowledge it.  What it wrote is what this thread passed
	 * to write calls meanwhile (LMDB writes from the calling thread);
	 * the time it spent off the CPU, waiting for the disk (or a core).
	 */
	wc = wchar();
	t = time_mono_us();
	cpu = time_thread_cpu_us();
	flusher_set(s, 1);
	rc = mdb_txn_commit(s->txn);
	flusher_set(s, 0);
	wait = (time_mono_us() - t) - (time_thread_cpu_us() - cpu);
	if (wait > 0)
		s->io.wait_us += wait;
	if ((wc2 = wchar()) > wc)	/* 0 when the second read failed */
		s->io.pages += (wc2 - wc) / STORE_PAGE_BYTES;
	s->txn = NULL;
	if (rc != 0) {
		s->idctr = s->idctr_stored;
		s->ist.runs_ok = s->pst.runs_ok = 0;
		return store_rc(s, rc, "commit");
	}
	s->idctr_stored = s->idctr;
	return 0;
}

void
store_abort(struct store *s)
{
	if (s->txn)
		mdb_txn_abort(s->txn);
	s->txn = NULL;
	s->idctr = s->idctr_stored;
	pend_reset(&s->pend);
	/* Runs it made or filled are gone, or hold less: listed again. */
	s->ist.runs_ok = s->pst.runs_ok = 0;
}

int
store_grow(struct store *s)
{
	uint64_t	 cur = store_map_size(s), next;
	int		 rc;

	if (s->txn)
		panic("store: grow with a transaction open");
	next = cur ? cur * 2 : STORE_DEFAULT_MAP;
	if ((rc = mdb_env_set_mapsize(s->env, next)) != 0)
		return store_rc(s, rc, "grow");
	log_info("store: map grown lane=%u from=%" PRIu64 " to=%" PRIu64, s->lane, cur,
	    store_map_size(s));
	return 0;
}

int
store_reserve(struct store *s, uint64_t pages)
{
	MDB_envinfo	 mi;
	int		 rc;

	if (s->txn)
		panic("store: reserve with a transaction open");
	for (int grown = 0; grown < 24; grown++) {
		if ((rc = mdb_env_info(s->env, &mi)) != 0)
			return store_rc(s, rc, "env info");
		if ((uint64_t)mi.me_last_pgno + 1 + pages <=
		    (uint64_t)mi.me_mapsize / STORE_PAGE_BYTES)
			return grown;
		if ((rc = store_grow(s)) != 0)
			return rc;
	}
	return STORE_FULL;
}

int
store_read_begin(struct store *s)
{
	int	 rc;

	if (s->txn)
		panic("store: read with a transaction open");
	if ((rc = env_txn_begin(s->env, MDB_RDONLY, &s->txn)) != 0) {
		s->txn = NULL;
		return store_rc(s, rc, "read begin");
	}
	s->txn_write = 0;
	/* Another process writes the lane: its runs are listed again. */
	if (s->rdonly)
		s->ist.runs_ok = s->pst.runs_ok = 0;
	return 0;
}

void
store_read_end(struct store *s)
{
	if (s->txn)
		mdb_txn_abort(s->txn);
	s->txn = NULL;
}

static void
need_txn(struct store *s, int write)
{
	if (s->txn == NULL || (write && !s->txn_write))
		panic("store: no %s transaction lane=%u", write ? "write" : "", s->lane);
}

uint64_t
store_id_next(struct store *s)
{
	struct timespec	 ts;
	int64_t		 ms;
	uint64_t	 id;

	need_txn(s, 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - STORE_EPOCH_MS;
	if (ms < 0)
		ms = 0;
	id = (uint64_t)(s->lane & 0xff) << 56 |
	    ((uint64_t)ms & ((1ull << 40) - 1)) << 16;
	/* Several per millisecond, or a clock stepped back: count up. */
	if (id <= s->idctr)
		id = s->idctr + 1;
	s->idctr = id;
	return id;
}

int
store_id_newer(uint64_t a, uint64_t b)
{
	/* Below the lane byte, ids are time-ordered (store_id_next). */
	uint64_t ta = a & ((1ULL << 56) - 1), tb = b & ((1ULL << 56) - 1);

	return ta != tb ? ta > tb : a > b;
}

unsigned
store_id_lane(uint64_t id)
{
	return (unsigned)(id >> 56);
}

/* ident */

static uint64_t
fnv64(const char *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * prop \x1f value.  A key past LMDB's limit keeps a prefix and ends in
 * two 64-bit hashes of the whole, so long values still index.
 */
static int
ident_key(struct store *s, const char *prop, size_t plen, const char *val, size_t vlen,
    MDB_val *k)
{
	unsigned char	 h[16];
	uint64_t	 h1, h2;

	buf_reset(&s->key);
	if (buf_add(&s->key, prop, plen) == -1 || buf_add(&s->key, "\x1f", 1) == -1 ||
	    buf_add(&s->key, val, vlen) == -1)
		return STORE_ERR;
	if (s->key.len > STORE_KEY_MAX) {
		h1 = fnv64(s->key.data, s->key.len, 1469598103934665603ULL);
		h2 = fnv64(s->key.data, s->key.len, 0x9e3779b97f4a7c15ULL);
		store_be64_put(h, h1);
		store_be64_put(h + 8, h2);
		s->key.len = STORE_KEY_MAX - 17;
		buf_add(&s->key, "\0", 1);
		buf_add(&s->key, h, 16);
	}
	k->mv_data = s->key.data;
	k->mv_size = s->key.len;
	return 0;
}

/*
 * A key's two hashes: the pending table takes the first, the filters
 * probe with both; the second is mixed from the first (a 64-bit
 * finalizer), so a key is read once.  A lookup or put computes them once
 * for all.
 */
struct key_hashes {
	uint64_t	 h1, h2, h3;
};

static struct key_hashes
key_hashes(const MDB_val *k)
{
	struct key_hashes h;
	uint64_t	 x;

	h.h1 = x = fnv64(k->mv_data, k->mv_size, 1469598103934665603ULL);
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	h.h2 = x;
	x *= 0x9e3779b97f4a7c15ULL;
	x ^= x >> 29;
	h.h3 = x | 1;
	return h;
}

/*
 * The bit of f that probe i of h takes: h2 + i * h3 (both mixed) scaled
 * to the filter's size by its high bits, so that a filter may have any
 * size, not only a power of two.
 */
static inline uint64_t
filter_bit(const struct filter *f, struct key_hashes h, int i)
{
	return (uint64_t)(((unsigned __int128)(h.h2 + (uint64_t)i * h.h3) * f->bits) >> 64);
}

/*
 * Gives f, emptied, bits bits (rounded down to a multiple of 64), all clear,
 * to be built again once it has taken more than limit keys (and more than
 * one for STORE_FILTER_BITS_KEY / 2 of its bits).  -1 without memory.
 */
static int
filter_init(struct filter *f, uint64_t bits, uint64_t limit)
{
	memset(f, 0, sizeof(*f));
	bits = bits / 64 * 64;
	if (bits == 0 || (f->words = calloc(bits / 64, sizeof(uint64_t))) == NULL)
		return -1;
	f->bits = bits;
	f->limit = bits / (STORE_FILTER_BITS_KEY / 2);
	if (limit > f->limit)
		f->limit = limit;
	return 0;
}

/* Bits of store.filter_mb's tenths. */
static uint64_t
filter_share(const struct store *s, unsigned tenths)
{
	uint64_t	 mb = s->cs->filter_mb ? s->cs->filter_mb : CONF_FILTER_MB;

	return (mb << 20) * 8 / 10 * tenths;
}

static void
filter_add_hashed(struct filter *f, struct key_hashes h)
{
	uint64_t	 b;

	if (f->words == NULL)
		return;
	for (int i = 0; i < STORE_FILTER_PROBES; i++) {
		b = filter_bit(f, h, i);
		f->words[b >> 6] |= 1ull << (b & 63);
	}
	if (++f->keys > f->limit)
		f->stale = 1;
}

static void
filter_add(struct filter *f, const MDB_val *k)
{
	if (f->words != NULL)
		filter_add_hashed(f, key_hashes(k));
}

/* 0: the key hashed to h is not in the filter; 1: it may be. */
static int
filter_may(const struct filter *f, struct key_hashes h)
{
	uint64_t	 b;

	for (int i = 0; i < STORE_FILTER_PROBES; i++) {
		b = filter_bit(f, h, i);
		if ((f->words[b >> 6] & (1ull << (b & 63))) == 0)
			return 0;
	}
	return 1;
}

/*
 * Adds every key of dbi to f, less its first skip bytes (a run's number);
 * -1 on an LMDB error (logged).
 */
static int
filter_scan(struct store *s, struct filter *f, MDB_dbi dbi, size_t skip)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	int		 rc;

	if ((rc = mdb_cursor_open(s->txn, dbi, &c)) != 0) {
		store_rc(s, rc, "filter cursor");
		return -1;
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < skip)
			continue;
		k.mv_data = (char *)k.mv_data + skip;
		k.mv_size -= skip;
		filter_add(f, &k);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND) {
		store_rc(s, rc, "filter scan");
		return -1;
	}
	return 0;
}

/*
 * Builds the filter from both trees, within the open write transaction.
 * Without memory (or on an error) there is no filter: every lookup reads
 * the trees, as it would without one.
 */
static void
filter_build(struct store *s)
{
	struct filter	 f;
	MDB_stat	 a, b;
	uint64_t	 bits = filter_share(s, FILTER_TENTHS_INDEX), keys = 0;
	int64_t		 t0 = time_mono_ms();

	free(s->filter.words);
	memset(&s->filter, 0, sizeof(s->filter));
	if (mdb_stat(s->txn, s->ident, &a) == 0)
		keys += a.ms_entries;
	if (mdb_stat(s->txn, s->ist.dbi, &b) == 0)
		keys += b.ms_entries;
	keys += s->pend.n;
	if (filter_init(&f, bits, 2 * keys) == -1) {
		log_warnx("store: no memory for the identifier filter lane=%u bits=%" PRIu64
		    ": lookups read the index", s->lane, bits);
		s->filter.off = 1;
		return;
	}
	if (filter_scan(s, &f, s->ident, 0) == -1 ||
	    filter_scan(s, &f, s->ist.dbi, RUN_PREFIX) == -1) {
		free(f.words);
		s->filter.off = 1;
		return;
	}
	for (size_t i = 0; i < s->pend.n; i++) {
		MDB_val	 k;

		k.mv_data = s->pend.keys.data + s->pend.ents[i].off;
		k.mv_size = s->pend.ents[i].len;
		filter_add(&f, &k);
	}
	s->filter = f;
	log_info("store: identifier filter built lane=%u keys=%" PRIu64 " kib=%" PRIu64
	    " ms=%" PRId64, s->lane, f.keys, bits / 8 / 1024, time_mono_ms() - t0);
}

/* The stage's runs (struct run). */

static void
runs_clear(struct staging *st)
{
	for (size_t i = 0; i < st->nruns; i++)
		free(st->runs[i].f.words);
	st->nruns = 0;
	free(st->gate.words);
	memset(&st->gate, 0, sizeof(st->gate));
	st->runs_ok = 0;
}

/* A key put into run r: its filter and the gate. */
static void
run_added(struct staging *st, struct run *r, struct key_hashes h)
{
	filter_add_hashed(&r->f, h);
	filter_add_hashed(&st->gate, h);
	r->entries++;
}

/* May k (hashes h) be in any run?  Without a gate (read-only): yes. */
static int
runs_may(const struct staging *st, struct key_hashes h)
{
	return st->nruns > 0 && (st->gate.words == NULL || filter_may(&st->gate, h));
}

/* A new run at the end of the list; NULL without memory. */
static struct run *
runs_add(struct staging *st, uint32_t no)
{
	struct run	*nr;
	size_t		 nn;

	if (st->nruns == st->runs_cap) {
		nn = st->runs_cap ? st->runs_cap * 2 : 16;
		if ((nr = reallocarray(st->runs, nn, sizeof(*nr))) == NULL)
			return NULL;
		st->runs = nr;
		st->runs_cap = nn;
	}
	nr = &st->runs[st->nruns++];
	memset(nr, 0, sizeof(*nr));
	nr->no = no;
	return nr;
}

/*
 * A run's filter, for keys: the stage's share for runs' filters over the
 * most it may hold (stage_most), at most RUN_FILTER_MAX_BITS_KEY a key,
 * and no more than what the other runs left of the share: a stage past
 * its most (a group's worth before the fold, or the runs made while one
 * goes on) gets smaller filters, then none (below RUN_FILTER_MIN_BITS_KEY
 * bits a key).  Without one (or without memory), lookups that pass the
 * gate look into the run.
 */
static void
run_filter_init(struct store *s, struct staging *st, struct run *r, uint64_t keys)
{
	uint64_t	 per = st->runs_bits / stage_most(s, st), used = 0, bits;

	for (size_t i = 0; i < st->nruns; i++)
		used += st->runs[i].f.words ? st->runs[i].f.bits : 0;
	if (per > RUN_FILTER_MAX_BITS_KEY)
		per = RUN_FILTER_MAX_BITS_KEY;
	bits = keys * per;
	if (used + bits > st->runs_bits)
		bits = used < st->runs_bits ? st->runs_bits - used : 0;
	memset(&r->f, 0, sizeof(r->f));
	if (bits >= RUN_FILTER_MIN_BITS_KEY * keys)
		(void)filter_init(&r->f, bits, 0);
}

/*
 * The entries st may hold before a fold is due (unless RUNS_MAX runs
 * wait): cs->index_stage, or half the identifier index, or twice the
 * profiles tree's leaves; but no more than its gate holds at
 * STORE_FILTER_BITS_KEY a key (4 million identifiers at the default
 * store.filter_mb, which binds past about 8 million: folds then come more
 * often, each moving as many).
 */
static uint64_t
stage_most(struct store *s, const struct staging *st)
{
	uint64_t	 most = s->cs->index_stage, n = 0, cap;
	MDB_stat	 ms;

	if (mdb_stat(s->txn, st->into, &ms) == 0)
		n = st == &s->ist ? ms.ms_entries / STORE_STAGE_SHARE :
		    ms.ms_leaf_pages * PSTAGE_LEAVES;
	if (n > most)
		most = n;
	cap = st->gate_bits / STORE_FILTER_BITS_KEY;
	if (most > cap)
		most = cap;
	return most ? most : 1;
}

/*
 * The gate: a filter of the keys of every run, so that a lookup of a key
 * in no run (most: the stage holds a fraction of the index) checks no
 * run's filter.  Its share of store.filter_mb; the stage holds at most
 * one key for STORE_FILTER_BITS_KEY of its bits (stage_most), so it is
 * built again, with the runs, only when a fold ends (from the runs made
 * meanwhile), or once it has taken twice the keys it was built with and
 * more than one for 5 of its bits; without memory there is none, and
 * each run's filter is checked.
 */
static void
gate_init(struct staging *st, uint64_t keys)
{
	(void)filter_init(&st->gate, st->gate_bits, 2 * keys);
}

/* kb := the run's number, then k; the staged key. */
static MDB_val
staged_key(uint32_t no, const MDB_val *k, unsigned char *kb)
{
	MDB_val	 rk;

	be32(kb, no);
	memcpy(kb + RUN_PREFIX, k->mv_data, k->mv_size);
	rk.mv_data = kb;
	rk.mv_size = RUN_PREFIX + k->mv_size;
	return rk;
}

/*
 * Lists the stage's runs in the open transaction.  A writable store reads
 * every staged key, counting each run's, then builds each run's filter;
 * it keeps the list up to date from then on (pend_flush, the fold) until
 * an abort.  A read-only store, which another process writes, finds each
 * run's first key (a descent a run) in each read transaction, and has no
 * filters.  Returns 0 or an LMDB code.
 */
static int
runs_load(struct store *s, struct staging *st)
{
	unsigned char	 kb[RUN_PREFIX];
	struct key_hashes h;
	MDB_cursor	*c;
	MDB_val		 k, v;
	struct run	*r = NULL;
	uint64_t	 total = 0;
	uint32_t	 no = 0;
	int		 rc;

	runs_clear(st);
	if (!st->has) {
		st->runs_ok = 1;
		return 0;
	}
	if ((rc = mdb_cursor_open(s->txn, st->dbi, &c)) != 0)
		return rc;
	if (s->rdonly) {
		for (;;) {
			be32(kb, no);
			k.mv_data = kb;
			k.mv_size = RUN_PREFIX;
			if ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) != 0)
				break;
			if (k.mv_size < RUN_PREFIX) {
				rc = MDB_CORRUPTED;
				break;
			}
			no = be32_get(k.mv_data);
			if (runs_add(st, no) == NULL) {
				rc = ENOMEM;
				break;
			}
			if (no++ == UINT32_MAX) {
				rc = MDB_NOTFOUND;
				break;
			}
		}
	} else {
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (k.mv_size < RUN_PREFIX) {
				rc = MDB_CORRUPTED;
				break;
			}
			no = be32_get(k.mv_data);
			if (r == NULL || r->no != no) {
				if ((r = runs_add(st, no)) == NULL) {
					rc = ENOMEM;
					break;
				}
			}
			r->entries++;
		}
		for (size_t i = 0; rc == MDB_NOTFOUND && i < st->nruns; i++) {
			run_filter_init(s, st, &st->runs[i], st->runs[i].entries);
			total += st->runs[i].entries;
		}
		gate_init(st, total);
		r = st->runs;
		for (rc = rc == MDB_NOTFOUND ? mdb_cursor_get(c, &k, &v, MDB_FIRST) : rc;
		    rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			no = be32_get(k.mv_data);
			while (r < st->runs + st->nruns && r->no != no)
				r++;
			if (r == st->runs + st->nruns) {
				rc = MDB_CORRUPTED;
				break;
			}
			k.mv_data = (char *)k.mv_data + RUN_PREFIX;
			k.mv_size -= RUN_PREFIX;
			h = key_hashes(&k);
			filter_add_hashed(&r->f, h);
			filter_add_hashed(&st->gate, h);
		}
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND) {
		runs_clear(st);
		return rc;
	}
	st->runs_ok = 1;
	return 0;
}

/*
 * The run that takes n more entries: the newest while it holds fewer
 * than RUN_SMALL and no fold takes it, else a new one after it, into
 * which they are appended (*flags MDB_APPEND, and n sizes its filter).
 * NULL without memory.
 */
static struct run *
run_target(struct store *s, struct staging *st, size_t n, unsigned *flags)
{
	struct run	*r = st->nruns ? &st->runs[st->nruns - 1] : NULL;

	*flags = 0;
	if (r != NULL && (r->no == UINT32_MAX || (r->entries < RUN_SMALL &&
	    !(st->folding && r->no <= st->fold_hi))))
		return r;
	if ((r = runs_add(st, r ? r->no + 1 : 0)) == NULL)
		return NULL;
	run_filter_init(s, st, r, n > RUN_SMALL ? n : RUN_SMALL);
	*flags = MDB_APPEND;
	return r;
}

/*
 * The newest entry of k (h: its hashes) in st: the runs, newest first,
 * then a read-only older lane's ident_stage.  0, MDB_NOTFOUND or an
 * LMDB code.
 */
static int
stage_get(struct store *s, struct staging *st, const MDB_val *k, struct key_hashes h,
    MDB_val *v)
{
	unsigned char	 kb[RUN_PREFIX + STORE_KEY_MAX + 32];
	MDB_val		 rk;
	int		 rc;

	if ((!st->runs_ok || st->gate.stale) && (rc = runs_load(s, st)) != 0)
		return rc;
	for (size_t i = runs_may(st, h) ? st->nruns : 0; i-- > 0;) {
		if (st->runs[i].f.words != NULL && !filter_may(&st->runs[i].f, h))
			continue;
		rk = staged_key(st->runs[i].no, k, kb);
		if ((rc = mdb_get(s->txn, st->dbi, &rk, v)) != MDB_NOTFOUND)
			return rc;
	}
	if (st == &s->ist && s->has_legacy)
		return mdb_get(s->txn, s->legacy, (MDB_val *)(uintptr_t)k, v);
	return MDB_NOTFOUND;
}

/*
 * Several trees in key order as one (a stage's runs over the tree they
 * fold into): each key once, with the value of the newest source that
 * holds it.
 */
struct merge_src {
	MDB_cursor	*c;
	int		 run;		/* a run: keys start with its number */
	uint32_t	 no;
	int		 live, advance;
	MDB_val		 k, v;		/* its current entry, less the number */
};

struct merge {
	struct merge_src *src;		/* oldest first */
	size_t		 n;
};

static void
merge_close(struct merge *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->src[i].c)
			mdb_cursor_close(m->src[i].c);
	free(m->src);
	m->src = NULL;
	m->n = 0;
}

/* src's entry after rc's move; 0 or an LMDB code (MDB_NOTFOUND: none). */
static int
merge_took(struct merge_src *src, int rc)
{
	src->live = 0;
	if (rc != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (src->run) {
		if (src->k.mv_size < RUN_PREFIX || be32_get(src->k.mv_data) != src->no)
			return 0;
		src->k.mv_data = (char *)src->k.mv_data + RUN_PREFIX;
		src->k.mv_size -= RUN_PREFIX;
	}
	src->live = 1;
	return 0;
}

/*
 * Opens a merge from key from (flen bytes; 0: the first) over the tree
 * st folds into when with_into, a read-only older lane's ident_stage, and
 * st's runs up to hi.  0 or an LMDB code (the merge is closed).
 */
static int
merge_open(struct store *s, struct staging *st, struct merge *m, int with_into,
    uint32_t hi, const void *from, size_t flen)
{
	unsigned char	 kb[RUN_PREFIX + STORE_KEY_MAX + 32];
	struct merge_src *src;
	MDB_val		 k;
	int		 rc = 0;

	memset(m, 0, sizeof(*m));
	if ((m->src = calloc(st->nruns + 2, sizeof(*m->src))) == NULL)
		return ENOMEM;
	k.mv_data = (void *)(uintptr_t)(flen ? from : "");
	k.mv_size = flen;
	for (int i = 0; i < 2 && rc == 0; i++) {
		if ((i == 0 && !with_into) || (i == 1 && (st != &s->ist || !s->has_legacy)))
			continue;
		src = &m->src[m->n++];
		if ((rc = mdb_cursor_open(s->txn, i == 0 ? st->into : s->legacy, &src->c)) != 0)
			break;
		src->k = k;
		rc = merge_took(src, mdb_cursor_get(src->c, &src->k, &src->v,
		    flen ? MDB_SET_RANGE : MDB_FIRST));
	}
	for (size_t i = 0; i < st->nruns && st->runs[i].no <= hi && rc == 0; i++) {
		src = &m->src[m->n++];
		src->run = 1;
		src->no = st->runs[i].no;
		if ((rc = mdb_cursor_open(s->txn, st->dbi, &src->c)) != 0)
			break;
		src->k = staged_key(src->no, &k, kb);
		rc = merge_took(src, mdb_cursor_get(src->c, &src->k, &src->v, MDB_SET_RANGE));
	}
	if (rc != 0)
		merge_close(m);
	return rc;
}

static int
key_cmp(const MDB_val *a, const MDB_val *b)
{
	int	 c = memcmp(a->mv_data, b->mv_data, a->mv_size < b->mv_size ?
		    a->mv_size : b->mv_size);

	if (c != 0)
		return c;
	return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/*
 * The next key and its newest value, valid until the next call: 0,
 * MDB_NOTFOUND at the end, or an LMDB code.
 */
static int
merge_next(struct merge *m, MDB_val *k, MDB_val *v)
{
	struct merge_src *best = NULL;
	int		 rc, c;

	for (size_t i = 0; i < m->n; i++) {
		if (!m->src[i].advance)
			continue;
		m->src[i].advance = 0;
		if ((rc = merge_took(&m->src[i], mdb_cursor_get(m->src[i].c,
		    &m->src[i].k, &m->src[i].v, MDB_NEXT))) != 0)
			return rc;
	}
	for (size_t i = 0; i < m->n; i++)
		if (m->src[i].live && (best == NULL ||
		    key_cmp(&m->src[i].k, &best->k) <= 0))
			best = &m->src[i];
	if (best == NULL)
		return MDB_NOTFOUND;
	for (size_t i = 0; i < m->n; i++) {
		if (!m->src[i].live)
			continue;
		c = &m->src[i] == best ? 0 : key_cmp(&m->src[i].k, &best->k);
		m->src[i].advance = c == 0;
	}
	*k = best->k;
	*v = best->v;
	return 0;
}

/*
 * Puts k -> v into st's newest run or a new one (run_target), appending
 * when in_order (k sorts after every key of the run).  0 or an LMDB code.
 */
static int
stage_put(struct store *s, struct staging *st, const MDB_val *k, MDB_val *v,
    struct key_hashes h, int in_order)
{
	unsigned char	 kb[RUN_PREFIX + STORE_KEY_MAX + 32];
	struct run	*r;
	MDB_val		 rk;
	unsigned	 flags;
	int		 rc;

	if (!st->runs_ok && (rc = runs_load(s, st)) != 0)
		return rc;
	if ((r = run_target(s, st, 1, &flags)) == NULL)
		return ENOMEM;
	rk = staged_key(r->no, k, kb);
	if ((rc = mdb_put(s->txn, st->dbi, &rk, v, in_order ? flags : 0)) == 0)
		run_added(st, r, h);
	return rc;
}

/*
 * Calls fn for every key of the tree st folds into and of st's runs, in
 * key order, with its newest value (the raw records of store_raw_each),
 * until fn returns non-zero, and returns that; 0 at the end, or a store
 * code.
 */
static int
stage_each(struct store *s, struct staging *st, int (*fn)(const void *key, size_t klen,
    const void *val, size_t vlen, void *arg), void *arg)
{
	struct merge	 m;
	MDB_val		 k, v;
	int		 rc, r = 0;

	if (!st->runs_ok && (rc = runs_load(s, st)) != 0)
		return store_rc(s, rc, "list the stage's runs");
	if ((rc = merge_open(s, st, &m, 1, UINT32_MAX, NULL, 0)) != 0)
		return store_rc(s, rc, "cursor");
	while (r == 0 && (rc = merge_next(&m, &k, &v)) == 0)
		r = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
	merge_close(&m);
	if (r != 0)
		return r;
	return rc == MDB_NOTFOUND ? 0 : store_rc(s, rc, "cursor next");
}

/* Pending identifiers (struct pending). */

static void
pend_reset(struct pending *pd)
{
	if (pd->n == 0)
		return;
	memset(pd->slots, 0, pd->nslots * sizeof(*pd->slots));
	pd->n = 0;
	buf_reset(&pd->keys);
}

static void
pend_free(struct pending *pd)
{
	buf_clear(&pd->keys);
	free(pd->ents);
	free(pd->slots);
	pd->ents = NULL;
	pd->slots = NULL;
	pd->n = pd->cap = pd->nslots = 0;
}

/* The slot of k (hash h): its entry's, or the free one it would take. */
static size_t
pend_slot(const struct pending *pd, const MDB_val *k, uint64_t h)
{
	size_t			 i = (size_t)h & (pd->nslots - 1);
	const struct pend_ent	*e;

	while (pd->slots[i] != 0) {
		e = &pd->ents[pd->slots[i] - 1];
		if (e->hash == h && e->len == k->mv_size &&
		    memcmp(pd->keys.data + e->off, k->mv_data, k->mv_size) == 0)
			break;
		i = (i + 1) & (pd->nslots - 1);
	}
	return i;
}

/* k's entry, if waiting; h: key_hashes(k).h1. */
static struct pend_ent *
pend_find(const struct pending *pd, const MDB_val *k, uint64_t h)
{
	size_t	 i;

	if (pd->n == 0)
		return NULL;
	i = pend_slot(pd, k, h);
	return pd->slots[i] ? &pd->ents[pd->slots[i] - 1] : NULL;
}

/* -1: out of memory (nothing changed). */
static int
pend_grow(struct pending *pd)
{
	struct pend_ent	*ne;
	uint32_t	*ns;
	size_t		 nn, i, j;

	if (pd->n == pd->cap) {
		nn = pd->cap ? pd->cap * 2 : 4096;
		if ((ne = reallocarray(pd->ents, nn, sizeof(*ne))) == NULL)
			return -1;
		pd->ents = ne;
		pd->cap = nn;
	}
	if (2 * (pd->n + 1) <= pd->nslots)
		return 0;
	nn = pd->nslots ? pd->nslots * 2 : 8192;
	if ((ns = calloc(nn, sizeof(*ns))) == NULL)
		return -1;
	for (i = 0; i < pd->n; i++) {
		for (j = (size_t)pd->ents[i].hash & (nn - 1); ns[j] != 0; j = (j + 1) & (nn - 1))
			;
		ns[j] = (uint32_t)i + 1;
	}
	free(pd->slots);
	pd->slots = ns;
	pd->nslots = nn;
	return 0;
}

/*
 * k -> id among the pending (h: key_hashes(k).h1); -1: no memory for it
 * (nothing changed).
 */
static int
pend_put(struct pending *pd, const MDB_val *k, uint64_t h, uint64_t id)
{
	struct pend_ent	*e;
	size_t		 i, off = pd->keys.len;

	if (pd->nslots > 0) {
		i = pend_slot(pd, k, h);
		if (pd->slots[i] != 0) {
			e = &pd->ents[pd->slots[i] - 1];
			e->id = id;
			e->dead = 0;
			return 0;
		}
	}
	if (pend_grow(pd) == -1 || buf_add(&pd->keys, k->mv_data, k->mv_size) == -1)
		return -1;
	e = &pd->ents[pd->n];
	e->hash = h;
	e->id = id;
	e->off = (uint32_t)off;
	e->len = (uint16_t)k->mv_size;
	e->dead = 0;
	pd->slots[pend_slot(pd, k, h)] = (uint32_t)++pd->n;
	return 0;
}

struct pend_sorted {
	const char	*key;
	size_t		 len;
	uint64_t	 id;
};

/* LMDB's default order: bytes, then the shorter first. */
static int
pend_cmp(const void *a, const void *b)
{
	const struct pend_sorted *x = a, *y = b;
	int	 c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/*
 * Puts the pending identifiers into the stage, in key order, within the
 * open write transaction: into the newest run or a new one (run_target).
 * Returns 0 or an LMDB code (the transaction must then be aborted: some
 * may be in).
 */
static int
pend_flush(struct store *s)
{
	struct pending		*pd = &s->pend;
	struct staging		*st = &s->ist;
	struct pend_sorted	*srt;
	struct run		*r;
	MDB_cursor		*c;
	MDB_val			 k, rk, v;
	unsigned char		 b[8], kb[RUN_PREFIX + STORE_KEY_MAX + 32];
	unsigned		 flags;
	size_t			 n = 0;
	int			 rc = 0;

	if (pd->n == 0)
		return 0;
	if (!st->runs_ok && (rc = runs_load(s, st)) != 0)
		return rc;
	if ((srt = reallocarray(NULL, pd->n, sizeof(*srt))) == NULL)
		return ENOMEM;
	for (size_t i = 0; i < pd->n; i++) {
		if (pd->ents[i].dead)
			continue;
		srt[n].key = pd->keys.data + pd->ents[i].off;
		srt[n].len = pd->ents[i].len;
		srt[n].id = pd->ents[i].id;
		n++;
	}
	qsort(srt, n, sizeof(*srt), pend_cmp);
	if (n > 0 && (r = run_target(s, st, n, &flags)) == NULL)
		rc = ENOMEM;
	else if (n > 0 && (rc = mdb_cursor_open(s->txn, st->dbi, &c)) == 0) {
		for (size_t i = 0; i < n && rc == 0; i++) {
			k.mv_data = (void *)(uintptr_t)srt[i].key;
			k.mv_size = srt[i].len;
			rk = staged_key(r->no, &k, kb);
			store_be64_put(b, srt[i].id);
			v.mv_data = b;
			v.mv_size = 8;
			if ((rc = mdb_cursor_put(c, &rk, &v, flags)) == 0)
				run_added(st, r, key_hashes(&k));
		}
		mdb_cursor_close(c);
	}
	free(srt);
	if (rc == 0)
		pend_reset(pd);
	return rc;
}

int
store_ident_get(struct store *s, const char *prop, size_t plen, const char *val,
    size_t vlen, uint64_t *id)
{
	struct pend_ent		*e;
	struct key_hashes	 h = { 0, 0, 0 };
	MDB_val			 k, v;
	int			 rc = MDB_NOTFOUND;

	need_txn(s, 0);
	if (ident_key(s, prop, plen, val, vlen, &k) != 0)
		return STORE_ERR;
	h = key_hashes(&k);
	if (s->txn_write && s->ist.has && !s->filter.off) {
		if (s->filter.words == NULL || s->filter.stale)
			filter_build(s);
		if (s->filter.words != NULL && !filter_may(&s->filter, h))
			return STORE_NOTFOUND;
	}
	/* Pending, then the stage: the newer entry of a key in several. */
	if (s->txn_write && (e = pend_find(&s->pend, &k, h.h1)) != NULL) {
		if (e->dead)
			return STORE_NOTFOUND;
		*id = e->id;
		return 0;
	}
	rc = stage_get(s, &s->ist, &k, h, &v);
	if (rc == MDB_NOTFOUND)
		rc = mdb_get(s->txn, s->ident, &k, &v);
	if (rc != 0)
		return store_rc(s, rc, "get ident");
	if (v.mv_size != 8)
		return STORE_NOTFOUND;
	*id = store_be64_get(v.mv_data);
	return 0;
}

int
store_ident_put(struct store *s, const char *prop, size_t plen, const char *val,
    size_t vlen, uint64_t id)
{
	unsigned char		 b[8];
	struct key_hashes	 h;
	MDB_val			 k, v;
	int			 rc;

	need_txn(s, 1);
	if (ident_key(s, prop, plen, val, vlen, &k) != 0)
		return STORE_ERR;
	store_be64_put(b, id);
	v.mv_data = b;
	v.mv_size = 8;
	/* Into a run, in key order: it fills pages as a tail does. */
	txn_cost(s, TREE_STAGE, 1, RUN_PREFIX + k.mv_size, v.mv_size);
	h = key_hashes(&k);
	filter_add_hashed(&s->filter, h);
	if ((s->pend.n >= PEND_MAX || s->pend.keys.len >= PEND_BYTES) &&
	    (rc = pend_flush(s)) != 0)
		return store_rc(s, rc, "stage identifiers");
	if (pend_put(&s->pend, &k, h.h1, id) == 0)
		return 0;
	/* No memory to wait in: staged now, after those waiting. */
	if ((rc = pend_flush(s)) != 0)
		return store_rc(s, rc, "stage identifiers");
	return store_rc(s, stage_put(s, &s->ist, &k, &v, h, 1), "put ident");
}

int
store_ident_del(struct store *s, const char *prop, size_t plen, const char *val,
    size_t vlen)
{
	unsigned char	 kb[RUN_PREFIX + STORE_KEY_MAX + 32];
	struct staging	*st = &s->ist;
	struct key_hashes h;
	struct pend_ent	*e;
	MDB_val		 k, rk;
	int		 rp = MDB_NOTFOUND, rs = MDB_NOTFOUND, ri, rc;

	need_txn(s, 1);
	if (ident_key(s, prop, plen, val, vlen, &k) != 0)
		return STORE_ERR;
	h = key_hashes(&k);
	if ((e = pend_find(&s->pend, &k, h.h1)) != NULL && !e->dead) {
		e->dead = 1;
		rp = 0;
	}
	/* Out of every run that holds it. */
	if (!st->runs_ok && (rc = runs_load(s, st)) != 0)
		return store_rc(s, rc, "list the stage's runs");
	for (size_t i = 0, n = runs_may(st, h) ? st->nruns : 0; i < n; i++) {
		if (st->runs[i].f.words != NULL && !filter_may(&st->runs[i].f, h))
			continue;
		txn_cost(s, TREE_STAGE, 0, RUN_PREFIX + k.mv_size, 0);
		rk = staged_key(st->runs[i].no, &k, kb);
		if ((rc = mdb_del(s->txn, st->dbi, &rk, NULL)) == 0)
			rs = 0;
		else if (rc != MDB_NOTFOUND)
			return store_rc(s, rc, "del ident");
	}
	txn_cost(s, TREE_IDENT, 0, k.mv_size, 0);
	if ((ri = mdb_del(s->txn, s->ident, &k, NULL)) == MDB_NOTFOUND &&
	    (rs == 0 || rp == 0))
		ri = 0;
	return store_rc(s, ri, "del ident");
}

/*
 * Deletes the entries of st's runs up to hi, each from its first, up to
 * the key upto (ulen bytes) or, when upto is NULL, to its end: what a
 * fold step moved.  0 or an LMDB code.
 */
static int
runs_cut(struct store *s, struct staging *st, uint32_t hi, const void *upto, size_t ulen)
{
	unsigned char	 kb[RUN_PREFIX];
	MDB_cursor	*c;
	MDB_val		 k, v, u;
	int		 rc = 0;

	u.mv_data = (void *)(uintptr_t)upto;
	u.mv_size = ulen;
	if ((rc = mdb_cursor_open(s->txn, st->dbi, &c)) != 0)
		return rc;
	for (size_t i = 0; i < st->nruns && st->runs[i].no <= hi && rc == 0; i++) {
		be32(kb, st->runs[i].no);
		k.mv_data = kb;
		k.mv_size = RUN_PREFIX;
		for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
		    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (k.mv_size < RUN_PREFIX || be32_get(k.mv_data) != st->runs[i].no)
				break;
			k.mv_data = (char *)k.mv_data + RUN_PREFIX;
			k.mv_size -= RUN_PREFIX;
			if (upto != NULL && key_cmp(&k, &u) > 0)
				break;
			/*
			 * The delete leaves the cursor on the entry after it,
			 * which MDB_NEXT returns without moving.
			 */
			if ((rc = mdb_cursor_del(c, 0)) != 0)
				break;
		}
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	mdb_cursor_close(c);
	return rc;
}

/*
 * Folding (store.h).  The runs listed when a fold starts (up to fold_hi)
 * are merged in key order, the newest entry of each key, from where the
 * last call stopped (fold_key), so a fold rewrites each leaf of the tree
 * it folds into once however many calls it takes; runs made meanwhile
 * wait for the next fold.  Moving n of the stage's S entries into the
 * slice of L leaves they fall in dirties about n * L / S leaves (at most
 * one an entry), and the runs' own leaves as they empty, from their
 * start.
 */
static int
stage_fold(struct store *s, struct staging *st, uint64_t max_pages, uint64_t *moved,
    uint64_t *left)
{
	struct merge	 m;
	MDB_cursor	*ic = NULL;
	MDB_val		 k, v;
	const struct tree_puts *sp, *ip;
	unsigned char	 from[STORE_KEY_MAX + 32];
	size_t		 flen;
	double		 cost = 0;
	int		 rc, ended = 0;

	*moved = *left = 0;
	if (s->txn)
		panic("store: fold with a transaction open lane=%u", s->lane);
	if (s->rdonly || !st->has)
		return 0;
	if ((rc = store_begin(s)) != 0)
		return rc;
	if (!st->runs_ok && (rc = runs_load(s, st)) != 0) {
		store_abort(s);
		return store_rc(s, rc, "list the stage's runs");
	}
	sp = &s->trees[st->tree];
	ip = &s->trees[st->into_tree];
	if (!st->folding) {
		if (st->nruns == 0 || (sp->entries < stage_most(s, st) &&
		    st->nruns < RUNS_MAX)) {
			/*
			 * Nothing written: the runs stay listed.  An abort
			 * would list both stages again from every key they
			 * hold, after each commit of an import.
			 */
			mdb_txn_abort(s->txn);
			s->txn = NULL;
			*left = (uint64_t)sp->entries;
			return 0;
		}
		st->folding = 1;
		st->fold_klen = 0;
		st->fold_hi = st->runs[st->nruns - 1].no;
		st->fold_per = (sp->entries > ip->leaves ? ip->leaves / sp->entries : 1) +
		    (sp->leaves + 1) / sp->entries;
	}
	memcpy(from, st->fold_key, st->fold_klen);
	flen = st->fold_klen;
	if ((rc = merge_open(s, st, &m, 0, st->fold_hi, from, flen)) != 0)
		goto out;
	if ((rc = mdb_cursor_open(s->txn, st->into, &ic)) != 0) {
		merge_close(&m);
		goto out;
	}
	while (cost + st->fold_per + 1 <= (double)max_pages &&
	    (rc = merge_next(&m, &k, &v)) == 0) {
		if (k.mv_size > sizeof(st->fold_key)) {
			rc = EINVAL;
			break;
		}
		if ((rc = mdb_cursor_put(ic, &k, &v, 0)) != 0)
			break;
		memcpy(st->fold_key, k.mv_data, k.mv_size);
		st->fold_klen = k.mv_size;
		/*
		 * Plus what it adds.  Random puts grow a tree by their bytes
		 * over half a page; a fold adds several entries to each leaf
		 * it reaches, so more of those leaves are full and split.
		 * Counted over a quarter of a page: at 5M rows the writer's
		 * heap peaked at 397.8 MiB, against 414.7 with half (one run
		 * each; see also writer_fold).
		 */
		cost += st->fold_per + (double)(k.mv_size + v.mv_size + STORE_NODE_BYTES) /
		    (STORE_PAGE_BYTES / 4);
		(*moved)++;
	}
	merge_close(&m);
	if (rc == MDB_NOTFOUND) {
		ended = 1;
		rc = 0;
	}
	/* The runs merged so far, out of the stage. */
	if (rc == 0 && (*moved > 0 || ended))
		rc = runs_cut(s, st, st->fold_hi, ended ? NULL : st->fold_key, st->fold_klen);
out:
	if (ic)
		mdb_cursor_close(ic);
	if (rc != 0) {
		store_abort(s);
		st->folding = 0;
		return store_rc(s, rc, st->what);
	}
	s->txn_pages += (uint64_t)cost;
	if ((rc = store_commit(s)) != 0) {
		st->folding = 0;
		*moved = 0;
		return rc;
	}
	if (ended) {
		/* The runs it took are empty: the rest listed again, with a new gate. */
		runs_clear(st);
		st->folding = 0;
	}
	*left = sp->entries > (double)*moved ? (uint64_t)sp->entries - *moved : 0;
	return st->folding;
}

int
store_ident_fold(struct store *s, uint64_t max_pages, uint64_t *moved, uint64_t *left)
{
	return stage_fold(s, &s->ist, max_pages, moved, left);
}

int
store_profile_fold(struct store *s, uint64_t max_pages, uint64_t *moved, uint64_t *left)
{
	return stage_fold(s, &s->pst, max_pages, moved, left);
}

/* Profiles */

int
store_profile_get_raw(struct store *s, uint64_t id, struct profile *p, struct arena *a)
{
	unsigned char	 kb[8];
	MDB_val		 k, v;
	char		 err[128], hex[PROFILE_ID_HEX];
	int		 rc;

	need_txn(s, 0);
	store_be64_put(kb, id);
	k.mv_data = kb;
	k.mv_size = 8;
	/* Staged, then in place: a staged one is newer. */
	if ((rc = stage_get(s, &s->pst, &k, key_hashes(&k), &v)) == MDB_NOTFOUND)
		rc = mdb_get(s->txn, s->profiles, &k, &v);
	if (rc != 0)
		return store_rc(s, rc, "get profile");
	if (profile_decode(v.mv_data, v.mv_size, p, a, err, sizeof(err)) == -1) {
		log_warnx("store: undecodable profile lane=%u id=%s reason=\"%s\"", s->lane,
		    profile_id_fmt(id, hex), err);
		return STORE_ERR;
	}
	return 0;
}

int
store_profile_get(struct store *s, uint64_t id, struct profile *p, struct arena *a)
{
	int	 rc;

	for (int depth = 0; depth <= STORE_REDIRECT_DEPTH; depth++) {
		if ((rc = store_profile_get_raw(s, id, p, a)) != 0)
			return rc;
		if (p->redirect == 0)
			return 0;
		id = p->redirect;
	}
	return STORE_NOTFOUND;
}

int
store_profile_put(struct store *s, const struct profile *p)
{
	unsigned char	 kb[8];
	MDB_val		 k, v;

	need_txn(s, 1);
	buf_reset(&s->enc);
	if (profile_encode(p, &s->enc) == -1) {
		log_warnx("store: profile too large lane=%u", s->lane);
		return STORE_ERR;
	}
	store_be64_put(kb, p->id);
	k.mv_data = kb;
	k.mv_size = 8;
	v.mv_data = s->enc.data;
	v.mv_size = s->enc.len;
	/*
	 * A profile made in this transaction goes to the end of profiles;
	 * one made before, into the stage (no id above idctr_stored is
	 * staged, so the first can hide no staged entry).
	 */
	if (p->id > s->idctr_stored) {
		txn_cost(s, TREE_PROFILES, 1, k.mv_size, v.mv_size);
		return store_rc(s, mdb_put(s->txn, s->profiles, &k, &v, 0), "put profile");
	}
	txn_cost(s, TREE_PSTAGE, 1, RUN_PREFIX + k.mv_size, v.mv_size);
	return store_rc(s, stage_put(s, &s->pst, &k, &v, key_hashes(&k), 0),
	    "stage profile");
}

struct profile_each {
	struct store	*s;
	int		(*fn)(const struct profile *, void *);
	void		*arg;
};

static int
profile_each_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct profile_each *pe = arg;
	struct store	*s = pe->s;
	struct profile	 p;
	char		 err[128], hex[PROFILE_ID_HEX];
	int		 r;

	if (profile_decode(val, vlen, &p, &s->scratch, err, sizeof(err)) == -1) {
		log_warnx("store: undecodable profile lane=%u id=%s reason=\"%s\"", s->lane,
		    klen == 8 ? profile_id_fmt(store_be64_get(key), hex) : "?", err);
		return 0;
	}
	r = pe->fn(&p, pe->arg);
	if (s->scratch.total > (4u << 20))
		arena_clear(&s->scratch);
	return r;
}

int
store_profile_each(struct store *s, int (*fn)(const struct profile *, void *), void *arg)
{
	struct profile_each pe = { s, fn, arg };
	int		 r;

	need_txn(s, 0);
	r = stage_each(s, &s->pst, profile_each_one, &pe);
	arena_clear(&s->scratch);
	return r;
}

/* applied */

static void
run_key(struct store *s, uint64_t run, unsigned char kb[12])
{
	store_be64_put(kb, run);
	be32(kb + 8, s->lane);
}

int
store_applied_get(struct store *s, uint64_t run, uint64_t *seq)
{
	unsigned char	 kb[12];
	MDB_val		 k, v;
	int		 rc;

	need_txn(s, 0);
	run_key(s, run, kb);
	k.mv_data = kb;
	k.mv_size = sizeof(kb);
	*seq = 0;
	rc = mdb_get(s->txn, s->applied, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_rc(s, rc, "get applied");
	if (v.mv_size == 8)
		*seq = store_be64_get(v.mv_data);
	return 0;
}

int
store_applied_put(struct store *s, uint64_t run, uint64_t seq)
{
	unsigned char	 kb[12], vb[8];
	MDB_val		 k, v;

	need_txn(s, 1);
	run_key(s, run, kb);
	store_be64_put(vb, seq);
	k.mv_data = kb;
	k.mv_size = sizeof(kb);
	v.mv_data = vb;
	v.mv_size = 8;
	txn_cost(s, TREE_OTHER, 0, k.mv_size, v.mv_size);
	return store_rc(s, mdb_put(s->txn, s->applied, &k, &v, 0), "put applied");
}

/* runstats */

static int
stats_key(struct store *s, uint64_t run, const char *conn, size_t clen, const char *goal,
    size_t glen, MDB_val *k)
{
	unsigned char	 kb[12];

	run_key(s, run, kb);
	buf_reset(&s->key);
	if (buf_add(&s->key, kb, 12) == -1 || buf_add(&s->key, conn, clen) == -1 ||
	    buf_add(&s->key, "\x1f", 1) == -1 || buf_add(&s->key, goal, glen) == -1 ||
	    s->key.len > STORE_KEY_MAX)
		return STORE_ERR;
	k->mv_data = s->key.data;
	k->mv_size = s->key.len;
	return 0;
}

/* One runstats entry: conn and goal from the key, the rest from the value. */
static int
stats_decode(const MDB_val *k, const MDB_val *v, struct stats *st, char *err, size_t errlen)
{
	const char	*name = (const char *)k->mv_data + 12, *sep;
	size_t		 nlen = k->mv_size - 12;

	if ((sep = memchr(name, 0x1f, nlen)) == NULL) {
		snprintf(err, errlen, "key without a goal");
		return -1;
	}
	if (msg_stats_decode(v->mv_data, v->mv_size, st, err, errlen) == -1)
		return -1;
	free(st->conn);
	free(st->goal);
	st->conn = xstrndup(name, (size_t)(sep - name));
	st->goal = xstrndup(sep + 1, nlen - (size_t)(sep - name) - 1);
	return 0;
}

int
store_stats_load(struct store *s, uint64_t run, struct stats **out, size_t *n)
{
	unsigned char	 kb[12];
	MDB_cursor	*c;
	MDB_val		 k, v;
	struct stats	*arr = NULL;
	size_t		 cnt = 0, cap = 0;
	char		 err[256];
	int		 rc;

	need_txn(s, 0);
	*out = NULL;
	*n = 0;
	run_key(s, run, kb);
	if ((rc = mdb_cursor_open(s->txn, s->runstats, &c)) != 0)
		return store_rc(s, rc, "cursor");
	k.mv_data = kb;
	k.mv_size = 12;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 12 || memcmp(k.mv_data, kb, 12) != 0)
			break;
		if (cnt == cap) {
			struct stats *na;

			cap = cap ? cap * 2 : 4;
			if ((na = realloc(arr, cap * sizeof(*na))) == NULL)
				fatal_oom("store");
			arr = na;
		}
		if (stats_decode(&k, &v, &arr[cnt], err, sizeof(err)) == -1) {
			log_warnx("store: undecodable run stats lane=%u run=%" PRIu64
			    " reason=\"%s\"", s->lane, run, err);
			continue;
		}
		cnt++;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		store_stats_free(arr, cnt);
		return store_rc(s, rc, "cursor next");
	}
	*out = arr;
	*n = cnt;
	return 0;
}

void
store_stats_free(struct stats *sts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		stats_clear(&sts[i]);
	free(sts);
}


int
store_stats_put(struct store *s, uint64_t run, const struct stats *st)
{
	MDB_val		 k, v;
	char		 err[256];

	need_txn(s, 1);
	buf_reset(&s->enc);
	if (stats_key(s, run, st->conn, strlen(st->conn), st->goal, strlen(st->goal), &k) != 0) {
		log_warnx("store: run stats key too long lane=%u", s->lane);
		return STORE_ERR;
	}
	if (msg_stats_encode(st, &s->enc, err, sizeof(err)) == -1) {
		log_warnx("store: run stats not encodable lane=%u reason=\"%s\"", s->lane, err);
		return STORE_ERR;
	}
	v.mv_data = s->enc.data;
	v.mv_size = s->enc.len;
	txn_cost(s, TREE_OTHER, 0, k.mv_size, v.mv_size);
	return store_rc(s, mdb_put(s->txn, s->runstats, &k, &v, 0), "put run stats");
}

/* exchange */

static int
exchange_key(struct store *s, const char *conn, size_t clen, const char *goal, size_t glen,
    const uint64_t *id, MDB_val *k)
{
	unsigned char	 ib[8];

	buf_reset(&s->key);
	if (buf_add(&s->key, conn, clen) == -1 || buf_add(&s->key, "\x1f", 1) == -1 ||
	    buf_add(&s->key, goal, glen) == -1)
		return STORE_ERR;
	if (id != NULL) {
		store_be64_put(ib, *id);
		if (buf_add(&s->key, "\x1f", 1) == -1 || buf_add(&s->key, ib, 8) == -1)
			return STORE_ERR;
	}
	if (s->key.len > STORE_KEY_MAX)
		return STORE_ERR;
	k->mv_data = s->key.data;
	k->mv_size = s->key.len;
	return 0;
}

int
store_exchange_marked(struct store *s, const char *conn, size_t clen, const char *goal,
    size_t glen, uint64_t id)
{
	MDB_val		 k, v;
	int		 rc;

	need_txn(s, 1);		/* tree_marks is found by writable opens */
	if (!s->tree_marks)
		return 0;
	if (exchange_key(s, conn, clen, goal, glen, &id, &k) != 0)
		return STORE_ERR;
	if ((rc = mdb_get(s->txn, s->exchange, &k, &v)) == MDB_NOTFOUND)
		return 0;
	return rc == 0 ? 1 : store_rc(s, rc, "get exchange mark");
}

int
store_exchange_count_get(struct store *s, const char *conn, size_t clen, const char *goal,
    size_t glen, uint64_t *count)
{
	MDB_val	 k, v;
	int	 rc;

	need_txn(s, 0);
	*count = 0;
	if (exchange_key(s, conn, clen, goal, glen, NULL, &k) != 0)
		return STORE_ERR;
	rc = mdb_get(s->txn, s->exchange, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_rc(s, rc, "get exchange count");
	if (v.mv_size == 8)
		*count = store_be64_get(v.mv_data);
	return 0;
}

int
store_exchange_count_put(struct store *s, const char *conn, size_t clen, const char *goal,
    size_t glen, uint64_t count)
{
	unsigned char	 vb[8];
	MDB_val		 k, v;

	need_txn(s, 1);
	if (exchange_key(s, conn, clen, goal, glen, NULL, &k) != 0)
		return STORE_ERR;
	store_be64_put(vb, count);
	v.mv_data = vb;
	v.mv_size = 8;
	txn_cost(s, TREE_EXCHANGE, 0, k.mv_size, v.mv_size);
	return store_rc(s, mdb_put(s->txn, s->exchange, &k, &v, 0), "put exchange count");
}

/*
 * Key/value environments: one unnamed database in an environment of its
 * own, for a stage's private durable state (the exporter's memberships,
 * touchpoint ledger and cursors).  Durable commits; no WRITEMAP, so a
 * full disk is an error, not SIGBUS.
 */
struct store_kv {
	MDB_env		*env;
	MDB_dbi		 dbi;
	MDB_txn		*txn;
	int		 write;
	char		 path[4096];
};

static int
kv_rc(struct store_kv *kv, int rc, const char *what)
{
	if (rc == 0)
		return 0;
	if (rc == MDB_NOTFOUND)
		return STORE_NOTFOUND;
	if (rc == MDB_MAP_FULL)
		return STORE_FULL;
	log_warnx("store: %s failed path=%s error=\"%s\"", what, kv->path, mdb_strerror(rc));
	return STORE_ERR;
}

struct store_kv *
store_kv_open(const char *path, uint64_t map_size, char *err, size_t errlen)
{
	struct store_kv	*kv;
	MDB_txn		*txn;
	int		 rc, dead = 0;

	if ((kv = calloc(1, sizeof(*kv))) == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return NULL;
	}
	snprintf(kv->path, sizeof(kv->path), "%s", path);
	if (file_mkdirs(path, 0755) == -1) {
		snprintf(err, errlen, "store: mkdir %s: %s", path, strerror(errno));
		goto fail;
	}
	if (env_open(&kv->env, path, map_size, 0, MDB_NORDAHEAD, 0600, &dead, err,
	    errlen) == -1)
		goto fail;
	if (dead > 0)
		log_info("store: cleared stale readers path=%s n=%d", path, dead);
	if ((rc = env_txn_begin(kv->env, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &kv->dbi)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0) {
		snprintf(err, errlen, "store: %s: %s", path, mdb_strerror(rc));
		goto fail;
	}
	return kv;
fail:
	store_kv_close(&kv);
	return NULL;
}

void
store_kv_close(struct store_kv **kvp)
{
	struct store_kv *kv = *kvp;

	if (kv == NULL)
		return;
	env_close(kv->env, kv->txn);
	free(kv);
	*kvp = NULL;
}

int
store_kv_begin(struct store_kv *kv, int write)
{
	int	 rc;

	if (kv->txn)
		panic("store: kv begin with a transaction open");
	if ((rc = env_txn_begin(kv->env, write ? 0 : MDB_RDONLY, &kv->txn)) != 0) {
		kv->txn = NULL;
		return kv_rc(kv, rc, "kv begin");
	}
	kv->write = write;
	return 0;
}

int
store_kv_commit(struct store_kv *kv)
{
	int	 rc;

	if (kv->txn == NULL)
		panic("store: kv commit without a transaction");
	/* LMDB fsyncs the data and then the meta page before returning. */
	rc = mdb_txn_commit(kv->txn);
	kv->txn = NULL;
	return kv_rc(kv, rc, "kv commit");
}

void
store_kv_abort(struct store_kv *kv)
{
	if (kv->txn)
		mdb_txn_abort(kv->txn);
	kv->txn = NULL;
}

int
store_kv_grow(struct store_kv *kv)
{
	MDB_envinfo	 info;

	if (kv->txn)
		panic("store: kv grow with a transaction open");
	if (mdb_env_info(kv->env, &info) != 0)
		return STORE_ERR;
	return kv_rc(kv, mdb_env_set_mapsize(kv->env, info.me_mapsize * 2), "kv grow");
}

static void
kv_need(struct store_kv *kv, int write)
{
	if (kv->txn == NULL || (write && !kv->write))
		panic("store: kv needs a %s transaction", write ? "write" : "read");
}

int
store_kv_get(struct store_kv *kv, const void *key, size_t klen, const void **val,
    size_t *vlen)
{
	MDB_val	 k = { klen, (void *)(uintptr_t)key }, v;
	int	 rc;

	kv_need(kv, 0);
	if (klen == 0 || klen > STORE_KEY_MAX)
		return STORE_ERR;
	if ((rc = mdb_get(kv->txn, kv->dbi, &k, &v)) != 0)
		return kv_rc(kv, rc, "kv get");
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

int
store_kv_put(struct store_kv *kv, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	MDB_val	 k = { klen, (void *)(uintptr_t)key }, v = { vlen, (void *)(uintptr_t)val };

	kv_need(kv, 1);
	if (klen == 0 || klen > STORE_KEY_MAX)
		return STORE_ERR;
	return kv_rc(kv, mdb_put(kv->txn, kv->dbi, &k, &v, 0), "kv put");
}

int
store_kv_del(struct store_kv *kv, const void *key, size_t klen)
{
	MDB_val	 k = { klen, (void *)(uintptr_t)key };

	kv_need(kv, 1);
	if (klen == 0 || klen > STORE_KEY_MAX)
		return STORE_ERR;
	return kv_rc(kv, mdb_del(kv->txn, kv->dbi, &k, NULL), "kv del");
}

int
store_kv_each(struct store_kv *kv, const void *prefix, size_t plen,
    int (*fn)(const void *key, size_t klen, const void *val, size_t vlen, void *arg),
    void *arg)
{
	MDB_cursor	*c;
	MDB_val		 k = { plen, (void *)(uintptr_t)prefix }, v;
	int		 rc, r = 0;

	kv_need(kv, 0);
	if ((rc = mdb_cursor_open(kv->txn, kv->dbi, &c)) != 0)
		return kv_rc(kv, rc, "kv cursor");
	for (rc = plen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) :
	    mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if ((r = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (r)
		return r;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : kv_rc(kv, rc, "kv cursor next");
}

/* Raw records, for re-laning (store.h). */

static MDB_dbi
raw_dbi(const struct store *s, int db)
{
	switch (db) {
	case STORE_DB_PROFILES:
		return s->profiles;
	case STORE_DB_IDENT:
		return s->ident;
	case STORE_DB_APPLIED:
		return s->applied;
	case STORE_DB_RUNSTATS:
		return s->runstats;
	case STORE_DB_EXCHANGE:
		return s->exchange;
	case STORE_DB_META:
		return s->meta;
	}
	panic("store: no database %d", db);
}

/* The records of one tree in key order. */
static int
raw_tree_each(struct store *s, MDB_dbi dbi, int (*fn)(const void *key, size_t klen,
    const void *val, size_t vlen, void *arg), void *arg)
{
	MDB_cursor	*c;
	MDB_val		 k, v;
	int		 rc, r = 0;

	if ((rc = mdb_cursor_open(s->txn, dbi, &c)) != 0)
		return store_rc(s, rc, "cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		r = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
	mdb_cursor_close(c);
	if (r != 0)
		return r;
	return rc == MDB_NOTFOUND ? 0 : store_rc(s, rc, "cursor next");
}

int
store_raw_each(struct store *s, int db, int (*fn)(const void *key, size_t klen,
    const void *val, size_t vlen, void *arg), void *arg)
{
	int		 rc;

	need_txn(s, 0);
	if (db == STORE_DB_PROFILES)
		return stage_each(s, &s->pst, fn, arg);
	if (db != STORE_DB_IDENT)
		return raw_tree_each(s, raw_dbi(s, db), fn, arg);
	if (s->txn_write && (rc = pend_flush(s)) != 0)
		return store_rc(s, rc, "stage identifiers");
	return stage_each(s, &s->ist, fn, arg);
}

int
store_raw_put(struct store *s, int db, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	MDB_val	 k, v;

	need_txn(s, 1);
	k.mv_data = (void *)(uintptr_t)key;
	k.mv_size = klen;
	v.mv_data = (void *)(uintptr_t)val;
	v.mv_size = vlen;
	txn_cost(s, TREE_OTHER, 0, klen, vlen);
	if (db == STORE_DB_IDENT)
		filter_add(&s->filter, &k);
	if (db == STORE_DB_EXCHANGE && exchange_is_mark(key, klen))
		s->tree_marks = 1;
	return store_rc(s, mdb_put(s->txn, raw_dbi(s, db), &k, &v, 0), "put");
}

void
store_id_floor(struct store *s, uint64_t id)
{
	need_txn(s, 1);
	if (id > s->idctr)
		s->idctr = id;
}

int
store_profile_find(const struct conf_store *cs, uint64_t id, struct profile *p,
    struct arena *a)
{
	unsigned	 lanes = cs->lanes ? cs->lanes : 1, own = store_id_lane(id);
	struct store	*s;
	char		 err[512];
	int		 rc = STORE_NOTFOUND, readable = 0;

	for (unsigned i = 0; i <= lanes && rc != 0; i++) {
		/* i == 0: the lane the id names, then every other lane in order. */
		unsigned lane = i == 0 ? own : i - 1;

		if ((i == 0 && own >= lanes) || (i > 0 && lane == own))
			continue;
		if ((s = store_open(cs, lane, STORE_RDONLY, err, sizeof(err))) == NULL)
			continue;
		if (store_read_begin(s) == 0) {
			readable = 1;
			rc = store_profile_get(s, id, p, a);
			store_read_end(s);
		}
		store_close(&s);
	}
	return rc == 0 || readable ? rc : STORE_ERR;
}
