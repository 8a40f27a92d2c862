/* mailbox_index.h - the per-folder UID index file and keyword list: pure parse/format, plus locking and atomic writes (internal to mailbox*.c). */
#ifndef MAIL_MAILBOX_INDEX_H
#define MAIL_MAILBOX_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mailbox.h"

#define MAILBOX_INDEX_FILE       "mtad-uidlist"
#define MAILBOX_INDEX_TMP        "mtad-uidlist.tmp"
#define MAILBOX_LOCK_FILE        "mtad-uidlist.lock"
#define MAILBOX_KEYWORDS_FILE    "mtad-keywords"
#define MAILBOX_KEYWORDS_TMP     "mtad-keywords.tmp"
/* In the account directory: the highest UIDVALIDITY given to any of its folders. */
#define MAILBOX_UIDVALIDITY_FILE "mtad-uidvalidity"

/* Upper bounds that keep a hostile or damaged index from costing unbounded memory. */
#define MAILBOX_INDEX_MAX_MSGS 10000000u
#define MAILBOX_INDEX_MAX_SIZE ((uint64_t)1 << 50)
#define MAILBOX_INDEX_MAX_DATE ((int64_t)1 << 40)

/* One message as the index records it. */
struct mailbox_entry {
	uint32_t uid;
	uint64_t modseq;
	uint64_t size; /* MAILBOX_SIZE_UNKNOWN until someone asks (version 2 index: "-") */
	int64_t idate;
	char *name;  /* the file's full current name (base name + ":2,FLAGS"): inside the
			 * index's names block, or else malloc'd (see mailbox_index_name_set) */
	bool in_new; /* in new/ rather than cur/ */
};

/* A block of NUL-terminated names, read-only once made and shared by every copy of an index
 * that points into it (reference counted, safe across threads). Copying a 100,000-entry index
 * then costs one memcpy of the entries instead of 100,000 string copies. */
struct mailbox_names {
	unsigned refs;
	size_t len;
	char data[];
};

/* An index's entries made read-only for sharing (reference counted, safe across threads):
 * every name lies in names. An index whose entries are frozen copies them only when it is
 * about to change one (mailbox_index_own), so a folder's snapshot and every session that read
 * the same index file share one array. A view form of the entries built from them may be
 * published once (mailbox_views.c's business: freed with the entries). */
struct mailbox_frozen {
	unsigned refs;
	struct mailbox_entry *e;
	size_t n;
	struct mailbox_names *names; /* a reference */
	void *view;                  /* published view form (one malloc'd block), or NULL */
};

struct mailbox_frozen *mailbox_frozen_ref(struct mailbox_frozen *f);
void mailbox_frozen_unref(struct mailbox_frozen *f);

struct mailbox_names *mailbox_names_ref(struct mailbox_names *n);
void mailbox_names_unref(struct mailbox_names *n);
/* p points into the block n (NULL n holds nothing). */
bool mailbox_names_holds(const struct mailbox_names *n, const char *p);

/* A directory's modification time as recorded at the last full scan; 0/0 = "rescan". */
struct mailbox_stamp {
	int64_t sec;
	long nsec;
};

struct mailbox_index {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highest_modseq;
	uint32_t recent_uid; /* first UID not yet claimed as \Recent by a read-write SELECT */
	struct mailbox_stamp new_stamp, cur_stamp;
	struct mailbox_entry *e; /* sorted by uid, strictly increasing */
	size_t n, cap;
	struct mailbox_names *names;   /* the block some entries' names point into, or NULL */
	struct mailbox_frozen *frozen; /* non-NULL: e is frozen->e, read-only; call
					 * mailbox_index_own before changing an entry or n */
};

void mailbox_index_init(struct mailbox_index *idx);
void mailbox_index_free(struct mailbox_index *idx);
/* Copy: the entries are copied, names in src's block are shared, the others duplicated. */
void mailbox_index_copy(struct mailbox_index *dst, const struct mailbox_index *src);
/* Freezes idx's entries (packing the names first when some lie outside the block): from now
 * on they can be shared in O(1). Already frozen: nothing to do. */
void mailbox_index_freeze(struct mailbox_index *idx);
/* dst becomes a copy of the frozen src that shares its entries (no copying). */
void mailbox_index_share(struct mailbox_index *dst, const struct mailbox_index *src);
/* Makes idx's entries its own (one memcpy when they are frozen), so they may change. Entry
 * pointers taken before it are stale. */
void mailbox_index_own(struct mailbox_index *idx);
/* Appends an entry (takes ownership of a malloc'd name, or one inside idx->names); owns the
 * entries first. */
