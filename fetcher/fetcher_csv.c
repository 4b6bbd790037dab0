/* fetcher/fetcher_csv.c: reads spools (CSV via libcsv, JSON lines) row by row in bounded chunks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <csv.h>

#include "buf.h"
#include "fetcher.h"
#include "log.h"

/*
 * libcsv pushes fields and record ends through callbacks while we feed it
 * chunks; fetcher_src_next() pulls.  Records finished by one chunk wait in
 * a queue, so at most about one chunk's worth of records is held at once.
 */
struct src_record {
	struct src_record	*next;
	uint64_t	 line;
	uint32_t	 nfields;
	const char	*skip;
	char		 detail[96];
	struct str	*fields;	/* into the same allocation */
};

struct fetcher_src {
	FILE		*fp;
	int		 format;
	size_t		 chunk;
	char		*rbuf;		/* chunk buffer */
	uint64_t	 offset;
	int		 eof;		/* file fully read (and the parser finished) */
	int		 bom_checked;
	char		 pend[3];	/* read ahead to look for a BOM */
	size_t		 npend, ppos;
	char		 error[256];
	/* CSV */
	struct csv_parser parser;
	int		 parser_init;
	struct buf	 cur;		/* fields of the record being parsed: [u32 len][bytes][NUL] */
	uint32_t	 cur_n;
	int		 cur_big;	/* a field or the record is over the cap */
	uint64_t	 records;	/* records seen, header included */
	struct src_record	*qhead, *qtail;
	struct src_record	*out;		/* the row last handed out */
	int		 have_header;
	uint32_t	 nhdr;		/* fields in the header, duplicates included */
	uint8_t		*keep;		/* nhdr flags: column kept (first of its name) */
	uint32_t	 ncols;
	struct str	*cols;
	char		*colmem;
	struct str	*rowvals;	/* ncols, for the row handed out */
	/* JSON lines */
	struct buf	 line;
	size_t		 rpos, rlen;	/* unconsumed part of rbuf */
	uint64_t	 lineno;
	int		 line_big;
	struct str	 jcol;
	struct str	 jval;
};

static void
csv_cb_field(void *p, size_t len, void *arg)
{
	struct fetcher_src *s = arg;
	uint32_t	 l = (uint32_t)len;

	if (s->cur_big)
		return;
	if (len > FETCHER_FIELD_MAX || s->cur_n >= MSG_MAX_FIELDS ||
	    s->cur.len + len + 5 > FETCHER_ROW_MAX) {
		s->cur_big = 1;
		return;
	}
	if (buf_add(&s->cur, &l, sizeof(l)) == -1 ||
	    buf_add(&s->cur, p ? p : "", len) == -1 ||
	    buf_add(&s->cur, "", 1) == -1) {
		s->cur_big = 1;
		return;
	}
	s->cur_n++;
}

/* Only the record terminator matters; c is -1 at the end of the file. */
static void
csv_cb_record(int c, void *arg)
{
	struct fetcher_src *s = arg;
	struct src_record	*r;
	size_t		 sz;
	char		*mem;
	const char	*p;

	(void)c;
	s->records++;
	sz = sizeof(*r) + (size_t)s->cur_n * sizeof(struct str) + s->cur.len;
	if ((r = calloc(1, sz)) == NULL)
		fatal_oom("fetcher_csv");
	r->line = s->records;
	r->fields = (struct str *)(r + 1);
	mem = (char *)(r->fields + s->cur_n);
	if (s->cur_big) {
		r->skip = "row_too_large";
		snprintf(r->detail, sizeof(r->detail),
		    "field_max=%u row_max=%u field_count_max=%u",
		    FETCHER_FIELD_MAX, FETCHER_ROW_MAX, MSG_MAX_FIELDS);
	} else {
		if (s->cur.len)
			memcpy(mem, s->cur.data, s->cur.len);
		p = mem;
		for (uint32_t i = 0; i < s->cur_n; i++) {
			uint32_t l;

			memcpy(&l, p, sizeof(l));
			r->fields[i].p = p + sizeof(l);
			r->fields[i].len = l;
			p += sizeof(l) + l + 1;
		}
		r->nfields = s->cur_n;
	}
	buf_reset(&s->cur);
	s->cur_n = 0;
	s->cur_big = 0;
	if (s->qtail)
		s->qtail->next = r;
	else
		s->qhead = r;
	s->qtail = r;
}

/*
 * libcsv grows its field buffer by a fixed block per call; behind a
 * realloc that copies (as under a sanitizer) a long field then costs
 * quadratic time.  These hand it blocks that double instead, with the
 * capacity kept in a header in front.
 */
