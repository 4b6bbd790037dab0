/* tests/unit/t_buf.c: capped buffers and bump arenas. */
#include <errno.h>

#include "tap.h"
#include "buf.h"

static void
test_buf(void)
{
	struct buf	 b;
	char		*p;
	size_t		 len;
	int		 rc;

	buf_init(&b, 10);
	ok(b.data == NULL && b.len == 0, "a new buf holds nothing");
	is_int(buf_add(&b, "hello", 5), 0, "add 5");
	is_int(buf_addstr(&b, "world"), 0, "add 5 more: exactly the max");
	is_int(b.len, 10, "len 10");
	is_str(b.data, "helloworld", "bytes, NUL-terminated");
	errno = 0;
	rc = buf_add(&b, "!", 1);
	ok(rc == -1 && errno == E2BIG, "one past the max: E2BIG");
	is_str(b.data, "helloworld", "and the buf is unchanged");
	errno = 0;
	ok(buf_add(&b, "x", (size_t)-1) == -1 && errno == E2BIG, "a size_t-max add: E2BIG");
	is_int(buf_add(&b, "", 0), 0, "adding nothing at the max is fine");

	buf_reset(&b);
	ok(b.len == 0 && b.data[0] == '\0', "reset empties, keeps memory");
	is_int(buf_printf(&b, "%d-%s", 42, "ab"), 0, "printf");
	is_str(b.data, "42-ab", "printf output");
	is_int(buf_printf(&b, "%s", "12345"), 0, "printf appends up to the max");
	is_str(b.data, "42-ab12345", "appended");
	errno = 0;
	ok(buf_printf(&b, "%c", 'z') == -1 && errno == E2BIG, "printf past the max: E2BIG");
	is_str(b.data, "42-ab12345", "unchanged");

	p = buf_detach(&b, &len);
	is_str(p, "42-ab12345", "detach hands over the bytes");
	is_int(len, 10, "and their length");
	ok(b.data == NULL && b.len == 0 && b.max == 10, "the buf is empty, same max");
	free(p);
	p = buf_detach(&b, &len);
	ok(p != NULL && p[0] == '\0' && len == 0, "detach of an empty buf gives \"\"");
	free(p);

	/* Growth across many reallocations keeps the content. */
	buf_init(&b, 1 << 20);
	for (int i = 0; i < 100000; i++)
		buf_add(&b, "0123456789", i % 10 + 1);
	is_int(b.len, 550000, "100000 adds of 1..10 bytes");
	ok(b.data[b.len] == '\0' && memcmp(b.data + b.len - 10, "0123456789", 10) == 0,
	    "the tail is right");
	buf_clear(&b);
	ok(b.data == NULL && b.len == 0 && b.max == 1 << 20, "clear frees, keeps the max");
	buf_clear(&b);
}

static void
test_arena(void)
{
	struct arena	 a;
	unsigned char	*p, *big;
	char		*s;
	int		 misaligned = 0, dirty = 0;

	arena_init(&a);
	for (size_t n = 0; n < 3000; n++) {
		p = arena_alloc(&a, n % 37);
		if ((uintptr_t)p % 16 != 0)
			misaligned++;
		for (size_t i = 0; i < n % 37; i++)
			dirty += p[i] != 0;
		memset(p, 0xaa, n % 37);
	}
	is_int(misaligned, 0, "every allocation is 16-byte aligned");
	is_int(dirty, 0, "and zeroed");

	/* Larger than a chunk: its own chunk, the current one stays in use. */
	p = arena_alloc(&a, 8);
	big = arena_alloc(&a, 10 << 20);
	ok(big != NULL && (uintptr_t)big % 16 == 0, "10 MiB allocation, aligned");
	ok(big[0] == 0 && big[(10 << 20) - 1] == 0, "zeroed");
	memset(big, 0x55, 10 << 20);
	s = arena_strndup(&a, "abcdef", 3);
	is_str(s, "abc", "strndup copies n bytes and terminates");
	ok(s > (char *)p && s - (char *)p < 1024, "small allocations continue the current chunk");
	s = arena_strndup(&a, NULL, 0);
	is_str(s, "", "strndup of nothing");
	ok(a.total >= (10u << 20), "total counts the big chunk (%zu)", a.total);
	arena_clear(&a);
	ok(a.head == NULL && a.total == 0, "clear frees everything");
	p = arena_alloc(&a, 1);
	ok(p != NULL, "usable again after clear");
	arena_clear(&a);
}

int
main(void)
{
	test_buf();
	test_arena();
	return done_testing();
}
