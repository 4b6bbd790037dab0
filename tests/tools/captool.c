/* tests/tools/captool.c: inspects, makes and damages file: captures for replay tests, and records what a stage sends. */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "chan.h"
#include "ident.h"
#include "log.h"
#include "msg.h"
#include "timefmt.h"

static const char usage_text[] =
    "usage: captool count FILE\n"
    "       captool dump FILE\n"
    "       captool links FILE --lanes N\n"
    "       captool cat IN... -o OUT\n"
    "       captool shuffle IN -o OUT --seed N\n"
    "       captool dup IN -o OUT --seed N\n"
    "       captool corrupt IN -o OUT --seed N\n"
    "       captool truncate IN -o OUT --bytes N\n"
    "       captool gen ROWS -o OUT [--batch N] [--cols N] [--lanes N] [--run N]\n"
    "                         [--conn NAME] [--goal NAME] [--list NAME]\n"
    "       captool listen URI -o OUT [--count N] [--ms T]\n"
    "listen binds a PULL socket at URI (ipc:// or tcp://) and records the\n"
    "first N messages (default 1) into OUT, waiting at most T ms (default\n"
    "10000) from the start.\n"
    "Exit: 0 ok, 64 usage, 65 a capture is cut short or a frame is malformed,\n"
    "74 i/o error, 75 listen heard fewer than N messages in time.\n";

static noreturn void
usage(void)
{
	fputs(usage_text, stderr);
	exit(EX_USAGE);
}

static uint64_t rng_state;

/* splitmix64: small, and the same sequence for the same --seed everywhere. */
static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Options after the command: -o OUT, --seed, --bytes, ... ; the rest are args. */
struct opts {
	const char	*out;
	const char	*conn, *goal, *list;
	uint64_t	 seed, bytes, batch, cols, lanes, run, count, ms;
	int		 have_seed, have_bytes;
	int		 nargs;
	char		**args;
};

static uint64_t
num(const char *s)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0) {
		fprintf(stderr, "captool: not a number: %s\n", s);
		exit(EX_USAGE);
	}
	return v;
}

static void
parse(int argc, char **argv, struct opts *o)
{
	o->args = calloc((size_t)argc + 1, sizeof(char *));
	o->batch = 1000;
	o->cols = 20;
	o->lanes = 1;
	o->run = 1;
	o->count = 1;
	o->ms = 10000;
	o->conn = "acme";
	o->goal = "import";
	o->list = "Main List";
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (a[0] != '-' || strcmp(a, "-") == 0) {
			o->args[o->nargs++] = argv[i];
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "-o") == 0)
			o->out = v;
		else if (strcmp(a, "--seed") == 0)
			o->seed = num(v), o->have_seed = 1;
		else if (strcmp(a, "--bytes") == 0)
			o->bytes = num(v), o->have_bytes = 1;
		else if (strcmp(a, "--batch") == 0)
			o->batch = num(v);
		else if (strcmp(a, "--cols") == 0)
			o->cols = num(v);
		else if (strcmp(a, "--lanes") == 0)
			o->lanes = num(v);
		else if (strcmp(a, "--run") == 0)
			o->run = num(v);
		else if (strcmp(a, "--count") == 0)
			o->count = num(v);
		else if (strcmp(a, "--ms") == 0)
			o->ms = num(v);
		else if (strcmp(a, "--conn") == 0)
			o->conn = v;
		else if (strcmp(a, "--goal") == 0)
			o->goal = v;
		else if (strcmp(a, "--list") == 0)
			o->list = v;
		else
			usage();
	}
}

