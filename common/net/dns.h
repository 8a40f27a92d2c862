/* dns.h - asynchronous MX, A/AAAA and PTR resolution (relay, inbound clients): c-ares on a libuv loop. */
#ifndef MAIL_DNS_H
#define MAIL_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "config.h"
#include "mx.h"

#define DNS_MAX_MX    10 /* mail exchangers kept per domain, the most preferred */
#define DNS_MAX_ADDRS 10 /* addresses kept per host, IPv6 and IPv4 interleaved */

enum dns_status {
	DNS_OK,       /* at least one host has an address */
	DNS_NULL_MX,  /* the domain publishes a null MX (RFC 7505): it accepts no mail; permanent */
	DNS_NXDOMAIN, /* the domain does not exist (or its name is invalid); permanent */
	DNS_NOHOST,   /* no host has an address and no lookup failed temporarily; permanent */
	DNS_TEMPFAIL, /* SERVFAIL, REFUSED, timeout, network error: try again later */
	DNS_CANCELLED, /* dns_free was called before the lookup finished */
};

/* One mail exchanger (or the one host of dns_lookup_host) with its addresses. */
struct dns_host {
	char name[MX_NAME_MAX + 1]; /* as published, no trailing dot */
	unsigned preference;        /* MX preference; 0 for an implicit MX or a host lookup */
	struct sockaddr_storage addrs[DNS_MAX_ADDRS]; /* AF_INET6/AF_INET, port 0 */
	size_t n_addrs;
	bool tempfail;   /* an A or AAAA lookup failed temporarily: the addresses
					 * may be incomplete (or absent); count it as a 4xx */
	char error[160]; /* why addresses are missing or may be incomplete
					 * ("A: ...; AAAA: ..."); "" otherwise */
};

/* A finished lookup. Owned by the library and valid only during the callback: copy what
 * you keep. */
struct dns_result {
	enum dns_status status;
	const char *error; /* human-readable reason; "" for DNS_OK */
	const char *query; /* the domain or host name asked for */
	bool implicit_mx;  /* the domain has no MX records: hosts[0] is the domain itself */
	const struct dns_host *hosts; /* in the order to try them; also when status != DNS_OK,
					 * for logging (hosts with n_addrs == 0 are kept) */
	size_t n_hosts;
};

typedef void (*dns_mx_cb)(const struct dns_result *res, void *arg);
typedef void (*dns_host_cb)(const struct dns_result *res, void *arg);

struct dns_options {
	unsigned timeout_ms; /* per try; 0 = the system's (resolv.conf or c-ares) */
	unsigned tries;      /* per server; 0 = the system's */
	mx_random_fn random; /* shuffles equal MX preferences; NULL = internal PRNG */
	void *random_arg;
};

struct dns;

/* Creates a resolver on loop. servers: the dns_servers key (IP literals with ports); an empty
 * list (or NULL) uses the system resolver configuration (/etc/resolv.conf). Reads the system
 * configuration synchronously (startup only). Returns NULL with err set on failure. */
struct dns *dns_new(uv_loop_t *loop, const struct config_hostport_list *servers, char *err,
		    size_t errlen);
/* The same with options (timeouts for tests, a deterministic shuffle). opts may be NULL. */
struct dns *dns_new_opts(uv_loop_t *loop, const struct config_hostport_list *servers,
			 const struct dns_options *opts, char *err, size_t errlen);

/* Sets *d to NULL, then: every lookup not yet reported has its callback run once, right here,
 * with DNS_CANCELLED; lookups started from those callbacks fail at once (return -1). The uv
 * handles close asynchronously: run the loop afterwards so their memory is released. May be
 * called from a lookup callback. NULL or *d == NULL does nothing. */
void dns_free(struct dns **d);

