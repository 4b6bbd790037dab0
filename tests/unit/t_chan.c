/* tests/unit/t_chan.c: zmq channels over ipc, and file: captures whole, cut and corrupt. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "tap.h"
#include "buf.h"
#include "chan.h"
#include "log.h"

static char	 err[256];
static char	 dir[] = "/tmp/t_chan.XXXXXX";

/* pre + the scratch dir + "/" + name, e.g. path("ipc://", "a.sock"). */
static char *
path(const char *pre, const char *name)
{
	static char	 p[4][512];
	static int	 i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s%s/%s", pre, dir, name);
	return p[i];
}

static int
exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

static void
test_ipc(void)
{
	struct chan	*in, *out, *in2, *set[3];
	struct buf	 b, tiny;
	const char	*uri = path("ipc://", "sub/dir/a.sock");
	int		 rc, n, got_timeout = 0;
	char		 big[65536];

	buf_init(&b, 1 << 20);
	in = chan_open(uri, CHAN_IN, CHAN_BIND, 0, err, sizeof(err));
	ok(in != NULL, "PULL binds %s (%s)", uri, in ? "" : err);
	ok(exists(path("", "sub/dir/a.sock")), "bind created the parent dirs");
	out = chan_open(uri, CHAN_OUT, CHAN_CONNECT, 0, err, sizeof(err));
	ok(out != NULL, "PUSH connects");
	ok(!chan_is_file(out) && strcmp(chan_uri(out), uri) == 0, "uri and kind");

	is_int(chan_recv(in, &b, 0), CHAN_TIMEOUT, "nothing yet, no wait");
	is_int(chan_recv(in, &b, 30), CHAN_TIMEOUT, "nothing yet, 30 ms");
	is_int(chan_send(out, "hello", 5, 2000), 0, "send hello");
	is_int(chan_send(out, "", 0, 2000), 0, "send an empty message");
	is_int(chan_send(out, "world!", 6, -1), 0, "send world, blocking");
	is_int(chan_recv(in, &b, 5000), 0, "receive 1");
	ok(b.len == 5 && memcmp(b.data, "hello", 5) == 0, "first is hello");
	is_int(chan_recv(in, &b, 5000), 0, "receive 2");
	is_int(b.len, 0, "second is empty");
	is_int(chan_recv(in, &b, -1), 0, "receive 3, blocking");
	ok(b.len == 6 && memcmp(b.data, "world!", 6) == 0, "third is world!");
	is_int(chan_count(in), 3, "in counted 3");
	is_int(chan_count(out), 3, "out counted 3");

	/* Too large for the buf: dropped with E2BIG, the channel goes on. */
	buf_init(&tiny, 4);
	chan_send(out, "0123456789", 10, 2000);
	chan_send(out, "ok", 2, 2000);
	errno = 0;
	rc = chan_recv(in, &tiny, 5000);
	ok(rc == CHAN_ERR && errno == E2BIG, "a message over the buf's max: E2BIG");
	is_int(chan_recv(in, &tiny, 5000), 0, "the next one arrives");
	ok(tiny.len == 2 && memcmp(tiny.data, "ok", 2) == 0, "and is ok");
	buf_clear(&tiny);

	/* Wrong direction is refused. */
	errno = 0;
	ok(chan_send(in, "x", 1, 0) == CHAN_ERR && errno == EBADF, "send on an input: EBADF");
	ok(chan_recv(out, &b, 0) == CHAN_ERR && errno == EBADF, "recv on an output: EBADF");

	/* A second bind of a live socket fails; nothing is stolen. */
	in2 = chan_open(uri, CHAN_IN, CHAN_BIND, 0, err, sizeof(err));
	ok(in2 == NULL && strstr(err, "in use") != NULL, "second bind refused: %s", err);

	/* poll: a second input, '@' and '>' override the default side. */
	in2 = chan_open(path("@ipc://", "b.sock"), CHAN_IN, CHAN_CONNECT, 4,
	    err, sizeof(err));
	ok(in2 != NULL, "'@' binds though the default is connect (%s)", in2 ? "" : err);
	set[0] = in;
	set[1] = in2;
	is_int(chan_poll(set, 2, 30), -1, "poll: nothing in 30 ms");
	chan_close(&out);
	ok(out == NULL, "close nulls the pointer");
	out = chan_open(path(">ipc://", "b.sock"), CHAN_OUT, CHAN_BIND, 4,
	    err, sizeof(err));
	ok(out != NULL, "'>' connects though the default is bind");
	is_int(chan_send(out, "b", 1, 2000), 0, "send to b");
	is_int(chan_poll(set, 2, 5000), 1, "poll: the second is ready");
	is_int(chan_recv(in2, &b, 0), 0, "and gives its message");
	ok(b.len == 1 && b.data[0] == 'b', "which is b");

	/* Back-pressure: nobody reads, both HWMs (4) fill, send times out. */
	memset(big, 'x', sizeof(big));
	for (n = 0; n < 10000 && !got_timeout; n++)
		got_timeout = chan_send(out, big, sizeof(big), 0) == CHAN_TIMEOUT;
	ok(got_timeout, "a full HWM gives CHAN_TIMEOUT (after %d sends)", n);
	/* The I/O thread may drain a little more into the kernel meanwhile. */
	for (n = 0, rc = 0; n < 100 && rc != CHAN_TIMEOUT; n++)
		rc = chan_send(out, big, sizeof(big), 20);
	is_int(rc, CHAN_TIMEOUT, "also with a 20 ms timeout");
	chan_close(&out);
	chan_close(&in2);

	/* A connecting PUSH with no peer does not queue (ZMQ_IMMEDIATE). */
	out = chan_open(path("ipc://", "nobody.sock"), CHAN_OUT, CHAN_CONNECT, 0,
	    err, sizeof(err));
	is_int(chan_send(out, "lost?", 5, 0), CHAN_TIMEOUT, "no peer: CHAN_TIMEOUT, not queued");
	chan_close(&out);
	chan_close(&in);

	ok(chan_open("udp://x", CHAN_IN, CHAN_BIND, 0, err, sizeof(err)) == NULL,
	    "unknown scheme refused: %s", err);
	buf_clear(&b);
}

