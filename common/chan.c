/* common/chan.c: owns the process's zmq context, PUSH/PULL sockets and file: captures. */
/*
 * Two kinds of channel behind one interface.
 *
 * zmq (ipc://, tcp://): PUSH for output, PULL for input.  Every socket gets
 * an explicit HWM (never 0: an unbounded queue is unbounded memory) and a
 * LINGER so that close and zmq_ctx_term cannot hang forever on a dead peer.
 * Connecting PUSH sockets set ZMQ_IMMEDIATE: without it zmq queues messages
 * for a peer that is not there yet and they die with the process, while
 * the caller believes them sent.  PULL sockets set ZMQ_MAXMSGSIZE so a
 * peer cannot make us buffer more than one batch may be.
 *
 * CURVE (tcp:// only, when chan_curve_set gave a keypair): the whole
 * pipeline is one trust domain with one keypair.  A binding socket is the
 * CURVE server, a connecting one a client that expects the server to hold
 * the pipeline key and presents the same key itself.  CURVE alone lets any
 * client with a keypair of its own finish the handshake, so a ZAP handler
 * (a thread owning a REP socket on inproc://zeromq.zap.01, bound before the
 * first CURVE server binds: without a handler libzmq lets every client in)
 * admits only clients that present the pipeline public key.
 *
 * file: (captures and replays): see chan.h for the layout.  An output is
 * written to PATH.tmp; chan_close appends the END frame, fsyncs the file,
 * renames it to PATH and fsyncs the directory so the rename itself is
 * durable.  A process that dies before that leaves only PATH.tmp, so a file
 * named PATH is always whole.  An input stops at the END frame (CHAN_EOF)
 * or, when the file ends early or a length does not fit, at the last whole
 * frame (CHAN_ETRUNC, logged once with the number of frames read).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "chan.h"
#include "file.h"
#include "log.h"
#include "msg.h"
#include "timefmt.h"

#define CHAN_HWM_DEFAULT	1000
#define CHAN_LINGER_MS		2000
#define CHAN_POLL_MAX		64

static const char cap_magic[16] = "SAILSYNC-CAP-01\n";
#define CAP_END		0xffffffffu

struct chan {
	char		*uri;		/* as given, for logs */
	enum chan_dir	 dir;
	int		 is_file;
	uint64_t	 count;		/* messages moved; replay: whole frames */

	void		*sock;		/* zmq */

	FILE		*fp;		/* file: */
	char		*path, *tmp;
	off_t		 size, pos;	/* replay: file size, offset read */
	int		 state;		/* replay: 0, CHAN_EOF or CHAN_ETRUNC */
};

static void	*chan_ctx;

/* CURVE: the pipeline keypair (Z85, NUL-terminated) and the ZAP handler. */
#define CURVE_Z85	40
#define ZAP_ENDPOINT	"inproc://zeromq.zap.01"
#define ZAP_SEEN_MAX	64	/* peer addresses whose refusal was logged */

static int	 curve_on;
static int	 plain_tcp_ok;		/* plain tcp:// may bind beyond loopback */
static char	 curve_pub[CURVE_Z85 + 1];
static char	 curve_sec[CURVE_Z85 + 1];
static uint8_t	 curve_pub_bin[32];
static pthread_t zap_thread;
static int	 zap_running;

