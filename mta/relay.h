/* relay.h - outbound delivery of one message to one destination: MX lookup (or smarthost), then SMTP to each address in order; or LMTP to a mailbox back end. */
#ifndef MAIL_RELAY_H
#define MAIL_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "mailbox_routes.h"
#include "mime_7bit.h"
#include "mtad.h"
#include "queue_file.h"
#include "mx.h"
#include "mta_sts.h"
#include "smtp_client.h"
#include "tls_policy.h"

struct dane_host;

struct relay;
struct relay_dest;

#define RELAY_IDLE_MAX 8 /* idle connections kept per destination */

enum relay_outcome_kind { RELAY_SENT, RELAY_TEMP, RELAY_PERM };

struct relay_outcome {
	enum relay_outcome_kind kind;
	int code; /* reply code, or 0 */
	char text[512];
	bool dsn;     /* sent to a server that offered DSN (it sends any further notices) */
	char tls[96]; /* "tls=verified, tls_policy=verify/file:3" for the delivery log line */
};

/* One message to the recipients of one domain, or of one LMTP back end (mailbox_routes). */
struct relay_delivery {
	const struct queue_envelope *env;
	const char *msg;
	size_t msg_len;
	char domain[256]; /* LMTP: the route as text, "lmtp:[host]:port" */
	bool lmtp;        /* to route's back end by LMTP instead of the domain's MX */
	struct mailbox_route route;
	size_t *idx; /* indexes into env->rcpts (owned by the caller) */
	size_t n;
	struct relay_outcome *out; /* n entries, filled (owned by the caller) */
	char remote[300];          /* the host that answered last */
	void (*done)(struct relay_delivery *d, void *arg);
	void *arg;
	/* private */
	struct relay *r;
	struct dns_host *hosts;
	size_t n_hosts, host_i, addr_i;
	uint16_t port;
	const char **rcpt_ptrs;
	unsigned *rcpt_notify;
	const char **rcpt_orcpt;
	struct smtp_client_job job;
	struct smtp_client_result last_host_error;
	struct relay_dest *dest;
	struct relay_delivery *wait_next;
	struct mime_8bit_info content; /* scanned once per delivery */
	bool utf8_envelope;            /* the sender or a recipient is not ASCII */
	/* outbound TLS (docs/outbound-tls.md) */
	struct tls_policy policy;       /* the effective policy and its source */
	char policy_desc[48];           /* "verify/file:3" */
	bool requiretls;                /* the message carries REQUIRETLS (RFC 8689) */
	struct dane_host *dane;         /* per host when DANE applies, else NULL */
	struct smtp_client_tls tls_req; /* what the host being tried must offer */
	const char *tls_names[2];
	char tls_subdomains[MX_NAME_MAX + 4]; /* ".domain" for secure */
	bool tls_failed;                      /* the last host failure was the TLS policy's */
	struct mta_sts_policy sts; /* the domain's MTA-STS policy (mode none: no policy) */
};

/* Creates the outbound side (resolver, TLS client context). NULL with err on failure. */
struct relay *relay_new(struct mtad *m, char *err, size_t errlen);
void relay_free(struct relay **r);

/* Re-reads relay_tls_policy_file when it changed (logged). Returns 1 when reloaded. */
int relay_reload_tables(struct relay *r);

/* The TLS policy that applies to mail for domain now (the smarthost's when one is set): the
 * hook MTA-STS extends with its own source. */
struct tls_policy relay_tls_policy_for(struct relay *r, const char *domain);

/* The TLS-RPT counts and reports (mailctl tlsrpt send). */
struct tlsrpt_reporter *relay_tlsrpt(struct relay *r);
/* The MTA-STS policy cache (mailctl mta-sts refresh). */
struct mta_sts_client *relay_mta_sts(struct relay *r);

/* Starts d; d->done runs exactly once, later. */
void relay_deliver(struct relay *r, struct relay_delivery *d);

#endif
