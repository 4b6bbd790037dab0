/* common/buf.h: growable byte buffer with a hard cap, and a bump arena. */
#ifndef SAILSYNC_BUF_H
#define SAILSYNC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char	*data;		/* always NUL-terminated when non-NULL */
	size_t	 len;
	size_t	 cap;
	size_t	 max;		/* a buf never grows past this many bytes */
};

void	 buf_init(struct buf *b, size_t max);
/* Returns 0, or -1 (errno E2BIG past max, ENOMEM) leaving b unchanged. */
int	 buf_add(struct buf *b, const void *p, size_t n);
int	 buf_addstr(struct buf *b, const char *s);
/*
 * For a writer that sizes its output first: room for n more bytes at the
 * end of b, returned to be written (then buf_added(b, n)), or NULL (errno
 * E2BIG past max, ENOMEM) leaving b unchanged.
 */
unsigned char *buf_room(struct buf *b, size_t n);
void	 buf_added(struct buf *b, size_t n);	/* len += n, NUL after */
int	 buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * A write callback over a buf, for serializers that take one (msgpack's
 * packer): appends to sink->b; after a failure (the cap) sets sink->err
 * and refuses everything that follows.
 */
struct buf_sink {
	struct buf	*b;
	int		 err;
};
int	 buf_sink_write(void *sink, const char *p, size_t len);
void	 buf_reset(struct buf *b);	/* len = 0, keeps memory */
void	 buf_clear(struct buf *b);	/* frees, back to buf_init state */
/* Hands the bytes to the caller (free() them); b is left empty. */
char	*buf_detach(struct buf *b, size_t *len);

/*
 * An arena hands out memory that is all freed at once by arena_clear().
 * Used for decoded batches: everything reachable from one batch lives in
 * its arena.  Allocation failure is fatal (out of memory is environment).
 */
struct arena_chunk;
struct arena {
	struct arena_chunk *head;
	size_t	 total;
};
/* A malloc'd NUL-terminated copy of p..p+n; out of memory is fatal. */
char	*xstrndup(const char *p, size_t n);
/* A malloc'd copy of s (NULL gives NULL); out of memory is fatal. */
char	*xstrdup(const char *s);

void	 arena_init(struct arena *a);
void	*arena_alloc(struct arena *a, size_t n);	/* 16-byte aligned, zeroed */
/*
 * Like arena_alloc, not cleared: for memory the caller writes before it
 * reads it (a copy, a string pool, an array filled up to its count).  The
 * writer takes a few of these per record; clearing them was 2% of its CPU.
 */
void	*arena_take(struct arena *a, size_t n);
char	*arena_strndup(struct arena *a, const char *s, size_t n);
void	 arena_clear(struct arena *a);

#endif
