/* mapper/mapper_conv.c: converts source text to typed values, without locale. */
#define _GNU_SOURCE		/* strtod_l: glibc declares it only under _GNU_SOURCE */
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "mapper.h"
#include "timefmt.h"

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
trim(const char **p, size_t *len)
{
	while (*len && is_space(**p)) {
		(*p)++;
		(*len)--;
	}
	while (*len && is_space((*p)[*len - 1]))
		(*len)--;
}

int
map_parse_int(const char *p, size_t len, int64_t *out)
{
	uint64_t	 v = 0, lim;
	size_t		 i = 0, ndig = 0;
	int		 neg = 0;

	trim(&p, &len);
	if (len && (p[0] == '+' || p[0] == '-')) {
		neg = p[0] == '-';
		i++;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, ndig++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (v > (lim - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (ndig == 0)
		return -1;
	/* "12.0" is how spreadsheets and some exports write integers. */
	if (i < len && p[i] == '.') {
		size_t	 z = ++i;

		while (i < len && p[i] == '0')
			i++;
		if (i == z)
			return -1;
	}
	if (i != len)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static const double pow10_exact[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * strtod() reads the decimal point of LC_NUMERIC; a process embedding the
 * mapper may have called setlocale(), so the slow path reads in the C
 * locale explicitly (strtod_l, which changes no thread's locale).  The fast path is exact: a mantissa below 2^53 times
 * an exactly representable power of ten rounds once.
 */
int
map_parse_decimal(const char *p, size_t len, double *out)
{
	static locale_t	 cloc;
	uint64_t	 mant = 0;
	size_t		 i = 0, ndig = 0, nsig = 0;
	int		 neg = 0, exp10 = 0, e = 0, eneg = 0, edig = 0;
	char		 tmp[128];

	trim(&p, &len);
	if (len && (p[0] == '+' || p[0] == '-')) {
		neg = p[0] == '-';
		i++;
	}
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, ndig++) {
		if (mant == 0 && p[i] == '0')
			continue;
		if (nsig < 19)
			mant = mant * 10 + (uint64_t)(p[i] - '0');
		else
			exp10++;
		nsig++;
	}
	if (i < len && p[i] == '.') {
		for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++, ndig++) {
			if (mant == 0 && p[i] == '0') {
				exp10--;
				continue;
			}
			if (nsig < 19) {
				mant = mant * 10 + (uint64_t)(p[i] - '0');
				exp10--;
			}
			nsig++;
		}
	}
	if (ndig == 0)
		return -1;
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < len && (p[i] == '+' || p[i] == '-')) {
			eneg = p[i] == '-';
			i++;
		}
		for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, edig++)
			if (e < 100000)
				e = e * 10 + (p[i] - '0');
		if (edig == 0)
			return -1;
	}
	if (i != len)
		return -1;
	exp10 += eneg ? -e : e;
	if (mant == 0) {
		*out = neg ? -0.0 : 0.0;
		return 0;
	}
	if (nsig <= 15 && mant < (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
		double d = (double)mant;

		d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
		*out = neg ? -d : d;
		return 0;
	}
	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	if (cloc == (locale_t)0 &&
	    (cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0)) == (locale_t)0)
		return -1;
	*out = strtod_l(tmp, NULL, cloc);
	return isinf(*out) ? -1 : 0;
}

static int
word_eq(const char *p, size_t len, const char *w)
{
	size_t	 i;

	for (i = 0; i < len && w[i]; i++) {
		char c = p[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c != w[i])
			return 0;
	}
	return i == len && w[i] == '\0';
}

int
map_parse_bool(const char *p, size_t len, int *out)
{
	static const char *yes[] = { "true", "yes", "t", "1" };
	static const char *no[] = { "false", "no", "f", "0" };

	trim(&p, &len);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (word_eq(p, len, yes[i])) {
			*out = 1;
			return 0;
		}
		if (word_eq(p, len, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
map_conv_text(enum val_type type, int rule, const char *p, size_t len,
    const char *tz, struct arena *a, struct val *out, const char **reason)
{
	const char	*t = p;
	size_t		 tlen = len;

	trim(&t, &tlen);
	if (tlen == 0)
		return 1;
	out->type = type;
	if (rule == RULE_SUM && type != VAL_NUMBER && type != VAL_DECIMAL) {
		*reason = "sum_not_a_number";
		return -1;
	}
	switch (type) {
	case VAL_TEXT:
		/*
		 * A NUL or broken UTF-8 would be stored as it is: a lookup
		 * could not find it and the dump would not be JSON.
		 */
		if (!val_text_valid(p, len)) {
			*reason = "invalid_text";
			return -1;
		}
		out->u.s.p = arena_strndup(a, p, len);
		out->u.s.len = (uint32_t)len;
		return 0;
	case VAL_NUMBER:
		if (map_parse_int(t, tlen, &out->u.i) == 0)
			return 0;
		*reason = rule == RULE_SUM ? "sum_not_a_number" : "invalid_number";
		return -1;
	case VAL_DECIMAL:
		if (map_parse_decimal(t, tlen, &out->u.d) == 0)
			return 0;
		*reason = rule == RULE_SUM ? "sum_not_a_number" : "invalid_decimal";
		return -1;
	case VAL_DATETIME:
		if (time_parse(t, tlen, tz, &out->u.i) == 0)
			return 0;
		*reason = "invalid_datetime";
		return -1;
	case VAL_BOOL:
		if (map_parse_bool(t, tlen, &out->u.b) == 0)
			return 0;
		*reason = "invalid_boolean";
		return -1;
	default:
		*reason = "unknown_type";
		return -1;
	}
}
