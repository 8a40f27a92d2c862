/* deliver.h - local delivery: recipient resolution (aliases, plus-addressing) and one message
 * into one Maildir. Used by mtad (on its thread pool) and by the deliver program. */
#ifndef MAIL_DELIVER_H
#define MAIL_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "accounts.h"

enum delivery_status {
	DELIVERY_OK = 0,
	DELIVERY_TEMPFAIL,     /* try again later (disk full, permission, I/O) */
	DELIVERY_PERMFAIL,     /* will never work (bounce) */
	DELIVERY_UNKNOWN_USER, /* no such local account or alias */
};

/* aliases_file: "alias@domain: target[, target...]" ('#' comments, continuation lines that
 * start with white space). Targets are addresses (local or remote). */
struct aliases;
struct aliases *aliases_load(const char *path, char *err, size_t errlen); /* NULL + err */
struct aliases *aliases_parse(const char *name, const char *text, size_t len, char *err,
			      size_t errlen);
int aliases_reload_if_changed(struct aliases **al, char *err, size_t errlen); /* 1/0/-1 */
void aliases_free(struct aliases **al);

/* The tables a delivering daemon keeps (mtad, lmtpd): re-reads users_file and, when *al is
 * set, aliases_file if they changed, logging what happened. Returns 1 when either was
 * reloaded, else 0 (a failed reload keeps the old table and is logged). */
struct accounts;
int delivery_tables_reload(struct accounts **acc, struct aliases **al);

/* One alias target as written in the file; domain is "" for a bare local part, which is
 * relative to the domain of the address being resolved. */
struct alias_target {
	const char *local;
	const char *domain;
	bool quoted; /* the local part was written as a quoted-string */
};

/* Exact lookup of a lower-cased key: "local@domain", or a bare "local" (a key written without
 * a domain applies in every local domain). Returns the targets (owned by al; the pointer
 * identifies the entry) and their count in *n_r, or NULL. al may be NULL (no aliases). */
const struct alias_target *aliases_lookup(const struct aliases *al, const char *key, size_t *n_r);

/* Parses "local@domain" or a bare local part (domain ""), as the aliases file and the
 * deliver program accept them; the one address grammar is addr_parse_mailbox's.
 * Returns 0, or -1 with *error_r a static description. */
int delivery_parse_address(const char *s, size_t len, struct addr *addr_r, const char **error_r);

/* One final recipient after resolution. */
struct delivery_target {
	struct addr
		addr; /* local: the account (plus-detail removed, lower-cased); remote: as given */
	bool local;   /* true: deliver into the store; false: relay */
};

/* Resolves one envelope recipient: lower-cases, strips "+detail" (any character of
 * cfg->recipient_delimiter; "" disables) for lookups, expands aliases recursively (full
 * address before the stripped one; loops and depth > 20 are errors, duplicates removed; an
 * alias naming itself means the account too), and checks local accounts exist (an unknown
 * local alias target makes the whole recipient DELIVERY_UNKNOWN_USER). A recipient without
 * a domain is taken in the first local domain. Remote addresses pass through (local=false).
 * Returns DELIVERY_OK with a malloc'd array in *targets_r (caller frees), or
 * DELIVERY_UNKNOWN_USER / DELIVERY_PERMFAIL (alias loop) with err set. */
enum delivery_status delivery_resolve(const struct config *cfg, const struct accounts *acc,
				      const struct aliases *al, const struct addr *rcpt,
				      struct delivery_target **targets_r, size_t *n_r, char *err,
				      size_t errlen);

/* One message into one local mailbox. */
struct delivery_request {
	const struct config *cfg;
	const struct addr *rcpt; /* resolved local account */
	const char *sender;      /* envelope sender as on the wire, "" for <> */
	const char *unique;      /* Maildir unique part, e.g. "Q<queueid>R<n>"; NULL: generate */
	bool check_existing;     /* after a crash: skip if a file with this unique exists */
	const char *msg;         /* message bytes (CRLF line endings) */
	size_t msg_len;
	int64_t arrival; /* seconds: Maildir name time */
	uint64_t quota;  /* the account's storage limit in bytes (delivery_quota_limit), 0 = none */
};

/* Writes Return-Path: <sender> and Delivered-To: <rcpt> then the message into
 * state_dir/mail/DOMAIN/LOCAL/ (created on first delivery), when it fits req->quota
 * (delivery_quota_check: TEMPFAIL "4.2.2 mailbox full", PERMFAIL "5.2.2" for a message larger
 * than the whole quota), and adds it to the account's usage (common/maildir/quota.h). Returns DELIVERY_OK (also when
 * check_existing found it already delivered), DELIVERY_TEMPFAIL or DELIVERY_PERMFAIL with
 * err set. Blocking: call from a worker thread. */
enum delivery_status delivery_maildir(const struct delivery_request *req, char *err, size_t errlen);

/* quota.c */
/* The storage limit in bytes of local account a (0 = none): its userdb_quota_rule in the
 * users file, else cfg->default_quota. */
uint64_t delivery_quota_limit(const struct config *cfg, const struct accounts *acc,
			      const struct addr *a);
/* Does a message of size bytes fit the Maildir's limit (0 = none)? DELIVERY_OK (also when the
 * usage cannot be read), DELIVERY_TEMPFAIL (err "4.2.2 mailbox full: ...") or
 * DELIVERY_PERMFAIL (err "5.2.2 ...": larger than the limit itself). rcpt names the account
 * in err. Blocking (reads maildirsize, may recount). */
enum delivery_status delivery_quota_check(const char *maildir, const char *rcpt, uint64_t limit,
					  uint64_t size, char *err, size_t errlen);

#endif