#define CSV_HDR	16

static void *
csv_grow(void *p, size_t n)
{
	char	*b = p ? (char *)p - CSV_HDR : NULL;
	size_t	 cap = 0, want;

	if (b)
		memcpy(&cap, b, sizeof(cap));
	if (n <= cap)
		return p;
	want = cap * 2 > n ? cap * 2 : n;
	if ((b = realloc(b, want + CSV_HDR)) == NULL)
		return NULL;
	memcpy(b, &want, sizeof(want));
	return b + CSV_HDR;
}

static void
csv_release(void *p)
{
	if (p)
		free((char *)p - CSV_HDR);
}

/* Keep values as they are: no trimming of spaces around unquoted fields. */
static int
csv_no_space(unsigned char c)
{
	(void)c;
	return 0;
}

/*
 * 1 when the parser is inside a quoted field that has not seen its closing
 * quote: libcsv's FIELD_BEGUN state (2, private to libcsv.c, stable since
 * 3.0) with the field marked quoted.  After the closing quote the state is
 * FIELD_MIGHT_HAVE_ENDED instead.
 */
static int
csv_quote_open(const struct csv_parser *p)
{
	return p->quoted && p->pstate == 2;
}

/*
 * Reads up to n bytes; strips a UTF-8 byte order mark at the very start.
 * The first 3 bytes are read ahead (whatever the chunk size) to see it.
 */
static size_t
src_read(struct fetcher_src *s, char *p, size_t n)
{
	size_t	 got, m;

	if (!s->bom_checked) {
		s->bom_checked = 1;
		while (s->npend < 3 && (m = fread(s->pend + s->npend, 1,
		    3 - s->npend, s->fp)) > 0)
			s->npend += m;
		s->offset += s->npend;
		if (s->npend == 3 && memcmp(s->pend, "\xef\xbb\xbf", 3) == 0)
			s->npend = 0;
	}
	if (s->ppos < s->npend) {
		got = s->npend - s->ppos < n ? s->npend - s->ppos : n;
		memcpy(p, s->pend + s->ppos, got);
		s->ppos += got;
		return got;
	}
	got = fread(p, 1, n, s->fp);
	s->offset += got;
	return got;
}

/* Parses chunks until a record is queued or the file ends.  -1 on error. */
static int
csv_fill(struct fetcher_src *s)
{
	size_t	 n;

	while (s->qhead == NULL && !s->eof) {
		n = src_read(s, s->rbuf, s->chunk);
		if (n == 0) {
			if (ferror(s->fp)) {
				snprintf(s->error, sizeof(s->error), "read: %s",
				    strerror(errno));
				return -1;
			}
			s->eof = 1;
			/*
			 * A quote still open at the end of the file: csv_fini
			 * would close it there, and the rows after the stray
			 * quote would become one field of one row.  libcsv's
			 * own check (CSV_STRICT_FINI) only works in CSV_STRICT
			 * mode, which also refuses the stray quotes inside
			 * unquoted fields that real exports carry, so the
			 * parser's state is read here instead.
			 */
			if (csv_quote_open(&s->parser)) {
				snprintf(s->error, sizeof(s->error),
				    "record %llu: a quoted field is still open at the "
				    "end of the file (unterminated quote)",
				    (unsigned long long)s->records + 1);
				return -1;
			}
			csv_fini(&s->parser, csv_cb_field, csv_cb_record, s);
			break;
		}
		if (csv_parse(&s->parser, s->rbuf, n, csv_cb_field, csv_cb_record,
		    s) != n) {
			snprintf(s->error, sizeof(s->error), "record %llu: %s",
			    (unsigned long long)s->records + 1,
			    csv_strerror(csv_error(&s->parser)));
			return -1;
		}
		/* An unterminated quote makes libcsv buffer the rest of the file. */
		if (csv_get_buffer_size(&s->parser) > FETCHER_PARSE_MAX) {
			snprintf(s->error, sizeof(s->error),
			    "record %llu: a field runs past %u bytes (unterminated quote?)",
			    (unsigned long long)s->records + 1, FETCHER_PARSE_MAX);
			return -1;
		}
	}
	return 0;
}

static struct src_record *
rec_pop(struct fetcher_src *s)
{
	struct src_record *r = s->qhead;

	if (r) {
		s->qhead = r->next;
		if (s->qhead == NULL)
			s->qtail = NULL;
	}
	return r;
}

