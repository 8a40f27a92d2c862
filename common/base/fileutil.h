/* fileutil.h - the one home of file helpers: directory fsync, whole-file reads, locks opened without following links. */
#ifndef MAIL_FILEUTIL_H
#define MAIL_FILEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* fsync of a directory, so that entries created, renamed or linked in it survive a crash.
 * Returns 0, or -errno (a file system that cannot sync a directory, EINVAL or EROFS, counts as
 * done). */
int fsync_dir(const char *dir);
/* fsync_dir of the directory that holds path ("." when path has no slash). */
int fsync_parent(const char *path);

/* Reads fd to its end into a fresh buffer (NUL-terminated; free it), growing past the size
 * fstat gave (a file still being appended to). Returns 0 with *data_r and *len_r, -EFBIG when
 * it holds more than max bytes, or -errno. fd is not closed. */
int read_fd_whole(int fd, size_t max, char **data_r, size_t *len_r);
/* The same for path, opened O_RDONLY | O_CLOEXEC, plus O_NOFOLLOW when nofollow. */
int read_file(const char *path, size_t max, bool nofollow, char **data_r, size_t *len_r);

/* Opens (creating it with mode when missing) a lock file that is never a symbolic link and
 * must be a regular file: what a process running as root may open inside a directory another
 * user can write. Returns the descriptor, or -errno (-ELOOP for a link, -EINVAL for anything
 * not a regular file). The caller flocks it. */
int open_lock_file(const char *path, mode_t mode);
/* The same, path relative to the directory descriptor dirfd (AT_FDCWD: the working directory). */
int open_lock_file_at(int dirfd, const char *path, mode_t mode);

/* What root uses for every path inside a directory a less privileged user can write (state_dir
 * and below: docs/security.md). Opens base (followed: the administrator's path) and then each
 * '/'-separated component of rel without following any symbolic link, as an O_PATH descriptor
 * (usable as the dirfd of *at() calls, with fstat and fchownat(AT_EMPTY_PATH)). Every component
 * but the last must be a directory; the last must be of type (S_IFDIR or S_IFREG), and a
 * regular file must have a single link. With mkdir_mode, missing directories are created with
 * that mode. rel NULL or "" opens base itself. Fills *st_r (may be NULL) for the last one.
 * Returns the descriptor, or -errno: -ELOOP for a symbolic link, -ENOTDIR or -EINVAL for
 * another type, -EMLINK for a hard-linked file, -ENOENT when missing. */
int open_beneath(const char *base, const char *rel, mode_t type, mode_t mkdir_mode,
		 struct stat *st_r);
/* The words for an open_beneath() failure: "is a symbolic link (not followed)", ... */
const char *open_beneath_error(int r);

/* What a reload-if-changed check compares: a file's mtime, size and inode. */
struct file_stamp {
	struct timespec mtime;
	off_t size;
	ino_t ino;
	bool missing; /* the file did not exist when stamped */
};
/* Fills *fs from st (NULL: the file is missing). */
void file_stamp_set(struct file_stamp *fs, const struct stat *st);
/* Whether path differs now from *fs (appeared, vanished, or another mtime, size or inode). */
bool file_stamp_changed(const struct file_stamp *fs, const char *path);
/* Whether two stamps describe the same file state. */
bool file_stamp_equal(const struct file_stamp *a, const struct file_stamp *b);

#endif
