/* client_names.h - inbound clients' names (PTR, forward-confirmed) by address: one lookup per address at a time, answers kept for a while. */
#ifndef MTA_CLIENT_NAMES_H
#define MTA_CLIENT_NAMES_H

#include "dns.h"

#include <stdint.h>

#define CLIENT_NAMES_SLOTS    1024  /* addresses remembered (a direct-mapped table) */
#define CLIENT_NAMES_KEEP_MS  60000 /* a name found, or no PTR record: kept this long */
#define CLIENT_NAMES_RETRY_MS 10000 /* a failed or timed-out lookup: asked again after this */

struct client_names;

struct client_names *client_names_new(uv_loop_t *loop, struct dns *dns);

/* Frees the table. Call after dns_free (whose cancellations reach the waiting callers). */
void client_names_free(struct client_names **cn);

/* The name of addr. Returns 1 with *hit set (valid until the next call)
 * when a recent answer is known; 0 when cb(arg) will be called once with the answer (a lookup
 * already running for addr is shared, not repeated); -1 when no lookup can be made. */
int client_names_lookup(struct client_names *cn, const struct sockaddr *addr,
			const struct dns_ptr_result **hit, dns_ptr_cb cb, void *arg);

/* Lookups sent to the resolver so far (for tests and stats). */
uint64_t client_names_lookups(const struct client_names *cn);

#endif
