/*
 * tests/tools/mkusers.c: writes USERS captures from simple CSV or JSON-lines
 * text, and dumps captures one record per line, for the mapper's tests.
 *
 *   mkusers write [-j] [-g] [-b ROWS] [-n LANES -k LINKCOL -p LINKPROP]
 *           [-s SECRET] OUT-URI CONN GOAL LIST RUN < input
 *	CSV (no quoting: commas split) with a header line, or with -j one
 *	JSON object per line (cols ["json"]).  Rows are numbered per lane from
 *	1, batches hold ROWS rows (default 1000), and each lane ends with END.
 *	With -n, a row's lane is ident_lane() of its normalized link value.
 *	-g first writes one frame that is not a batch.  -s announces the run
 *	as the fetcher does, with the tag of (CONN, RUN) under SECRET (the
 *	connection's secret; runauth.h): writers refuse batches without it.
 *   mkusers dump URI
 *	One line per batch and one per record; exits 65 on a cut capture.
 *	From a zmq channel it stops after the first END.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "chan.h"
#include "ident.h"
#include "log.h"
#include "msg.h"
#include "runauth.h"

#define MAX_LANES	16
#define MAX_COLS	256
#define MAX_LINE	65536

struct lane {
	struct msg_batch b;
	uint64_t	 next;		/* seq of the next row */
	uint32_t	 cap;
};

