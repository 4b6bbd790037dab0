/* common/sailthru.c: owns every HTTP exchange with Sailthru (signing, retries, pacing, downloads). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#if LIBCURL_VERSION_NUM < 0x075400
#error "libcurl 7.84 or later is needed (curl_easy_header); Debian 12 has 7.88"
#endif

#include "buf.h"
#include "file.h"
#include "log.h"
#include "sailthru.h"
#include "timefmt.h"

#define BODY_MAX	(64u << 20)	/* the biggest API answer we accept */
#define ERRBODY_MAX	4096		/* kept from a failed download's body */
#define PACE_MARGIN_MS	150		/* past Reset, so the server's window has turned */
#define PACE_CAP_MS	61000		/* windows are per minute */
#define RATE_SLOTS	32
#define DL_LOW_SPEED	512		/* bytes/s below which a download is stalled */

/* The Sailthru error codes that mean the key or secret is not accepted. */
#define CODE_AUTH(c)	((c) == 3 || (c) == 5 || (c) == 6)
#define CODE_NOTFOUND(c) ((c) == 99 || (c) == 15)
#define CODE_RATE	43
#define CODE_INTERNAL	9

struct rate_slot {
	char			 key[48];	/* "METHOD endpoint" */
	struct sailthru_rate	 r;
};

struct sailthru {
	char		*base_url;
	char		*api_key;
	char		*secret;
	char		*ca_file;
	long		 connect_timeout_ms;
	long		 timeout_ms;
	int		 max_attempts;
	long		 backoff_base_ms;
	long		 backoff_cap_ms;
	CURL		*curl;		/* reused so connections are kept alive */
	uint64_t	 rng;
	struct rate_slot rates[RATE_SLOTS];
	size_t		 nrates;
};

/* What one HTTP exchange produced. */
struct resp {
	struct buf	 body;
	long		 http;
	CURLcode	 cc;
	char		 errbuf[CURL_ERROR_SIZE];
	int		 have_limit, have_remaining, have_reset;
	long		 rl_limit, rl_remaining;
	int64_t		 rl_reset;
	int64_t		 clen;		/* Content-Length, -1 when absent */
	int64_t		 cr_start;	/* Content-Range start, -1 when absent */
	int64_t		 cr_total;	/* Content-Range total, -1 when absent or '*' */
};

const char *
sailthru_class_name(int cls)
{
	switch (cls) {
	case SAILTHRU_OK:		return "ok";
	case SAILTHRU_EAUTH:		return "auth";
	case SAILTHRU_ENOTFOUND:	return "not_found";
	case SAILTHRU_ERATE:		return "rate";
	case SAILTHRU_ERETRY:		return "retry";
	case SAILTHRU_EPERM:		return "permanent";
	case SAILTHRU_ECONFIG:		return "config";
	}
	return "unknown";
}

/* ---- pure helpers ---- */

int
sailthru_classify(long http, int code)
{
	/* Sailthru's own code is more precise than the status, so it wins. */
	if (code != 0) {
		if (CODE_AUTH(code))
			return SAILTHRU_EAUTH;
		if (CODE_NOTFOUND(code))
			return SAILTHRU_ENOTFOUND;
		if (code == CODE_RATE)
			return SAILTHRU_ERATE;
		if (code == CODE_INTERNAL)
			return SAILTHRU_ERETRY;
	}
	if (http == 401 || http == 403)
		return SAILTHRU_EAUTH;
	if (http == 404)
		return SAILTHRU_ENOTFOUND;
	if (http == 429)
		return SAILTHRU_ERATE;
	if (http == 0 || http == 408 || http >= 500)
		return SAILTHRU_ERETRY;
	if (code != 0 || http < 200 || http >= 300)
		return SAILTHRU_EPERM;
	return SAILTHRU_OK;
}

long
sailthru_backoff_ms(long base_ms, long cap_ms, int attempt, uint32_t rnd)
{
	long	 d = base_ms > 0 ? base_ms : 1;

	if (cap_ms < d)
		cap_ms = d;
	for (int i = 1; i < attempt && d < cap_ms; i++)
		d = d > cap_ms / 2 ? cap_ms : d * 2;
	if (d > cap_ms)
		d = cap_ms;
	return d / 2 + (long)(rnd % (uint32_t)(d / 2 + 1));
}

long
sailthru_pace_ms(const struct sailthru_rate *r, int64_t now_ms)
{
	int64_t	 wait;

	if (r == NULL || !r->known || r->remaining > 0 || r->reset <= 0)
		return 0;
	wait = r->reset * 1000 - now_ms;
	if (wait <= 0)
		return 0;
	wait += PACE_MARGIN_MS;
	return wait > PACE_CAP_MS ? PACE_CAP_MS : (long)wait;
}

static int
host_is_loopback(const char *host)
{
	struct in_addr	 a4;

	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return 0;
}

