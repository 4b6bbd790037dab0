/* common/segment.c: owns segment and lifecycle membership of a profile. */
#include <string.h>

#include "profile.h"
#include "segment.h"

#define DAY_MS	86400000LL

/* -1, 0, 1 as a < b, a == b, a > b, for values of one type. */
static int
val_cmp(const struct val *a, const struct val *b)
{
	size_t	 n;
	int	 r;

	switch (a->type) {
	case VAL_TEXT:
		n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
		if ((r = memcmp(a->u.s.p, b->u.s.p, n)) != 0)
			return r < 0 ? -1 : 1;
		return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len;
	case VAL_NUMBER:
	case VAL_DATETIME:
		return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
	case VAL_DECIMAL:
		return a->u.d < b->u.d ? -1 : a->u.d > b->u.d;
	case VAL_BOOL:
		return (a->u.b != 0) - (b->u.b != 0);
	default:
		return 0;
	}
}

/* Equality across number and decimal too (a decimal property may hold 3.0). */
static int
val_same(const struct val *a, const struct val *b)
{
	if (a->type == VAL_DECIMAL && b->type == VAL_NUMBER)
		return a->u.d == (double)b->u.i;
	if (a->type == VAL_NUMBER && b->type == VAL_DECIMAL)
		return (double)a->u.i == b->u.d;
	return a->type == b->type && val_cmp(a, b) == 0;
}

static int
in_range(const struct conf_cond *c, const struct val *v)
{
	struct val	 x = *v;

	/* Bounds are typed as the property; a stray number in a decimal is widened. */
	if (c->min.type == VAL_DECIMAL && x.type == VAL_NUMBER) {
		x.type = VAL_DECIMAL;
		x.u.d = (double)v->u.i;
	}
	if (c->has_min && (x.type != c->min.type || val_cmp(&x, &c->min) < 0))
		return 0;
	if (c->has_max && (x.type != c->max.type || val_cmp(&x, &c->max) > 0))
		return 0;
	return 1;
}

static int
cond_match(const struct conf_cond *c, const struct profile *p, int64_t now_ms)
{
	const struct profile_prop *pp;
	uint32_t	 i;
	size_t		 j;

	pp = profile_prop_find(p, c->property, strlen(c->property));
	if (pp != NULL && pp->nvals == 0)
		pp = NULL;
	switch (c->op) {
	case COND_EXISTS:
		return pp != NULL;
	case COND_MISSING:
		return pp == NULL;
	case COND_EQUALS:
	case COND_ONE_OF:
	case COND_CONTAINS:
		if (pp == NULL)
			return 0;
		/* Single-valued: its one value; multi-valued (contains): any. */
		for (i = 0; i < pp->nvals; i++)
			for (j = 0; j < c->nvals; j++)
				if (val_same(&pp->vals[i], &c->vals[j]))
					return 1;
		return 0;
	case COND_RANGE:
		return pp != NULL && in_range(c, &pp->vals[0]);
	case COND_WITHIN_DAYS:
		return pp != NULL && pp->vals[0].type == VAL_DATETIME &&
		    pp->vals[0].u.i >= now_ms - c->days * DAY_MS &&
		    pp->vals[0].u.i <= now_ms;
	default:
		return 0;
	}
}

int
segment_match(const struct conf_segment *sg, const struct profile *p, int64_t now_ms)
{
	for (size_t i = 0; i < sg->nconds; i++) {
		int	 m = cond_match(&sg->conds[i], p, now_ms);

		if (sg->any && m)
			return 1;
		if (!sg->any && !m)
			return 0;
	}
	return !sg->any;
}

int
segment_has(const struct conf_store *cs, const struct profile *p, const char *name,
    int64_t now_ms)
{
	const struct conf_segment *sg;
	char	*want[1];

	want[0] = (char *)(uintptr_t)name;
	if (profile_has_text(p, "$segments", want, 1))
		return 1;
	return (sg = conf_segment_find(cs, name)) != NULL && segment_match(sg, p, now_ms);
}

const struct str *
lifecycle_stage(const struct profile *p, const char *name)
{
	static const char pfx[] = "$lifecycle.";
	const struct profile_prop *pp;
	char	 prop[sizeof(pfx) + 128];
	size_t	 n = strlen(name);

	if (n > 128)
		return NULL;
	memcpy(prop, pfx, sizeof(pfx) - 1);
	memcpy(prop + sizeof(pfx) - 1, name, n);
	pp = profile_prop_find(p, prop, sizeof(pfx) - 1 + n);
	if (pp == NULL || pp->nvals == 0 || pp->vals[0].type != VAL_TEXT)
		return NULL;
	return &pp->vals[0].u.s;
}
