/* test_mta_sts_client.c - unit tests for the MTA-STS policy cache in memory: bounded, least recently used first out. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "mta_sts_client.h"

static struct mta_sts_policy policy(enum mta_sts_mode mode)
{
	static char mx0[] = "mx.example.com";
	static char *mx[] = { mx0 };
	struct mta_sts_policy p = { .mode = mode, .max_age = 86400, .mx = mx, .n_mx = 1 };
	return p;
}

Test(mta_sts_client, cache_is_bounded_lru)
{
	struct config cfg;
	config_defaults(&cfg);
	struct mta_sts_client *c = mta_sts_client_new(NULL, NULL, &cfg);
	mta_sts_client_set_max(c, 3);
	struct mta_sts_policy p = policy(MTA_STS_ENFORCE);
	time_t exp = time(NULL) + 3600;
	mta_sts_client_remember(c, "a.example", "1", exp, &p);
	mta_sts_client_remember(c, "b.example", "1", exp, &p);
	mta_sts_client_remember(c, "c.example", "1", exp, &p);
	cr_expect_eq(mta_sts_client_count(c), 3);
	/* a is used: b is now the least recently used and goes when d comes */
	cr_assert_not_null(mta_sts_client_cached(c, "a.example"));
	mta_sts_client_remember(c, "d.example", "1", exp, &p);
	cr_expect_eq(mta_sts_client_count(c), 3);
	cr_expect_null(mta_sts_client_cached(c, "b.example"));
	cr_expect_not_null(mta_sts_client_cached(c, "a.example"));
	cr_expect_not_null(mta_sts_client_cached(c, "c.example"));
	cr_expect_not_null(mta_sts_client_cached(c, "d.example"));
	/* a refresh of a known domain replaces its policy, without growing the cache */
	struct mta_sts_policy t = policy(MTA_STS_TESTING);
	mta_sts_client_remember(c, "c.example", "2", exp, &t);
	cr_expect_eq(mta_sts_client_count(c), 3);
	cr_expect_eq(mta_sts_client_cached(c, "c.example")->mode, MTA_STS_TESTING);
	/* the default bound holds many domains, no more */
	mta_sts_client_set_max(c, MTA_STS_CACHE_MAX);
	char d[64];
	for (int i = 0; i < MTA_STS_CACHE_MAX + 50; i++) {
		snprintf(d, sizeof(d), "d%d.example", i);
		mta_sts_client_remember(c, d, "1", exp, &p);
	}
	cr_expect_eq(mta_sts_client_count(c), MTA_STS_CACHE_MAX);
	cr_expect_null(mta_sts_client_cached(c, "d0.example"));
	cr_expect_not_null(mta_sts_client_cached(c, "d1049.example"));
	mta_sts_client_free(&c);
	cr_expect_null(c);
	config_free(&cfg);
}
