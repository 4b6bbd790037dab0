/* tests/sim/sim.h: the Sailthru simulator's state, shared by its files. */
#ifndef SAILSYNC_SIM_H
#define SAILSYNC_SIM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"

/*
 * Caps: a form or JSON body, and a multipart upload (the job file), which
 * goes to a file as it arrives, so a bulk update of a million users is a
 * few hundred MB of disk, not of memory.
 */
#define SIM_BODY_MAX		(1u << 20)
#define SIM_UPLOAD_MAX		((size_t)4 << 30)

struct sim_opts {
	const char	*listen;	/* HOST:PORT */
	const char	*port_file;
	const char	*key;
	const char	*secret;
	const char	*seed;
	long		 job_delay_ms;
	long		 url_ttl_s;
	long		 rate_limit;
	long		 rate_window_s;
	const char	*tls_cert;
	const char	*tls_key;
	const char	*state_out;
	int		 log_requests;
	char		*export_files[32];	/* "LIST=PATH", as given */
	size_t		 nexport_files;
	/* --rate METHOD:ENDPOINT=N, parsed: "POST user" -> N */
	struct {
		char	 key[32];
		long	 limit;
	}		 rates[16];
	size_t		 nrates;
};

/* A string -> index map (open addressing); keys are owned by the caller. */
struct smap {
	const char	**keys;
	size_t		 *vals;
	size_t		  cap, len;
};

struct sim_member {
	size_t		 list;		/* index into sim.lists */
	time_t		 signup;
};

struct sim_user {
	char		 sid[25];
	char		 cookie[33];
	char		*email;		/* lowercased, trimmed */
	char		*extid;		/* NULL when none */
	/*
	 * Compact JSON text of the vars object, NULL when none: a parsed
	 * object costs about a kilobyte a user, the text a tenth of that,
	 * which is what lets a million-user export fit.
	 */
	char		*vars;
	struct sim_member *lists;
	size_t		 nlists;
	char		 engagement[16];
	char		 optout[16];
	long		 opens, clicks;
	time_t		 created, last_open, last_click;
	int		 deleted;	/* merged away or deleted; kept so indices stay stable */
};

struct sim_list {
	char		 id[25];
	char		*name;
	int		 smart;
	int		 primary;
	time_t		 created;
	time_t		 send_time;	/* 0: never sent to */
	json_t		*vars;		/* object, owned */
	char		*public_name;	/* NULL: the name */
};

enum sim_job_kind { JOB_EXPORT, JOB_UPDATE };
enum sim_job_status { JOB_PENDING, JOB_COMPLETED, JOB_ERROR };

struct sim_job {
	char		 id[25];
	enum sim_job_kind kind;
	enum sim_job_status status;
	char		*name;
	char		*list;		/* export: list name */
	int		 fail;		/* a job_error fault hit this job */
	double		 fail_after;	/* update: share of the file applied first */
	int64_t		 start_ms, due_ms;
	time_t		 end;
	char		 token[33];	/* export URL token */
	char		 report_token[33];
	char		*path;		/* export or report file to serve */
	int		 own_path;	/* path is ours to unlink */
	char		*report_path;
	time_t		 expires;
	char		*upload_path;	/* update: the NDJSON file, ours to unlink */
	pthread_t	 worker;	/* update: applies upload_path */
	int		 has_worker;
	int		 applied;	/* update: the worker is done */
	long		 rows, bad;
};

struct sim_fault {
	char		 endpoint[16];
	char		 method[8];
	long		 skip;		/* matching calls to let through first */
	long		 count;
	char		 kind[16];
	char		 job[24];	/* job_error: only this job kind ("" any) */
	long		 ms;
	double		 fraction;
};

struct sim_rate {
	char		 key[32];	/* "GET user" */
	long		 limit;		/* 0: the default */
	int64_t		 window;	/* start, epoch seconds */
	long		 used;
};

struct sim {
	pthread_mutex_t	 lock;
	struct sim_opts	 o;
	char		 base_url[128];
	char		 tmpdir[256];
	struct sim_user	**users;
	size_t		 nusers, capusers;
	struct smap	 by_email, by_sid, by_extid;
	struct sim_list	*lists;
	size_t		 nlists;
	struct sim_job	**jobs;
	size_t		 njobs;
	struct sim_fault *faults;
	size_t		 nfaults;
	struct sim_rate	 rates[32];
	size_t		 nrates;
	json_t		*counters;	/* {"GET user": N, ...} */
	char		*export_files[32][2];	/* list name, path */
	long		 export_rows[32];	/* data lines in each file */
	size_t		 nexport_files;
	uint64_t	 seq;		/* feeds ids and tokens */
	int		 stopping;	/* update workers give up */
};

extern struct sim sim;

/* sim_state.c: everything below runs with sim.lock held. */
void	 sim_init(const struct sim_opts *o);
void	 sim_clear(void);
int	 sim_seed_load(const char *path, char *err, size_t errlen);
void	 md5_hex(const void *p, size_t n, char out[33]);
void	 sim_id(const char *what, const char *salt, char out[25]);
struct sim_user	*sim_user_find(const char *key, const char *id);
ssize_t	 sim_list_find(const char *name);
size_t	 sim_list_add(const char *name, int smart);
/*
 * Applies a POST /user-shaped object.  Returns 0, or an HTTP status with
 * *code and msg filled.  *out (may be NULL) receives the user.
 */
int	 sim_user_post(json_t *args, struct sim_user **out, int *code, char *msg,
	    size_t msglen);
json_t	*sim_user_json(const struct sim_user *u, json_t *fields);
/* u's vars as a new object (empty when none); the caller decrefs it. */
json_t	*sim_user_vars(const struct sim_user *u);
json_t	*sim_user_keys(const struct sim_user *u);
/* The GET /list {} item ("name", "email_count") and the one-list object. */
json_t	*sim_list_json(size_t i, long count);
json_t	*sim_list_object(size_t i, long count, int with_vars);
ssize_t	 sim_list_find_id(const char *id);
/* DELETE /user: retires u (its ids stop resolving). */
void	 sim_user_delete(struct sim_user *u);
long	*sim_list_counts(void);		/* malloc'd, one per list */
struct sim_job	*sim_job_find(const char *id);
struct sim_job	*sim_job_new(enum sim_job_kind kind);
void	 sim_jobs_tick(void);
json_t	*sim_job_json(struct sim_job *j);
json_t	*sim_state_json(void);
/* The state without users and members: counts only, for big runs. */
json_t	*sim_summary_json(void);
/* Seed and admin dates (UTC): 0, or -1 when v is not one; null/absent is 0. */
int	 sim_time_parse(json_t *v, time_t *out);
char	*sim_time_rfc2822(time_t t, char *out, size_t len);
char	*sim_time_iso(time_t t, char *out, size_t len);

/* sim_export.c */
int	 sim_export_write(const char *list, const char *path, long *rows);
/* Starts the thread that applies update job j's file (sim.lock held). */
void	 sim_update_start(struct sim_job *j);
/* Stops and joins the update threads; called without sim.lock. */
void	 sim_update_stop_all(void);
void	 csv_field(struct buf *b, const char *s, size_t n);

/* sim_http.c */
struct MHD_Daemon;
struct MHD_Daemon *sim_http_start(char *err, size_t errlen);
/* Stops the daemon and frees what it was started with; *dp becomes NULL. */
void	 sim_http_stop(struct MHD_Daemon **dp);

#endif
