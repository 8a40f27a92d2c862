/* quota.c - an account's storage usage: the Maildir++ maildirsize file, its updates and its recount. */
#include "quota.h"
#include "fileutil.h"
#include "store.h"
#include "buf.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One signed decimal in [*p, end) into *v, then skips blanks. Returns 0 or -1. */
static int maildir_quota_number(const char **p, const char *end, int64_t *v)
{
	const char *s = *p;
	bool neg = false;
	uint64_t x = 0;
	if (s < end && (*s == '-' || *s == '+')) {
		neg = *s == '-';
		s++;
	}
	const char *digits = s;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (x > ((uint64_t)INT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (unsigned)(*s - '0');
	}
	if (s == digits)
		return -1;
	*v = neg ? -(int64_t)x : (int64_t)x;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	*p = s;
	return 0;
}

int maildir_quota_parse(const char *text, size_t len, struct maildir_quota_usage *u_r)
{
	const char *p = text, *end = text + len;
	const char *nl = memchr(p, '\n', len);
	int64_t bytes = 0, messages = 0;
	u_r->bytes = u_r->messages = 0;
	if (!nl)
		return -1;
	p = nl + 1; /* the limits line: ours to write, not to trust */
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return -1; /* torn: an append in progress or cut short */
		while (p < nl && (*p == ' ' || *p == '\t'))
			p++;
		int64_t b, m = 0;
		if (maildir_quota_number(&p, nl, &b) < 0)
			return -1;
		if (p < nl && maildir_quota_number(&p, nl, &m) < 0)
			return -1;
		if (p != nl)
			return -1;
		/* Sums stay far from overflow: each term is below 2^63/10, and a file that could
		 * hold enough of them is recounted long before (MAILDIR_QUOTA_FILE_MAX). */
		if ((b > 0 && bytes > INT64_MAX - b) || (b < 0 && bytes < INT64_MIN - b) ||
		    (m > 0 && messages > INT64_MAX - m) || (m < 0 && messages < INT64_MIN - m))
			return -1;
		bytes += b;
		messages += m;
		p = nl + 1;
	}
	u_r->bytes = bytes;
	u_r->messages = messages;
	return 0;
}

int maildir_quota_root(const char *folder, char *out, size_t outlen)
{
	size_t n = strlen(folder);
	while (n > 1 && folder[n - 1] == '/')
		n--;
	size_t base = n;
	while (base > 0 && folder[base - 1] != '/')
		base--;
	if (base > 0 && folder[base] == '.' && base < n)
		n = base - 1; /* ".../LOCAL/.Folder" -> ".../LOCAL" */
	if (n + 1 > outlen)
		return -ENAMETOOLONG;
	memcpy(out, folder, n);
	out[n] = '\0';
	return 0;
}

/* Directories read by a recount and their mtimes then, to see whether one changed meanwhile. */
struct maildir_quota_scan {
	char **dirs;
	struct timespec *mtimes;
	size_t n, cap;
};

static void maildir_quota_scan_free(struct maildir_quota_scan *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		free(sc->dirs[i]);
	free(sc->dirs);
	free(sc->mtimes);
	memset(sc, 0, sizeof(*sc));
}

/* Adds up the messages of one cur/ or new/ directory. */
static int maildir_quota_count_dir(const char *dir, struct maildir_quota_scan *sc,
				   struct maildir_quota_usage *u)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	struct stat st;
	if (fstat(dirfd(d), &st) == 0) {
		if (sc->n == sc->cap) {
			sc->cap = sc->cap ? sc->cap * 2 : 16;
			sc->dirs = xrealloc(sc->dirs, sc->cap * sizeof(*sc->dirs));
			sc->mtimes = xrealloc(sc->mtimes, sc->cap * sizeof(*sc->mtimes));
		}
		sc->dirs[sc->n] = xstrdup(dir);
		sc->mtimes[sc->n++] = st.st_mtim;
	}
	int r = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			r = errno ? -errno : 0;
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		struct store_name_info info;
		uint64_t size = 0;
		if (store_maildir_parse_name(de->d_name, &info) == 0 && info.has_size) {
			size = info.size;
		} else {
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue; /* gone meanwhile */
			if (!S_ISREG(st.st_mode))
				continue;
			size = (uint64_t)st.st_size;
		}
		if (size > (uint64_t)INT64_MAX - (uint64_t)u->bytes)
			size = (uint64_t)INT64_MAX - (uint64_t)u->bytes;
		u->bytes += (int64_t)size;
		u->messages++;
	}
	closedir(d);
	return r;
}

