/* tls_policy.h - the outbound TLS policy of a destination: relay_tls_policy_file (parsed, re-read when changed), relay_tls_security, and where the effective level came from. */
#ifndef MAIL_TLS_POLICY_H
#define MAIL_TLS_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "fileutil.h"
#include "tls_level.h"

/* One line of the policy file: "example.com verify", ".example.com secure" (subdomains),
 * "[mx.example.com] encrypt" (a next hop named as a host: the smarthost). */
struct tls_policy_entry {
	char *dest;      /* lower case, without brackets or a leading dot */
	bool host;       /* written [host] */
	bool subdomains; /* written .domain */
	enum tls_level level;
	unsigned line;
};

struct tls_policy_table {
	struct tls_policy_entry *entries;
	size_t n;
};

/* Where the effective level came from (logged as policy=LEVEL/SOURCE). */
enum tls_policy_source {
	TLS_SOURCE_DEFAULT,         /* relay_tls_security */
	TLS_SOURCE_FILE,            /* a line of relay_tls_policy_file */
	TLS_SOURCE_REQUIRETLS,      /* the message asked for REQUIRETLS (RFC 8689) */
	TLS_SOURCE_TLS_REQUIRED_NO, /* "TLS-Required: No" set aside the published (DANE) policy */
	TLS_SOURCE_MTA_STS,         /* the domain's MTA-STS policy in mode enforce (RFC 8461) */
	TLS_SOURCE_MTA_STS_TESTING, /* ... in mode testing: failures are logged only */
};

struct tls_policy {
	enum tls_level level;
	enum tls_policy_source source;
	unsigned line; /* TLS_SOURCE_FILE: the line */
};

/*
 * Parses a policy file (pure): lines "DESTINATION LEVEL", blank lines and '#' comments
 * ignored; DESTINATION is a domain, ".domain" (its subdomains) or "[host]"; LEVEL one of the
 * tls_level words. A later line for the same destination wins. Returns 0 with *out filled
 * (free with tls_policy_table_free), or -1 with err "NAME:LINE: reason" and *out empty.
 */
int tls_policy_parse(const char *name, const char *text, size_t len, struct tls_policy_table *out,
		     char *err, size_t errlen);
void tls_policy_table_free(struct tls_policy_table *t);

/*
 * The policy for a delivery. domain: the recipients' domain (NULL for the smarthost);
 * host: the smarthost's name when mail goes there (NULL otherwise). Order: "[host]" for a
 * smarthost, else the exact domain, else the closest ".parent" entry, else def.
 */
struct tls_policy tls_policy_lookup(const struct tls_policy_table *t, const char *domain,
				    const char *host, enum tls_level def);

/* "verify/file:3", "may/default", "verify/requiretls" for log lines and reasons. */
void tls_policy_describe(const struct tls_policy *p, char *out, size_t outlen);

/* The table file as mtad keeps it: loaded at start, re-read when its stamp changes. */
struct tls_policy_file {
	char *path; /* NULL: no file */
	struct tls_policy_table table;
	struct file_stamp stamp;
};

/* Loads path (NULL: an empty table). Returns 0, or -1 with err (the table stays empty). */
int tls_policy_file_load(struct tls_policy_file *f, const char *path, char *err, size_t errlen);
/* Re-reads the file when it changed: 1 reloaded, 0 unchanged, -1 with err (old table kept). */
int tls_policy_file_reload(struct tls_policy_file *f, char *err, size_t errlen);
void tls_policy_file_free(struct tls_policy_file *f);

#endif