int
sailthru_url_check(const char *url, char *err, size_t errlen)
{
	CURLU	*u;
	char	*scheme = NULL, *host = NULL;
	int	 rc = -1;

	if (url == NULL || *url == '\0') {
		snprintf(err, errlen, "no URL given");
		return -1;
	}
	/* libcurl's own parser: what is checked here is what curl will connect to. */
	if ((u = curl_url()) == NULL)
		fatal_oom("sailthru_url_check");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
		snprintf(err, errlen, "URL must start with https:// (or http:// to a loopback host)");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || *host == '\0') {
		snprintf(err, errlen, "URL has no usable host");
		goto out;
	}
	if (strcmp(scheme, "https") == 0 || host_is_loopback(host))
		rc = 0;
	else
		snprintf(err, errlen, "refusing plain http:// to non-loopback host %s: "
		    "use https:// (TLS is required except for 127.0.0.0/8, localhost, [::1])",
		    host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
sailthru_sign(const char *secret, const char *const *vals, size_t n, char out[33])
{
	static const char	 hex[] = "0123456789abcdef";
	const char		**sorted;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;
	EVP_MD_CTX		*ctx;

	if ((sorted = calloc(n ? n : 1, sizeof(*sorted))) == NULL)
		fatal_oom("sailthru_sign");
	for (size_t i = 0; i < n; i++)
		sorted[i] = vals[i];
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, secret, strlen(secret)) != 1)
		panic("sailthru_sign: MD5 unavailable");
	for (size_t i = 0; i < n; i++)
		if (EVP_DigestUpdate(ctx, sorted[i], strlen(sorted[i])) != 1)
			panic("sailthru_sign: MD5 failed");
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 16)
		panic("sailthru_sign: MD5 failed");
	EVP_MD_CTX_free(ctx);
	free(sorted);
	for (unsigned i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
}

/*
 * application/x-www-form-urlencoded: curl_easy_escape keeps the RFC 3986
 * unreserved bytes and writes every other one as %XX.
 */
static int
form_add(struct buf *b, const char *name, const char *v)
{
	char	*enc;
	int	 rc;

	if (b->len && buf_add(b, "&", 1) == -1)
		return -1;
	if (buf_addstr(b, name) == -1 || buf_add(b, "=", 1) == -1)
		return -1;
	/* The handle argument is not used (libcurl 7.82 and later). */
	if ((enc = curl_easy_escape(NULL, v, 0)) == NULL)
		fatal_oom("sailthru_form");
	rc = buf_addstr(b, enc);
	curl_free(enc);
	return rc;
}

char *
sailthru_form(const char *api_key, const char *secret, const char *json)
{
	const char	*vals[3] = { api_key, "json", json };
	char		 sig[33];
	struct buf	 b;

	sailthru_sign(secret, vals, 3, sig);
	buf_init(&b, SIZE_MAX / 4);
	if (form_add(&b, "api_key", api_key) == -1 ||
	    form_add(&b, "format", "json") == -1 ||
	    form_add(&b, "json", json) == -1 ||
	    form_add(&b, "sig", sig) == -1) {
		buf_clear(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

int
sailthru_body_error(const char *body, size_t len, int *code, char *msg, size_t msglen)
{
	json_t		*root, *err, *em;
	json_error_t	 jerr;
	int		 is = 0;

	*code = 0;
	if (msglen)
		msg[0] = '\0';
	if (body == NULL || len == 0)
		return 0;
	if ((root = json_loadb(body, len, 0, &jerr)) == NULL)
		return 0;
	if (!json_is_object(root)) {
		json_decref(root);
		return 0;
	}
	err = json_object_get(root, "error");
	em = json_object_get(root, "errormsg");
	/*
	 * Sailthru's envelope is {"error": <int>, "errormsg": <text>}; a job's
	 * own textual "error" field (next to "status") is not an API error.
	 */
	if (json_is_integer(err)) {
		*code = (int)json_integer_value(err);
		is = 1;
	} else if (json_is_string(err) && em != NULL) {
		char	*endp;
		long	 v = strtol(json_string_value(err), &endp, 10);

		*code = *endp == '\0' && v > 0 && v < INT_MAX ? (int)v : 0;
		is = 1;
	} else if (em != NULL && err != NULL)
		is = 1;
	if (is && msglen)
		snprintf(msg, msglen, "%s", json_is_string(em) ?
		    json_string_value(em) : "(no errormsg)");
	json_decref(root);
	return is;
}

void
sailthru_redact(char *s, const char *secret)
{
	size_t	 sl;
	char	*p;

	if (s == NULL || secret == NULL || (sl = strlen(secret)) == 0)
		return;
	while ((p = strstr(s, secret)) != NULL) {
		size_t	 rest = strlen(p + sl);

		if (sl >= 3) {
			memcpy(p, "***", 3);
			memmove(p + 3, p + sl, rest + 1);
		} else
			memset(p, '*', sl);
	}
}

/* ---- small environment helpers ---- */

static void
sleep_ms(long ms)
{
	struct timespec	 ts, rem;

	if (ms <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &rem) == -1 && errno == EINTR)
		ts = rem;
}

static uint32_t
rng_next(struct sailthru *c)
{
	/* xorshift64*: jitter only needs to differ between processes. */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return (uint32_t)((c->rng * 2685821657736338717ULL) >> 32);
}

static void
seterr(struct sailthru *c, struct sailthru_error *e, int cls, long http, int code,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void
seterr(struct sailthru *c, struct sailthru_error *e, int cls, long http, int code,
    const char *fmt, ...)
{
	va_list	 ap;

	e->cls = cls;
	e->http = http;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (c != NULL)
		sailthru_redact(e->msg, c->secret);
}

/* ---- rate-limit bookkeeping ---- */

static struct sailthru_rate *
rate_slot(struct sailthru *c, const char *method, const char *endpoint, int create)
{
	char	 key[48];

	snprintf(key, sizeof(key), "%s %s", method, endpoint);
	for (size_t i = 0; i < c->nrates; i++)
		if (strcmp(c->rates[i].key, key) == 0)
			return &c->rates[i].r;
	if (!create)
		return NULL;
	if (c->nrates == RATE_SLOTS) {
		/* More endpoints than we ever call: forget the oldest. */
		memmove(&c->rates[0], &c->rates[1], sizeof(c->rates[0]) * (RATE_SLOTS - 1));
		c->nrates--;
	}
	memset(&c->rates[c->nrates], 0, sizeof(c->rates[0]));
	snprintf(c->rates[c->nrates].key, sizeof(c->rates[0].key), "%s", key);
	return &c->rates[c->nrates++].r;
}

void
sailthru_rate_get(struct sailthru *c, const char *method, const char *endpoint,
    struct sailthru_rate *r)
{
	struct sailthru_rate	*s = rate_slot(c, method, endpoint, 0);

	if (s)
		*r = *s;
	else
		memset(r, 0, sizeof(*r));
}

static void
rate_update(struct sailthru *c, const char *method, const char *endpoint,
    const struct resp *rs)
{
	struct sailthru_rate	*r;

	if (!rs->have_limit && !rs->have_remaining && !rs->have_reset)
		return;
	r = rate_slot(c, method, endpoint, 1);
	if (rs->have_limit)
		r->limit = rs->rl_limit;
	if (rs->have_remaining)
		r->remaining = rs->rl_remaining;
	if (rs->have_reset)
		r->reset = rs->rl_reset;
	r->known = rs->have_remaining;
}

/* ---- curl plumbing ---- */

static int
parse_i64(const char *s, int64_t *out)
{
	char		*end;
	long long	 v;

	while (*s == ' ' || *s == '\t')
		s++;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno != 0)
		return -1;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0')
		return -1;
	*out = v;
	return 0;
}

static void
resp_reset_headers(struct resp *r)
{
	r->have_limit = r->have_remaining = r->have_reset = 0;
	r->clen = r->cr_start = r->cr_total = -1;
}

/* The value of header name in the last response (after redirects), or NULL. */
static const char *
header_get(CURL *h, const char *name)
{
	struct curl_header	*hd;

	if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	return hd->value;
}

/*
 * Reads the headers this client uses from the last response with
 * curl_easy_header (which also leaves out those of redirects and of 100
 * Continue): rate limits, Content-Length, Content-Range.
 */
static void
resp_read_headers(CURL *h, struct resp *r)
{
	const char	*v;
	int64_t		 x;

	resp_reset_headers(r);
	if ((v = header_get(h, "X-Rate-Limit-Limit")) && parse_i64(v, &x) == 0) {
		r->rl_limit = (long)x;
		r->have_limit = 1;
	}
	if ((v = header_get(h, "X-Rate-Limit-Remaining")) && parse_i64(v, &x) == 0) {
		r->rl_remaining = (long)x;
		r->have_remaining = 1;
	}
	if ((v = header_get(h, "X-Rate-Limit-Reset")) && parse_i64(v, &x) == 0) {
		r->rl_reset = x;
		r->have_reset = 1;
	}
	if ((v = header_get(h, "Content-Length")) && parse_i64(v, &x) == 0 && x >= 0)
		r->clen = x;
	if ((v = header_get(h, "Content-Range")) != NULL) {
		long long	 a, b;
		char		 tot[32];

		/* "bytes A-B/TOTAL", or an unknown total as a star */
		if (sscanf(v, " bytes %lld-%lld/%31s", &a, &b, tot) == 3) {
			r->cr_start = a;
			r->cr_total = parse_i64(tot, &x) == 0 ? x : -1;
		}
	}
}

static size_t
body_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct resp	*r = arg;
	size_t		 len = size * nmemb;

	if (buf_add(&r->body, p, len) == -1)
		return 0;	/* over the cap: curl fails with a write error */
	return len;
}

/* Options every request gets; the handle is reset first. */
static void
curl_common(struct sailthru *c, struct resp *r)
{
	CURL	*h = c->curl;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "sailsync/1");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
#endif
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	r->errbuf[0] = '\0';
	r->http = 0;
	r->cc = CURLE_OK;
	resp_reset_headers(r);
}

