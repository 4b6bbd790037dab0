/* tests/unit/t_stats.c: a goal's figures: reasons, last ids, the merge over lanes, the codec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "buf.h"
#include "log.h"
#include "msg.h"
#include "stats.h"
#include "tap.h"

static void
test_merge(void)
{
	struct stats	 a, b, m;

	/* Merging two lanes' stats: sums; last ids newest first, no duplicates. */
	stats_init(&a, NULL, 0, "g", 1);
	stats_init(&b, NULL, 0, "g", 1);
	stats_init(&m, NULL, 0, "g", 1);
	a.created = 2; a.skipped = 1; a.unique = 3;
	stats_reason_add(&a, "no_identifier", 13, 1);
	a.nlast = 3; a.last[0] = 90; a.last[1] = 50; a.last[2] = 10;
	b.created = 1; b.updated = 4; b.skipped = 2; b.unique = 4;
	stats_reason_add(&b, "ragged_row", 10, 1);
	stats_reason_add(&b, "no_identifier", 13, 1);
	b.nlast = 4; b.last[0] = 95; b.last[1] = 90; b.last[2] = 60; b.last[3] = 5;
	stats_merge(&m, &a);
	stats_merge(&m, &b);
	is_int(m.created, 3, "merged created");
	is_int(m.updated, 4, "merged updated");
	is_int(m.skipped, 3, "merged skipped");
	is_int(m.unique, 7, "merged unique");
	is_int(m.nreasons, 2, "merged reasons");
	is_str(m.reasons[0].reason, "no_identifier", "reasons sorted");
	is_int(m.reasons[0].n, 2, "merged no_identifier");
	is_int(m.nlast, 5, "merged last: five");
	ok(m.last[0] == 95 && m.last[1] == 90 && m.last[2] == 60 && m.last[3] == 50 &&
	    m.last[4] == 10, "merged last newest first, deduplicated");
	stats_clear(&a);
	stats_clear(&b);
	stats_clear(&m);
	ok(m.goal == NULL && m.nreasons == 0, "clear zeroes");

	/* Lane 1's older profile is not newer than lane 0's recent one. */
	a.nlast = 1; a.last[0] = (0ULL << 56) | (900ULL << 16);
	b.nlast = 2; b.last[0] = (1ULL << 56) | (800ULL << 16); b.last[1] = (1ULL << 56) | (100ULL << 16);
	stats_merge(&m, &b);
	stats_merge(&m, &a);
	is_int(m.nlast, 3, "lanes merged: three ids");
	ok(m.last[0] == a.last[0] && m.last[1] == b.last[0] && m.last[2] == b.last[1],
	    "newest first by time, whatever the lane byte");
	stats_clear(&m);

	/* The last ids: a repeated id moves to the front, at most five. */
	for (uint64_t id = 1; id <= 7; id++)
		stats_last_push(&m, id);
	stats_last_push(&m, 5);
	is_int(m.nlast, STATS_LAST_IDS, "five last ids");
	ok(m.last[0] == 5 && m.last[1] == 7 && m.last[2] == 6 && m.last[3] == 4 &&
	    m.last[4] == 3, "repeated id moved to the front");
	stats_clear(&m);

	/* Changes travel with their ids: pushed, replaced, dropped, merged. */
	stats_clear(&a);
	stats_clear(&b);
	for (uint64_t id = 1; id <= 6; id++) {
		char	 t[32];

		snprintf(t, sizeof(t), "\"changed\":{\"n\":%d}", (int)id);
		stats_last_push_changed(&a, id << 16, t, strlen(t));
	}
	ok(a.nlast == 5 && a.last[4] == 2ULL << 16 && strcmp(a.changes[4],
	    "\"changed\":{\"n\":2}") == 0, "the oldest change dropped with its id");
	stats_last_push_changed(&a, 4ULL << 16, "\"changed\":{\"n\":44}", 18);
	ok(a.last[0] == 4ULL << 16 && strcmp(a.changes[0], "\"changed\":{\"n\":44}") == 0 &&
	    a.last[1] == 6ULL << 16 && strcmp(a.changes[1], "\"changed\":{\"n\":6}") == 0 &&
	    a.last[3] == 3ULL << 16 && strcmp(a.changes[3], "\"changed\":{\"n\":3}") == 0,
	    "a repeated id: moved with its new change, the others keep theirs");
	stats_last_push(&a, 9ULL << 16);
	ok(a.changes[0] == NULL && a.changes[1] != NULL, "pushed without a change: NULL");
	stats_last_push_changed(&b, 8ULL << 16, "\"changed\":{\"n\":8}", 17);
	stats_last_push_changed(&b, 1ULL << 16, "\"changed\":{\"n\":1}", 17);
	stats_merge(&m, &a);
	stats_merge(&m, &b);
	ok(m.nlast == 5 && m.last[0] == 9ULL << 16 && m.changes[0] == NULL &&
	    m.last[1] == 8ULL << 16 && strcmp(m.changes[1], "\"changed\":{\"n\":8}") == 0 &&
	    m.last[2] == 6ULL << 16 && strcmp(m.changes[2], "\"changed\":{\"n\":6}") == 0 &&
	    m.last[3] == 5ULL << 16 && m.last[4] == 4ULL << 16 &&
	    strcmp(m.changes[4], "\"changed\":{\"n\":44}") == 0,
	    "merged: changes beside their ids, newest first");
	stats_copy(&b, &m);
	ok(b.nlast == 5 && b.changes[1] != m.changes[1] &&
	    strcmp(b.changes[1], m.changes[1]) == 0, "copied: changes copied");
	stats_clear(&a);
	stats_clear(&b);
	stats_clear(&m);
}

