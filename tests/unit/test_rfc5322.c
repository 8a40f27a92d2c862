/* test_rfc5322.c - header field iteration and unfolding, address lists and dates. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "rfc5322.h"

static char *test_str(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

Test(rfc5322, iterate_fields)
{
	const char *h =
		"From alice@example.org Tue Jan  2 10:00:00 2024\r\n" /* mbox line: not a field */
		"Subject: Hello\r\n"
		"\tworld\r\n"
		"X-Empty:\r\n"
		"Bad line without colon\r\n"
		"Resent-To : bob@example.com\n" /* obsolete space before ':' and a bare LF */
		"\r\n"
		"Body-Looking: not a header\r\n";
	struct rfc5322_iter it;
	struct rfc5322_field f;
	rfc5322_iter_init(&it, h, strlen(h));

	cr_assert_eq(rfc5322_iter_next(&it, &f), 1);
	cr_assert(rfc5322_name_is(&f, "subject"));
	char *v = test_str(f.value, f.value_len);
	cr_assert_str_eq(v, " Hello\r\n\tworld");
	free(v);
	cr_assert(memcmp(h + f.start, "Subject:", 8) == 0);
	cr_assert(memcmp(h + f.end, "X-Empty:", 8) == 0);

	cr_assert_eq(rfc5322_iter_next(&it, &f), 1);
	cr_assert(rfc5322_name_is(&f, "X-EMPTY"));
	cr_assert_eq(f.value_len, 0);

	cr_assert_eq(rfc5322_iter_next(&it, &f), 1);
	cr_assert_eq(f.name_len, 9);
	cr_assert(rfc5322_name_is(&f, "resent-to"));
	v = test_str(f.value, f.value_len);
	cr_assert_str_eq(v, " bob@example.com");
	free(v);

	cr_assert_eq(rfc5322_iter_next(&it, &f), 0); /* stops at the blank line */
	cr_assert_eq(rfc5322_iter_next(&it, &f), 0);

	cr_assert_eq(rfc5322_header_length(h, strlen(h)),
		     strlen(h) - strlen("Body-Looking: not a header\r\n"));
	cr_assert_eq(rfc5322_header_length("A: b", 4), 4);
	cr_assert_eq(rfc5322_header_length("\nbody", 5), 1);
	cr_assert_eq(rfc5322_header_length("A: b\n\nc", 7), 6);
}

Test(rfc5322, find_and_named_iteration)
{
	const char *h = "Received: one\r\nTo: x@y\r\nreceived: two\r\n  folded\r\n\r\n";
	struct rfc5322_field f;
	cr_assert_eq(rfc5322_find(h, strlen(h), "to", &f), 1);
	cr_assert_eq(rfc5322_find(h, strlen(h), "cc", &f), 0);
	struct rfc5322_iter it;
	rfc5322_iter_init(&it, h, strlen(h));
	int n = 0;
	struct buf b;
	buf_init(&b);
	while (rfc5322_iter_next_named(&it, "RECEIVED", &f) == 1) {
		rfc5322_unfold(&b, f.value, f.value_len, true);
		buf_append(&b, "|", 1);
		n++;
	}
	cr_assert_eq(n, 2);
	cr_assert_str_eq(b.data, "one|two  folded|");
	buf_free(&b);
}

Test(rfc5322, unfold)
{
	struct buf b;
	buf_init(&b);
	const char *v = "  Lunch\r\n tomorrow?\n\tat noon  ";
	rfc5322_unfold(&b, v, strlen(v), false);
	cr_assert_str_eq(b.data, "Lunch tomorrow?\tat noon  ");
	buf_reset(&b);
	rfc5322_unfold(&b, v, strlen(v), true);
	cr_assert_str_eq(b.data, "Lunch tomorrow?\tat noon");
	buf_reset(&b);
	rfc5322_unfold(&b, "a\rb", 3, true); /* a bare CR stays */
	cr_assert_str_eq(b.data, "a\rb");
	buf_free(&b);
}

struct addr_case {
	const char *in;
	const char *out; /* entries as kind:name|route|mailbox|host, joined with ';' */
};