/* The class of a transport failure. */
static int
curl_class(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return SAILTHRU_ERETRY;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return SAILTHRU_ECONFIG;
	default:
		return SAILTHRU_EPERM;
	}
}

static const char *
curl_msg(const struct resp *r)
{
	return r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->cc);
}

/* ---- lifecycle ---- */

struct sailthru *
sailthru_new(const struct sailthru_opts *o, char *err, size_t errlen)
{
	static int	 curl_ready;
	struct sailthru	*c;
	size_t		 n;

	if (o->base_url == NULL || o->api_key == NULL || *o->api_key == '\0' ||
	    o->secret == NULL || *o->secret == '\0') {
		snprintf(err, errlen, "sailthru: base URL, API key and secret are required");
		return NULL;
	}
	if (sailthru_url_check(o->base_url, err, errlen) == -1) {
		sailthru_redact(err, o->secret);
		return NULL;
	}
	if (o->ca_file && access(o->ca_file, R_OK) == -1) {
		snprintf(err, errlen, "sailthru: cannot read CA file %s: %s",
		    o->ca_file, strerror(errno));
		sailthru_redact(err, o->secret);
		return NULL;
	}
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "sailthru: libcurl initialization failed");
			return NULL;
		}
		curl_ready = 1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal_oom("sailthru");
	c->base_url = xstrdup(o->base_url);
	n = strlen(c->base_url);
	while (n > 0 && c->base_url[n - 1] == '/')
		c->base_url[--n] = '\0';
	c->api_key = xstrdup(o->api_key);
	c->secret = xstrdup(o->secret);
	c->ca_file = xstrdup(o->ca_file);
	c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 120000;
	c->max_attempts = o->max_attempts > 0 ? o->max_attempts : 6;
	c->backoff_base_ms = o->backoff_base_ms > 0 ? o->backoff_base_ms : 500;
	c->backoff_cap_ms = o->backoff_cap_ms > 0 ? o->backoff_cap_ms : 30000;
	c->rng = (uint64_t)time_now_ms() * 6364136223846793005ULL ^ (uint64_t)getpid() << 17;
	if (c->rng == 0)
		c->rng = 88172645463325252ULL;
	if ((c->curl = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "sailthru: cannot create a curl handle");
		sailthru_destroy(&c);
		return NULL;
	}
	return c;
}

