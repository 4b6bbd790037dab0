/* common/val.c: names of value types, what counts as valid text, and length-counted strings. */
#include <string.h>

#include "buf.h"
#include "val.h"

static const char *val_names[] = {
	[VAL_NIL] = "nil", [VAL_TEXT] = "text", [VAL_NUMBER] = "number",
	[VAL_DECIMAL] = "decimal", [VAL_DATETIME] = "datetime", [VAL_BOOL] = "boolean",
};

const char *
val_type_name(enum val_type t)
{
	if ((unsigned)t >= sizeof(val_names) / sizeof(val_names[0]))
		return NULL;
	return val_names[t];
}

int
val_type_parse(const char *name, enum val_type *out)
{
	for (unsigned i = VAL_TEXT; i <= VAL_BOOL; i++) {
		if (strcmp(name, val_names[i]) == 0) {
			*out = (enum val_type)i;
			return 0;
		}
	}
	return -1;
}

int
val_text_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len;

	while (p < e) {
		unsigned c = *p, n, min, cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1; min = 0x80; cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2; min = 0x800; cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; min = 0x10000; cp = c & 0x07;
		} else
			return 0;	/* continuation byte, 0xc0/0xc1, 0xf5.. */
		if ((size_t)(e - p) <= n)
			return 0;
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

struct str
str_c(const char *s)
{
	struct str	 r = { "", 0 };
	size_t		 n;

	if (s != NULL) {
		n = strlen(s);
		r.p = s;
		r.len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	}
	return r;
}

struct str
str_dup(struct arena *a, struct str s)
{
	struct str	 r;

	r.p = arena_strndup(a, s.p ? s.p : "", s.len);
	r.len = s.len;
	return r;
}

int
str_eq(struct str a, const char *s)
{
	size_t	 n = s ? strlen(s) : 0;

	return a.len == n && (n == 0 || memcmp(a.p, s, n) == 0);
}