static void
test_stale(void)
{
	struct sockaddr_un sun;
	struct chan	*c;
	const char	*p = path("", "stale.sock");
	int		 s;

	/* A socket file whose process is gone. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", p);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	ok(bind(s, (struct sockaddr *)&sun, sizeof(sun)) == 0, "a socket file is left behind");
	close(s);
	c = chan_open(path("ipc://", "stale.sock"), CHAN_IN, CHAN_BIND, 0,
	    err, sizeof(err));
	ok(c != NULL, "bind over a stale socket file works (%s)", c ? "" : err);
	chan_close(&c);

	/* A regular file is never removed. */
	fclose(fopen(path("", "plain"), "w"));
	c = chan_open(path("ipc://", "plain"), CHAN_IN, CHAN_BIND, 0, err, sizeof(err));
	ok(c == NULL && exists(path("", "plain")), "a plain file is not replaced: %s", err);
}

static volatile sig_atomic_t alarms;
static void
on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void
test_signal(void)
{
	struct sigaction sa;
	struct itimerval it;
	struct chan	*in, *set[1];
	struct buf	 b;
	int		 rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	in = chan_open(path("ipc://", "sig.sock"), CHAN_IN, CHAN_BIND, 0,
	    err, sizeof(err));
	set[0] = in;
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = 50000;
	setitimer(ITIMER_REAL, &it, NULL);
	rc = chan_poll(set, 1, 20000);
	is_int(rc, -2, "a signal interrupts chan_poll with -2");
	setitimer(ITIMER_REAL, &it, NULL);
	buf_init(&b, 100);
	rc = chan_recv(in, &b, 20000);
	is_int(rc, CHAN_TIMEOUT, "and chan_recv with CHAN_TIMEOUT");
	ok(alarms == 2, "both alarms were delivered");
	chan_close(&in);
	buf_clear(&b);
}

