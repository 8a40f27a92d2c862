/* test_mx.c - unit tests for MX ordering, equal-preference shuffling, null MX and name checks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mx.h"

/* A scripted random source: returns the values in turn, repeating the last one. */
struct seq {
	const uint32_t *v;
	size_t n, i;
};

static uint32_t seq_next(void *arg)
{
	struct seq *s = arg;
	uint32_t r = s->v[s->i < s->n ? s->i : s->n - 1];
	s->i++;
	return r;
}

static uint32_t zero_next(void *arg)
{
	(void)arg;
	return 0;
}

static uint32_t xorshift_next(void *arg)
{
	uint64_t *x = arg;
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (uint32_t)(*x >> 32);
}

/* Writes the names of e[0..n) as "a b c" into out. */
static void names(const struct mx_entry *e, size_t n, char *out, size_t outlen)
{
	size_t off = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && off < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%s%s", i ? " " : "", e[i].name);
}

Test(mx, sorts_by_preference)
{
	struct mx_entry e[] = { { "c.example", 30 }, { "a.example", 10 }, { "b.example", 20 } };
	char got[256];

	size_t n = mx_select(e, 3, 10, zero_next, NULL);
	cr_assert_eq(n, 3);
	names(e, n, got, sizeof(got));
	cr_assert_str_eq(got, "a.example b.example c.example");
	cr_assert_eq(e[0].preference, 10);
	cr_assert_eq(e[1].preference, 20);
	cr_assert_eq(e[2].preference, 30);
}

Test(mx, shuffle_is_deterministic_and_independent_of_input_order)
{
	struct mx_entry e1[] = { { "a", 10 }, { "b", 10 }, { "c", 10 }, { "z", 5 } };
	struct mx_entry e2[] = { { "c", 10 }, { "z", 5 }, { "b", 10 }, { "a", 10 } };
	char g1[64], g2[64];

	mx_select(e1, 4, 10, zero_next, NULL);
	mx_select(e2, 4, 10, zero_next, NULL);
	names(e1, 4, g1, sizeof(g1));
	names(e2, 4, g2, sizeof(g2));
	/* Fisher-Yates over the canonical "a b c" with j = 0 each step: swap(2,0) then swap(1,0). */
	cr_assert_str_eq(g1, "z b c a");
	cr_assert_str_eq(g2, g1);
}

Test(mx, every_permutation_of_equal_preferences_is_possible)
{
	char seen[6][64];
	size_t n_seen = 0;

	for (uint32_t r1 = 0; r1 < 3; r1++) {
		for (uint32_t r2 = 0; r2 < 2; r2++) {
			uint32_t v[] = { r1, r2 };
			struct seq s = { v, 2, 0 };
			struct mx_entry e[] = { { "last", 90 },
						{ "b", 50 },
						{ "first", 1 },
						{ "c", 50 },
						{ "a", 50 } };
			char got[64];

			cr_assert_eq(mx_select(e, 5, 10, seq_next, &s), 5);
			cr_assert_str_eq(e[0].name, "first");
			cr_assert_str_eq(e[4].name, "last");
			names(e + 1, 3, got, sizeof(got));
			for (size_t i = 0; i < n_seen; i++)
				cr_assert_str_neq(seen[i], got, "permutation %s reached twice",
						  got);
			snprintf(seen[n_seen++], sizeof(seen[0]), "%s", got);
		}
	}
	cr_assert_eq(n_seen, 6);
}

Test(mx, shuffle_is_roughly_uniform)
{
	const char *perms[6] = { "a b c", "a c b", "b a c", "b c a", "c a b", "c b a" };
	unsigned count[6] = { 0 };
	uint64_t state = 0x123456789abcdefULL;

	for (int run = 0; run < 6000; run++) {
		struct mx_entry e[] = { { "a", 10 }, { "b", 10 }, { "c", 10 } };
		char got[64];
		mx_select(e, 3, 10, xorshift_next, &state);
		names(e, 3, got, sizeof(got));
		for (int i = 0; i < 6; i++)
			if (strcmp(got, perms[i]) == 0)
				count[i]++;
	}
	for (int i = 0; i < 6; i++)
		cr_assert(count[i] > 850 && count[i] < 1150, "%s seen %u times of 6000", perms[i],
			  count[i]);
}

Test(mx, biased_tail_of_the_random_range_is_rejected)
{
	/* 0xFFFFFFFF is in the biased tail for bound 3 and must be drawn again. */
	uint32_t v[] = { 0xFFFFFFFFu, 1, 0 };
	struct seq s = { v, 3, 0 };
	struct mx_entry e[] = { { "a", 10 }, { "b", 10 }, { "c", 10 } };
	char got[64];

	mx_select(e, 3, 10, seq_next, &s);
	names(e, 3, got, sizeof(got));
	/* i=3: j=1 -> a c b; i=2: j=0 -> c a b. */
	cr_assert_str_eq(got, "c a b");
	cr_assert_eq(s.i, 3);
}

Test(mx, null_mx_detection)
{
	struct mx_entry dot[] = { { ".", 0 } };
	struct mx_entry empty[] = { { "", 0 } };
	struct mx_entry other_pref[] = { { "", 10 } };
	struct mx_entry real[] = { { "mx.example", 0 } };
	struct mx_entry mixed[] = { { "", 0 }, { "mx.example", 10 } };

	cr_assert(mx_is_null(dot, 1));
	cr_assert(mx_is_null(empty, 1));
	cr_assert(mx_is_null(other_pref, 1));
	cr_assert_not(mx_is_null(real, 1));
	cr_assert_not(mx_is_null(real, 0));
	cr_assert_not(mx_is_null(mixed, 2));
	cr_assert(mx_name_is_root("."));
	cr_assert(mx_name_is_root(""));
	cr_assert_not(mx_name_is_root("a."));
}

