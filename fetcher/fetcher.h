/*
 * fetcher/fetcher.h: the fetcher's modules: source readers (CSV, JSON
 * lines), the run ledger, and the run itself (jobs, spools, streaming).
 */
#ifndef SAILSYNC_FETCHER_H
#define SAILSYNC_FETCHER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "msg.h"

/* Exit codes of a run (sysexits.h values besides 0 and 1). */
#define FETCHER_EXIT_OK		0
#define FETCHER_EXIT_PARTIAL	1	/* some part (list) failed, the others done */
#define FETCHER_EXIT_FAILED	2	/* every part failed: nothing was imported */

/*
 * Source readers.  A reader pulls one row at a time from a spool (a CSV
 * export or a local CSV / JSON-lines file), parsing it in chunks of a fixed
 * size so memory stays bounded however large the file is.
 */
#define FETCHER_CHUNK		(64u << 10)	/* default read size */
#define FETCHER_FIELD_MAX	MSG_MAX_STR	/* longer field: row skipped */
#define FETCHER_ROW_MAX		(8u << 20)	/* bigger row: row skipped */
#define FETCHER_PARSE_MAX	(32u << 20)	/* one unterminated field: part fails */
#define FETCHER_LINE_MAX	(1u << 20)	/* JSON-lines line: longer is skipped */

struct fetcher_src;

struct fetcher_row {
	uint64_t	 line;		/* record number in the source (CSV header = 1) */
	uint32_t	 nvals;
	const struct str *vals;		/* NUL-terminated values, one per column */
	const char	*skip;		/* FETCHER_SKIP: reason, e.g. "ragged_row" */
	char		 detail[96];	/* FETCHER_SKIP: what was wrong, for the log */
};

#define FETCHER_ROW	1
#define FETCHER_SKIP	2
#define FETCHER_END	0
#define FETCHER_ERR	(-1)

/*
 * Opens path (format FMT_CSV or FMT_JSONL) and reads the CSV header.
 * chunk is the read size (0: FETCHER_CHUNK).  Returns NULL with a reason
 * in err.  Free with fetcher_src_close().
 */
struct fetcher_src *fetcher_src_open(const char *path, int format, size_t chunk,
		    char *err, size_t errlen);
/* The columns rows carry (CSV: the header without later duplicates). */
uint32_t	 fetcher_src_ncols(const struct fetcher_src *s);
const struct str *fetcher_src_cols(const struct fetcher_src *s);
/*
 * Reads the next row into row; the values stay valid until the next call.
 * Returns FETCHER_ROW, FETCHER_SKIP (a bad row, not sequence-numbered:
 * row->skip and row->detail say why), FETCHER_END, or FETCHER_ERR (the
 * rest of the source cannot be read; fetcher_src_error says why).
 */
int		 fetcher_src_next(struct fetcher_src *s, struct fetcher_row *row);
const char	*fetcher_src_error(const struct fetcher_src *s);
uint64_t	 fetcher_src_offset(const struct fetcher_src *s);	/* bytes read */
void		 fetcher_src_close(struct fetcher_src **s);

/*
 * The run ledger: pipeline.state_dir/<conn>/ledger.json, rewritten whole
 * (tmp file, fsync, rename, fsync of the directory) at every state change
 * and about once a second while streaming.  What a crash at any point
 * costs is spelled out in fetcher_ledger.c.
 */
enum part_status {
	PART_NEW = 0,		/* nothing started */
	PART_JOB,		/* export job started: job_id set */
	PART_READY,		/* spool complete on disk (or the local file) */
	PART_FAILED,		/* error set; the run goes on without it */
	PART_DONE,		/* imported by an earlier pass of the run (--retry-failed) */
};
const char	*fetcher_part_status_name(int st);

struct fetcher_part {
	char		*goal;
	uint32_t	 index;		/* list number within the goal */
	char		*list;		/* list name, or the file path of a file goal */
	int		 file;		/* a file goal: the file is the spool */
	int		 format;	/* FMT_CSV or FMT_JSONL */
	int		 status;	/* enum part_status */
	char		*job_id;
	char		*spool;
	char		*error;
	uint32_t	 attempts;	/* export jobs started */
	int64_t		 size;		/* spool size once ready */
	int64_t		 mtime;		/* file goals: the file's mtime (s) */
	int64_t		 email_count;	/* the list's size, -1 unknown */
	/*
	 * Counted again on every read of the spool; kept in the ledger for a
	 * run resumed at its exports, which reads no spool.
	 */
	char		*warning;	/* e.g. mapping columns the export lacks */
	uint64_t	 rows;		/* sequence-numbered rows */
	uint64_t	 skipped;
	int64_t		 job_started_ms, next_poll_ms, poll_wait_ms;
};

