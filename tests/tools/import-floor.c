/*
 * tests/tools/import-floor.c: the benchmark's floor.  Imports a
 * connection's file goals in one process with the pipeline's own parts
 * (the fetcher's source reader, mapper_map, the writer's apply and group
 * commit) and none of its transport, so `make bench` can show what the
 * pipeline's processes, encoding and sockets cost on top.
 *
 *	import-floor -c CONFIG CONNECTION
 *
 * Every row goes to lane 0 (the floor is one process, one store).  Prints
 * one line: rows, seconds, rows/s, peak RSS.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>

#include "buf.h"
#include "conf.h"
#include "daemon.h"
#include "fetcher.h"
#include "log.h"
#include "mapper.h"
#include "msg.h"
#include "timefmt.h"
#include "writer.h"

struct floor {
	const struct conf	*c;
	struct mapper		*m;
	struct writer		*w;
	struct buf		 ack;
	uint64_t		 seq;
	uint64_t		 rows;
};

static void
floor_commit(struct floor *f)
{
	if (writer_commit(f->w) == -1)
		fatalx(EX_IOERR, "commit failed");
	/* The pipeline encodes its ACKs; so does the floor, then drops them. */
	while (writer_ack_next(f->w, &f->ack) == 1)
		;
	if (writer_fold(f->w) == -1)
		fatalx(EX_IOERR, "index fold failed");
}

static void
floor_flush(struct floor *f, struct msg_batch *users)
{
	struct msg_batch patches;
	char	 err[256];

	if (users->u.users.nrows == 0)
		return;
	memset(&patches, 0, sizeof(patches));
	if (mapper_map(f->m, users, &patches, err, sizeof(err)) == -1)
		fatalx(EX_SOFTWARE, "map: %s", err);
	if (writer_submit(f->w, &patches) == -1)
		fatalx(EX_IOERR, "apply failed");
	msg_batch_clear(&patches);
	f->rows += users->u.users.nrows;
	f->seq += users->u.users.nrows;
	arena_clear(&users->arena);
	users->u.users.nrows = 0;
	if (writer_due_in(f->w) == 0)
		floor_commit(f);
}

static void
floor_goal(struct floor *f, const struct conf_conn *cn, const struct conf_goal *g)
{
	struct fetcher_src *src;
	struct fetcher_row row;
	struct msg_batch users;
	unsigned batch = f->c->pipe.batch_rows;
	char	 err[512];
	int	 r;

	if ((src = fetcher_src_open(g->path, g->format, 0, err, sizeof(err))) == NULL)
		fatalx(EX_NOINPUT, "%s", err);
	memset(&users, 0, sizeof(users));
	users.kind = MSG_USERS;
	users.v = MSG_VERSION;
	users.run = 1;
	users.lane = 0;
	users.src.conn = str_c(cn->name);
	users.src.goal = str_c(g->name);
	users.src.list = str_c(g->path);
	users.u.users.ncols = fetcher_src_ncols(src);
	users.u.users.cols = (struct str *)fetcher_src_cols(src);
	users.u.users.rows = calloc(batch, sizeof(struct msg_row));
	if (users.u.users.rows == NULL)
		fatalx(EX_OSERR, "out of memory");
	while ((r = fetcher_src_next(src, &row)) != FETCHER_END) {
		if (r == FETCHER_ERR)
			fatalx(EX_DATAERR, "%s", fetcher_src_error(src));
		if (r == FETCHER_SKIP)
			continue;
		if (users.u.users.nrows == 0)
			users.seq_first = f->seq + 1;
		/* Row values live until the next read: copy them, as encoding would. */
		struct msg_row *mr = &users.u.users.rows[users.u.users.nrows++];
		mr->line = row.line;
		mr->nvals = row.nvals;
		mr->vals = arena_alloc(&users.arena, row.nvals * sizeof(struct str));
		for (uint32_t i = 0; i < row.nvals; i++) {
			mr->vals[i].p = arena_strndup(&users.arena, row.vals[i].p, row.vals[i].len);
			mr->vals[i].len = row.vals[i].len;
		}
		if (users.u.users.nrows == batch)
			floor_flush(f, &users);
	}
	floor_flush(f, &users);
	free(users.u.users.rows);
	arena_clear(&users.arena);
	fetcher_src_close(&src);
}

int
main(int argc, char **argv)
{
	struct conf	 c;
	struct floor	 f;
	struct rusage	 ru;
	const struct conf_conn *cn;
	const char	*path = NULL;
	char		 err[1024];
	int64_t		 t0, t1;
	int		 ch;

	log_init("import-floor", LOG_WARN);
	daemon_heap_keep();	/* the stages' heap policy */
	while ((ch = getopt(argc, argv, "c:")) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: import-floor -c CONFIG CONNECTION\n");
			return EX_USAGE;
		}
		path = optarg;
	}
	if (path == NULL || optind + 1 != argc) {
		fprintf(stderr, "usage: import-floor -c CONFIG CONNECTION\n");
		return EX_USAGE;
	}
	if (conf_load(path, &c, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s", err);
	if ((cn = conf_conn_find(&c, argv[optind], strlen(argv[optind]))) == NULL)
		fatalx(EX_CONFIG, "no connection \"%s\"", argv[optind]);

	memset(&f, 0, sizeof(f));
	f.c = &c;
	buf_init(&f.ack, MSG_MAX_BYTES);
	f.m = mapper_new(&c);
	if ((f.w = writer_open(&c, 0, err, sizeof(err))) == NULL)
		fatalx(EX_IOERR, "%s", err);

	t0 = time_mono_ms();
	for (size_t i = 0; i < cn->ngoals; i++)
		if (cn->goals[i].kind == GOAL_FILE)
			floor_goal(&f, cn, &cn->goals[i]);
	floor_commit(&f);
	t1 = time_mono_ms();

	getrusage(RUSAGE_SELF, &ru);
	printf("floor rows=%llu seconds=%.2f rows_per_s=%.0f peak_rss_kb=%ld\n",
	    (unsigned long long)f.rows, (double)(t1 - t0) / 1000.0,
	    t1 > t0 ? (double)f.rows * 1000.0 / (double)(t1 - t0) : 0.0, ru.ru_maxrss);

	writer_close(&f.w);
	mapper_destroy(&f.m);
	buf_clear(&f.ack);
	conf_clear(&c);
	return 0;
}
