/*
 * common/digest.h: short content digests for change detection (the
 * configuration digests batches carry, conf.h).  Not a signature: it tells
 * two texts apart, it authenticates nothing.
 */
#ifndef SAILSYNC_DIGEST_H
#define SAILSYNC_DIGEST_H

#include <stddef.h>

/* Hex characters of a digest (the first 64 bits of SHA-256). */
#define DIGEST_HEX	16

/*
 * Writes the digest of p..p+len into out as DIGEST_HEX lowercase hex
 * characters and a NUL.  Never fails (a missing SHA-256 is a bug: panic).
 */
void	 digest_hex(const void *p, size_t len, char out[DIGEST_HEX + 1]);

/* 1 when s (len bytes) could be a digest: 1..64 lowercase hex characters. */
int	 digest_valid(const char *s, size_t len);

#endif
