/*
 * common/conf_follow.h: a long-lived stage's configuration, which follows
 * the file when a batch was made under another one.
 *
 * Batches carry the digest of the configuration their sender loaded, for
 * the stage that receives them (conf.h).  A stage that holds another
 * digest for the batch's connection reads the file again: when the file
 * now has the batch's digest the stage reloads, and when it has not (the
 * sender loaded an older or newer file than the one there now) the stage
 * refuses the batch: it is neither applied nor acknowledged, so its sender
 * keeps it and sends it again, and it is applied once the stage and the
 * sender agree.  Nothing is applied under a configuration it was not
 * made for, and nothing is lost.
 */
#ifndef SAILSYNC_CONF_FOLLOW_H
#define SAILSYNC_CONF_FOLLOW_H

#include <stdint.h>

#include "conf.h"
#include "msg.h"

struct conf_follow {
	const struct conf *c;		/* the configuration in force */
	struct conf	*own;		/* c when it was reloaded here, else NULL */
	int		 which;		/* enum conf_digest_for */
	uint64_t	 reloads;
	uint64_t	 refused;	/* batches refused */
	/* The last refusal: an unchanged file is not read again for a resend. */
	struct {
		char	 conn[129], want[65];
		int64_t	 mtime_ns, size, ino;
		int64_t	 logged_ms;	/* monotonic */
		uint64_t n;		/* refused since logged */
		char	 why[600];
	} last;
};

/* Follows the file of c (c->file), which must outlive f unless reloaded. */
void	 conf_follow_init(struct conf_follow *f, const struct conf *c, int which);
/* Frees a reloaded configuration.  f->c is then invalid. */
void	 conf_follow_clear(struct conf_follow *f);

#define CONF_FOLLOW_SAME	0	/* apply b under f->c */
#define CONF_FOLLOW_NEW		1	/* *next is the file's, with b's digest */
#define CONF_FOLLOW_REFUSE	(-1)	/* neither: drop b unacknowledged (logged) */

/*
 * Checks batch b (its digest for f->which, and its connection) against
 * f->c.  A batch without a digest is applied under f->c.  On
 * CONF_FOLLOW_NEW, *next is a loaded configuration that the caller hands
 * to conf_follow_adopt once it has finished with everything that points
 * into f->c (commit what was applied under it, drop caches), and then
 * applies b under it.  On CONF_FOLLOW_REFUSE one line was logged (once,
 * then at most every 30 s with a count) naming both digests, the file's,
 * and what to do.
 */
int	 conf_follow_check(struct conf_follow *f, const struct msg_batch *b,
	    struct conf **next);
/* Makes next (from conf_follow_check) the configuration in force; frees the previous one if f owned it. */
void	 conf_follow_adopt(struct conf_follow *f, struct conf *next);

#endif
