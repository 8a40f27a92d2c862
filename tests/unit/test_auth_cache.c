/* test_auth_cache.c - the login cache: hits, expiry, keys that differ in any credential, eviction, users-file stamps. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "auth_cache.h"

static const time_t T0 = 1000;
static const char *H = "{SHA512-CRYPT}$6$salt$hash";

static void key_of(const struct auth_cache *c, const char *user, const char *pw, const char *stored,
		   unsigned char k[AUTH_CACHE_KEY_SIZE])
{
	cr_assert_eq(auth_cache_key(c, user, pw, stored, k), 0);
}

Test(auth_cache, disabled_when_size_or_ttl_is_zero)
{
	cr_expect_null(auth_cache_new(0, 60));
	cr_expect_null(auth_cache_new(100, 0));
	unsigned char k[AUTH_CACHE_KEY_SIZE] = { 0 };
	/* a NULL cache is a valid "no cache" everywhere */
	cr_expect_eq(auth_cache_key(NULL, "a@b", "pw", H, k), -1);
	cr_expect_not(auth_cache_lookup(NULL, k, T0));
	auth_cache_add(NULL, k, T0);
	cr_expect_eq(auth_cache_count(NULL, T0), 0);
}

Test(auth_cache, hit_within_ttl_then_expired)
{
	struct auth_cache *c = auth_cache_new(100, 60);
	cr_assert_not_null(c);
	unsigned char k[AUTH_CACHE_KEY_SIZE];
	key_of(c, "alice@example.org", "secret", H, k);
	cr_expect_not(auth_cache_lookup(c, k, T0), "nothing verified yet");
	auth_cache_add(c, k, T0);
	cr_expect(auth_cache_lookup(c, k, T0));
	cr_expect(auth_cache_lookup(c, k, T0 + 59));
	cr_expect_not(auth_cache_lookup(c, k, T0 + 60), "ttl is over");
	cr_expect_eq(auth_cache_count(c, T0), 1);
	cr_expect_eq(auth_cache_count(c, T0 + 60), 0);
	/* verified again: a fresh ttl */
	auth_cache_add(c, k, T0 + 100);
	cr_expect(auth_cache_lookup(c, k, T0 + 159));
	cr_expect_eq(auth_cache_count(c, T0 + 100), 1);
	auth_cache_free(&c);
	cr_expect_null(c);
}

Test(auth_cache, any_other_credential_misses)
{
	struct auth_cache *c = auth_cache_new(100, 60);
	unsigned char k[AUTH_CACHE_KEY_SIZE], other[AUTH_CACHE_KEY_SIZE];
	key_of(c, "alice@example.org", "secret", H, k);
	auth_cache_add(c, k, T0);
	key_of(c, "alice@example.org", "secreT", H, other);
	cr_expect_not(auth_cache_lookup(c, other, T0), "another password");
	key_of(c, "bob@example.org", "secret", H, other);
	cr_expect_not(auth_cache_lookup(c, other, T0), "another user");
	key_of(c, "alice@example.org", "secret", "{SHA512-CRYPT}$6$salt$other", other);
	cr_expect_not(auth_cache_lookup(c, other, T0), "the users_file line changed");
	/* fields are length-prefixed: moving bytes between them gives another key */
	key_of(c, "alice@example.orgs", "ecret", H, other);
	cr_expect_not(auth_cache_lookup(c, other, T0));
	key_of(c, "alice@example.org", "secret", H, other);
	cr_expect(auth_cache_lookup(c, other, T0), "the same triple gives the same key");
	/* no stored hash (unknown user, no password login): nothing to cache */
	cr_expect_eq(auth_cache_key(c, "alice@example.org", "secret", "", other), -1);
	cr_expect_eq(auth_cache_key(c, "alice@example.org", "secret", NULL, other), -1);
	auth_cache_free(&c);
}

Test(auth_cache, the_key_holds_no_password_and_differs_between_caches)
{
	struct auth_cache *a = auth_cache_new(10, 60), *b = auth_cache_new(10, 60);
	unsigned char ka[AUTH_CACHE_KEY_SIZE], kb[AUTH_CACHE_KEY_SIZE];
	key_of(a, "alice@example.org", "secretsecret", H, ka);
	key_of(b, "alice@example.org", "secretsecret", H, kb);
	cr_expect_neq(memcmp(ka, kb, sizeof(ka)), 0, "each cache has its own random secret");
	cr_expect_null(memmem(ka, sizeof(ka), "secret", 6));
	auth_cache_add(a, ka, T0);
	cr_expect_not(auth_cache_lookup(b, ka, T0));
	auth_cache_free(&a);
	auth_cache_free(&b);
}

Test(auth_cache, bounded_and_evicts_the_oldest)
{
	struct auth_cache *c = auth_cache_new(8, 1000);
	unsigned char k[200][AUTH_CACHE_KEY_SIZE];
	for (int i = 0; i < 200; i++) {
		char pw[32];
		snprintf(pw, sizeof(pw), "pw%d", i);
		key_of(c, "alice@example.org", pw, H, k[i]);
		auth_cache_add(c, k[i], T0 + i);
	}
	cr_expect_eq(auth_cache_count(c, T0 + 200), 8, "never more than size entries");
	cr_expect(auth_cache_lookup(c, k[199], T0 + 200), "the newest is kept");
	int live = 0;
	for (int i = 0; i < 200; i++)
		live += auth_cache_lookup(c, k[i], T0 + 200);
	cr_expect_eq(live, 8);
	auth_cache_free(&c);
}

Test(auth_cache, a_changed_users_file_forgets_everything)
{
	struct auth_cache *c = auth_cache_new(100, 60);
	struct file_stamp s1, s2;
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_ino = 10;
	st.st_size = 100;
	st.st_mtim.tv_sec = 5;
	file_stamp_set(&s1, &st);
	st.st_ino = 11; /* mailctl renames a new file into place */
	file_stamp_set(&s2, &st);
	unsigned char k[AUTH_CACHE_KEY_SIZE];
	key_of(c, "alice@example.org", "secret", H, k);
	auth_cache_stamp(c, &s1);
	auth_cache_add(c, k, T0);
	auth_cache_stamp(c, &s1);
	cr_expect(auth_cache_lookup(c, k, T0), "the same file");
	auth_cache_stamp(c, &s2);
	cr_expect_not(auth_cache_lookup(c, k, T0), "another file");
	cr_expect_eq(auth_cache_count(c, T0), 0);
	auth_cache_add(c, k, T0);
	auth_cache_clear(c);
	cr_expect_not(auth_cache_lookup(c, k, T0));
	auth_cache_free(&c);
}
