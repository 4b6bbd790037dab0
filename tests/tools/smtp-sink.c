/*
 * tests/tools/smtp-sink.c: a mail relay for the notification tests, on
 * loopback: ESMTP with STARTTLS and AUTH PLAIN, keeping each message it
 * accepts as a file.  One connection at a time; nothing is relayed.
 *
 *   smtp-sink --listen 127.0.0.1:0 --port-file FILE --dir DIR
 *             [--cert PEM --key PEM] [--user U --password P]
 *
 * With --cert and --key it offers STARTTLS (and AUTH only after it); with
 * --user it refuses MAIL FROM until the client authenticated with U and P.
 * Each accepted message becomes DIR/N.eml (written to a temporary name and
 * renamed, so a reader never sees half a message), preceded by the lines
 * "X-Sink-From: <...>", one "X-Sink-To: <...>" per recipient, "X-Sink-TLS:
 * yes|no" and "X-Sink-Auth: USER|-", with the SMTP dot-stuffing undone.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define LINE_MAX_SINK	4096
#define MSG_MAX_SINK	(4u << 20)

struct peer {
	int	 fd;
	SSL	*ssl;
	char	 buf[8192];
	size_t	 off, len;
};

static SSL_CTX	*tls_ctx;
static const char *want_user, *want_pass, *dir;
static unsigned	 nmsg;

static int
peer_fill(struct peer *p)
{
	ssize_t	 n;

	p->off = 0;
	if (p->ssl != NULL)
		n = SSL_read(p->ssl, p->buf, sizeof(p->buf));
	else
		n = read(p->fd, p->buf, sizeof(p->buf));
	if (n <= 0)
		return -1;
	p->len = (size_t)n;
	return 0;
}

/* One line without its CR LF; -1 at the end of the connection. */
static int
peer_line(struct peer *p, char *line, size_t max)
{
	size_t	 n = 0;

	for (;;) {
		if (p->off == p->len && peer_fill(p) == -1)
			return -1;
		char c = p->buf[p->off++];
		if (c == '\n')
			break;
		if (n + 1 < max)
			line[n++] = c;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return 0;
}

static void
peer_say(struct peer *p, const char *s)
{
	size_t	 n = strlen(s);

	if (p->ssl != NULL)
		SSL_write(p->ssl, s, (int)n);
	else if (write(p->fd, s, n) < 0)
		return;
}

/* AUTH PLAIN's response: base64 of "authzid\0user\0password". */
static int
auth_plain_ok(const char *b64, char *who, size_t wholen)
{
	unsigned char	 out[1024];
	size_t		 n = strlen(b64);
	int		 len;
	const char	*user, *pass;

	if (n == 0 || n > 1300 || n % 4 != 0)
		return 0;
	if ((len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n)) < 0)
		return 0;
	/* EVP_DecodeBlock counts the padding as data. */
	while (n > 0 && b64[n - 1] == '=') {
		n--;
		len--;
	}
	out[len] = '\0';
	user = memchr(out, '\0', (size_t)len);
	if (user == NULL)
		return 0;
	user++;
	pass = memchr(user, '\0', (size_t)len - (size_t)(user - (char *)out));
	if (pass == NULL)
		return 0;
	pass++;
	snprintf(who, wholen, "%s", user);
	return want_user != NULL && strcmp(user, want_user) == 0 &&
	    strlen(pass) == (size_t)len - (size_t)(pass - (char *)out) &&
	    strcmp(pass, want_pass) == 0;
}

static void
store(const char *head, const char *body, size_t bodylen)
{
	char	 tmp[4096], path[4096];
	FILE	*f;

	snprintf(tmp, sizeof(tmp), "%s/.%u.tmp", dir, nmsg + 1);
	snprintf(path, sizeof(path), "%s/%u.eml", dir, nmsg + 1);
	if ((f = fopen(tmp, "w")) == NULL) {
		perror(tmp);
		return;
	}
	fputs(head, f);
	fwrite(body, 1, bodylen, f);
	if (fclose(f) == 0 && rename(tmp, path) == 0)
		nmsg++;
}