/* A record that is nothing but white space: a blank line, not a row. */
static int
rec_blank(const struct src_record *r)
{
	if (r->skip || r->nfields != 1)
		return 0;
	for (uint32_t i = 0; i < r->fields[0].len; i++)
		if (r->fields[0].p[i] != ' ' && r->fields[0].p[i] != '\t' &&
		    r->fields[0].p[i] != '\r')
			return 0;
	return 1;
}

static int
csv_header(struct fetcher_src *s)
{
	struct src_record	*r;
	size_t		 mem = 0;
	char		*p;

	for (;;) {
		if (csv_fill(s) == -1)
			return -1;
		if ((r = rec_pop(s)) == NULL)
			return 0;	/* empty file: no columns, no rows */
		if (!rec_blank(r))
			break;
		free(r);
	}
	if (r->skip) {
		snprintf(s->error, sizeof(s->error), "header: too large (%s)",
		    r->detail);
		free(r);
		return -1;
	}
	s->nhdr = r->nfields;
	s->keep = calloc(s->nhdr ? s->nhdr : 1, 1);
	s->cols = calloc(s->nhdr ? s->nhdr : 1, sizeof(*s->cols));
	s->rowvals = calloc(s->nhdr ? s->nhdr : 1, sizeof(*s->rowvals));
	for (uint32_t i = 0; i < r->nfields; i++)
		mem += r->fields[i].len + 1;
	s->colmem = malloc(mem + 1);
	if (!s->keep || !s->cols || !s->rowvals || !s->colmem)
		fatal_oom("fetcher_csv");
	p = s->colmem;
	for (uint32_t i = 0; i < r->nfields; i++) {
		int dup = 0;

		for (uint32_t j = 0; j < s->ncols && !dup; j++)
			dup = s->cols[j].len == r->fields[i].len &&
			    memcmp(s->cols[j].p, r->fields[i].p, r->fields[i].len) == 0;
		if (dup)
			continue;
		s->keep[i] = 1;
		memcpy(p, r->fields[i].p, r->fields[i].len + 1);
		s->cols[s->ncols].p = p;
		s->cols[s->ncols].len = r->fields[i].len;
		s->ncols++;
		p += r->fields[i].len + 1;
	}
	s->have_header = 1;
	free(r);
	return 0;
}

static int
csv_next(struct fetcher_src *s, struct fetcher_row *row)
{
	struct src_record	*r;

	free(s->out);
	s->out = NULL;
	for (;;) {
		if (csv_fill(s) == -1)
			return FETCHER_ERR;
		if ((r = rec_pop(s)) == NULL)
			return FETCHER_END;
		if (rec_blank(r) && s->nhdr != 1) {
			free(r);
			continue;
		}
		break;
	}
	s->out = r;
	row->line = r->line;
	row->skip = NULL;
	row->detail[0] = '\0';
	row->nvals = 0;
	row->vals = NULL;
	if (r->skip) {
		row->skip = r->skip;
		snprintf(row->detail, sizeof(row->detail), "%s", r->detail);
		return FETCHER_SKIP;
	}
	if (r->nfields != s->nhdr) {
		row->skip = "ragged_row";
		snprintf(row->detail, sizeof(row->detail), "fields=%u expected=%u",
		    r->nfields, s->nhdr);
		return FETCHER_SKIP;
	}
	for (uint32_t i = 0, o = 0; i < r->nfields; i++)
		if (s->keep[i])
			s->rowvals[o++] = r->fields[i];
	row->nvals = s->ncols;
	row->vals = s->rowvals;
	return FETCHER_ROW;
}

/*
 * JSON lines: one row per non-blank line.  A line longer than
 * FETCHER_LINE_MAX is consumed without being held and reported as a skip.
 */
