/* tests/unit/t_file.c: durable writes, publishing by rename, mkdir -p. */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "tap.h"

static char dir[] = "/tmp/t_file.XXXXXX";

static char *
slurp(const char *path, char *out, size_t outlen)
{
	FILE	*f = fopen(path, "r");
	size_t	 n;

	out[0] = '\0';
	if (f == NULL)
		return NULL;
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
	return out;
}

int
main(void)
{
	char		 p[512], q[512], t[600], got[64];
	struct stat	 st;

	log_init("t_file", LOG_ERR);
	if (mkdtemp(dir) == NULL)
		abort();

	snprintf(p, sizeof(p), "%s/a/b/c", dir);
	is_int(file_mkdirs(p, 0700), 0, "mkdir -p of three levels");
	ok(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	    "made, mode 0700");
	is_int(file_mkdirs(p, 0700), 0, "again: already there is fine");
	snprintf(q, sizeof(q), "%s/x/y/sock", dir);
	is_int(file_mkdirs_parent(q, 0755), 0, "mkdir -p of a path's directory");
	snprintf(t, sizeof(t), "%s/x/y", dir);
	ok(stat(t, &st) == 0 && S_ISDIR(st.st_mode), "the directory exists");
	ok(stat(q, &st) == -1 && errno == ENOENT, "the path itself is not made");
	is_int(file_mkdirs_parent("plain", 0755), 0, "no directory part: nothing to do");

	snprintf(p, sizeof(p), "%s/a/ledger.json", dir);
	is_int(file_write_durable(p, "one", 3), 0, "write");
	is_str(slurp(p, got, sizeof(got)), "one", "content");
	is_int(file_write_durable(p, "two!", 4), 0, "replace");
	is_str(slurp(p, got, sizeof(got)), "two!", "replaced whole");
	ok(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
	snprintf(t, sizeof(t), "%s.tmp", p);
	ok(access(t, F_OK) == -1, "no temporary file left");

	snprintf(q, sizeof(q), "%s/nodir/ledger.json", dir);
	ok(file_write_durable(q, "x", 1) == -1 && errno == ENOENT,
	    "a missing directory fails with ENOENT");

	snprintf(t, sizeof(t), "%s/a/cap.tmp", dir);
	snprintf(q, sizeof(q), "%s/a/cap", dir);
	{
		FILE *f = fopen(t, "w");

		fputs("frames", f);
		fclose(f);
	}
	is_int(file_publish(t, q), 0, "publish");
	is_str(slurp(q, got, sizeof(got)), "frames", "published under the final name");
	ok(access(t, F_OK) == -1, "the temporary name is gone");
	ok(file_publish(t, q) == -1 && errno == ENOENT, "publishing nothing fails");
	ok(file_dir_sync("/") == 0, "fsync of / (a path directly under it)");
	ok(file_dir_sync("relative") == 0, "fsync of the current directory");

	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return done_testing();
}
