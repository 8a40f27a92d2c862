/* test_imap_url.c - IMAP URLs (RFC 5092) as CATENATE (RFC 4469) uses them. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "imap_url.h"

static int parse(const char *s, struct imap_url *u)
{
	return imap_url_parse(s, strlen(s), u);
}

Test(imap_url, rfc4469_examples)
{
	struct imap_url u;
	cr_assert_eq(parse("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER", &u), 0);
	cr_assert_str_eq(u.mailbox, "Drafts");
	cr_assert_eq(u.uidvalidity, 385759045u);
	cr_assert_eq(u.uid, 20u);
	cr_assert_str_eq(u.section, "HEADER");
	cr_assert(!u.partial);
	cr_assert_eq(parse("imap://bob@host/a%20b/c/;UID=3/;SECTION=1.2.mime/;PARTIAL=10.5", &u),
		     0);
	cr_assert_str_eq(u.mailbox, "a b/c");
	cr_assert_eq(u.uidvalidity, 0u);
	cr_assert_str_eq(u.section, "1.2.MIME");
	cr_assert(u.partial && u.partial_off == 10 && u.partial_len == 5);
	cr_assert_eq(parse(";UID=7/;PARTIAL=4", &u), 0, "relative to the selected mailbox");
	cr_assert_str_eq(u.mailbox, "");
	cr_assert(u.uid == 7 && u.partial_off == 4 && u.partial_len == UINT64_MAX);
}

Test(imap_url, invalid)
{
	static const char *const bad[] = {
		"",
		"/INBOX",
		"/INBOX/;UID=0",
		"/INBOX/;UID=4294967296",
		"/INBOX;UIDVALIDITY=/;UID=1",
		"/INBOX/;UID=1/;SECTION=",
		"/INBOX/;UID=1/;PARTIAL=1.0",
		"/INBOX/;UID=1;URLAUTH=anonymous",
		"/INBOX?SUBJECT%20x",
		"/IN%0BOX/;UID=1x",
		"/IN%00BOX/;UID=1",
		"/IN%4/;UID=1",
		"imap://host",
	};
	struct imap_url u;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], &u), -1, "%s", bad[i]);
	cr_assert_eq(imap_url_parse("/a/;UID=1\0", 10, &u), -1, "NUL");
}
