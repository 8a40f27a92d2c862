/* mta_sts_client.h - the sending side of MTA-STS (RFC 8461): a domain's policy from its _mta-sts record, fetched over HTTPS and cached under state_dir/mta-sts. */
#ifndef MAIL_MTA_STS_CLIENT_H
#define MAIL_MTA_STS_CLIENT_H

#include "mta_sts.h"
#include "tlsrpt.h"

#include <stdbool.h>
#include <time.h>
#include <uv.h>

struct config;
struct dns;
struct mta_sts_client;

#define MTA_STS_CACHE_MAX        1000    /* policies held in memory (least recently used go) */
#define MTA_STS_REFRESH_CHECK_MS 3600000 /* how often cached policies are checked for refresh */

/* The outcome of mta_sts_client_get: p NULL when the domain has no usable policy, with why
 * ("" when it publishes none; else the reason, e.g. a failed fetch, worth a log line).
 * p is valid during the call only. fail: when the domain publishes a record but no policy could
 * be had, the TLS-RPT result type (sts-policy-fetch-error, -invalid, sts-webpki-invalid), else
 * TLSRPT_NOT_COUNTED. */
typedef void mta_sts_cb(void *arg, const struct mta_sts_policy *p, const char *why,
			enum tlsrpt_result fail);

struct mta_sts_client *mta_sts_client_new(uv_loop_t *loop, struct dns *dns,
					  const struct config *cfg);
/* Call after every mta_sts_client_get has called back (the relay is drained); background
 * refreshes still running keep the client until they end. */
void mta_sts_client_free(struct mta_sts_client **c);

/*
 * The policy of domain: TXT _mta-sts.DOMAIN (through dns); a policy in memory or in the disk
 * cache with the same id and not expired is used as is, else it is fetched from
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt (the name resolved through dns and handed to
 * libcurl, the certificate verified against relay_tls_ca_file or the system CAs, no
 * redirects, at most 64 KiB of text/plain) on the thread pool, and cached for max_age. When
 * the TXT record is missing, a policy in memory that has not expired is still used (RFC 8461
 * 5.1; the disk cache is read only when the record exists). cb runs exactly once, later. Returns 0, or -1 when nothing was started.
 */
int mta_sts_client_get(struct mta_sts_client *c, const char *domain, mta_sts_cb *cb, void *arg);

/* The policy of domain held in memory and not expired, else NULL (no lookup). Valid until
 * the next return to the loop. */
const struct mta_sts_policy *mta_sts_client_cached(struct mta_sts_client *c, const char *domain);

/*
 * Background refresh (RFC 8461 5.1, 10.2): refetches every cached policy (not expired) that is
 * due, i.e. half its max_age or a day has passed since it was fetched; all: every cached one
 * now (mailctl mta-sts refresh). A failed refresh keeps the cached policy until it expires.
 * Runs by itself every MTA_STS_REFRESH_CHECK_MS. Returns how many refreshes were started.
 */
unsigned mta_sts_client_refresh(struct mta_sts_client *c, bool all);

/* The memory cache, for tests: the policy of domain as if just fetched (the least recently
 * used entry beyond the bound goes), the number held, and another bound. */
void mta_sts_client_remember(struct mta_sts_client *c, const char *domain, const char *id,
			     time_t expires, const struct mta_sts_policy *p);
size_t mta_sts_client_count(const struct mta_sts_client *c);
void mta_sts_client_set_max(struct mta_sts_client *c, size_t max);

#endif
