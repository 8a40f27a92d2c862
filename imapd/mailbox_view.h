/* mailbox_view.h - the selected folder of one session: the store's mailbox, change watching, untagged updates. */
#ifndef MAIL_MAILBOX_VIEW_H
#define MAIL_MAILBOX_VIEW_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seqset.h"

struct buf;
struct imapd;
struct mailbox;
struct mailbox_changes;
struct view_watch;

/* The session a view belongs to, given to view_open (client.c fills it in): the view writes its
 * untagged responses and reports changes only through these, never naming client.c. ctx is the
 * first argument of every callback. The callbacks are safe where the session's own functions
 * are (on the loop, or inside the session's pool work). */
struct view_client {
	void *ctx;        /* the session */
	struct imapd *d;  /* its daemon: the loop (watchers), the pool (closing) */
	const char *user; /* for log lines; lives as long as the session */
	/* Output (client_send_buf, client_send_raw). */
	void (*send_buf)(void *ctx, const struct buf *b);
	void (*send_raw)(void *ctx, const void *p, size_t n);
	/* Ends the session after its pending output (client_close). */
	void (*close)(void *ctx, const char *reason);
	/* Appends a folder name as the client expects it (client_write_mailbox). */
	void (*write_mailbox)(void *ctx, struct buf *b, const char *name);
	/* The session's enum imap_enabled bits (imapd.h), as they are now. */
	unsigned (*enabled)(void *ctx);
	/* Messages are about to be reported expunged (ch->expunged_uids/seqs), before their
	 * EXPUNGE lines are written. May be NULL. */
	void (*expunging)(void *ctx, const struct mailbox_changes *ch);
	/* The watcher saw the folder change (loop thread). May come after the view closed, until
	 * view_watches_stop stopped its watcher. */
	void (*changed)(void *ctx);
	/* After "* n EXISTS": what else the session sends about the n_new messages at the end of
	 * the folder (NOTIFY's MessageNew FETCH). May be NULL. */
	void (*new_messages)(void *ctx, struct buf *b, size_t n_new);
};

struct mailbox_view {
	struct mailbox *mb;
	char *name;          /* as the client named it ("INBOX" normalised) */
	char path[PATH_MAX]; /* the Maildir */
	bool readonly;       /* EXAMINE */
	bool changed;        /* the folder changed on disk since the last sync */
	bool expunge_held; /* a sync between commands left an expunge for later (NOTIFY SELECTED-DELAYED) */
	bool want_watch;          /* IDLE was entered: watch the folder until it is closed */
	struct view_watch *watch; /* inotify on new/ and cur/ (NULL until the first IDLE,
					 * or when unavailable) */
	struct view_client cl;    /* the session */
	uint32_t told_keywords;   /* keywords the session was told in FLAGS (bit i: keywords[i]) */
	struct seqset saved;      /* "$" (SEARCHRES, RFC 5182): UIDs the last SEARCH RETURN (SAVE)
				   * found; expunged ones simply match no message any more */
};

/* Opens name (path already resolved) for the session cl and sends the SELECT/EXAMINE untagged
 * responses. The watcher is started by view_start_watch once the session IDLEs.
 * Returns the view, or NULL with err set ("NO" text). */
struct mailbox_view *view_open(const struct view_client *cl, const char *name, const char *path,
			       bool readonly, char *err, size_t errlen);
/* Closes v (no expunge). On the loop thread retired is NULL: the watcher stops now and the
 * mailbox is closed on the thread pool. Inside pool work the watcher (uv handles are the loop's)
 * goes on the list *retired, for view_watches_stop on the loop afterwards. */
void view_close(struct mailbox_view *v, struct view_watch **retired);

/* Syncs with the disk and sends EXPUNGE/EXISTS/FETCH for what changed. Nothing when v is NULL. */
void view_sync(struct mailbox_view *v);
/* The same, unless an expunge would be reported: then nothing is sent and v stays changed
 * (NOTIFY SELECTED-DELAYED between commands). */
void view_sync_hold_expunges(struct mailbox_view *v);
/* Sends the untagged responses for changes (from a sync, or an expunge made by the session).
 * Nothing when v is NULL. */
void view_send_changes(struct mailbox_view *v, const struct mailbox_changes *ch);
/* Appends "* FLAGS" and "* OK [PERMANENTFLAGS]" when the folder's keywords changed since the
 * session was last told them: before any FETCH that shows a new keyword (RFC 3501 7.2.6). */
void view_write_flags_update(struct mailbox_view *v, struct buf *b);
/* The session enters IDLE (pool or loop): view_start_watch starts the inotify watch, which then
 * lasts until the folder is closed. Nothing when v is NULL. */
void view_want_watch(struct mailbox_view *v);
/* Loop thread, after pool work: starts the watcher the view wants and has not (marking the view
 * changed, for what changed before it started). */
void view_start_watch(struct mailbox_view *v);
/* Loop thread: stops the watchers on the list *retired (view_close inside pool work). */
void view_watches_stop(struct view_watch **retired);

#endif