static int maildir_quota_count_folder(const char *folder, struct maildir_quota_scan *sc,
				      struct maildir_quota_usage *u)
{
	char dir[PATH_MAX];
	static const char *const sub[] = { "cur", "new" };
	for (size_t i = 0; i < 2; i++) {
		if (str_format(dir, sizeof(dir), "%s/%s", folder, sub[i]) >= (int)sizeof(dir))
			return -ENAMETOOLONG;
		int r = maildir_quota_count_dir(dir, sc, u);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One pass over INBOX and every Maildir++ folder. */
static int maildir_quota_count(const char *maildir, struct maildir_quota_scan *sc,
			       struct maildir_quota_usage *u)
{
	u->bytes = u->messages = 0;
	int r = maildir_quota_count_folder(maildir, sc, u);
	if (r < 0)
		return r;
	DIR *d = opendir(maildir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		char folder[PATH_MAX];
		if (str_format(folder, sizeof(folder), "%s/%s", maildir, de->d_name) >=
		    (int)sizeof(folder))
			continue;
		struct stat st;
		if (lstat(folder, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		r = maildir_quota_count_folder(folder, sc, u);
	}
	closedir(d);
	return r;
}

/* Did a directory of the scan change since it was read? */
static bool maildir_quota_scan_changed(const struct maildir_quota_scan *sc)
{
	for (size_t i = 0; i < sc->n; i++) {
		struct stat st;
		if (stat(sc->dirs[i], &st) < 0 || st.st_mtim.tv_sec != sc->mtimes[i].tv_sec ||
		    st.st_mtim.tv_nsec != sc->mtimes[i].tv_nsec)
			return true;
	}
	return false;
}

int maildir_quota_recount(const char *maildir, uint64_t limit, struct maildir_quota_usage *u_r)
{
	static atomic_uint counter;
	struct maildir_quota_scan sc = { 0 };
	int r = 0;
	/* A delivery or an expunge while counting may or may not be seen: count again (a few
	 * times at most; a busy mailbox then keeps the last count, off by those changes). */
	for (int attempt = 0; attempt < 3; attempt++) {
		maildir_quota_scan_free(&sc);
		r = maildir_quota_count(maildir, &sc, u_r);
		if (r < 0 || !maildir_quota_scan_changed(&sc))
			break;
	}
	maildir_quota_scan_free(&sc);
	if (r < 0)
		return r;
	struct stat st;
	if (stat(maildir, &st) < 0)
		return 0; /* no Maildir yet: nothing to keep */
	char tmp[PATH_MAX], dst[PATH_MAX], text[128];
	if (str_format(tmp, sizeof(tmp), "%s/tmp/%s.%ld.%u", maildir, MAILDIR_QUOTA_FILE,
		       (long)getpid(), atomic_fetch_add(&counter, 1)) >= (int)sizeof(tmp) ||
	    str_format(dst, sizeof(dst), "%s/%s", maildir, MAILDIR_QUOTA_FILE) >= (int)sizeof(dst))
		return 0;
	int n = str_format(text, sizeof(text), "%" PRIu64 "S\n%" PRId64 " %" PRId64 "\n", limit,
			   u_r->bytes, u_r->messages);
	/* Not fsynced: a file lost in a crash is counted again. */
	int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return 0;
	bool ok = write(fd, text, (size_t)n) == n;
	/* Root (mailctl, deliver run by root) leaves the file to the Maildir's owner, whose
	 * daemons append to it. */
	if (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0)
		ok = false;
	close(fd);
	if (!ok || rename(tmp, dst) < 0)
		unlink(tmp);
	return 0;
}

/* Reads maildirsize. Returns 0 (usage and the file's mtime set), 1 when a recount is due,
 * or -errno. */
static int maildir_quota_read(const char *maildir, struct maildir_quota_usage *u_r, time_t *mtime_r)
{
	char path[PATH_MAX];
	if (str_format(path, sizeof(path), "%s/%s", maildir, MAILDIR_QUOTA_FILE) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 1 : -errno;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0 && (!S_ISREG(st.st_mode) || st.st_size >= MAILDIR_QUOTA_FILE_MAX))
		r = 1;
	if (r == 0) {
		r = read_fd_whole(fd, MAILDIR_QUOTA_FILE_MAX, &text, &len);
		if (r == -EFBIG)
			r = 1;
	}
	close(fd);
	if (r == 0 &&
	    (maildir_quota_parse(text, len, u_r) < 0 || u_r->bytes < 0 || u_r->messages < 0))
		r = 1;
	free(text);
	*mtime_r = st.st_mtime;
	return r;
}

int maildir_quota_get(const char *maildir, uint64_t limit, struct maildir_quota_usage *u_r)
{
	time_t mtime;
	int r = maildir_quota_read(maildir, u_r, &mtime);
	if (r == 1)
		r = maildir_quota_recount(maildir, limit, u_r);
	return r;
}

int maildir_quota_check(const char *maildir, uint64_t limit, uint64_t add,
			struct maildir_quota_usage *u_r)
{
	struct maildir_quota_usage u = { 0, 0 };
	if (limit == 0) {
		if (u_r)
			*u_r = u;
		return 0;
	}
	time_t mtime = 0;
	int r = maildir_quota_read(maildir, &u, &mtime);
	bool recounted = r == 1;
	if (r == 1)
		r = maildir_quota_recount(maildir, limit, &u);
	if (r < 0)
		return r;
	bool fits = (uint64_t)u.bytes <= limit && add <= limit - (uint64_t)u.bytes;
	if (!fits && !recounted && time(NULL) - mtime >= MAILDIR_QUOTA_RECHECK) {
		/* Refusing on an old figure: something outside (a mail client, a cleanup
		 * script) may have removed mail since. */
		if ((r = maildir_quota_recount(maildir, limit, &u)) < 0)
			return r;
		fits = (uint64_t)u.bytes <= limit && add <= limit - (uint64_t)u.bytes;
	}
	if (u_r)
		*u_r = u;
	return fits ? 0 : 1;
}

void maildir_quota_update(const char *maildir, int64_t bytes, int64_t messages)
{
	char path[PATH_MAX], line[64];
	if ((bytes == 0 && messages == 0) || str_format(path, sizeof(path), "%s/%s", maildir,
							MAILDIR_QUOTA_FILE) >= (int)sizeof(path))
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return; /* none yet: the first read counts */
	int n = str_format(line, sizeof(line), "%" PRId64 " %" PRId64 "\n", bytes, messages);
	/* One write of a short line to an O_APPEND file: whole, and never interleaved. */
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		maildir_quota_invalidate(maildir); /* a torn line: recount */
		return;
	}
	close(fd);
}

void maildir_quota_update_folder(const char *folder, int64_t bytes, int64_t messages)
{
	char root[PATH_MAX];
	if (maildir_quota_root(folder, root, sizeof(root)) == 0)
		maildir_quota_update(root, bytes, messages);
}

void maildir_quota_invalidate(const char *maildir)
{
	char path[PATH_MAX];
	if (str_format(path, sizeof(path), "%s/%s", maildir, MAILDIR_QUOTA_FILE) <
	    (int)sizeof(path))
		unlink(path);
}
