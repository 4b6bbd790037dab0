/* common/stats.c: owns a goal's figures for one run: the counter table, reasons, last ids, merge. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "profile.h"
#include "stats.h"
#include "store.h"

void
stats_init(struct stats *st, const char *conn, size_t clen, const char *goal, size_t glen)
{
	memset(st, 0, sizeof(*st));
	st->conn = conn ? xstrndup(conn, clen) : NULL;
	st->goal = goal ? xstrndup(goal, glen) : NULL;
}

void
stats_clear(struct stats *st)
{
	free(st->conn);
	free(st->goal);
	for (size_t i = 0; i < st->nreasons; i++)
		free(st->reasons[i].reason);
	free(st->reasons);
	for (size_t i = 0; i < STATS_LAST_IDS; i++)
		free(st->changes[i]);
	memset(st, 0, sizeof(*st));
}

void
stats_reason_add(struct stats *st, const char *reason, size_t len, uint64_t n)
{
	size_t	 lo = 0, hi = st->nreasons;

	/* Binary search: the writer adds a reason per skipped record. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *r = st->reasons[mid].reason;
		size_t rl = strlen(r);
		int c = memcmp(r, reason, rl < len ? rl : len);

		if (c == 0)
			c = rl < len ? -1 : rl > len ? 1 : 0;
		if (c == 0) {
			st->reasons[mid].n += n;
			return;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (st->nreasons == st->capreasons) {
		size_t cap = st->capreasons ? st->capreasons * 2 : 8;
		struct stats_reason *r = realloc(st->reasons, cap * sizeof(*r));

		if (r == NULL)
			fatal_oom("stats");
		st->reasons = r;
		st->capreasons = cap;
	}
	memmove(&st->reasons[lo + 1], &st->reasons[lo],
	    (st->nreasons - lo) * sizeof(*st->reasons));
	st->reasons[lo].reason = xstrndup(reason, len);
	st->reasons[lo].n = n;
	st->nreasons++;
}

uint64_t
stats_reason_get(const struct stats *st, const char *reason)
{
	for (size_t i = 0; i < st->nreasons; i++)
		if (strcmp(st->reasons[i].reason, reason) == 0)
			return st->reasons[i].n;
	return 0;
}

void
stats_last_push(struct stats *st, uint64_t id)
{
	stats_last_push_changed(st, id, NULL, 0);
}

void
stats_last_push_changed(struct stats *st, uint64_t id, const char *changes, size_t len)
{
	uint32_t i, n = st->nlast;
	char	*slot;

	for (i = 0; i < n; i++)
		if (st->last[i] == id)
			break;
	if (i == n && n < STATS_LAST_IDS)
		st->nlast = ++n;
	if (i == n)
		i = n - 1;
	/* The slot that goes (id's own, or the oldest) lends its memory. */
	slot = st->changes[i];
	memmove(&st->last[1], &st->last[0], i * sizeof(st->last[0]));
	memmove(&st->changes[1], &st->changes[0], i * sizeof(st->changes[0]));
	st->last[0] = id;
	if (changes == NULL) {
		free(slot);
		slot = NULL;
	} else {
		/* The writer's path: one realloc, usually in place. */
		if ((slot = realloc(slot, len + 1)) == NULL)
			fatal_oom("stats");
		memcpy(slot, changes, len);
		slot[len] = '\0';
	}
	st->changes[0] = slot;
}

void
stats_merge(struct stats *out, const struct stats *in)
{
	uint64_t	 all[2 * STATS_LAST_IDS];
	char		*chg[2 * STATS_LAST_IDS];	/* owned here until kept */
	uint32_t	 n = 0, k = 0;

	for (size_t i = 0; i < STATS_NCOUNTERS; i++)
		*stats_counter(out, i) += stats_counter_get(in, i);
	out->unique += in->unique;
	for (size_t i = 0; i < in->nreasons; i++)
		stats_reason_add(out, in->reasons[i].reason, strlen(in->reasons[i].reason),
		    in->reasons[i].n);
	for (uint32_t i = 0; i < out->nlast; i++) {
		chg[n] = out->changes[i];
		out->changes[i] = NULL;
		all[n++] = out->last[i];
	}
	for (uint32_t i = 0; i < in->nlast && i < STATS_LAST_IDS; i++) {
		chg[n] = in->changes[i] ? xstrdup(in->changes[i]) : NULL;
		all[n++] = in->last[i];
	}
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && store_id_newer(all[j], all[j - 1]); j--) {
			uint64_t t = all[j];
			char	*c = chg[j];

			all[j] = all[j - 1];
			all[j - 1] = t;
			chg[j] = chg[j - 1];
			chg[j - 1] = c;
		}
	for (uint32_t i = 0; i < n; i++) {
		if (k < STATS_LAST_IDS && (k == 0 || all[i] != out->last[k - 1])) {
			out->changes[k] = chg[i];
			out->last[k++] = all[i];
		} else if (k > 0 && all[i] == out->last[k - 1] && out->changes[k - 1] == NULL) {
			out->changes[k - 1] = chg[i];	/* a duplicate that knows more */
		} else
			free(chg[i]);
	}
	out->nlast = k;
}

