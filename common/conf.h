/*
 * common/conf.h: the configuration file (JSON), loaded and validated once.
 *
 * Every error is one line naming the file, line and column and the JSON
 * path, e.g.
 *   sailsync.json:41:24: connections[0].goals[1].mappings[3].rule: unknown
 *   rule "summ" (expected set, set_if_empty, add, sum)
 * The full format, with an example, is in README.md and deploy/sailsync.json.
 */
#ifndef SAILSYNC_CONF_H
#define SAILSYNC_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "sched.h"
#include "val.h"

struct conf_prop {
	char		*name;
	enum val_type	 type;
	int		 multi;		/* multi-valued */
	int		 unique;	/* a unique identifier: indexed in `ident` */
};

/*
 * Segments defined in the configuration: a named filter over profile
 * properties.  A profile is in segment S when its $segments values hold S
 * (loaded by file goals) or when it matches S's definition (segment.h).
 */
enum cond_op {
	COND_EQUALS = 1,	/* the (single) value equals */
	COND_ONE_OF,		/* the (single) value is one of vals */
	COND_EXISTS,		/* has at least one value */
	COND_MISSING,		/* has no value */
	COND_RANGE,		/* number, decimal, datetime: min <= v <= max */
	COND_WITHIN_DAYS,	/* datetime: now - days <= v <= now */
	COND_CONTAINS,		/* multi-valued: one of the values equals */
};
struct conf_cond {
	char		*property;
	int		 op;		/* enum cond_op */
	size_t		 nvals;
	struct val	*vals;		/* EQUALS, ONE_OF, CONTAINS; text malloc'd */
	int		 has_min, has_max;
	struct val	 min, max;	/* RANGE, of the property's type */
	int64_t		 days;		/* WITHIN_DAYS */
};
struct conf_segment {
	char		*name;
	int		 any;		/* 1: any condition; 0: all of them */
	size_t		 nconds;
	struct conf_cond *conds;
};

/*
 * store.txn_mb's default.  Changed pages are writer heap until the commit,
 * and so are the identifiers waiting to be staged (the filters take
 * store.filter_mb besides): about what the largest group of a
 * 1M-row import needed of both before profile updates were staged (schema
 * 5); the largest group now needs less than half of it, up to 10M rows
 * (README, Benchmark).
 */
#define CONF_TXN_MB	136
/*
 * store.index_stage's default: new identifiers wait in a small index
 * until it holds this many (and half as many as the large one), then are
 * folded into the large one in key order (store.h, README).
 */
#define CONF_INDEX_STAGE	262144
/*
 * store.filter_mb's default: the writer's filters of identifiers and of
 * the stages' runs take this much heap whatever the store's size (store.c,
 * README): 10 bits an identifier up to about 8 million of them.
 */
#define CONF_FILTER_MB		24

struct conf_store {
	char		*path;		/* directory; lane L lives in PATH/lane-L */
	uint64_t	 map_size;	/* initial LMDB map size, bytes */
	unsigned	 lanes;		/* writer lanes (>= 1) */
	size_t		 nprops;
	struct conf_prop *props;	/* declared + built-in ($segments, ...) */
	size_t		 nmerge;
	char		**merge;	/* unique identifiers whose matches merge profiles */
	uint32_t	 commit_rows;	/* group commit: at most this many rows ... */
	uint32_t	 commit_ms;	/* ... or this long since the first uncommitted */
	uint32_t	 txn_mb;		/* ... or once its pages may hold this much heap */
	uint32_t	 index_stage;	/* identifiers staged before a fold (store.h) */
	uint32_t	 filter_mb;	/* the writer's filters (0: CONF_FILTER_MB) */
	int		 durable;	/* fsync each commit (default 1) */
	size_t		 nsegments;
	struct conf_segment *segments;
};

struct conf_pipeline {
	char		*users;		/* fetcher -> mappers (fetcher binds) */
	char		*acks;		/* writers -> fetcher (fetcher binds) */
	size_t		 nlanes;
	char		**lanes;	/* mappers -> writer lane i (writer binds) */
	unsigned	 batch_rows;	/* records per batch (default 1000) */
	unsigned	 window;	/* unacknowledged batches per lane (default 64) */
	unsigned	 resend_ms;	/* resend when acks stall this long (default 5000) */
	char		*state_dir;	/* fetcher's spool and run ledger */
	char		*export_state;	/* exporter's LMDB environment and spool */
	char		*export;	/* NULL, or run driver -> exporter requests (exporter binds) */
	char		*export_results; /* exporter -> run driver (run driver binds) */
	unsigned	 history;	/* run records kept per connection (default 200) */
	char		*curve_public;	/* pipeline.curve: Z85 keypair for tcp:// */
	char		*curve_secret;	/* channels; both NULL when unset */
	int		 allow_plain_tcp; /* bind plain tcp:// beyond loopback */
};

