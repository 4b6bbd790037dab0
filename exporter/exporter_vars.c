/* exporter/exporter_vars.c: owns how a profile becomes typed Sailthru vars. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exporter.h"
#include "profile.h"
#include "segment.h"
#include "timefmt.h"

static int
ends_with(const char *s, const char *suffix)
{
	size_t	 n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* One value; NULL for an unknown zone. */
static json_t *
one(const char *name, const struct val *v, const char *tz)
{
	char	 b[64];
	double	 r;

	switch (v->type) {
	case VAL_TEXT:
		return json_stringn(v->u.s.p, v->u.s.len);
	case VAL_NUMBER:
		return json_integer(v->u.i);
	case VAL_DECIMAL:
		/* Sailthru's integer vars: rounded half away from zero, clamped. */
		r = round(v->u.d);
		if (isnan(r))
			return json_null();
		if (r >= 9.2e18)
			return json_integer(INT64_MAX);
		if (r <= -9.2e18)
			return json_integer(INT64_MIN);
		return json_integer((json_int_t)r);
	case VAL_DATETIME:
		if (ends_with(name, "_time"))
			return json_integer(time_unix_seconds(v->u.i));
		if (ends_with(name, "_date")) {
			if (time_fmt_date_tz(v->u.i, tz, b) == -1)
				return NULL;
			return json_string(b);
		}
		return json_string(time_fmt_iso_ms(v->u.i, b));
	case VAL_BOOL:
		return json_string(v->u.b ? "true" : "false");
	default:
		return json_null();
	}
}

json_t *
exporter_var(const struct conf_prop *cp, const struct profile_prop *pp, const char *tz)
{
	json_t	*a, *e;

	if (pp == NULL || pp->nvals == 0)
		return cp->multi ? json_array() : json_null();
	if (!cp->multi)
		return one(cp->name, &pp->vals[pp->nvals - 1], tz);
	a = json_array();
	for (uint32_t i = 0; i < pp->nvals; i++) {
		if ((e = one(cp->name, &pp->vals[i], tz)) == NULL) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, e);
	}
	return a;
}

static json_t *
segments_of(const struct conf *c, const struct conf_export_map *m,
    const struct profile *p, int64_t now_ms)
{
	const struct profile_prop *pp;
	json_t	*a = json_array();
	size_t	 i;

	if (m->nsegments > 0) {
		for (i = 0; i < m->nsegments; i++)
			if (segment_has(&c->store, p, m->segments[i], now_ms))
				json_array_append_new(a, json_string(m->segments[i]));
		return a;
	}
	/* All: those listed on the profile, then the defined ones it matches. */
	if ((pp = profile_prop_find(p, "$segments", 9)) != NULL)
		for (uint32_t k = 0; k < pp->nvals; k++)
			json_array_append_new(a, json_stringn(pp->vals[k].u.s.p,
			    pp->vals[k].u.s.len));
	for (i = 0; i < c->store.nsegments; i++) {
		const struct conf_segment *sg = &c->store.segments[i];
		char	*want[1] = { sg->name };

		if (!profile_has_text(p, "$segments", want, 1) &&
		    segment_match(sg, p, now_ms))
			json_array_append_new(a, json_string(sg->name));
	}
	return a;
}

static json_t *
lifecycles_of(const struct profile *p)
{
	static const char pfx[] = "$lifecycle.";
	json_t	*o = json_object();
	char	 name[256];

	for (uint32_t i = 0; i < p->nprops; i++) {
		const struct profile_prop *pp = &p->props[i];

		if (pp->name.len <= sizeof(pfx) - 1 || pp->name.len >= sizeof(name) ||
		    memcmp(pp->name.p, pfx, sizeof(pfx) - 1) != 0 || pp->nvals == 0 ||
		    pp->vals[0].type != VAL_TEXT)
			continue;
		memcpy(name, pp->name.p + sizeof(pfx) - 1, pp->name.len - (sizeof(pfx) - 1));
		name[pp->name.len - (sizeof(pfx) - 1)] = '\0';
		json_object_set_new(o, name, json_stringn(pp->vals[0].u.s.p,
		    pp->vals[0].u.s.len));
	}
	return o;
}

json_t *
exporter_vars(const struct conf *c, const struct conf_goal *g, const struct profile *p,
    const char *tz, int64_t now_ms)
{
	json_t	*vars = json_object(), *v;
	char	 id[PROFILE_ID_HEX];

	for (size_t i = 0; i < g->nemaps; i++) {
		const struct conf_export_map *m = &g->emaps[i];
		const char	*prop = NULL;

		v = NULL;
		switch (m->source) {
		case SRC_ID:
			v = json_string(profile_id_fmt(p->id, id));
			break;
		case SRC_SEGMENTS:
			v = segments_of(c, m, p, now_ms);
			break;
		case SRC_LIFECYCLES:
			v = lifecycles_of(p);
			break;
		case SRC_TEXT:
			v = json_string(m->text);
			break;
		case SRC_PROPERTY:
			prop = m->property;
			break;
		case SRC_INTERACTIONS:
			prop = "$interactions";
			break;
		case SRC_PERMISSION:
			prop = "$permission";
			break;
		}
		if (prop != NULL) {
			const struct conf_prop *cp = conf_prop_find(&c->store, prop,
			    strlen(prop));
			const struct profile_prop *pp = profile_prop_find(p, prop,
			    strlen(prop));

			/* No value: leave the var as Sailthru has it. */
			if (cp == NULL || pp == NULL || pp->nvals == 0)
				continue;
			v = exporter_var(cp, pp, tz);
		}
		if (v != NULL)
			json_object_set_new(vars, m->var, v);
	}
	return vars;
}
