/* test_imap_utf7.c - modified UTF-7 mailbox names: RFC 3501 examples, round trips, strict rejection. */
#include <criterion/criterion.h>

#include <string.h>

#include "buf.h"
#include "imap_utf7.h"

static void test_enc(const char *utf8, const char *want)
{
	struct buf b;
	buf_init(&b);
	cr_assert_eq(imap_utf8_to_utf7(utf8, strlen(utf8), &b), 0, "encode %s", want);
	cr_assert_str_eq(b.data ? b.data : "", want);
	cr_assert(imap_utf7_is_valid(want), "%s valid", want);
	buf_reset(&b);
	cr_assert_eq(imap_utf7_to_utf8(want, strlen(want), &b), 0, "decode %s", want);
	cr_assert_str_eq(b.data ? b.data : "", utf8);
	buf_free(&b);
}

Test(imap_utf7, rfc3501_examples)
{
	/* RFC 3501 5.1.3: "~peter/mail/台北/日本語" */
	test_enc("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		 "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	test_enc("&", "&-");
	test_enc("Tom & Jerry", "Tom &- Jerry");
	test_enc("", "");
	test_enc("Entw\xc3\xbcrfe", "Entw&APw-rfe");
	test_enc("\xc3\xa9t\xc3\xa9", "&AOk-t&AOk-");
	/* Outside the BMP: a surrogate pair. U+1F600 */
	test_enc("\xf0\x9f\x98\x80", "&2D3eAA-");
	/* Control characters are not printable ASCII: base64 too. */
	test_enc("a\tb", "a&AAk-b");
}

Test(imap_utf7, rejects_invalid_utf8)
{
	static const char *const bad[] = {
		"\xc0\xaf",         /* overlong '/' */
		"\xed\xa0\x80",     /* surrogate */
		"\xf4\x90\x80\x80", /* > U+10FFFF */
		"\xe6\x97",         /* truncated */
		"\x80",
	};
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(imap_utf8_to_utf7(bad[i], strlen(bad[i]), &b), -1, "case %zu", i);
		cr_assert_eq(b.len, 0);
	}
	buf_free(&b);
}

Test(imap_utf7, rejects_non_canonical_utf7)
{
	static const char *const bad[] = {
		"&",                  /* unterminated */
		"&U,BTFw",            /* unterminated */
		"&AGE-",              /* 'a' need not be encoded */
		"&2D0-",              /* lone high surrogate */
		"&3gA-",              /* lone low surrogate */
		"&U,BTFw-&ZeVnLIqe-", /* adjacent runs */
		"&U,BTF-",            /* leftover bits */
		"&AOk",
		"\xc3\xa9", /* 8-bit */
		"a\tb",     /* raw control */
		"&A!k-",    /* bad base64 */
		"&AOl-",    /* non-zero padding bits */
	};
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_not(imap_utf7_is_valid(bad[i]), "case %zu: %s", i, bad[i]);
		cr_assert_eq(imap_utf7_to_utf8(bad[i], strlen(bad[i]), &b), -1);
		cr_assert_eq(b.len, 0);
	}
	buf_free(&b);
	cr_assert(imap_utf7_is_valid("&AOk-&-"));
	cr_assert(imap_utf7_is_valid("INBOX"));
}

Test(imap_utf7, long_names_round_trip)
{
	/* Many non-ASCII characters in one run, mixed with ASCII. */
	struct buf in, u7, back;
	buf_init(&in);
	buf_init(&u7);
	buf_init(&back);
	for (int i = 0; i < 300; i++) {
		buf_append_str(&in, "\xe6\x97\xa5\xc3\xa9\xf0\x9f\x98\x80");
		if (i % 50 == 0)
			buf_append_str(&in, "x&y");
	}
	cr_assert_eq(imap_utf8_to_utf7(in.data, in.len, &u7), 0);
	for (size_t i = 0; i < u7.len; i++)
		cr_assert(u7.data[i] >= 0x20 && u7.data[i] <= 0x7e);
	cr_assert(imap_utf7_is_valid(u7.data));
	cr_assert_eq(imap_utf7_to_utf8(u7.data, u7.len, &back), 0);
	cr_assert_eq(back.len, in.len);
	cr_assert_eq(memcmp(back.data, in.data, in.len), 0);
	buf_free(&in);
	buf_free(&u7);
	buf_free(&back);
}