static int
jsonl_next(struct fetcher_src *s, struct fetcher_row *row)
{
	for (;;) {
		char	*nl;
		size_t	 n;
		int	 end = 0;

		if (s->rpos == s->rlen) {
			if (s->eof)
				return FETCHER_END;
			s->rpos = 0;
			s->rlen = src_read(s, s->rbuf, s->chunk);
			if (s->rlen == 0) {
				if (ferror(s->fp)) {
					snprintf(s->error, sizeof(s->error),
					    "read: %s", strerror(errno));
					return FETCHER_ERR;
				}
				s->eof = 1;
				if (s->line.len == 0 && !s->line_big)
					return FETCHER_END;
				end = 1;	/* a last line without a newline */
			}
		}
		if (!end) {
			nl = memchr(s->rbuf + s->rpos, '\n', s->rlen - s->rpos);
			n = nl ? (size_t)(nl - (s->rbuf + s->rpos)) : s->rlen - s->rpos;
			if (!s->line_big && s->line.len + n > FETCHER_LINE_MAX) {
				s->line_big = 1;
				buf_reset(&s->line);
			}
			if (!s->line_big && buf_add(&s->line, s->rbuf + s->rpos, n) == -1)
				fatal_oom("fetcher_csv");
			s->rpos += n;
			if (nl == NULL)
				continue;
			s->rpos++;	/* the newline */
		}
		s->lineno++;
		row->line = s->lineno;
		row->skip = NULL;
		row->detail[0] = '\0';
		if (s->line_big) {
			s->line_big = 0;
			buf_reset(&s->line);
			row->skip = "line_too_long";
			snprintf(row->detail, sizeof(row->detail), "max=%u",
			    FETCHER_LINE_MAX);
			return FETCHER_SKIP;
		}
		while (s->line.len > 0 && (s->line.data[s->line.len - 1] == '\r' ||
		    s->line.data[s->line.len - 1] == ' ' ||
		    s->line.data[s->line.len - 1] == '\t'))
			s->line.data[--s->line.len] = '\0';
		n = 0;
		while (n < s->line.len && (s->line.data[n] == ' ' ||
		    s->line.data[n] == '\t'))
			n++;
		if (n == s->line.len) {
			buf_reset(&s->line);
			continue;
		}
		/* The row points into line until the next call resets it. */
		s->jval.p = s->line.data + n;
		s->jval.len = (uint32_t)(s->line.len - n);
		row->nvals = 1;
		row->vals = &s->jval;
		s->line.len = 0;	/* keep the bytes; reset on the next line */
		return FETCHER_ROW;
	}
}

struct fetcher_src *
fetcher_src_open(const char *path, int format, size_t chunk, char *err, size_t errlen)
{
	struct fetcher_src *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal_oom("fetcher_csv");
	s->format = format;
	s->chunk = chunk ? chunk : FETCHER_CHUNK;
	buf_init(&s->cur, FETCHER_ROW_MAX + 64);
	buf_init(&s->line, FETCHER_LINE_MAX + 64);
	if ((s->rbuf = malloc(s->chunk)) == NULL)
		fatal_oom("fetcher_csv");
	if ((s->fp = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		fetcher_src_close(&s);
		return NULL;
	}
	if (format == FMT_JSONL) {
		s->jcol.p = "json";
		s->jcol.len = 4;
		s->ncols = 1;
		s->cols = &s->jcol;
		return s;
	}
	if (csv_init(&s->parser, CSV_APPEND_NULL) != 0)
		fatal_oom("fetcher_csv");
	s->parser_init = 1;
	csv_set_space_func(&s->parser, csv_no_space);
	csv_set_realloc_func(&s->parser, csv_grow);
	csv_set_free_func(&s->parser, csv_release);
	if (csv_header(s) == -1) {
		snprintf(err, errlen, "%s: %s", path, s->error);
		fetcher_src_close(&s);
		return NULL;
	}
	return s;
}

uint32_t
fetcher_src_ncols(const struct fetcher_src *s)
{
	return s->ncols;
}

const struct str *
fetcher_src_cols(const struct fetcher_src *s)
{
	return s->cols;
}

int
fetcher_src_next(struct fetcher_src *s, struct fetcher_row *row)
{
	memset(row, 0, sizeof(*row));
	if (s->format == FMT_JSONL) {
		/* The previous row's bytes are no longer needed. */
		buf_reset(&s->line);
		return jsonl_next(s, row);
	}
	if (!s->have_header)
		return FETCHER_END;
	return csv_next(s, row);
}

const char *
fetcher_src_error(const struct fetcher_src *s)
{
	return s->error;
}

uint64_t
fetcher_src_offset(const struct fetcher_src *s)
{
	return s->offset;
}

void
fetcher_src_close(struct fetcher_src **sp)
{
	struct fetcher_src *s = *sp;
	struct src_record	*r;

	if (s == NULL)
		return;
	if (s->fp)
		fclose(s->fp);
	if (s->parser_init)
		csv_free(&s->parser);
	while ((r = rec_pop(s)) != NULL)
		free(r);
	free(s->out);
	free(s->rbuf);
	free(s->keep);
	if (s->format != FMT_JSONL)
		free(s->cols);
	free(s->colmem);
	free(s->rowvals);
	buf_clear(&s->cur);
	buf_clear(&s->line);
	free(s);
	*sp = NULL;
}
