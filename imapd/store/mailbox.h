/* mailbox.h - one Maildir folder as IMAP sees it: UIDs, flags, keywords, modification sequences, kept in an index beside the Maildir.
 *
 * The Maildir files are the truth: flags live in the file names' ":2,FLAGS" info (D F P R S T,
 * plus keyword letters a-z mapped through the folder's keyword list), so mutt, Dovecot and
 * mbsync agree. The index (a file in the Maildir directory) only adds what Maildir cannot
 * hold: UIDVALIDITY, UIDNEXT, each file's UID, a modification sequence per message
 * (CONDSTORE), the size and internal date (so SELECT never opens message files). Deleting
 * the index loses no message and no flag: it is rebuilt with a new UIDVALIDITY.
 *
 * Concurrency: several processes (imapd sessions, deliver/mtad writing into new/) may touch
 * a folder. Every change of the index happens under an exclusive lock of the folder's lock
 * file, is written to a temporary file, fsynced and renamed over the index. UIDs are never
 * reused within a UIDVALIDITY.
 */
#ifndef MAIL_MAILBOX_H
#define MAIL_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* System flags, as bits. */
enum mailbox_flag {
	MAILBOX_SEEN = 1 << 0,     /* S */
	MAILBOX_ANSWERED = 1 << 1, /* R */
	MAILBOX_FLAGGED = 1 << 2,  /* F */
	MAILBOX_DELETED = 1 << 3,  /* T */
	MAILBOX_DRAFT = 1 << 4,    /* D */
	MAILBOX_RECENT = 1 << 5,   /* \Recent: this session was the first read-write
					 * SELECT to see the message (RFC 3501 2.3.2) */
};

#define MAILBOX_MAX_KEYWORDS 26 /* Maildir letters a-z */
/* A size not learnt yet: a file whose name lacks ",S=" is not stat'ed when it is first
 * indexed; mailbox_msg_size learns it on first use. */
#define MAILBOX_SIZE_UNKNOWN UINT64_MAX

struct mailbox_msg {
	uint32_t uid;
	uint64_t modseq;
	unsigned flags;       /* enum mailbox_flag bits */
	uint32_t keywords;    /* bit i = keyword i of mailbox->keywords */
	uint64_t size;        /* octets of the file (CRLF as stored) = RFC822.SIZE, or
				 * MAILBOX_SIZE_UNKNOWN: read it with mailbox_msg_size */
	time_t internal_date; /* arrival (from the file name, else the file's mtime) */
	char *filename;       /* base name as it is now, in cur/ or new/ */
	bool in_new;          /* still in new/ */
};

struct mailbox {
	char *path; /* the Maildir directory */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highest_modseq;
	struct mailbox_msg *msgs; /* sorted by uid; index+1 = sequence number */
	size_t count;
	char *keywords[MAILBOX_MAX_KEYWORDS]; /* names, NULL when unused */
	size_t nkeywords;
	bool readonly;
	/* private */
	void *priv;
};

/* What a sync found, for untagged responses (EXISTS, EXPUNGE, FETCH FLAGS). */
struct mailbox_changes {
	uint32_t *expunged_seqs; /* sequence numbers at the time of the previous view, in
					 * decreasing order (so EXPUNGE responses stay valid) */
	size_t n_expunged;
	uint32_t *expunged_uids;     /* the same messages' UIDs (for QRESYNC VANISHED) */
	size_t n_new;                /* messages appended at the end of msgs */
	uint32_t *flag_changed_uids; /* messages whose flags/keywords changed elsewhere */
	size_t n_flag_changed;
	bool uidvalidity_changed; /* the index was rebuilt: the client must resync. Then
					 * every old message is listed as expunged and every
					 * current one counted in n_new; imapd should end the
					 * selection (BYE / close) rather than send these. */
};

void mailbox_changes_free(struct mailbox_changes *ch);

/* Opens (creating cur/ new/ tmp/ and the index if needed) and syncs the folder. The
 * directory itself must exist (-ENOENT: no such folder); mailbox_create_special creates an
 * account's INBOX directory. readonly (EXAMINE): files stay in new/ and STORE/EXPUNGE fail
 * with -EROFS, but UIDs are still assigned and recorded. Returns 0 or -errno with err set. */
int mailbox_open(const char *maildir, bool readonly, struct mailbox **mb_r, char *err,
		 size_t errlen);
void mailbox_close(struct mailbox **mb);

/* Picks up what changed on disk since the last sync: files delivered into new/ get UIDs
 * (and move to cur/ unless readonly), vanished files are expunged, renamed files' flags are
 * read. Cheap when nothing changed (directory mtimes). Returns 0 or -errno. */
