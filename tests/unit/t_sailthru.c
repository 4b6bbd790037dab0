/* tests/unit/t_sailthru.c: the Sailthru client's signing, encoding, classes, pacing and URL rules. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "sailthru.h"
#include "tap.h"

static void
test_sign(void)
{
	const char	*v1[] = { "123key", "json", "{\"id\":\"neil@example.com\"}" };
	const char	*v2[] = { "one", "two", "three" };
	const char	*v3[] = { "{\"id\":\"neil@example.com\"}", "json", "123key" };
	char		 sig[33];

	sailthru_sign("abcsecret", v1, 3, sig);
	is_str(sig, "fa5c79189b708199f3cf69f1cf8f7928", "signature vector from the API docs");
	sailthru_sign("secret", v2, 3, sig);
	is_str(sig, "764794f03e1e345c32d4c81aae2815eb", "values are sorted: md5(secretonethreetwo)");
	sailthru_sign("abcsecret", v3, 3, sig);
	is_str(sig, "fa5c79189b708199f3cf69f1cf8f7928", "input order does not matter");
	sailthru_sign("secret", NULL, 0, sig);
	is_str(sig, "5ebe2294ecd0e0f08eab7690d2a6ee69", "no values: md5 of the secret");
}

static void
test_form(void)
{
	char	*f;

	f = sailthru_form("123key", "abcsecret", "{\"id\":\"neil@example.com\"}");
	is_str(f, "api_key=123key&format=json"
	    "&json=%7B%22id%22%3A%22neil%40example.com%22%7D"
	    "&sig=fa5c79189b708199f3cf69f1cf8f7928",
	    "form: encoded json and the signature of those exact bytes");
	ok(f && strstr(f, "abcsecret") == NULL, "form does not carry the secret");
	free(f);
	f = sailthru_form("k y", "s", "{\"a\":\"b c&d=e+f~_.-/\xc3\xa9\"}");
	ok(f && strstr(f, "api_key=k%20y&") == f, "space in a value is %%20");
	ok(f && strstr(f, "json=%7B%22a%22%3A%22b%20c%26d%3De%2Bf~_.-%2F%C3%A9%22%7D&") != NULL,
	    "reserved bytes and UTF-8 are percent-encoded, unreserved kept");
	free(f);
}

static void
test_classify(void)
{
	static const struct { long http; int code; int want; } t[] = {
		{ 200, 0, SAILTHRU_OK },
		{ 204, 0, SAILTHRU_OK },
		{ 200, 99, SAILTHRU_ENOTFOUND },	/* error in a 200 body */
		{ 400, 99, SAILTHRU_ENOTFOUND },
		{ 404, 15, SAILTHRU_ENOTFOUND },
		{ 404, 0, SAILTHRU_ENOTFOUND },
		{ 401, 5, SAILTHRU_EAUTH },
		{ 200, 5, SAILTHRU_EAUTH },
		{ 401, 0, SAILTHRU_EAUTH },
		{ 403, 0, SAILTHRU_EAUTH },
		{ 400, 3, SAILTHRU_EAUTH },
		{ 429, 43, SAILTHRU_ERATE },
		{ 429, 0, SAILTHRU_ERATE },
		{ 200, 43, SAILTHRU_ERATE },
		{ 500, 9, SAILTHRU_ERETRY },
		{ 200, 9, SAILTHRU_ERETRY },
		{ 500, 0, SAILTHRU_ERETRY },
		{ 502, 0, SAILTHRU_ERETRY },
		{ 503, 2, SAILTHRU_ERETRY },	/* unknown code on a 5xx: transient */
		{ 0, 0, SAILTHRU_ERETRY },	/* no answer at all */
		{ 408, 0, SAILTHRU_ERETRY },
		{ 400, 2, SAILTHRU_EPERM },
		{ 400, 0, SAILTHRU_EPERM },
		{ 200, 2, SAILTHRU_EPERM },
		{ 302, 0, SAILTHRU_EPERM },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(sailthru_classify(t[i].http, t[i].code), t[i].want,
		    "classify http=%ld code=%d -> %s", t[i].http, t[i].code,
		    sailthru_class_name(t[i].want));
	is_str(sailthru_class_name(SAILTHRU_EAUTH), "auth", "class name auth");
	is_str(sailthru_class_name(SAILTHRU_ENOTFOUND), "not_found", "class name not_found");
}

static int
berr(const char *body, int *code, char *msg, size_t msglen)
{
	return sailthru_body_error(body, strlen(body), code, msg, msglen);
}