enum map_rule { RULE_SET = 1, RULE_SET_IF_EMPTY = 2, RULE_ADD = 3, RULE_SUM = 4 };

struct conf_mapping {
	char		*column;	/* source column (CSV header / JSON key) */
	char		*property;
	int		 rule;		/* enum map_rule == enum patch_op */
};

enum goal_kind { GOAL_IMPORT = 1, GOAL_FILE = 2, GOAL_EXPORT = 3 };

/* Export goals: where a Sailthru var's value comes from. */
enum export_source {
	SRC_ID = 1,		/* the profile id (16 hex digits) */
	SRC_SEGMENTS,		/* segments the profile is in (all, or the chosen ones) */
	SRC_LIFECYCLES,		/* {lifecycle: stage} of every $lifecycle.NAME */
	SRC_PROPERTY,		/* a profile property, typed (README "Typed vars") */
	SRC_INTERACTIONS,	/* $interactions */
	SRC_PERMISSION,		/* $permission */
	SRC_TEXT,		/* static text */
};
struct conf_export_map {
	char		*var;		/* Sailthru var name */
	int		 source;	/* enum export_source */
	char		*property;	/* SRC_PROPERTY */
	char		*text;		/* SRC_TEXT */
	size_t		 nsegments;	/* SRC_SEGMENTS: 0 = all */
	char		**segments;
};
enum export_touch { TOUCH_EXPORT = 1, TOUCH_OPENED = 2, TOUCH_CLICKED = 3 };
enum export_key { KEY_EMAIL = 1, KEY_SID = 2, KEY_EXTID = 3 };
enum file_format { FMT_CSV = 1, FMT_JSONL = 2 };

struct conf_goal {
	char		*name;		/* unique within its connection */
	int		 kind;		/* enum goal_kind */
	/* GOAL_IMPORT */
	size_t		 nlists;
	char		**lists;
	/* GOAL_FILE */
	char		*path;
	int		 format;	/* enum file_format */
	/* GOAL_IMPORT and GOAL_FILE */
	int		 create;	/* create profiles for unmatched rows */
	char		*list_property;	/* NULL, or property that collects list names */
	char		*link_column;
	char		*link_property;
	size_t		 nmaps;
	struct conf_mapping *maps;
	/* GOAL_EXPORT (link_property too; lists are the lists to add users to) */
	char		*segment;
	int		 link_key;	/* enum export_key */
	int		 create_users;
	int		 remove_when_left;
	size_t		 nemaps;
	struct conf_export_map *emaps;
	char		*stage_lifecycle;	/* NULL: no stage restriction */
	size_t		 nstages;
	char		**stages;
	uint32_t	 cap_week, cap_month, cap_quarter;	/* 0: no cap */
	int		 touch;		/* enum export_touch */
	char		*touch_property;	/* datetime property of the event */
	double		 removal_guard;	/* refuse removing more than this share */
	uint32_t	 bulk_min;	/* at least this many users: a bulk job */
	/*
	 * A bulk job that may create users looks up those not known to exist
	 * when they are at most this many, to count the ones it creates.
	 */
	uint32_t	 bulk_lookups;
};

/* When a connection's notify addresses and webhook are told about a run. */
enum notify_when { NOTIFY_ALWAYS = 1, NOTIFY_FAILURE = 2 };

/* The mail relay notifications go through; url == NULL when not configured. */
struct conf_smtp {
	char		*url;		/* smtp://HOST[:PORT] or smtps://HOST[:PORT] */
	char		*from;		/* envelope and From: address */
	char		*username;	/* NULL: no AUTH */
	char		*password;	/* from password_file (0600) */
	int		 starttls;	/* smtp://: require STARTTLS (default 1) */
	char		*ca_file;	/* NULL: the system CAs */
};

/* The status page and API; listen == NULL when not configured. */
struct conf_status {
	char		*listen;	/* "HOST:PORT" (IPv4 address; default 127.0.0.1:8686) */
	char		*token;		/* from token_file (0600): needed to change state */
};