static void
test_table(void)
{
	struct stats	 s;
	struct buf	 b;

	/* Each table line is a field, named and reachable by index. */
	stats_init(&s, "c", 1, "g", 1);
	for (size_t i = 0; i < STATS_NCOUNTERS; i++)
		*stats_counter(&s, i) = 10 + i;
	is_int(s.created, 10, "counter 0 is created");
	is_int(s.skipped, 13, "counter 3 is skipped");
	is_str(stats_counter_name(STATS_C_unchanged), "unchanged", "names from the table");
	ok(stats_counter_kinds(STATS_C_created) == (STATS_IMPORT | STATS_EXPORT),
	    "created: import and export goals");
	ok(stats_counter_kinds(STATS_C_updated) == STATS_IMPORT, "updated: import goals");
	ok(stats_counter_kinds(STATS_C_exported) == STATS_EXPORT, "exported: export goals");
	ok(stats_counter_name(STATS_NCOUNTERS) == NULL, "past the table: NULL");
	stats_reason_add(&s, "no_match", 8, 2);
	stats_reason_add(&s, "a\"b", 3, 1);
	s.nlast = 1;
	s.last[0] = 0x0132bd0fd1340023ULL;
	s.unique = 9;
	buf_init(&b, 4096);
	is_int(stats_json(&s, STATS_IMPORT, &b), 0, "json");
	is_str(b.data, "\"created\":10,\"updated\":11,\"unchanged\":12,\"skipped\":13,"
	    "\"reasons\":{\"a\\\"b\":1,\"no_match\":2},\"last\":[\"0132bd0fd1340023\"],"
	    "\"last_changes\":[{\"id\":\"0132bd0fd1340023\"}],"
	    "\"unique\":9", "json members, reasons escaped and sorted");
	buf_reset(&b);
	is_int(stats_json(&s, STATS_EXPORT, &b), 0, "json of an export goal");
	is_str(b.data, "\"created\":10,\"skipped\":13,\"exported\":14,\"removed\":15,"
	    "\"failed\":16,\"selected\":17,\"unverified\":18,\"reasons\":{\"a\\\"b\":1,\"no_match\":2},"
	    "\"last\":[\"0132bd0fd1340023\"],\"last_changes\":[{\"id\":\"0132bd0fd1340023\"}],"
	    "\"unique\":9", "the export goal's counters");
	/* A last profile with its change: the members go into its object. */
	{
		const char *c = "\"identifier\":{\"email\":\"a@x\"},\"changed\":{\"n\":1}";

		stats_last_push_changed(&s, 0x0132bd0fd1340024ULL, c, strlen(c));
	}
	buf_reset(&b);
	is_int(stats_json(&s, STATS_EXPORT, &b), 0, "json with a change");
	ok(strstr(b.data, "\"last_changes\":[{\"id\":\"0132bd0fd1340024\",\"identifier\":"
	    "{\"email\":\"a@x\"},\"changed\":{\"n\":1}},{\"id\":\"0132bd0fd1340023\"}]") != NULL,
	    "last_changes: id and change, newest first: %s", b.data);
	is_int(stats_reason_get(&s, "no_match"), 2, "a reason's count");
	is_int(stats_reason_get(&s, "no_user"), 0, "a reason not there: 0");
	buf_clear(&b);
	stats_clear(&s);
}

