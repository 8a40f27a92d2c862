/* client.h - one IMAP connection: states, command dispatch, tagged and untagged output, literals, timeouts. */
#ifndef MAIL_IMAP_CLIENT_H
#define MAIL_IMAP_CLIENT_H

/* A message larger than this is not read ahead (it is streamed at its own pace); one whose
 * size is not learnt yet is read ahead up to this many bytes. */
#define CLIENT_PREFETCH_FILE_MAX (256 * 1024)

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imap_parser.h"
#include "imapd.h"

struct mailbox_view;
struct view_watch;
struct client_work;
struct command;
struct client_readahead;
struct search_context;
struct notify_state;

enum imap_state {
	IMAP_STATE_NOAUTH = 1 << 0,
	IMAP_STATE_AUTH = 1 << 1,
	IMAP_STATE_SELECTED = 1 << 2,
	IMAP_STATE_LOGOUT = 1 << 3,
};

/* What the session is doing besides reading commands. */
enum imap_mode {
	IMAP_MODE_COMMAND,      /* parsing commands */
	IMAP_MODE_AUTHENTICATE, /* waiting for the SASL response line */
	IMAP_MODE_IDLE,         /* waiting for DONE */
	IMAP_MODE_BUSY, /* a command is in progress (password check, pool work, long FETCH) */
};

/* How a command that paused goes on: the command sets it when it pauses and client.c calls it,
 * knowing no command by name. Set on the loop or inside the command's pool work. */
struct client_cont {
	/* IMAP_MODE_AUTHENTICATE, IMAP_MODE_IDLE: the client's next line (loop thread); it ends
	 * the wait (client.c empties on_line and on_timeout first). */
	void (*on_line)(struct imap_client *c, const char *line, size_t len);
	/* IMAP_MODE_IDLE: the keep-alive timer fired (loop thread). */
	void (*on_timeout)(struct imap_client *c);
	/* Output is left to produce (FETCH): runs on the pool each time the connection drained,
	 * until the command empties the continuation. */
	void (*resume)(struct imap_client *c);
	/* Frees ctx and empties the continuation: the session ends or its connection went before
	 * resume finished. */
	void (*free)(struct imap_client *c);
	void *ctx; /* the paused command's state */
};

struct imap_client {
	struct imapd *d;
	struct net_conn *conn;
	struct imap_parser *parser;
	uint64_t literal_reserved; /* of imapd.literal_bytes, for the command being parsed */
	enum imap_state state;
	enum imap_mode mode;
	bool tls;                   /* the connection is encrypted */
	bool orphaned;              /* the connection went while a job was pending */
	bool authenticated_parser;  /* the parser has post-login limits */
	unsigned enabled;           /* enum imap_enabled bits */
	unsigned cmd_flags;         /* flags of the command in progress (commands.h) */
	bool cmd_uid;               /* ... and whether it was a UID command */
	unsigned commands;          /* commands received */
	unsigned bad_in_row;        /* consecutive BAD responses */
	char tag[128];              /* tag of the command in progress (AUTHENTICATE, IDLE, jobs) */
	const char *metric_cmd;     /* the dispatched command's name until its tagged reply */
	uint64_t metric_started;    /* uv_hrtime() at its dispatch: the latency histogram */
	char user[256];             /* login address, lower-cased */
	char account_dir[PATH_MAX]; /* the account's Maildir (INBOX) */
	uint64_t quota_limit;       /* its storage limit in bytes at login, 0 = none (QUOTA) */
	struct mailbox_view *view;  /* the selected folder (SELECTED state) */
	struct client_cont cont;    /* the command in progress, when it paused */
	struct client_work *work;   /* store work of this session on the thread pool (or NULL) */
	const struct command *running;      /* the command whose body runs in work */
	struct client_readahead *readahead; /* files a batch read ahead (loop side; or NULL) */
	struct search_context *contexts;    /* SEARCH/SORT RETURN (UPDATE) results kept up to
					     * date (cmd_context.c), for the selected folder */
	struct notify_state *notify;        /* NOTIFY (notify.c) */
	struct view_watch
		*retired_watches; /* watchers of folders closed by work: stopped after it */
	bool changed_while_busy;  /* a change notice arrived while work ran */
	char peer_ip[64];         /* for log lines written on the pool (c->conn is the loop's) */
	int refs;                 /* callers on the stack: the session is freed after them */
	struct imap_proxy *proxy; /* imap_proxy: the session handed to its back end (or NULL) */
	struct imap_client *prev, *next; /* imapd->clients */
};