Test(mx, root_exchange_among_real_ones_is_dropped)
{
	struct mx_entry e[] = { { ".", 0 }, { "mx.example", 10 } };

	cr_assert_eq(mx_select(e, 2, 10, zero_next, NULL), 1);
	cr_assert_str_eq(e[0].name, "mx.example");
	cr_assert_eq(e[0].preference, 10);

	struct mx_entry only_root[] = { { ".", 0 } };
	cr_assert_eq(mx_select(only_root, 1, 10, zero_next, NULL), 0);
}

Test(mx, duplicate_exchanges_keep_the_lowest_preference)
{
	struct mx_entry e[] = { { "MX1.example", 20 },
				{ "mx2.example", 15 },
				{ "mx1.example", 10 } };

	cr_assert_eq(mx_select(e, 3, 10, zero_next, NULL), 2);
	cr_assert_eq(strcasecmp(e[0].name, "mx1.example"), 0);
	cr_assert_eq(e[0].preference, 10);
	cr_assert_str_eq(e[1].name, "mx2.example");
}

Test(mx, cap_keeps_the_most_preferred)
{
	struct mx_entry e[15];
	char name[15][16];

	for (int i = 0; i < 15; i++) {
		snprintf(name[i], sizeof(name[i]), "mx%02d", i);
		e[i].name = name[i];
		e[i].preference = (unsigned)(100 - i); /* mx14 is the most preferred */
	}
	cr_assert_eq(mx_select(e, 15, 10, zero_next, NULL), 10);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(e[i].preference, (unsigned)(86 + i));
	cr_assert_str_eq(e[0].name, "mx14");
	cr_assert_str_eq(e[9].name, "mx05");
}

Test(mx, cap_inside_an_equal_group_picks_randomly)
{
	/* 12 equal exchangers, 10 kept: over many draws each one is kept sometimes and dropped
	 * sometimes. */
	char name[12][8];
	unsigned kept[12] = { 0 };
	uint64_t state = 42;

	for (int i = 0; i < 12; i++)
		snprintf(name[i], sizeof(name[i]), "h%02d", i);
	for (int run = 0; run < 200; run++) {
		struct mx_entry e[12];
		for (int i = 0; i < 12; i++)
			e[i] = (struct mx_entry){ name[i], 10 };
		cr_assert_eq(mx_select(e, 12, 10, xorshift_next, &state), 10);
		for (int i = 0; i < 10; i++)
			kept[atoi(e[i].name + 1)]++;
	}
	for (int i = 0; i < 12; i++)
		cr_assert(kept[i] > 0 && kept[i] < 200, "h%02d kept %u of 200", i, kept[i]);
}

Test(mx, without_random_function_order_is_canonical)
{
	struct mx_entry e[] = { { "b", 10 }, { "a", 10 } };

	cr_assert_eq(mx_select(e, 2, 10, NULL, NULL), 2);
	cr_assert_str_eq(e[0].name, "a");
	cr_assert_str_eq(e[1].name, "b");
}

Test(mx, implicit_mx_is_the_domain_with_preference_zero)
{
	struct mx_entry e = mx_implicit("nomx.example");

	cr_assert_str_eq(e.name, "nomx.example");
	cr_assert_eq(e.preference, 0);
	cr_assert_not(mx_is_null(&e, 1));
}

Test(mx, check_name)
{
	const char *why;
	char label64[80], long_name[300];

	cr_assert_eq(mx_check_name("example.com", &why), 0);
	cr_assert_eq(mx_check_name("example.com.", &why), 0);
	cr_assert_eq(mx_check_name("_dmarc.x-y.example", &why), 0);
	cr_assert_eq(mx_check_name("localhost", &why), 0);
	cr_assert_eq(mx_check_name("", &why), -1);
	cr_assert_eq(mx_check_name(".", &why), -1);
	cr_assert_eq(mx_check_name("a..b", &why), -1);
	cr_assert_eq(mx_check_name(".a", &why), -1);
	cr_assert_eq(mx_check_name("a..", &why), -1);
	cr_assert_eq(mx_check_name("a b", &why), -1);
	cr_assert_eq(mx_check_name("a\\.b", &why), -1);
	cr_assert_eq(mx_check_name("a\nb", &why), -1);
	cr_assert_str_eq(why, "invalid character in domain name");

	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".com");
	cr_assert_eq(mx_check_name(label64, &why), -1);
	cr_assert_str_eq(why, "domain name label longer than 63 octets");
	strcpy(label64 + 63, ".com");
	cr_assert_eq(mx_check_name(label64, &why), 0);

	/* 253 octets is the limit (a trailing dot does not count). */
	for (int i = 0; i < 253; i++)
		long_name[i] = (i % 10 == 9) ? '.' : 'a';
	long_name[253] = '\0';
	cr_assert_eq(mx_check_name(long_name, &why), 0);
	long_name[253] = '.';
	long_name[254] = '\0';
	cr_assert_eq(mx_check_name(long_name, &why), 0);
	long_name[253] = 'a';
	cr_assert_eq(mx_check_name(long_name, &why), -1);
	cr_assert_str_eq(why, "domain name longer than 253 octets");
}
