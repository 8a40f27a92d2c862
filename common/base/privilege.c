/* privilege.c - dropping root to run_user (setgroups, setresgid, setresuid, verified). */
#include "privilege.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
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

int privilege_chown(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (geteuid() != 0)
		return 0;
	if (chown(path, uid, gid) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
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
