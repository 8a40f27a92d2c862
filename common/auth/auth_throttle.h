/* auth_throttle.h - per-client-address authentication failure accounting: delays and blocks. */
#ifndef MAIL_AUTH_THROTTLE_H
#define MAIL_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

/* Replies for a blocked client, in one place for both daemons. */
#define AUTH_THROTTLE_SMTP_REPLY "454 4.7.0 Too many authentication failures, try again later"
#define AUTH_THROTTLE_IMAP_REPLY \
	"NO [UNAVAILABLE] Too many authentication failures, try again later"

/* Longest key auth_throttle_key() writes, with its NUL. */
#define AUTH_THROTTLE_KEY_SIZE     64
/* Upper bound of block_failures (it sizes each entry's ring of timestamps). */
#define AUTH_THROTTLE_FAILURES_MAX 1000

struct auth_throttle_config {
	size_t max_entries;      /* addresses tracked; the least recently failed goes first */
	unsigned block_failures; /* more failures than this within window blocks ... */
	time_t window;           /* ... (seconds) */
	time_t block_time;       /* for this long (seconds) */
	unsigned delay_max;      /* cap of the per-failure delay (seconds) */
	unsigned ipv6_prefix;    /* auth_throttle_key() groups IPv6 clients by this prefix */
};

/* One table per daemon, used from its event loop thread only (no locking). */
struct auth_throttle;

/* Defaults: 10,000 addresses; more than 10 failures in 10 minutes blocks for 10 minutes;
 * delays 0, 1, 2, 4, 8, 15, 15 ... seconds; IPv6 grouped by /64. */
void auth_throttle_config_default(struct auth_throttle_config *cfg);

/* Creates a table (cfg NULL: defaults). Values out of range are clamped: max_entries >= 1,
 * 1 <= block_failures <= AUTH_THROTTLE_FAILURES_MAX, ipv6_prefix <= 128. */
struct auth_throttle *auth_throttle_new(const struct auth_throttle_config *cfg);
void auth_throttle_free(struct auth_throttle **t);

/* All functions below take the current time from the caller (seconds, any monotonic or wall
 * clock, the same one throughout) and do no I/O. key is any string naming the client, normally
 * from auth_throttle_key(); keys longer than AUTH_THROTTLE_KEY_SIZE - 1 are truncated. */

/* True when key may not try to authenticate now; *remaining_r (if not NULL) gets the seconds
 * until it may (0 when not blocked). */
bool auth_throttle_blocked(struct auth_throttle *t, const char *key, time_t now,
			   time_t *remaining_r);

/* Records one failed authentication. Returns the delay in seconds to wait before sending the
 * failure reply: 0 for the first failure in a row, then 1, 2, 4 ... up to delay_max. A row ends
 * with a success or after window seconds without failure. The failure that makes the count
 * within window exceed block_failures starts a block of block_time seconds. */
unsigned auth_throttle_failure(struct auth_throttle *t, const char *key, time_t now);

/* Records a successful authentication: forgets key's failures (and any block). */
void auth_throttle_success(struct auth_throttle *t, const char *key);

/* Forgets the entries with neither a block nor a failure within window. Returns how many. */
size_t auth_throttle_prune(struct auth_throttle *t, time_t now);

/* Addresses currently tracked. */
size_t auth_throttle_count(const struct auth_throttle *t);

/* Writes the throttle key of a client address: the IPv4 address in dotted form (also for
 * IPv4-mapped IPv6), the IPv6 address masked to ipv6_prefix bits with "/N" appended, or
 * "unix" for AF_UNIX. Returns 0, or -1 for another family or a too small buffer. */
int auth_throttle_key(const struct sockaddr *sa, unsigned ipv6_prefix, char *out, size_t outlen);

#endif