static int	 plain_tcp_check(const char *, enum chan_side, char *, size_t);
static int	 chan_fail(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
chan_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void
chan_free(struct chan *c)
{
	free(c->uri);
	free(c->path);
	free(c->tmp);
	free(c);
}

/* Milliseconds left until deadline (CLOCK_MONOTONIC ms), never negative. */
static int
ms_left(long long deadline)
{
	long long	 d = deadline - time_mono_ms();

	return d < 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
}

/* file: channels */

static void
be32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
be32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int
file_open(struct chan *c, const char *path, char *err, size_t errlen)
{
	struct stat	 st;
	unsigned char	 hdr[sizeof(cap_magic)];
	size_t		 n;
	int		 fd;

	if (*path == '\0')
		return chan_fail(err, errlen, "file: needs a path");
	if ((c->path = strdup(path)) == NULL)
		return chan_fail(err, errlen, "out of memory");
	if (c->dir == CHAN_OUT) {
		if ((c->tmp = malloc(strlen(path) + 5)) == NULL)
			return chan_fail(err, errlen, "out of memory");
		memcpy(c->tmp, path, strlen(path));
		memcpy(c->tmp + strlen(path), ".tmp", 5);
		/* A PATH.tmp left by a process that died is garbage: truncate. */
		fd = open(c->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (fd == -1 || (c->fp = fdopen(fd, "w")) == NULL) {
			if (fd != -1)
				close(fd);
			return chan_fail(err, errlen, "open %s: %s", c->tmp,
			    strerror(errno));
		}
		setvbuf(c->fp, NULL, _IOFBF, 1 << 20);
		if (fwrite(cap_magic, sizeof(cap_magic), 1, c->fp) != 1)
			return chan_fail(err, errlen, "write %s: %s", c->tmp,
			    strerror(errno));
		return 0;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return chan_fail(err, errlen, "open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1 || (c->fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return chan_fail(err, errlen, "open %s: %s", path, strerror(errno));
	}
	setvbuf(c->fp, NULL, _IOFBF, 1 << 20);
	c->size = st.st_size;
	n = fread(hdr, 1, sizeof(hdr), c->fp);
	/* A file cut inside the header is a truncated capture, not a stranger. */
	if (memcmp(hdr, cap_magic, n) != 0)
		return chan_fail(err, errlen, "%s: not a sailsync capture", path);
	c->pos = (off_t)n;
	return 0;
}

static int
file_send(struct chan *c, const void *p, size_t len)
{
	unsigned char	 hdr[4];

	if (len >= CAP_END) {
		errno = E2BIG;
		return CHAN_ERR;
	}
	be32_put(hdr, (uint32_t)len);
	if (fwrite(hdr, 4, 1, c->fp) != 1 ||
	    (len > 0 && fwrite(p, len, 1, c->fp) != 1))
		return CHAN_ERR;
	c->count++;
	return 0;
}

/* The replay stops here: logs why, once, and stays stopped. */
static int
file_cut(struct chan *c, const char *why)
{
	if (c->state != CHAN_ETRUNC)
		log_warnx("chan: capture cut short uri=%s frames=%llu offset=%lld "
		    "reason=\"%s\"", c->uri, (unsigned long long)c->count,
		    (long long)c->pos, why);
	c->state = CHAN_ETRUNC;
	return CHAN_ETRUNC;
}

static int
file_read(struct chan *c, void *p, size_t n)
{
	if (n > 0 && fread(p, n, 1, c->fp) != 1)
		return -1;
	c->pos += (off_t)n;
	return 0;
}

static int
file_recv(struct chan *c, struct buf *out)
{
	unsigned char	 hdr[8], chunk[1 << 16];
	uint32_t	 len;
	uint64_t	 total;
	size_t		 n;

	if (c->state != 0)
		return c->state;
	if (c->pos < (off_t)sizeof(cap_magic))
		return file_cut(c, "cut inside the header");
	if (c->size - c->pos < 4)
		return file_cut(c, c->size == c->pos ? "no END frame" :
		    "cut inside a frame length");
	if (file_read(c, hdr, 4) == -1)
		return file_cut(c, "read error");
	len = be32_get(hdr);
	if (len == CAP_END) {
		if (c->size - c->pos < 8 || file_read(c, hdr, 8) == -1)
			return file_cut(c, "cut inside the END frame");
		total = (uint64_t)be32_get(hdr) << 32 | be32_get(hdr + 4);
		if (total != c->count)
			return file_cut(c, "END frame count does not match");
		if (c->pos != c->size)
			return file_cut(c, "bytes after the END frame");
		c->state = CHAN_EOF;
		return CHAN_EOF;
	}
	if ((off_t)len > c->size - c->pos) {
		c->pos -= 4;
		return file_cut(c, "cut inside a frame");
	}
	if (len > out->max) {
		/* Skip it; the frames after it are still good. */
		if (fseeko(c->fp, (off_t)len, SEEK_CUR) == -1)
			return file_cut(c, "seek error");
		c->pos += len;
		c->count++;
		errno = E2BIG;
		return CHAN_ERR;
	}
	buf_reset(out);
	while (len > 0) {
		n = len < sizeof(chunk) ? len : sizeof(chunk);
		if (file_read(c, chunk, n) == -1)
			return file_cut(c, "read error");
		if (buf_add(out, chunk, n) == -1)
			return CHAN_ERR;	/* ENOMEM */
		len -= (uint32_t)n;
	}
	c->count++;
	return 0;
}

/* Seals an output capture; see the top of the file for the order. */
static int
file_seal(struct chan *c)
{
	unsigned char	 end[12];
	int		 e;

	be32_put(end, CAP_END);
	be32_put(end + 4, (uint32_t)(c->count >> 32));
	be32_put(end + 8, (uint32_t)c->count);
	if (fwrite(end, sizeof(end), 1, c->fp) != 1 || fflush(c->fp) == EOF ||
	    fsync(fileno(c->fp)) == -1) {
		e = errno;
		fclose(c->fp);
		c->fp = NULL;
		errno = e;
		log_warn("chan: cannot write capture path=%s", c->tmp);
		return -1;
	}
	if (fclose(c->fp) == EOF) {
		c->fp = NULL;
		log_warn("chan: cannot close capture path=%s", c->tmp);
		return -1;
	}
	c->fp = NULL;
	if (file_publish(c->tmp, c->path) == -1) {
		log_warn("chan: cannot publish capture path=%s", c->path);
		return -1;
	}
	return 0;
}

/* zmq channels */

static void *
chan_context(void)
{
	if (chan_ctx == NULL)
		chan_ctx = zmq_ctx_new();
	return chan_ctx;
}

/* CURVE keys and the ZAP handler */

int
chan_curve_check(const char *pub, const char *sec, char *err, size_t errlen)
{
	uint8_t	 bin[32];
	char	 derived[CURVE_Z85 + 1];
	int	 rc = 0;

	if (strlen(pub) != CURVE_Z85 || zmq_z85_decode(bin, pub) == NULL)
		return chan_fail(err, errlen, "the public key is not 40 characters "
		    "of Z85 (a 32-byte CURVE key)");
	if (sec == NULL)
		return 0;
	if (strlen(sec) != CURVE_Z85 || zmq_z85_decode(bin, sec) == NULL)
		rc = chan_fail(err, errlen, "the secret key is not 40 characters "
		    "of Z85 (a 32-byte CURVE key)");
	else if (zmq_curve_public(derived, sec) == -1)
		rc = chan_fail(err, errlen, "cannot derive the public key: %s",
		    zmq_strerror(errno));
	else if (strcmp(derived, pub) != 0)
		rc = chan_fail(err, errlen, "the secret key is not the one of "
		    "public key %s", pub);
	explicit_bzero(bin, sizeof(bin));
	return rc;
}

int
chan_curve_set(const char *pub, const char *sec, char *err, size_t errlen)
{
	if (zap_running)
		return chan_fail(err, errlen, "the CURVE keypair cannot change "
		    "once a CURVE server socket is open");
	explicit_bzero(curve_sec, sizeof(curve_sec));
	curve_on = 0;
	if (pub == NULL)
		return 0;
	if (sec == NULL)
		return chan_fail(err, errlen, "a CURVE public key needs its secret key");
	if (chan_curve_check(pub, sec, err, errlen) == -1)
		return -1;
	memcpy(curve_pub, pub, CURVE_Z85 + 1);
	memcpy(curve_sec, sec, CURVE_Z85 + 1);
	zmq_z85_decode(curve_pub_bin, curve_pub);
	curve_on = 1;
	return 0;
}

int
chan_curve_keypair(char *pub, char *sec, char *err, size_t errlen)
{
	if (zmq_curve_keypair(pub, sec) == -1)
		return chan_fail(err, errlen, "cannot make a CURVE keypair: %s",
		    zmq_strerror(errno));
	return 0;
}

/*
 * Receives one ZAP request: up to nf frames into f (each initialised),
 * the rest drained.  Returns the number of frames, or -1 (errno set; ETERM
 * when the context is shutting down).
 */
static int
zap_recv(void *s, zmq_msg_t *f, int nf)
{
	zmq_msg_t	 extra;
	int		 n = 0, more;

	for (;;) {
		zmq_msg_t *m = n < nf ? &f[n] : &extra;

		zmq_msg_init(m);
		if (zmq_msg_recv(m, s, 0) == -1) {
			zmq_msg_close(m);
			if (errno == EINTR)
				continue;
			while (n > 0)
				zmq_msg_close(&f[--n]);
			return -1;
		}
		more = zmq_msg_more(m);
		if (n < nf)
			n++;
		else
			zmq_msg_close(m);
		if (!more)
			return n;
	}
}

static int
frame_is(zmq_msg_t *m, const char *s)
{
	return zmq_msg_size(m) == strlen(s) &&
	    memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

/* Logs a refusal the first time address is refused; addresses rotate out. */
static void
zap_refused(char seen[][64], size_t *nseen, zmq_msg_t *addr, zmq_msg_t *mech)
{
	char	 a[64], m[16], q[96];
	size_t	 i, n;

	n = zmq_msg_size(addr) < sizeof(a) - 1 ? zmq_msg_size(addr) : sizeof(a) - 1;
	memcpy(a, zmq_msg_data(addr), n);
	a[n] = '\0';
	for (i = 0; i < *nseen && i < ZAP_SEEN_MAX; i++)
		if (strcmp(seen[i], a) == 0)
			return;
	memcpy(seen[*nseen % ZAP_SEEN_MAX], a, sizeof(a));
	(*nseen)++;
	n = zmq_msg_size(mech) < sizeof(m) - 1 ? zmq_msg_size(mech) : sizeof(m) - 1;
	memcpy(m, zmq_msg_data(mech), n);
	m[n] = '\0';
	log_warnx("chan: refused a peer without the pipeline key address=%s "
	    "mechanism=%s (logged once per address)", log_quote(a, q, sizeof(q)), m);
}

/*
 * The ZAP handler (RFC 27): frames version, request id, domain, address,
 * identity, mechanism, credentials; the reply echoes version and request
 * id.  "200" only for CURVE with the pipeline's own public key.  It runs
 * until the context shuts down (ETERM), then closes its socket so that
 * zmq_ctx_term can finish.
 */
static void *
zap_main(void *arg)
{
	void		*s = arg;
	zmq_msg_t	 f[7];
	char		 seen[ZAP_SEEN_MAX][64];
	size_t		 nseen = 0;
	int		 n, i, okay, linger = 0;

	for (;;) {
		if ((n = zap_recv(s, f, 7)) == -1) {
			if (errno == ETERM)
				break;
			continue;
		}
		okay = n == 7 && frame_is(&f[0], "1.0") && frame_is(&f[5], "CURVE") &&
		    zmq_msg_size(&f[6]) == sizeof(curve_pub_bin) &&
		    memcmp(zmq_msg_data(&f[6]), curve_pub_bin,
		    sizeof(curve_pub_bin)) == 0;
		if (!okay && n >= 6)
			zap_refused(seen, &nseen, &f[3], &f[5]);
		/* Version and request id go back as they came. */
		zmq_send(s, "1.0", 3, ZMQ_SNDMORE);
		if (n >= 2)
			zmq_send(s, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
		else
			zmq_send(s, "", 0, ZMQ_SNDMORE);
		zmq_send(s, okay ? "200" : "400", 3, ZMQ_SNDMORE);
		zmq_send(s, okay ? "OK" : "not the pipeline key",
		    okay ? 2 : 20, ZMQ_SNDMORE);
		zmq_send(s, "", 0, ZMQ_SNDMORE);	/* user id */
		zmq_send(s, "", 0, 0);			/* metadata */
		for (i = 0; i < n; i++)
			zmq_msg_close(&f[i]);
	}
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_close(s);
	return NULL;
}

/* Binds the ZAP endpoint here, then hands the socket to the thread. */
static int
zap_start(void *ctx, char *err, size_t errlen)
{
	sigset_t	 all, old;
	void		*s;
	int		 linger = 0, e;

	if (zap_running)
		return 0;
	if ((s = zmq_socket(ctx, ZMQ_REP)) == NULL)
		return chan_fail(err, errlen, "zap socket: %s", zmq_strerror(errno));
	if (zmq_bind(s, ZAP_ENDPOINT) == -1) {
		e = errno;
		zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(s);
		return chan_fail(err, errlen, "bind %s: %s", ZAP_ENDPOINT,
		    zmq_strerror(e));
	}
	/* Signals go to the stage's own threads: their waits end on EINTR. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&zap_thread, NULL, zap_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(s);
		return chan_fail(err, errlen, "zap thread: %s", strerror(e));
	}
	zap_running = 1;
	return 0;
}

/* tcp:// with a keypair set: a binding socket serves CURVE, a connecting one is a client. */
static int
curve_setup(void *ctx, void *sock, enum chan_side side, char *err, size_t errlen)
{
	int	 one = 1;

	if (side == CHAN_BIND) {
		if (zap_start(ctx, err, errlen) == -1)
			return -1;
		if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) == -1 ||
		    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, curve_sec,
		    CURVE_Z85 + 1) == -1)
			return chan_fail(err, errlen, "zmq curve options: %s",
			    zmq_strerror(errno));
		return 0;
	}
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, curve_pub, CURVE_Z85 + 1) == -1 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, curve_pub, CURVE_Z85 + 1) == -1 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, curve_sec, CURVE_Z85 + 1) == -1)
		return chan_fail(err, errlen, "zmq curve options: %s", zmq_strerror(errno));
	return 0;
}

