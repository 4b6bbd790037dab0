/*
 * common/segment.h: segment and lifecycle membership of a profile.
 *
 * A profile is in segment S when its $segments values hold S (loaded by
 * file goals) or when it matches S's definition in store.segments.  Its
 * stage in lifecycle L is the text value of its "$lifecycle.L" property.
 * Pure functions over a decoded profile: nothing here reads the store.
 */
#ifndef SAILSYNC_SEGMENT_H
#define SAILSYNC_SEGMENT_H

#include <stdint.h>

#include "conf.h"
#include "profile.h"

/* 1 when p matches the definition sg at time now_ms (for within_days). */
int	 segment_match(const struct conf_segment *sg, const struct profile *p,
	    int64_t now_ms);

/* 1 when p is in segment name (listed in $segments, or matching its definition). */
int	 segment_has(const struct conf_store *cs, const struct profile *p,
	    const char *name, int64_t now_ms);

/*
 * p's stage in lifecycle name, or NULL when it has none.  Points into p
 * (valid as long as p's arena).
 */
const struct str *lifecycle_stage(const struct profile *p, const char *name);

#endif
