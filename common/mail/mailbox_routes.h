/* mailbox_routes.h - the mailbox_routes table: which back end holds each address's mailbox (LMTP for mtad, IMAP for imapd's proxy). */
#ifndef MAIL_MAILBOX_ROUTES_H
#define MAIL_MAILBOX_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAILBOX_ROUTES_MAX_FILE (64 * 1024 * 1024)

enum mailbox_route_kind {
	MAILBOX_ROUTE_LOCAL = 0, /* this host's own Maildirs */
	MAILBOX_ROUTE_LMTP_INET, /* lmtp:[host]:port (or lmtp:host:port) */
	MAILBOX_ROUTE_LMTP_UNIX, /* lmtp:unix:/path */
};

struct mailbox_route {
	enum mailbox_route_kind kind;
	char host[256]; /* LMTP_INET: address or name, no brackets */
	uint16_t port;
	char path[108]; /* LMTP_UNIX */
	/* The back end's IMAP service for imapd's proxy: "imap:[host]:port" after the target;
	 * when absent, the LMTP host on port 143 (none for a unix-socket target). */
	char imap_host[256];
	uint16_t imap_port; /* 0: no IMAP back end known */
};

struct mailbox_routes;

/* Parses the table: lines "KEY: TARGET [imap:[HOST]:PORT]" where KEY is an address
 * (local@domain) or a domain, TARGET "local", "lmtp:[HOST]:PORT", "lmtp:HOST:PORT" or
 * "lmtp:unix:/PATH"; '#' comments and blank lines are skipped; keys are case-insensitive and
 * each appears once. Pure. Returns the table, or NULL with err "NAME:LINE: reason". */
struct mailbox_routes *mailbox_routes_parse(const char *name, const char *text, size_t len,
					    char *err, size_t errlen);

/* Reads and parses path (a regular file of at most MAILBOX_ROUTES_MAX_FILE bytes). */
struct mailbox_routes *mailbox_routes_load(const char *path, char *err, size_t errlen);

/* Re-reads the file when it changed. Returns 1 reloaded, 0 unchanged, -1 error (the old table
 * stays, err set). */
int mailbox_routes_reload_if_changed(struct mailbox_routes **r, char *err, size_t errlen);

/* The route of address ("local@domain", compared without case): the address's own line, else
 * its domain's, else NULL (local). r may be NULL (no table: everything is local). */
const struct mailbox_route *mailbox_routes_lookup(const struct mailbox_routes *r,
						  const char *address);

size_t mailbox_routes_count(const struct mailbox_routes *r);

/* Writes "local", "lmtp:[host]:port" or "lmtp:unix:/path" into out, for logs. */
void mailbox_route_format(const struct mailbox_route *route, char *out, size_t outlen);

/* Tables are shared by reference: a daemon's reload swaps in a new table while work on its
 * thread pool still reads the old one. Take and drop references on one thread (the loop). */
struct mailbox_routes *mailbox_routes_ref(struct mailbox_routes *r); /* r may be NULL */
/* Drops a reference (the table is freed with the last) and sets *r to NULL. */
void mailbox_routes_free(struct mailbox_routes **r);

#endif
