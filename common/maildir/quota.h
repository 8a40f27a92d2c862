/* quota.h - an account's storage usage, kept in the Maildir++ "maildirsize" file of its Maildir. */
#ifndef MAIL_MAILDIR_QUOTA_H
#define MAIL_MAILDIR_QUOTA_H

#include <stddef.h>
#include <stdint.h>

/* The file (Maildir++ quota, as Courier and Dovecot's maildir quota write it) in the account's
 * Maildir root: a first line with the limit ("1048576S"), then one "BYTES MESSAGES" line per
 * change (negative for removals), each appended by one write. The usage is the sum of those
 * lines. Recounted from the file names' S= sizes (stat where absent) of cur/ and new/ of INBOX
 * and of every Maildir++ folder (.NAME/) when the file is missing or unreadable, has grown to
 * MAILDIR_QUOTA_FILE_MAX bytes, sums to less than zero, or a check would refuse and the file
 * is older than MAILDIR_QUOTA_RECHECK seconds. Removing the file forces a recount. */
#define MAILDIR_QUOTA_FILE     "maildirsize"
#define MAILDIR_QUOTA_FILE_MAX 5120
#define MAILDIR_QUOTA_RECHECK  (15 * 60)

struct maildir_quota_usage {
	int64_t bytes;
	int64_t messages;
};

/* Parses the text of a maildirsize file (pure): the sum of its lines after the first into
 * *u_r. Returns 0, or -1 for a malformed or torn file (a line without its end, a bad
 * number). */
int maildir_quota_parse(const char *text, size_t len, struct maildir_quota_usage *u_r);

/* The account root (the Maildir that holds INBOX) of a folder path: path itself, or its
 * parent when its last component is a Maildir++ folder (".NAME"). Returns 0, or -ENAMETOOLONG. */
int maildir_quota_root(const char *folder, char *out, size_t outlen);

/* The usage of the account whose Maildir root is maildir, from maildirsize, recounted (and
 * the file rewritten, limit in its first line) when the rules above say so. Blocking. Returns
 * 0 or -errno. A Maildir that does not exist yet uses nothing. */
int maildir_quota_get(const char *maildir, uint64_t limit, struct maildir_quota_usage *u_r);

/* Recounts now (see above). Returns 0 or -errno. */
int maildir_quota_recount(const char *maildir, uint64_t limit, struct maildir_quota_usage *u_r);

/* Would add more bytes fit under limit (0: no limit, no I/O)? Returns 0 yes, 1 no, -errno
 * when the usage cannot be read. u_r (may be NULL) gets the usage. Blocking. */
int maildir_quota_check(const char *maildir, uint64_t limit, uint64_t add,
			struct maildir_quota_usage *u_r);

/* Records a change of the account's usage (a delivery, an APPEND, an expunge) by appending one
 * line to maildirsize, when the file exists (else the next read recounts). Best effort. */
void maildir_quota_update(const char *maildir, int64_t bytes, int64_t messages);
/* maildir_quota_update for a folder path (maildir_quota_root first). */
void maildir_quota_update_folder(const char *folder, int64_t bytes, int64_t messages);

/* Forgets the figure (a folder was deleted): the next read recounts. */
void maildir_quota_invalidate(const char *maildir);

#endif
