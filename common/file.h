/*
 * common/file.h: owns durable file writes (write, fsync, rename, fsync of
 * the directory) and making directories.
 *
 * One answer for every durable write, the directory fsync included: a step
 * that fails makes the call fail with errno set, because the caller cannot
 * then know that the new name survives a power cut.  The caller treats it
 * like any failed write (an environment error: EX_IOERR, or the item
 * failed); it never reports as durable what may not be.
 */
#ifndef SAILSYNC_FILE_H
#define SAILSYNC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Durably replaces path with len bytes of data: writes path.tmp (mode
 * 0600), fsyncs it, renames it to path, fsyncs the directory.  A crash
 * leaves either the old file or the new one under path, never a mix.
 * Returns 0, or -1 with errno set (path.tmp is removed when the rename
 * did not happen).
 */
int	 file_write_durable(const char *path, const void *data, size_t len);

/*
 * Publishes tmp, already written and fsynced by the caller, as path:
 * rename, then fsync of path's directory.  Returns 0, or -1 with errno set.
 */
int	 file_publish(const char *tmp, const char *path);

/* fsyncs the directory that holds path.  Returns 0, or -1 with errno set. */
int	 file_dir_sync(const char *path);

/* mkdir -p dir with mode for what it creates.  Returns 0, or -1 with errno set. */
int	 file_mkdirs(const char *dir, mode_t mode);

/* mkdir -p of the directory part of path. */
int	 file_mkdirs_parent(const char *path, mode_t mode);

/*
 * Starts writeback of fd's dirty pages and returns without waiting for
 * it (sync_file_range WRITE): no durability, no ordering; -1 with errno.
 */
int	 file_writeback_start(int fd);

#endif
