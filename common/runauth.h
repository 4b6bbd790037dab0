/*
 * common/runauth.h: the run announcement: a tag that says a run id is one
 * the fetcher started for a connection, which only holders of the
 * connection's secret can make.
 *
 * Why: a writer skips whatever sequence numbers it has applied for a
 * (run, lane).  A batch injected on a writer's socket with a run id the
 * fetcher has not used yet would be applied, and the real run's rows with
 * those numbers skipped later as already applied, while the run says ok.
 * The fetcher puts the tag on every USERS and END batch of a run, mappers
 * carry it to PATCHES unchanged, and a writer applies only batches whose
 * tag is right for their connection and run.  The tag is
 * HMAC-SHA256(connection secret, "sailsync run\0" conn "\0" run), its
 * first RUNAUTH_BYTES bytes in hex; every stage loads the secret with the
 * configuration, an attacker who can reach a socket does not have it.
 * It binds the run id, not the records: one who can read a plain tcp://
 * channel sees the tag of the run going on and can inject into that run
 * (pipeline.curve closes that); no one can announce another run.
 */
#ifndef SAILSYNC_RUNAUTH_H
#define SAILSYNC_RUNAUTH_H

#include <stddef.h>
#include <stdint.h>

#define RUNAUTH_BYTES	16
#define RUNAUTH_HEX	(2 * RUNAUTH_BYTES)

/*
 * Writes the tag of (conn, run) under secret into out (RUNAUTH_HEX + 1
 * bytes, NUL-terminated, lowercase hex).  Returns 0, or -1 when the
 * library fails (no HMAC-SHA256).
 */
int	 runauth_tag(const char *secret, const char *conn, size_t connlen,
	    uint64_t run, char out[RUNAUTH_HEX + 1]);

/*
 * 1 when tag (len bytes, not NUL-terminated) is the tag of (conn, run)
 * under secret, compared in constant time; 0 when it is not, is missing
 * (len 0) or secret is NULL.
 */
int	 runauth_check(const char *secret, const char *conn, size_t connlen,
	    uint64_t run, const char *tag, size_t len);

#endif