void
sailthru_destroy(struct sailthru **cp)
{
	struct sailthru	*c = *cp;

	if (c == NULL)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->secret) {
		/* Do not leave the secret in freed memory. */
		volatile char *p = c->secret;
		while (*p)
			*p++ = '\0';
	}
	free(c->base_url);
	free(c->api_key);
	free(c->secret);
	free(c->ca_file);
	free(c);
	*cp = NULL;
}

/* ---- API calls ---- */

/*
 * One HTTP exchange of an API call.  form is the signed parameter string;
 * file_path, when set, turns the POST into a multipart upload.
 */
static void
api_perform(struct sailthru *c, const char *method, const char *endpoint,
    const char *form, const char *json, const char *file_path, struct resp *r)
{
	CURL		*h = c->curl;
	struct buf	 url;
	curl_mime	*mime = NULL;
	long		 timeout = c->timeout_ms;

	buf_reset(&r->body);
	curl_common(c, r);
	buf_init(&url, SIZE_MAX / 4);
	if (buf_printf(&url, "%s/%s", c->base_url, endpoint) == -1)
		fatal_oom("sailthru");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	if (file_path != NULL) {
		const char	*vals[3] = { c->api_key, "json", NULL };
		struct stat	 st;
		char		 sig[33];
		curl_mimepart	*part;
		vals[2] = json;
		sailthru_sign(c->secret, vals, 3, sig);
		mime = curl_mime_init(h);
		part = curl_mime_addpart(mime);
		curl_mime_name(part, "api_key");
		curl_mime_data(part, c->api_key, CURL_ZERO_TERMINATED);
		part = curl_mime_addpart(mime);
		curl_mime_name(part, "format");
		curl_mime_data(part, "json", CURL_ZERO_TERMINATED);
		part = curl_mime_addpart(mime);
		curl_mime_name(part, "json");
		curl_mime_data(part, json, CURL_ZERO_TERMINATED);
		part = curl_mime_addpart(mime);
		curl_mime_name(part, "sig");
		curl_mime_data(part, sig, CURL_ZERO_TERMINATED);
		part = curl_mime_addpart(mime);
		curl_mime_name(part, "file");
		curl_mime_filedata(part, file_path);
		curl_mime_type(part, "application/octet-stream");
		curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
		/* A big upload needs longer than a call: allow ~64 KB/s on top. */
		if (stat(file_path, &st) == 0 && st.st_size / 64 < LONG_MAX - timeout)
			timeout += (long)(st.st_size / 64);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)DL_LOW_SPEED);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
		    c->timeout_ms / 1000 > 0 ? c->timeout_ms / 1000 : 1L);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(form));
	} else {
		if (buf_printf(&url, "?%s", form) == -1)
			fatal_oom("sailthru");
		if (strcmp(method, "GET") == 0)
			curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		else
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	r->cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->http);
	resp_read_headers(h, r);
	if (r->cc != CURLE_OK && r->cc != CURLE_WRITE_ERROR)
		r->http = 0;	/* a half-read answer tells nothing */
	curl_easy_setopt(h, CURLOPT_MIMEPOST, NULL);
	curl_mime_free(mime);
	/* The URL of a GET holds the signed query; do not keep it around. */
	buf_clear(&url);
}

/*
 * Classifies an attempt; fills e on failure.  Returns the class.
 */
static int
api_judge(struct sailthru *c, const char *method, const char *endpoint,
    struct resp *r, struct sailthru_error *e)
{
	char	 emsg[400];
	int	 code = 0, cls;

	if (r->cc == CURLE_WRITE_ERROR) {
		/* body_cb fails only when the answer is over the cap. */
		seterr(c, e, SAILTHRU_EPERM, r->http, 0,
		    "%s %s: response larger than %u bytes", method, endpoint, BODY_MAX);
		return e->cls;
	}
	if (r->cc != CURLE_OK) {
		seterr(c, e, curl_class(r->cc), 0, 0, "%s %s: %s", method, endpoint,
		    curl_msg(r));
		return e->cls;
	}
	sailthru_body_error(r->body.data, r->body.len, &code, emsg, sizeof(emsg));
	cls = sailthru_classify(r->http, code);
	if (cls == SAILTHRU_OK) {
		json_error_t	 jerr;
		json_t		*root = json_loadb(r->body.data ? r->body.data : "",
		    r->body.len, 0, &jerr);

		if (root == NULL) {
			seterr(c, e, SAILTHRU_EPERM, r->http, 0,
			    "%s %s: response is not JSON (%s)", method, endpoint, jerr.text);
			return e->cls;
		}
		json_decref(root);
		return SAILTHRU_OK;
	}
	if (code != 0)
		seterr(c, e, cls, r->http, code, "%s %s: %s%s", method, endpoint, emsg,
		    cls == SAILTHRU_EAUTH ? " (check the API key, secret and the key's permissions)" : "");
	else
		seterr(c, e, cls, r->http, 0, "%s %s: HTTP %ld%s", method, endpoint, r->http,
		    cls == SAILTHRU_EAUTH ? " (check the API key, secret and the key's permissions)" : "");
	return cls;
}

/*
 * The retry loop shared by plain calls and uploads.  Paces by the
 * rate-limit headers before each attempt, waits for Reset on 429, and backs
 * off on transient failures.
 */