static struct chan *
open_in(const char *path)
{
	char		 uri[4096], err[256];
	struct chan	*c;

	/* Asked first: errno after a failed chan_open need not be open(2)'s. */
	if (access(path, F_OK) == -1) {
		fprintf(stderr, "captool: %s: %s\n", path, strerror(errno));
		exit(EX_NOINPUT);
	}
	snprintf(uri, sizeof(uri), "file:%s", path);
	if ((c = chan_open(uri, CHAN_IN, CHAN_CONNECT, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "captool: %s\n", err);
		exit(EX_DATAERR);
	}
	return c;
}

static struct chan *
open_out(const char *path)
{
	char		 uri[4096], err[256];
	struct chan	*c;

	if (path == NULL)
		usage();
	snprintf(uri, sizeof(uri), "file:%s", path);
	if ((c = chan_open(uri, CHAN_OUT, CHAN_BIND, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "captool: %s\n", err);
		exit(EX_IOERR);
	}
	return c;
}

/* Leaves no OUT behind: the capture is never sealed, and its .tmp goes. */
static noreturn void
abandon(const char *out, int ex)
{
	char	 tmp[4096];

	if (out != NULL) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", out);
		unlink(tmp);
	}
	exit(ex);
}

static void
send_or_die(struct chan *c, const void *p, size_t len, const char *out)
{
	if (chan_send(c, p, len, -1) != 0) {
		fprintf(stderr, "captool: write %s: %s\n", out, strerror(errno));
		abandon(out, EX_IOERR);
	}
}

static void
close_or_die(struct chan **c, const char *out)
{
	if (chan_close(c) == -1) {
		fprintf(stderr, "captool: cannot seal %s: %s\n", out, strerror(errno));
		exit(EX_IOERR);
	}
}

/*
 * Reads the next frame of a replay into b.  Returns 1 with a frame, 0 at
 * the END frame; a cut or corrupt capture exits 65 (out's .tmp removed).
 */
static int
next_frame(struct chan *c, const char *in, struct buf *b, const char *out)
{
	switch (chan_recv(c, b, 0)) {
	case 0:
		return 1;
	case CHAN_EOF:
		return 0;
	case CHAN_ETRUNC:
		fprintf(stderr, "captool: %s: truncated after %llu frames\n", in,
		    (unsigned long long)chan_count(c));
		abandon(out, EX_DATAERR);
	default:
		fprintf(stderr, "captool: %s: frame %llu: %s\n", in,
		    (unsigned long long)chan_count(c), strerror(errno));
		abandon(out, EX_DATAERR);
	}
}

/* All frames of a capture, in memory (captures in tests are small). */
struct frames {
	size_t	 n, cap;
	char	**p;
	size_t	*len;
};

static void
frames_read(struct frames *f, const char *in, const char *out)
{
	struct chan	*c = open_in(in);
	struct buf	 b;

	buf_init(&b, MSG_MAX_BYTES);
	while (next_frame(c, in, &b, out)) {
		if (f->n == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 64;
			f->p = realloc(f->p, f->cap * sizeof(*f->p));
			f->len = realloc(f->len, f->cap * sizeof(*f->len));
			if (f->p == NULL || f->len == NULL)
				fatalx(EX_OSERR, "out of memory");
		}
		f->p[f->n] = buf_detach(&b, &f->len[f->n]);
		f->n++;
	}
	chan_close(&c);
	buf_clear(&b);
}

static void
frames_clear(struct frames *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->p[i]);
	free(f->p);
	free(f->len);
}

static void
frames_write(const struct frames *f, const size_t *order, size_t n, const char *out)
{
	struct chan	*c = open_out(out);

	for (size_t i = 0; i < n; i++)
		send_or_die(c, f->p[order[i]], f->len[order[i]], out);
	close_or_die(&c, out);
}