static char *test_addrs(const char *s)
{
	struct rfc5322_addr *l;
	size_t n = rfc5322_parse_addresses(s, strlen(s), &l);
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		const char *k = l[i].kind == RFC5322_ADDR_MAILBOX       ? "M"
				: l[i].kind == RFC5322_ADDR_GROUP_START ? "G"
									: "E";
		buf_printf(&b, "%s%s:%s|%s|%s|%s", i ? ";" : "", k, l[i].name ? l[i].name : "-",
			   l[i].route ? l[i].route : "-", l[i].mailbox ? l[i].mailbox : "-",
			   l[i].host ? l[i].host : "-");
	}
	rfc5322_addrs_free(l, n);
	buf_append(&b, "", 0); /* NUL-terminated even when empty */
	return buf_steal(&b, NULL);
}

Test(rfc5322, addresses)
{
	static const struct addr_case cases[] = {
		{ "user@example.com", "M:-|-|user|example.com" },
		{ "Alice Example <alice@example.org>", "M:Alice Example|-|alice|example.org" },
		{ "\"Doe, John\" <jd@x.test>, b@y.test", "M:Doe, John|-|jd|x.test;M:-|-|b|y.test" },
		{ "\"a \\\"q\\\" b\" <q@x>", "M:a \"q\" b|-|q|x" },
		{ "jdoe@one.test (John Doe)", "M:John Doe|-|jdoe|one.test" },
		{ "John (middle) Doe <j@x> (trailing)", "M:John Doe|-|j|x" },
		{ "John Q. Public <john.q.public@example.com>",
		  "M:John Q. Public|-|john.q.public|example.com" },
		{ "=?utf-8?q?J=C3=B6rg?= <j@x>", "M:=?utf-8?q?J=C3=B6rg?=|-|j|x" },
		{ "<@a.test,@b.test:u@c.test>", "M:-|@a.test,@b.test|u|c.test" },
		{ "\"quoted local\"@x.test", "M:-|-|quoted local|x.test" },
		{ "u@[192.0.2.1]", "M:-|-|u|[192.0.2.1]" },
		{ "Team: a@x, B <b@y>;, c@z", "M:-|-|-|-" }, /* replaced below */
		{ "undisclosed-recipients:;", "G:-|-|undisclosed-recipients|-;E:-|-|-|-" },
		{ "", "" },
		{ " , ,, ", "" },
		{ "<>", "" },
		{ "localonly", "M:-|-|localonly|MISSING_DOMAIN" },
		{ "Name <@x.test>", "M:Name|-|MISSING_MAILBOX|x.test" },
		{ "a@b,\r\n c@d", "M:-|-|a|b;M:-|-|c|d" },
		{ "broken <a@b, c@d", "M:broken|-|a|b;M:-|-|c|d" },
		{ "a@b (unterminated comment", "M:unterminated comment|-|a|b" },
		{ "\"unterminated quote <a@b>", "M:-|-|unterminated quote <a@b>|MISSING_DOMAIN" },
		{ "x@y>, z@w", "M:-|-|x|y;M:-|-|z|w" },
		/* fuzz_mime regressions: an empty quoted string first in the header (text still
		 * empty, so no buffer behind it) */
		{ "\"", "M:-|-||MISSING_DOMAIN" },
		{ "\"\"", "M:-|-||MISSING_DOMAIN" },
		{ "\"\"@x.test", "M:-|-||x.test" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strncmp(cases[i].in, "Team:", 5) == 0)
			continue;
		char *got = test_addrs(cases[i].in);
		cr_expect_str_eq(got, cases[i].out, "input [%s] got [%s]", cases[i].in, got);
		free(got);
	}
	char *got = test_addrs("Team: a@x, B <b@y>;, c@z");
	cr_assert_str_eq(got, "G:-|-|Team|-;M:-|-|a|x;M:B|-|b|y;E:-|-|-|-;M:-|-|c|z");
	free(got);
	got = test_addrs("Unclosed group: a@x, b@y");
	cr_assert_str_eq(got, "G:-|-|Unclosed group|-;M:-|-|a|x;M:-|-|b|y;E:-|-|-|-");
	free(got);
}