static void
serve(int fd)
{
	struct peer	 p = { .fd = fd };
	char		 line[LINE_MAX_SINK], head[16384], who[256] = "-";
	char		*body = NULL;
	size_t		 hlen = 0, blen = 0;
	int		 authed = 0, have_from = 0, nrcpt = 0;

	peer_say(&p, "220 sink ESMTP ready\r\n");
	while (peer_line(&p, line, sizeof(line)) == 0) {
		if (strncasecmp(line, "EHLO", 4) == 0) {
			peer_say(&p, "250-sink\r\n");
			if (tls_ctx != NULL && p.ssl == NULL)
				peer_say(&p, "250-STARTTLS\r\n");
			if (want_user != NULL && (p.ssl != NULL || tls_ctx == NULL))
				peer_say(&p, "250-AUTH PLAIN\r\n");
			peer_say(&p, "250 8BITMIME\r\n");
		} else if (strncasecmp(line, "HELO", 4) == 0) {
			peer_say(&p, "250 sink\r\n");
		} else if (strcasecmp(line, "STARTTLS") == 0 && tls_ctx && !p.ssl) {
			peer_say(&p, "220 go ahead\r\n");
			/* What came before the handshake is not trusted: dropped. */
			p.off = p.len = 0;
			p.ssl = SSL_new(tls_ctx);
			SSL_set_fd(p.ssl, fd);
			if (SSL_accept(p.ssl) != 1) {
				fprintf(stderr, "smtp-sink: TLS handshake failed\n");
				break;
			}
		} else if (strncasecmp(line, "AUTH PLAIN", 10) == 0) {
			const char *b64 = line + 10;

			while (*b64 == ' ')
				b64++;
			if (*b64 == '\0') {
				peer_say(&p, "334 \r\n");
				if (peer_line(&p, line, sizeof(line)) == -1)
					break;
				b64 = line;
			}
			if (auth_plain_ok(b64, who, sizeof(who))) {
				authed = 1;
				peer_say(&p, "235 authenticated\r\n");
			} else {
				snprintf(who, sizeof(who), "-");
				peer_say(&p, "535 authentication failed\r\n");
			}
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			if (want_user != NULL && !authed) {
				peer_say(&p, "530 authentication required\r\n");
				continue;
			}
			hlen = (size_t)snprintf(head, sizeof(head), "X-Sink-From: %s\n",
			    line + 10);
			have_from = 1;
			nrcpt = 0;
			peer_say(&p, "250 ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0 && have_from) {
			if (hlen < sizeof(head))
				hlen += (size_t)snprintf(head + hlen, sizeof(head) - hlen,
				    "X-Sink-To: %s\n", line + 8);
			nrcpt++;
			peer_say(&p, "250 ok\r\n");
		} else if (strcasecmp(line, "DATA") == 0 && nrcpt > 0) {
			int	 ok = 1;

			peer_say(&p, "354 end with .\r\n");
			free(body);
			body = NULL;
			blen = 0;
			for (;;) {
				const char *l = line;
				size_t n;

				if (peer_line(&p, line, sizeof(line)) == -1) {
					ok = 0;
					break;
				}
				if (strcmp(line, ".") == 0)
					break;
				if (line[0] == '.')
					l++;
				n = strlen(l);
				if (blen + n + 1 > MSG_MAX_SINK)
					continue;
				if ((body = realloc(body, blen + n + 2)) == NULL)
					abort();
				memcpy(body + blen, l, n);
				blen += n;
				body[blen++] = '\n';
			}
			if (!ok)
				break;
			if (hlen < sizeof(head))
				snprintf(head + hlen, sizeof(head) - hlen, "X-Sink-TLS: %s\n"
				    "X-Sink-Auth: %s\n", p.ssl ? "yes" : "no", who);
			store(head, body ? body : "", blen);
			have_from = 0;
			nrcpt = 0;
			peer_say(&p, "250 queued\r\n");
		} else if (strcasecmp(line, "RSET") == 0) {
			have_from = nrcpt = 0;
			peer_say(&p, "250 ok\r\n");
		} else if (strcasecmp(line, "NOOP") == 0) {
			peer_say(&p, "250 ok\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			peer_say(&p, "221 bye\r\n");
			break;
		} else
			peer_say(&p, "502 not implemented\r\n");
	}
	free(body);
	if (p.ssl != NULL) {
		SSL_shutdown(p.ssl);
		SSL_free(p.ssl);
	}
	close(fd);
}

static void
usage(void)
{
	fprintf(stderr, "usage: smtp-sink --listen HOST:PORT --port-file FILE --dir DIR "
	    "[--cert PEM --key PEM] [--user U --password P]\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	const char		*listen_at = "127.0.0.1:0", *port_file = NULL;
	const char		*cert = NULL, *key = NULL;
	struct sockaddr_in	 sa;
	socklen_t		 sl = sizeof(sa);
	char			 host[64], *colon;
	int			 s, one = 1;
	FILE			*f;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--listen") == 0)
			listen_at = argv[++i];
		else if (strcmp(argv[i], "--port-file") == 0)
			port_file = argv[++i];
		else if (strcmp(argv[i], "--dir") == 0)
			dir = argv[++i];
		else if (strcmp(argv[i], "--cert") == 0)
			cert = argv[++i];
		else if (strcmp(argv[i], "--key") == 0)
			key = argv[++i];
		else if (strcmp(argv[i], "--user") == 0)
			want_user = argv[++i];
		else if (strcmp(argv[i], "--password") == 0)
			want_pass = argv[++i];
		else
			usage();
	}
	if (dir == NULL || port_file == NULL || (want_user != NULL) != (want_pass != NULL) ||
	    (cert != NULL) != (key != NULL))
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (cert != NULL) {
		if ((tls_ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
		    SSL_CTX_use_certificate_chain_file(tls_ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(tls_ctx, key, SSL_FILETYPE_PEM) != 1) {
			ERR_print_errors_fp(stderr);
			return 66;
		}
	}
	snprintf(host, sizeof(host), "%s", listen_at);
	if ((colon = strrchr(host, ':')) == NULL)
		usage();
	*colon = '\0';
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		usage();
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(s, 8) == -1 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) == -1) {
		perror("smtp-sink: listen");
		return 71;
	}
	if ((f = fopen(port_file, "w")) == NULL)
		return 73;
	fprintf(f, "%u\n", ntohs(sa.sin_port));
	fclose(f);
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c == -1) {
			if (errno == EINTR)
				continue;
			perror("smtp-sink: accept");
			return 71;
		}
		serve(c);
	}
}
