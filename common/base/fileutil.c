/* fileutil.c - the one home of file helpers: directory fsync, whole-file reads, locks opened without following links. */
#include "fileutil.h"

#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS)
		r = -errno;
	close(fd);
	return r;
}

int fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return fsync_dir(".");
	if (slash == path)
		return fsync_dir("/");
	char dir[PATH_MAX];
	size_t n = (size_t)(slash - path);
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return fsync_dir(dir);
}

int read_fd_whole(int fd, size_t max, char **data_r, size_t *len_r)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size > 0 && (size_t)st.st_size > max)
		return -EFBIG;
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *data = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				free(data);
				return -EFBIG;
			}
			cap *= 2;
			data = xrealloc(data, cap + 1);
		}
		ssize_t n = read(fd, data + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			free(data);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(data);
		return -EFBIG;
	}
	data[len] = '\0';
	*data_r = data;
	*len_r = len;
	return 0;
}

int read_file(const char *path, size_t max, bool nofollow, char **data_r, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0)
		return -errno;
	int r = read_fd_whole(fd, max, data_r, len_r);
	close(fd);
	return r;
}

int open_lock_file(const char *path, mode_t mode)
{
	return open_lock_file_at(AT_FDCWD, path, mode);
}

int open_lock_file_at(int dirfd, const char *path, mode_t mode)
{
	int fd = openat(dirfd, path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, mode);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

int open_beneath(const char *base, const char *rel, mode_t type, mode_t mkdir_mode,
		 struct stat *st_r)
{
	int dfd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	struct stat st;
	if (fstat(dfd, &st) < 0) {
		int r = -errno;
		close(dfd);
		return r;
	}
	char *copy = xstrdup(rel ? rel : "");
	char *save = NULL;
	int r = 0;
	for (char *comp = strtok_r(copy, "/", &save); comp;) {
		char *next = strtok_r(NULL, "/", &save);
		mode_t want = next ? S_IFDIR : type;
		if (want == S_IFDIR && mkdir_mode && mkdirat(dfd, comp, mkdir_mode) < 0 &&
		    errno != EEXIST) {
			r = -errno;
			break;
		}
		int fd = openat(dfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			break;
		}
		close(dfd);
		dfd = fd;
		if (fstat(fd, &st) < 0)
			r = -errno;
		else if (S_ISLNK(st.st_mode))
			r = -ELOOP;
		else if ((st.st_mode & S_IFMT) != want)
			r = want == S_IFDIR ? -ENOTDIR : -EINVAL;
		else if (!S_ISDIR(st.st_mode) && st.st_nlink > 1)
			r = -EMLINK;
		if (r < 0)
			break;
		comp = next;
	}
	free(copy);
	if (r < 0) {
		close(dfd);
		return r;
	}
	if (st_r)
		*st_r = st;
	return dfd;
}

const char *open_beneath_error(int r)
{
	switch (-r) {
	case ELOOP:
		return "is a symbolic link (not followed)";
	case ENOTDIR:
		return "is not a directory";
	case EINVAL:
		return "is not a regular file";
	case EMLINK:
		return "has more than one hard link";
	default:
		return strerror(-r);
	}
}

void file_stamp_set(struct file_stamp *fs, const struct stat *st)
{
	memset(fs, 0, sizeof(*fs));
	if (!st) {
		fs->missing = true;
		return;
	}
	fs->mtime = st->st_mtim;
	fs->size = st->st_size;
	fs->ino = st->st_ino;
}

bool file_stamp_changed(const struct file_stamp *fs, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return !fs->missing;
	return fs->missing || st.st_mtim.tv_sec != fs->mtime.tv_sec ||
	       st.st_mtim.tv_nsec != fs->mtime.tv_nsec || st.st_size != fs->size ||
	       st.st_ino != fs->ino;
}

bool file_stamp_equal(const struct file_stamp *a, const struct file_stamp *b)
{
	return a->missing == b->missing && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->size == b->size && a->ino == b->ino;
}
