/* test_str.c - the small string helpers: hex digits, lower-casing, and the one escaper of untrusted text for logs and terminals. */
#include <criterion/criterion.h>
#include <string.h>

#include "str.h"

static const char *esc(const char *in, size_t len)
{
	static char out[512];
	size_t n = str_escape_printable(in, len, out, sizeof(out));
	cr_assert_eq(n, strlen(out));
	return out;
}

Test(str, escape_keeps_printable_ascii_and_utf8)
{
	const char *s =
		"user=alice@example.org, reply=\"250 ok\" back\\slash J\xc3\xbcrgen \xe2\x82\xac "
		"\xf0\x9f\x98\x80 \xc2\xa0";
	cr_assert(str_is_printable(s, strlen(s)));
	cr_assert_str_eq(esc(s, strlen(s)), s);
	cr_assert(str_is_printable("", 0));
	cr_assert_str_eq(esc("", 0), "");
}

Test(str, escape_line_breaks_escape_and_other_controls)
{
	const char *s = "a\r\nfake log line\x1b[31mred\x1b]0;title\x07\t\x7f\x01";
	cr_assert_not(str_is_printable(s, strlen(s)));
	cr_assert_str_eq(esc(s, strlen(s)),
			 "a\\r\\nfake log line\\x1b[31mred\\x1b]0;title\\x07\\t\\x7f\\x01");
	/* NUL inside the buffer */
	cr_assert_str_eq(esc("a\0b", 3), "a\\x00b");
}

Test(str, escape_c1_controls_and_invalid_utf8)
{
	/* U+009B (CSI as UTF-8), a lone continuation byte, an overlong '/', a surrogate, a code
	 * point above U+10FFFF, a truncated sequence at the end */
	const char *s = "\xc2\x9b"
			"1m|\x80|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82";
	cr_assert_not(str_is_printable(s, strlen(s)));
	cr_assert_str_eq(esc(s, strlen(s)), "\\xc2\\x9b1m|\\x80|\\xc0\\xaf|\\xed\\xa0\\x80|"
					    "\\xf4\\x90\\x80\\x80|\\xe2\\x82");
	cr_assert_not(str_is_printable("\xff", 1));
	cr_assert_not(str_is_printable("\x1b", 1));
	cr_assert_not(str_is_printable("\x7f", 1));
}

Test(str, escape_never_cuts_an_escape_or_a_character)
{
	char out[6];
	/* "ab" + "\r" (2 bytes escaped) fits in 5; the next escape would not */
	cr_assert_eq(str_escape_printable("ab\r\x01", 4, out, sizeof(out)), 4);
	cr_assert_str_eq(out, "ab\\r");
	/* a 4-byte character does not fit after "ab" in 5 bytes */
	cr_assert_eq(str_escape_printable("abc\xf0\x9f\x98\x80", 7, out, sizeof(out)), 3);
	cr_assert_str_eq(out, "abc");
	cr_assert_eq(str_escape_printable("abc", 3, out, 1), 0);
	cr_assert_str_eq(out, "");
}

Test(str, lower_and_hex)
{
	char s[] = "AbC@Example.ORG";
	cr_assert_str_eq(str_lower(s), "abc@example.org");
	cr_assert_eq(hex_value('f'), 15);
	cr_assert_eq(hex_value('A'), 10);
	cr_assert_eq(hex_value('g'), -1);
}

Test(str, utf8_decode_accepts_scalar_values_and_rejects_the_rest)
{
	uint32_t cp = 0;
	cr_assert_eq(str_utf8_decode("A", 1, &cp), 1);
	cr_assert_eq(cp, 'A');
	cr_assert_eq(str_utf8_decode("\xC3\xA4x", 3, &cp), 2);
	cr_assert_eq(cp, 0xE4);
	cr_assert_eq(str_utf8_decode("\xE2\x82\xAC", 3, &cp), 3);
	cr_assert_eq(cp, 0x20AC);
	cr_assert_eq(str_utf8_decode("\xF4\x8F\xBF\xBF", 4, &cp), 4);
	cr_assert_eq(cp, 0x10FFFF);
	cr_assert_eq(str_utf8_decode("\xC0\xAF", 2, &cp), 0, "overlong");
	cr_assert_eq(str_utf8_decode("\xE0\x80\xAF", 3, &cp), 0, "overlong");
	cr_assert_eq(str_utf8_decode("\xED\xA0\x80", 3, &cp), 0, "surrogate");
	cr_assert_eq(str_utf8_decode("\xF4\x90\x80\x80", 4, &cp), 0, "above U+10FFFF");
	cr_assert_eq(str_utf8_decode("\xE2\x82", 2, &cp), 0, "truncated");
	cr_assert_eq(str_utf8_decode("\xE2\x28\xAC", 3, &cp), 0, "bad continuation");
	cr_assert_eq(str_utf8_decode("\x80", 1, &cp), 0, "lone continuation");
}

Test(str, utf8_encode_round_trips)
{
	static const uint32_t cps[] = { 0x24, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFD, 0x10000, 0x10FFFF };
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		char u[4];
		uint32_t back = 0;
		size_t n = str_utf8_encode(cps[i], u);
		cr_assert_eq(str_utf8_decode(u, n, &back), n, "U+%X", cps[i]);
		cr_assert_eq(back, cps[i]);
	}
}
