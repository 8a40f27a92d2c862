/* dnssec.h - DNSSEC-validated lookups (MX, A/AAAA, TLSA for DANE) with libunbound on a libuv loop. */
#ifndef MAIL_DNSSEC_H
#define MAIL_DNSSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "config.h"

/*
 * libunbound validates every answer itself against the trust anchor (dnssec_trust_anchor:
 * Debian's root key by default). It does not iterate from the root: it forwards its queries to
 * the resolvers of dns_servers (the same ones c-ares uses), or those of /etc/resolv.conf when
 * dns_servers is empty, and checks the signatures they pass on. A resolver that strips
 * DNSSEC records makes every signed answer bogus: deliveries that need DANE then defer rather
 * than trust an unvalidated answer (docs/outbound-tls.md).
 */

enum dnssec_status {
	DNSSEC_SECURE,   /* validated: the answer (data, NODATA or NXDOMAIN) is proven */
	DNSSEC_INSECURE, /* provably unsigned (an insecure delegation) */
	DNSSEC_BOGUS,    /* signatures missing or wrong where they must be: an attack or an error */
	DNSSEC_FAIL,     /* SERVFAIL, timeout, resolver error: try later */
	DNSSEC_CANCELLED, /* dnssec_free ran first */
};

/* One answer, valid only during the callback. */
struct dnssec_answer {
	enum dnssec_status status;
	const char *qname;
	int rrtype;
	bool nxdomain;
	size_t n;                         /* records of the type asked (0: NODATA/NXDOMAIN) */
	const unsigned char *const *data; /* their RDATA in wire form */
	const int *len;
	const char *why; /* why bogus or failed, "" otherwise */
};

typedef void (*dnssec_cb)(const struct dnssec_answer *a, void *arg);

struct dnssec;

/* A validating resolver on loop. Returns NULL with err set (a trust anchor that cannot be
 * read, an unusable forwarder). Reads files synchronously: call at start. */
struct dnssec *dnssec_new(uv_loop_t *loop, const struct config_hostport_list *servers,
			  const char *trust_anchor, char *err, size_t errlen);

/* Every query not yet answered gets DNSSEC_CANCELLED, here; then *d is NULL. */
void dnssec_free(struct dnssec **d);

/* Asks for name/rrtype (class IN). cb runs exactly once, later, on the loop. Returns 0, or -1
 * (no callback) when the query cannot be started. */
int dnssec_query(struct dnssec *d, const char *name, int rrtype, dnssec_cb cb, void *arg);

/* "secure", "insecure", "bogus", "failed", "cancelled". */
const char *dnssec_status_name(enum dnssec_status s);

/* Decodes a domain name in wire form at data[off..len) (no compression, as libunbound gives
 * RDATA) into text without the trailing dot ("" for the root). Returns the bytes used, or -1.
 * Pure. */
int dnssec_wire_name(const unsigned char *data, size_t len, size_t off, char *out, size_t outlen);

#endif
