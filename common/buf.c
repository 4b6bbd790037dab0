/* common/buf.c: owns capped growable buffers and bump arenas. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

static int
buf_reserve(struct buf *b, size_t n)
{
	size_t	 need, cap;
	char	*p;

	if (n > b->max || b->len > b->max - n) {
		errno = E2BIG;
		return -1;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	if ((p = realloc(b->data, cap)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

unsigned char *
buf_room(struct buf *b, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return NULL;
	return (unsigned char *)b->data + b->len;
}

void
buf_added(struct buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_sink_write(void *sink, const char *p, size_t len)
{
	struct buf_sink *o = sink;

	if (o->err || buf_add(o->b, p, len) == -1) {
		o->err = 1;
		return -1;
	}
	return 0;
}

char *
xstrndup(const char *p, size_t n)
{
	char	*r = malloc(n + 1);

	if (r == NULL)
		fatal_oom("buf");
	if (n)
		memcpy(r, p, n);
	r[n] = '\0';
	return r;
}

char *
xstrdup(const char *s)
{
	return s ? xstrndup(s, strlen(s)) : NULL;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_clear(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}

char *
buf_detach(struct buf *b, size_t *len)
{
	char	*p = b->data;

	if (p == NULL && (p = calloc(1, 1)) == NULL)
		fatal_oom("buf");
	if (len)
		*len = b->len;
	buf_init(b, b->max);
	return p;
}

struct arena_chunk {
	struct arena_chunk *next;
	size_t	 used, size;
	_Alignas(16) unsigned char mem[];
};

#define ARENA_CHUNK	(64u << 10)
#define ARENA_CACHE	128

/*
 * Standard-size chunks freed by arena_clear are kept for the next batch:
 * a stage decodes and frees a batch every millisecond, and handing the
 * chunks back to malloc made it fault fresh pages in each time.  The
 * writer decodes in one thread and frees in another (writer_serve.c), so
 * the cache is shared under a lock, taken once per 64 KiB chunk handed
 * out and once per arena cleared.  128 chunks (8 MiB) hold the writer's
 * batches in flight (its queue of decoded batches, the one being
 * applied), which 32 did not.
 */
static struct arena_chunk *arena_cache[ARENA_CACHE];
static int arena_ncache;
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

static struct arena_chunk *
arena_cached(void)
{
	struct arena_chunk *c = NULL;

	pthread_mutex_lock(&arena_lock);
	if (arena_ncache > 0)
		c = arena_cache[--arena_ncache];
	pthread_mutex_unlock(&arena_lock);
	return c;
}

void
arena_init(struct arena *a)
{
	a->head = NULL;
	a->total = 0;
}

void *
arena_take(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	size_t	 size;
	void	*p;

	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if (c == NULL || c->size - c->used < n) {
		size = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
		if ((size != ARENA_CHUNK || (c = arena_cached()) == NULL) &&
		    (c = malloc(sizeof(*c) + size)) == NULL)
			fatal_oom("arena");
		c->used = 0;
		c->size = size;
		/* A large allocation gets its own chunk behind the current one. */
		if (a->head && size != ARENA_CHUNK) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
		a->total += size;
	}
	p = c->mem + c->used;
	c->used += n;
	return p;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	void	*p = arena_take(a, n);

	memset(p, 0, n);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	/* Every byte is written below: no clearing first. */
	char	*p = arena_take(a, n + 1);

	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
arena_clear(struct arena *a)
{
	struct arena_chunk *c, *next;

	pthread_mutex_lock(&arena_lock);
	for (c = a->head; c; c = next) {
		next = c->next;
		if (c->size == ARENA_CHUNK && arena_ncache < ARENA_CACHE) {
			arena_cache[arena_ncache++] = c;
			c = NULL;
		}
		free(c);
	}
	pthread_mutex_unlock(&arena_lock);
	arena_init(a);
}
