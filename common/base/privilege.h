/* privilege.h - dropping root to run_user after the listeners are bound (the one place that does it). */
#ifndef MAIL_PRIVILEGE_H
#define MAIL_PRIVILEGE_H

#include <sys/types.h>

/* Looks up user; returns 0 with uid/gid or -1 with err. */
int privilege_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, char *err, size_t errlen);

/* When running as root: hands path (a directory or file we create) to run_user. No-op
 * otherwise. Returns 0 or -1 with err. */
int privilege_chown(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen);

/* When running as root: setgroups, setresgid, setresuid to user, then verifies root cannot
 * be regained. Not root: no-op. Returns 0 or -1 with err. */
int privilege_drop(const char *user, char *err, size_t errlen);

#endif
