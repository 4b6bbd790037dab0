/* tests/unit/t_chan_curve.c: tcp:// channels with CURVE admit the pipeline's keypair and nobody else. */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <zmq.h>

#include "tap.h"
#include "buf.h"
#include "chan.h"
#include "log.h"

static char	 err[256];

/*
 * Binds dir on a free loopback port from a block picked by pid (chan URIs
 * cannot bind port 0); sets *port.
 */
static struct chan *
bind_free(enum chan_dir dir, int *port)
{
	char		 uri[64];
	struct chan	*c;
	int		 p, i;

	for (i = 0; i < 200; i++) {
		p = 20000 + (int)((getpid() * 13 + i * 7) % 40000);
		snprintf(uri, sizeof(uri), "@tcp://127.0.0.1:%d", p);
		if ((c = chan_open(uri, dir, CHAN_BIND, 0, err, sizeof(err))) != NULL) {
			*port = p;
			return c;
		}
	}
	return NULL;
}

static struct chan *
connect_to(enum chan_dir dir, int port)
{
	char	 uri[64];

	snprintf(uri, sizeof(uri), ">tcp://127.0.0.1:%d", port);
	return chan_open(uri, dir, CHAN_CONNECT, 0, err, sizeof(err));
}

/* A PUSH in a context of its own: a stranger, with CURVE (own keys) or not. */
static void *
stranger(void *ctx, int port, int curve, const char *server_pub)
{
	char	 ep[64], pub[41], sec[41];
	void	*s = zmq_socket(ctx, ZMQ_PUSH);
	int	 linger = 0;

	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	if (curve) {
		zmq_curve_keypair(pub, sec);
		zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pub, 41);
		zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 41);
		zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 41);
	}
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", port);
	zmq_connect(s, ep);
	/* Without ZMQ_IMMEDIATE this queues until a connection is up. */
	zmq_send(s, "injected", 8, ZMQ_DONTWAIT);
	return s;
}

static int
roundtrip(struct chan *out, struct chan *in, const char *text)
{
	struct buf	 b;
	int		 rc;

	buf_init(&b, 1 << 16);
	if (chan_send(out, text, strlen(text), 5000) != 0) {
		buf_clear(&b);
		return 0;
	}
	rc = chan_recv(in, &b, 5000) == 0 && b.len == strlen(text) &&
	    memcmp(b.data, text, b.len) == 0;
	buf_clear(&b);
	return rc;
}

int
main(void)
{
	char		 pub[41], sec[41], pub2[41], sec2[41];
	struct chan	*in, *out, *push, *pull;
	struct buf	 b;
	void		*ctx, *s1, *s2;
	int		 port, port2, rc;

	alarm(120);	/* a stuck handshake or ZAP shutdown fails, not hangs */
	log_init("t_chan_curve", LOG_ERR);
	buf_init(&b, 1 << 16);

	ok(chan_curve_keypair(pub, sec, err, sizeof(err)) == 0, "keypair");
	ok(chan_curve_keypair(pub2, sec2, err, sizeof(err)) == 0, "another keypair");
	is_int(chan_curve_check(pub, sec, err, sizeof(err)), 0, "a keypair checks");
	is_int(chan_curve_check(pub, sec2, err, sizeof(err)), -1,
	    "a secret of another keypair is refused");
	ok(strstr(err, "not the one of public key") != NULL && strstr(err, sec2) == NULL,
	    "... saying so, without the secret: %s", err);
	is_int(chan_curve_check("too short", NULL, err, sizeof(err)), -1,
	    "a short public key is refused");
	is_int(chan_curve_check(pub, "#####################################~~~",
	    err, sizeof(err)), -1, "a secret that is not Z85 is refused");
	is_int(chan_curve_set(pub, NULL, err, sizeof(err)), -1,
	    "a public key without its secret is refused");
	is_int(chan_curve_set(pub, sec, err, sizeof(err)), 0, "keypair set");

	/* Server pulls (the writer's lanes), client pushes (the mappers). */
	in = bind_free(CHAN_IN, &port);
	ok(in != NULL, "CURVE PULL bound on port %d", port);
	out = connect_to(CHAN_OUT, port);
	ok(out != NULL, "CURVE PUSH connected");
	ok(in && out && roundtrip(out, in, "hello over curve"), "the pipeline's keypair gets through");

	/* Server pushes (the fetcher's users), client pulls (the mappers). */
	push = bind_free(CHAN_OUT, &port2);
	pull = connect_to(CHAN_IN, port2);
	ok(push && pull && roundtrip(push, pull, "users over curve"),
	    "a binding PUSH serves CURVE to a connecting PULL");

	ctx = zmq_ctx_new();
	s1 = stranger(ctx, port, 1, pub);
	s2 = stranger(ctx, port, 0, NULL);
	rc = in ? chan_recv(in, &b, 2000) : CHAN_ERR;
	is_int(rc, CHAN_TIMEOUT, "a CURVE client with its own keypair and a plain "
	    "client get nothing through");
	ok(in && out && roundtrip(out, in, "still here"),
	    "the pipeline's client still gets through after the refusals");
	zmq_close(s1);
	zmq_close(s2);
	zmq_ctx_term(ctx);

	is_int(chan_curve_set(pub2, sec2, err, sizeof(err)), -1,
	    "the keypair cannot change while a CURVE server is open");

	chan_close(&out);
	chan_close(&in);
	chan_close(&pull);
	chan_close(&push);
	chan_shutdown();
	ok(1, "chan_shutdown stops the ZAP handler and returns");

	/* Off again: a fresh context, plain tcp. */
	is_int(chan_curve_set(NULL, NULL, err, sizeof(err)), 0, "CURVE off");
	in = bind_free(CHAN_IN, &port);
	out = in ? connect_to(CHAN_OUT, port) : NULL;
	ok(in && out && roundtrip(out, in, "plain"), "plain tcp once CURVE is off");
	chan_close(&out);
	chan_close(&in);
	chan_shutdown();

	buf_clear(&b);
	return done_testing();
}
