/* test_fetch.c - fetch_section_bytes: the bytes of BODY[section] that CATENATE's URL parts take (RFC 4469, 5092). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "fetch.h"

static const char msg[] = "From: Bob <bob@example.org>\r\n"
			  "To: alice@localhost\r\n"
			  "Subject: parts\r\n"
			  "MIME-Version: 1.0\r\n"
			  "Content-Type: multipart/mixed; boundary=q\r\n"
			  "\r\n"
			  "--q\r\n"
			  "Content-Type: text/plain\r\n"
			  "\r\n"
			  "first\r\n"
			  "--q\r\n"
			  "\r\n"
			  "second\r\n"
			  "--q--\r\n";

/* The section's bytes as a string, or NULL when fetch_section_bytes fails. */
static char *section(const char *spec)
{
	static char out[1024];
	struct buf b;
	buf_init(&b);
	int r = fetch_section_bytes(spec, msg, strlen(msg), &b);
	if (r == 0)
		snprintf(out, sizeof(out), "%.*s", (int)b.len, b.len ? b.data : "");
	buf_free(&b);
	return r == 0 ? out : NULL;
}

Test(fetch, section_bytes_as_fetch_gives_them)
{
	cr_assert_str_eq(section(""), msg);
	cr_assert_str_eq(section("HEADER.FIELDS (FROM SUBJECT)"),
			 "From: Bob <bob@example.org>\r\nSubject: parts\r\n\r\n");
	cr_assert_str_eq(section("header.fields.not (to mime-version content-type)"),
			 "From: Bob <bob@example.org>\r\nSubject: parts\r\n\r\n");
	cr_assert_str_eq(section("1"), "first");
	cr_assert_str_eq(section("1.MIME"), "Content-Type: text/plain\r\n\r\n");
	cr_assert_str_eq(section("2"), "second");
	cr_assert(strncmp(section("TEXT"), "--q\r\n", 5) == 0);
	cr_assert(strncmp(section("HEADER"), "From: Bob", 9) == 0);
}

Test(fetch, section_bytes_refuses_what_fetch_refuses)
{
	static const char *const bad[] = {
		"HEADER.FIELDS", "3", "1.", "MIME", "NOSUCH", "1]", "HEADER]<0.5>", "1.2.3.4",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_null(section(bad[i]), "%s", bad[i]);
}
