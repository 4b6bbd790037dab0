/* common/val.h: typed property values, shared by config, messages and store. */
#ifndef SAILSYNC_VAL_H
#define SAILSYNC_VAL_H

#include <stddef.h>
#include <stdint.h>

enum val_type {
	VAL_NIL = 0,
	VAL_TEXT = 1,
	VAL_NUMBER = 2,		/* int64 */
	VAL_DECIMAL = 3,	/* double */
	VAL_DATETIME = 4,	/* int64 milliseconds since the UNIX epoch, UTC */
	VAL_BOOL = 5,
};

/* A length-counted string; p need not be NUL-terminated. */
struct str {
	const char	*p;
	uint32_t	 len;
};

struct arena;
struct str	 str_c(const char *s);		/* from a C string (may be NULL) */
int		 str_eq(struct str a, const char *s);
/* A NUL-terminated copy of s in a (s.p may be NULL when s.len is 0). */
struct str	 str_dup(struct arena *a, struct str s);

struct val {
	enum val_type	 type;
	union {
		struct str	 s;
		int64_t		 i;	/* NUMBER, DATETIME */
		double		 d;
		int		 b;
	} u;
};

/*
 * 1 when p..p+len is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing past U+10FFFF) without a NUL byte: text that an index key, a
 * lookup typed by a person and a JSON dump all see the same way.  0 if not.
 */
int		 val_text_valid(const char *p, size_t len);

/* "text", "number", ...; NULL for an unknown type. */
const char	*val_type_name(enum val_type t);
/* Returns -1 on an unknown name. */
int		 val_type_parse(const char *name, enum val_type *out);

#endif