void
stats_copy(struct stats *dst, const struct stats *src)
{
	stats_clear(dst);
	stats_init(dst, src->conn, src->conn ? strlen(src->conn) : 0, src->goal,
	    src->goal ? strlen(src->goal) : 0);
	for (size_t i = 0; i < STATS_NCOUNTERS; i++)
		*stats_counter(dst, i) = stats_counter_get(src, i);
	for (size_t i = 0; i < src->nreasons; i++)
		stats_reason_add(dst, src->reasons[i].reason, strlen(src->reasons[i].reason),
		    src->reasons[i].n);
	/* Kept as they are: a merge orders by time, a lane by its last change. */
	dst->nlast = src->nlast < STATS_LAST_IDS ? src->nlast : STATS_LAST_IDS;
	memcpy(dst->last, src->last, dst->nlast * sizeof(dst->last[0]));
	for (uint32_t i = 0; i < dst->nlast; i++)
		dst->changes[i] = src->changes[i] ? xstrdup(src->changes[i]) : NULL;
	dst->unique = src->unique;
}

struct stats *
stats_array_get(struct stats **arr, size_t *n, const char *goal)
{
	struct stats	*a;

	for (size_t i = 0; i < *n; i++)
		if ((*arr)[i].goal != NULL && strcmp((*arr)[i].goal, goal) == 0)
			return &(*arr)[i];
	if ((a = realloc(*arr, (*n + 1) * sizeof(*a))) == NULL)
		fatal_oom("stats");
	*arr = a;
	stats_init(&a[*n], NULL, 0, goal, strlen(goal));
	return &a[(*n)++];
}

/* The counter table, expanded. */

static const struct {
	const char	*name;
	int		 kinds;
} counters[STATS_NCOUNTERS] = {
#define STATS_ROW(name, kinds) { #name, kinds },
	STATS_COUNTERS(STATS_ROW)
#undef STATS_ROW
};

const char *
stats_counter_name(size_t i)
{
	return i < STATS_NCOUNTERS ? counters[i].name : NULL;
}

int
stats_counter_kinds(size_t i)
{
	return i < STATS_NCOUNTERS ? counters[i].kinds : 0;
}

uint64_t *
stats_counter(struct stats *st, size_t i)
{
	switch (i) {
#define STATS_CASE(name, kinds) case STATS_C_##name: return &st->name;
	STATS_COUNTERS(STATS_CASE)
#undef STATS_CASE
	}
	panic("stats counter %zu out of range", i);
}

uint64_t
stats_counter_get(const struct stats *st, size_t i)
{
	return *stats_counter((struct stats *)st, i);
}

int
stats_json(const struct stats *st, int kinds, struct buf *out)
{
	char	 hex[PROFILE_ID_HEX];
	int	 first = 1, rc = 0;

	for (size_t i = 0; i < STATS_NCOUNTERS; i++) {
		if (!(counters[i].kinds & kinds))
			continue;
		rc |= buf_printf(out, "%s\"%s\":%" PRIu64, first ? "" : ",", counters[i].name,
		    stats_counter_get(st, i));
		first = 0;
	}
	rc |= buf_addstr(out, first ? "\"reasons\":{" : ",\"reasons\":{");
	for (size_t i = 0; i < st->nreasons; i++) {
		if (i)
			rc |= buf_addstr(out, ",");
		rc |= val_json_str(out, st->reasons[i].reason, strlen(st->reasons[i].reason));
		rc |= buf_printf(out, ":%" PRIu64, st->reasons[i].n);
	}
	rc |= buf_addstr(out, "},\"last\":[");
	for (uint32_t i = 0; i < st->nlast; i++)
		rc |= buf_printf(out, "%s\"%s\"", i ? "," : "", profile_id_fmt(st->last[i], hex));
	rc |= buf_addstr(out, "],\"last_changes\":[");
	for (uint32_t i = 0; i < st->nlast; i++) {
		rc |= buf_printf(out, "%s{\"id\":\"%s\"", i ? "," : "",
		    profile_id_fmt(st->last[i], hex));
		if (st->changes[i] != NULL && st->changes[i][0] != '\0')
			rc |= buf_printf(out, ",%s", st->changes[i]);
		rc |= buf_addstr(out, "}");
	}
	rc |= buf_printf(out, "],\"unique\":%" PRIu64, st->unique);
	return rc ? -1 : 0;
}