static void
test_body_error(void)
{
	char	 msg[64];
	int	 code;

	is_int(berr("{\"error\":99,\"errormsg\":\"User not found\"}",
	    &code, msg, sizeof(msg)), 1, "error envelope recognised");
	is_int(code, 99, "error code kept");
	is_str(msg, "User not found", "errormsg kept");
	is_int(berr("{\"error\":\"43\",\"errormsg\":\"slow down\"}",
	    &code, msg, sizeof(msg)), 1, "numeric string code recognised");
	is_int(code, 43, "numeric string code parsed");
	is_int(berr("{\"status\":\"error\",\"error\":\"bad file\"}",
	    &code, msg, sizeof(msg)), 0, "a job's own error text is not an API error");
	is_int(berr("{\"lists\":[]}", &code, msg, sizeof(msg)), 0,
	    "normal body");
	is_int(berr("<html>", &code, msg, sizeof(msg)), 0, "not JSON");
	is_int(berr("{\"error\":5}", &code, msg, sizeof(msg)), 1,
	    "error without errormsg");
	is_int(code, 5, "its code");
}

static void
test_backoff(void)
{
	is_int(sailthru_backoff_ms(500, 30000, 1, 0), 250, "attempt 1, lowest jitter: base/2");
	is_int(sailthru_backoff_ms(500, 30000, 1, 250), 500, "attempt 1, highest jitter: base");
	is_int(sailthru_backoff_ms(500, 30000, 3, 0), 1000, "attempt 3: 2000/2");
	is_int(sailthru_backoff_ms(500, 30000, 3, 1000), 2000, "attempt 3: at most 2000");
	is_int(sailthru_backoff_ms(500, 30000, 30, 0), 15000, "capped: cap/2 at least");
	is_int(sailthru_backoff_ms(500, 30000, 30, 15000), 30000, "capped: never above cap");
	is_int(sailthru_backoff_ms(500, 30000, 1000, 0xffffffffu) <= 30000, 1,
	    "huge attempt numbers do not overflow");
	is_int(sailthru_backoff_ms(500, 30000, 4, 4001) , 4000 / 2 + 4001 % 2001,
	    "jitter is rnd modulo the half range");
}

static void
test_pace(void)
{
	struct sailthru_rate	 r = { 10, 0, 1000, 1 };

	is_int(sailthru_pace_ms(NULL, 0), 0, "nothing known: go");
	is_int(sailthru_pace_ms(&r, 999000), 1150, "remaining 0: wait until Reset plus margin");
	is_int(sailthru_pace_ms(&r, 1000000), 0, "Reset reached: go");
	is_int(sailthru_pace_ms(&r, 1000500), 0, "Reset passed: go");
	r.remaining = 1;
	is_int(sailthru_pace_ms(&r, 999000), 0, "one left: go");
	r.remaining = 0;
	r.known = 0;
	is_int(sailthru_pace_ms(&r, 999000), 0, "unknown: go");
	r.known = 1;
	r.reset = 5000;
	is_int(sailthru_pace_ms(&r, 1000), 61000, "far Reset (clock skew) is capped");
	r.reset = 0;
	is_int(sailthru_pace_ms(&r, 1000), 0, "no Reset header: go (429 handling backs off)");
}

static void
test_url(void)
{
	static const struct { const char *url; int ok; } t[] = {
		{ "https://api.sailthru.com", 1 },
		{ "HTTPS://api.sailthru.com/", 1 },
		{ "http://127.0.0.1:8080", 1 },
		{ "http://127.9.9.9/x", 1 },
		{ "http://localhost:1", 1 },
		{ "http://LOCALHOST", 1 },
		{ "http://[::1]:99/", 1 },
		{ "http://api.sailthru.com", 0 },
		{ "http://128.0.0.1", 0 },
		{ "http://127.0.0.1.example.com/", 0 },
		{ "http://127.0.0.1@example.com/", 0 },
		{ "http://localhost.example.com", 0 },
		{ "http://[::2]/", 0 },
		{ "ftp://127.0.0.1/", 0 },
		{ "file:///etc/passwd", 0 },
		{ "", 0 },
		{ "https://", 0 },
	};
	char	 err[256];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		err[0] = '\0';
		is_int(sailthru_url_check(t[i].url, err, sizeof(err)) == 0, t[i].ok,
		    "url %s %s", t[i].url, t[i].ok ? "allowed" : "refused");
	}
	sailthru_url_check("http://api.example.com/v1", err, sizeof(err));
	ok(strstr(err, "https") && strstr(err, "api.example.com"),
	    "refusal names the host and says https: %s", err);
}

static void
test_redact(void)
{
	char	 s[64];

	snprintf(s, sizeof(s), "bad sig for s3cr3t and s3cr3t!");
	sailthru_redact(s, "s3cr3t");
	is_str(s, "bad sig for *** and ***!", "every occurrence redacted");
	snprintf(s, sizeof(s), "ab");
	sailthru_redact(s, "b");
	is_str(s, "a*", "short secret masked in place");
}

