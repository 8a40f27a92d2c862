/* mailbox_internal.h - what the mailbox*.c files of the IMAP store share: the folder state, a view's message block, their helpers (not for imapd). */
#ifndef MAIL_MAILBOX_INTERNAL_H
#define MAIL_MAILBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "mailbox.h"
#include "mailbox_index.h"

struct mailbox_cache;

/* Identity of a file as of our last read/write: any rename, write or replacement shows. */
struct mailbox_fileid {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
};

/* The index state of one folder as this process last saw it on disk. */
struct mailbox_state {
	char *path;
	int lockfd;    /* >= 0 while locked */
	bool readonly; /* no moves new/ -> cur/ */
	bool loaded;
	bool rebuild;               /* index missing or corrupt: rebuild on the next refresh */
	bool view_stale;            /* the state learnt something the open view has not seen */
	uint32_t known_uidvalidity; /* highest UIDVALIDITY ever seen for this folder */
	struct mailbox_index idx;
	struct mailbox_fileid index_id, kw_id;
	char *kw[MAILBOX_MAX_KEYWORDS];
	size_t nkw;
	bool claims_recent;                 /* a read-write view: claims new UIDs as \Recent */
	uint32_t claim_lo, claim_hi;        /* UIDs claimed as \Recent, not yet in the view */
	struct mailbox_cache *cache;        /* header cache, made on first use */
	struct mailbox_names *view_names;   /* the names block the view's file names may
						 * point into (a reference) */
	struct mailbox_frozen *view_frozen; /* non-NULL: the view's messages are this
						 * frozen index's published ones (read-only,
						 * shared; a reference) */
	struct mailbox_learnt *learnt;      /* sizes learnt by mailbox_msg_size, for the index */
	size_t nlearnt, learnt_cap;
	/* UIDVALIDITY and UIDNEXT of the index as last read or written with fsync: a write that
	 * changes neither is not fsynced (mailbox_state_write). */
	uint32_t durable_uidvalidity, durable_uidnext;
};

/* A size the index did not know, learnt from the file. */
struct mailbox_learnt {
	uint32_t uid;
	uint64_t size;
};

/* A view's messages (struct mailbox's msgs points at m): the view's own, or published in a
 * frozen index (mailbox_frozen.view) and then read-only, shared by every view of that index.
 * Only a view that is exactly the index's entries is published: no \Recent (a per-session
 * flag). A size it does not know is learnt by mailbox_msg_size without writing it there. */
struct mailbox_msgs {
	uint32_t kwmask;     /* the keyword letters the folder's list named */
	size_t first_unseen; /* index of the first message without \Seen, or the count */
	struct mailbox_msg m[];
};

/* mailbox.c: small helpers */
int mailbox_path2(char *out, size_t outlen, const char *dir, const char *sub, const char *name);
bool mailbox_fileid_eq(const struct mailbox_fileid *a, const struct mailbox_fileid *b);
int mailbox_dir_stamp(const char *maildir, const char *sub, struct mailbox_stamp *st_r,
		      bool *racy_r);
bool mailbox_stamp_eq(const struct mailbox_stamp *a, const struct mailbox_stamp *b);
uint32_t mailbox_kw_mask(char *const kw[MAILBOX_MAX_KEYWORDS]);

/* mailbox.c: the state (lock held for all but new/free/lock/begin) */
struct mailbox_state *mailbox_state_new(const char *path, bool readonly);
void mailbox_state_free(struct mailbox_state *s);
int mailbox_state_lock(struct mailbox_state *s);
void mailbox_state_unlock(struct mailbox_state *s);
int mailbox_state_load(struct mailbox_state *s);
int mailbox_state_write(struct mailbox_state *s);
int mailbox_state_keywords(struct mailbox_state *s, const char *const *names, size_t n,
			   uint32_t *mask_r);
long mailbox_state_find(const struct mailbox_state *s, uint32_t uid);
int mailbox_state_refresh(struct mailbox_state *s, bool force);
int mailbox_state_begin(struct mailbox_state *s, bool scan);

/* mailbox_scan.c */
int mailbox_state_scan_once(struct mailbox_state *s, bool *changed, bool *retry);

/* mailbox_shared.c */
bool mailbox_snapshot_get(const char *path, const char *file, const struct mailbox_fileid *id,
			  struct mailbox_index *idx_r);
void mailbox_snapshot_put(const char *path, const struct mailbox_fileid *id, const char *data,
			  size_t len, struct mailbox_index *idx);

/* mailbox_views.c */
void mailbox_view_name_release(const struct mailbox_state *s, char *name);
void mailbox_msg_from_entry(const struct mailbox_state *s, struct mailbox_msg *m,
			    const struct mailbox_entry *e, uint32_t kwmask);
void mailbox_view_keywords(struct mailbox *mb, const struct mailbox_state *s);
void mailbox_changes_expunged(struct mailbox_changes *ch, size_t *cap, uint32_t seq, uint32_t uid);
struct mailbox_msgs *mailbox_msgs_of(struct mailbox_msg *m);
void mailbox_view_release(struct mailbox_msg *msgs, size_t count, const struct mailbox_names *names,
			  struct mailbox_frozen *frozen);
void mailbox_view_own(struct mailbox *mb, struct mailbox_state *s);
void mailbox_view_update(struct mailbox *mb, struct mailbox_state *s, struct mailbox_changes *ch);
int mailbox_stat_size(const char *maildir, bool in_new, const char *name, uint64_t *size_r);

/* mailbox_append.c */
int mailbox_find_base(const char *maildir, const char *name, char *out, size_t outlen);

/* mailbox_vanished.c (lock held): the n UIDs (ascending) leave the index: takes a new
 * mod-sequence for the expunge and records them in the folder's mtad-vanished log. */
void mailbox_vanished_note(struct mailbox_state *s, const uint32_t *uids, size_t n);

#endif
