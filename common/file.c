/* common/file.c: owns durable file writes and making directories (see file.h for the policy). */
#define _GNU_SOURCE		/* sync_file_range */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "file.h"

int
file_dir_sync(const char *path)
{
	char		 d[PATH_MAX];
	const char	*slash = strrchr(path, '/');
	int		 fd, rc, e;

	if (slash == NULL)
		snprintf(d, sizeof(d), ".");
	else if (slash == path)
		snprintf(d, sizeof(d), "/");
	else if ((size_t)(slash - path) >= sizeof(d)) {
		errno = ENAMETOOLONG;
		return -1;
	} else
		snprintf(d, sizeof(d), "%.*s", (int)(slash - path), path);
	if ((fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

int
file_publish(const char *tmp, const char *path)
{
	if (rename(tmp, path) == -1)
		return -1;
	/* The new name must be on disk before anyone acts on it. */
	return file_dir_sync(path);
}

int
file_write_durable(const char *path, const void *data, size_t len)
{
	char		 tmp[PATH_MAX];
	const char	*p = data;
	int		 fd, e;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1)
		return -1;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	/* The bytes must be on disk before the name points at them ... */
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	/* ... and the new name must be on disk before we act on it. */
	return file_dir_sync(path);
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

int
file_mkdirs(const char *dir, mode_t mode)
{
	char	 p[PATH_MAX];
	size_t	 n = strlen(dir);

	if (n == 0 || n >= sizeof(p)) {
		errno = n == 0 ? ENOENT : ENAMETOOLONG;
		return -1;
	}
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, mode) == -1 && errno != EEXIST)
			return -1;
		p[i] = i == n ? '\0' : '/';
	}
	return 0;
}

int
file_mkdirs_parent(const char *path, mode_t mode)
{
	char		 d[PATH_MAX];
	const char	*slash = strrchr(path, '/');

	if (slash == NULL || slash == path)
		return 0;
	if ((size_t)(slash - path) >= sizeof(d)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(d, sizeof(d), "%.*s", (int)(slash - path), path);
	return file_mkdirs(d, mode);
}

int
file_writeback_start(int fd)
{
	return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}