/* Resolves the mail exchangers of domain per RFC 5321 5.1: MX records sorted by preference,
 * equal preferences shuffled, capped at DNS_MAX_MX, each with its A and AAAA addresses
 * (looked up in parallel, capped at DNS_MAX_ADDRS). No MX records: the domain itself is the
 * implicit MX. A domain literal "[1.2.3.4]" / "[IPv6:...]" is its own single host.
 * Statuses: DNS_OK (some host has an address), DNS_NULL_MX, DNS_NXDOMAIN, DNS_NOHOST,
 * DNS_TEMPFAIL, DNS_CANCELLED.
 * Either returns -1 (the resolver is being freed; cb is never called) or returns 0 and calls
 * cb exactly once, later, from the loop (never from within this call). */
int dns_lookup_mx(struct dns *d, const char *domain, dns_mx_cb cb, void *arg);

/* Resolves one host name (a smarthost) to its A and AAAA addresses: one host in the result
 * (preference 0). An IP literal ("192.0.2.1", "2001:db8::1", "[2001:db8::1]") resolves
 * without DNS, still through cb on a later loop iteration. Statuses: DNS_OK, DNS_NOHOST (no
 * such name, or no address), DNS_TEMPFAIL, DNS_CANCELLED. Same calling contract. */
int dns_lookup_host(struct dns *d, const char *name, dns_host_cb cb, void *arg);

/* A finished reverse lookup (dns_lookup_ptr). Valid only during the callback. */
struct dns_ptr_result {
	enum dns_status status; /* DNS_OK: a PTR name was found (confirmed or not); DNS_NOHOST:
				 * no PTR record (or an invalid name); DNS_TEMPFAIL; DNS_CANCELLED */
	const char *error;      /* why there is no (confirmed) name; "" when confirmed */
	const char *ptr_name;   /* the first PTR name, no trailing dot, not verified; "" if none */
	bool confirmed;         /* forward-confirmed (FCrDNS): ptr_name's A/AAAA records include the
			 * address */
};

typedef void (*dns_ptr_cb)(const struct dns_ptr_result *res, void *arg);

/* Looks up the PTR name of addr (AF_INET or AF_INET6; IPv4-mapped IPv6 counts as IPv4), then
 * the name's A and AAAA records, which must include addr for the name to be confirmed. Same
 * calling contract as dns_lookup_mx (returns -1 for an unusable address too). */
int dns_lookup_ptr(struct dns *d, const struct sockaddr *addr, dns_ptr_cb cb, void *arg);

/* A finished query of any record type (dns_lookup_raw). Valid only during the callback. */
struct dns_raw_result {
	enum dns_status status; /* DNS_OK: answer holds the whole DNS reply (which may still hold
				 * only records of other types, e.g. a CNAME); DNS_NOHOST: the name
				 * has no record of this type; DNS_NXDOMAIN; DNS_TEMPFAIL;
				 * DNS_CANCELLED */
	const char *error;      /* "" for DNS_OK */
	const char *query;
	int type;                    /* ns_t_txt, ns_t_tlsa, ... as asked */
	const unsigned char *answer; /* the reply message as received (parse it with
				      * dns_records.h's dns_answer_parse) */
	size_t len;
};

typedef void (*dns_raw_cb)(const struct dns_raw_result *res, void *arg);

/* Queries name for records of type (class IN), without following anything: for tools that
 * check what a zone publishes (mailctl dns --check). Same calling contract as dns_lookup_mx. */
int dns_lookup_raw(struct dns *d, const char *name, int type, dns_raw_cb cb, void *arg);

/* The reverse lookup name of addr: "4.3.2.1.in-addr.arpa" or the 32 nibbles of ip6.arpa
 * (IPv4-mapped IPv6 as IPv4). Returns 0, or -1 for another family or a short buffer. */
int dns_reverse_name(const struct sockaddr *addr, char *out, size_t outlen);

/* True when addr (IPv4-mapped IPv6 as IPv4; port ignored) is among h's addresses. */
bool dns_host_has_addr(const struct dns_host *h, const struct sockaddr *addr);

/* "ok", "null MX", ... for logs. */
const char *dns_status_str(enum dns_status status);

#endif
