/*
 * common/msg.h: the message table and the batch codec.
 *
 * One ZeroMQ message (or one file: frame) is one msgpack batch:
 *   {v, kind, run, lane, seq_first, src: {conn, goal, list},
 *    [conf: {mapper, writer, exporter}], [auth], records: [...]}
 * Sequence numbers are per (run, lane) and start at 1; record i of a batch
 * has seq_first + i.  Decoders bound every length, count and depth and
 * reject malformed input with a one-line reason, never a crash.
 */
#ifndef SAILSYNC_MSG_H
#define SAILSYNC_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "stats.h"
#include "val.h"

#define MSG_VERSION		2
#define MSG_MAX_BYTES		(64u << 20)	/* one encoded batch */
#define MSG_MAX_RECORDS		10000		/* records in one batch */
#define MSG_MAX_FIELDS		4096		/* columns, ids, ops, values, stats */
#define MSG_MAX_DEPTH		8
#define MSG_MAX_STR		(1u << 20)	/* one string */

/* Stages, as bits, for "who may receive what". */
enum stage {
	STAGE_FETCHER = 1,
	STAGE_MAPPER = 2,
	STAGE_WRITER = 4,
	STAGE_EXPORTER = 8,
};

/*
 * The one table of message kinds.  Ids are explicit and never reused; bump
 * MSG_VERSION when a record layout changes.
 *	X(NAME, id, "name", receivers)
 */
#define MSG_KINDS(X)							\
	X(USERS,	  1, "users",		STAGE_MAPPER)		\
	X(PATCHES,	  2, "patches",		STAGE_WRITER)		\
	X(ACK,		  3, "ack",		STAGE_FETCHER)		\
	X(HELLO,	  4, "hello",		STAGE_FETCHER)		\
	X(END,		  5, "end",		STAGE_MAPPER | STAGE_WRITER) \
	X(EXPORT_REQUEST, 6, "export_request",	STAGE_EXPORTER)		\
	X(EXPORT_RESULT,  7, "export_result",	STAGE_FETCHER)

enum msg_kind {
#define MSG_ENUM(n, id, name, rcv) MSG_##n = id,
	MSG_KINDS(MSG_ENUM)
#undef MSG_ENUM
};

const char	*msg_kind_name(int kind);	/* NULL when not a kind */
int		 msg_kind_valid(int kind);
int		 msg_kind_accepts(int kind, enum stage receiver);

/*
 * The configuration digests a batch was made under (conf.h), one per stage
 * that acts on it: USERS and END carry the mapper's and the writer's,
 * PATCHES the writer's, EXPORT_REQUEST the exporter's.  len 0: not
 * carried (a capture made before digests existed); the receiver then
 * applies it under its own configuration.
 */
struct msg_digests {
	struct str	 mapper;
	struct str	 writer;
	struct str	 exporter;
};

/* Where a batch's records come from: connection, goal name, list (or file). */
struct msg_src {
	struct str	 conn;
	struct str	 goal;
	struct str	 list;
};

/* USERS: raw source rows.  cols are shared by all rows of the batch. */
struct msg_row {
	uint64_t	 line;		/* line of the row in its source, for logs */
	uint32_t	 nvals;
	struct str	*vals;
};
struct msg_users {
	uint32_t	 ncols;
	struct str	*cols;
	uint32_t	 nrows;
	struct msg_row	*rows;
};

/* PATCHES: one per source row, in the same order. */
enum patch_op {
	OP_SET = 1,
	OP_SET_IF_EMPTY = 2,
	OP_ADD = 3,
	OP_SUM = 4,
};
const char	*patch_op_name(int op);			/* NULL if unknown */
int		 patch_op_parse(const char *name, int *op);	/* -1 if unknown */

struct msg_ident {
	struct str	 prop;
	struct str	 value;		/* normalized (emails trimmed, lower-cased) */
};
struct msg_op {
	uint8_t		 op;		/* enum patch_op */
	struct str	 prop;
	uint32_t	 nvals;
	struct val	*vals;		/* already of the property's type */
};
struct msg_patch {
	uint64_t	 line;
	struct str	 skip;		/* len > 0: the whole record is skipped, reason */
	uint8_t		 create;	/* may create a profile when none matches */
	uint32_t	 nids;
	struct msg_ident *ids;		/* ids[0] is the goal's link identifier */
	uint32_t	 nops;
	struct msg_op	*ops;
	uint32_t	 nnotes;
	struct str	*notes;		/* field-level skip reasons, e.g. "sum_not_a_number:opens" */
};
struct msg_patches {
	uint32_t	 n;
	struct msg_patch *recs;
};