static void
test_new(void)
{
	struct sailthru_opts	 o;
	struct sailthru		*c;
	char			 err[256];

	memset(&o, 0, sizeof(o));
	o.base_url = "http://api.example.com/TOPSECRET";
	o.api_key = "key";
	o.secret = "TOPSECRET";
	c = sailthru_new(&o, err, sizeof(err));
	ok(c == NULL, "plain http to a remote host refused");
	ok(strstr(err, "http") != NULL, "with a reason: %s", err);
	ok(strstr(err, "TOPSECRET") == NULL, "the reason does not show the secret");
	o.base_url = "https://api.example.com";
	o.ca_file = "/nonexistent/ca.pem";
	c = sailthru_new(&o, err, sizeof(err));
	ok(c == NULL && strstr(err, "/nonexistent/ca.pem"), "unreadable CA file refused: %s", err);
	o.ca_file = NULL;
	o.secret = "";
	ok(sailthru_new(&o, err, sizeof(err)) == NULL, "empty secret refused");
	o.secret = "TOPSECRET";
	c = sailthru_new(&o, err, sizeof(err));
	ok(c != NULL, "https accepted");
	sailthru_destroy(&c);
	ok(c == NULL, "destroy nulls the pointer");
}

/* The request has its headers and as many body bytes as Content-Length says. */
static int
req_complete(const char *req, size_t got)
{
	const char	*end = strstr(req, "\r\n\r\n"), *cl;
	long		 n = 0;

	if (end == NULL)
		return 0;
	if ((cl = strstr(req, "\r\nContent-Length:")) != NULL && cl < end)
		n = strtol(cl + 17, NULL, 10);
	return (long)(got - (size_t)(end + 4 - req)) >= n;
}

/*
 * A one-shot loopback server in a child process: answers the k-th
 * connection with resp[k], then exits.  Returns the port.
 */
static int
serve(const char *const *resp, int n, pid_t *pid)
{
	struct sockaddr_in	 sa;
	socklen_t		 sl = sizeof(sa);
	int			 s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(s, 8) == -1 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) == -1)
		return -1;
	if ((*pid = fork()) == 0) {
		for (int k = 0; k < n; k++) {
			char	 req[8192];
			size_t	 got = 0;
			int	 a = accept(s, NULL, NULL);

			if (a == -1)
				_exit(1);
			/* Read until the end of the headers and a short body. */
			while (got < sizeof(req) - 1) {
				ssize_t r = read(a, req + got, sizeof(req) - 1 - got);
				if (r <= 0)
					break;
				got += (size_t)r;
				req[got] = '\0';
				if (req_complete(req, got))
					break;
			}
			if (write(a, resp[k], strlen(resp[k])) < 0)
				_exit(1);
			shutdown(a, SHUT_WR);
			close(a);
		}
		_exit(0);
	}
	close(s);
	return ntohs(sa.sin_port);
}

static void
test_live(void)
{
	static const char *const r1[] = {
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		"Connection: close\r\n\r\n{\"error\":5,\"errormsg\":\"bad sig: secret TOPSECRET used\"}",
	};
	static const char *const r2[] = {
		"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
		"{\"error\":9,\"errormsg\":\"Internal error\"}",
		"HTTP/1.1 200 OK\r\nConnection: close\r\n"
		"X-Rate-Limit-Limit: 40\r\nX-Rate-Limit-Remaining: 39\r\n"
		"X-Rate-Limit-Reset: 1700000000\r\n\r\n{\"ok\":\"true\"}",
	};
	struct sailthru_opts	 o;
	struct sailthru_error	 e;
	struct sailthru_rate	 rt;
	struct sailthru		*c;
	char			 url[64], err[256], *body;
	pid_t			 pid;
	int			 port, st;

	memset(&o, 0, sizeof(o));
	o.api_key = "key";
	o.secret = "TOPSECRET";
	o.max_attempts = 3;
	o.backoff_base_ms = 10;
	o.backoff_cap_ms = 20;
	o.timeout_ms = 5000;

	port = serve(r1, 1, &pid);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	o.base_url = url;
	c = sailthru_new(&o, err, sizeof(err));
	ok(c != NULL, "client for loopback http");
	is_int(sailthru_call(c, "GET", "user", "{\"id\":\"a@b.c\"}", &body, &e), -1,
	    "error in a 200 body fails the call");
	ok(body == NULL, "no body on failure");
	is_int(e.cls, SAILTHRU_EAUTH, "error 5 is auth");
	is_int(e.http, 200, "http kept");
	is_int(e.code, 5, "code kept");
	ok(strstr(e.msg, "GET user") != NULL, "message names the call: %s", e.msg);
	ok(strstr(e.msg, "TOPSECRET") == NULL, "the secret is redacted from Sailthru's message");
	waitpid(pid, &st, 0);
	sailthru_destroy(&c);

	port = serve(r2, 3, &pid);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	c = sailthru_new(&o, err, sizeof(err));
	is_int(sailthru_call(c, "POST", "user", "{\"id\":\"a@b.c\"}", &body, &e), 0,
	    "500, then error 9, then success: retried");
	is_str(body, "{\"ok\":\"true\"}", "body of the successful attempt");
	free(body);
	sailthru_rate_get(c, "POST", "user", &rt);
	ok(rt.known && rt.limit == 40 && rt.remaining == 39 && rt.reset == 1700000000,
	    "rate headers recorded for POST user");
	sailthru_rate_get(c, "GET", "user", &rt);
	ok(!rt.known, "nothing recorded for GET user");
	waitpid(pid, &st, 0);

	/* Nothing listens there any more: connection refused, retried, given up. */
	is_int(sailthru_call(c, "GET", "list", "{}", &body, &e), -1, "connection refused fails");
	is_int(e.cls, SAILTHRU_ERETRY, "as a transient failure that outlasted retries");
	is_int(e.http, 0, "without an HTTP status");
	ok(strstr(e.msg, "TOPSECRET") == NULL, "no secret in the transport error");
	is_int(sailthru_download(c, "http://example.com/x.csv", "/tmp/none", NULL, NULL, &e),
	    -1, "download refuses plain http to a remote host");
	is_int(e.cls, SAILTHRU_ECONFIG, "as a config error");
	sailthru_destroy(&c);
}

