/* auth_cache.h - logins verified a moment ago, remembered by an HMAC of the credentials (never the password) so that a slow hash is not recomputed for each. */
#ifndef MAIL_AUTH_CACHE_H
#define MAIL_AUTH_CACHE_H

#include "fileutil.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Bytes of a cache key: HMAC-SHA-256. */
#define AUTH_CACHE_KEY_SIZE 32

/* Not thread-safe: one cache per daemon, used from its event loop only.
 *
 * An entry is the HMAC-SHA-256, under a random secret drawn when the cache is made (it never
 * leaves the process), of the account name, the password and the users_file hash it was
 * verified against. The password itself is never stored, and a stolen key tells nothing
 * without the secret. Because the stored hash is part of the key, an entry matches only while
 * the account's users_file line is unchanged; auth_cache_stamp() also forgets every entry when
 * the users file is another one than the entries were verified against. */
struct auth_cache;

/* A cache of at most size entries (rounded up to a multiple of 4), each trusted for ttl
 * seconds after its password check. NULL (no cache: every login is checked) when size or ttl
 * is 0, or when no random secret could be drawn. */
struct auth_cache *auth_cache_new(unsigned size, unsigned ttl);
void auth_cache_free(struct auth_cache **c);

/* The key of (user, password, stored hash) in key. Returns 0, or -1 (nothing usable). */
int auth_cache_key(const struct auth_cache *c, const char *user, const char *password,
		   const char *stored, unsigned char key[AUTH_CACHE_KEY_SIZE]);

/* Whether key was added less than ttl seconds before now (a monotonic clock in seconds). */
bool auth_cache_lookup(const struct auth_cache *c, const unsigned char key[AUTH_CACHE_KEY_SIZE],
		       time_t now);

/* Remembers key as verified at now. When its set is full, the entry closest to expiry goes. */
void auth_cache_add(struct auth_cache *c, const unsigned char key[AUTH_CACHE_KEY_SIZE], time_t now);

/* Forgets every entry when stamp (the users file the next lookups use) differs from the
 * stamp given last time; the first call only records it. */
void auth_cache_stamp(struct auth_cache *c, const struct file_stamp *stamp);

/* Forgets every entry. */
void auth_cache_clear(struct auth_cache *c);

/* Live (unexpired at now) entries, for tests and statistics. */
size_t auth_cache_count(const struct auth_cache *c, time_t now);

#endif
