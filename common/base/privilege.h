/* privilege.h - dropping root to run_user after the listeners are bound (the one place that does it). */
#ifndef MAIL_PRIVILEGE_H
#define MAIL_PRIVILEGE_H

#include <sys/types.h>

/* Looks up user; returns 0 with uid/gid or -1 with err. */
int privilege_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, char *err, size_t errlen);

/* When running as root: hands the regular file path (one we just wrote, e.g. users_file) to
 * uid:gid without following a link in its last component (a symbolic link, or a file with more
 * than one hard link, is refused with err). No-op otherwise or when path is missing. Returns 0
 * or -1 with err. */
int privilege_chown(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen);

/* base/rel (see open_beneath(): no link followed below base; type S_IFDIR or S_IFREG),
 * created first when mkdir_mode is set, handed to uid:gid when running as root and it is not
 * theirs already. A missing path is no error unless mkdir_mode is set. Returns 0, or -1 with err
 * naming the path and what it is ("... is a symbolic link (not followed): refusing ..."). */
int privilege_own_beneath(const char *base, const char *rel, mode_t type, mode_t mkdir_mode,
			  uid_t uid, gid_t gid, char *err, size_t errlen);

/* When running as root: setgroups, setresgid, setresuid to user, then verifies root cannot
 * be regained. Not root: no-op. Returns 0 or -1 with err. */
int privilege_drop(const char *user, char *err, size_t errlen);

#endif