static void
test_codec(void)
{
	struct stats	 s, d;
	struct buf	 b;
	char		 err[256];
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;

	buf_init(&b, 1 << 20);
	stats_init(&s, "conn", 4, "goal", 4);
	s.created = 1; s.updated = UINT64_MAX; s.unchanged = 3; s.skipped = 4;
	s.exported = 5; s.removed = 6; s.failed = 7; s.selected = 8;
	stats_reason_add(&s, "no_identifier", 13, 4);
	stats_reason_add(&s, "identifier_taken:email", 22, 1);
	s.nlast = 2; s.last[0] = 77; s.last[1] = 66;
	s.changes[1] = strdup("\"changed\":{\"first_name\":\"Ann\"}");
	s.unique = 99;
	is_int(msg_stats_encode(&s, &b, err, sizeof(err)), 0, "encode");
	is_int(msg_stats_decode(b.data, b.len, &d, err, sizeof(err)), 0, "decode: %s", err);
	is_str(d.goal, "goal", "goal");
	ok(d.conn == NULL, "conn is not in the value");
	ok(d.created == 1 && d.updated == UINT64_MAX && d.unchanged == 3 && d.skipped == 4,
	    "counters");
	ok(d.exported == 5 && d.removed == 6 && d.failed == 7 && d.selected == 8,
	    "export counters");
	ok(d.nreasons == 2 && strcmp(d.reasons[1].reason, "no_identifier") == 0 &&
	    d.reasons[1].n == 4, "reasons");
	ok(d.nlast == 2 && d.last[0] == 77 && d.last[1] == 66 && d.unique == 99,
	    "last ids and unique");
	ok(d.changes[0] == NULL && d.changes[1] != NULL &&
	    strcmp(d.changes[1], "\"changed\":{\"first_name\":\"Ann\"}") == 0,
	    "a last id alone and one with its change");
	stats_clear(&d);

	/* Truncated at every length: refused with a reason, nothing leaked. */
	{
		int refused = 0;

		for (size_t n = 0; n < b.len; n++)
			if (msg_stats_decode(b.data, n, &d, err, sizeof(err)) == -1 && err[0])
				refused++;
		is_int(refused, (int)b.len, "every truncation refused");
	}
	ok(msg_stats_decode(b.data, b.len, &d, err, sizeof(err)) == 0, "whole again");
	stats_clear(&d);

	/* The first runstats layout still reads. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 6);
	msgpack_pack_uint64(&pk, 5);
	msgpack_pack_uint64(&pk, 6);
	msgpack_pack_uint64(&pk, 7);
	msgpack_pack_uint64(&pk, 8);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str(&pk, 8);
	msgpack_pack_str_body(&pk, "no_match", 8);
	msgpack_pack_uint64(&pk, 8);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_uint64(&pk, 42);
	is_int(msg_stats_decode(sb.data, sb.size, &d, err, sizeof(err)), 0,
	    "first layout decodes: %s", err);
	ok(d.created == 5 && d.skipped == 8 && d.nreasons == 1 && d.reasons[0].n == 8 &&
	    d.nlast == 1 && d.last[0] == 42, "first layout's figures");
	stats_clear(&d);
	msgpack_sbuffer_destroy(&sb);

	/* A value with only the first four counters (before a table line was added). */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4 + STATS_NCOUNTERS_MIN);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "g", 1);
	for (int i = 0; i < STATS_NCOUNTERS_MIN; i++)
		msgpack_pack_uint64(&pk, (uint64_t)i + 1);
	msgpack_pack_array(&pk, 0);
	msgpack_pack_array(&pk, 0);
	msgpack_pack_uint64(&pk, 3);
	is_int(msg_stats_decode(sb.data, sb.size, &d, err, sizeof(err)), 0,
	    "fewer counters decode: %s", err);
	ok(d.created == 1 && d.skipped == 4 && d.unique == 3, "their figures");
	stats_clear(&d);
	/* Too few items. */
	sb.data[0] = (char)0x93;
	ok(msg_stats_decode(sb.data, sb.size, &d, err, sizeof(err)) == -1 &&
	    strstr(err, "expected") != NULL, "too few items refused: %s", err);
	msgpack_sbuffer_destroy(&sb);

	stats_clear(&s);
	buf_clear(&b);
}

static void
test_array(void)
{
	struct stats	*arr = NULL, *a, *b;
	size_t		 n = 0;

	a = stats_array_get(&arr, &n, "g1");
	a->created = 4;
	b = stats_array_get(&arr, &n, "g2");
	ok(n == 2 && strcmp(b->goal, "g2") == 0 && b->created == 0, "a new goal is appended, zero");
	a = stats_array_get(&arr, &n, "g1");
	ok(n == 2 && a->created == 4, "a known goal is found again");
	for (size_t i = 0; i < n; i++)
		stats_clear(&arr[i]);
	free(arr);
}

int
main(void)
{
	log_init("t_stats", LOG_ERR);
	test_merge();
	test_table();
	test_codec();
	test_array();
	return done_testing();
}
