/*
 * tests/unit/t_fetcher_stream.c: the fetcher's window, acknowledgements,
 * resends (on stall and on HELLO) and resume, against a fake writer in a
 * child process that talks the real protocol over ipc:// channels.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "chan.h"
#include "conf.h"
#include "log.h"
#include "msg.h"
#include "tap.h"
#include "../../fetcher/coord.h"
#include "../../fetcher/fetcher.h"

#define NROWS	40
#define NLANES	2

enum mode {
	FAKE_OK,		/* apply in order, ack every batch */
	FAKE_DROP_FIRST,	/* lose the first batch of lane 0 once */
	FAKE_HELLO,		/* lose the first two batches, then say HELLO */
	FAKE_STALL,		/* stop acking a lane once it applied 6 */
	FAKE_LIAR,		/* first ack each lane claims 1000 rows never sent */
};

static char	 dir[] = "/tmp/t_fetcher_stream.XXXXXX";
static volatile sig_atomic_t child_stop;

static void
on_child_term(int sig)
{
	(void)sig;
	child_stop = 1;
}

static void
on_alarm(int sig)
{
	(void)sig;
	fetcher_stop = 1;	/* a hang becomes exit 75, and a failed test */
}

static void
note(const char *sub, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
note(const char *sub, const char *name, const char *fmt, ...)
{
	char	 path[300];
	FILE	*fp;
	va_list	 ap;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	if ((fp = fopen(path, "a")) == NULL)
		abort();
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	fclose(fp);
}

static uint64_t
read_applied(const char *sub, unsigned lane)
{
	char	 path[300];
	unsigned long long v = 0;
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s/applied-%u", dir, sub, lane);
	if ((fp = fopen(path, "r")) != NULL) {
		if (fscanf(fp, "%llu", &v) != 1)
			v = 0;
		fclose(fp);
	}
	return v;
}

static void
write_applied(const char *sub, unsigned lane, uint64_t v)
{
	char	 path[300];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s/applied-%u", dir, sub, lane);
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fprintf(fp, "%" PRIu64 "\n", v);
	fclose(fp);
}

static void
send_msg(struct chan *out, struct msg_batch *b)
{
	struct buf	 e;
	char		 err[200];

	buf_init(&e, MSG_MAX_BYTES);
	if (msg_encode(b, &e, err, sizeof(err)) == -1)
		abort();
	chan_send(out, e.data, e.len, 1000);
	buf_clear(&e);
}

/*
 * The fake writer: applies a lane's records in sequence order, keeps its
 * applied point in a file (as the real one keeps it in LMDB), and acks
 * with stats (created = applied).  Protocol violations are noted in the
 * file "violations".
 */
static void
fake_writer(const char *sub, const struct conf *c, enum mode mode, unsigned window)
{
	struct chan	*in, *out;
	struct buf	 rx, stash;
	char		 err[200];
	uint64_t	 applied[NLANES];
	unsigned	 seen = 0, dropped = 0;
	int		 dropped_lane0 = 0, lied[NLANES] = { 0 };

	signal(SIGTERM, on_child_term);
	signal(SIGALRM, SIG_DFL);
	in = chan_open(c->pipe.users, CHAN_IN, CHAN_CONNECT, 0, err, sizeof(err));
	out = chan_open(c->pipe.acks, CHAN_OUT, CHAN_CONNECT, 0, err, sizeof(err));
	if (in == NULL || out == NULL)
		_exit(3);
	for (unsigned i = 0; i < NLANES; i++)
		applied[i] = read_applied(sub, i);
	buf_init(&rx, MSG_MAX_BYTES);
	buf_init(&stash, MSG_MAX_BYTES);
	while (!child_stop) {
		struct msg_batch b, a;
		struct stats st;
		uint32_t n;

		if (stash.len > 0) {
			buf_reset(&rx);
			buf_add(&rx, stash.data, stash.len);
			buf_reset(&stash);
		} else if (chan_recv(in, &rx, 100) != 0)
			continue;
		if (msg_decode(rx.data, rx.len, &b, err, sizeof(err)) == -1) {
			note(sub, "violations", "undecodable batch: %s\n", err);
			continue;
		}
		if (b.kind != MSG_USERS) {
			msg_batch_clear(&b);
			continue;
		}
		if (b.lane >= NLANES)
			note(sub, "violations", "lane %u\n", b.lane);
		n = msg_batch_count(&b);
		note(sub, "seen", "lane=%u first=%" PRIu64 " n=%u\n", b.lane, b.seq_first, n);
		seen++;
		if ((mode == FAKE_DROP_FIRST && b.lane == 0 && !dropped_lane0++) ||
		    (mode == FAKE_HELLO && dropped < 2)) {
			if (mode == FAKE_HELLO && ++dropped == 2) {
				for (unsigned i = 0; i < NLANES; i++) {
					memset(&a, 0, sizeof(a));
					a.kind = MSG_HELLO;
					a.v = MSG_VERSION;
					a.lane = i;
					a.u.hello.stage = str_c("writer");
					send_msg(out, &a);
				}
			}
			msg_batch_clear(&b);
			continue;
		}
		if (mode == FAKE_STALL && applied[b.lane] >= 6) {
			msg_batch_clear(&b);
			continue;
		}
		/*
		 * With a window of 1, no other batch of the lane may come before
		 * this one is acknowledged: wait a little and look.
		 */
		if (window == 1) {
			struct msg_batch b2;

			/* Looked at, then handled next round like any other. */
			if (chan_recv(in, &stash, 50) == 0 &&
			    msg_decode(stash.data, stash.len, &b2, err, sizeof(err)) == 0) {
				if (b2.kind == MSG_USERS && b2.lane == b.lane)
					note(sub, "violations", "lane %u: seq %" PRIu64 " sent "
					    "before seq %" PRIu64 " was acknowledged, window 1\n",
					    b.lane, b2.seq_first, b.seq_first);
				msg_batch_clear(&b2);
			}
		}
		if (mode == FAKE_LIAR && b.lane < NLANES && !lied[b.lane]++) {
			memset(&a, 0, sizeof(a));
			memset(&st, 0, sizeof(st));
			a.kind = MSG_ACK;
			a.v = MSG_VERSION;
			a.run = b.run;
			a.lane = b.lane;
			a.src.conn = str_c("t");
			a.u.ack.applied = b.seq_first + n - 1 + 1000;
			a.u.ack.received = a.u.ack.applied;
			st.goal = (char *)"crm";
			st.created = 5000;
			a.u.ack.nstats = 1;
			a.u.ack.stats = &st;
			send_msg(out, &a);
		}
		if (b.seq_first <= applied[b.lane] + 1 &&
		    b.seq_first + n - 1 > applied[b.lane]) {
			applied[b.lane] = b.seq_first + n - 1;
			write_applied(sub, b.lane, applied[b.lane]);
		}
		memset(&a, 0, sizeof(a));
		memset(&st, 0, sizeof(st));
		a.kind = MSG_ACK;
		a.v = MSG_VERSION;
		a.run = b.run;
		a.lane = b.lane;
		a.src.conn = str_c("t");
		a.u.ack.applied = applied[b.lane];
		a.u.ack.received = b.seq_first + n - 1;
		st.goal = (char *)"crm";
		st.created = applied[b.lane];
		st.nlast = 1;
		st.last[0] = ((uint64_t)b.lane << 56) | applied[b.lane];
		st.unique = applied[b.lane];
		a.u.ack.nstats = 1;
		a.u.ack.stats = &st;
		send_msg(out, &a);
		msg_batch_clear(&b);
	}
	buf_clear(&rx);
	chan_close(&in);
	chan_close(&out);
	chan_shutdown();
	_exit(0);
}

struct setup {
	char			 sub[32], csv[300], state[300], users[300], acks[300];
	char			 lane0[300], lane1[300];
	char			*lanes[NLANES];
	struct conf_goal	 goal;
	struct conf_conn	 cn;
	struct conf		 c;
};

static void
setup_init(struct setup *s, const char *sub, unsigned window, unsigned resend_ms)
{
	char	 d[100];
	FILE	*fp;

	memset(s, 0, sizeof(*s));
	snprintf(s->sub, sizeof(s->sub), "%s", sub);
	snprintf(d, sizeof(d), "%s/%s", dir, sub);
	mkdir(d, 0700);
	snprintf(s->csv, sizeof(s->csv), "%s/people.csv", d);
	snprintf(s->state, sizeof(s->state), "%s/state", d);
	snprintf(s->users, sizeof(s->users), "ipc://%s/users", d);
	snprintf(s->acks, sizeof(s->acks), "ipc://%s/acks", d);
	snprintf(s->lane0, sizeof(s->lane0), "ipc://%s/lane-0", d);
	snprintf(s->lane1, sizeof(s->lane1), "ipc://%s/lane-1", d);
	if ((fp = fopen(s->csv, "w")) == NULL)
		abort();
	fprintf(fp, "email,name\n");
	for (int i = 0; i < NROWS; i++)
		fprintf(fp, "user%d@example.com,User %d\n", i, i);
	fclose(fp);
	s->lanes[0] = s->lane0;
	s->lanes[1] = s->lane1;
	s->goal.name = "crm";
	s->goal.kind = GOAL_FILE;
	s->goal.path = s->csv;
	s->goal.format = FMT_CSV;
	s->goal.link_column = "email";
	s->goal.link_property = "email";
	s->cn.name = "t";
	s->cn.secret = "t-secret";
	s->cn.enabled = 1;
	s->cn.poll_cap_s = 10;
	s->cn.ngoals = 1;
	s->cn.goals = &s->goal;
	s->c.pipe.users = s->users;
	s->c.pipe.acks = s->acks;
	s->c.pipe.nlanes = NLANES;
	s->c.pipe.lanes = s->lanes;
	s->c.pipe.batch_rows = 2;
	s->c.pipe.window = window;
	s->c.pipe.resend_ms = resend_ms;
	s->c.pipe.state_dir = s->state;
	s->c.nconns = 1;
	s->c.conns = &s->cn;
}

/* Runs the fetcher against a fake writer in mode; returns its exit code. */
static int
run_with(struct setup *s, enum mode mode, unsigned limit_s, char **summary)
{
	struct fetcher_opts o;
	char	 sj[300];
	pid_t	 pid;
	int	 rc, st;
	FILE	*devnull, *fp;

	fflush(stdout);
	if ((pid = fork()) == 0)
		fake_writer(s->sub, &s->c, mode, s->c.pipe.window);
	memset(&o, 0, sizeof(o));
	snprintf(sj, sizeof(sj), "%s/%s/summary.json", dir, s->sub);
	unlink(sj);
	o.summary_json = sj;
	devnull = fopen("/dev/null", "w");
	o.summary_out = devnull;
	fetcher_stop = 0;
	alarm(limit_s);
	rc = coord_run(&s->c, &s->cn, &o);
	alarm(0);
	chan_shutdown();
	fclose(devnull);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	*summary = NULL;
	if ((fp = fopen(sj, "r")) != NULL) {
		char	 b[4096];
		size_t	 n = fread(b, 1, sizeof(b) - 1, fp);

		b[n] = '\0';
		*summary = strdup(b);
		fclose(fp);
	}
	return rc;
}

static int
has_file(const char *sub, const char *name)
{
	char	 path[300];

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	return access(path, F_OK) == 0;
}

/* Every batch of lane seen by the fake writer starts above min_first. */
static int
seen_from(const char *sub, unsigned lane, uint64_t *min_first, unsigned *count)
{
	char	 path[300], line[200];
	FILE	*fp;
	unsigned l, n;
	unsigned long long f;

	*min_first = UINT64_MAX;
	*count = 0;
	snprintf(path, sizeof(path), "%s/%s/seen", dir, sub);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "lane=%u first=%llu n=%u", &l, &f, &n) == 3 && l == lane) {
			(*count)++;
			if (f < *min_first)
				*min_first = f;
		}
	fclose(fp);
	return 0;
}

