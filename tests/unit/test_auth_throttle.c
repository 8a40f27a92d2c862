/* test_auth_throttle.c - delays, blocks, resets, eviction and keys, with synthetic times. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "auth_throttle.h"

static const time_t T0 = 1700000000;

Test(auth_throttle, delays_grow_and_cap)
{
	struct auth_throttle_config cfg;
	auth_throttle_config_default(&cfg);
	cfg.block_failures = 100; /* keep the block out of the way */
	struct auth_throttle *t = auth_throttle_new(&cfg);
	static const unsigned want[] = { 0, 1, 2, 4, 8, 15, 15, 15 };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_eq(auth_throttle_failure(t, "192.0.2.1", T0 + (time_t)i), want[i],
			     "failure %zu", i + 1);
	/* another address has its own count */
	cr_expect_eq(auth_throttle_failure(t, "192.0.2.2", T0), 0);
	cr_expect_eq(auth_throttle_failure(t, "192.0.2.2", T0), 1);
	cr_expect_eq(auth_throttle_count(t), 2);
	auth_throttle_free(&t);
	cr_expect_null(t);
}

Test(auth_throttle, many_failures_saturate)
{
	struct auth_throttle_config cfg;
	auth_throttle_config_default(&cfg);
	cfg.block_failures = AUTH_THROTTLE_FAILURES_MAX;
	cfg.delay_max = 100000;
	struct auth_throttle *t = auth_throttle_new(&cfg);
	unsigned d = 0;
	for (int i = 0; i < 40; i++)
		d = auth_throttle_failure(t, "x", T0);
	cr_expect_eq(d, 100000); /* 2^38 capped, no overflow */
	auth_throttle_free(&t);
}

Test(auth_throttle, success_resets)
{
	struct auth_throttle *t = auth_throttle_new(NULL);
	auth_throttle_failure(t, "198.51.100.7", T0);
	auth_throttle_failure(t, "198.51.100.7", T0 + 1);
	cr_expect_eq(auth_throttle_failure(t, "198.51.100.7", T0 + 2), 2);
	auth_throttle_success(t, "198.51.100.7");
	cr_expect_eq(auth_throttle_count(t), 0);
	cr_expect_eq(auth_throttle_failure(t, "198.51.100.7", T0 + 3), 0);
	auth_throttle_success(t, "203.0.113.9"); /* unknown: no effect */
	cr_expect_eq(auth_throttle_count(t), 1);
	auth_throttle_free(&t);
}

Test(auth_throttle, quiet_window_ends_the_streak)
{
	struct auth_throttle *t = auth_throttle_new(NULL);
	auth_throttle_failure(t, "a", T0);
	cr_expect_eq(auth_throttle_failure(t, "a", T0 + 10), 1);
	cr_expect_eq(auth_throttle_failure(t, "a", T0 + 10 + 599), 2);
	cr_expect_eq(auth_throttle_failure(t, "a", T0 + 10 + 599 + 600), 0);
	auth_throttle_free(&t);
}

Test(auth_throttle, eleventh_failure_in_window_blocks)
{
	struct auth_throttle *t = auth_throttle_new(NULL);
	time_t rem = -1;
	/* ten failures spread over 9 minutes: not blocked */
	for (int i = 0; i < 10; i++) {
		auth_throttle_failure(t, "192.0.2.50", T0 + i * 60);
		cr_expect(!auth_throttle_blocked(t, "192.0.2.50", T0 + i * 60, &rem));
		cr_expect_eq(rem, 0);
	}
	/* the eleventh within 10 minutes of the first: blocked for 10 minutes */
	auth_throttle_failure(t, "192.0.2.50", T0 + 599);
	cr_expect(auth_throttle_blocked(t, "192.0.2.50", T0 + 599, &rem));
	cr_expect_eq(rem, 600);
	cr_expect(auth_throttle_blocked(t, "192.0.2.50", T0 + 599 + 599, &rem));
	cr_expect_eq(rem, 1);
	cr_expect(!auth_throttle_blocked(t, "192.0.2.50", T0 + 599 + 600, &rem));
	cr_expect_eq(rem, 0);
	cr_expect(!auth_throttle_blocked(t, "192.0.2.51", T0 + 600, NULL));
	auth_throttle_free(&t);
}

