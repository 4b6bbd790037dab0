/*
 * exporter/exporter.h: export goals, a segment's profiles to Sailthru users
 * and lists.  exporter_vars.c turns a profile into typed Sailthru vars;
 * exporter.c selects profiles from a read snapshot of every lane and
 * writes them to Sailthru, keeping its own state (exporter_state.c).
 */
#ifndef SAILSYNC_EXPORTER_H
#define SAILSYNC_EXPORTER_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "conf.h"
#include "profile.h"

/*
 * The Sailthru form of the values of pp, a profile property declared as
 * cp (README "Typed vars"): multi-valued as an array; number and decimal
 * as integers (decimals rounded half away from zero); a datetime named
 * *_time as UNIX seconds, *_date as YYYY-MM-DD in zone tz, any other as
 * ISO-8601 UTC with milliseconds; booleans and text as strings.  Returns a
 * new reference (JSON null for no value); NULL only for an unknown zone.
 */
json_t	*exporter_var(const struct conf_prop *cp, const struct profile_prop *pp,
	    const char *tz);

/*
 * The vars object of goal g for profile p: one key per mapping.  A
 * mapping whose source has no value is left out.  Returns a new reference.
 */
json_t	*exporter_vars(const struct conf *c, const struct conf_goal *g,
	    const struct profile *p, const char *tz, int64_t now_ms);

/* Skip reasons, as in run records. */
#define EXPORT_REASONS(X)						\
	X(NO_IDENTIFIER, "no_identifier")				\
	X(NO_USER, "no_user")						\
	X(CAPPED, "capped")						\
	X(OUTSIDE_STAGE, "outside_stage")				\
	X(NO_CONSENT, "no_consent")					\
	X(REJECTED, "rejected")

enum export_reason {
#define X_ENUM(n, s) EXPORT_##n,
	EXPORT_REASONS(X_ENUM)
#undef X_ENUM
	EXPORT_NREASONS
};
const char	*export_reason_name(int r);

/*
 * One goal's counts for one run.  Kept in this one small struct until the
 * per-goal stats type of common/ takes export counters.
 */
struct export_stats {
	char		 goal[65];
	uint64_t	 selected;	/* in the segment */
	uint64_t	 exported;	/* accepted by Sailthru */
	uint64_t	 created;	/* of which new Sailthru users */
	uint64_t	 removed;	/* removed from the goal's lists */
	uint64_t	 skipped;
	uint64_t	 reasons[EXPORT_NREASONS];
	uint64_t	 failed;	/* not written for a transient failure */
	uint32_t	 nlast;
	uint64_t	 last[5];	/* newest first: exported profile ids */
	uint64_t	 unique;	/* profiles ever exported by the goal */
	char		 mode[8];	/* "user", "bulk" or "" */
	char		 error[512];	/* the goal failed as a whole */
};

struct exporter_opts {
	int		 dry_run;	/* print what would be sent; write nothing */
	int		 force;		/* go past the removal guard */
	FILE		*out;		/* the dry run's lines; NULL: stdout */
	int64_t		 now_ms;	/* 0: the clock (or env SAILSYNC_NOW) */
};

/*
 * Runs the export goals of connection cn (all of them, or those named in
 * goals[0..ngoals)) in this process.  Fills stats[i] for each goal run
 * (*nstats of them, at most cn->ngoals; stats has room for cn->ngoals).
 * Returns 0 when every goal ran (some profiles may have been skipped or
 * failed: see the stats), EX_TEMPFAIL when interrupted or Sailthru stayed
 * unavailable (rerun to resume), or another sysexits code for config or
 * environment errors (logged).
 */
int	 exporter_run(const struct conf *c, const struct conf_conn *cn,
	    char *const *goals, size_t ngoals, const struct exporter_opts *o,
	    struct export_stats *stats, size_t *nstats);

/*
 * The status of a run with these goals: "ok" (something was written and
 * nothing failed), "empty" (nothing to write), "partial" or "failed".
 */
const char	*exporter_status(const struct export_stats *st, size_t n);

/*
 * The long-lived exporter (exporter_serve.c): EXPORT_REQUEST in on
 * pipeline.export, EXPORT_RESULT out on pipeline.export_results, until
 * exporter_stop.  Returns 0 or an exit code.
 */
int	 exporter_serve(const struct conf *c);

/* Prints stats as the run summary's lines, and returns their JSON (new reference). */
json_t	*exporter_stats_json(const struct export_stats *st, FILE *out);

extern volatile sig_atomic_t exporter_stop;	/* set by SIGTERM/SIGINT */

#endif