/* Writes a capture of frames "", "a", "bb", ... n frames. */
static void
write_capture(const char *p, int n)
{
	char		 uri[600], frame[64];
	struct chan	*c;

	snprintf(uri, sizeof(uri), "file:%s", p);
	c = chan_open(uri, CHAN_OUT, CHAN_BIND, 0, err, sizeof(err));
	for (int i = 0; i < n; i++) {
		memset(frame, 'a' + i, (size_t)i);
		chan_send(c, frame, (size_t)i, 0);
	}
	chan_close(&c);
}

/* Reads a replay to its end; returns the final code, *n the frames read. */
static int
read_all(const char *p, size_t max, int *n, int *errs)
{
	char		 uri[600];
	struct chan	*c;
	struct buf	 b;
	int		 rc;

	snprintf(uri, sizeof(uri), "file:%s", p);
	*n = 0;
	*errs = 0;
	if ((c = chan_open(uri, CHAN_IN, CHAN_CONNECT, 0, err, sizeof(err))) == NULL)
		return 99;
	buf_init(&b, max);
	while ((rc = chan_recv(c, &b, 0)) == 0 || rc == CHAN_ERR) {
		if (rc == CHAN_ERR)
			(*errs)++;
		else if ((int)b.len != *n || (b.len && b.data[0] != 'a' + *n))
			return 98;
		(*n)++;
	}
	if ((int)chan_count(c) != *n)
		rc = 97;
	chan_close(&c);
	buf_clear(&b);
	return rc;
}

static void
copy_prefix(const char *from, const char *to, long n)
{
	FILE	*f = fopen(from, "r"), *t = fopen(to, "w");
	int	 ch;

	for (long i = 0; i < n && (ch = getc(f)) != EOF; i++)
		putc(ch, t);
	fclose(f);
	fclose(t);
}