Test(rfc5322, address_count_bounded)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < RFC5322_MAX_ADDRESSES + 500; i++)
		buf_printf(&b, "u%d@x, ", i);
	buf_append_str(&b, "g: a@b, c@d;");
	struct rfc5322_addr *l;
	size_t n = rfc5322_parse_addresses(b.data, b.len, &l);
	cr_assert_eq(n, RFC5322_MAX_ADDRESSES);
	cr_assert_str_eq(l[n - 1].mailbox, "u9999");
	rfc5322_addrs_free(l, n);
	buf_free(&b);
}

struct date_case {
	const char *in;
	int64_t t;
	int tz;
};

Test(rfc5322, dates)
{
	static const struct date_case ok[] = {
		{ "Tue, 2 Jan 2024 10:00:00 +0100", 1704186000, 60 },
		{ "2 Jan 2024 10:00:00 +0100", 1704186000, 60 },
		{ "Tue, 02 Jan 2024 09:00 +0000", 1704186000, 0 },
		{ "Tue,  2 Jan 2024 04:00:00 -0500 (EST)", 1704186000, -300 },
		{ "Tue, 2 Jan 2024 04:00:00 EST", 1704186000, -300 },
		{ "Tue, 2 Jan 2024 09:00:00 GMT", 1704186000, 0 },
		{ "Tue, 2 Jan 2024 09:00:00 UT", 1704186000, 0 },
		{ "Tue, 2 Jan 2024 01:00:00 PST", 1704186000, -480 },
		{ "Tue, 2 Jan 2024 09:00:00 Z", 1704186000, 0 },
		{ "Tue, 2 Jan 2024 09:00:00", 1704186000, 0 },
		{ "Tue, 2 Jan 24 09:00:00 +0000", 1704186000, 0 },
		{ "Tue, 2 Jan 124 09:00:00 +0000", 1704186000, 0 },
		{ "Thu, 1 Jan 70 00:00:00 +0000", 0, 0 },
		{ "Tuesday, 2 January 2024 09:00:00 +0000", 1704186000, 0 },
		{ "2-Jan-2024 10:00:00 +0100", 1704186000, 60 },
		{ "Tue Jan  2 09:00:00 2024", 1704186000, 0 },
		{ "Sat, 24 Mar 2007 23:00:00 +0200", 1174770000, 120 },
		{ "Thu, 29 Feb 2024 12:00:00 +0530", 1709188200, 330 },
		{ "Fri, 31 Dec 1999 23:59:60 +0000", 946684800, 0 },
		{ "  Mon, 1 Jan 2024 00:00:00 +0000  ", 1704067200, 0 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		time_t t = -1;
		int tz = 9999;
		int r = rfc5322_parse_date(ok[i].in, strlen(ok[i].in), &t, &tz);
		cr_expect_eq(r, 0, "[%s] rejected", ok[i].in);
		cr_expect_eq((int64_t)t, ok[i].t, "[%s] t=%lld", ok[i].in, (long long)t);
		cr_expect_eq(tz, ok[i].tz, "[%s] tz=%d", ok[i].in, tz);
	}
	static const char *bad[] = {
		"",
		"garbage",
		"Tue, 2 Foo 2024 10:00:00 +0000",
		"Tue, 30 Feb 2024 10:00:00 +0000",
		"Tue, 2 Jan 2024 24:00:00 +0000",
		"Tue, 2 Jan 2024 10:60:00 +0000",
		"Tue, 2 Jan 2024",
		"Tue, 0 Jan 2024 10:00:00 +0000",
		"Tue, 2 Jan 2024 10 +0000",
		"Tue, 2 Jan 2 10:00:00 +0000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		time_t t;
		int tz;
		cr_expect_eq(rfc5322_parse_date(bad[i], strlen(bad[i]), &t, &tz), -1,
			     "[%s] accepted", bad[i]);
	}
}

/* ---- rfc5322_header_check: what submission refuses in a header block ---- */

#define HCHECK(hdr, want) rfc5322_header_check(hdr, sizeof(hdr) - 1, &f), want

Test(rfc5322, header_check_clean)
{
	struct rfc5322_field f;
	cr_assert_eq(HCHECK("", RFC5322_HEADER_OK));
	cr_assert_eq(HCHECK("From: a@b\r\nTo: c@d\r\nSubject: x\r\n\r\n", RFC5322_HEADER_OK));
	/* trace and resent fields may repeat (a resent block per resending, RFC 5322 3.6.6) */
	cr_assert_eq(HCHECK("Received: x\r\nReceived: y\r\nResent-From: a@b\r\nResent-From: "
			    "a@b\r\nComments: 1\r\nComments: 2\r\nFrom: a@b\r\n\r\n",
			    RFC5322_HEADER_OK));
	/* after the blank line it is body, not header */
	cr_assert_eq(HCHECK("From: a@b\r\n\r\nFrom: c@d\r\n", RFC5322_HEADER_OK));
}

Test(rfc5322, header_check_duplicates)
{
	static const char *const names[] = { "Date",        "From",       "Sender", "Reply-To",
					     "To",          "Cc",         "Bcc",    "Message-ID",
					     "In-Reply-To", "References", "Subject" };
	struct rfc5322_field f;
	char hdr[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n = snprintf(hdr, sizeof(hdr), "%s: one\r\nX-Other: y\r\n%s: two\r\n\r\n",
				 names[i], names[i]);
		cr_assert_eq(rfc5322_header_check(hdr, (size_t)n, &f), RFC5322_HEADER_DUPLICATE,
			     "%s", names[i]);
		cr_assert_eq(f.name_len, strlen(names[i]));
		cr_assert_eq(memcmp(f.value, " two", 4), 0, "the second one is reported");
	}
	/* case and white space before the colon do not make another field */
	cr_assert_eq(HCHECK("From: a@b\r\nfROM : c@d\r\n\r\n", RFC5322_HEADER_DUPLICATE));
	cr_assert_eq(HCHECK("From: a@b\nFrom:\n c@d\n\n", RFC5322_HEADER_DUPLICATE));
}

Test(rfc5322, header_check_nul)
{
	struct rfc5322_field f;
	cr_assert_eq(HCHECK("From: a@b\0c@d\r\n\r\n", RFC5322_HEADER_NUL));
	cr_assert_eq(HCHECK("X-A: \0\r\n\r\n", RFC5322_HEADER_NUL));
}

Test(rfc5322, originator_fields)
{
	static const struct {
		const char *hdr;
		bool originator;
	} cases[] = {
		{ "From: a@b\r\n", true },        { "sender: a@b\r\n", true },
		{ "Resent-From: a@b\r\n", true }, { "RESENT-SENDER: a@b\r\n", true },
		{ "Reply-To: a@b\r\n", false },   { "From-X: a@b\r\n", false },
		{ "Resent-To: a@b\r\n", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rfc5322_field f;
		struct rfc5322_iter it;
		rfc5322_iter_init(&it, cases[i].hdr, strlen(cases[i].hdr));
		cr_assert_eq(rfc5322_iter_next(&it, &f), 1);
		cr_assert_eq(rfc5322_is_originator(&f), cases[i].originator, "%s", cases[i].hdr);
	}
}

Test(rfc5322, format_date_parses_back)
{
	char d[64];
	time_t t = 1796552512, back = 0;
	int tz = 0;
	rfc5322_format_date(t, d, sizeof(d));
	cr_assert_eq(rfc5322_parse_date(d, strlen(d), &back, &tz), 0, "%s", d);
	cr_assert_eq(back, t, "%s", d);
}

Test(rfc5322, missing_origin_fields)
{
	struct buf add;
	buf_init(&add);
	const char *both = "Date: x\r\nmessage-id: <a@b>\r\n\r\nbody Date: no\r\n";
	rfc5322_missing_origin_fields(both, strlen(both), "D", "ID", "h.example", &add);
	cr_assert_eq(add.len, 0);
	/* a Date: or Message-ID: in the body does not count */
	const char *none = "Subject: s\r\n\r\nDate: x\r\nMessage-ID: <a@b>\r\n";
	rfc5322_missing_origin_fields(none, strlen(none), "D", "ID", "h.example", &add);
	cr_assert_str_eq(add.data, "Date: D\r\nMessage-ID: <ID@h.example>\r\n");
	buf_reset(&add);
	const char *nodate = "Message-ID: <a@b>\n\nbody\n";
	rfc5322_missing_origin_fields(nodate, strlen(nodate), "D", "ID", "h.example", &add);
	cr_assert_str_eq(add.data, "Date: D\r\n");
	buf_free(&add);
}
