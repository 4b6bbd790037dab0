/* common/stats.h: owns a goal's figures for one run: one type, one counter table, one merge. */
#ifndef SAILSYNC_STATS_H
#define SAILSYNC_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define STATS_LAST_IDS	5	/* the newest created or updated profile ids kept */
#define STATS_CHANGES_MAX 2048	/* bytes of one last profile's change (JSON members) */

/* Which goals show a counter (in summaries and the run history). */
#define STATS_IMPORT	1
#define STATS_EXPORT	2

/*
 * The counters of a goal, X(name, kinds): one uint64_t field of struct
 * stats each.  Adding a counter is ONE line at the end of this table; the
 * struct field, the merge over lanes (a sum), the msgpack encoding in ACKs,
 * EXPORT_RESULTs and the store's runstats (msg_stats_encode/decode), the
 * fetcher's ledger, the run summary's JSON, `sailsync-writer stats` and
 * `sailsync runs` all follow from it.  `kinds` says which goals show it:
 * an import goal's `created` counts the profiles it created, an export
 * goal's the Sailthru users it created.
 *
 * Counters travel and are stored by position: append, never reorder or
 * remove a line.  A value written before a counter existed reads it as 0.
 * Skip reasons are not counters: use stats_reason_add ("skipped" counts
 * the records or profiles, reasons say why).
 */
#define STATS_COUNTERS(X)			\
	X(created,	STATS_IMPORT | STATS_EXPORT) \
	X(updated,	STATS_IMPORT)		\
	X(unchanged,	STATS_IMPORT)		\
	X(skipped,	STATS_IMPORT | STATS_EXPORT) \
	X(exported,	STATS_EXPORT)	/* users Sailthru accepted */ \
	X(removed,	STATS_EXPORT)	/* users taken off the goal's lists */ \
	X(failed,	STATS_EXPORT)	/* not written: the goal or a call failed */ \
	X(selected,	STATS_EXPORT)	/* profiles in the goal's segment */ \
	X(unverified,	STATS_EXPORT)	/* sent by a bulk job, not looked up */

enum stats_counter {
#define STATS_ENUM(name, kinds) STATS_C_##name,
	STATS_COUNTERS(STATS_ENUM)
#undef STATS_ENUM
	STATS_NCOUNTERS
};
/* Counters a stored or sent value has at least (the table's first lines). */
#define STATS_NCOUNTERS_MIN	4

struct stats_reason {
	char		*reason;	/* malloc'd (but see msg_decode) */
	uint64_t	 n;
};

/*
 * One goal's figures in one run: as a writer lane keeps them, as an ACK
 * carries them, or summed over lanes.
 */
struct stats {
	char		*conn;		/* malloc'd; NULL where the context knows it */
	char		*goal;		/* malloc'd */
#define STATS_FIELD(name, kinds) uint64_t name;
	STATS_COUNTERS(STATS_FIELD)
#undef STATS_FIELD
	size_t		 nreasons, capreasons;
	struct stats_reason *reasons;	/* sorted by reason, each once */
	uint32_t	 nlast;
	uint64_t	 last[STATS_LAST_IDS];	/* newest first, distinct */
	/*
	 * What the run's last change to last[i] did, as JSON object members
	 * without braces: "identifier":{PROP:"value",...},"changed":{PROP:
	 * value or [values] or null (removed),...}[,"omitted":N] (properties
	 * left out past STATS_CHANGES_MAX).  malloc'd (but see msg_decode),
	 * or NULL: not known (an export goal, a value written before).
	 */
	char		*changes[STATS_LAST_IDS];
	uint64_t	 unique;	/* data exchange: unique profiles ever */
};

/* Zeroes st and copies conn and goal (either may be NULL; lengths given). */
void		 stats_init(struct stats *st, const char *conn, size_t clen,
		    const char *goal, size_t glen);
/* Frees what st owns and zeroes it. */
void		 stats_clear(struct stats *st);
/* Adds n to reason (copied on first use), keeping reasons sorted. */
void		 stats_reason_add(struct stats *st, const char *reason, size_t len,
		    uint64_t n);
/* The count of reason (0 when st has none). */
uint64_t	 stats_reason_get(const struct stats *st, const char *reason);
/* Puts id first among the last ids (moving it when already there). */
void		 stats_last_push(struct stats *st, uint64_t id);
/*
 * The same, with what this change did (len bytes of changes, copied; see
 * struct stats; NULL: not known), which replaces what id had.
 */
void		 stats_last_push_changed(struct stats *st, uint64_t id,
		    const char *changes, size_t len);
/*
 * Adds in to out: every counter, the reasons and unique summed, the last
 * ids (with their changes) merged newest first (by creation time,
 * whatever the lane) without duplicates.  out's conn and goal are left
 * alone.
 */
void		 stats_merge(struct stats *out, const struct stats *in);
/* Replaces dst with a deep copy of src (dst cleared first; it may be zeroed). */
void		 stats_copy(struct stats *dst, const struct stats *src);

/*
 * The stats of goal in the array (*arr, *n) (conn not compared), appended
 * (goal copied, counters zero) when it is not there yet.  The array is
 * realloc'd: pointers into it are good until the next call.
 */
struct stats	*stats_array_get(struct stats **arr, size_t *n, const char *goal);

/* The counter table, by index i < STATS_NCOUNTERS. */
const char	*stats_counter_name(size_t i);
int		 stats_counter_kinds(size_t i);
uint64_t	*stats_counter(struct stats *st, size_t i);
uint64_t	 stats_counter_get(const struct stats *st, size_t i);

/*
 * Appends the figures as JSON object members (no braces) to out:
 * "created":N,... for the counters whose kinds meet `kinds`, then
 * "reasons":{...},"last":["<hex id>",...],"last_changes":[{"id":"<hex
 * id>",<changes>},...],"unique":N.  Returns 0, or -1 when out is full.
 */
int		 stats_json(const struct stats *st, int kinds, struct buf *out);

#endif