int
main(void)
{
	struct setup	 s;
	struct fetcher_ledger l;
	char		*sum, err[300], lp[400];
	uint64_t	 acked[NLANES], minf;
	unsigned	 cnt;
	int		 rc;

	log_init("t_fetcher_stream", LOG_ERR);
	signal(SIGALRM, on_alarm);
	if (mkdtemp(dir) == NULL)
		abort();

	setup_init(&s, "ok", 64, 5000);
	rc = run_with(&s, FAKE_OK, 20, &sum);
	is_int(rc, 0, "all rows acknowledged: exit 0");
	ok(sum && strstr(sum, "\"created\":40,") != NULL, "summary: created summed over "
	    "lanes");
	ok(sum && strstr(sum, "\"unique\":40,") != NULL, "summary: unique summed");
	ok(sum && strstr(sum, "\"status\":\"ok\"") != NULL, "summary: status ok");
	ok(sum && strstr(sum, "\"last\":[\"01") != NULL, "summary: newest id first "
	    "(lane 1's ids are larger)");
	ok(!has_file("ok", "violations"), "no protocol violation");
	free(sum);

	setup_init(&s, "win1", 1, 5000);
	rc = run_with(&s, FAKE_OK, 20, &sum);
	is_int(rc, 0, "window of 1: exit 0");
	ok(!has_file("win1", "violations"), "window of 1: never more than one "
	    "unacknowledged batch per lane");
	free(sum);

	setup_init(&s, "drop", 4, 100);
	rc = run_with(&s, FAKE_DROP_FIRST, 20, &sum);
	is_int(rc, 0, "a lost batch is resent when acks stall: exit 0");
	ok(sum && strstr(sum, "\"created\":40,") != NULL, "... and every row applied");
	free(sum);

	setup_init(&s, "hello", 4, 600000);
	rc = run_with(&s, FAKE_HELLO, 20, &sum);
	is_int(rc, 0, "a HELLO brings the lost batches at once: exit 0");
	ok(sum && strstr(sum, "\"created\":40,") != NULL, "... and every row applied");
	free(sum);

	/*
	 * An ACK beyond what was sent (a forged one, or a writer of another
	 * store) is refused: the run waits for the real acknowledgements and
	 * its counts are the store's.
	 */
	setup_init(&s, "liar", 64, 5000);
	rc = run_with(&s, FAKE_LIAR, 20, &sum);
	is_int(rc, 0, "impossible acks ignored: exit 0");
	ok(sum && strstr(sum, "\"created\":40,") != NULL, "... counts from the real acks");
	ok(sum && strstr(sum, "\"created\":10000") == NULL, "... none from the impossible ones");
	free(sum);

	/* Interrupted while a lane stalls, then resumed. */
	setup_init(&s, "resume", 64, 600000);
	rc = run_with(&s, FAKE_STALL, 3, &sum);
	is_int(rc, 75, "stopped while waiting for acks: exit 75");
	ok(sum == NULL, "no summary for an unfinished run");
	free(sum);
	snprintf(lp, sizeof(lp), "%s/t/ledger.json", s.state);
	is_int(fetcher_ledger_load(lp, &l, err, sizeof(err)), 0, "ledger readable");
	is_str(l.state, "streaming", "ledger: run still streaming");
	is_int(l.run, 1, "ledger: run 1");
	is_int(l.nlanes, NLANES, "ledger: lanes");
	for (unsigned i = 0; i < NLANES; i++) {
		acked[i] = l.lanes[i].acked;
		is_int(acked[i], 6, "ledger: lane %u acked checkpointed", i);
	}
	fetcher_ledger_clear(&l);
	{
		char	 seen[300];

		snprintf(seen, sizeof(seen), "%s/resume/seen", dir);
		unlink(seen);
	}
	rc = run_with(&s, FAKE_OK, 20, &sum);
	is_int(rc, 0, "resumed run finishes");
	ok(sum && strstr(sum, "\"run\":1,") != NULL, "resumed run keeps its id");
	ok(sum && strstr(sum, "\"created\":40,") != NULL, "resumed run: every row applied");
	free(sum);
	for (unsigned i = 0; i < NLANES; i++) {
		seen_from("resume", i, &minf, &cnt);
		ok(cnt > 0 && minf == acked[i] + 1, "lane %u: acked batches not sent again "
		    "(first seq sent %" PRIu64 ", acked %" PRIu64 ")", i, minf, acked[i]);
	}
	is_int(fetcher_ledger_load(lp, &l, err, sizeof(err)), 0, "ledger readable");
	is_str(l.state, "done", "ledger: run done");
	is_int(l.lanes[0].acked + l.lanes[1].acked, NROWS, "ledger: all acked");
	is_int(l.lanes[0].total + l.lanes[1].total, NROWS, "ledger: totals");
	fetcher_ledger_clear(&l);
	ok(!has_file("resume", "violations"), "no protocol violation");

	{
		char	 cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return done_testing();
}
