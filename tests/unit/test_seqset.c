/* test_seqset.c - sequence sets: parsing and normalisation, errors, '*' resolution, membership, iteration, printing. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "seqset.h"

static char *written(const struct seqset *set)
{
	struct buf b;
	buf_init(&b);
	seqset_write(&b, set);
	char *s = buf_steal(&b, NULL);
	return s ? s : strdup("");
}

/* Parses s and checks its printed normal form. */
static void check_parse(const char *s, unsigned flags, const char *expected)
{
	struct seqset set;
	const char *error = NULL;
	cr_assert_eq(seqset_parse(s, strlen(s), flags, &set, &error), 0, "%s: %s", s, error);
	char *w = written(&set);
	cr_assert_str_eq(w, expected, "input %s", s);
	free(w);
	seqset_free(&set);
}

static int parse_str(const char *s, unsigned flags, struct seqset *set)
{
	const char *error;
	return seqset_parse(s, strlen(s), flags, set, &error);
}

static void check_error(const char *s, unsigned flags, const char *error_expected)
{
	struct seqset set;
	const char *error = NULL;
	cr_assert_eq(seqset_parse(s, strlen(s), flags, &set, &error), -1, "%s parsed", s);
	cr_assert_str_eq(error, error_expected, "input %s", s);
	cr_assert_eq(set.count, 0);
	cr_assert_null(set.ranges);
}

Test(seqset, parse_and_normalise)
{
	check_parse("1", 0, "1");
	check_parse("1,3:5,7", 0, "1,3:5,7");
	check_parse("5:3", 0, "3:5");
	check_parse("7,1,3", 0, "1,3,7");
	check_parse("1:3,4:6,8", 0, "1:6,8");
	check_parse("10:20,1:30,40", 0, "1:30,40");
	check_parse("5,4,3,2,1", 0, "1:5");
	check_parse("1:10,3:4", 0, "1:10");
	check_parse("4294967295", 0, "4294967295");
	check_parse("1:4294967295,7", 0, "1:4294967295");
	check_parse("4294967294,4294967295", 0, "4294967294:4294967295");
	check_parse("7:*", 0, "7:*");
	check_parse("*", 0, "*");
	check_parse("*:*", 0, "*");
	check_parse("*:4,1", 0, "1,4:*");
	check_parse("$", SEQSET_ALLOW_SAVED, "$");
	check_parse("1,2", SEQSET_NO_STAR, "1:2");
}

Test(seqset, errors)
{
	check_error("", 0, "Invalid sequence set: empty");
	check_error("0", 0, "Invalid sequence set: 0 or leading zero");
	check_error("1:0", 0, "Invalid sequence set: 0 or leading zero");
	check_error("01", 0, "Invalid sequence set: 0 or leading zero");
	check_error("4294967296", 0, "Invalid sequence set: number above 4294967295");
	check_error("1:99999999999999999999", 0, "Invalid sequence set: number above 4294967295");
	check_error("1,,2", 0, "Invalid sequence set: empty element");
	check_error(",1", 0, "Invalid sequence set: empty element");
	check_error("1,", 0, "Invalid sequence set: empty element");
	check_error("1:", 0, "Invalid sequence set: empty element");
	check_error(":1", 0, "Invalid sequence set: empty element");
	check_error("1::2", 0, "Invalid sequence set: empty element");
	check_error("1:2:3", 0, "Invalid sequence set: unexpected character");
	check_error("1a", 0, "Invalid sequence set: unexpected character");
	check_error("a", 0, "Invalid sequence set: unexpected character");
	check_error("-1", 0, "Invalid sequence set: unexpected character");
	check_error("1 2", 0, "Invalid sequence set: unexpected character");
	check_error("**", 0, "Invalid sequence set: unexpected character");
	check_error("$", 0, "Invalid sequence set: '$' without SEARCHRES");
	check_error("1,$", SEQSET_ALLOW_SAVED, "Invalid sequence set: unexpected character");
	check_error("1$", SEQSET_ALLOW_SAVED, "Invalid sequence set: '$' must stand alone");
	check_error("1:*", SEQSET_NO_STAR, "Invalid sequence set: '*' not allowed here");
}

Test(seqset, resolve_star)
{
	struct seqset set, r;
	seqset_init(&r);

	cr_assert_eq(parse_str("2,5:*", 0, &set), 0);
	seqset_resolve(&set, 10, &r);
	char *w = written(&r);
	cr_assert_str_eq(w, "2,5:10");
	free(w);
	/* "5:*" with the largest number 3 means 3:5 (RFC 9051 6.4.8) */
	seqset_resolve(&set, 3, &r);
	w = written(&r);
	cr_assert_str_eq(w, "2:5");
	free(w);
	/* empty mailbox: '*' names nothing */
	seqset_resolve(&set, 0, &r);
	w = written(&r);
	cr_assert_str_eq(w, "2");
	free(w);
	cr_assert(seqset_contains_max(&set, 3, 3));
	cr_assert(seqset_contains_max(&set, 5, 3));
	cr_assert(!seqset_contains_max(&set, 6, 3));
	cr_assert(!seqset_contains_max(&set, 5, 0));
	cr_assert(seqset_contains_max(&set, 2, 0));
	cr_assert(!seqset_contains(&set, 5), "unresolved '*' is not in the numeric ranges");
	seqset_free(&set);

	cr_assert_eq(parse_str("*", 0, &set), 0);
	seqset_resolve(&set, 42, &r);
	w = written(&r);
	cr_assert_str_eq(w, "42");
	free(w);
	cr_assert(seqset_contains_max(&set, 42, 42) && !seqset_contains_max(&set, 41, 42));
	seqset_free(&set);

	cr_assert_eq(parse_str("$", SEQSET_ALLOW_SAVED, &set), 0);
	cr_assert(set.saved);
	seqset_resolve(&set, 5, &r);
	cr_assert(!r.saved && r.count == 0);
	seqset_free(&set);
	seqset_free(&r);
}