void mailbox_index_push(struct mailbox_index *idx, const struct mailbox_entry *e);
/* Gives e a new malloc'd name (taken over), releasing the old one. idx must own its entries. */
void mailbox_index_name_set(struct mailbox_index *idx, struct mailbox_entry *e, char *name);
/* Releases an entry's name (frees it unless it lies in the names block). */
void mailbox_index_name_release(const struct mailbox_index *idx, char *name);
/* Moves every name into one new block (so copies of idx share them all); frozen entries
 * already are. */
void mailbox_index_pack(struct mailbox_index *idx);

/* Parses an index file image (version 1, or 2 which allows "-" = size unknown); the names
 * land in one block. Pure. Returns 0, or -1 with err set (idx_r then holds the
 * header's UIDVALIDITY when the header line itself was readable, else 0, and no entries). */
int mailbox_index_parse(const char *data, size_t len, struct mailbox_index *idx_r, char *err,
			size_t errlen);
/* Appends the file image of idx to out: version 1 unless some size is unknown (so the
 * common file stays readable by versions that predate sizes-on-demand). */
void mailbox_index_format(const struct mailbox_index *idx, struct buf *out);

/* A file name that may appear in the index and be used as a directory entry. */
bool mailbox_index_name_ok(const char *name, size_t len);
/* Length of the base name (the part before the first ':'). */
size_t mailbox_index_base_len(const char *name);

/* Keyword list "N NAME\n" lines (N 0..25). Lenient: bad lines are skipped. Pure. Fills
 * names[] (xstrdup'd, NULL when unused) and returns how many slots up to the highest used. */
size_t mailbox_keywords_parse(const char *data, size_t len, char *names[MAILBOX_MAX_KEYWORDS]);
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

/* ---- MAILDIR/mtad-vanished: the UIDs expunged lately, with the mod-sequence of their expunge
 * (QRESYNC, RFC 7162). Bounded: at most MAILBOX_VANISHED_MAX records; when more come the oldest
 * go and FLOOR rises to the highest mod-sequence forgotten. For a mod-sequence below FLOOR (or
 * no readable file) the log cannot tell what vanished since, and the caller reports every UID
 * below UIDNEXT that is not in the folder (RFC 7162 allows reporting more than vanished). ---- */
#define MAILBOX_VANISHED_FILE "mtad-vanished"
#define MAILBOX_VANISHED_TMP  "mtad-vanished.tmp"
#define MAILBOX_VANISHED_MAX  1000

/* UIDs lo..hi expunged at modseq. */
struct mailbox_vanished_rec {
	uint64_t modseq;
	uint32_t lo, hi;
};

struct mailbox_vanished {
	uint32_t uidvalidity;             /* of the index the UIDs belong to */
	uint64_t floor;                   /* expunges at or below it may be missing from rec */
	struct mailbox_vanished_rec *rec; /* modseq non-decreasing, 1 <= lo <= hi */
	size_t n;
};

void mailbox_vanished_free(struct mailbox_vanished *v);
/* Parses the file image: "mtad-vanished 1 UIDVALIDITY FLOOR\n" then "MODSEQ LO HI\n" per
 * record (at most MAILBOX_VANISHED_MAX, modseq non-decreasing and above FLOOR). Pure. Returns 0,
 * or -1 with err set and v empty. */
int mailbox_vanished_parse(const char *data, size_t len, struct mailbox_vanished *v, char *err,
			   size_t errlen);
void mailbox_vanished_format(const struct mailbox_vanished *v, struct buf *out);
/* Records the n UIDs (ascending) expunged at modseq (>= every recorded one) as ranges, then
 * drops the oldest records beyond MAILBOX_VANISHED_MAX, raising floor. Pure. */
void mailbox_vanished_add(struct mailbox_vanished *v, uint64_t modseq, const uint32_t *uids,
			  size_t n);

/* Atomic replace of a file: tmp, fsync, rename, fsync dir. */
int mailbox_file_replace(const char *dir, const char *tmpname, const char *name, const void *data,
			 size_t len);
/* The same; without the two fsyncs when durable is false (readers still see the old or the new
 * file whole; after an OS crash the old one may be back, or an empty one). */
int mailbox_file_replace_sync(const char *dir, const char *tmpname, const char *name,
			      const void *data, size_t len, bool durable);
/* How many durable replaces (with fsync) this process made: for tests and profiles. */
unsigned long mailbox_file_replace_synced(void);

/* Opens (creating) and flocks MAILDIR/mtad-uidlist.lock exclusively. Returns the fd or
 * -errno. mailbox_unlock closes it. */
int mailbox_lock(const char *maildir);
/* The same for any lock file path (e.g. ACCOUNT/mtad-uidvalidity). */
int mailbox_lock_path(const char *path);
void mailbox_unlock(int fd);
/* The last UIDVALIDITY recorded in the lock file (0 if none) / records one. fd locked. */
uint32_t mailbox_lock_hint_read(int fd);
void mailbox_lock_hint_write(int fd, uint32_t uidvalidity);

#endif
