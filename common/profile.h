/*
 * common/profile.h: the profile model, its msgpack form in the store, its
 * canonical JSON form, and the import rules that change it.
 *
 * A profile is an id, created/updated times, and properties sorted by name,
 * each a typed list of values (one for a single-valued property).  A
 * profile merged into another is kept as a redirect: redirect != 0 and no
 * properties.  It also carries its data exchange marks: the names
 * (conn \x1f goal) of the goals that changed it, each once, which count it
 * among the goal's unique profiles (writer.c, apply_exchange); a redirect
 * keeps the loser's, so a re-laning counts the same ids.
 *
 * Ownership: every pointer inside a struct profile (props, names, values)
 * lives in the struct arena given to the function that filled it, or in the
 * caller's memory (values handed to profile_rule_apply are referenced, not
 * copied, when they come from a message batch that outlives the profile).
 * Nothing points into LMDB memory.
 */
#ifndef SAILSYNC_PROFILE_H
#define SAILSYNC_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "val.h"

#define PROFILE_MAX_PROPS	4096
#define PROFILE_MAX_VALS	4096	/* values of one property */
#define PROFILE_ID_HEX		17	/* 16 hex digits and NUL */
#define PROFILE_MAX_MARKS	4096	/* exchange marks of one profile */

struct profile_prop {
	struct str	 name;
	enum val_type	 type;		/* of every value */
	uint8_t		 multi;
	uint32_t	 nvals;
	struct val	*vals;
};

struct profile {
	uint64_t	 id;
	uint64_t	 redirect;	/* != 0: merged into this id */
	int64_t		 created;	/* ms since the epoch */
	int64_t		 updated;
	uint32_t	 nprops;
	uint32_t	 cap;
	struct profile_prop *props;	/* sorted bytewise by name */
	uint32_t	 nmarks;
	struct str	*marks;		/* conn \x1f goal, in the order added */
};

/* Empties p (no allocation). */
void	 profile_init(struct profile *p);

/* The property named name, or NULL. */
struct profile_prop *profile_prop_find(const struct profile *p, const char *name, size_t len);
/*
 * The property named name, added (empty, with type and multi) if missing;
 * its name is copied into a.
 */
struct profile_prop *profile_prop_get(struct profile *p, struct arena *a,
	    const char *name, size_t len, enum val_type type, int multi);
/* Removes the property named name if present. */
void	 profile_prop_del(struct profile *p, const char *name, size_t len);

/* 1 when p carries the exchange mark name (conn \x1f goal). */
int	 profile_mark_has(const struct profile *p, const char *name, size_t len);
/*
 * Adds the exchange mark name to p: a new array from a (p's may be shared
 * with the profile it was copied from) and name referenced, not copied.
 * Returns 0, or -1 when p holds PROFILE_MAX_MARKS already.
 */
int	 profile_mark_add(struct profile *p, struct arena *a, const char *name, size_t len);
/* 1 when the two values are the same type and value (text bytewise). */
int	 val_equal(const struct val *a, const struct val *b);
/*
 * 1 when the profiles hold the same properties and values (ids, times and
 * exchange marks ignored).
 */
int	 profile_equal(const struct profile *a, const struct profile *b);

/*
 * Appends the msgpack form of p to out.  Returns 0, or -1 when out's cap
 * is reached.
 */
int	 profile_encode(const struct profile *p, struct buf *out);
/*
 * Decodes p from data..data+len, copying every string into a.  Returns 0,
 * or -1 with a reason in err when the bytes are not a profile.
 */
int	 profile_decode(const void *data, size_t len, struct profile *p,
	    struct arena *a, char *err, size_t errlen);

/*
 * Appends the canonical JSON line (no newline) of p to out: keys sorted,
 * {"created":ISO,"id":HEX,"properties":{...},"updated":ISO}; with
 * with_ids == 0 only {"properties":{...}}.  Single-valued properties are
 * scalars, multi-valued ones arrays.  Returns 0, or -1 at out's cap.
 */
int	 profile_json(const struct profile *p, int with_ids, struct buf *out);
/*
 * Appends the names of the properties that differ between before and
 * after, in a NUL-free text form: "+LEN:NAME" for one after holds with
 * other values (or before had not: before NULL, every property), "-LEN:NAME"
 * for one after lost.  Cheap (no value is formatted): the writer keeps it
 * per changed profile and formats only the last five, at commit.  Returns
 * 0, or -1 at out's cap.
 */
int	 profile_diff_names(const struct profile *before, const struct profile *after,
	    struct buf *out);
/* Appends "LEN:" and the n bytes at p.  0 or -1 at out's cap. */
int	 profile_put_counted(struct buf *out, const char *p, size_t n);
/* Appends "name":value of one property, as in profile_json.  0 or -1 at the cap. */
int	 profile_prop_json(const struct profile_prop *pp, struct buf *out);
/* Appends the JSON form of one value. */
int	 val_json(const struct val *v, struct buf *out);
/* Appends s (len bytes) as a JSON string.  Returns 0, or -1 at out's cap. */
int	 val_json_str(struct buf *out, const char *s, size_t len);
/* 16 lowercase hex digits into out (PROFILE_ID_HEX bytes); returns out. */
char	*profile_id_fmt(uint64_t id, char *out);
/* Parses 16 hex digits (case-insensitive); returns -1 if not an id. */
int	 profile_id_parse(const char *s, uint64_t *id);

/* Outcome of profile_rule_apply. */
#define PROFILE_RULE_OK		0	/* applied (possibly without change) */
#define PROFILE_RULE_TYPE	1	/* values of another type: op dropped */
#define PROFILE_RULE_NAN	2	/* sum on a property that is not a number */
#define PROFILE_RULE_OVERFLOW	3	/* sum left the int64 range: op dropped */
#define PROFILE_RULE_FULL	4	/* PROFILE_MAX_VALS reached: op dropped */

/*
 * Applies one rule (enum map_rule: set, set_if_empty, add, sum) with the
 * values vals[0..n) of type type to property name of p:
 *   set		replaces the values (an empty list removes the property);
 *   set_if_empty	sets only when the property has no value;
 *   add		appends each value not already present (a single-valued
 *			property is replaced instead, it can hold one value);
 *   sum		adds the number (number or decimal) to the current one,
 *			0 when empty; an int64 overflow drops the op.
 * A single-valued property keeps the last of several values.  New arrays
 * come from a; values are referenced (text bytes are not copied) so they
 * must outlive p's use.  Returns PROFILE_RULE_*; p is unchanged unless OK.
 */
int	 profile_rule_apply(struct profile *p, struct arena *a, int rule,
	    const char *name, size_t len, enum val_type type, int multi,
	    const struct val *vals, uint32_t n);

/*
 * Folds loser into survivor for a merge: a multi-valued property gets the
 * union (survivor's values first); a single-valued one keeps the
 * survivor's value and is filled from the loser when empty.
 */
void	 profile_merge(struct profile *survivor, const struct profile *loser,
	    struct arena *a);

/* 1 when property name of p holds a text value equal to one of want[]. */
int	 profile_has_text(const struct profile *p, const char *name,
	    char *const *want, size_t nwant);

#endif
