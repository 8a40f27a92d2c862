/* mailbox_index.h - the per-folder UID index file and keyword list: pure parse/format, plus locking and atomic writes (internal to mailbox*.c). */
#ifndef MAIL_MAILBOX_INDEX_H
#define MAIL_MAILBOX_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mailbox.h"

#define MAILBOX_INDEX_FILE "mtad-uidlist"
#define MAILBOX_INDEX_TMP "mtad-uidlist.tmp"
#define MAILBOX_LOCK_FILE "mtad-uidlist.lock"
#define MAILBOX_KEYWORDS_FILE "mtad-keywords"
#define MAILBOX_KEYWORDS_TMP "mtad-keywords.tmp"

/* Upper bounds that keep a hostile or damaged index from costing unbounded memory. */
#define MAILBOX_INDEX_MAX_MSGS 10000000u
#define MAILBOX_INDEX_MAX_SIZE ((uint64_t)1 << 50)
#define MAILBOX_INDEX_MAX_DATE ((int64_t)1 << 40)

/* One message as the index records it. */
struct mailbox_entry {
	uint32_t uid;
	uint64_t modseq;
	uint64_t size;
	int64_t idate;
	char *name;	/* the file's full current name (base name + ":2,FLAGS") */
	bool in_new;	/* in new/ rather than cur/ */
};

/* A directory's modification time as recorded at the last full scan; 0/0 = "rescan". */
struct mailbox_stamp {
	int64_t sec;
	long nsec;
};

struct mailbox_index {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highest_modseq;
	uint32_t recent_uid;	/* first UID not yet claimed as \Recent by a read-write SELECT */
	struct mailbox_stamp new_stamp, cur_stamp;
	struct mailbox_entry *e;	/* sorted by uid, strictly increasing */
	size_t n, cap;
};

void mailbox_index_init(struct mailbox_index *idx);
void mailbox_index_free(struct mailbox_index *idx);
/* Deep copy. */
void mailbox_index_copy(struct mailbox_index *dst, const struct mailbox_index *src);
/* Appends an entry (takes ownership of name). */
void mailbox_index_push(struct mailbox_index *idx, const struct mailbox_entry *e);

/* Parses an index file image. Pure. Returns 0, or -1 with err set (idx_r then holds the
 * header's UIDVALIDITY when the header line itself was readable, else 0, and no entries). */
int mailbox_index_parse(const char *data, size_t len, struct mailbox_index *idx_r, char *err,
			size_t errlen);
/* Appends the file image of idx to out. */
void mailbox_index_format(const struct mailbox_index *idx, struct buf *out);

/* A file name that may appear in the index and be used as a directory entry. */
bool mailbox_index_name_ok(const char *name, size_t len);
/* Length of the base name (the part before the first ':'). */
size_t mailbox_index_base_len(const char *name);

/* Keyword list "N NAME\n" lines (N 0..25). Lenient: bad lines are skipped. Pure. Fills
 * names[] (xstrdup'd, NULL when unused) and returns how many slots up to the highest used. */
size_t mailbox_keywords_parse(const char *data, size_t len,
			      char *names[MAILBOX_MAX_KEYWORDS]);
void mailbox_keywords_format(char *const names[MAILBOX_MAX_KEYWORDS], size_t n, struct buf *out);
/* An IMAP flag-keyword atom we accept as a keyword name. */
bool mailbox_keyword_name_ok(const char *name);

/* Flags from a file name's ":2," info: system flag bits and keyword bits (bit i for letter
 * 'a'+i; the caller masks unknown keywords). */
void mailbox_name_flags(const char *name, unsigned *flags_r, uint32_t *kw_r);
/* Builds the info letters for flags/kw, keeping any letter of old_name's info that we do
 * not manage (e.g. 'P'), sorted ASCII. out gets ":2," + letters. */
void mailbox_info_build(const char *old_name, unsigned flags, uint32_t kw, char *out,
			size_t outlen);

/* Files: whole-file read (bounded), atomic replace (tmp, fsync, rename, fsync dir). */
int mailbox_file_read(const char *path, size_t max, char **data_r, size_t *len_r);
int mailbox_file_replace(const char *dir, const char *tmpname, const char *name,
			 const void *data, size_t len);
int mailbox_fsync_dir(const char *dir);

/* Opens (creating) and flocks MAILDIR/mtad-uidlist.lock exclusively. Returns the fd or
 * -errno. mailbox_unlock closes it. */
int mailbox_lock(const char *maildir);
void mailbox_unlock(int fd);
/* The last UIDVALIDITY recorded in the lock file (0 if none) / records one. fd locked. */
uint32_t mailbox_lock_hint_read(int fd);
void mailbox_lock_hint_write(int fd, uint32_t uidvalidity);

#endif
