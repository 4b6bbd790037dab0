/* common/ident.h: identifier normalization and lane routing. */
#ifndef SAILSYNC_IDENT_H
#define SAILSYNC_IDENT_H

#include <stddef.h>
#include <stdint.h>

#include "val.h"

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

/*
 * The link value of a source row: the one value that picks the row's
 * writer lane (the fetcher) and matches its profile (the mapper's ids[0]).
 * If the two read it differently, rows would go to one lane and match on
 * another identifier, and merges would be silently missed; so both call
 * these, and nothing else.
 *
 * ident_column_find: the index of column name among a CSV header's columns
 * (Sailthru headers can repeat: the first wins), -1 when absent.
 * ident_link_csv: the value in column col (-1: none) of a row of nvals
 * values, normalized for prop.
 * ident_link_json: row (len bytes) is one JSON-lines text; the value of its
 * key column: a string, an integer as decimal text, or the first element
 * of an array of those; normalized for prop.
 * Both return the length written to out (NUL-terminated), 0 when the row
 * has no link value or it does not fit outlen.
 */
int		 ident_column_find(const struct str *cols, uint32_t ncols, const char *name);
size_t		 ident_link_csv(const char *prop, const struct str *vals, uint32_t nvals,
		    int col, char *out, size_t outlen);
size_t		 ident_link_json(const char *prop, const char *column, const char *row,
		    size_t len, char *out, size_t outlen);

#endif
