/* test_rfc2047.c - encoded-word decoding, charsets, RFC 2231 values and case-folded search. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "rfc2047.h"

static char *test_decode(const char *s)
{
	struct buf b;
	buf_init(&b);
	rfc2047_decode(&b, s, strlen(s));
	buf_append(&b, "", 0); /* NUL-terminated even when empty */
	return buf_steal(&b, NULL);
}

Test(rfc2047, decode_words)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain text", "plain text" },
		{ "=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?=", "J\xc3\xb6rg M\xc3\xbcller" },
		{ "=?ISO-8859-1?Q?Fran=E7ois?=", "Fran\xc3\xa7ois" },
		{ "=?iso-8859-1?q?a_b?=", "a b" },
		{ "=?KOI8-R?B?8NLJ18XU?=",
		  "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" }, /* Привет */
		{ "=?windows-1252?Q?=93quoted=94?=", "\xe2\x80\x9cquoted\xe2\x80\x9d" },
		{ "=?Shift_JIS?B?k/qWe4zq?=", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" }, /* 日本語 */
		/* white space between adjacent words goes, other text stays */
		{ "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus?= =?UTF-8?Q?_M=C3=BCnchen?=\r\n "
		  "=?ISO-8859-1?Q?_und_K=F6ln?=",
		  "Gr\xc3\xbc\xc3\x9f"
		  "e aus M\xc3\xbcnchen und K\xc3\xb6ln" },
		{ "Re: =?utf-8?q?caf=C3=A9?= time", "Re: caf\xc3\xa9 time" },
		{ "=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c" },
		/* a character split over two words of the same charset */
		{ "=?utf-8?q?=E2=82?= =?utf-8?q?=AC?=", "\xe2\x82\xac" },
		{ "=?utf-8?b?4oI=?= =?utf-8?b?rA==?=", "\xe2\x82\xac" },
		/* RFC 2231 language in an encoded-word */
		{ "=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore" },
		/* malformed words stay as they are */
		{ "=?utf-8?x?abc?=", "=?utf-8?x?abc?=" },
		{ "=?utf-8?q?no end", "=?utf-8?q?no end" },
		{ "=??q?x?=", "=??q?x?=" },
		{ "=?utf-8?q?sp ace?=", "=?utf-8?q?sp ace?=" },
		{ "a=?b", "a=?b" },
		{ "=?x=?utf-8?q?ok?=", "=?xok" },
		/* unknown charset: ASCII kept, the rest replaced */
		{ "=?x-unknown-cs?q?a=FFb?=", "a\xef\xbf\xbd"
					      "b" },
		/* raw 8-bit: UTF-8 kept, invalid bytes replaced */
		{ "caf\xc3\xa9 \xff!", "caf\xc3\xa9 \xef\xbf\xbd!" },
		{ "=?utf-8?q?bad=FF?=", "bad\xef\xbf\xbd" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = test_decode(cases[i].in);
		cr_expect_str_eq(got, cases[i].out, "input [%s]", cases[i].in);
		free(got);
	}
}

Test(rfc2047, decode_is_linear)
{
	struct buf in;
	buf_init(&in);
	while (in.len < 2 * 1024 * 1024)
		buf_append_str(&in, "=?a?q?=?=?b?B?");
	struct buf out;
	buf_init(&out);
	clock_t t0 = clock();
	rfc2047_decode(&out, in.data, in.len);
	cr_assert((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
	buf_free(&out);
	buf_free(&in);
}

Test(rfc2047, charsets)
{
	struct buf b;
	buf_init(&b);
	cr_assert_eq(rfc2047_to_utf8(&b, "iso-8859-1", 10, "\xe9\xff", 2), 0);
	cr_assert_str_eq(b.data, "\xc3\xa9\xc3\xbf");
	buf_reset(&b);
	cr_assert_eq(rfc2047_to_utf8(&b, "ISO-8859-15", 11, "\xa4", 1), 0); /* euro sign */
	cr_assert_str_eq(b.data, "\xe2\x82\xac");
	buf_reset(&b);
	cr_assert_eq(rfc2047_to_utf8(&b, "utf-8", 5, "\xe2\x82", 2), -1); /* truncated */
	cr_assert_str_eq(b.data, "\xef\xbf\xbd\xef\xbf\xbd");
	buf_reset(&b);
	cr_assert_eq(rfc2047_to_utf8(&b, "us-ascii", 8, "\xed\xa0\x80", 3), -1); /* surrogate */
	buf_reset(&b);
	cr_assert_eq(rfc2047_to_utf8(&b, "shift_jis", 9, "\x93\xfa\x96", 3), -1); /* cut mid-char */
	cr_assert_str_eq(b.data, "\xe6\x97\xa5\xef\xbf\xbd");
	buf_reset(&b);
	cr_assert_eq(rfc2047_to_utf8(&b, "../../etc/x", 11, "a\x80", 2),
		     -1); /* not a name: no iconv */
	cr_assert_str_eq(b.data, "a\xef\xbf\xbd");
	buf_free(&b);
}

Test(rfc2047, rfc2231_values)
{
	struct buf b;
	buf_init(&b);
	const char *v = "iso-8859-1'fr'r%E9sum%E9.txt";
	cr_assert_eq(rfc2047_decode_2231(&b, v, strlen(v)), 0);
	cr_assert_str_eq(b.data, "r\xc3\xa9sum\xc3\xa9.txt");
	buf_reset(&b);
	v = "utf-8''%e2%82%ac 100";
	rfc2047_decode_2231(&b, v, strlen(v));
	cr_assert_str_eq(b.data, "\xe2\x82\xac 100");
	buf_reset(&b);
	v = "''50%25 done%";
	rfc2047_decode_2231(&b, v, strlen(v));
	cr_assert_str_eq(b.data, "50% done%");
	buf_reset(&b);
	v = "no quotes%20here";
	rfc2047_decode_2231(&b, v, strlen(v));
	cr_assert_str_eq(b.data, "no quotes here");
	buf_free(&b);
}

Test(rfc2047, folded_search)
{
	cr_assert(rfc2047_contains("Lunch Tomorrow", 14, "TOMORROW", 8));
	cr_assert(rfc2047_contains("Gr\xc3\x9c\xc3\x9f"
				   "E AUS M\xc3\x9cNCHEN",
				   20, "m\xc3\xbcnchen", 8));
	cr_assert(rfc2047_contains("CAF\xc3\x89", 5, "caf\xc3\xa9", 5));
	cr_assert(rfc2047_contains("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2", 12,
				   "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
				   12)); /* ПРИВЕТ / привет */
	cr_assert(rfc2047_contains("\xc5\x81\xc3\x93"
				   "DZ",
				   6,
				   "\xc5\x82\xc3\xb3"
				   "dz",
				   6)); /* ŁÓDZ / łódz */
	cr_assert(rfc2047_contains("anything", 8, "", 0));
	cr_assert(!rfc2047_contains("Lunch", 5, "lunchbox", 8));
	cr_assert(!rfc2047_contains("\xc3\x97", 2, "\xc3\xb7", 2)); /* × is not ÷ */
	cr_assert(rfc2047_contains("a\xff"
				   "B",
				   3,
				   "\xff"
				   "b",
				   2)); /* invalid bytes compare as bytes */

	struct buf f;
	buf_init(&f);
	rfc2047_fold(&f, "\xc3\x80Z\xc5\xb8", 5);
	cr_assert_str_eq(f.data, "\xc3\xa0z\xc3\xbf");
	buf_free(&f);
}
