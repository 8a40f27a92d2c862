/* auth_throttle.c - bounded table of authentication failures per client address. */
#include "auth_throttle.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct auth_throttle_entry {
	char key[AUTH_THROTTLE_KEY_SIZE];
	uint64_t hash;
	struct auth_throttle_entry *hnext;         /* bucket chain */
	struct auth_throttle_entry *newer, *older; /* LRU list by last failure */
	time_t blocked_until;                      /* 0: not blocked */
	time_t last_failure;
	unsigned streak;  /* failures in a row */
	unsigned nstamps; /* valid entries in stamps */
	unsigned next;    /* slot the next stamp goes to */
	time_t stamps[];  /* block_failures + 1 slots */
};

struct auth_throttle {
	struct auth_throttle_config cfg;
	struct auth_throttle_entry **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	struct auth_throttle_entry *newest, *oldest;
	uint64_t k0, k1; /* SipHash key: addresses are chosen by clients */
};

/* How far from the old end eviction looks for an entry that is not blocked. */
#define AUTH_THROTTLE_EVICT_SCAN 32

void auth_throttle_config_default(struct auth_throttle_config *cfg)
{
	cfg->max_entries = 10000;
	cfg->block_failures = 10;
	cfg->window = 600;
	cfg->block_time = 600;
	cfg->delay_max = 15;
	cfg->ipv6_prefix = 64;
}

#define AUTH_THROTTLE_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void auth_throttle_sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = AUTH_THROTTLE_ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = AUTH_THROTTLE_ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = AUTH_THROTTLE_ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = AUTH_THROTTLE_ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = AUTH_THROTTLE_ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = AUTH_THROTTLE_ROTL(v[2], 32);
}