/*
 * Before binding ipc://PATH: create the directory, and remove a socket file
 * left by a process that died (nobody accepts on it).  A live one is left
 * alone and the bind then fails with "address in use".
 */
static int
ipc_prepare(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat	 st;
	int		 s, rc;

	if (*path == '@' || *path == '\0')	/* abstract namespace */
		return 0;
	if (strlen(path) >= sizeof(sun.sun_path))
		return chan_fail(err, errlen, "ipc path too long: %s", path);
	if (file_mkdirs_parent(path, 0755) == -1)
		return chan_fail(err, errlen, "mkdir for %s: %s", path, strerror(errno));
	if (lstat(path, &st) == -1)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return chan_fail(err, errlen, "%s exists and is not a socket", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return chan_fail(err, errlen, "socket: %s", strerror(errno));
	rc = connect(s, (struct sockaddr *)&sun, sizeof(sun));
	close(s);
	if (rc == 0)
		return chan_fail(err, errlen, "%s: in use by a running process", path);
	if (errno == ECONNREFUSED && unlink(path) == -1 && errno != ENOENT)
		return chan_fail(err, errlen, "unlink stale %s: %s", path,
		    strerror(errno));
	return 0;
}

static int
zmq_open_chan(struct chan *c, const char *ep, enum chan_side side, int hwm,
    char *err, size_t errlen)
{
	void	*ctx;
	int	 linger = CHAN_LINGER_MS, one = 1;
	int64_t	 maxsize = MSG_MAX_BYTES;

	if (strncmp(ep, "ipc://", 6) != 0 && strncmp(ep, "tcp://", 6) != 0 &&
	    strncmp(ep, "inproc://", 9) != 0)
		return chan_fail(err, errlen, "%s: not an ipc://, tcp:// or file: uri", ep);
	if (plain_tcp_check(ep, side, err, errlen) == -1)
		return -1;
	if ((ctx = chan_context()) == NULL)
		return chan_fail(err, errlen, "zmq context: %s", zmq_strerror(errno));
	c->sock = zmq_socket(ctx, c->dir == CHAN_OUT ? ZMQ_PUSH : ZMQ_PULL);
	if (c->sock == NULL)
		return chan_fail(err, errlen, "zmq socket: %s", zmq_strerror(errno));
	if (zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger)) == -1 ||
	    zmq_setsockopt(c->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) == -1 ||
	    zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm, sizeof(hwm)) == -1 ||
	    (c->dir == CHAN_IN && zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE,
	    &maxsize, sizeof(maxsize)) == -1) ||
	    (c->dir == CHAN_OUT && side == CHAN_CONNECT &&
	    zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof(one)) == -1))
		return chan_fail(err, errlen, "zmq options: %s", zmq_strerror(errno));
	if (curve_on && strncmp(ep, "tcp://", 6) == 0 &&
	    curve_setup(ctx, c->sock, side, err, errlen) == -1)
		return -1;
	if (side == CHAN_BIND) {
		if (strncmp(ep, "ipc://", 6) == 0 &&
		    ipc_prepare(ep + 6, err, errlen) == -1)
			return -1;
		if (zmq_bind(c->sock, ep) == -1)
			return chan_fail(err, errlen, "bind %s: %s", ep,
			    zmq_strerror(errno));
	} else if (zmq_connect(c->sock, ep) == -1)
		return chan_fail(err, errlen, "connect %s: %s", ep, zmq_strerror(errno));
	return 0;
}

