/*
 * common/notify.c: owns run notifications: the summary text, the mail
 * (libcurl's SMTP: STARTTLS, AUTH) and the webhook (a JSON POST).
 *
 * A notification is a courtesy, never part of the run: the history record
 * is durable before notify_run is called, and every failure here is a log
 * line, not an exit code.  So a run is never repeated because a mail
 * relay was down, and a relay that is down costs at most the timeouts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "log.h"
#include "notify.h"
#include "timefmt.h"

#define NOTIFY_CONNECT_S	15
#define NOTIFY_TIMEOUT_S	60
#define NOTIFY_BODY_MAX		(256u << 10)	/* a summary is a few KB */

static json_int_t
num(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static const char *
str(json_t *o, const char *key, const char *def)
{
	json_t	*v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : def;
}

/*
 * One goal: every counter the record has (import goals: created, updated,
 * unchanged, skipped, unique; export goals their own), the skip reasons,
 * and each list or file.
 */
static void
text_goal(struct buf *t, json_t *g)
{
	const char	*k;
	json_t		*v, *p;
	size_t		 i, n = 0;

	buf_printf(t, "goal %s:", str(g, "name", "?"));
	json_object_foreach(g, k, v) {
		if (!json_is_integer(v) || strcmp(k, "unique") == 0)
			continue;
		buf_printf(t, "%s %s %" JSON_INTEGER_FORMAT, n++ ? "," : "", k,
		    json_integer_value(v));
	}
	buf_printf(t, "\n");
	if (json_is_object(v = json_object_get(g, "reasons")) && json_object_size(v)) {
		json_t	*r;

		buf_printf(t, "  skipped because:");
		n = 0;
		json_object_foreach(v, k, r)
			buf_printf(t, "%s %s %" JSON_INTEGER_FORMAT, n++ ? "," : "", k,
			    json_is_integer(r) ? json_integer_value(r) : 0);
		buf_printf(t, "\n");
	}
	json_array_foreach(json_object_get(g, "parts"), i, p) {
		if (strcmp(str(p, "status", ""), "failed") == 0)
			buf_printf(t, "  \"%s\": failed: %s\n", str(p, "list", "?"),
			    str(p, "error", "?"));
		else
			buf_printf(t, "  \"%s\": %" JSON_INTEGER_FORMAT " rows\n",
			    str(p, "list", "?"), num(p, "rows"));
	}
	if (json_is_integer(json_object_get(g, "unique")))
		buf_printf(t, "  unique profiles ever: %" JSON_INTEGER_FORMAT "\n",
		    num(g, "unique"));
}

char *
notify_text(const char *record_json, char **subject)
{
	struct buf	 t, s;
	size_t		 n;
	json_t		*r, *g;
	json_error_t	 jerr;
	char		 when[32];
	size_t		 i;

	if ((r = json_loads(record_json, 0, &jerr)) == NULL || !json_is_object(r)) {
		json_decref(r);
		return NULL;
	}
	/* Past the cap a summary is cut, not failed: the run is told anyway. */
	buf_init(&t, NOTIFY_BODY_MAX);
	buf_init(&s, NOTIFY_BODY_MAX);
	buf_printf(&s, "sailsync: %s run %" JSON_INTEGER_FORMAT " of %s", str(r, "status",
	    "unknown"), num(r, "run"), str(r, "connection", "?"));
	if (json_is_integer(json_object_get(r, "rows")))
		buf_printf(&s, " (%" JSON_INTEGER_FORMAT " rows)", num(r, "rows"));
	buf_printf(&t, "run %" JSON_INTEGER_FORMAT " of connection %s: %s\n", num(r, "run"),
	    str(r, "connection", "?"), str(r, "status", "unknown"));
	if (json_is_integer(json_object_get(r, "started")))
		buf_printf(&t, "started %s, took %.1f s", time_fmt_iso_ms(num(r, "started"),
		    when), (double)num(r, "duration_ms") / 1000.0);
	if (json_is_integer(json_object_get(r, "rows")))
		buf_printf(&t, ", %" JSON_INTEGER_FORMAT " rows", num(r, "rows"));
	buf_printf(&t, "\n");
	if (json_is_string(json_object_get(r, "trigger")))
		buf_printf(&t, "trigger: %s\n", str(r, "trigger", ""));
	if (json_is_string(json_object_get(r, "error")))
		buf_printf(&t, "error: %s\n", str(r, "error", ""));
	json_array_foreach(json_object_get(r, "goals"), i, g) {
		buf_printf(&t, "\n");
		text_goal(&t, g);
	}
	json_decref(r);
	*subject = buf_detach(&s, &n);
	return buf_detach(&t, &n);
}

/* Feeds the prepared message to libcurl's SMTP upload. */
struct upload {
	const char	*p;
	size_t		 left;
};

static size_t
upload_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct upload	*u = arg;
	size_t		 n = size * nmemb;

	if (n > u->left)
		n = u->left;
	memcpy(buf, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

static size_t
discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

static int
curl_ready(void)
{
	static int	 ready;

	if (!ready && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
		ready = 1;
	return ready;
}

/*
 * The message: headers and the body with CRLF line ends (SMTP's).  libcurl
 * doubles a leading '.' itself.  Returns malloc'd text.
 */
static char *
mail_message(const struct conf *c, const struct conf_conn *cn, const char *subject,
    const char *body, size_t *len)
{
	struct buf	 m;
	char		 date[64], host[256];
	time_t		 now = time(NULL);
	struct tm	 tm;

	buf_init(&m, 2 * NOTIFY_BODY_MAX);
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	buf_printf(&m, "Date: %s\r\nFrom: %s\r\nTo: ", date, c->smtp.from);
	for (size_t i = 0; i < cn->nnotify; i++)
		buf_printf(&m, "%s%s", i ? ", " : "", cn->notify[i]);
	buf_printf(&m, "\r\nSubject: %s\r\nMessage-ID: <%lld.%ld@%s>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n",
	    subject, (long long)time_now_ms(), (long)getpid(), host);
	for (const char *p = body; *p; p++) {
		if (*p == '\n')
			buf_addstr(&m, "\r\n");
		else if (*p != '\r')
			buf_add(&m, p, 1);
	}
	return buf_detach(&m, len);
}

static int
notify_mail(const struct conf *c, const struct conf_conn *cn, const char *run,
    const char *subject, const char *body)
{
	struct curl_slist *rcpt = NULL;
	struct upload	 u;
	char		 from[512], to[512], ebuf[CURL_ERROR_SIZE] = "", q[600];
	char		*msg;
	size_t		 len;
	long		 code = 0;
	CURLcode	 rc;
	CURL		*h;

	if (!curl_ready() || (h = curl_easy_init()) == NULL) {
		log_warnx("notify: mail not sent connection=%s run=%s error=\"libcurl "
		    "initialization failed\"", cn->name, run);
		return -1;
	}
	msg = mail_message(c, cn, subject, body, &len);
	u.p = msg;
	u.left = len;
	snprintf(from, sizeof(from), "<%s>", c->smtp.from);
	for (size_t i = 0; i < cn->nnotify; i++) {
		snprintf(to, sizeof(to), "<%s>", cn->notify[i]);
		rcpt = curl_slist_append(rcpt, to);
	}
	curl_easy_setopt(h, CURLOPT_URL, c->smtp.url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)NOTIFY_CONNECT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)NOTIFY_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	/* smtp:// with starttls: the relay must offer STARTTLS or nothing is sent. */
	if (c->smtp.starttls && strncmp(c->smtp.url, "smtp://", 7) == 0)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (c->smtp.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->smtp.ca_file);
	if (c->smtp.username) {
		curl_easy_setopt(h, CURLOPT_USERNAME, c->smtp.username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->smtp.password);
	}
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &u);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	curl_slist_free_all(rcpt);
	free(msg);
	if (rc != CURLE_OK) {
		log_warnx("notify: mail not sent connection=%s run=%s smtp_code=%ld "
		    "error=%s", cn->name, run, code, log_quote(ebuf[0] ? ebuf :
		    curl_easy_strerror(rc), q, sizeof(q)));
		return -1;
	}
	log_info("notify: mail sent connection=%s run=%s recipients=%zu", cn->name,
	    run, cn->nnotify);
	return 0;
}

/* The webhook body: {"text": subject, "run": the record}; chat tools show text. */
static int
notify_webhook(const struct conf_conn *cn, const char *run, const char *subject,
    const char *record_json)
{
	struct curl_slist *hdr = NULL;
	json_t		*o, *rec;
	char		 ebuf[CURL_ERROR_SIZE] = "", q[600], *body;
	long		 code = 0;
	CURLcode	 rc;
	CURL		*h;

	if ((rec = json_loads(record_json, 0, NULL)) == NULL)
		rec = json_null();
	o = json_pack("{s:s, s:o}", "text", subject, "run", rec);
	body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (body == NULL || !curl_ready() || (h = curl_easy_init()) == NULL) {
		free(body);
		log_warnx("notify: webhook not called connection=%s run=%s "
		    "error=\"out of memory or libcurl initialization failed\"",
		    cn->name, run);
		return -1;
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, cn->webhook);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)NOTIFY_CONNECT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)NOTIFY_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (cn->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, cn->ca_file);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	free(body);
	if (rc != CURLE_OK || code < 200 || code > 299) {
		/* The URL may hold a token (chat webhooks do): not logged. */
		log_warnx("notify: webhook failed connection=%s run=%s http_status=%ld "
		    "error=%s", cn->name, run, code, log_quote(rc != CURLE_OK ?
		    (ebuf[0] ? ebuf : curl_easy_strerror(rc)) : "not a 2xx answer",
		    q, sizeof(q)));
		return -1;
	}
	log_info("notify: webhook called connection=%s run=%s http_status=%ld",
	    cn->name, run, code);
	return 0;
}

int
notify_run(const struct conf *c, const struct conf_conn *cn, const char *record_json)
{
	json_t	*r;
	char	 run[32] = "?", *subject = NULL, *body;
	int	 ok, failed = 0;

	if (cn->nnotify == 0 && cn->webhook == NULL)
		return 0;
	if ((r = json_loads(record_json, 0, NULL)) == NULL) {
		log_warnx("notify: not a run record connection=%s", cn->name);
		return 1;
	}
	ok = json_is_string(json_object_get(r, "status")) &&
	    strcmp(json_string_value(json_object_get(r, "status")), "ok") == 0;
	if (json_is_integer(json_object_get(r, "run")))
		snprintf(run, sizeof(run), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(r, "run")));
	json_decref(r);
	if (ok && cn->notify_on == NOTIFY_FAILURE)
		return 0;
	if ((body = notify_text(record_json, &subject)) == NULL)
		return 1;
	if (cn->nnotify > 0 && c->smtp.url != NULL &&
	    notify_mail(c, cn, run, subject, body) == -1)
		failed++;
	if (cn->webhook != NULL && notify_webhook(cn, run, subject, record_json) == -1)
		failed++;
	free(subject);
	free(body);
	return failed;
}