Test(auth_throttle, slow_failures_never_block)
{
	struct auth_throttle *t = auth_throttle_new(NULL);
	/* one failure a minute, forever: at most 10 in any 10-minute window */
	for (int i = 0; i < 100; i++) {
		auth_throttle_failure(t, "slow", T0 + i * 60);
		cr_assert(!auth_throttle_blocked(t, "slow", T0 + i * 60, NULL), "i=%d", i);
	}
	/* but 11 in 10 minutes does */
	auth_throttle_free(&t);
	t = auth_throttle_new(NULL);
	for (int i = 0; i < 11; i++)
		auth_throttle_failure(t, "fast", T0 + i * 59);
	cr_expect(auth_throttle_blocked(t, "fast", T0 + 10 * 59, NULL));
	auth_throttle_free(&t);
}

Test(auth_throttle, success_lifts_block)
{
	struct auth_throttle *t = auth_throttle_new(NULL);
	for (int i = 0; i < 11; i++)
		auth_throttle_failure(t, "k", T0);
	cr_expect(auth_throttle_blocked(t, "k", T0 + 1, NULL));
	auth_throttle_success(t, "k");
	cr_expect(!auth_throttle_blocked(t, "k", T0 + 1, NULL));
	auth_throttle_free(&t);
}

Test(auth_throttle, configurable_thresholds)
{
	struct auth_throttle_config cfg = {
		.max_entries = 100,
		.block_failures = 3,
		.window = 60,
		.block_time = 30,
		.delay_max = 3,
		.ipv6_prefix = 64,
	};
	struct auth_throttle *t = auth_throttle_new(&cfg);
	cr_expect_eq(auth_throttle_failure(t, "k", T0), 0);
	cr_expect_eq(auth_throttle_failure(t, "k", T0 + 1), 1);
	cr_expect_eq(auth_throttle_failure(t, "k", T0 + 2), 2);
	cr_expect(!auth_throttle_blocked(t, "k", T0 + 2, NULL));
	cr_expect_eq(auth_throttle_failure(t, "k", T0 + 3), 3); /* 4 > 3: blocked */
	time_t rem;
	cr_expect(auth_throttle_blocked(t, "k", T0 + 3, &rem));
	cr_expect_eq(rem, 30);
	cr_expect(!auth_throttle_blocked(t, "k", T0 + 33, NULL));
	auth_throttle_free(&t);
}

Test(auth_throttle, clock_going_backwards_is_harmless)
{
	struct auth_throttle *t = auth_throttle_new(NULL);
	auth_throttle_failure(t, "k", T0 + 1000);
	cr_expect_eq(auth_throttle_failure(t, "k", T0), 1); /* still a streak */
	auth_throttle_free(&t);
}

Test(auth_throttle, table_is_bounded_and_evicts_oldest)
{
	struct auth_throttle_config cfg;
	auth_throttle_config_default(&cfg);
	cfg.max_entries = 50;
	struct auth_throttle *t = auth_throttle_new(&cfg);
	char key[32];
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
		auth_throttle_failure(t, key, T0 + i);
		cr_assert_leq(auth_throttle_count(t), 50);
	}
	cr_expect_eq(auth_throttle_count(t), 50);
	/* the newest 50 are remembered: a second failure has a delay; the old ones start over */
	cr_expect_eq(auth_throttle_failure(t, "10.0.1.243", T0 + 600), 1); /* i = 499 */
	cr_expect_eq(auth_throttle_failure(t, "10.0.0.0", T0 + 600), 0);
	auth_throttle_free(&t);
}

Test(auth_throttle, eviction_spares_blocked_entries)
{
	struct auth_throttle_config cfg;
	auth_throttle_config_default(&cfg);
	cfg.max_entries = 10;
	struct auth_throttle *t = auth_throttle_new(&cfg);
	for (int i = 0; i < 11; i++)
		auth_throttle_failure(t, "attacker", T0);
	char key[32];
	for (int i = 0; i < 30; i++) {
		snprintf(key, sizeof(key), "other%d", i);
		auth_throttle_failure(t, key, T0 + 1 + i);
	}
	cr_expect(auth_throttle_blocked(t, "attacker", T0 + 40, NULL));
	cr_expect_eq(auth_throttle_count(t), 10);
	auth_throttle_free(&t);
}