void
chan_plain_tcp_allow(int on)
{
	plain_tcp_ok = on;
}

int
chan_tcp_loopback(const char *ep)
{
	const char	*h = ep + 6, *colon = strrchr(h, ':');
	size_t		 n = colon ? (size_t)(colon - h) : strlen(h);

	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	return (n == 9 && strncmp(h, "localhost", 9) == 0) ||
	    (n == 3 && strncmp(h, "::1", 3) == 0) ||
	    (n >= 4 && strncmp(h, "127.", 4) == 0);
}

/*
 * A plain tcp:// channel: a warning, and a refusal to bind beyond
 * loopback unless allowed.  0, or -1 with err.
 */
static int
plain_tcp_check(const char *ep, enum chan_side side, char *err, size_t errlen)
{
	if (curve_on || strncmp(ep, "tcp://", 6) != 0)
		return 0;
	if (side == CHAN_BIND && !chan_tcp_loopback(ep) && !plain_tcp_ok)
		return chan_fail(err, errlen, "bind %s: plain tcp:// beyond loopback "
		    "lets anyone who reaches the port inject profiles; set "
		    "pipeline.curve (or pipeline.allow_plain_tcp)", ep);
	log_warnx("plain tcp channel uri=%s side=%s: without pipeline.curve anyone "
	    "who reaches the port can inject or read records", ep,
	    side == CHAN_BIND ? "bind" : "connect");
	return 0;
}