int mailbox_sync(struct mailbox *mb, struct mailbox_changes *ch_r);
/* As mailbox_sync, but when the sync would report an expunge nothing is applied and it returns 1
 * (NOTIFY SELECTED-DELAYED: expunges wait for a command that allows them, RFC 5465 5.2). */
int mailbox_sync_hold_expunges(struct mailbox *mb, struct mailbox_changes *ch_r);

/* STORE and EXPUNGE return -ESTALE when the index was rebuilt (new UIDVALIDITY) since the
 * view was made: sync, and end the selection. */

/* Index (0-based) of uid in msgs, or -1. */
long mailbox_find_uid(const struct mailbox *mb, uint32_t uid);

/* Message i's size (RFC822.SIZE), learnt from the file on first use when the index does not
 * know it yet, then remembered in the view and written to the index at the next sync. 0 when
 * the file vanished (the next sync reports the expunge). Not thread-safe per mailbox. */
uint64_t mailbox_msg_size(const struct mailbox *mb, size_t i);

/* Full path of message i (for reading its bytes). */
int mailbox_msg_path(const struct mailbox *mb, size_t i, char *out, size_t outlen);
/* Opens message i read-only. A file another session renamed since this view was made (a flag
 * change moves it to another ":2," name, or from new/ to cur/) is found again by its base
 * name (the part before ':'), so only a message whose file is really gone fails. Returns the
 * descriptor, or -errno (-ENOENT: expunged by someone else, not yet reported). */
int mailbox_msg_open(const struct mailbox *mb, size_t i);

/* \Recent: a read-write open/sync claims (under the index lock) every message that no
 * read-write session has seen yet, and marks them MAILBOX_RECENT in this view only; a
 * read-only open (EXAMINE) claims nothing. The number of such messages in the view: */
size_t mailbox_recent_count(const struct mailbox *mb);
/* Index (0-based) of the first message without \Seen, or count when there is none
 * (SELECT's UNSEEN). */
size_t mailbox_first_unseen(const struct mailbox *mb);

/* The header block (up to and including the blank line) of message i, from the folder's
 * header cache (mtad-cache, see mailbox_cache.h) or else read from the file and added to
 * the cache. *hdr_r is valid until the next call for mb. Not thread-safe per mailbox (like
 * the rest of it); no globals. Returns 0 or -errno (-ENOENT: the file vanished). */
int mailbox_msg_header(const struct mailbox *mb, size_t i, const char **hdr_r, size_t *len_r);
/* Message i's IMAP ENVELOPE (RFC 3501 7.4.2, as common/mime renders it), from the cache or
 * rendered from the header and cached. Same rules as mailbox_msg_header. */
int mailbox_msg_envelope(const struct mailbox *mb, size_t i, const char **env_r, size_t *len_r);
/* Message i's SORT/THREAD keys record (sort_keys.h: parse it with sort_keys_parse), from the
 * cache or derived from the header and cached. Same rules as mailbox_msg_header. */
int mailbox_msg_sortkeys(const struct mailbox *mb, size_t i, const char **rec_r, size_t *len_r);
/* Adds message i's header to the cache from bytes the caller already read. */
void mailbox_msg_note(const struct mailbox *mb, size_t i, const char *data, size_t len);

/* Changes message i's flags/keywords: mode '+' adds, '-' removes, '=' replaces. Renames the
 * file, bumps its modseq. A keyword name not yet known is added to the folder's list (at
 * most MAILBOX_MAX_KEYWORDS). Returns 0 or -errno. */
int mailbox_store(struct mailbox *mb, size_t i, char mode, unsigned flags,
		  const char *const *keywords, size_t nkeywords);
/* The same for n messages (indexes into msgs) with one index write: use it for STORE of a
 * sequence set. A message expunged meanwhile by someone else is skipped (the next sync
 * reports it). -ESTALE when the index was rebuilt (UIDVALIDITY changed) since the view. */
int mailbox_store_many(struct mailbox *mb, const size_t *idxs, size_t n, char mode, unsigned flags,
		       const char *const *keywords, size_t nkeywords);

/* Removes the files of every message with \Deleted (only those in uids when uids is non-NULL,
 * for UID EXPUNGE); the index forgets them. Expunged sequence numbers are reported like a
 * sync. Returns 0 or -errno. */
int mailbox_expunge(struct mailbox *mb, const uint32_t *uids, size_t nuids,
		    struct mailbox_changes *ch_r);

/* QRESYNC (RFC 7162): the UIDs expunged from the folder after mod-sequence modseq and not in
 * the view, as ascending disjoint ranges in *ranges_r (free it). Each expunge takes a
 * mod-sequence of its own, recorded in a bounded log (mailbox_index.h, mtad-vanished); for a
 * modseq older than the log remembers it is every UID below UIDNEXT missing from the view.
 * Returns the number of ranges. */
