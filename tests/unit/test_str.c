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
