/*
 * mapper/mapper.h: turns USERS batches (raw source rows) into PATCHES
 * batches (identifiers and typed ops), one patch per row.
 *
 * The mapping itself (mapper_new / mapper_map / mapper_destroy) does no
 * I/O besides logging and does not depend on ZeroMQ, so benchmarks and
 * tests can call it in-process.  mapper_loop() is the daemon around it.
 */
#ifndef SAILSYNC_MAPPER_H
#define SAILSYNC_MAPPER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "val.h"

struct conf;
struct msg_batch;
struct chan;
struct arena;

struct mapper;

/*
 * Returns a mapper for configuration c, which must outlive it (the mapper
 * may replace it with a reloaded one, which it owns: mapper_conf_check).  Never
 * returns NULL (out of memory is fatal).  Free with mapper_destroy().
 */
struct mapper	*mapper_new(const struct conf *c);

/*
 * Maps the USERS batch `users` into `out`, which must be empty (zeroed or
 * msg_batch_clear()ed): a PATCHES batch with the same run, lane, seq_first
 * and src, and exactly one record per row, in row order.  Rows that cannot
 * be mapped become records with skip = reason; field-level problems drop
 * the op and add a note "<reason>:<property>".  Everything out points to
 * lives in out->arena, in the configuration (property names) or in static
 * storage (reasons); nothing points into `users`.  The caller releases it
 * with msg_batch_clear().
 *
 * Returns 0, or -1 with a one-line reason in err when the whole batch cannot
 * be mapped (not a USERS batch, unknown connection or goal); out is then
 * left empty.
 */
int		 mapper_map(struct mapper *m, const struct msg_batch *users,
		    struct msg_batch *out, char *err, size_t errlen);

/*
 * Logs the pending totals of field problems of `run` (called when an END
 * for that run passes; run 0: all runs).  mapper_destroy() does the same.
 */
void		 mapper_flush_log(struct mapper *m, unsigned long long run);

/*
 * Whether the USERS batch `users` may be mapped under m's configuration
 * (common/conf_follow.h): 0 yes (m may have reloaded the file to the
 * batch's configuration first), -1 no (logged): drop the batch unmapped,
 * so it stays unacknowledged and comes back.
 */
int		 mapper_conf_check(struct mapper *m, const struct msg_batch *users);

/* Frees m and everything it caches; sets *m to NULL.  NULL is fine. */
void		 mapper_destroy(struct mapper **m);

/*
 * The daemon loop: receives batches from in, maps USERS batches and
 * forwards PATCHES (and END, unchanged) to outs[lane], or to outs[0] for
 * every lane when nouts == 1 and single is set (a capture).  Returns a
 * sysexits.h code: 0 at a clean end (replay END, stop requested), 65 when
 * a replay was cut short or some of its batches were refused (made under
 * another configuration), 74 on a channel error.  *stop is polled at least
 * every 500 ms, including while a send is blocked by a full HWM.
 */
int		 mapper_loop(struct mapper *m, struct chan *in, struct chan **outs,
		    size_t nouts, int single, volatile sig_atomic_t *stop);

/*
 * Value conversion (mapper_conv.c), locale-independent.  Each returns 0, or
 * -1 when p..p+len (surrounding white space allowed) is not a value of that
 * type.
 *   map_parse_int:	[+-]digits, optionally ".0..." (an integral decimal)
 *   map_parse_decimal:	[+-]digits[.digits][e[+-]digits] ("." only, no
 *			hex, inf or nan)
 *   map_parse_bool:	true/false/yes/no/t/f/1/0, any case
 */
int		 map_parse_int(const char *p, size_t len, int64_t *out);
int		 map_parse_decimal(const char *p, size_t len, double *out);
int		 map_parse_bool(const char *p, size_t len, int *out);

/*
 * Converts the text p..p+len to type for an op with rule (enum map_rule),
 * reading zone-less datetimes in tz (NULL: UTC).  Text is copied into a.
 * Returns 0 with *out set; 1 when the value is empty (white space only:
 * no op); -1 with *reason set to a static string ("invalid_number",
 * "sum_not_a_number", ...) when it does not convert.
 */
int		 map_conv_text(enum val_type type, int rule, const char *p, size_t len,
		    const char *tz, struct arena *a, struct val *out, const char **reason);

#endif
