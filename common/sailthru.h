/*
 * common/sailthru.h: the Sailthru API client (libcurl + OpenSSL + jansson).
 *
 * Every call is signed: api_key, format=json, json=<args> and sig, the
 * lowercase hex MD5 of the secret followed by the sorted values of the
 * other parameters.  Every body is checked for "error" whatever the HTTP
 * status.  Transient failures (5xx, error 9, timeouts, connection errors)
 * are retried with capped exponential backoff and jitter; 429 waits until
 * X-Rate-Limit-Reset; requests are paced so X-Rate-Limit-Remaining never
 * goes below zero.  The secret never appears in a log line, an error
 * message or a file.
 */
#ifndef SAILSYNC_SAILTHRU_H
#define SAILSYNC_SAILTHRU_H

#include <stddef.h>
#include <stdint.h>

enum sailthru_class {
	SAILTHRU_OK = 0,
	SAILTHRU_EAUTH,		/* bad key/secret, no permission (401/403, error 5, ...) */
	SAILTHRU_ENOTFOUND,	/* user not found (99), unknown list (15), 404 */
	SAILTHRU_ERATE,		/* still rate limited after waiting (429, error 43) */
	SAILTHRU_ERETRY,	/* transient failure that outlasted the retries */
	SAILTHRU_EPERM,		/* permanent: bad request, other API errors */
	SAILTHRU_ECONFIG,	/* bad base URL, CA file, ... */
};

struct sailthru_error {
	int		 cls;		/* enum sailthru_class */
	long		 http;		/* HTTP status, 0 when none */
	int		 code;		/* Sailthru's error code, 0 when none */
	char		 msg[512];	/* Sailthru's message or the transport error */
};

const char	*sailthru_class_name(int cls);	/* "auth", "not_found", ... */

struct sailthru_opts {
	const char	*base_url;	/* e.g. https://api.sailthru.com (no trailing /) */
	const char	*api_key;
	const char	*secret;
	const char	*ca_file;	/* NULL: system CAs; verification is always on */
	long		 connect_timeout_ms;	/* default 10000 */
	long		 timeout_ms;		/* default 120000 (per request) */
	int		 max_attempts;		/* default 6 */
	long		 backoff_base_ms;	/* default 500 */
	long		 backoff_cap_ms;	/* default 30000 */
};

struct sailthru;

/* Returns NULL with a reason in err (plain http is refused except to loopback). */
struct sailthru	*sailthru_new(const struct sailthru_opts *o, char *err, size_t errlen);
void		 sailthru_destroy(struct sailthru **c);

/*
 * Computes the signature of the values vals[0..n) (sorted here) into out
 * (33 bytes, lowercase hex).
 */
void	 sailthru_sign(const char *secret, const char *const *vals, size_t n, char out[33]);

/*
 * One API call: method "GET", "POST" or "DELETE"; endpoint "user", "list",
 * "job"; json the arguments as JSON text.  On success returns 0 and the
 * response body in *body (malloc'd, caller frees).  On failure returns -1,
 * fills e, and *body is NULL.
 */
int	 sailthru_call(struct sailthru *c, const char *method, const char *endpoint,
	    const char *json, char **body, struct sailthru_error *e);

struct sailthru_list {
	char		*name;
	char		*list_id;
	char		*type;		/* "normal" or "smart" */
	int64_t		 email_count;
};
/* GET /list: all lists.  *lists is malloc'd; free with sailthru_lists_free. */
int	 sailthru_list_all(struct sailthru *c, struct sailthru_list **lists, size_t *n,
	    struct sailthru_error *e);
void	 sailthru_lists_free(struct sailthru_list *lists, size_t n);

/* POST /job export_list_data for list; *job_id malloc'd. */
int	 sailthru_job_export_list(struct sailthru *c, const char *list, char **job_id,
	    struct sailthru_error *e);

struct sailthru_job {
	char	*status;		/* "pending", "completed", "error", ... */
	char	*export_url;		/* completed export jobs */
	char	*error_report_url;	/* update jobs with failed lines */
	char	*error;			/* the job's own error text, when status is "error" */
};
/* GET /job {job_id}.  Fields are malloc'd; free with sailthru_job_clear. */
int	 sailthru_job_get(struct sailthru *c, const char *job_id, struct sailthru_job *j,
	    struct sailthru_error *e);
void	 sailthru_job_clear(struct sailthru_job *j);

/*
 * POST /job with a multipart file upload (e.g. job "update" with an NDJSON
 * file).  json holds the other arguments, including "job".  *job_id malloc'd.
 */
int	 sailthru_job_upload(struct sailthru *c, const char *json, const char *file_path,
	    char **job_id, struct sailthru_error *e);

/*
 * Streams url to path.  Bytes arrive in path.part (fsynced), which is
 * resumed with a Range request after a broken transfer (and restarted when
 * the server ignores the range); on success path.part is renamed to path
 * and the directory fsynced.  An expired URL (403/404/410) fails with
 * SAILTHRU_ENOTFOUND so the caller can start a new job.  progress, when
 * non-NULL, is called with the bytes so far.
 */
int	 sailthru_download(struct sailthru *c, const char *url, const char *path,
	    void (*progress)(void *arg, uint64_t bytes), void *arg,
	    struct sailthru_error *e);

/* Rate-limit state the client last saw for endpoint+method (for tests/logs). */
struct sailthru_rate {
	long	 limit, remaining;
	int64_t	 reset;		/* epoch seconds */
	int	 known;
};
void	 sailthru_rate_get(struct sailthru *c, const char *method, const char *endpoint,
	    struct sailthru_rate *r);

/*
 * Pure helpers, exposed so that the unit tests can check them.
 *
 * sailthru_classify: the class of a response from its HTTP status (0 when
 * there was none) and Sailthru error code (0 when none).
 * sailthru_backoff_ms: the wait before retry number attempt (1-based): base
 * doubled per attempt, capped at cap, with "equal jitter" drawn from rnd,
 * so the result d' lies in [d/2, d].
 * sailthru_pace_ms: how long to wait before the next request given the
 * rate-limit headers last seen (0: go now).  Never more than a window and
 * a little, so a skewed clock cannot stall a run.
 * sailthru_url_check: 0 when url is https, or http to a loopback host
 * (127.0.0.0/8, localhost, [::1]); otherwise -1 and a reason in err.
 * sailthru_form: the signed parameters "api_key=..&format=json&json=..&sig=.."
 * form-encoded; malloc'd (caller frees), NULL when out of memory.
 * sailthru_body_error: 1 when body is a Sailthru error envelope
 * ({"error": N, "errormsg": "..."}), filling code and msg; 0 otherwise.
 * sailthru_redact: overwrites every occurrence of secret in s with "***".
 */
int	 sailthru_classify(long http, int code);
long	 sailthru_backoff_ms(long base_ms, long cap_ms, int attempt, uint32_t rnd);
long	 sailthru_pace_ms(const struct sailthru_rate *r, int64_t now_ms);
int	 sailthru_url_check(const char *url, char *err, size_t errlen);
char	*sailthru_form(const char *api_key, const char *secret, const char *json);
int	 sailthru_body_error(const char *body, size_t len, int *code, char *msg,
	    size_t msglen);
void	 sailthru_redact(char *s, const char *secret);

#endif