/* SipHash-2-4 of a string. */
static uint64_t auth_throttle_hash(const struct auth_throttle *t, const char *s, size_t len)
{
	uint64_t v[4] = { t->k0 ^ 0x736f6d6570736575ULL, t->k1 ^ 0x646f72616e646f6dULL,
			  t->k0 ^ 0x6c7967656e657261ULL, t->k1 ^ 0x7465646279746573ULL };
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t m = 0;
		for (int b = 0; b < 8; b++)
			m |= (uint64_t)p[i + (size_t)b] << (8 * b);
		v[3] ^= m;
		auth_throttle_sipround(v);
		auth_throttle_sipround(v);
		v[0] ^= m;
	}
	uint64_t m = (uint64_t)(len & 0xff) << 56;
	for (size_t b = 0; i + b < len; b++)
		m |= (uint64_t)p[i + b] << (8 * b);
	v[3] ^= m;
	auth_throttle_sipround(v);
	auth_throttle_sipround(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	for (int r = 0; r < 4; r++)
		auth_throttle_sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

struct auth_throttle *auth_throttle_new(const struct auth_throttle_config *cfg)
{
	struct auth_throttle *t = xcalloc(1, sizeof(*t));
	uint64_t key[2];

	if (cfg)
		t->cfg = *cfg;
	else
		auth_throttle_config_default(&t->cfg);
	if (t->cfg.max_entries < 1)
		t->cfg.max_entries = 1;
	if (t->cfg.max_entries > SIZE_MAX / 4 / sizeof(*t->buckets))
		t->cfg.max_entries = SIZE_MAX / 4 / sizeof(*t->buckets);
	if (t->cfg.block_failures < 1)
		t->cfg.block_failures = 1;
	if (t->cfg.block_failures > AUTH_THROTTLE_FAILURES_MAX)
		t->cfg.block_failures = AUTH_THROTTLE_FAILURES_MAX;
	if (t->cfg.window < 0)
		t->cfg.window = 0;
	if (t->cfg.block_time < 0)
		t->cfg.block_time = 0;
	if (t->cfg.ipv6_prefix > 128)
		t->cfg.ipv6_prefix = 128;
	t->nbuckets = 16;
	while (t->nbuckets < t->cfg.max_entries)
		t->nbuckets *= 2;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	if (getrandom(key, sizeof(key), GRND_NONBLOCK) != (ssize_t)sizeof(key)) {
		/* Only the hash quality suffers; the table stays correct. */
		key[0] = (uint64_t)(uintptr_t)t ^ (uint64_t)time(NULL);
		key[1] = (uint64_t)(uintptr_t)t->buckets * 0x9e3779b97f4a7c15ULL;
	}
	t->k0 = key[0];
	t->k1 = key[1];
	return t;
}

void auth_throttle_free(struct auth_throttle **tp)
{
	struct auth_throttle *t = *tp;
	if (!t)
		return;
	for (struct auth_throttle_entry *e = t->newest, *next; e; e = next) {
		next = e->older;
		free(e);
	}
	free(t->buckets);
	free(t);
	*tp = NULL;
}

/* The key as stored: truncated to the entry's field. */
static size_t auth_throttle_keylen(const char *key)
{
	return strnlen(key, AUTH_THROTTLE_KEY_SIZE - 1);
}

static struct auth_throttle_entry *auth_throttle_find(const struct auth_throttle *t,
						      const char *key, uint64_t h)
{
	size_t kl = auth_throttle_keylen(key);
	for (struct auth_throttle_entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == h && strncmp(e->key, key, kl) == 0 && e->key[kl] == '\0')
			return e;
	return NULL;
}

static void auth_throttle_lru_unlink(struct auth_throttle *t, struct auth_throttle_entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void auth_throttle_lru_push(struct auth_throttle *t, struct auth_throttle_entry *e)
{
	e->newer = NULL;
	e->older = t->newest;
	if (t->newest)
		t->newest->newer = e;
	t->newest = e;
	if (!t->oldest)
		t->oldest = e;
}

static void auth_throttle_remove(struct auth_throttle *t, struct auth_throttle_entry *e)
{
	struct auth_throttle_entry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	auth_throttle_lru_unlink(t, e);
	t->count--;
	free(e);
}

static bool auth_throttle_is_blocked(const struct auth_throttle_entry *e, time_t now)
{
	return e->blocked_until > now;
}

/* Makes room for one entry: drops the least recently failed one, preferring one not blocked. */
static void auth_throttle_evict(struct auth_throttle *t, time_t now)
{
	struct auth_throttle_entry *victim = t->oldest;
	struct auth_throttle_entry *e = t->oldest;
	for (int i = 0; e && i < AUTH_THROTTLE_EVICT_SCAN; i++, e = e->newer) {
		if (!auth_throttle_is_blocked(e, now)) {
			victim = e;
			break;
		}
	}
	if (victim)
		auth_throttle_remove(t, victim);
}

bool auth_throttle_blocked(struct auth_throttle *t, const char *key, time_t now,
			   time_t *remaining_r)
{
	struct auth_throttle_entry *e = auth_throttle_find(
		t, key, auth_throttle_hash(t, key, auth_throttle_keylen(key)));
	bool blocked = e && auth_throttle_is_blocked(e, now);
	if (remaining_r)
		*remaining_r = blocked ? e->blocked_until - now : 0;
	return blocked;
}

/* Seconds from a to b, as an unsigned quantity (0 when the clock went backwards). */
static time_t auth_throttle_elapsed(time_t from, time_t to)
{
	return to > from ? to - from : 0;
}

unsigned auth_throttle_failure(struct auth_throttle *t, const char *key, time_t now)
{
	size_t kl = auth_throttle_keylen(key);
	uint64_t h = auth_throttle_hash(t, key, kl);
	struct auth_throttle_entry *e = auth_throttle_find(t, key, h);
	unsigned slots = t->cfg.block_failures + 1;

	if (!e) {
		if (t->count >= t->cfg.max_entries)
			auth_throttle_evict(t, now);
		e = xcalloc(1, sizeof(*e) + slots * sizeof(e->stamps[0]));
		memcpy(e->key, key, kl);
		e->key[kl] = '\0';
		e->hash = h;
		size_t b = h & (t->nbuckets - 1);
		e->hnext = t->buckets[b];
		t->buckets[b] = e;
		t->count++;
	} else {
		auth_throttle_lru_unlink(t, e);
		if (auth_throttle_elapsed(e->last_failure, now) >= t->cfg.window)
			e->streak = 0;
	}
	auth_throttle_lru_push(t, e);

	e->last_failure = now;
	if (e->streak < UINT_MAX)
		e->streak++;
	e->stamps[e->next] = now;
	e->next = (e->next + 1) % slots;
	if (e->nstamps < slots)
		e->nstamps++;

	unsigned recent = 0;
	for (unsigned i = 0; i < e->nstamps; i++)
		if (auth_throttle_elapsed(e->stamps[i], now) < t->cfg.window)
			recent++;
	if (recent > t->cfg.block_failures && t->cfg.block_time > 0)
		e->blocked_until = now + t->cfg.block_time;

	if (e->streak <= 1)
		return 0;
	unsigned shift = e->streak - 2;
	unsigned delay = shift >= 31 ? UINT_MAX : 1u << shift;
	return delay < t->cfg.delay_max ? delay : t->cfg.delay_max;
}

void auth_throttle_success(struct auth_throttle *t, const char *key)
{
	struct auth_throttle_entry *e = auth_throttle_find(
		t, key, auth_throttle_hash(t, key, auth_throttle_keylen(key)));
	if (e)
		auth_throttle_remove(t, e);
}

size_t auth_throttle_prune(struct auth_throttle *t, time_t now)
{
	size_t n = 0;
	for (struct auth_throttle_entry *e = t->oldest, *newer; e; e = newer) {
		newer = e->newer;
		if (!auth_throttle_is_blocked(e, now) &&
		    auth_throttle_elapsed(e->last_failure, now) >= t->cfg.window) {
			auth_throttle_remove(t, e);
			n++;
		}
	}
	return n;
}

size_t auth_throttle_count(const struct auth_throttle *t)
{
	return t->count;
}

int auth_throttle_key(const struct sockaddr *sa, unsigned ipv6_prefix, char *out, size_t outlen)
{
	char text[INET6_ADDRSTRLEN];
	int n;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		if (!inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)))
			return -1;
		n = snprintf(out, outlen, "%s", text);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		struct in6_addr a = sin6->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			if (!inet_ntop(AF_INET, &a.s6_addr[12], text, sizeof(text)))
				return -1;
			n = snprintf(out, outlen, "%s", text);
		} else {
			unsigned prefix = ipv6_prefix > 128 ? 128 : ipv6_prefix;
			for (unsigned i = 0; i < 16; i++) {
				unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0;
				if (keep < 8)
					a.s6_addr[i] &= (uint8_t)(0xff00u >> keep);
			}
			if (!inet_ntop(AF_INET6, &a, text, sizeof(text)))
				return -1;
			n = prefix == 128 ? snprintf(out, outlen, "%s", text)
					  : snprintf(out, outlen, "%s/%u", text, prefix);
		}
	} else if (sa->sa_family == AF_UNIX) {
		n = snprintf(out, outlen, "unix");
	} else {
		return -1;
	}
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}
