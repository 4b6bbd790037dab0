/* common/ident.h: identifier normalization and lane routing. */
#ifndef SAILSYNC_IDENT_H
#define SAILSYNC_IDENT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Normalizes the value v (length len) of identifier property prop into out:
 * surrounding white space trimmed; for email properties (named "email" or
 * ending in "email") also lower-cased (ASCII).  Returns the normalized
 * length (0: no value), or (size_t)-1 when it does not fit in outlen.
 */
size_t		 ident_normalize(const char *prop, const char *v, size_t len,
		    char *out, size_t outlen);

/* The writer lane of a normalized link identifier value: FNV-1a mod nlanes. */
unsigned	 ident_lane(const char *norm, size_t len, unsigned nlanes);

#endif
