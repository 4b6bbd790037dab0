/* common/export_client.c: owns starting the exporter for a run and collecting its summary. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "export_client.h"
#include "log.h"

#define SUMMARY_MAX	(16u << 20)

/* The exporter binary beside the running one, or just its name (PATH). */
static void
exporter_path(char *out, size_t outlen)
{
	char	 self[PATH_MAX], *slash;
	ssize_t	 n;

	snprintf(out, outlen, "sailsync-exporter");
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		return;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return;
	*slash = '\0';
	if ((size_t)snprintf(out, outlen, "%s/sailsync-exporter", self) < outlen &&
	    access(out, X_OK) == 0)
		return;
	snprintf(out, outlen, "sailsync-exporter");
}

static char *
slurp(const char *path)
{
	struct stat	 st;
	char		*p;
	FILE		*f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fstat(fileno(f), &st) == -1 || st.st_size > SUMMARY_MAX ||
	    (p = malloc((size_t)st.st_size + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	if (fread(p, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(p);
		fclose(f);
		return NULL;
	}
	p[st.st_size] = '\0';
	fclose(f);
	return p;
}

int
export_client_run(const char *conf_path, const char *conn, const char *out_path,
    const char *json_path, char **summary, char *err, size_t errlen)
{
	char	 bin[PATH_MAX + 32];
	pid_t	 pid, w;
	int	 status, fd, rc;

	*summary = NULL;
	exporter_path(bin, sizeof(bin));
	unlink(json_path);
	if ((fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", out_path, strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "cannot fork the exporter: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (pid == 0) {
		char *const argv[] = { bin, "-c", (char *)(uintptr_t)conf_path, "run",
		    (char *)(uintptr_t)conn, "--summary-json", (char *)(uintptr_t)json_path,
		    NULL };

		/*
		 * The exporter dies with its run driver: a SIGKILL of the
		 * driver stops it (SIGTERM: it finishes its current call and
		 * keeps its cursor), so the rerun resumes the same export
		 * instead of racing an orphan.
		 */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() == 1 ||
		    dup2(fd, 1) == -1)
			_exit(EX_OSERR);
		signal(SIGPIPE, SIG_DFL);
		execvp(bin, argv);
		fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(fd);
	log_info("exporter started pid=%ld connection=%s", (long)pid, conn);
	/*
	 * A SIGTERM to the run driver reaches the exporter too when both are
	 * in one process group (a terminal, the supervisor); it then finishes
	 * its current call and exits 75, and so do we.
	 */
	while ((w = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	if (w == -1) {
		snprintf(err, errlen, "cannot wait for the exporter: %s", strerror(errno));
		return -1;
	}
	if (WIFSIGNALED(status)) {
		log_warnx("exporter killed signal=%d connection=%s", WTERMSIG(status), conn);
		return EX_TEMPFAIL;
	}
	rc = WEXITSTATUS(status);
	if (rc == 127) {
		snprintf(err, errlen, "cannot run %s", bin);
		return -1;
	}
	if ((rc == 0 || rc == 1) && (*summary = slurp(json_path)) == NULL) {
		snprintf(err, errlen, "the exporter left no summary at %s", json_path);
		return -1;
	}
	return rc;
}