static int
api_request(struct sailthru *c, const char *method, const char *endpoint,
    const char *json, const char *file_path, char **body, struct sailthru_error *e)
{
	struct resp	 r;
	char		*form = NULL;
	int		 cls = SAILTHRU_ERETRY, failed = 0;

	*body = NULL;
	memset(e, 0, sizeof(*e));
	memset(&r, 0, sizeof(r));
	buf_init(&r.body, BODY_MAX);
	/* Multipart parts are built per attempt from the json itself. */
	if (file_path == NULL &&
	    (form = sailthru_form(c->api_key, c->secret, json)) == NULL)
		fatal_oom("sailthru");

	for (int attempt = 1; attempt <= c->max_attempts; attempt++) {
		struct sailthru_rate	*rt = rate_slot(c, method, endpoint, 0);
		long			 wait;

		if ((wait = sailthru_pace_ms(rt, time_now_ms())) > 0) {
			log_info("sailthru pacing method=%s endpoint=%s limit=%ld remaining=%ld "
			    "reset=%lld wait_ms=%ld", method, endpoint, rt->limit,
			    rt->remaining, (long long)rt->reset, wait);
			sleep_ms(wait);
		}
		api_perform(c, method, endpoint, form, json, file_path, &r);
		rate_update(c, method, endpoint, &r);
		cls = api_judge(c, method, endpoint, &r, e);
		if (cls == SAILTHRU_OK) {
			if (failed)
				log_info("sailthru recovered method=%s endpoint=%s attempts=%d",
				    method, endpoint, attempt);
			*body = buf_detach(&r.body, NULL);
			if (*body == NULL)
				*body = xstrdup("");
			memset(e, 0, sizeof(*e));
			free(form);
			return 0;
		}
		if (cls != SAILTHRU_ERATE && cls != SAILTHRU_ERETRY)
			break;
		if (attempt == c->max_attempts)
			break;
		if (cls == SAILTHRU_ERATE) {
			rt = rate_slot(c, method, endpoint, 0);
			if (rt && rt->reset > 0 && rt->reset * 1000 > time_now_ms()) {
				struct sailthru_rate z = *rt;
				z.known = 1;
				z.remaining = 0;
				wait = sailthru_pace_ms(&z, time_now_ms());
			} else
				wait = sailthru_backoff_ms(c->backoff_base_ms, c->backoff_cap_ms,
				    attempt, rng_next(c));
			log_info("sailthru rate limited method=%s endpoint=%s http=%ld code=%d "
			    "attempt=%d wait_ms=%ld", method, endpoint, e->http, e->code,
			    attempt, wait);
		} else {
			wait = sailthru_backoff_ms(c->backoff_base_ms, c->backoff_cap_ms,
			    attempt, rng_next(c));
			if (!failed) {
				char q[600];
				log_warnx("sailthru call failed, retrying method=%s endpoint=%s "
				    "http=%ld code=%d wait_ms=%ld error=%s", method, endpoint,
				    e->http, e->code, wait, log_quote(e->msg, q, sizeof(q)));
			} else
				log_debug("sailthru retry method=%s endpoint=%s attempt=%d "
				    "wait_ms=%ld", method, endpoint, attempt, wait);
		}
		failed = 1;
		sleep_ms(wait);
	}
	if (failed && (cls == SAILTHRU_ERETRY || cls == SAILTHRU_ERATE)) {
		char q[600];
		log_warnx("sailthru giving up method=%s endpoint=%s attempts=%d error=%s",
		    method, endpoint, c->max_attempts, log_quote(e->msg, q, sizeof(q)));
	}
	buf_clear(&r.body);
	free(form);
	return -1;
}

int
sailthru_call(struct sailthru *c, const char *method, const char *endpoint,
    const char *json, char **body, struct sailthru_error *e)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 &&
	    strcmp(method, "DELETE") != 0) {
		*body = NULL;
		seterr(c, e, SAILTHRU_EPERM, 0, 0, "unsupported method %s", method);
		return -1;
	}
	return api_request(c, method, endpoint, json ? json : "{}", NULL, body, e);
}

/* Parses body as a JSON object; on failure fills e. */
static json_t *
parse_object(struct sailthru *c, const char *what, const char *body,
    struct sailthru_error *e)
{
	json_error_t	 jerr;
	json_t		*root = json_loads(body, 0, &jerr);

	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		seterr(c, e, SAILTHRU_EPERM, 200, 0, "%s: unexpected response shape", what);
		return NULL;
	}
	return root;
}

static char *
json_strdup(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_integer(v)) {
		char	 tmp[32];
		snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
		return xstrdup(tmp);
	}
	return NULL;
}

int
sailthru_list_all(struct sailthru *c, struct sailthru_list **lists, size_t *n,
    struct sailthru_error *e)
{
	char	*body;
	json_t	*root, *arr, *it;
	size_t	 i, k = 0;

	*lists = NULL;
	*n = 0;
	if (sailthru_call(c, "GET", "list", "{}", &body, e) == -1)
		return -1;
	root = parse_object(c, "GET list", body, e);
	free(body);
	if (root == NULL)
		return -1;
	arr = json_object_get(root, "lists");
	if (!json_is_array(arr)) {
		json_decref(root);
		seterr(c, e, SAILTHRU_EPERM, 200, 0, "GET list: no \"lists\" array");
		return -1;
	}
	if ((*lists = calloc(json_array_size(arr) + 1, sizeof(**lists))) == NULL)
		fatal_oom("sailthru");
	json_array_foreach(arr, i, it) {
		struct sailthru_list	*l = &(*lists)[k];
		json_t			*ec;

		if (!json_is_object(it) || (l->name = json_strdup(it, "name")) == NULL) {
			log_warnx("sailthru list entry without a name skipped index=%zu", i);
			continue;
		}
		l->list_id = json_strdup(it, "list_id");
		l->type = json_strdup(it, "type");
		ec = json_object_get(it, "email_count");
		l->email_count = json_is_integer(ec) ? (int64_t)json_integer_value(ec) :
		    json_is_string(ec) ? strtoll(json_string_value(ec), NULL, 10) : 0;
		k++;
	}
	*n = k;
	json_decref(root);
	return 0;
}