struct chan *
chan_open(const char *uri, enum chan_dir dir, enum chan_side side, int hwm,
    char *err, size_t errlen)
{
	struct chan	*c;
	const char	*ep = uri;
	int		 rc;

	if (hwm <= 0)
		hwm = CHAN_HWM_DEFAULT;
	if (*ep == '@') {
		side = CHAN_BIND;
		ep++;
	} else if (*ep == '>') {
		side = CHAN_CONNECT;
		ep++;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->uri = strdup(uri)) == NULL) {
		free(c);
		chan_fail(err, errlen, "out of memory");
		return NULL;
	}
	c->dir = dir;
	if (strncmp(ep, "file:", 5) == 0) {
		c->is_file = 1;
		rc = file_open(c, ep + 5, err, errlen);
	} else
		rc = zmq_open_chan(c, ep, side, hwm, err, errlen);
	if (rc == -1) {
		if (c->sock)
			zmq_close(c->sock);
		if (c->fp)
			fclose(c->fp);
		if (c->tmp)
			unlink(c->tmp);
		chan_free(c);
		return NULL;
	}
	return c;
}

int
chan_send(struct chan *c, const void *p, size_t len, int timeout_ms)
{
	zmq_pollitem_t	 it;
	long long	 deadline = 0;
	int		 wait;

	if (c->dir != CHAN_OUT) {
		errno = EBADF;
		return CHAN_ERR;
	}
	if (c->is_file)
		return file_send(c, p, len);
	if (timeout_ms > 0)
		deadline = time_mono_ms() + timeout_ms;
	for (;;) {
		if (zmq_send(c->sock, p, len, ZMQ_DONTWAIT) >= 0) {
			c->count++;
			return 0;
		}
		if (errno == EINTR)
			return CHAN_TIMEOUT;
		if (errno != EAGAIN)
			return CHAN_ERR;
		if (timeout_ms == 0)
			return CHAN_TIMEOUT;
		wait = timeout_ms < 0 ? -1 : ms_left(deadline);
		if (timeout_ms > 0 && wait == 0)
			return CHAN_TIMEOUT;
		it = (zmq_pollitem_t){ .socket = c->sock, .events = ZMQ_POLLOUT };
		if (zmq_poll(&it, 1, wait) == -1)
			return errno == EINTR ? CHAN_TIMEOUT : CHAN_ERR;
	}
}

