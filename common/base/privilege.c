/* privilege.c - dropping root to run_user (setgroups, setresgid, setresuid, verified). */
#include "privilege.h"

#include "fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int privilege_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];
	if (getpwnam_r(user, &pw, tmp, sizeof(tmp), &res) != 0 || !res) {
		snprintf(err, errlen, "run_user %s: no such user", user);
		return -1;
	}
	*uid_r = pw.pw_uid;
	*gid_r = pw.pw_gid;
	return 0;
}

/* fd: an O_PATH descriptor from open_beneath(); changes its owner when it differs. */
static int privilege_fchown(int fd, const struct stat *st, const char *what, uid_t uid, gid_t gid,
			    char *err, size_t errlen)
{
	if (st->st_uid == uid && st->st_gid == gid)
		return 0;
	if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0) {
		snprintf(err, errlen, "chown %s: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

int privilege_chown(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (geteuid() != 0)
		return 0;
	/* The last component is not followed: its directory may be one run_user can write. */
	const char *slash = strrchr(path, '/');
	char dir[4096];
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
		 slash ? (slash == path ? "/" : path) : ".");
	struct stat st;
	int fd = open_beneath(dir, slash ? slash + 1 : path, S_IFREG, 0, &st);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "refusing to chown %s: it %s", path, open_beneath_error(fd));
		return -1;
	}
	int r = privilege_fchown(fd, &st, path, uid, gid, err, errlen);
	close(fd);
	return r;
}

int privilege_own_beneath(const char *base, const char *rel, mode_t type, mode_t mkdir_mode,
			  uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct stat st;
	int fd = open_beneath(base, rel, type, mkdir_mode, &st);
	if (fd == -ENOENT && !mkdir_mode)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "%s%s%s %s: refusing to use it as root", base,
			 rel && *rel ? "/" : "", rel ? rel : "", open_beneath_error(fd));
		return -1;
	}
	int r = 0;
	if (geteuid() == 0) {
		char what[4096];
		snprintf(what, sizeof(what), "%s%s%s", base, rel && *rel ? "/" : "",
			 rel ? rel : "");
		r = privilege_fchown(fd, &st, what, uid, gid, err, errlen);
	}
	close(fd);
	return r;
}

int privilege_drop(const char *user, char *err, size_t errlen)
{
	uid_t uid;
	gid_t gid;
	if (geteuid() != 0)
		return 0;
	if (privilege_lookup(user, &uid, &gid, err, errlen) < 0)
		return -1;
	if (uid == 0) {
		snprintf(err, errlen, "run_user %s is root: refusing to run as root", user);
		return -1;
	}
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		snprintf(err, errlen, "cannot drop privileges to %s: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0) {
		snprintf(err, errlen, "privileges were not dropped (root regained)");
		return -1;
	}
	return 0;
}
