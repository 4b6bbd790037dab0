/* common/ident.c: how identifier values are compared and routed to lanes, and a row's link value. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ident.h"

static int
ident_is_email(const char *prop)
{
	size_t	 n = strlen(prop);

	return n >= 5 && strcmp(prop + n - 5, "email") == 0;
}

size_t
ident_normalize(const char *prop, const char *v, size_t len, char *out, size_t outlen)
{
	int	 lower = ident_is_email(prop);

	while (len && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' ||
	    v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	if (len >= outlen)
		return (size_t)-1;
	for (size_t i = 0; i < len; i++)
		out[i] = lower && v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] + 32) : v[i];
	out[len] = '\0';
	return len;
}

unsigned
ident_lane(const char *norm, size_t len, unsigned nlanes)
{
	uint64_t h = 1469598103934665603ULL;

	if (nlanes <= 1)
		return 0;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)norm[i];
		h *= 1099511628211ULL;
	}
	return (unsigned)(h % nlanes);
}

int
ident_column_find(const struct str *cols, uint32_t ncols, const char *name)
{
	size_t	 n = strlen(name);

	for (uint32_t i = 0; i < ncols; i++)
		if (cols[i].len == n && memcmp(cols[i].p, name, n) == 0)
			return (int)i;
	return -1;
}

size_t
ident_link_csv(const char *prop, const struct str *vals, uint32_t nvals, int col,
    char *out, size_t outlen)
{
	size_t	 n;

	if (col < 0 || (uint32_t)col >= nvals)
		return 0;
	n = ident_normalize(prop, vals[col].p, vals[col].len, out, outlen);
	return n == (size_t)-1 ? 0 : n;
}

size_t
ident_link_json(const char *prop, const char *column, const char *row, size_t len,
    char *out, size_t outlen)
{
	json_t	*o, *v;
	char	 num[32];
	size_t	 n = 0;

	if (column == NULL || len == 0 ||
	    (o = json_loadb(row, len, JSON_DECODE_ANY, NULL)) == NULL)
		return 0;
	v = json_is_object(o) ? json_object_get(o, column) : NULL;
	if (json_is_array(v))
		v = json_array_get(v, 0);
	if (json_is_string(v))
		n = ident_normalize(prop, json_string_value(v), json_string_length(v), out,
		    outlen);
	else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		n = ident_normalize(prop, num, strlen(num), out, outlen);
	}
	json_decref(o);
	return n == (size_t)-1 ? 0 : n;
}
