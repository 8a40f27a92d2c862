/* dane.h - DANE for SMTP (RFC 7672): the DNSSEC-validated MX, address and TLSA lookups of a destination, and the TLSA record parser. */
#ifndef MAIL_DANE_H
#define MAIL_DANE_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "dnssec.h"
#include "tls.h"

#define DANE_TLSA_MAX      8  /* records kept per host */
#define DANE_TLSA_DATA_MAX 64 /* SHA-512; a full certificate (matching type 0) is unusable here */

/*
 * Parses the RDATA of one TLSA record (RFC 6698 2.1: usage, selector, matching type, data).
 * Pure. Returns 1 when usable for SMTP (RFC 7672 3.1: usage DANE-TA(2) or DANE-EE(3), selector
 * Cert(0) or SPKI(1), matching type SHA2-256(1) with 32 bytes or SHA2-512(2) with 64), 0 when
 * well-formed but unusable (PKIX usages, Full(0) matching, unknown values), -1 when malformed
 * (under 4 bytes, a digest of the wrong length). *out borrows rdata.
 */
int dane_tlsa_parse(const unsigned char *rdata, size_t len, struct tls_tlsa *out);

/* What the TLSA lookup of one MX host found. */
enum dane_tlsa_state {
	DANE_TLSA_NONE,   /* no secure TLSA records (NODATA, NXDOMAIN, insecure zone or address) */
	DANE_TLSA_USABLE, /* secure records, some usable: authenticate by them */
	DANE_TLSA_UNUSABLE, /* secure records, none usable: TLS without authentication */
	DANE_TLSA_FAILED,   /* bogus or failed lookup: this host must not be used */
};

struct dane_host {
	enum dane_tlsa_state state;
	struct tls_tlsa tlsa[DANE_TLSA_MAX];
	unsigned char data[DANE_TLSA_MAX][DANE_TLSA_DATA_MAX];
	size_t n_tlsa;
	char why[200]; /* DANE_TLSA_FAILED: the reason */
};

enum dane_status {
	DANE_OK,          /* hosts (some with addresses), the MX RRset secure */
	DANE_MX_INSECURE, /* the MX RRset is not signed: DANE does not apply (RFC 7672 2.2.1) */
	DANE_BOGUS,       /* the MX lookup did not validate: defer */
	DANE_TEMPFAIL,
	DANE_NXDOMAIN,
	DANE_NULL_MX,
	DANE_NOHOST,
	DANE_CANCELLED,
};

struct dane_result {
	enum dane_status status;
	const char *why;
	const struct dns_host *hosts; /* in the order to try them */
	const struct dane_host *dane; /* one per host */
	size_t n_hosts;
};

typedef void (*dane_cb)(const struct dane_result *res, void *arg);

/* Resolves domain's MX hosts, their addresses and their TLSA records (_25._tcp.HOST), all
 * validated. cb runs exactly once, later. Returns 0, or -1 (no callback). */
int dane_resolve(struct dnssec *dnssec, const char *domain, dane_cb cb, void *arg);

#endif
