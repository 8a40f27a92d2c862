/* dns_records.h - the DNS records a mail domain needs: built from the configuration, and read back from DNS replies. */
#ifndef MAIL_DNS_RECORDS_H
#define MAIL_DNS_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"

/* How a published record is compared with the one we print (mailctl dns --check). */
enum dns_match {
	DNS_MATCH_EXACT, /* some record equals ours (names and hex case-insensitive, blanks
			  * after ';' in TXT ignored) */
	DNS_MATCH_MX,    /* some MX names our host, whatever its preference */
	DNS_MATCH_DKIM,  /* some TXT carries our key (its p= value) */
};

/* One resource record in presentation form. */
struct dns_record {
	char *name;       /* owner, fully qualified with the trailing dot */
	int type;         /* ns_t_mx, ns_t_txt, ... */
	char *rdata;      /* "10 mail.example.org.", a TXT's text unquoted (strings joined) */
	const char *what; /* what it is for: "MX", "SPF", "DMARC", "DKIM", "MTA-STS", ... */
	enum dns_match match;
};

struct dns_records {
	struct dns_record *items;
	size_t n;
	char *comments; /* advice printed after the records: "; ..." lines, '\n'-terminated */
};

/* What the builder takes from files (dns_records_load_inputs), kept apart so that the builder
 * is pure. */
struct dns_records_inputs {
	char tlsa[65];    /* SHA-256 of the certificate's SubjectPublicKeyInfo, hex; "" if none */
	bool self_signed; /* the certificate is its own issuer */
	char *cert_error; /* why there is no TLSA record (malloc'd), or NULL */
	char *dkim_selector; /* malloc'd, NULL when no OpenDKIM key is configured for the domain */
	char *dkim_key;      /* base64 DER public key (p= value), malloc'd */
	char *dkim_note;     /* why there is no DKIM record (malloc'd), or NULL */
};

/* Reads the current certificate (tls_cert, else state_dir/tls/cert.pem) and the domain's
 * OpenDKIM key (opendkim_conf). Missing files are not errors: the reasons land in
 * cert_error and dkim_note. */
void dns_records_load_inputs(const struct config *cfg, const char *domain,
			     struct dns_records_inputs *in);
void dns_records_inputs_free(struct dns_records_inputs *in);

/* Builds the records of domain (one of cfg->domains, lower-case): MX, SPF, DMARC, DKIM,
 * MTA-STS, TLS-RPT, TLSA 3 1 1 for port 25 of hostname, RFC 6186 SRV records of the
 * configured listeners, autoconfig/autodiscover/mta-sts names; PTR advice in comments.
 * Pure. */
void dns_records_build(const struct config *cfg, const char *domain,
		       const struct dns_records_inputs *in, struct dns_records *out);
void dns_records_free(struct dns_records *r);

/* The MTA-STS policy file (RFC 8461) for the domain: "version: STSv1\r\nmode: ...". Its id is
 * derived from its text, so it changes exactly when the policy does. Appends to out. */
void dns_records_mta_sts_policy(const struct config *cfg, bool enforce, struct buf *out);

/* Appends one record as a zone-file line ("NAME 3600 IN TYPE RDATA\n"), TXT text quoted and
 * split into strings of at most 255 octets. */
void dns_record_format(const struct dns_record *r, struct buf *out);

/* "MX", "TXT", "TLSA", ... */
const char *dns_type_name(int type);

/* Parses a DNS reply message (pure): the rdata of every answer record of the given type, in
 * the presentation form dns_records_build uses. *rdata_r is a malloc'd array of malloc'd
 * strings (free with dns_rdata_free). Returns the count (0 and more), or -1 with *error_r set
 * for a malformed message. */
long dns_answer_parse(const unsigned char *msg, size_t len, int type, char ***rdata_r,
		      const char **error_r);
void dns_rdata_free(char **rdata, long n);

/* Does a published rdata satisfy ours? */
bool dns_record_matches(const struct dns_record *r, const char *published);

/* Parses an opendkim.conf text (pure) for domain's signing key: a KeyTable given as a plain
 * file ("KeyTable /path" or "file:/path") is not read here; *keytable_r gets its path. Else
 * Domain (a list, or absent: any domain), Selector and KeyFile give *selector_r and
 * *keyfile_r. Returns 1 found (malloc'd strings), 0 nothing for this domain. */
int dns_records_opendkim_conf(const char *text, size_t len, const char *domain, char **selector_r,
			      char **keyfile_r, char **keytable_r);

/* Parses an OpenDKIM KeyTable text (pure): "NAME DOMAIN:SELECTOR:KEYFILE" lines. Returns 1 with
 * the first entry of domain (malloc'd strings), else 0. */
int dns_records_opendkim_keytable(const char *text, size_t len, const char *domain,
				  char **selector_r, char **keyfile_r);

#endif