static char *
slurp(const char *path)
{
	static char	 data[256];
	FILE		*f = fopen(path, "r");
	size_t		 n;

	if (f == NULL)
		return NULL;
	n = fread(data, 1, sizeof(data) - 1, f);
	data[n] = '\0';
	fclose(f);
	return data;
}

static void
test_download(void)
{
	/* Cut after 5 of 10 bytes; then a server that ignores the range. */
	static const char *const r1[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789",
	};
	/* Cut; then a 206 that starts elsewhere; then a clean restart. */
	static const char *const r2[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabcd",
		("HTTP/1.1 206 Partial\r\nContent-Range: bytes 2-9/10\r\nContent-Length: 8\r\n"
		"Connection: close\r\n\r\ncdefghij"),
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabcdefghij",
	};
	static const char *const r3[] = {
		"HTTP/1.1 410 Gone\r\nContent-Length: 5\r\nConnection: close\r\n\r\ngone\n",
	};
	struct sailthru_opts	 o;
	struct sailthru_error	 e;
	struct sailthru		*c;
	char			 dir[] = "/tmp/t_sailthru.XXXXXX", path[64], part[80];
	char			 url[64], err[256];
	pid_t			 pid;
	int			 st;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/out.csv", dir);
	snprintf(part, sizeof(part), "%s.part", path);
	memset(&o, 0, sizeof(o));
	o.base_url = "https://api.example.com";
	o.api_key = "key";
	o.secret = "TOPSECRET";
	o.max_attempts = 4;
	o.backoff_base_ms = 10;
	o.backoff_cap_ms = 20;
	o.timeout_ms = 5000;
	c = sailthru_new(&o, err, sizeof(err));

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x.csv", serve(r1, 2, &pid));
	is_int(sailthru_download(c, url, path, NULL, NULL, &e), 0,
	    "cut, then range ignored: restarted from zero");
	is_str(slurp(path), "0123456789", "file holds the whole body once");
	ok(access(part, F_OK) == -1, "no .part left");
	waitpid(pid, &st, 0);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x.csv", serve(r2, 3, &pid));
	is_int(sailthru_download(c, url, path, NULL, NULL, &e), 0,
	    "206 from the wrong offset is not appended");
	is_str(slurp(path), "abcdefghij", "file is exact after the restart");
	waitpid(pid, &st, 0);

	unlink(path);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x.csv", serve(r3, 1, &pid));
	is_int(sailthru_download(c, url, path, NULL, NULL, &e), -1, "410 fails");
	is_int(e.cls, SAILTHRU_ENOTFOUND, "as not found (expired URL)");
	is_int(e.http, 410, "with the status");
	ok(strstr(e.msg, "expired") != NULL, "message says expired: %s", e.msg);
	ok(access(path, F_OK) == -1 && access(part, F_OK) == -1, "no file, no .part");
	waitpid(pid, &st, 0);
	sailthru_destroy(&c);
	rmdir(dir);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init("t_sailthru", LOG_ERR);
	test_sign();
	test_form();
	test_classify();
	test_body_error();
	test_backoff();
	test_pace();
	test_url();
	test_redact();
	test_new();
	test_live();
	test_download();
	return done_testing();
}