static struct chan *out;
static struct buf enc;
static const char *conn, *goal, *list;
static uint64_t run;
static char auth[RUNAUTH_HEX + 1];	/* "" unless -s */
static uint32_t ncols;
static struct str cols[MAX_COLS];

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
die(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "mkusers: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void
send_batch(struct msg_batch *b)
{
	char	 err[256];

	buf_reset(&enc);
	if (msg_encode(b, &enc, err, sizeof(err)) == -1)
		die("encode: %s", err);
	if (chan_send(out, enc.data, enc.len, -1) != 0)
		die("send: %s", strerror(errno));
}

static void
lane_start(struct lane *l, unsigned lane, uint32_t rows)
{
	struct msg_batch *b = &l->b;

	memset(b, 0, sizeof(*b));
	arena_init(&b->arena);
	b->kind = MSG_USERS;
	b->v = MSG_VERSION;
	b->run = run;
	b->lane = lane;
	b->seq_first = l->next;
	b->src.conn = str_c(conn);
	b->src.goal = str_c(goal);
	b->src.list = str_c(list);
	b->auth = str_c(auth);
	b->u.users.ncols = ncols;
	b->u.users.cols = cols;
	b->u.users.rows = arena_alloc(&b->arena, rows * sizeof(struct msg_row));
	l->cap = rows;
}

static void
lane_flush(struct lane *l)
{
	if (l->b.u.users.nrows)
		send_batch(&l->b);
	msg_batch_clear(&l->b);
}

static int
write_main(int argc, char **argv)
{
	static char	 text[MAX_LINE];
	struct lane	 lanes[MAX_LANES];
	const char	*linkcol = NULL, *linkprop = NULL, *secret = NULL;
	unsigned	 nlanes = 1;
	uint32_t	 rows = 1000, nrow = 0;
	uint64_t	 lineno = 0;
	int		 json = 0, garbage = 0, linkidx = -1, opt;
	char		 err[256];

	while ((opt = getopt(argc, argv, "jgb:n:k:p:s:")) != -1) {
		switch (opt) {
		case 'j': json = 1; break;
		case 'g': garbage = 1; break;
		case 'b': rows = (uint32_t)atoi(optarg); break;
		case 'n': nlanes = (unsigned)atoi(optarg); break;
		case 'k': linkcol = optarg; break;
		case 'p': linkprop = optarg; break;
		case 's': secret = optarg; break;
		default: die("bad option");
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 5 || rows < 1 || nlanes < 1 || nlanes > MAX_LANES ||
	    (nlanes > 1 && (!linkcol || !linkprop)))
		die("usage: mkusers write [-j] [-b ROWS] [-n LANES -k COL -p PROP] "
		    "[-s SECRET] OUT CONN GOAL LIST RUN");
	conn = argv[1];
	goal = argv[2];
	list = argv[3];
	run = strtoull(argv[4], NULL, 10);
	if (secret != NULL && runauth_tag(secret, conn, strlen(conn), run, auth) == -1)
		die("cannot make the run's tag");
	if ((out = chan_open(argv[0], CHAN_OUT, CHAN_BIND, 0, err, sizeof(err))) == NULL)
		die("%s: %s", argv[0], err);
	buf_init(&enc, MSG_MAX_BYTES);
	if (garbage && chan_send(out, "\x93not a batch", 13, -1) != 0)
		die("send: %s", strerror(errno));

	if (json) {
		ncols = 1;
		cols[0] = str_c("json");
	} else {
		char *p, *s;

		if (fgets(text, sizeof(text), stdin) == NULL)
			die("no header");
		lineno++;
		text[strcspn(text, "\r\n")] = '\0';
		s = strdup(text);
		for (p = strtok(s, ","); p && ncols < MAX_COLS; p = strtok(NULL, ","))
			cols[ncols++] = str_c(p);
		for (uint32_t i = 0; linkcol && i < ncols; i++)
			if (str_eq(cols[i], linkcol)) {
				linkidx = (int)i;
				break;
			}
	}
	for (unsigned i = 0; i < nlanes; i++) {
		lanes[i].next = 1;
		lane_start(&lanes[i], i, rows);
	}
	while (fgets(text, sizeof(text), stdin) != NULL) {
		struct str	 vals[MAX_COLS];
		struct msg_row	*r;
		struct lane	*l;
		uint32_t	 n = 0;
		unsigned	 lane = 0;
		char		*p, *q;

		lineno++;
		text[strcspn(text, "\r\n")] = '\0';
		if (json) {
			vals[n++] = str_c(text);
		} else {
			for (p = text; n < MAX_COLS; p = q + 1) {
				q = strchr(p, ',');
				vals[n].p = p;
				vals[n].len = (uint32_t)(q ? (size_t)(q - p) : strlen(p));
				n++;
				if (q == NULL)
					break;
			}
		}
		if (nlanes > 1 && linkidx >= 0 && (uint32_t)linkidx < n) {
			char	 norm[1024];
			size_t	 nl = ident_normalize(linkprop, vals[linkidx].p,
			    vals[linkidx].len, norm, sizeof(norm));

			if (nl != (size_t)-1)
				lane = ident_lane(norm, nl, nlanes);
		}
		l = &lanes[lane];
		r = &l->b.u.users.rows[l->b.u.users.nrows++];
		r->line = lineno;
		r->nvals = n;
		r->vals = arena_alloc(&l->b.arena, n * sizeof(struct str));
		for (uint32_t i = 0; i < n; i++) {
			r->vals[i].p = arena_strndup(&l->b.arena, vals[i].p, vals[i].len);
			r->vals[i].len = vals[i].len;
		}
		l->next++;
		nrow++;
		if (l->b.u.users.nrows == l->cap) {
			lane_flush(l);
			lane_start(l, lane, rows);
		}
	}
	for (unsigned i = 0; i < nlanes; i++) {
		struct msg_batch end;

		lane_flush(&lanes[i]);
		memset(&end, 0, sizeof(end));
		end.kind = MSG_END;
		end.v = MSG_VERSION;
		end.run = run;
		end.lane = i;
		end.src.conn = str_c(conn);
		end.src.goal = str_c(goal);
		end.src.list = str_c(list);
		end.auth = str_c(auth);
		end.u.end.total = lanes[i].next - 1;
		send_batch(&end);
	}
	if (chan_close(&out) == -1)
		die("close: %s", strerror(errno));
	chan_shutdown();
	buf_clear(&enc);
	fprintf(stderr, "mkusers: wrote rows=%" PRIu32 " lanes=%u\n", nrow, nlanes);
	return 0;
}

static void
print_val(const struct val *v)
{
	switch (v->type) {
	case VAL_TEXT:
		printf("'%.*s'", (int)v->u.s.len, v->u.s.p);
		break;
	case VAL_NUMBER:
		printf("%" PRId64, v->u.i);
		break;
	case VAL_DECIMAL:
		printf("%.17g", v->u.d);
		break;
	case VAL_DATETIME:
		printf("@%" PRId64, v->u.i);
		break;
	case VAL_BOOL:
		printf("%s", v->u.b ? "true" : "false");
		break;
	default:
		printf("?");
	}
}

static void
print_patch(uint64_t seq, const struct msg_patch *p)
{
	printf("seq=%" PRIu64 " line=%" PRIu64 " ", seq, p->line);
	if (p->skip.len) {
		printf("skip=%.*s\n", (int)p->skip.len, p->skip.p);
		return;
	}
	printf("ids=");
	for (uint32_t i = 0; i < p->nids; i++)
		printf("%s%.*s:%.*s", i ? "," : "", (int)p->ids[i].prop.len,
		    p->ids[i].prop.p, (int)p->ids[i].value.len, p->ids[i].value.p);
	printf(" ops=");
	for (uint32_t i = 0; i < p->nops; i++) {
		const struct msg_op *o = &p->ops[i];

		printf("%s%s %.*s=", i ? "; " : "", patch_op_name(o->op),
		    (int)o->prop.len, o->prop.p);
		for (uint32_t k = 0; k < o->nvals; k++) {
			if (k)
				printf("|");
			print_val(&o->vals[k]);
		}
	}
	if (p->nnotes) {
		printf(" notes=");
		for (uint32_t i = 0; i < p->nnotes; i++)
			printf("%s%.*s", i ? "," : "", (int)p->notes[i].len, p->notes[i].p);
	}
	printf("\n");
}

static int
dump_main(int argc, char **argv)
{
	struct chan	*in;
	struct buf	 rx;
	struct msg_batch b;
	char		 err[256];
	int		 r, rc = 0;

	if (argc != 2)
		die("usage: mkusers dump URI");
	if ((in = chan_open(argv[1], CHAN_IN, CHAN_BIND, 0, err, sizeof(err))) == NULL)
		die("%s: %s", argv[1], err);
	buf_init(&rx, MSG_MAX_BYTES);
	for (;;) {
		r = chan_recv(in, &rx, 30000);
		if (r == CHAN_EOF)
			break;
		if (r == CHAN_ETRUNC) {
			printf("truncated\n");
			rc = 65;
			break;
		}
		if (r != 0)
			die("receive: r=%d %s", r, strerror(errno));
		memset(&b, 0, sizeof(b));
		if (msg_decode(rx.data, rx.len, &b, err, sizeof(err)) == -1)
			die("decode: %s", err);
		printf("%s run=%" PRIu64 " lane=%" PRIu32 " seq_first=%" PRIu64
		    " n=%" PRIu32 " conn=%.*s goal=%.*s list=%.*s", msg_kind_name(b.kind),
		    b.run, b.lane, b.seq_first, msg_batch_count(&b),
		    (int)b.src.conn.len, b.src.conn.p ? b.src.conn.p : "",
		    (int)b.src.goal.len, b.src.goal.p ? b.src.goal.p : "",
		    (int)b.src.list.len, b.src.list.p ? b.src.list.p : "");
		if (b.kind == MSG_END)
			printf(" total=%" PRIu64, b.u.end.total);
		printf("\n");
		if (b.kind == MSG_PATCHES)
			for (uint32_t i = 0; i < b.u.patches.n; i++)
				print_patch(b.seq_first + i, &b.u.patches.recs[i]);
		if (b.kind == MSG_USERS)
			for (uint32_t i = 0; i < b.u.users.nrows; i++)
				printf("seq=%" PRIu64 " line=%" PRIu64 " vals=%" PRIu32 "\n",
				    b.seq_first + i, b.u.users.rows[i].line,
				    b.u.users.rows[i].nvals);
		r = b.kind == MSG_END && !chan_is_file(in);
		msg_batch_clear(&b);
		fflush(stdout);
		if (r)
			break;
	}
	chan_close(&in);
	chan_shutdown();
	buf_clear(&rx);
	return rc;
}

int
main(int argc, char **argv)
{
	log_init("mkusers", LOG_WARN);
	if (argc >= 2 && strcmp(argv[1], "write") == 0)
		return write_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "dump") == 0)
		return dump_main(argc - 1, argv + 1);
	die("usage: mkusers write ... | mkusers dump URI");
}
