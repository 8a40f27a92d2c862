/* notify.h - NOTIFY (RFC 5465): the command's pure parser, a session's notification set, and the events other sessions' changes raise. */
#ifndef MAIL_NOTIFY_H
#define MAIL_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "imap_parser.h"

struct imap_client;

enum notify_event {
	NOTIFY_MESSAGE_NEW = 1 << 0,
	NOTIFY_MESSAGE_EXPUNGE = 1 << 1,
	NOTIFY_FLAG_CHANGE = 1 << 2,
	NOTIFY_MAILBOX_NAME = 1 << 3,
	NOTIFY_SUBSCRIPTION_CHANGE = 1 << 4,
};
#define NOTIFY_MESSAGE_EVENTS (NOTIFY_MESSAGE_NEW | NOTIFY_MESSAGE_EXPUNGE | NOTIFY_FLAG_CHANGE)

enum notify_kind {
	NOTIFY_SELECTED,
	NOTIFY_SELECTED_DELAYED,
	NOTIFY_INBOXES,
	NOTIFY_PERSONAL,
	NOTIFY_SUBSCRIBED,
	NOTIFY_SUBTREE,
	NOTIFY_MAILBOXES,
};

#define NOTIFY_MAX_FILTERS 16
#define NOTIFY_MAX_NAMES   64 /* mailbox names in one SUBTREE or MAILBOXES filter */

/* One "(filter events)" group as parsed: names point into the command's arguments. */
struct notify_spec_filter {
	enum notify_kind kind;
	unsigned events;                  /* enum notify_event bits; 0 = NONE */
	const struct imap_arg *fetch_att; /* MessageNew's FETCH attribute list, or NULL */
	const struct imap_arg *names[NOTIFY_MAX_NAMES];
	size_t nnames;
};

struct notify_spec {
	bool none; /* NOTIFY NONE */
	bool status;
	struct notify_spec_filter f[NOTIFY_MAX_FILTERS];
	size_t n;
};

enum notify_parse_result {
	NOTIFY_PARSE_OK = 0,
	NOTIFY_PARSE_BAD = -1,      /* syntax or a rule of RFC 5465 5.1 broken: BAD */
	NOTIFY_PARSE_BADEVENT = -2, /* an event we do not offer: NO [BADEVENT] */
};

/* Parses NOTIFY's arguments (after the command name). Pure. Returns a result with a static
 * *error_r text when it is not OK. */
enum notify_parse_result notify_parse(const struct imap_arg *args, unsigned count,
				      struct notify_spec *spec, const char **error_r);

/* NOTIFY SET / NOTIFY NONE (runs on the pool: it lists folders and reads their status). */
void cmd_notify(struct imap_client *c, const struct imap_command *cmd);

/* A new session (loop): its (empty) notification state. */
void notify_init(struct imap_client *c);
/* The session ends: its notification set goes. */
void notify_free(struct imap_client *c);
/* The session asked to hear about its selected folder at once (SELECTED or SELECTED-DELAYED):
 * it syncs when a change is noticed, not only in IDLE. */
bool notify_wants_selected(const struct imap_client *c);
/* Of those, the session asked SELECTED-DELAYED: expunges wait for a command that allows them. */
bool notify_selected_delayed(const struct imap_client *c);

/* Pool (the session's work): after "* n EXISTS" for the n_new messages at the end of the
 * selected mailbox, the FETCH of each with the attributes the set's MessageNew names (RFC 5465
 * 5.2), rendered as FETCH renders them; \Seen is not set. */
struct buf;
void notify_fetch_new(struct imap_client *c, struct buf *b, size_t n_new);

/* Loop thread: another session (or this daemon) changed the folder at maildir. */
void notify_folder_changed(struct imap_client *c, const char *maildir);
/* The session c (its work, or the loop) created (on), deleted (!on) or renamed (on, oldname
 * set) the mailbox name (NOTIFY_MAILBOX_NAME), or subscribed (on) or unsubscribed it
 * (NOTIFY_SUBSCRIPTION_CHANGE): the other sessions of the account that asked are told after
 * c's work (notify_after_work). Store names. */
void notify_mailbox_event(struct imap_client *c, unsigned event, const char *name,
			  const char *oldname, bool on);
/* Loop thread, after pool work of c, before its output goes out: starts or stops the INBOX
 * watch its set needs (before the client can see its NOTIFY answered) and hands c's mailbox
 * events to the other sessions. */
void notify_after_work(struct imap_client *c);
/* Loop thread, once c is free again (reading commands or idling): sends what waits for it
 * (STATUS on the pool). */
void notify_session_ready(struct imap_client *c);

#endif
