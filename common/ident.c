/* common/ident.c: how identifier values are compared and routed to lanes. */
#include <string.h>

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
