/* tests/unit/t_fetcher_ledger.c: the fetcher's run ledger and run ids. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "tap.h"
#include "../../fetcher/fetcher.h"

static char dir[] = "/tmp/t_fetcher_ledger.XXXXXX";

int
main(void)
{
	struct fetcher_ledger l, r;
	struct fetcher_part parts[2];
	struct fetcher_lane lanes[2];
	struct stats	 st;
	char		 path[300], err[300];
	uint64_t	 id;

	log_init("t_fetcher_ledger", LOG_ERR);
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/ledger.json", dir);

	is_int(fetcher_ledger_load(path, &r, err, sizeof(err)), -1, "no ledger yet");
	is_int(errno, ENOENT, "... ENOENT");

	memset(&l, 0, sizeof(l));
	memset(parts, 0, sizeof(parts));
	memset(lanes, 0, sizeof(lanes));
	memset(&st, 0, sizeof(st));
	l.conn = "acme";
	l.last_run = 41;
	l.run = 41;
	snprintf(l.state, sizeof(l.state), "streaming");
	l.started_ms = 1700000000123;
	l.request = "0001764637500000-42-0.json";
	l.totals_known = 1;
	parts[0] = (struct fetcher_part){ .goal = "import", .index = 0, .list = "Main \"List\"",
	    .format = FMT_CSV, .status = PART_READY, .job_id = "0123456789abcdef01234567",
	    .spool = "/s/41-import-0.csv", .attempts = 2, .size = 12345, .email_count = 7 };
	parts[1] = (struct fetcher_part){ .goal = "file", .index = 0, .list = "/data/x.jsonl",
	    .file = 1, .format = FMT_JSONL, .status = PART_FAILED, .error = "list \"X\": unknown list",
	    .size = 10, .mtime = 1699999999, .email_count = -1 };
	l.nparts = 2;
	l.parts = parts;
	stats_init(&st, NULL, 0, "import", 6);
	st.created = 5;
	st.updated = 3;
	st.unchanged = 1;
	st.skipped = 2;
	stats_reason_add(&st, "no_identifier", 13, 2);
	st.nlast = 2;
	st.last[0] = 0x0100000000000002ULL;
	st.last[1] = 0x0100000000000001ULL;
	st.changes[1] = strdup("\"identifier\":{\"email\":\"a@x\"},\"changed\":{\"n\":[1,2]}");
	st.unique = 8;
	lanes[0] = (struct fetcher_lane){ .acked = 90, .total = 100, .stats_applied = 90,
	    .nstats = 1, .stats = &st };
	lanes[1] = (struct fetcher_lane){ .acked = 0, .total = 0 };
	l.nlanes = 2;
	l.lanes = lanes;
	is_int(fetcher_ledger_save(path, &l), 0, "save");
	ok(access(path, F_OK) == 0, "ledger exists");
	{
		char tmp[320];

		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		ok(access(tmp, F_OK) == -1, "no tmp file left behind");
	}
	is_int(fetcher_ledger_load(path, &r, err, sizeof(err)), 0, "load");
	is_str(r.conn, "acme", "connection");
	is_int(r.last_run, 41, "last_run");
	is_int(r.run, 41, "run id");
	is_str(r.state, "streaming", "state");
	is_int(r.started_ms, 1700000000123LL, "started");
	is_int(r.totals_known, 1, "totals_known");
	is_int(r.nparts, 2, "parts");
	is_str(r.parts[0].list, "Main \"List\"", "part 0 list (quoted)");
	is_str(r.parts[0].job_id, "0123456789abcdef01234567", "part 0 job id");
	is_str(r.parts[0].spool, "/s/41-import-0.csv", "part 0 spool");
	is_int(r.parts[0].status, PART_READY, "part 0 status");
	is_int(r.parts[0].attempts, 2, "part 0 attempts");
	is_int(r.parts[0].size, 12345, "part 0 size");
	is_int(r.parts[0].email_count, 7, "part 0 email_count");
	is_int(r.parts[1].file, 1, "part 1 is a file");
	is_int(r.parts[1].format, FMT_JSONL, "part 1 format");
	is_int(r.parts[1].status, PART_FAILED, "part 1 failed");
	is_str(r.parts[1].error, "list \"X\": unknown list", "part 1 error");
	is_int(r.parts[1].mtime, 1699999999, "part 1 mtime");
	is_int(r.parts[1].email_count, -1, "part 1 email_count unknown");
	ok(r.parts[1].job_id == NULL, "part 1 no job id");
	is_int(r.nlanes, 2, "lanes");
	is_int(r.lanes[0].acked, 90, "lane 0 acked");
	is_int(r.lanes[0].total, 100, "lane 0 total");
	is_int(r.lanes[0].nstats, 1, "lane 0 stats");
	is_str(r.lanes[0].stats[0].goal, "import", "stats goal");
	is_int(r.lanes[0].stats[0].created, 5, "stats created");
	is_int(r.lanes[0].stats[0].skipped, 2, "stats skipped");
	is_int(r.lanes[0].stats[0].nreasons, 1, "stats reasons");
	is_int(r.lanes[0].stats[0].reasons[0].n, 2, "stats reason count");
	is_int(r.lanes[0].stats[0].nlast, 2, "stats last ids");
	ok(r.lanes[0].stats[0].last[0] == 0x0100000000000002ULL, "stats last id, 64 bits");
	ok(r.lanes[0].stats[0].changes[0] == NULL && r.lanes[0].stats[0].changes[1] != NULL &&
	    strcmp(r.lanes[0].stats[0].changes[1], "\"identifier\":{\"email\":\"a@x\"},"
	    "\"changed\":{\"n\":[1,2]}") == 0, "a last id's change, beside it");
	is_str(r.request, "0001764637500000-42-0.json", "the request the run serves");
	is_int(r.lanes[0].stats[0].unique, 8, "stats unique");
	is_int(r.lanes[0].stats_applied, 90, "the ack the stats came with");
	is_int(r.lanes[1].acked, 0, "lane 1 acked");
	fetcher_ledger_clear(&r);

	/* A corrupt ledger is reported, not taken for an empty one. */
	{
		FILE *fp = fopen(path, "w");

		fputs("{\"version\":1,\"run\":{\"parts\":[{\"goal\":1}]", fp);
		fclose(fp);
		is_int(fetcher_ledger_load(path, &r, err, sizeof(err)), -1, "corrupt ledger");
		is_int(errno, EINVAL, "... EINVAL");
		ok(strstr(err, "ledger.json:") != NULL, "... error names the file: %s", err);
	}

	id = 0;
	is_int(fetcher_run_id_next(dir, &id), 0, "run id");
	is_int(id, 1, "first run id 1");
	id = 0;
	fetcher_run_id_next(dir, &id);
	is_int(id, 2, "second run id 2");
	id = 10;
	fetcher_run_id_next(dir, &id);
	is_int(id, 11, "a ledger's higher id is a floor");
	id = 0;
	fetcher_run_id_next(dir, &id);
	is_int(id, 12, "and the counter keeps it");

	stats_clear(&st);

	{
		char	 cmd[300], out[16];

		fetcher_safe_name("../My Goal/x", out, sizeof(out));
		is_str(out, "_._My_Goal_x", "safe name");
		fetcher_safe_name("", out, sizeof(out));
		is_str(out, "_", "safe name of nothing");
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return done_testing();
}