Test(auth_throttle, prune_drops_stale_entries)
{
	struct auth_throttle *t = auth_throttle_new(NULL);
	auth_throttle_failure(t, "old", T0);
	for (int i = 0; i < 11; i++)
		auth_throttle_failure(t, "blocked", T0 + 500);
	auth_throttle_failure(t, "recent", T0 + 650);
	cr_expect_eq(auth_throttle_prune(t, T0 + 700), 1); /* "old" only */
	cr_expect_eq(auth_throttle_count(t), 2);
	cr_expect(auth_throttle_blocked(t, "blocked", T0 + 700, NULL));
	cr_expect_eq(auth_throttle_prune(t, T0 + 1300), 2);
	cr_expect_eq(auth_throttle_count(t), 0);
	auth_throttle_free(&t);
}

Test(auth_throttle, long_keys_are_truncated_consistently)
{
	struct auth_throttle *t = auth_throttle_new(NULL);
	char a[200], b[200];
	memset(a, 'k', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[150] = 'z'; /* differs only beyond the stored length */
	auth_throttle_failure(t, a, T0);
	cr_expect_eq(auth_throttle_failure(t, b, T0), 1);
	cr_expect_eq(auth_throttle_count(t), 1);
	auth_throttle_free(&t);
}

Test(auth_throttle, keys_from_addresses)
{
	char out[AUTH_THROTTLE_KEY_SIZE];
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(25) };
	inet_pton(AF_INET, "192.0.2.33", &sin.sin_addr);
	cr_assert_eq(auth_throttle_key((struct sockaddr *)&sin, 64, out, sizeof(out)), 0);
	cr_expect_str_eq(out, "192.0.2.33");

	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "2001:db8:1:2:3:4:5:6", &sin6.sin6_addr);
	cr_assert_eq(auth_throttle_key((struct sockaddr *)&sin6, 64, out, sizeof(out)), 0);
	cr_expect_str_eq(out, "2001:db8:1:2::/64");
	cr_assert_eq(auth_throttle_key((struct sockaddr *)&sin6, 56, out, sizeof(out)), 0);
	cr_expect_str_eq(out, "2001:db8:1::/56");
	cr_assert_eq(auth_throttle_key((struct sockaddr *)&sin6, 60, out, sizeof(out)), 0);
	cr_expect_str_eq(out, "2001:db8:1::/60");
	cr_assert_eq(auth_throttle_key((struct sockaddr *)&sin6, 128, out, sizeof(out)), 0);
	cr_expect_str_eq(out, "2001:db8:1:2:3:4:5:6");
	cr_assert_eq(auth_throttle_key((struct sockaddr *)&sin6, 0, out, sizeof(out)), 0);
	cr_expect_str_eq(out, "::/0");

	inet_pton(AF_INET6, "::ffff:198.51.100.4", &sin6.sin6_addr);
	cr_assert_eq(auth_throttle_key((struct sockaddr *)&sin6, 64, out, sizeof(out)), 0);
	cr_expect_str_eq(out, "198.51.100.4");

	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	cr_assert_eq(auth_throttle_key((struct sockaddr *)&sun, 64, out, sizeof(out)), 0);
	cr_expect_str_eq(out, "unix");

	cr_expect_eq(auth_throttle_key((struct sockaddr *)&sin, 64, out, 5), -1);
	cr_expect_str_eq(out, "");
	struct sockaddr other = { .sa_family = AF_PACKET };
	cr_expect_eq(auth_throttle_key(&other, 64, out, sizeof(out)), -1);
}

Test(auth_throttle, two_hosts_in_one_ipv6_64_share_a_count)
{
	struct auth_throttle *t = auth_throttle_new(NULL);
	char k1[AUTH_THROTTLE_KEY_SIZE], k2[AUTH_THROTTLE_KEY_SIZE];
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 }, b = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "2001:db8::1", &a.sin6_addr);
	inet_pton(AF_INET6, "2001:db8::ffff:2", &b.sin6_addr);
	auth_throttle_key((struct sockaddr *)&a, 64, k1, sizeof(k1));
	auth_throttle_key((struct sockaddr *)&b, 64, k2, sizeof(k2));
	auth_throttle_failure(t, k1, T0);
	cr_expect_eq(auth_throttle_failure(t, k2, T0), 1);
	auth_throttle_free(&t);
}