struct mailbox_uid_range {
	uint32_t lo, hi;
};
size_t mailbox_vanished_since(const struct mailbox *mb, uint64_t modseq,
			      struct mailbox_uid_range **ranges_r);

/* Adds a message to the folder at maildir (not necessarily open): tmp/ -> fsync -> cur/ with
 * flags, UID assigned under the lock. Returns 0 with *uid_r and *uidvalidity_r (APPENDUID),
 * or -errno. */
int mailbox_append(const char *maildir, const char *data, size_t len, unsigned flags,
		   const char *const *keywords, size_t nkeywords, time_t internal_date,
		   uint32_t *uidvalidity_r, uint32_t *uid_r, char *err, size_t errlen);

/* One message of an APPEND (MULTIAPPEND: several). */
struct mailbox_append_msg {
	const char *data;
	size_t len;
	unsigned flags;
	const char *const *keywords;
	size_t nkeywords;
	time_t internal_date; /* 0: now */
};
/* Adds n messages to the folder at maildir, all or nothing (RFC 3502): each is written and
 * fsynced in tmp/ first, then all get UIDs (uids_r[k], ascending) and go into cur/ under the
 * lock with one index write. On failure none of them is left behind. Returns 0 or -errno. */
int mailbox_append_many(const char *maildir, const struct mailbox_append_msg *msgs, size_t n,
			uint32_t *uidvalidity_r, uint32_t *uids_r, char *err, size_t errlen);

/* Copies message i of src into the folder at dst_maildir (hard link when possible, keeping
 * flags), returning the new UID (COPYUID). Returns 0 or -errno. */
int mailbox_copy(struct mailbox *src, size_t i, const char *dst_maildir, uint32_t *uidvalidity_r,
		 uint32_t *uid_r);
/* The same for n messages with one index write, all or nothing; uids_r[k] is the new UID of
 * message idxs[k] (UIDs ascend with k). */
int mailbox_copy_many(struct mailbox *src, const size_t *idxs, size_t n, const char *dst_maildir,
		      uint32_t *uidvalidity_r, uint32_t *uids_r);

/* Counts for STATUS without keeping the folder open: MESSAGES, UIDNEXT, UIDVALIDITY,
 * UNSEEN, HIGHESTMODSEQ, SIZE (only with want_size: it learns, and then records, the sizes
 * the index does not know yet), RECENT (messages no read-write SELECT has claimed yet).
 * Claims nothing. Returns 0 or -errno. */
struct mailbox_status {
	uint32_t messages, unseen, uidnext, uidvalidity;
	uint64_t highest_modseq, size;
	uint32_t recent;
};
int mailbox_status(const char *maildir, bool want_size, struct mailbox_status *st_r);

/* ---- folders of one account (Maildir++: INBOX is the account directory, folder "A/B" is
 * the subdirectory ".A.B"; names on disk are IMAP modified UTF-7 as IMAP sends them) ---- */

/* Path of a folder: "INBOX" (any case) -> account_dir; "Sent" -> account_dir/.Sent;
 * "A/B" -> account_dir/.A.B. Refuses names with "." or ".." components, '/' at either end,
 * control characters, a '.' inside a component (the Maildir++ separator). Returns 0/-1. */
int mailbox_folder_path(const char *account_dir, const char *name, char *out, size_t outlen);

struct mailbox_folder {
	char *name; /* IMAP name ("INBOX", "Sent", "A/B") */
	bool has_children;
	bool subscribed;
	const char
		*special_use; /* "\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive" or NULL */
	bool noselect;        /* only a parent of other folders (no Maildir of its own) */
	bool nonexistent;     /* subscribed, but no such folder (RFC 5258 \NonExistent) */
};

/* Lists every folder of the account (INBOX first). Returns the count or -errno. */
long mailbox_folder_list(const char *account_dir, struct mailbox_folder **folders_r);
void mailbox_folders_free(struct mailbox_folder *f, size_t n);

int mailbox_folder_create(const char *account_dir, const char *name, char *err, size_t errlen);
int mailbox_folder_delete(const char *account_dir, const char *name, char *err, size_t errlen);
/* RENAME; renaming INBOX moves its messages to the new folder and leaves INBOX empty. */
int mailbox_folder_rename(const char *account_dir, const char *from, const char *to, char *err,
			  size_t errlen);
/* The subscriptions file (account_dir/subscriptions, one name per line, Dovecot-compatible). */
int mailbox_subscribe(const char *account_dir, const char *name, bool subscribe);
/* Creates the account directory (INBOX) and Sent, Drafts, Trash, Junk and Archive when
 * missing, subscribing to those it creates (first login). */
int mailbox_create_special(const char *account_dir);

#endif