Test(seqset, contains_count_min_max)
{
	struct seqset set;
	cr_assert_eq(parse_str("3:5,9,20:4294967295", 0, &set), 0);
	static const uint32_t in[] = { 3, 4, 5, 9, 20, 1000, 4294967295u };
	static const uint32_t out[] = { 1, 2, 6, 8, 10, 19 };
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		cr_assert(seqset_contains(&set, in[i]), "%u", in[i]);
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		cr_assert(!seqset_contains(&set, out[i]), "%u", out[i]);
	cr_assert_eq(seqset_count(&set), 3 + 1 + (4294967295ull - 20 + 1));
	uint32_t n;
	cr_assert(seqset_min(&set, &n) && n == 3);
	cr_assert(seqset_max(&set, &n) && n == 4294967295u);
	seqset_free(&set);
	cr_assert(!seqset_min(&set, &n) && !seqset_max(&set, &n));
	cr_assert(!seqset_contains(&set, 1));
}

Test(seqset, iterate)
{
	struct seqset set;
	cr_assert_eq(parse_str("7,1:3,4294967294:4294967295", 0, &set), 0);
	struct seqset_iter it;
	uint32_t n, got[8];
	size_t k = 0;
	seqset_iter_init(&it, &set);
	while (seqset_iter_next(&it, &n)) {
		cr_assert(k < 8);
		got[k++] = n;
	}
	cr_assert_eq(k, 6);
	static const uint32_t want[] = { 1, 2, 3, 7, 4294967294u, 4294967295u };
	cr_assert_arr_eq(got, want, sizeof(want));
	cr_assert(!seqset_iter_next(&it, &n), "stays finished");
	seqset_free(&set);
	seqset_iter_init(&it, &set);
	cr_assert(!seqset_iter_next(&it, &n));
}

Test(seqset, build_by_adding)
{
	struct seqset set;
	seqset_init(&set);
	/* COPYUID-style: ascending UIDs compress */
	for (uint32_t u = 100; u <= 110; u++)
		seqset_add(&set, u);
	seqset_add(&set, 200);
	seqset_add(&set, 201);
	char *w = written(&set);
	cr_assert_str_eq(w, "100:110,200:201");
	free(w);
	/* out of order, bridging, reversed ranges, 0 ignored */
	seqset_add(&set, 50);
	seqset_add_range(&set, 150, 120);
	seqset_add_range(&set, 111, 119);
	seqset_add_range(&set, 0, 0);
	seqset_add_range(&set, 0, 2);
	w = written(&set);
	cr_assert_str_eq(w, "1:2,50,100:150,200:201");
	free(w);
	seqset_add_range(&set, 3, 4294967295u);
	w = written(&set);
	cr_assert_str_eq(w, "1:4294967295");
	free(w);
	cr_assert_eq(set.count, 1);
	seqset_free(&set);
	seqset_init(&set);
	w = written(&set);
	cr_assert_str_eq(w, "");
	free(w);
}

/* Cross-check against a bitmap on small random sets. */
Test(seqset, random_against_bitmap)
{
	srand(7);
	for (int round = 0; round < 500; round++) {
		unsigned char bits[64] = { 0 };
		struct buf text;
		buf_init(&text);
		int elems = 1 + rand() % 8;
		for (int e = 0; e < elems; e++) {
			unsigned a = 1 + (unsigned)rand() % 63, b = 1 + (unsigned)rand() % 63;
			if (rand() % 2)
				b = a;
			buf_printf(&text, "%s%u", e ? "," : "", a);
			if (b != a)
				buf_printf(&text, ":%u", b);
			for (unsigned x = a < b ? a : b; x <= (a < b ? b : a); x++)
				bits[x] = 1;
		}
		struct seqset set;
		const char *error;
		cr_assert_eq(seqset_parse(text.data, text.len, 0, &set, &error), 0, "%s",
			     text.data);
		for (unsigned x = 1; x < 64; x++)
			cr_assert_eq(seqset_contains(&set, x), bits[x] != 0, "%s: %u", text.data,
				     x);
		for (size_t i = 1; i < set.count; i++)
			cr_assert((uint64_t)set.ranges[i - 1].hi + 1 < set.ranges[i].lo,
				  "normalised");
		/* printing and parsing again gives the same set */
		char *w = written(&set);
		struct seqset again;
		cr_assert_eq(seqset_parse(w, strlen(w), 0, &again, &error), 0);
		char *w2 = written(&again);
		cr_assert_str_eq(w, w2);
		free(w);
		free(w2);
		seqset_free(&again);
		seqset_free(&set);
		buf_free(&text);
	}
}

Test(seqset, next_member_at_or_after)
{
	struct seqset set;
	const char *err;
	seqset_init(&set);
	cr_assert_eq(seqset_parse("3:5,9,20:21", 11, 0, &set, &err), 0);
	uint32_t n = 0;
	cr_assert(seqset_next(&set, 1, &n));
	cr_assert_eq(n, 3);
	cr_assert(seqset_next(&set, 4, &n));
	cr_assert_eq(n, 4);
	cr_assert(seqset_next(&set, 6, &n));
	cr_assert_eq(n, 9);
	cr_assert(seqset_next(&set, 10, &n));
	cr_assert_eq(n, 20);
	cr_assert(seqset_next(&set, 21, &n));
	cr_assert_eq(n, 21);
	cr_assert_not(seqset_next(&set, 22, &n));
	seqset_free(&set);
	seqset_init(&set);
	cr_assert_not(seqset_next(&set, 1, &n));
	seqset_free(&set);
}