/* Output. Every line goes through these; nothing else writes to the connection. */
void client_send(struct imap_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void client_send_raw(struct imap_client *c, const void *p, size_t n);
void client_send_buf(struct imap_client *c, const struct buf *b);
/* Tagged completion: "TAG OK text" etc. Before an OK/NO/BAD, pending untagged updates are
 * sent when the command allows it (see client_sync). */
void client_tagged(struct imap_client *c, const char *tag, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Bytes waiting to be sent (output backlog), for commands that produce a lot. */
size_t client_backlog(const struct imap_client *c);

/* Sends pending untagged EXISTS/EXPUNGE/FETCH of the selected folder. allow_expunge false
 * during FETCH, STORE, SEARCH (RFC 3501 7.4.1): then only EXISTS and FLAGS go out. */
void client_sync(struct imap_client *c, bool allow_expunge);

/* Store work on the libuv thread pool (docs/imap-store.md). Runs fn(c, arg) in a worker with
 * the session BUSY and reading paused. Inside fn, client_send*, client_tagged, client_close,
 * client_enter_state, client_view_open/client_view_close, view_sync, client_folder_changed and
 * imapd_notify_folder are safe: output is staged in a per-session buffer and everything that
 * touches uv handles (the connection, timers, inotify watchers, other sessions) is applied on
 * the loop thread after fn returns; then the session goes to mode_after (IMAP_MODE_COMMAND, or
 * IMAP_MODE_IDLE) and reads on, unless a command left output to produce (c->cont.resume: it
 * continues on the pool as the output drains). */
void client_run_on_pool(struct imap_client *c, void (*fn)(struct imap_client *c, void *arg),
			void *arg, enum imap_mode mode_after);
/* The command waits for a line of the client (AUTHENTICATE's response, IDLE's DONE): the session
 * enters mode (at once, or after the pool work that calls this), the line goes to on_line, and
 * in IMAP_MODE_IDLE the keep-alive timer calls on_timeout meanwhile (c->cont). */
void client_wait_line(struct imap_client *c, enum imap_mode mode,
		      void (*on_line)(struct imap_client *c, const char *line, size_t len),
		      void (*on_timeout)(struct imap_client *c));
/* The connection went or is closing: long work stops early. Callable on the pool. */
bool client_cancelled(const struct imap_client *c);

/* State transitions (logged at debug level). */
void client_enter_state(struct imap_client *c, enum imap_state state);
/* A command that went asynchronous finished: read the next command. */
void client_command_done(struct imap_client *c);
/* Keeps the session alive across a call that may close the connection; client_unref frees
 * it when the connection went meanwhile. */
void client_ref(struct imap_client *c);
void client_unref(struct imap_client *c);
/* Closes the session after pending output ("* BYE" already sent by the caller). */
void client_close(struct imap_client *c, const char *reason);

/* Capability list for this session's state ("IMAP4rev1 ... "), without "* CAPABILITY". */
void client_capabilities(const struct imap_client *c, struct buf *b);

/* Switches the parser to the authenticated limits (called after a successful login). */
void client_login_done(struct imap_client *c);

/* The accept callback for the listeners. */
void client_accept(struct net_listener *l, struct net_conn *conn);

/* A mailbox name as the client sent it -> the store's name: "INBOX" in any case normalised, a
 * trailing '/' dropped, UTF-8 turned into modified UTF-7 after ENABLE IMAP4rev2. Returns 0,
 * or -1 for an empty, over-long or badly encoded name. */
int client_mailbox_name(const struct imap_client *c, const char *in, size_t len, char *out,
			size_t outlen);
/* Appends a store name as the client expects it (UTF-8 after ENABLE IMAP4rev2). */
void client_write_mailbox(const struct imap_client *c, struct buf *b, const char *name);

/* The folder path of an IMAP mailbox name of this account; -1 for an invalid name. */
int client_folder_path(const struct imap_client *c, const char *name, char *out, size_t outlen);

/* Selects: opens name (path already resolved) as c->view, with this session's callbacks
 * (mailbox_view.h), and sends the SELECT/EXAMINE untagged responses. Returns 0, or -1 with err
 * set ("NO" text). */
int client_view_open(struct imap_client *c, const char *name, const char *path, bool readonly,
		     char *err, size_t errlen);
/* Closes the selected folder, if any (no expunge). */
void client_view_close(struct imap_client *c);
/* Something changed the selected folder (file-system event, another session of this daemon, a
 * COPY into it). Inside pool work it is noted for afterwards; on the loop, while idling, the
 * sync runs on the thread pool. */
void client_folder_changed(struct imap_client *c);

#endif
