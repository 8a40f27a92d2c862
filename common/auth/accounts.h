/* accounts.h - the users_file table (Dovecot passwd-file form "address:{SCHEME}hash"). */
#ifndef MAIL_ACCOUNTS_H
#define MAIL_ACCOUNTS_H

#include "fileutil.h"

#include <stdbool.h>
#include "fileutil.h"

#include <stddef.h>
#include "fileutil.h"

#include <sys/types.h>
#include "fileutil.h"

#include <stdint.h>
#include <time.h>

struct account {
	char *address; /* lower-cased "local@domain" */
	char *hash;    /* "{SCHEME}..." or a bare crypt(3) string; may be "" (no password login) */
	/* Its own storage limit from the extra field userdb_quota_rule=*:storage=SIZE (Dovecot
	 * passwd-file form, quota_rule.h): has_quota false when the line has none. */
	bool has_quota;
	uint64_t quota; /* bytes, 0 = no limit */
};

struct accounts {
	char *path;
	struct account *items; /* sorted by address */
	size_t n;
	bool any_quota;          /* an account has its own quota rule */
	struct file_stamp stamp; /* of the file when loaded (missing: an empty table) */
};

/* Loads path (a missing file is an empty table). Returns NULL with err set to "PATH:LINE: msg"
 * on a malformed file or read error. */
struct accounts *accounts_load(const char *path, char *err, size_t errlen);

/* Re-reads the file when its mtime or size changed. Returns 1 reloaded, 0 unchanged, -1 error
 * (the old table is kept, err set). */
int accounts_reload_if_changed(struct accounts **acc, char *err, size_t errlen);

/* Exact lookup of a lower-cased "local@domain". NULL when absent. */
const struct account *accounts_find(const struct accounts *acc, const char *address);

void accounts_free(struct accounts **acc);

/* The storage limit in bytes of account a (NULL: an unknown one), 0 = none: its own
 * userdb_quota_rule, else default_quota. */
uint64_t accounts_quota(const struct account *a, uint64_t default_quota);

/* Parses one file's text (pure). Same error convention. */
struct accounts *accounts_parse(const char *name, const char *text, size_t len, char *err,
				size_t errlen);

/* Rewrites the users file with address set to hash (added or replaced: the rest of a replaced
 * line, Dovecot's uid, gid, ..., extra fields, is kept), or removed when hash is NULL. Atomic (temp file, fsync, rename) and serialised by a lock file. mode: file
 * permissions for a new file. Returns 1 changed, 0 (remove only) address not present, -1
 * error with err set. */
int accounts_file_update(const char *path, const char *address, const char *hash, unsigned mode,
			 char *err, size_t errlen);

#endif
