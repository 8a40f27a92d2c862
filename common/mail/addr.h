/* addr.h - RFC 5321 mailbox and path parsing (pure), with SMTPUTF8 (RFC 6531) support. */
#ifndef MAIL_ADDR_H
#define MAIL_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX  255 /* generous: real-world VERP locals exceed RFC's 64 */
#define ADDR_DOMAIN_MAX 255

struct addr {
	char local[ADDR_LOCAL_MAX + 1]; /* decoded: quotes and backslash escapes removed */
	char domain[ADDR_DOMAIN_MAX +
		    1]; /* lower-cased ASCII; an address literal keeps its brackets */
	bool is_null;   /* the null path <> */
	bool utf8;      /* local or domain has non-ASCII octets (needs SMTPUTF8) */
	bool quoted;    /* local part was a quoted-string */
};

enum addr_flags {
	ADDR_ALLOW_NULL = 1 << 0,         /* accept <> (MAIL FROM) */
	ADDR_ALLOW_UTF8 = 1 << 1,         /* accept UTF-8 in local part and domain */
	ADDR_ALLOW_NO_DOMAIN = 1 << 2,    /* accept "<postmaster>" (RCPT TO, RFC 5321 4.1.1.3) */
	ADDR_ALLOW_SOURCE_ROUTE = 1 << 3, /* accept and discard "@a,@b:" A-d-l (RFC 5321 4.1.2) */
};

/* Parses a path "<local@domain>" (with optional source route) at the start of s.
 * *consumed_r is set to the number of bytes used (up to and including '>').
 * Returns 0, or -1 with *error_r a static description. */
int addr_parse_path(const char *s, size_t len, unsigned flags, struct addr *addr_r,
		    size_t *consumed_r, const char **error_r);

/* Parses a bare mailbox "local@domain" (no brackets) filling all of s. Same returns.
 * With ADDR_ALLOW_NULL an empty s is the null path; with ADDR_ALLOW_NO_DOMAIN "postmaster". */
int addr_parse_mailbox(const char *s, size_t len, unsigned flags, struct addr *addr_r,
		       const char **error_r);

/* Writes the mailbox as it goes on the wire ("local@domain", quoting the local part when
 * needed; "" for the null path). Returns the length it needed (snprintf-like). */
size_t addr_format(const struct addr *a, char *out, size_t outlen);

/* The account name of a mailbox, the one key of users_file, of every login and of local
 * delivery: a's local part with ASCII lower-cased (in place), then addr_format. Quoting is
 * syntax, not identity: "john"@d and john@d are one account, "john smith"@d is written with
 * its quotes, and "\"john smith\""@d is another one. Returns the length like addr_format. */
size_t addr_account_name(struct addr *a, char *out, size_t outlen);

/* The account name a login name stands for, for every login (SMTP AUTH, IMAP LOGIN and
 * AUTHENTICATE): login parsed as a mailbox and put through addr_account_name into out; a name
 * that is no address, or does not fit, is returned as it is (it then fails like an unknown
 * user). Returns out or login. */
const char *addr_login_name(const char *login, char *out, size_t outlen);

/* Validates a domain name (or [address-literal]); lower-cases ASCII in place. Returns 0/-1. */
int addr_check_domain(char *domain, bool allow_utf8, const char **error_r);

#endif