/*
 * Configuration digests.  Every batch that carries a run's work carries,
 * for the stage that receives it, the digest of the part of the
 * configuration that stage depends on for that batch's connection, as the
 * sender loaded it; a stage that holds another digest re-reads the file
 * (conf_digest_reload) and reloads, or refuses the batch.  The parts:
 *   mapper	store.properties; the connection's name, timezone and its
 *		import and file goals without lists, path and format
 *   writer	store.properties, store.merge; the connection's name and
 *		consent_objectives
 *   exporter	store.path, properties, merge, segments; the lane count;
 *		the connection without notify, notify_on, webhook and
 *		schedule (its secret file's content included), with only
 *		its export goals
 * Each part is taken from the file's JSON, written with sorted keys and
 * hashed (digest.h), so keys the loader adds later are covered as they
 * come, and a change elsewhere (a notification address, another
 * connection, the commit policy) changes no stage's digest.
 */
enum conf_digest_for {
	CONF_DIGEST_MAPPER = 0,
	CONF_DIGEST_WRITER = 1,
	CONF_DIGEST_EXPORTER = 2,
};
#define CONF_NDIGESTS	3
/* The digest a stage holds for a connection its configuration lacks. */
#define CONF_DIGEST_NONE	"none"

struct conf_conn {
	char		*name;
	char		*api_key;
	char		*secret;	/* resolved from secret / secret_file / secret_env */
	char		*timezone;	/* Sailthru account time zone, e.g. America/New_York */
	int		 enabled;
	char		*base_url;	/* default https://api.sailthru.com */
	char		*ca_file;	/* NULL: the system CAs */
	size_t		 nnotify;
	char		**notify;	/* email addresses (needs the top-level smtp) */
	int		 notify_on;	/* enum notify_when */
	char		*webhook;	/* NULL, or an http(s) URL for a JSON POST */
	size_t		 nobjectives;
	char		**objectives;	/* consent objectives; none: everyone */
	char		*schedule;	/* NULL (on demand only), or its text, e.g. "daily at 02:00" */
	struct sched	 sched;		/* schedule parsed (when schedule != NULL) */
	unsigned	 poll_cap_s;	/* job polling gives up after this (default 7200) */
	size_t		 ngoals;
	struct conf_goal *goals;
	char		 digest[CONF_NDIGESTS][DIGEST_HEX + 1];	/* enum conf_digest_for */
};

struct conf {
	char		*file;
	struct conf_store store;
	struct conf_pipeline pipe;
	struct conf_smtp smtp;
	struct conf_status status;
	size_t		 nconns;
	struct conf_conn *conns;
};

/*
 * Loads and validates path into c.  Returns 0, or -1 with the one-line
 * error described above in err.  On error c holds nothing to free.
 */
int	 conf_load(const char *path, struct conf *c, char *err, size_t errlen);
void	 conf_clear(struct conf *c);

/*
 * The digest of connection conn (len bytes) for stage `which` (enum
 * conf_digest_for): conn's digest, or CONF_DIGEST_NONE when c has no such
 * connection.  Never NULL; points into c.
 */
const char	*conf_digest(const struct conf *c, int which, const char *conn, size_t len);
/* "mapper", "writer", "exporter". */
const char	*conf_digest_name(int which);

/*
 * Reads path again into out, for a stage that received a batch made under
 * digest want (wantlen bytes) for connection conn.  Returns 0 when the
 * file loads and now has that digest (out holds it; the caller owns it and
 * clears it with conf_clear), 1 when it loads with another digest (copied
 * into have, at least DIGEST_HEX + 1 bytes; out is cleared), -1 when it
 * does not load (the loader's one line in err; out is cleared).
 */
int	 conf_digest_reload(const char *path, int which, const char *conn, size_t connlen,
	    const char *want, size_t wantlen, struct conf *out, char *have,
	    size_t havelen, char *err, size_t errlen);

const struct conf_prop	*conf_prop_find(const struct conf_store *s, const char *name, size_t len);
const struct conf_conn	*conf_conn_find(const struct conf *c, const char *name, size_t len);
const struct conf_goal	*conf_goal_find(const struct conf_conn *cn, const char *name, size_t len);
const struct conf_segment *conf_segment_find(const struct conf_store *s, const char *name);
const char		*conf_export_key_name(int key);	/* "email", "sid", "extid" */

#endif
