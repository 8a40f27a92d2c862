/* auth_cache.c - logins verified a moment ago, remembered by an HMAC of the credentials (never the password). */
#include "auth_cache.h"

#include "xalloc.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Entries are found in sets of AUTH_CACHE_WAYS (the set from the key's first bytes, which are
 * uniformly random): a lookup reads at most one set, and a full set evicts within itself. */
#define AUTH_CACHE_WAYS 4

struct auth_cache_entry {
	unsigned char key[AUTH_CACHE_KEY_SIZE];
	time_t expires; /* 0: empty */
};

struct auth_cache {
	EVP_MAC_CTX *mac; /* keyed with the secret; duplicated for each key */
	unsigned ttl;
	size_t sets;
	struct auth_cache_entry *entries; /* sets * AUTH_CACHE_WAYS */
	struct file_stamp stamp;
	bool stamped;
};

struct auth_cache *auth_cache_new(unsigned size, unsigned ttl)
{
	if (size == 0 || ttl == 0)
		return NULL;
	unsigned char secret[32];
	if (RAND_bytes(secret, sizeof(secret)) != 1)
		return NULL;
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	EVP_MAC_free(hmac); /* the context keeps its own reference */
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (!ctx || EVP_MAC_init(ctx, secret, sizeof(secret), params) != 1) {
		OPENSSL_cleanse(secret, sizeof(secret));
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	struct auth_cache *c = xcalloc(1, sizeof(*c));
	c->mac = ctx;
	c->ttl = ttl;
	c->sets = ((size_t)size + AUTH_CACHE_WAYS - 1) / AUTH_CACHE_WAYS;
	c->entries = xcalloc(c->sets * AUTH_CACHE_WAYS, sizeof(*c->entries));
	return c;
}

void auth_cache_free(struct auth_cache **cp)
{
	struct auth_cache *c = *cp;
	if (!c)
		return;
	EVP_MAC_CTX_free(c->mac);
	free(c->entries);
	free(c);
	*cp = NULL;
}

/* One field of the MAC input, with its length first so that no two triples run together. */
static int auth_cache_field(EVP_MAC_CTX *ctx, const char *s)
{
	size_t n = strlen(s);
	unsigned char len[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				 (unsigned char)(n >> 8), (unsigned char)n };
	return EVP_MAC_update(ctx, len, sizeof(len)) == 1 &&
			       EVP_MAC_update(ctx, (const unsigned char *)s, n) == 1
		       ? 0
		       : -1;
}

int auth_cache_key(const struct auth_cache *c, const char *user, const char *password,
		   const char *stored, unsigned char key[AUTH_CACHE_KEY_SIZE])
{
	if (!c || !stored || !stored[0])
		return -1;
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(c->mac);
	if (!ctx)
		return -1;
	size_t len = 0;
	int r = auth_cache_field(ctx, user) == 0 && auth_cache_field(ctx, password) == 0 &&
				auth_cache_field(ctx, stored) == 0 &&
				EVP_MAC_final(ctx, key, &len, AUTH_CACHE_KEY_SIZE) == 1 &&
				len == AUTH_CACHE_KEY_SIZE
			? 0
			: -1;
	EVP_MAC_CTX_free(ctx); /* cleanses its state */
	return r;
}

static struct auth_cache_entry *auth_cache_set(const struct auth_cache *c,
					       const unsigned char key[AUTH_CACHE_KEY_SIZE])
{
	uint64_t h;
	memcpy(&h, key, sizeof(h));
	return &c->entries[(h % c->sets) * AUTH_CACHE_WAYS];
}

bool auth_cache_lookup(const struct auth_cache *c, const unsigned char key[AUTH_CACHE_KEY_SIZE],
		       time_t now)
{
	if (!c)
		return false;
	const struct auth_cache_entry *set = auth_cache_set(c, key);
	for (int i = 0; i < AUTH_CACHE_WAYS; i++)
		if (set[i].expires > now &&
		    CRYPTO_memcmp(set[i].key, key, AUTH_CACHE_KEY_SIZE) == 0)
			return true;
	return false;
}

void auth_cache_add(struct auth_cache *c, const unsigned char key[AUTH_CACHE_KEY_SIZE], time_t now)
{
	if (!c)
		return;
	struct auth_cache_entry *set = auth_cache_set(c, key), *victim = &set[0];
	for (int i = 0; i < AUTH_CACHE_WAYS; i++) {
		if (memcmp(set[i].key, key, AUTH_CACHE_KEY_SIZE) == 0) {
			victim = &set[i]; /* verified again: a fresh ttl */
			break;
		}
		if (set[i].expires < victim->expires)
			victim = &set[i];
	}
	memcpy(victim->key, key, AUTH_CACHE_KEY_SIZE);
	victim->expires = now + (time_t)c->ttl;
}

void auth_cache_clear(struct auth_cache *c)
{
	if (c)
		memset(c->entries, 0, c->sets * AUTH_CACHE_WAYS * sizeof(*c->entries));
}

void auth_cache_stamp(struct auth_cache *c, const struct file_stamp *stamp)
{
	if (!c)
		return;
	if (c->stamped && !file_stamp_equal(&c->stamp, stamp))
		auth_cache_clear(c);
	c->stamp = *stamp;
	c->stamped = true;
}

size_t auth_cache_count(const struct auth_cache *c, time_t now)
{
	size_t n = 0;
	for (size_t i = 0; c && i < c->sets * AUTH_CACHE_WAYS; i++)
		n += c->entries[i].expires > now;
	return n;
}