/* ACK: writer -> fetcher, cumulative for (run, lane). */
struct msg_ack {
	uint64_t	 applied;	/* last committed sequence number */
	uint64_t	 received;	/* highest sequence number seen, committed or not */
	uint32_t	 nstats;
	/*
	 * Per goal (conn is NULL).  Decoded: everything lives in the batch's
	 * arena, so never stats_clear these; stats_copy what must outlive it.
	 */
	struct stats	*stats;
};

/* HELLO: a (re)started stage announces itself; the fetcher resends. */
struct msg_hello {
	struct str	 stage;
	uint64_t	 pid;
	uint64_t	 started;	/* ms since epoch */
};

/* END: no records past seq `total` for (run, lane). */
struct msg_end {
	uint64_t	 total;
};

/* EXPORT_REQUEST / EXPORT_RESULT: fetcher <-> exporter, per goal. */
struct msg_export_request {
	uint32_t	 ngoals;
	struct str	*goals;
};
struct msg_export_result {
	/*
	 * The goal's figures (st.goal its name, conn NULL).  Decoded: in the
	 * batch's arena, as an ACK's stats; stats_copy what must outlive it.
	 */
	struct stats	 st;
	struct str	 mode;		/* "user", "bulk" or "" (nothing sent) */
	struct str	 error;		/* len > 0 when the goal failed as a whole */
};

struct msg_batch {
	int		 kind;		/* enum msg_kind */
	uint32_t	 v;
	uint64_t	 run;
	uint32_t	 lane;
	uint64_t	 seq_first;
	struct msg_src	 src;
	struct msg_digests conf;
	/*
	 * USERS, PATCHES, END: the run's announcement (runauth.h), hex; len 0
	 * when not carried.  A writer applies no batch without the right one.
	 */
	struct str	 auth;
	union {
		struct msg_users	 users;
		struct msg_patches	 patches;
		struct msg_ack		 ack;
		struct msg_hello	 hello;
		struct msg_end		 end;
		struct msg_export_request ereq;
		struct msg_export_result eres;
	} u;
	struct arena	 arena;		/* owns everything a decoded batch points to */
};

/* Number of sequence-numbered records (USERS rows, PATCHES), else 0. */
uint32_t	 msg_batch_count(const struct msg_batch *b);

/*
 * Encodes b into out (appended).  Returns 0, or -1 with a reason in err when
 * b breaks a bound (too many records, too large).  The arena is not used.
 */
int	 msg_encode(const struct msg_batch *b, struct buf *out, char *err, size_t errlen);

/*
 * Decodes one batch from p..p+len into b, copying every string into
 * b->arena so b does not point into p.  Returns 0, or -1 with a one-line
 * reason in err ("truncated", "records[3].ops[1]: op 9 unknown", ...);
 * on error b holds nothing to free.  Release with msg_batch_clear().
 * b is overwritten, so clear a batch before decoding into it again.
 * Decoded strings are also NUL-terminated (not counted in len).
 */
int	 msg_decode(const void *p, size_t len, struct msg_batch *b, char *err, size_t errlen);
void	 msg_batch_clear(struct msg_batch *b);

/*
 * One goal's stats as msgpack, the encoding ACK records carry and the
 * store keeps in runstats:
 *   [goal, <one int per STATS_COUNTERS line, in table order>,
 *    [[reason, n], ...], [last id, ...], unique]
 * msg_stats_encode appends it to out; returns 0, or -1 with a reason in err.
 * msg_stats_decode reads exactly one from p..p+len into st (cleared first,
 * then owning malloc'd copies: stats_clear it); a value with fewer counters
 * (written before a counter was added) reads the missing ones as 0, and a
 * runstats value of the first layout ([created, updated, unchanged,
 * skipped, {reason: n}, [last id, ...]]) is read too.  Returns 0, or -1
 * with a reason in err and st zeroed.
 */
int	 msg_stats_encode(const struct stats *st, struct buf *out, char *err,
	    size_t errlen);
int	 msg_stats_decode(const void *p, size_t len, struct stats *st, char *err,
	    size_t errlen);

#endif