void
sailthru_lists_free(struct sailthru_list *lists, size_t n)
{
	for (size_t i = 0; lists && i < n; i++) {
		free(lists[i].name);
		free(lists[i].list_id);
		free(lists[i].type);
	}
	free(lists);
}

/* Pulls job_id out of a POST /job answer. */
static int
job_id_of(struct sailthru *c, const char *what, char *body, char **job_id,
    struct sailthru_error *e)
{
	json_t	*root = parse_object(c, what, body, e);

	free(body);
	if (root == NULL)
		return -1;
	*job_id = json_strdup(root, "job_id");
	json_decref(root);
	if (*job_id == NULL) {
		seterr(c, e, SAILTHRU_EPERM, 200, 0, "%s: no job_id in the response", what);
		return -1;
	}
	return 0;
}

/*
 * sailthru_call with the JSON text of args, which it takes over (NULL:
 * json_pack ran out of memory).  *body as sailthru_call's.
 */
static int
call_args(struct sailthru *c, const char *method, const char *endpoint, json_t *args,
    char **body, struct sailthru_error *e)
{
	char	*json;
	int	 rc;

	if (args == NULL || (json = json_dumps(args, JSON_COMPACT)) == NULL)
		fatal_oom("sailthru");
	json_decref(args);
	rc = sailthru_call(c, method, endpoint, json, body, e);
	free(json);
	return rc;
}

int
sailthru_job_export_list(struct sailthru *c, const char *list, char **job_id,
    struct sailthru_error *e)
{
	char	*body;

	*job_id = NULL;
	if (call_args(c, "POST", "job", json_pack("{s:s, s:s}", "job", "export_list_data",
	    "list", list), &body, e) == -1)
		return -1;
	return job_id_of(c, "POST job", body, job_id, e);
}

int
sailthru_job_get(struct sailthru *c, const char *job_id, struct sailthru_job *j,
    struct sailthru_error *e)
{
	json_t	*root;
	char	*body;

	memset(j, 0, sizeof(*j));
	if (call_args(c, "GET", "job", json_pack("{s:s}", "job_id", job_id), &body, e) == -1)
		return -1;
	root = parse_object(c, "GET job", body, e);
	free(body);
	if (root == NULL)
		return -1;
	j->status = json_strdup(root, "status");
	j->export_url = json_strdup(root, "export_url");
	j->error_report_url = json_strdup(root, "error_report_url");
	/* The job's own failure text has gone by several names. */
	j->error = json_strdup(root, "error_message");
	if (j->error == NULL)
		j->error = json_strdup(root, "error");
	if (j->error == NULL)
		j->error = json_strdup(root, "errormsg");
	json_decref(root);
	if (j->status == NULL) {
		sailthru_job_clear(j);
		seterr(c, e, SAILTHRU_EPERM, 200, 0, "GET job: no status in the response");
		return -1;
	}
	return 0;
}

void
sailthru_job_clear(struct sailthru_job *j)
{
	free(j->status);
	free(j->export_url);
	free(j->error_report_url);
	free(j->error);
	memset(j, 0, sizeof(*j));
}

int
sailthru_job_upload(struct sailthru *c, const char *json, const char *file_path,
    char **job_id, struct sailthru_error *e)
{
	char	*body;

	*job_id = NULL;
	if (access(file_path, R_OK) == -1) {
		seterr(c, e, SAILTHRU_EPERM, 0, 0, "POST job: cannot read upload %s: %s",
		    file_path, strerror(errno));
		return -1;
	}
	if (api_request(c, "POST", "job", json ? json : "{}", file_path, &body, e) == -1)
		return -1;
	return job_id_of(c, "POST job", body, job_id, e);
}

/* ---- downloads ---- */

/*
 * A download is a sequence of attempts, each one HTTP GET: dl_open makes a
 * fresh .part file, dl_attempt asks for what is still missing, dl_judge
 * says what the answer means, dl_publish makes a complete file durable
 * under its name, dl_backoff decides whether and when to try again, and
 * dl_close lets go of the .part.  sailthru_download only strings them.
 */

/* What a download does with the bytes of the answer, decided at its first bytes. */
enum dl_mode {
	DL_UNDECIDED = 0,	/* no body byte yet */
	DL_TO_FILE,		/* 200, or a 206 that continues where we stopped */
	DL_ERROR_BODY,		/* any other status: keep a little of the body */
	DL_BAD_RANGE,		/* a 206 starting elsewhere: abort, start over */
};

/* What one attempt's answer means for the download. */
enum dl_next {
	DL_COMPLETE,		/* every byte is in the .part: publish it */
	DL_AGAIN,		/* transient (cut, short, 429, 5xx, bad range): retry */
	DL_FAILED,		/* permanent, or a local error: give up */
	DL_GONE,		/* the URL expired: give up and drop the .part */
};

struct dl {
	struct sailthru	*c;
	const char	*url;
	const char	*path;
	char		 shown[300];	/* url_for_log(url) */
	struct buf	 part;		/* path.part */
	struct resp	 r;
	CURL		*h;
	int		 fd;
	uint64_t	 have;		/* bytes in the .part file */
	enum dl_mode	 mode;
	int		 werrno;	/* write(2) failure */
	void		(*progress)(void *, uint64_t);
	void		*arg;
	int		 attempts;	/* in all */
	int		 failures;	/* in a row, without progress */
	int		 failed_once;
};

