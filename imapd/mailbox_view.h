/* mailbox_view.h - the selected folder of one session: the store's mailbox, change watching, untagged updates. */
#ifndef MAIL_MAILBOX_VIEW_H
#define MAIL_MAILBOX_VIEW_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_client;
struct mailbox;
struct mailbox_changes;
struct view_watch;

struct mailbox_view {
	struct mailbox *mb;
	char *name;			/* as the client named it ("INBOX" normalised) */
	char path[PATH_MAX];		/* the Maildir */
	bool readonly;			/* EXAMINE */
	bool changed;			/* the folder changed on disk since the last sync */
	bool want_watch;		/* IDLE was entered: watch the folder until it is closed */
	struct view_watch *watch;	/* inotify on new/ and cur/ (NULL until the first IDLE,
					 * or when unavailable) */
};

/* Opens name (path already resolved) for c and sends the SELECT/EXAMINE untagged responses. The
 * watcher is started by view_after_work once the session IDLEs.
 * Returns 0, or -1 with err set ("NO" text). */
int view_open(struct imap_client *c, const char *name, const char *path, bool readonly,
	      char *err, size_t errlen);
/* Closes the selected folder (no expunge). */
void view_close(struct imap_client *c);

/* Syncs with the disk and sends EXPUNGE/EXISTS/FETCH for what changed. */
void view_sync(struct imap_client *c);
/* Sends the untagged responses for changes (from a sync, or an expunge made by c). */
void view_send_changes(struct imap_client *c, const struct mailbox_changes *ch);
/* Something changed the folder (file-system event or another session of this daemon). Loop
 * thread. While idling, the sync runs on the thread pool. */
void view_mark_changed(struct imap_client *c);
/* The session enters IDLE (pool or loop): view_after_work starts the inotify watch, which
 * then lasts until the folder is closed. */
void view_want_watch(struct imap_client *c);
/* Loop thread, after pool work of c (client_run_on_pool): stops the watchers of folders the work
 * closed, starts the one of the folder it opened, applies change notices that came meanwhile. */
void view_after_work(struct imap_client *c);

#endif
