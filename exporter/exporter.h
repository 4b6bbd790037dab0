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
#include "export_client.h"
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
#define EXPORT_NO_IDENTIFIER	"no_identifier"
#define EXPORT_NO_USER		"no_user"
#define EXPORT_CAPPED		"capped"
#define EXPORT_OUTSIDE_STAGE	"outside_stage"
#define EXPORT_NO_CONSENT	"no_consent"
#define EXPORT_REJECTED		"rejected"

struct exporter_opts {
	int		 dry_run;	/* print what would be sent; write nothing */
	int		 force;		/* go past the removal guard */
	FILE		*out;		/* the dry run's lines; NULL: stdout */
	int64_t		 now_ms;	/* 0: the clock (or env SAILSYNC_NOW) */
};

/*
 * Runs the export goals of connection cn (all of them, or those named in
 * goals[0..ngoals)) in this process.  Fills res[i] for each goal run
 * (*nres of them, at most cn->ngoals; res has room for cn->ngoals; the
 * caller export_result_clears each).
 * Returns 0 when every goal ran (some profiles may have been skipped or
 * failed: see the stats), EX_TEMPFAIL when interrupted or Sailthru stayed
 * unavailable (rerun to resume), or another sysexits code for config or
 * environment errors (logged).
 */
int	 exporter_run(const struct conf *c, const struct conf_conn *cn,
	    char *const *goals, size_t ngoals, const struct exporter_opts *o,
	    struct export_result *res, size_t *nres);

/*
 * The long-lived exporter (exporter_serve.c): EXPORT_REQUEST in on
 * pipeline.export, EXPORT_RESULT out on pipeline.export_results, until
 * exporter_stop.  Returns 0 or an exit code.
 */
int	 exporter_serve(const struct conf *c);

extern volatile sig_atomic_t exporter_stop;	/* set by SIGTERM/SIGINT */

#endif