static size_t
dl_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct dl	*d = arg;
	size_t		 len = size * nmemb, off = 0;

	if (d->mode == DL_UNDECIDED) {
		long	 http = 0;

		curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &http);
		d->r.http = http;
		resp_read_headers(d->h, &d->r);
		if (http == 206) {
			/* Only append when the server continues exactly where we stopped. */
			d->mode = d->r.cr_start == (int64_t)d->have ? DL_TO_FILE : DL_BAD_RANGE;
		} else if (http == 200) {
			/* The server ignored the range: start over from byte 0. */
			if (d->have > 0 && ftruncate(d->fd, 0) == -1) {
				d->werrno = errno;
				return 0;
			}
			d->have = 0;
			d->mode = DL_TO_FILE;
		} else
			d->mode = DL_ERROR_BODY;
	}
	if (d->mode == DL_BAD_RANGE)
		return 0;
	if (d->mode == DL_ERROR_BODY) {
		if (d->r.body.len < ERRBODY_MAX)
			buf_add(&d->r.body, p, len < ERRBODY_MAX ? len : ERRBODY_MAX);
		return len;
	}
	while (off < len) {
		ssize_t	 w = write(d->fd, p + off, len - off);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			d->werrno = errno;
			return 0;
		}
		off += (size_t)w;
	}
	d->have += len;
	if (d->progress)
		d->progress(d->arg, d->have);
	return len;
}

/* The URL without its query, which may hold an access token. */
static void
url_for_log(const char *url, char *out, size_t outlen)
{
	snprintf(out, outlen, "%.*s", (int)strcspn(url, "?#"), url);
}

/*
 * Checks the URL and creates path.part.  Returns 0, or -1 with e set and
 * nothing to close.
 */
static int
dl_open(struct dl *d, struct sailthru *c, const char *url, const char *path,
    struct sailthru_error *e)
{
	char	 why[300];

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	if (sailthru_url_check(url, why, sizeof(why)) == -1) {
		seterr(c, e, SAILTHRU_ECONFIG, 0, 0, "download: %s", why);
		return -1;
	}
	d->c = c;
	d->url = url;
	d->path = path;
	d->h = c->curl;
	url_for_log(url, d->shown, sizeof(d->shown));
	buf_init(&d->part, PATH_MAX);
	if (buf_printf(&d->part, "%s.part", path) == -1) {
		seterr(c, e, SAILTHRU_EPERM, 0, 0, "download: path too long");
		return -1;
	}
	/*
	 * A fresh call starts a fresh .part: a leftover may belong to another
	 * (older) export, and appending to it would corrupt the spool.  Resume
	 * happens across the attempts of this call.
	 */
	if ((d->fd = open(d->part.data, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
	    0600)) == -1) {
		seterr(c, e, SAILTHRU_EPERM, 0, 0, "download: cannot create %s: %s",
		    d->part.data, strerror(errno));
		buf_clear(&d->part);
		return -1;
	}
	buf_init(&d->r.body, ERRBODY_MAX);
	return 0;
}

/* Closes the .part (removing it when drop) and frees what the download held. */
static void
dl_close(struct dl *d, int drop)
{
	if (d->fd != -1)
		close(d->fd);
	d->fd = -1;
	if (drop)
		unlink(d->part.data);
	buf_clear(&d->part);
	buf_clear(&d->r.body);
}

/* One GET of the URL, from byte d->have on; its answer is left in d->r. */
static void
dl_attempt(struct dl *d)
{
	struct sailthru	*c = d->c;
	char		 range[48];

	d->attempts++;
	buf_reset(&d->r.body);
	curl_common(c, &d->r);
	d->mode = DL_UNDECIDED;
	d->werrno = 0;
	curl_easy_setopt(c->curl, CURLOPT_URL, d->url);
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c->curl, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, dl_write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, d);
	/*
	 * An export can be gigabytes: no total timeout, but a transfer that
	 * stalls below DL_LOW_SPEED for the call timeout is cut.
	 */
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 0L);
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, (long)DL_LOW_SPEED);
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME,
	    c->timeout_ms / 1000 > 0 ? c->timeout_ms / 1000 : 1L);
	if (d->have > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)d->have);
		curl_easy_setopt(c->curl, CURLOPT_RANGE, range);
	}
	d->r.cc = curl_easy_perform(c->curl);
	if (d->mode == DL_UNDECIDED)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &d->r.http);
	resp_read_headers(c->curl, &d->r);
}

/* Empties the .part: what it holds cannot be continued.  0, or -1 with e set. */
static int
dl_restart(struct dl *d, struct sailthru_error *e)
{
	if (ftruncate(d->fd, 0) == -1) {
		seterr(d->c, e, SAILTHRU_EPERM, 0, 0, "download: truncate %s: %s",
		    d->part.data, strerror(errno));
		return -1;
	}
	d->have = 0;
	return 0;
}

/* The size the answer announces for the whole file, or -1 when it does not say. */
static int64_t
dl_size_announced(const struct resp *r)
{
	if (r->http == 206 && r->cr_total >= 0)
		return r->cr_total;
	if (r->http == 206 && r->clen >= 0 && r->cr_start >= 0)
		return r->cr_start + r->clen;
	if (r->http == 200 && r->clen >= 0)
		return r->clen;
	return -1;
}

/* The class of an answer that is not the file: from its status and body. */
static int
dl_error_class(struct dl *d, struct sailthru_error *e)
{
	int	 code = 0, cls;
	char	 emsg[300];

	sailthru_body_error(d->r.body.data, d->r.body.len, &code, emsg, sizeof(emsg));
	cls = sailthru_classify(d->r.http, code);
	if (cls == SAILTHRU_OK)
		cls = SAILTHRU_EPERM;	/* e.g. a 3xx we could not follow */
	seterr(d->c, e, cls, d->r.http, code, "download: HTTP %ld url=%s", d->r.http,
	    d->shown);
	return cls;
}