static void
test_file(void)
{
	char		 cap[512], cut[512], uri[600];
	struct chan	*c, *set[2];
	struct stat	 st;
	struct buf	 b;
	long		 size, bad = 0, frame_end[8];
	int		 n, errs, rc, want;
	pid_t		 pid;
	FILE		*f;

	snprintf(cap, sizeof(cap), "%s", path("", "c.cap"));
	snprintf(cut, sizeof(cut), "%s", path("", "cut.cap"));

	/* While being written, a capture is only PATH.tmp. */
	snprintf(uri, sizeof(uri), "file:%s", cap);
	c = chan_open(uri, CHAN_OUT, CHAN_BIND, 0, err, sizeof(err));
	ok(c != NULL && chan_is_file(c), "capture opens");
	chan_send(c, "", 0, 0);
	ok(!exists(cap) && exists(path("", "c.cap.tmp")),
	    "while written: only c.cap.tmp exists");
	for (int i = 1; i < 6; i++) {
		char frame[8];
		memset(frame, 'a' + i, (size_t)i);
		is_int(chan_send(c, frame, (size_t)i, 0), 0, "frame %d written", i);
	}
	is_int(chan_close(&c), 0, "sealed");
	ok(exists(cap) && !exists(path("", "c.cap.tmp")), "sealed: c.cap, no .tmp");

	stat(cap, &st);
	size = (long)st.st_size;
	is_int(size, 16 + 6 * 4 + 15 + 12, "size: header, 6 frames, END");
	is_int(read_all(cap, 100, &n, &errs), CHAN_EOF, "replay ends with CHAN_EOF");
	is_int(n, 6, "after 6 frames");

	/* Every prefix is a truncated capture, with the whole frames before the cut. */
	frame_end[0] = 16;
	for (int i = 0; i < 6; i++)
		frame_end[i + 1] = frame_end[i] + 4 + i;
	for (long len = 0; len < size; len++) {
		copy_prefix(cap, cut, len);
		want = 0;
		while (want < 6 && frame_end[want + 1] <= len)
			want++;
		rc = read_all(cut, 100, &n, &errs);
		if (rc != CHAN_ETRUNC || n != want) {
			bad++;
			printf("# prefix %ld: rc %d frames %d, want %d\n", len, rc, n, want);
		}
	}
	is_int(bad, 0, "each of %ld prefixes gives CHAN_ETRUNC after its whole frames", size);
	copy_prefix(cap, cut, size - 12);
	is_int(read_all(cut, 100, &n, &errs), CHAN_ETRUNC, "missing only END: truncated");
	is_int(n, 6, "after all 6 frames");

	/* A wrong END count, trailing bytes, a frame longer than the file. */
	copy_prefix(cap, cut, size);
	f = fopen(cut, "r+");
	fseek(f, -1, SEEK_END);
	putc(7, f);
	fclose(f);
	is_int(read_all(cut, 100, &n, &errs), CHAN_ETRUNC, "END count 7 of 6: corrupt");
	copy_prefix(cap, cut, size);
	f = fopen(cut, "a");
	putc(0, f);
	fclose(f);
	is_int(read_all(cut, 100, &n, &errs), CHAN_ETRUNC, "a byte after END: corrupt");
	copy_prefix(cap, cut, size);
	f = fopen(cut, "r+");
	fseek(f, 16 + 4, SEEK_SET);	/* length of frame 1 */
	fwrite("\x7f\0\0\0", 4, 1, f);
	fclose(f);
	is_int(read_all(cut, 100, &n, &errs), CHAN_ETRUNC, "a length past the end: corrupt");
	is_int(n, 1, "after the one whole frame");

	/* Not a capture at all. */
	f = fopen(cut, "w");
	fputs("SAILSYNC-CAP-02\nxxxx", f);
	fclose(f);
	is_int(read_all(cut, 100, &n, &errs), 99, "wrong magic: refused at open");
	ok(strstr(err, "not a sailsync capture") != NULL, "reason: %s", err);
	is_int(read_all(path("", "absent"), 100, &n, &errs), 99, "missing file refused");

	/* Frames over the buf's max are skipped with E2BIG. */
	is_int(read_all(cap, 3, &n, &errs), CHAN_EOF, "small buf: still reaches END");
	is_int(errs, 2, "the two frames over 3 bytes gave E2BIG");
	is_int(n, 6, "and were counted");

	/* A replay is always ready for chan_poll. */
	c = chan_open(uri, CHAN_IN, CHAN_CONNECT, 0, err, sizeof(err));
	set[0] = c;
	is_int(chan_poll(set, 1, 10000), 0, "a replay polls ready at once");
	buf_init(&b, 100);
	for (int i = 0; i < 6; i++)
		chan_recv(c, &b, 0);
	is_int(chan_recv(c, &b, 0), CHAN_EOF, "EOF");
	is_int(chan_recv(c, &b, 0), CHAN_EOF, "EOF again");
	is_int(chan_poll(set, 1, 10000), 0, "still ready at EOF");
	chan_close(&c);
	buf_clear(&b);

	/* A process that dies while capturing leaves no PATH, only PATH.tmp. */
	snprintf(uri, sizeof(uri), "file:%s", path("", "died.cap"));
	if ((pid = fork()) == 0) {
		c = chan_open(uri, CHAN_OUT, CHAN_BIND, 0, err, sizeof(err));
		chan_send(c, "abc", 3, 0);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	waitpid(pid, &rc, 0);
	ok(WIFSIGNALED(rc), "the capturing child was killed");
	ok(!exists(path("", "died.cap")) && exists(path("", "died.cap.tmp")),
	    "it left died.cap.tmp and no died.cap");
	write_capture(path("", "died.cap"), 2);
	is_int(read_all(path("", "died.cap"), 100, &n, &errs), CHAN_EOF,
	    "a new capture over the leftover .tmp is whole");
	is_int(n, 2, "with its own 2 frames");
}

int
main(void)
{
	char	 cmd[600];

	/* The cut-capture tests make chan warn on purpose; keep TAP readable. */
	log_init("t_chan", LOG_ERR);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_ipc();
	test_stale();
	test_signal();
	test_file();
	chan_shutdown();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (tap_failed == 0 && system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return done_testing();
}