struct fetcher_lane {
	uint64_t	 acked;		/* writer's applied for (run, lane) */
	uint64_t	 total;		/* rows numbered for the lane (when known) */
	uint64_t	 base;		/* numbered by earlier passes: this one starts after */
	uint64_t	 received;	/* not kept: the writer's highest seen */
	uint64_t	 stats_applied;	/* the ACK the stats came with */
	size_t		 nstats;
	struct stats	*stats;		/* per goal, as the lane's writer last said */
};

struct fetcher_ledger {
	char		*conn;
	uint64_t	 last_run;	/* highest run id this connection has used */
	/* The current run; run == 0 when there is none. */
	uint64_t	 run;
	char		 state[16];	/* "fetching", "streaming", "done", "failed" */
	char		*request;	/* malloc'd: the queued request it serves, or NULL */
	int64_t		 started_ms;
	int		 totals_known;	/* all parts were read: lane totals final */
	size_t		 nparts;
	struct fetcher_part *parts;
	size_t		 nlanes;
	struct fetcher_lane *lanes;
	/*
	 * Rows the fetcher itself set aside, per goal (ragged rows, ...):
	 * counted again on every read of the spools, like a part's rows.
	 */
	size_t		 nskips;
	struct stats	*skips;
	/* A retried run (--retry-failed): its retries, and the earlier passes' skips. */
	uint32_t	 retries;
	size_t		 nskips_base;
	struct stats	*skips_base;
};

/* Returns 0, or -1 with errno set (ENOENT: no ledger yet; EINVAL: corrupt). */
int	 fetcher_ledger_load(const char *path, struct fetcher_ledger *l, char *err,
	    size_t errlen);
/* Durably replaces path.  Returns 0, or -1 with errno set. */
int	 fetcher_ledger_save(const char *path, const struct fetcher_ledger *l);
void	 fetcher_ledger_clear(struct fetcher_ledger *l);

/*
 * Takes the next run id from the counter file in state_dir (shared by
 * every connection, under a lock) into *id; on entry *id is a floor (the
 * ledger's last run id), in case the counter file was lost.  Returns 0,
 * or -1 with errno set.
 */
int	 fetcher_run_id_next(const char *state_dir, uint64_t *id);
/* A file-name-safe copy of s ([A-Za-z0-9._-], others '_') into out. */
void	 fetcher_safe_name(const char *s, char *out, size_t outlen);

/* One `run` invocation. */
struct fetcher_opts {
	const char	*users;		/* NULL: pipeline.users */
	const char	*acks;		/* NULL: pipeline.acks */
	const char	*summary_json;	/* NULL: none */
	int		 progress;	/* show a progress line when stderr is a tty */
	size_t		 chunk;		/* source read size (0: default) */
	FILE		*summary_out;	/* the printed summary (NULL: stdout) */
	const char	*trigger;	/* COORD_TRIGGER_*, for the history (NULL: manual) */
	int		 quiet;		/* print no summary */
	const char	*request;	/* the coordinator's request file name (NULL: none) */
	int		 retry_failed;	/* redo the failed lists of the last run */
};

/*
 * One run in progress, shared by the modules of the run: coord_run.c (the
 * whole run: plan, lock, ledger, history), fetcher.c (Sailthru jobs and
 * spools), fetcher_stream.c (USERS out, ACKs in) and coord_summary.c.
 */
struct fetcher_ctx {
	const struct conf	*conf;
	const struct conf_conn	*cn;
	const struct fetcher_opts *opts;
	char			 dir[2048];	/* state_dir/<conn> */
	char			 ledger_path[2200];
	struct fetcher_ledger	 led;
	struct sailthru		*api;
	int64_t			 start_mono;	/* this process's start of the run */
	uint64_t		 rows;		/* rows numbered by this process */
	int			 resumed;	/* the run was started by an earlier process */
	/* The export goals' part of the run (common/export_client.h). */
	char			*export_json;	/* the exporter's summary, or NULL */
	char			 export_error[512];	/* the exporter did not finish */
};

/*
 * Brings every part of the run to READY or FAILED: checks local files
 * (EX_DATAERR when one changed under a resumed run), then, while the run
 * is fetching, checks the key and starts, polls and downloads the export
 * jobs.  Returns 0 or an exit code after a one-line log.
 */
int	 fetcher_fetch(struct fetcher_ctx *x);
/* Removes spools of other runs (all of them unless keep_current). */
void	 fetcher_spool_sweep(struct fetcher_ctx *x, int keep_current);

/* Saves the ledger; an I/O failure is fatal (74): a run cannot go on blind. */
void	 fetcher_ctx_checkpoint(struct fetcher_ctx *x);
/* The goal's fetcher-side skip counters (created on first use). */
struct stats	*fetcher_ctx_skips(struct fetcher_ctx *x, const char *goal);

/*
 * Streams every ready part to pipeline.users (or a capture) and waits
 * until every lane acknowledged its total.  Returns 0, 75 when stopped,
 * or another exit code after a one-line log.
 */
int	 fetcher_stream(struct fetcher_ctx *x);

/* Set from a signal handler: stop reading, checkpoint, exit 75. */
extern volatile sig_atomic_t fetcher_stop;

#endif