/* What the last attempt's answer means; e says why unless DL_COMPLETE. */
static enum dl_next
dl_judge(struct dl *d, struct sailthru_error *e)
{
	const struct resp	*r = &d->r;
	int64_t			 want;
	int			 cls;

	if (d->werrno != 0) {
		seterr(d->c, e, SAILTHRU_EPERM, r->http, 0, "download: write %s: %s",
		    d->part.data, strerror(d->werrno));
		return DL_FAILED;
	}
	/* An empty 200 answer to a range request: the file is empty. */
	if (r->cc == CURLE_OK && d->mode == DL_UNDECIDED && r->http == 200 && d->have > 0 &&
	    dl_restart(d, e) == -1)
		return DL_FAILED;
	want = dl_size_announced(r);
	if (r->http == 403 || r->http == 404 || r->http == 410) {
		seterr(d->c, e, SAILTHRU_ENOTFOUND, r->http, 0,
		    "download: export URL expired or gone (HTTP %ld) url=%s", r->http, d->shown);
		return DL_GONE;
	}
	if (d->mode == DL_BAD_RANGE || r->http == 416) {
		/* The server does not continue where we stopped: start over. */
		if (dl_restart(d, e) == -1)
			return DL_FAILED;
		seterr(d->c, e, SAILTHRU_ERETRY, r->http, 0,
		    "download: range not honoured, restarting url=%s", d->shown);
		return DL_AGAIN;
	}
	if (r->cc != CURLE_OK) {
		cls = curl_class(r->cc);
		seterr(d->c, e, cls, r->http, 0, "download: %s (have %llu bytes) url=%s",
		    curl_msg(r), (unsigned long long)d->have, d->shown);
	} else if ((r->http == 200 || r->http == 206) && want >= 0 &&
	    (uint64_t)want != d->have) {
		cls = SAILTHRU_ERETRY;
		seterr(d->c, e, cls, r->http, 0, "download: short transfer, have %llu of "
		    "%lld bytes url=%s", (unsigned long long)d->have, (long long)want,
		    d->shown);
	} else if (r->http == 200 || r->http == 206)
		return DL_COMPLETE;
	else
		cls = dl_error_class(d, e);
	return cls == SAILTHRU_ERETRY || cls == SAILTHRU_ERATE ? DL_AGAIN : DL_FAILED;
}

/*
 * Publishes a complete .part under path.  fsync the data before the rename
 * publishes it, and the directory after, so a crash leaves either no file
 * or the whole file under path.  0, or -1 with e set.
 */
static int
dl_publish(struct dl *d, struct sailthru_error *e)
{
	int	 rc = fsync(d->fd), saved = errno;

	if (close(d->fd) == -1 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	d->fd = -1;
	if (rc == -1) {
		seterr(d->c, e, SAILTHRU_EPERM, 0, 0, "download: fsync %s: %s",
		    d->part.data, strerror(saved));
		return -1;
	}
	if (file_publish(d->part.data, d->path) == -1) {
		seterr(d->c, e, SAILTHRU_EPERM, 0, 0, "download: publish %s: %s",
		    d->path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * After an attempt that failed for a transient reason, having had `before`
 * bytes when it started: waits before the next one and returns 0, or
 * returns -1 when the attempts are used up.  Progress earns more attempts;
 * only consecutive failures count, up to a total of four times as many.
 */
static int
dl_backoff(struct dl *d, uint64_t before, const struct sailthru_error *e)
{
	struct sailthru	*c = d->c;
	long		 wait;

	d->failures = d->have > before ? 1 : d->failures + 1;
	if (d->failures >= c->max_attempts || d->attempts >= c->max_attempts * 4)
		return -1;
	wait = sailthru_backoff_ms(c->backoff_base_ms, c->backoff_cap_ms, d->failures,
	    rng_next(c));
	if (!d->failed_once) {
		char q[600];
		log_warnx("sailthru download interrupted, resuming have=%llu wait_ms=%ld "
		    "error=%s", (unsigned long long)d->have, wait,
		    log_quote(e->msg, q, sizeof(q)));
	} else
		log_debug("sailthru download retry have=%llu attempt=%d",
		    (unsigned long long)d->have, d->attempts);
	d->failed_once = 1;
	sleep_ms(wait);
	return 0;
}

int
sailthru_download(struct sailthru *c, const char *url, const char *path,
    void (*progress)(void *arg, uint64_t bytes), void *arg,
    struct sailthru_error *e)
{
	struct dl	 d;
	enum dl_next	 next;
	uint64_t	 before;
	char		 q[600];

	memset(e, 0, sizeof(*e));
	if (dl_open(&d, c, url, path, e) == -1)
		return -1;
	d.progress = progress;
	d.arg = arg;
	do {
		before = d.have;
		dl_attempt(&d);
		next = dl_judge(&d, e);
	} while (next == DL_AGAIN && dl_backoff(&d, before, e) == 0);

	if (next == DL_GONE) {
		dl_close(&d, 1);
		return -1;
	}
	if (next == DL_COMPLETE && dl_publish(&d, e) == 0) {
		if (d.failed_once)
			log_info("sailthru download recovered url=%s bytes=%llu attempts=%d",
			    d.shown, (unsigned long long)d.have, d.attempts);
		dl_close(&d, 0);
		memset(e, 0, sizeof(*e));
		return 0;
	}
	dl_close(&d, 0);
	log_warnx("sailthru download failed attempts=%d error=%s", d.attempts,
	    log_quote(e->msg, q, sizeof(q)));
	return -1;
}