int
chan_recv(struct chan *c, struct buf *out, int timeout_ms)
{
	zmq_pollitem_t	 it;
	zmq_msg_t	 m;
	long long	 deadline = 0;
	size_t		 n;
	int		 wait, rc;

	if (c->dir != CHAN_IN) {
		errno = EBADF;
		return CHAN_ERR;
	}
	if (c->is_file)
		return file_recv(c, out);
	if (timeout_ms > 0)
		deadline = time_mono_ms() + timeout_ms;
	zmq_msg_init(&m);
	for (;;) {
		if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) >= 0)
			break;
		rc = errno == EINTR ? CHAN_TIMEOUT : errno == EAGAIN ? 0 : CHAN_ERR;
		if (rc == 0 && timeout_ms == 0)
			rc = CHAN_TIMEOUT;
		wait = timeout_ms < 0 ? -1 : ms_left(deadline);
		if (rc == 0 && timeout_ms > 0 && wait == 0)
			rc = CHAN_TIMEOUT;
		if (rc == 0) {
			it = (zmq_pollitem_t){ .socket = c->sock, .events = ZMQ_POLLIN };
			if (zmq_poll(&it, 1, wait) == -1)
				rc = errno == EINTR ? CHAN_TIMEOUT : CHAN_ERR;
		}
		if (rc != 0) {
			zmq_msg_close(&m);
			return rc;
		}
	}
	c->count++;
	n = zmq_msg_size(&m);
	if (n > out->max) {
		zmq_msg_close(&m);
		errno = E2BIG;
		return CHAN_ERR;
	}
	buf_reset(out);
	rc = buf_add(out, zmq_msg_data(&m), n) == -1 ? CHAN_ERR : 0;
	zmq_msg_close(&m);
	return rc;
}