static void
shuffle(size_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rng() % i, t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

static int
cmd_count(struct opts *o)
{
	struct chan	*c;
	struct buf	 b;
	int		 rc;

	if (o->nargs != 1)
		usage();
	c = open_in(o->args[0]);
	buf_init(&b, MSG_MAX_BYTES);
	while ((rc = chan_recv(c, &b, 0)) == 0)
		;
	/* The whole frames, even of a damaged capture; the exit code tells. */
	printf("%llu\n", (unsigned long long)chan_count(c));
	if (rc != CHAN_EOF)
		fprintf(stderr, "captool: %s: %s after %llu frames\n", o->args[0],
		    rc == CHAN_ETRUNC ? "truncated" : strerror(errno),
		    (unsigned long long)chan_count(c));
	chan_close(&c);
	buf_clear(&b);
	return rc == CHAN_EOF ? 0 : EX_DATAERR;
}

static void
show(const char *k, struct str s)
{
	char	 tmp[512], q[1100];

	snprintf(tmp, sizeof(tmp), "%.*s", (int)(s.len < 500 ? s.len : 500), s.p);
	printf(" %s=%s", k, log_quote(tmp, q, sizeof(q)));
}

/*
 * links: for every PATCHES record, the lane its batch came in (the
 * fetcher's choice) and the lane of its match key ids[0] (the mapper's
 * link value): "lane=L link_lane=M line=N" or "lane=L skip=REASON line=N".
 */
static int
cmd_links(struct opts *o)
{
	struct chan	*c;
	struct buf	 b;
	struct msg_batch m;
	char		 err[256];

	if (o->nargs != 1 || o->lanes == 0)
		usage();
	c = open_in(o->args[0]);
	buf_init(&b, MSG_MAX_BYTES);
	while (next_frame(c, o->args[0], &b, NULL)) {
		if (msg_decode(b.data, b.len, &m, err, sizeof(err)) == -1) {
			fprintf(stderr, "captool: %s: %s\n", o->args[0], err);
			exit(EX_DATAERR);
		}
		for (uint32_t i = 0; m.kind == MSG_PATCHES && i < m.u.patches.n; i++) {
			const struct msg_patch *p = &m.u.patches.recs[i];

			if (p->skip.len > 0 || p->nids == 0)
				printf("lane=%u skip=%.*s line=%llu\n", m.lane,
				    (int)p->skip.len, p->skip.p, (unsigned long long)p->line);
			else
				printf("lane=%u link_lane=%u line=%llu\n", m.lane,
				    ident_lane(p->ids[0].value.p, p->ids[0].value.len,
				    (unsigned)o->lanes), (unsigned long long)p->line);
		}
		msg_batch_clear(&m);
	}
	chan_close(&c);
	buf_clear(&b);
	return 0;
}

static int
cmd_dump(struct opts *o)
{
	struct chan	*c;
	struct buf	 b;
	struct msg_batch m;
	char		 err[256];
	uint64_t	 n = 0;

	if (o->nargs != 1)
		usage();
	c = open_in(o->args[0]);
	buf_init(&b, MSG_MAX_BYTES);
	while (next_frame(c, o->args[0], &b, NULL)) {
		if (msg_decode(b.data, b.len, &m, err, sizeof(err)) == -1) {
			fflush(stdout);
			fprintf(stderr, "captool: %s: frame %llu: %s\n", o->args[0],
			    (unsigned long long)n + 1, err);
			exit(EX_DATAERR);
		}
		n++;
		printf("%s run=%llu lane=%u seq_first=%llu count=%u",
		    msg_kind_name(m.kind), (unsigned long long)m.run, m.lane,
		    (unsigned long long)m.seq_first, msg_batch_count(&m));
		show("conn", m.src.conn);
		show("goal", m.src.goal);
		show("list", m.src.list);
		switch (m.kind) {
		case MSG_ACK:
			printf(" applied=%llu received=%llu stats=%u",
			    (unsigned long long)m.u.ack.applied,
			    (unsigned long long)m.u.ack.received, m.u.ack.nstats);
			break;
		case MSG_HELLO:
			show("stage", m.u.hello.stage);
			printf(" pid=%llu", (unsigned long long)m.u.hello.pid);
			break;
		case MSG_END:
			printf(" total=%llu", (unsigned long long)m.u.end.total);
			break;
		case MSG_EXPORT_REQUEST:
			printf(" goals=%u", m.u.ereq.ngoals);
			break;
		case MSG_EXPORT_RESULT:
			show("goal_result", str_c(m.u.eres.st.goal));
			for (size_t i = 0; i < STATS_NCOUNTERS; i++)
				if (stats_counter_kinds(i) & STATS_EXPORT)
					printf(" %s=%llu", stats_counter_name(i),
					    (unsigned long long)stats_counter_get(&m.u.eres.st, i));
			show("mode", m.u.eres.mode);
			show("error", m.u.eres.error);
			break;
		}
		printf("\n");
		msg_batch_clear(&m);
	}
	chan_close(&c);
	buf_clear(&b);
	return 0;
}

static int
cmd_cat(struct opts *o)
{
	struct chan	*in, *out;
	struct buf	 b;

	if (o->nargs < 1 || o->out == NULL)
		usage();
	out = open_out(o->out);
	buf_init(&b, MSG_MAX_BYTES);
	for (int i = 0; i < o->nargs; i++) {
		in = open_in(o->args[i]);
		while (next_frame(in, o->args[i], &b, o->out))
			send_or_die(out, b.data, b.len, o->out);
		chan_close(&in);
	}
	close_or_die(&out, o->out);
	buf_clear(&b);
	return 0;
}

static int
cmd_reorder(struct opts *o, int dup)
{
	struct frames	 f = { 0, 0, NULL, NULL };
	size_t		*order, n = 0;

	if (o->nargs != 1 || o->out == NULL || !o->have_seed)
		usage();
	frames_read(&f, o->args[0], o->out);
	rng_state = o->seed;
	if ((order = calloc(2 * f.n + 1, sizeof(*order))) == NULL)
		fatalx(EX_OSERR, "out of memory");
	for (size_t i = 0; i < f.n; i++) {
		order[n++] = i;
		if (dup && rng() % 100 < 30)
			order[n++] = i;
	}
	shuffle(order, n);
	frames_write(&f, order, n, o->out);
	frames_clear(&f);
	free(order);
	return 0;
}

static int
cmd_corrupt(struct opts *o)
{
	struct frames	 f = { 0, 0, NULL, NULL };
	size_t		*order;

	if (o->nargs != 1 || o->out == NULL || !o->have_seed)
		usage();
	frames_read(&f, o->args[0], o->out);
	rng_state = o->seed;
	if ((order = calloc(f.n + 1, sizeof(*order))) == NULL)
		fatalx(EX_OSERR, "out of memory");
	for (size_t i = 0; i < f.n; i++) {
		order[i] = i;
		if (f.len[i] == 0)
			continue;
		/* 1 to 4 bytes per frame: a flipped bit or a random byte. */
		for (int k = 1 + (int)(rng() % 4); k > 0; k--) {
			size_t at = rng() % f.len[i];
			if (rng() % 2)
				f.p[i][at] ^= (char)(1u << (rng() % 8));
			else
				f.p[i][at] = (char)rng();
		}
	}
	frames_write(&f, order, f.n, o->out);
	frames_clear(&f);
	free(order);
	return 0;
}

static int
cmd_truncate(struct opts *o)
{
	FILE	*in, *out;
	char	 chunk[65536];
	uint64_t left;
	size_t	 n;

	if (o->nargs != 1 || o->out == NULL || !o->have_bytes)
		usage();
	if ((in = fopen(o->args[0], "rb")) == NULL) {
		fprintf(stderr, "captool: open %s: %s\n", o->args[0], strerror(errno));
		return EX_NOINPUT;
	}
	if ((out = fopen(o->out, "wb")) == NULL) {
		fprintf(stderr, "captool: open %s: %s\n", o->out, strerror(errno));
		return EX_IOERR;
	}
	for (left = o->bytes; left > 0; left -= n) {
		n = fread(chunk, 1, left < sizeof(chunk) ? left : sizeof(chunk), in);
		if (n == 0)
			break;
		fwrite(chunk, 1, n, out);
	}
	fclose(in);
	if (fclose(out) == EOF) {
		fprintf(stderr, "captool: write %s: %s\n", o->out, strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

/*
 * Synthetic USERS batches as a CSV import would send them: columns
 * "Profile Id", "Email", then "Var 3".."Var N"; row r (line r + 2) has the
 * email user<r>@example.com, routed to its lane like the fetcher does.
 */
struct lane_out {
	uint64_t	 seq;		/* last sequence number used */
	uint32_t	 n;		/* rows pending */
	struct msg_row	*rows;
	struct str	*cells;
	char		*text;
};

#define GEN_CELL 40

static void
gen_flush(struct chan *c, struct msg_batch *b, struct lane_out *l, uint32_t lane,
    struct buf *enc, const char *out)
{
	char	 err[256];

	if (l->n == 0)
		return;
	b->lane = lane;
	b->seq_first = l->seq + 1;
	b->u.users.nrows = l->n;
	b->u.users.rows = l->rows;
	buf_reset(enc);
	if (msg_encode(b, enc, err, sizeof(err)) == -1) {
		fprintf(stderr, "captool: encode: %s\n", err);
		abandon(out, EX_SOFTWARE);
	}
	send_or_die(c, enc->data, enc->len, out);
	l->seq += l->n;
	l->n = 0;
}

static int
cmd_gen(struct opts *o)
{
	struct msg_batch b;
	struct lane_out	*lanes;
	struct str	*cols;
	struct chan	*c;
	struct buf	 enc;
	uint64_t	 rows, ncols;
	char		*names, email[64];
	unsigned	 lane;

	if (o->nargs != 1 || o->out == NULL)
		usage();
	rows = num(o->args[0]);
	ncols = o->cols;
	if (ncols < 2 || ncols > MSG_MAX_FIELDS || o->batch < 1 ||
	    o->batch > MSG_MAX_RECORDS || o->lanes < 1 || o->lanes > 256) {
		fprintf(stderr, "captool: gen needs 2 <= --cols <= %d, 1 <= --batch "
		    "<= %d, 1 <= --lanes <= 256\n", MSG_MAX_FIELDS, MSG_MAX_RECORDS);
		return EX_USAGE;
	}
	cols = calloc(ncols, sizeof(*cols));
	names = calloc(ncols, 16);
	lanes = calloc(o->lanes, sizeof(*lanes));
	if (cols == NULL || names == NULL || lanes == NULL)
		fatalx(EX_OSERR, "out of memory");
	cols[0] = str_c("Profile Id");
	cols[1] = str_c("Email");
	for (uint64_t j = 2; j < ncols; j++) {
		snprintf(names + j * 16, 16, "Var %llu", (unsigned long long)j + 1);
		cols[j] = str_c(names + j * 16);
	}
	for (uint64_t l = 0; l < o->lanes; l++) {
		lanes[l].rows = calloc(o->batch, sizeof(struct msg_row));
		lanes[l].cells = calloc(o->batch * ncols, sizeof(struct str));
		lanes[l].text = calloc(o->batch * ncols, GEN_CELL);
		if (!lanes[l].rows || !lanes[l].cells || !lanes[l].text)
			fatalx(EX_OSERR, "out of memory");
	}
	memset(&b, 0, sizeof(b));
	b.kind = MSG_USERS;
	b.run = o->run;
	b.src.conn = str_c(o->conn);
	b.src.goal = str_c(o->goal);
	b.src.list = str_c(o->list);
	b.u.users.ncols = (uint32_t)ncols;
	b.u.users.cols = cols;
	buf_init(&enc, MSG_MAX_BYTES);
	c = open_out(o->out);
	for (uint64_t r = 0; r < rows; r++) {
		int n = snprintf(email, sizeof(email), "user%llu@example.com",
		    (unsigned long long)r);
		struct lane_out *l;
		char *t;

		lane = ident_lane(email, (size_t)n, (unsigned)o->lanes);
		l = &lanes[lane];
		t = l->text + (size_t)l->n * ncols * GEN_CELL;
		for (uint64_t j = 0; j < ncols; j++, t += GEN_CELL) {
			if (j == 0)
				n = snprintf(t, GEN_CELL, "%024llx", (unsigned long long)r + 1);
			else if (j == 1)
				n = snprintf(t, GEN_CELL, "%s", email);
			else
				n = snprintf(t, GEN_CELL, "value %llu.%llu",
				    (unsigned long long)r, (unsigned long long)j);
			l->cells[l->n * ncols + j] = (struct str){ t, (uint32_t)n };
		}
		l->rows[l->n] = (struct msg_row){ r + 2, (uint32_t)ncols,
		    l->cells + l->n * ncols };
		if (++l->n == o->batch)
			gen_flush(c, &b, l, lane, &enc, o->out);
	}
	for (uint64_t l = 0; l < o->lanes; l++)
		gen_flush(c, &b, &lanes[l], (uint32_t)l, &enc, o->out);
	close_or_die(&c, o->out);
	buf_clear(&enc);
	for (uint64_t l = 0; l < o->lanes; l++) {
		free(lanes[l].rows);
		free(lanes[l].cells);
		free(lanes[l].text);
	}
	free(lanes);
	free(names);
	free(cols);
	return 0;
}

/*
 * listen: what a stage sends on a channel nobody had bound (a writer's
 * ACKs before its fetcher starts), recorded as a capture for `dump`.
 */
static int
cmd_listen(struct opts *o)
{
	struct chan	*in, *out;
	struct buf	 b;
	char		 err[256];
	uint64_t	 n = 0;
	long long	 end = time_mono_ms() + (long long)o->ms, left;
	int		 rc;

	if (o->nargs != 1 || o->out == NULL)
		usage();
	if ((in = chan_open(o->args[0], CHAN_IN, CHAN_BIND, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "captool: %s\n", err);
		return EX_UNAVAILABLE;
	}
	out = open_out(o->out);
	buf_init(&b, MSG_MAX_BYTES);
	while (n < o->count && (left = end - time_mono_ms()) > 0) {
		rc = chan_recv(in, &b, (int)left);	/* never -1: that waits forever */
		if (rc == CHAN_TIMEOUT)
			continue;
		if (rc != 0) {
			fprintf(stderr, "captool: receive %s: %s\n", o->args[0], strerror(errno));
			abandon(o->out, EX_IOERR);
		}
		send_or_die(out, b.data, b.len, o->out);
		n++;
	}
	close_or_die(&out, o->out);
	chan_close(&in);
	chan_shutdown();
	buf_clear(&b);
	if (n < o->count) {
		fprintf(stderr, "captool: %s: %llu of %llu messages in %llu ms\n", o->args[0],
		    (unsigned long long)n, (unsigned long long)o->count,
		    (unsigned long long)o->ms);
		return EX_TEMPFAIL;
	}
	return 0;
}

static int
run_cmd(const char *cmd, struct opts *o)
{
	if (strcmp(cmd, "count") == 0)
		return cmd_count(o);
	if (strcmp(cmd, "links") == 0)
		return cmd_links(o);
	if (strcmp(cmd, "dump") == 0)
		return cmd_dump(o);
	if (strcmp(cmd, "cat") == 0)
		return cmd_cat(o);
	if (strcmp(cmd, "shuffle") == 0)
		return cmd_reorder(o, 0);
	if (strcmp(cmd, "dup") == 0)
		return cmd_reorder(o, 1);
	if (strcmp(cmd, "corrupt") == 0)
		return cmd_corrupt(o);
	if (strcmp(cmd, "truncate") == 0)
		return cmd_truncate(o);
	if (strcmp(cmd, "gen") == 0)
		return cmd_gen(o);
	if (strcmp(cmd, "listen") == 0)
		return cmd_listen(o);
	usage();
}

int
main(int argc, char **argv)
{
	struct opts	 o;
	const char	*cmd;
	int		 rc;

	log_init("captool", LOG_WARN);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : 0;
	}
	cmd = argv[1];
	memset(&o, 0, sizeof(o));
	parse(argc - 2, argv + 2, &o);
	rc = run_cmd(cmd, &o);
	free(o.args);
	return rc;
}
