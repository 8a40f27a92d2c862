/* store.c - the Maildir store: safe mailbox paths, unique file names, durable tmp -> new delivery (shared new/ fsync). */
#include "store.h"
#include "addr.h"
#include "buf.h"
#include "fileutil.h"
#include "str.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* One directory component taken from an address: nothing that could leave the tree or
 * collide with Maildir++ folders (leading '.') or confuse a shell-based reader. */
static bool store_component_ok(const char *s)
{
	if (s[0] == '\0' || s[0] == '.')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

int store_mailbox_path(const char *state_dir, const char *domain, const char *local, char *out,
		       size_t outlen)
{
	if (!state_dir || !domain || !local || state_dir[0] == '\0' ||
	    !store_component_ok(domain) || !store_component_ok(local)) {
		errno = EINVAL;
		return -1;
	}
	if (strlen(domain) > NAME_MAX || strlen(local) > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int n = str_format(out, outlen, "%s/mail/%s/%s", state_dir, domain, local);
	if (n < 0 || (size_t)n >= outlen || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int store_mailbox_path_for_addr(const char *state_dir, const struct addr *a, char *out,
				size_t outlen)
{
	char local[ADDR_LOCAL_MAX + 1], domain[ADDR_DOMAIN_MAX + 1];
	if (!a || a->is_null || a->local[0] == '\0' || a->domain[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	str_format(local, sizeof(local), "%s", a->local);
	str_format(domain, sizeof(domain), "%s", a->domain);
	return store_mailbox_path(state_dir, str_lower(domain), str_lower(local), out, outlen);
}

int store_mailbox_path_for_address(const char *state_dir, const char *address, char *out,
				   size_t outlen)
{
	struct addr a;
	const char *error;
	if (!address ||
	    addr_parse_mailbox(address, strlen(address), ADDR_ALLOW_UTF8, &a, &error) < 0) {
		errno = EINVAL;
		return -1;
	}
	return store_mailbox_path_for_addr(state_dir, &a, out, outlen);
}

/* Group fsync of a directory: threads that put an entry into the same directory while a
 * flush of it is running wait for the next one, which one of them runs for all (the ones
 * that arrive during that flush wait for the one after). An entry is covered only by a
 * flush that started after it was made. */
struct store_dirsync_waiter {
	int result;
	bool done;
	struct store_dirsync_waiter *next;
};

struct store_dirsync {
	char *dir;
	bool running;
	unsigned users;
	struct store_dirsync_waiter *waiting;
	struct store_dirsync *next;
};

static pthread_mutex_t store_dirsync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t store_dirsync_cond = PTHREAD_COND_INITIALIZER;
static struct store_dirsync *store_dirsyncs; /* directories with a flush wanted or running */

static int store_fsync_dir_shared(const char *dir)
{
	struct store_dirsync_waiter me = { 0 };
	struct store_dirsync *ds, **dp;

	pthread_mutex_lock(&store_dirsync_lock);
	for (ds = store_dirsyncs; ds && strcmp(ds->dir, dir) != 0; ds = ds->next)
		;
	if (!ds) {
		ds = xcalloc(1, sizeof(*ds));
		ds->dir = xstrdup(dir);
		ds->next = store_dirsyncs;
		store_dirsyncs = ds;
	}
	ds->users++;
	me.next = ds->waiting;
	ds->waiting = &me;
	while (!me.done) {
		if (ds->running) {
			pthread_cond_wait(&store_dirsync_cond, &store_dirsync_lock);
			continue;
		}
		struct store_dirsync_waiter *batch = ds->waiting, *w, *next;
		ds->waiting = NULL;
		ds->running = true;
		pthread_mutex_unlock(&store_dirsync_lock);
		int r = fsync_dir(dir);
		pthread_mutex_lock(&store_dirsync_lock);
		for (w = batch; w; w = next) {
			next = w->next;
			w->result = r;
			w->done = true;
		}
		ds->running = false;
		pthread_cond_broadcast(&store_dirsync_cond);
	}
	if (--ds->users == 0) {
		for (dp = &store_dirsyncs; *dp != ds; dp = &(*dp)->next)
			;
		*dp = ds->next;
		free(ds->dir);
		free(ds);
	}
	pthread_mutex_unlock(&store_dirsync_lock);
	return me.result;
}

/* The parent of path as a new string ("." when there is no '/'). */
static char *store_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* mkdir -p: creates each missing component with mode 0700 and fsyncs the parent of every
 * directory it created. */
static int store_mkdirs(const char *path)
{
	char *p = xstrdup(path);
	size_t len = strlen(p);
	int r = 0;

	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	for (size_t i = 1; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		if (i < len && p[i - 1] == '/')
			continue; /* "a//b" */
		char save = p[i];
		p[i] = '\0';
		if (mkdir(p, 0700) == 0) {
			char *parent = store_parent(p);
			r = fsync_dir(parent);
			free(parent);
			if (r < 0) {
				p[i] = save;
				break;
			}
		} else if (errno == EEXIST) {
			struct stat st;
			if (stat(p, &st) < 0) {
				r = -errno;
				p[i] = save;
				break;
			}
			if (!S_ISDIR(st.st_mode)) {
				r = -ENOTDIR;
				p[i] = save;
				break;
			}
		} else {
			r = -errno;
			p[i] = save;
			break;
		}
		p[i] = save;
	}
	free(p);
	return r;
}

int store_maildir_create(const char *maildir)
{
	static const char *const sub[] = { "cur", "new", "tmp" };
	char path[PATH_MAX];
	struct stat st;
	bool all = true;

	if (!maildir || maildir[0] == '\0')
		return -EINVAL;
	/* Fast path: an existing Maildir costs three stat calls. */
	for (size_t i = 0; i < 3 && all; i++) {
		if (str_format(path, sizeof(path), "%s/%s", maildir, sub[i]) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		all = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	}
	if (all)
		return 0;

	int r = store_mkdirs(maildir);
	if (r < 0)
		return r;
	bool made_sub = false;
	for (size_t i = 0; i < 3; i++) {
		str_format(path, sizeof(path), "%s/%s", maildir, sub[i]);
		if (mkdir(path, 0700) == 0) {
			made_sub = true;
		} else if (errno != EEXIST) {
			return -errno;
		} else if (stat(path, &st) < 0) {
			return -errno;
		} else if (!S_ISDIR(st.st_mode)) {
			return -ENOTDIR;
		}
	}
	if (made_sub)
		return fsync_dir(maildir);
	return 0;
}

/* Appends c to out (when room remains) and counts it. */
static void store_put(char *out, size_t outlen, size_t *n, char c)
{
	if (*n + 1 < outlen)
		out[*n] = c;
	(*n)++;
}

size_t store_maildir_name(char *out, size_t outlen, int64_t secs, const char *unique,
			  const char *host, uint64_t size)
{
	char num[32];
	size_t n = 0;

	str_format(num, sizeof(num), "%" PRId64 ".", secs);
	for (const char *p = num; *p; p++)
		store_put(out, outlen, &n, *p);
	for (const char *p = unique; *p; p++)
		store_put(out, outlen, &n, *p);
	store_put(out, outlen, &n, '.');
	/* As the Maildir specification asks (and Dovecot does): '/' and ':' in the host name
	 * become \057 and \072; ',' too (\054), since it starts the ",S=" fields. */
	for (const unsigned char *p = (const unsigned char *)host; *p; p++) {
		if (*p == '/' || *p == ':' || *p == ',') {
			char oct[5];
			str_format(oct, sizeof(oct), "\\%03o", *p);
			for (const char *q = oct; *q; q++)
				store_put(out, outlen, &n, *q);
		} else {
			store_put(out, outlen, &n, (char)*p);
		}
	}
	str_format(num, sizeof(num), ",S=%" PRIu64, size);
	for (const char *p = num; *p; p++)
		store_put(out, outlen, &n, *p);
	if (outlen > 0)
		out[n < outlen ? n : outlen - 1] = '\0';
	return n;
}

/* Parses the decimal digits of [s, end) into *v. Returns 0 or -1 (empty, junk, overflow). */
static int store_parse_u64(const char *s, const char *end, uint64_t *v)
{
	uint64_t x = 0;
	if (s == end)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int store_maildir_parse_name(const char *name, struct store_name_info *info_r)
{
	memset(info_r, 0, sizeof(*info_r));
	size_t base = strcspn(name, ",:");
	if (base == 0)
		return -1;
	info_r->base_len = base;

	const char *p = name + base;
	const char *info = strchr(p, ':');
	const char *fields_end = info ? info : p + strlen(p);
	/* ",KEY=VALUE" fields up to ':'; unknown ones are kept by others and ignored by us. */
	while (p < fields_end) {
		p++; /* the ',' */
		const char *end = memchr(p, ',', (size_t)(fields_end - p));
		if (!end)
			end = fields_end;
		if (end - p >= 2 && p[0] == 'S' && p[1] == '=') {
			if (store_parse_u64(p + 2, end, &info_r->size) < 0)
				return -1;
			info_r->has_size = true;
		}
		p = end;
	}
	if (info && strncmp(info, ":2,", 3) == 0) {
		size_t n = 0;
		for (const char *f = info + 3; *f; f++) {
			if (*f < 0x21 || *f > 0x7e || n + 1 >= sizeof(info_r->flags))
				return -1;
			info_r->flags[n++] = *f;
		}
		info_r->flags[n] = '\0';
	}
	return 0;
}

/* A name that is one plain directory entry. */
static bool store_name_ok(const char *name)
{
	return name && store_component_ok(name) && strlen(name) <= NAME_MAX;
}

/* Writes all of iov to fd, resuming after short writes. Returns 0 or -errno. */
static int store_write_all(int fd, const struct iovec *iov, int iovcnt)
{
	struct iovec *v = xmalloc(sizeof(*v) * (size_t)(iovcnt > 0 ? iovcnt : 1));
	int i = 0, r = 0;

	if (iovcnt > 0)
		memcpy(v, iov, sizeof(*v) * (size_t)iovcnt);
	while (i < iovcnt) {
		if (v[i].iov_len == 0) {
			i++;
			continue;
		}
		int cnt = iovcnt - i > IOV_MAX ? IOV_MAX : iovcnt - i;
		ssize_t w = writev(fd, v + i, cnt);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		size_t done = (size_t)w;
		while (i < iovcnt && done >= v[i].iov_len) {
			done -= v[i].iov_len;
			i++;
		}
		if (i < iovcnt) {
			v[i].iov_base = (char *)v[i].iov_base + done;
			v[i].iov_len -= done;
		}
	}
	free(v);
	return r;
}

/* Removes path only when it is still the file we created (same device and inode). */
static void store_unlink_ours(const char *path, const struct stat *ours)
{
	struct stat st;
	if (lstat(path, &st) == 0 && st.st_dev == ours->st_dev && st.st_ino == ours->st_ino)
		unlink(path);
}

int store_maildir_deliver(const char *maildir, const char *name, const struct iovec *iov,
			  int iovcnt)
{
	char tmp[PATH_MAX], dst[PATH_MAX], newdir[PATH_MAX];
	struct stat st;
	int fd, r;

	if (!store_name_ok(name) || iovcnt < 0)
		return -EINVAL;
	if (str_format(tmp, sizeof(tmp), "%s/tmp/%s", maildir, name) >= (int)sizeof(tmp) ||
	    str_format(dst, sizeof(dst), "%s/new/%s", maildir, name) >= (int)sizeof(dst))
		return -ENAMETOOLONG;
	str_format(newdir, sizeof(newdir), "%s/new", maildir);
	/* No check for dst first: a name already in new/ makes the link below fail with EEXIST
	 * (a redelivery after a crash, rare; its callers scan for it before). */
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST) {
		/* Left over by a crash in the middle of an earlier attempt with this name. */
		if (unlink(tmp) < 0 && errno != ENOENT)
			return -errno;
		fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		unlink(tmp);
		return r;
	}
	r = store_write_all(fd, iov, iovcnt);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		store_unlink_ours(tmp, &st);
		return r;
	}
	if (link(tmp, dst) < 0) {
		r = errno == EEXIST ? 1 : -errno;
		store_unlink_ours(tmp, &st);
		return r;
	}
	/* tmp/NAME and new/NAME are now one inode: no need to check whose it is. */
	unlink(tmp);
	r = store_fsync_dir_shared(newdir);
	if (r < 0) {
		/* Not durable: take it back so that failure means "not delivered". */
		store_unlink_ours(dst, &st);
		return r;
	}
	return 0;
}

/* Scans one directory for an entry containing token. 1 found, 0 not, -errno. */
static int store_scan_dir(const char *dir, const char *token)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	int r = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, token)) {
			r = 1;
			break;
		}
	}
	if (!de && errno != 0)
		r = -errno;
	closedir(d);
	return r;
}

int store_maildir_has_unique(const char *maildir, const char *unique)
{
	static const char *const sub[] = { "new", "cur" };
	char dir[PATH_MAX];

	if (!unique || unique[0] == '\0' || strchr(unique, '.') || strchr(unique, '/'))
		return -EINVAL;
	char *token = xasprintf(".%s.", unique);
	int r = 0;
	for (size_t i = 0; i < 2 && r == 0; i++) {
		if (str_format(dir, sizeof(dir), "%s/%s", maildir, sub[i]) >= (int)sizeof(dir)) {
			r = -ENAMETOOLONG;
			break;
		}
		r = store_scan_dir(dir, token);
	}
	free(token);
	return r;
}