int
chan_poll(struct chan **c, int n, int timeout_ms)
{
	static unsigned	 next;	/* where the scan starts: no channel starves */
	zmq_pollitem_t	 it[CHAN_POLL_MAX];
	int		 i, k, rc;

	if (n <= 0 || n > CHAN_POLL_MAX)
		panic("chan_poll: %d channels", n);
	for (i = 0; i < n; i++) {
		if (c[i]->is_file)
			return i;	/* a replay never waits */
		it[i] = (zmq_pollitem_t){ .socket = c[i]->sock,
		    .events = c[i]->dir == CHAN_IN ? ZMQ_POLLIN : ZMQ_POLLOUT };
	}
	if ((rc = zmq_poll(it, n, timeout_ms)) == -1) {
		if (errno == EINTR)
			return -2;
		panic("chan_poll: zmq_poll: %s", zmq_strerror(errno));
	}
	if (rc == 0)
		return -1;
	for (k = 0; k < n; k++) {
		i = (int)((next + (unsigned)k) % (unsigned)n);
		if (it[i].revents & (ZMQ_POLLIN | ZMQ_POLLOUT)) {
			next = (unsigned)i + 1;
			return i;
		}
	}
	return -1;
}

const char *
chan_uri(const struct chan *c)
{
	return c->uri;
}

int
chan_is_file(const struct chan *c)
{
	return c->is_file;
}

uint64_t
chan_count(const struct chan *c)
{
	return c->count;
}

int
chan_close(struct chan **cp)
{
	struct chan	*c = *cp;
	int		 rc = 0;

	if (c == NULL)
		return 0;
	*cp = NULL;
	if (c->sock != NULL)
		zmq_close(c->sock);	/* LINGER bounds how long this waits */
	if (c->fp != NULL) {
		if (c->dir == CHAN_OUT)
			rc = file_seal(c);
		else
			fclose(c->fp);
	}
	chan_free(c);
	return rc;
}

void
chan_shutdown(void)
{
	explicit_bzero(curve_sec, sizeof(curve_sec));
	curve_on = 0;
	if (chan_ctx == NULL)
		return;
	if (zap_running) {
		/*
		 * The ZAP handler blocks in recv: shutdown makes that return
		 * ETERM, the handler closes its socket, and only then can
		 * zmq_ctx_term (which waits for every socket) return.
		 */
		zmq_ctx_shutdown(chan_ctx);
		pthread_join(zap_thread, NULL);
		zap_running = 0;
	}
	while (zmq_ctx_term(chan_ctx) == -1 && errno == EINTR)
		;
	chan_ctx = NULL;
}
